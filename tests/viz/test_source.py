"""Opening stores for pictures: variables, display units, clock, places and the sun."""

from __future__ import annotations

import numpy as np
import pytest

import twin
from tests.helpers import assert_close
from tests.viz.conftest import make_run
from viz.places import find_place, sun_position, sun_vector
from viz.source import Source, check_size, parse_size


@pytest.fixture(scope="module")
def run(run_store):
    return Source.open(run_store)


def test_variables_of_a_run(run):
    names = run.variables
    kinds = {n: names[n].kind for n in ("pm25", "speed", "electric_load", "net_load", "height")}
    assert kinds == {
        "pm25": "grid",
        "speed": "link",
        "electric_load": "building",
        "net_load": "district",
        "height": "building",
    }
    assert names["pm25"].timed and not names["height"].timed
    # 'population' is in /grid and /districts: both qualified, and the short name is refused
    assert {"grid/population", "districts/population"} <= set(names)
    with pytest.raises(
        twin.InputError, match=r"several groups.*districts/population.*grid/population"
    ):
        run.variable("population")
    assert run.variable("grid/population").kind == "grid"
    assert "x" not in names and "from_node" not in names


def test_unknown_variable_lists_the_available(run):
    with pytest.raises(twin.InputError, match=r"no variable 'pm10'.*available: .*pm25.*speed"):
        run.variable("pm10")


def test_display_units(run, city):
    speed = run.variable("speed")
    assert speed.units == "km/h" and speed.title == "speed [km/h]"
    free = city["roads"]["free_speed"].values
    assert_close(speed.values(0).max(), 3.6 * free.max(), rtol=1e-6)  # float32 store
    assert run.variable("density").units == "veh/km"
    assert run.variable("flow").units == "veh/h"
    assert run.variable("pm25").units == "µg/m³"


def test_clock(run):
    assert run.times.size == 5
    assert run.clock_label(run.times[0]) == "2026-06-17 06:00 UTC+09:00"
    assert run.time_index(None) == 4
    for text in ("08:00", "2026-06-17 08:00", "2026-06-16T23:00Z", "07:40", "8:10"):
        assert run.time_index(text) == 2, text
    assert run.time_range("06:00", "08:00").tolist() == [0, 1, 2]
    assert run.time_range(None, None).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("12:00", "outside the run's completed outputs"),
        ("04:00", "outside"),  # before the 05:00 start: 04:00 the next day
        ("25:00", "not a clock time"),
        ("8am", "expected HH:MM"),
    ],
)
def test_bad_times(run, text, match):
    with pytest.raises(twin.InputError, match=match):
        run.time_index(text)


def test_time_range_errors(run):
    with pytest.raises(twin.InputError, match="after"):
        run.time_range("09:00", "07:00")
    with pytest.raises(twin.InputError, match="no output step"):
        run.time_range("06:10", "06:20")


def test_partial_run_shows_completed_steps_only(city, tmp_path):
    src = Source.open(make_run(tmp_path / "partial.zarr", city, completed=2))
    assert src.times.size == 2
    with pytest.raises(twin.InputError, match="outside"):
        src.time_index("09:00")


def test_city_store_has_no_clock(city_store):
    src = Source.open(city_store)
    assert src.run is None and src.times.size == 0
    with pytest.raises(twin.InputError, match="no clock"):
        src.parse_local("08:00")
    with pytest.raises(twin.InputError, match="offset"):
        src.parse_local("2026-06-17T08:00")
    assert src.parse_local("2026-06-17T08:00+09:00").hour == 8


def test_sizes():
    assert parse_size("1600x1000") == (1600, 1000)
    assert check_size((400.0, 300)) == (400, 300)
    for bad in ("1600", "1600x", "0x10", "99999x10"):
        with pytest.raises(twin.InputError, match="size"):
            parse_size(bad)
    for bad in ((400,), (400.5, 300), ("a", 3), None, (8, 300)):
        with pytest.raises(twin.InputError, match="size"):
            check_size(bad)


def test_places(city):
    assert find_place(city, "downtown")[0] == "Downtown (Chungjang-ro)"
    assert find_place(city, "SANGMU")[0] == "Sangmu"
    assert find_place(city, "dong-gu")[0] == "Dong-gu"
    assert find_place(city, None)[0] == "Downtown (Chungjang-ro)"
    with pytest.raises(twin.InputError, match=r"known places: .*Sangmu"):
        find_place(city, "Atlantis")


def test_sun_over_gwangju(city):
    # Solar noon on 2026-06-17 over the grid centre (35.152 N): elevation
    # 90 - (35.152 - 23.37) = 78.22 deg with Spencer's (1971) declination 23.37 deg, sun due
    # south. Tolerance 0.1 deg: Spencer's series is good to ~0.05 deg, and 1-minute steps
    # put the sampled maximum within 0.01 deg of the true one.
    times = np.arange("2026-06-17T03:00", "2026-06-17T04:00", dtype="datetime64[m]")
    sun = np.array([sun_position(city, t) for t in times.astype("datetime64[ns]")])
    best = sun[:, 0].argmax()
    assert abs(sun[best, 0] - 78.22) < 0.1
    assert abs(sun[best, 1] - 180.0) < 3.0  # 1 minute of time near noon moves it ~1.5 deg
    assert_close(np.linalg.norm(sun_vector(30.0, 81.0)), 1.0)
    assert_close(sun_vector(0.0, 90.0), [1.0, 0.0, 0.0], atol=1e-12)


def test_local_time_is_the_citys_whatever_offset_the_start_has(tmp_path):
    import twin
    from tests.twin.test_runner import scenario
    from viz.source import Source

    sc = scenario(duration="2h", output_interval="1h", start="2026-06-16T22:00:00Z")
    store = twin.run(sc, tmp_path / "utc.zarr", progress=False).store
    source = Source.open(store)
    assert source.start.utcoffset().total_seconds() == 9 * 3600  # Korea Standard Time
    assert source.parse_local("08:00").isoformat() == "2026-06-17T08:00:00+09:00"
    assert source.clock_label(source.times[0]).startswith("2026-06-17 08:00")
