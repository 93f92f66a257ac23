"""Unit, backend and bad-input tests of sim.solar."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sim import solar
from tests.helpers import assert_close

T = np.datetime64("2024-06-21T03:30", "s")  # 12:30 KST, near the summer solstice noon
LAT, LON = 35.16, 126.85


def test_noon_sun_at_gwangju_is_high_in_the_south():
    el, az = solar.solar_position(T, LAT, LON)
    # Solstice noon elevation = 90 - lat + 23.44 = 78.3 deg; 12:30 KST is ~4 min after
    # local solar noon (126.85 E, equation of time -2 min), so within 0.5 deg of it.
    assert abs(float(el) - 78.28) < 0.5
    assert 150.0 < float(az) < 210.0


def test_broadcasts_times_against_locations():
    times = T + np.arange(4) * np.timedelta64(3600, "s")
    lats = np.array([-30.0, 0.0, 35.16])
    el, az = solar.solar_position(times[:, None], lats[None, :], LON)
    assert el.shape == az.shape == (4, 3)
    for j, lat in enumerate(lats):
        e1, a1 = solar.solar_position(times, lat, LON)
        assert_close(el[:, j], e1)
        assert_close(az[:, j], a1)


def test_aware_datetimes_and_offset_strings_equal_datetime64():
    kst = dt.timezone(dt.timedelta(hours=9))
    ref = solar.solar_position(T, LAT, LON)
    aware = dt.datetime(2024, 6, 21, 12, 30, tzinfo=kst)
    for t in (aware, "2024-06-21T12:30+09:00", "2024-06-21T03:30Z", [aware]):
        el, az = solar.solar_position(t, LAT, LON)
        assert_close(np.ravel(el), np.ravel(ref[0]))
        assert_close(np.ravel(az), np.ravel(ref[1]))


def test_altitude_only_changes_parallax():
    e0, _ = solar.solar_position(T, LAT, LON, 0.0)
    e1, _ = solar.solar_position(T, LAT, LON, 3000.0)
    # Parallax is at most 8.8 arcsec (0.0024 deg); altitude changes it by a factor 1 + h/R.
    assert 0.0 < abs(float(e1 - e0)) < 1e-5


@pytest.mark.parametrize("lat", [-90.5, 91.0, np.nan])
def test_latitude_outside_range_is_rejected(lat):
    with pytest.raises(ValueError, match="lat_deg"):
        solar.solar_position(T, lat, LON)


def test_latitude_array_with_one_bad_value_is_rejected():
    with pytest.raises(ValueError, match=r"lat_deg must lie in \[-90, 90\]"):
        solar.solar_position(T, np.array([10.0, 95.0]), LON)


@pytest.mark.parametrize(
    "times",
    [dt.datetime(2024, 6, 21, 3, 30), "2024-06-21T03:30", [dt.datetime(2024, 1, 1)]],
    ids=["naive-datetime", "naive-string", "naive-list"],
)
def test_naive_times_are_rejected(times):
    with pytest.raises(ValueError, match="naive"):
        solar.solar_position(times, LAT, LON)


def test_naive_pandas_index_is_rejected_and_aware_one_accepted():
    pd = pytest.importorskip("pandas")
    naive = pd.date_range("2024-06-21T03:30", periods=3, freq="h")
    with pytest.raises(ValueError, match="naive"):
        solar.solar_position(naive, LAT, LON)
    el, _ = solar.solar_position(naive.tz_localize("UTC"), LAT, LON)
    assert_close(el, solar.solar_position(naive.values, LAT, LON)[0])


def test_other_bad_times():
    with pytest.raises(ValueError, match="NaT"):
        solar.solar_position(np.array(["NaT"], dtype="datetime64[s]"), LAT, LON)
    with pytest.raises(ValueError, match="datetime64"):
        solar.solar_position(12345.0, LAT, LON)
    with pytest.raises(ValueError, match="ISO 8601"):
        solar.solar_position("tomorrow", LAT, LON)
    with pytest.raises(ValueError, match="1900-2149"):
        solar.solar_position(np.datetime64("1850-01-01"), LAT, LON)
    # With an explicit Delta T the SPA's own range applies.
    el, _ = solar.solar_position(np.datetime64("1850-01-01"), LAT, LON, delta_t_s=7.0)
    assert np.isfinite(el)


def test_clear_sky_is_zero_at_night_and_consistent_by_day():
    el = np.array([-10.0, -0.1, 5.0, 30.0, 80.0])
    ghi, dni, dhi = solar.clear_sky_ineichen(el, np.full(5, 172.0), 3.0, 50.0)
    assert np.all(ghi[:1] == 0) and np.all(dni[:1] == 0) and np.all(dhi[:1] == 0)
    assert np.all(ghi[2:] > 0) and np.all(dhi[2:] > 0)
    # Closure: GHI = DHI + DNI sin(apparent elevation).
    apparent = el + solar.refraction_deg(el, solar.pressure_from_altitude(50.0) / 100.0)
    assert_close(ghi[2:], dhi[2:] + dni[2:] * np.sin(np.radians(apparent[2:])))
    # More turbid air passes less beam.
    _, dni_hazy, _ = solar.clear_sky_ineichen(el, np.full(5, 172.0), 5.0, 50.0)
    assert np.all(dni_hazy[2:] < dni[2:])


def test_plane_of_array_flat_equals_ghi_and_facade_gets_no_beam_from_behind():
    beam, sky, ground = solar.plane_of_array(0.0, 180.0, 40.0, 180.0, 700.0, 600.0, 150.0)
    assert_close(beam + sky + ground, 150.0 + 700.0 * np.sin(np.radians(40.0)))
    beam_n, _, _ = solar.plane_of_array(90.0, 0.0, 40.0, 180.0, 700.0, 600.0, 150.0)
    assert float(beam_n) == 0.0
    with pytest.raises(ValueError, match="model"):
        solar.plane_of_array(0.0, 180.0, 40.0, 180.0, 1.0, 1.0, 1.0, model="perez")
    with pytest.raises(ValueError, match="dni_extra"):
        solar.plane_of_array(0.0, 180.0, 40.0, 180.0, 1.0, 1.0, 1.0, model="haydavies")


def test_backend_parity(xp):
    times = T + np.arange(24) * np.timedelta64(3600, "s")
    lats = xp.asarray([35.16, -33.87])
    el, az = solar.solar_position(times[:, None], lats[None, :], LON)
    assert type(el) is type(lats)
    el_np, az_np = solar.solar_position(times[:, None], np.asarray([35.16, -33.87])[None, :], LON)
    assert_close(el, el_np)
    assert_close(az, az_np)
    ghi = solar.clear_sky_ineichen(el, xp.full(el.shape, 172.0), 3.0)[0]
    assert_close(ghi, solar.clear_sky_ineichen(el_np, np.full(el.shape, 172.0), 3.0)[0])
