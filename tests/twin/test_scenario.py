"""Scenario files: the shipped examples load; bad files fail with one clear message."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from twin import InputError
from twin.scenario import Scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

GOOD = """
name = "t"
start = 2026-06-17T00:00:00+09:00
duration = "6h"
step = "60s"
output_interval = "15min"
"""


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_examples_load_and_round_trip(path):
    s = Scenario.from_toml(path)
    assert s.start.utcoffset() is not None and s.n_outputs * s.steps_per_output == s.n_steps
    assert Scenario.from_dict(tomllib.loads(s.to_toml())) == s


def test_traffic_control_fields_read_and_round_trip():
    text = (
        GOOD
        + """
[traffic]
signal_control = "actuated"
signal_control_nodes = { "12" = "phase_select" }
signal_phases = { "12" = [[3, 5], [4], [6]] }
route_spread_s = 30
demand_noise = "poisson"
seed = 4
exit_before_signal = true
"""
    )
    s = Scenario.from_dict(tomllib.loads(text))
    t = s.traffic
    assert t.signal_control_nodes == {12: "phase_select"} and t.signal_phases == {
        12: [[3, 5], [4], [6]]
    }
    assert (t.route_spread_s, t.demand_noise, t.seed, t.exit_before_signal) == (
        30,
        "poisson",
        4,
        True,
    )
    assert Scenario.from_dict(tomllib.loads(s.to_toml())) == s
    # the defaults keep the earlier model
    d = Scenario.from_dict(tomllib.loads(GOOD)).traffic
    assert (d.route_spread_s, d.demand_noise, d.signal_control, d.exit_before_signal) == (
        0.0,
        "none",
        "fixed_time",
        False,
    )


def test_durations():
    s = Scenario.from_dict(tomllib.loads(GOOD))
    assert s.duration.total_seconds() == 6 * 3600 and s.n_steps == 360 and s.n_outputs == 24
    s = s.with_updates(duration="1d 6h")
    assert s.duration.total_seconds() == 30 * 3600


# (replace this line of GOOD (None: append), by this text) -> expected words in the message
BAD = [
    ("start = 2026-06-17T00:00:00+09:00", "start = 2026-06-17T00:00:00", ["start", "timezone"]),
    ('duration = "6h"', 'duration = "6 hours"', ["duration", "not a duration"]),
    ('duration = "6h"', 'duration = "10min"', ["whole multiple of output_interval"]),
    ('step = "60s"', 'step = "7s"', ["output_interval", "whole multiple of step"]),
    ('step = "60s"', 'step = "2h"', ["step must be whole seconds from 1 s to 1 h"]),
    ('step = "60s"', 'step = "1.5s"', ["step must be whole seconds"]),
    ('duration = "6h"', 'duration = "99999999999d"', ["duration", "longer than 3660 days"]),
    (None, "[traffic]\ntrips_per_day = 0", ["traffic.trips_per_day"]),
    (None, '[air]\nspecies = ["pm25", "pm25"]', ["species twice"]),
    (
        None,
        '[air]\nspecies = ["pm25"]\nbackground_ugm3 = { nox = 3.0 }',
        ["background_ugm3 names species that are not modelled: ['nox']"],
    ),
    ('name = "t"', 'name = "t"\ncolour = "red"', ["colour: unknown key"]),
    (None, "[traffic]\ndemand_scale = -1", ["traffic.demand_scale", "greater"]),
    (None, '[traffic]\nsignal_control = "smart"', ["traffic.signal_control", "'actuated'"]),
    (None, "[traffic]\nmin_green_s = 9\nmax_green_s = 8", ["max_green_s (8 s) is below"]),
    (None, "[traffic]\nsignal_cycle_s = 30\namber_s = 10\nall_red_s = 5", ["leaves 0 s of green"]),
    (None, '[traffic]\ndemand_noise = "gauss"', ["traffic.demand_noise", "'poisson'"]),
    (None, "[traffic]\nroute_spread_s = -1", ["traffic.route_spread_s"]),
    (None, '[traffic.signal_phases]\n"12" = [[1, -2]]', ["traffic.signal_phases"]),
    (None, '[air]\nspecies = ["co"]', ["air.species.0", "'pm25' or 'nox'"]),
    (None, "[city]\nresolution_m = 5", ["city.resolution_m", "10"]),
    ('name = "t"', 'name = "t"\ndevice = "tpu"', ["device", "'auto', 'cpu' or 'gpu'"]),
    (None, '[energy]\npv_coverage = "lots"', ["energy.pv_coverage", "number"]),
    ('duration = "6h"', "", ["duration: required key is missing"]),
]


@pytest.mark.parametrize(("old", "new", "words"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_files(tmp_path, old, new, words):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD + new if old is None else GOOD.replace(old, new))
    with pytest.raises(InputError) as err:
        Scenario.from_toml(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "1 problem(s)" in message, message
    for word in words:
        assert word in message, (word, message)
    assert "Traceback" not in message


def test_every_problem_listed_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('start = 2026-06-17T00:00:00\nduration = "x"\nfoo = 1\n')
    with pytest.raises(InputError, match=r"3 problem\(s\)"):
        Scenario.from_toml(path)


def test_not_toml_and_missing(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text("start = = 1")
    with pytest.raises(InputError, match="not valid TOML"):
        Scenario.from_toml(path)
    with pytest.raises(InputError, match="no such scenario file"):
        Scenario.from_toml(tmp_path / "nope.toml")


def test_relative_paths_are_relative_to_the_file(tmp_path, monkeypatch):
    (tmp_path / "cities").mkdir()
    (tmp_path / "cities" / "c.zarr").mkdir()
    path = tmp_path / "s.toml"
    path.write_text(GOOD + '[city]\nstore = "cities/c.zarr"\n')
    monkeypatch.chdir("/")
    assert Scenario.from_toml(path).city.store == str(tmp_path / "cities" / "c.zarr")


def test_background_follows_the_chosen_species():
    """Issue 11 item 5: one species alone is a consistent scenario; its background is
    the air model's default for it."""
    from sim.air import SPECIES_DEFAULTS

    s = Scenario.from_dict(tomllib.loads(GOOD + '[air]\nspecies = ["pm25"]\n'))
    assert s.air.background_ugm3 == {"pm25": SPECIES_DEFAULTS["pm25"]["background_ugm3"]}
    assert Scenario.from_dict(tomllib.loads(s.to_toml())) == s
    s = Scenario.from_dict(tomllib.loads(GOOD + '[air]\nspecies = ["nox"]\n'))
    assert set(s.air.background_ugm3) == {"nox"}
    assert set(Scenario.from_dict(tomllib.loads(GOOD)).air.background_ugm3) == {"pm25", "nox"}


