"""Bad-input and round-trip tests of twin.weatherfiles (climatology TOML, weather CSV)."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from tests.sim.energy_city import CLIMATE
from twin import weatherfiles


@pytest.fixture(scope="module")
def raw():
    with CLIMATE.open("rb") as fh:
        return tomllib.load(fh)


def test_shipped_climatology_file_loads():
    clim = weatherfiles.load_climatology(CLIMATE)
    assert clim.origin == str(CLIMATE) and clim.monthly["wind_speed"].shape == (12,)


def test_bad_climatology_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        weatherfiles.load_climatology(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("site = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        weatherfiles.load_climatology(bad)


HEADER = "time,air_temperature,wind_speed,wind_from_direction,relative_humidity,cloud_fraction"


def _row(hour, temperature="1.5", humidity="0.7", tz="+09:00"):
    return f"2024-01-01T{hour:02d}:00{tz},{temperature},2.0,315,{humidity},0.5"


def _write_csv(path, rows, header=HEADER):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_round_trip_and_interpolation(tmp_path, raw):
    path = _write_csv(tmp_path / "w.csv", [_row(h) for h in range(4)])
    w = weatherfiles.read_weather_csv(path, raw)
    assert w.times_utc[0] == np.datetime64("2023-12-31T15:00", "s")
    f = w.at(w.times_utc[0] + np.timedelta64(90, "m"))
    assert float(f["air_temperature"][()]) == pytest.approx(1.5)
    assert np.all(w.series["mixing_height"] > 0)


BAD_CSV = {  # id: (rows, header, expected message)
    "missing-columns": ([_row(0), _row(1)], "time,air_temperature,wind_speed",
                        "missing column.*wind_from_direction"),
    "empty-cell": ([_row(0), _row(1, temperature="")], HEADER, "column air_temperature, row 3"),
    "percent-humidity": ([_row(0), _row(1, humidity="70")], HEADER,
                         "column relative_humidity, row 3"),
    "gap": ([_row(0), _row(1), _row(3)], HEADER, "gap .* rows 3"),
    "naive-time": ([_row(0, tz=""), _row(1, tz="")], HEADER, "column time, row 2.*no timezone"),
    "partial-irradiance": ([_row(0) + ",100", _row(1) + ",100"], HEADER + ",ghi",
                           "all of ghi, dni, dhi"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_CSV)
def test_bad_csv_files_name_file_column_and_row(tmp_path, raw, case):
    rows, header, message = BAD_CSV[case]
    path = _write_csv(tmp_path / "bad.csv", rows, header)
    with pytest.raises(ValueError, match=message) as info:
        weatherfiles.read_weather_csv(path, raw)
    assert "bad.csv" in str(info.value)


def test_csv_file_missing(tmp_path, raw):
    with pytest.raises(ValueError, match="does not exist"):
        weatherfiles.read_weather_csv(tmp_path / "none.csv", raw)


def test_csv_with_a_byte_order_mark(tmp_path, raw):
    path = tmp_path / "excel.csv"
    path.write_text("\ufeff" + HEADER + "\n" + "\n".join(_row(h) for h in range(3)) + "\n")
    assert weatherfiles.read_weather_csv(path, raw).times_utc.size == 3
