"""Unit and bad-input tests of sim.weather (climatology, synthetic series, interpolation)."""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest

from sim import weather
from tests.helpers import assert_close
from tests.sim.energy_city import CLIMATE

START, END = np.datetime64("2023-12-31T15:00", "s"), np.datetime64("2026-12-31T14:00", "s")


@pytest.fixture(scope="module")
def raw():
    with CLIMATE.open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def three_years(raw):
    return weather.synthetic_weather(raw, START, END, seed=7)


def _local_month(w):
    return (w.times_utc + np.timedelta64(9, "h")).astype("datetime64[M]").astype(int) % 12


def test_shipped_climatology_loads_and_has_sources(raw):
    clim = weather.Climatology.from_mapping(raw, origin=str(CLIMATE))
    assert clim.latitude_deg == pytest.approx(35.17, abs=0.01)
    assert clim.utc_offset_hours == 9.0
    for name in weather.MONTHLY:
        assert "approximate" in raw[name]["source"]
    # The anchors: August about 27 degC, January about 0 degC.
    assert abs(clim.monthly["air_temperature_mean"][7] - 27.0) < 1.0
    assert abs(clim.monthly["air_temperature_mean"][0]) < 1.5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("site"), r"\[site\]"),
        (lambda d: d["site"].update(latitude_deg=95.0), "latitude_deg"),
        (lambda d: d.pop("wind_speed"), r"missing table \[wind_speed\]"),
        (lambda d: d["relative_humidity"].update(units="%"), "units must be '1'"),
        (lambda d: d["cloud_fraction"].update(values=[0.5] * 11), "12 finite numbers"),
        (lambda d: d["cloud_fraction"].update(values=[0.5] * 11 + ["x"]), "12 numbers"),
        (lambda d: d["relative_humidity"].update(values=[70.0] * 12), r"\[0.01, 1.0\]"),
        (lambda d: d["linke_turbidity"].update(source=" "), "source"),
        (lambda d: d["mixing_height_night"].update(values=[2000.0] * 12), "must not exceed"),
    ],
)
def test_bad_climatology_is_rejected_with_the_field(raw, edit, message):
    data = copy.deepcopy(raw)
    edit(data)
    with pytest.raises(ValueError, match=message):
        weather.Climatology.from_mapping(data, origin="test.toml")


def test_annual_cycle_preserves_monthly_means():
    monthly = np.array([0.6, 2.4, 7.3, 13.1, 18.6, 22.7, 26.0, 26.6, 22.3, 16.1, 9.4, 2.6])
    days = np.arange(365.25 * 4) % 365.25 + 1.0  # fine sampling of the cycle
    month = np.minimum((days - 1.0) // (365.25 / 12), 11).astype(int)
    means = np.array([weather.annual_cycle(monthly, days[month == m]).mean() for m in range(12)])
    # Mean preservation is exact for equal months; sampling the 365.25-day year at whole
    # days leaves ~0.01 K.
    assert_close(means, monthly, atol=0.02)


def test_synthetic_weather_is_seeded(raw):
    a = weather.synthetic_weather(raw, START, START + np.timedelta64(48, "h"), seed=3)
    b = weather.synthetic_weather(raw, START, START + np.timedelta64(48, "h"), seed=3)
    c = weather.synthetic_weather(raw, START, START + np.timedelta64(48, "h"), seed=4)
    for k in weather.SERIES:
        np.testing.assert_array_equal(a.series[k], b.series[k])
    assert not np.array_equal(a.series["air_temperature"], c.series["air_temperature"])


def test_synthetic_statistics_follow_the_climatology(raw, three_years):
    w, clim = three_years, weather.Climatology.from_mapping(raw)
    month = _local_month(w)
    s, m = w.series, clim.monthly

    def monthly_mean(x):
        return np.array([x[month == k].mean() for k in range(12)])

    # Tolerances are the sampling spread of three synthetic years: the temperature anomaly
    # (2 K, 60 h) gives monthly means a ~0.5 K standard error, cloud and wind a few percent.
    assert_close(monthly_mean(s["air_temperature"]), m["air_temperature_mean"], atol=1.5)
    assert_close(monthly_mean(s["cloud_fraction"]), m["cloud_fraction"], atol=0.08)
    assert_close(monthly_mean(s["wind_speed"]), m["wind_speed"], rtol=0.15)
    assert_close(monthly_mean(s["relative_humidity"]), m["relative_humidity"], atol=0.08)
    hour = weather.local_hour(w.times_utc, 9.0)
    assert (
        s["air_temperature"][np.abs(hour - 15) < 0.5].mean()
        > s["air_temperature"][np.abs(hour - 6) < 0.5].mean() + 5.0
    )
    # Prevailing winds: north-westerly in January, south-westerly in July.
    for k, expected in ((0, 315.0), (6, 225.0)):
        sel = month == k
        rad = np.radians(s["wind_from_direction"][sel])
        east = (s["wind_speed"][sel] * np.sin(rad)).mean()
        north = (s["wind_speed"][sel] * np.cos(rad)).mean()
        resultant = np.degrees(np.arctan2(east, north)) % 360.0
        assert abs((resultant - expected + 180) % 360 - 180) < 25.0
    assert np.all(s["ghi"] >= 0) and np.all(
        s["ghi"][w.at(w.times_utc)["solar_elevation"] < -1] == 0
    )
    # The mean-preserving annual cycle may overshoot the monthly extremes by a few percent.
    assert s["mixing_height"].min() > 0.9 * m["mixing_height_night"].min()
    assert s["mixing_height"].max() < 1.1 * m["mixing_height_day"].max()
    # Annual GHI near public estimates for southern Korea (~1,300-1,500 kWh m-2).
    annual = s["ghi"].sum() / 3.0 / 1000.0
    assert 1250.0 < annual < 1650.0


def test_at_interpolates_and_wraps_wind_direction(raw):
    w = weather.synthetic_weather(raw, START, START + np.timedelta64(2, "h"), seed=0)
    w.series["wind_speed"][:] = 2.0
    w.series["wind_from_direction"][:2] = (350.0, 10.0)
    f = w.at(START + np.timedelta64(30, "m"))
    assert float(f["wind_from_direction"][()]) % 360.0 == pytest.approx(0.0, abs=1e-6)
    assert float(f["local_hour"][()]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="within the weather series"):
        w.at(START - np.timedelta64(1, "s"))


def test_weather_series_refuses_naive_times_gaps_and_nan(raw):
    import datetime as dt

    clim = weather.Climatology.from_mapping(raw)
    series = {k: np.ones(3) for k in weather.SERIES}
    naive = [dt.datetime(2024, 1, 1, h) for h in range(3)]
    with pytest.raises(ValueError, match=r"timezone|UTC"):
        weather.Weather(naive, series, clim, False)
    uneven = np.array(["2024-01-01T00", "2024-01-01T01", "2024-01-01T05"], "datetime64[s]")
    with pytest.raises(ValueError, match="constant step"):
        weather.Weather(uneven, series, clim, False)
    times = np.array(["2024-01-01T00", "2024-01-01T01", "2024-01-01T02"], "datetime64[s]")
    with pytest.raises(ValueError, match="NaN"):
        weather.Weather(times, series | {"wind_speed": np.array([1.0, np.nan, 1.0])}, clim, False)