def test_background_factor_profile_and_daily_lognormal():
    """Issue 17: the regional background's factor. By default 1 at every time (the
    constant background); the hourly factors are met at the hours and linear between;
    the daily factor at local noon is lognormal with median 1 and the stated log SD
    (1000 days: the SD estimate's standard error is 0.5 / sqrt(2000) = 0.011, so 0.05
    is over 4 of them; the median of the logs has standard error 0.5 sqrt(pi / 2000)
    = 0.02, 0.08 is 4), the same for the same seed and another for another."""
    import math
    from datetime import datetime, timedelta, timezone

    import numpy as np

    kst = timezone(timedelta(hours=9))
    t0 = datetime(2027, 1, 13, tzinfo=kst)
    air = Scenario.from_dict(tomllib.loads(GOOD)).air
    assert {air.background_factor(3, t0 + timedelta(minutes=37 * k)) for k in range(60)} == {1.0}
    hourly = [1.0 + 0.1 * h for h in range(24)]
    air = air.model_copy(update={"background_hourly": hourly})
    assert air.background_factor(0, t0 + timedelta(hours=5)) == pytest.approx(1.5)
    assert air.background_factor(0, t0 + timedelta(hours=5.5)) == pytest.approx(1.55)
    assert air.background_factor(0, t0 + timedelta(hours=23.5)) == pytest.approx(2.15)
    daily = air.model_copy(update={"background_hourly": [1.0] * 24, "background_daily_sd": 0.5})
    noons = [t0 + timedelta(days=d, hours=12) for d in range(1000)]
    logs = np.log([daily.background_factor(7, t) for t in noons])
    assert abs(np.std(logs) - 0.5) < 0.05 and abs(np.median(logs)) < 0.08
    # between noons linear in the log; the same seed gives the same days
    a, b = (math.log(daily.background_factor(7, noons[0] + timedelta(hours=h))) for h in (0, 24))
    mid = math.log(daily.background_factor(7, noons[0] + timedelta(hours=6)))
    assert mid == pytest.approx(0.75 * a + 0.25 * b)
    assert daily.background_factor(7, noons[3]) == daily.background_factor(7, noons[3])
    assert daily.background_factor(8, noons[3]) != daily.background_factor(7, noons[3])


def test_winter_background_exceeds_the_standard_on_some_evaluation_days_only():
    """Issue 17: on the winter day the regional PM2.5 background alone lifts the city above
    35 ug m-3 in some of the 5 seeds `twin evaluate` runs and stays below it in others,
    so alerts have both events and quiet days to be scored on."""
    from datetime import timedelta

    from twin.evaluation import member_scenario

    base = Scenario.from_toml(SCENARIOS / "winter_day.toml")
    peaks = []
    for seed in range(5):
        sc = member_scenario(base, seed)
        factor = [sc.air.background_factor(sc.weather.seed, sc.start + timedelta(hours=h))
                  for h in range(25)]  # fmt: skip
        peaks.append(sc.air.background_ugm3["pm25"] * max(factor))
    assert min(peaks) < 35.0 < max(peaks)


def test_strict_types_refuse_what_was_coerced():
    """Issue 20 item 7: what pydantic's lax mode turned into other values is refused."""
    for extra, field in (
        ("seed = true", "city.seed"),
        ("resolution_m = '100'", "city.resolution_m"),
    ):
        with pytest.raises(InputError, match=field.replace(".", r"\.")):
            Scenario.from_dict(tomllib.loads(GOOD + f"[city]\n{extra}\n"))
    with pytest.raises(InputError, match="a number is not a time"):
        Scenario.from_dict(tomllib.loads(GOOD.replace("2026-06-17T00:00:00+09:00", "20260617")))
    # what tests and services pass in Python stays valid: ISO text, ints for floats
    s = Scenario.from_dict(tomllib.loads(GOOD) | {"start": "2026-06-17T07:00:00+09:00"})
    assert s.start.hour == 7 and s.with_updates(duration="1h").n_outputs == 4


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out |= _flat(value, f"{name}.") if isinstance(value, dict) and value else {name: value}
    return out


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_examples_vary_only_what_they_say(path):
    """Issue 11 item 8: each example is a clean what-if against the demo: the fields that
    differ from june_weekday.toml are exactly its '# varies:' line."""
    declared = next(
        line.removeprefix("# varies:").split("(")[0]
        for line in path.read_text().splitlines()
        if line.startswith("# varies:")
    )
    declared = {f.strip() for f in declared.split(",")} - {"nothing", ""}
    demo = _flat(Scenario.from_toml(SCENARIOS / "june_weekday.toml").model_dump())
    this = _flat(Scenario.from_toml(path).model_dump())
    differ = {k.split(".background_ugm3.")[0] + ".background_ugm3" if ".background_ugm3." in k
              else k for k in demo.keys() | this.keys() if demo.get(k) != this.get(k)}  # fmt: skip
    assert differ - {"name"} == declared
