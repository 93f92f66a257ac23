"""Unit, protocol, resume, backend and bad-input tests of sim.energy."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import gpu
from sim import variables
from sim.energy import EnergyModel, ev, grid
from sim.protocol import restore, snapshot
from tests.helpers import assert_close
from tests.sim.energy_city import forcing_series, random_city


@pytest.fixture(scope="module")
def forcings():
    return forcing_series(24)


def _run(model, city, forcings, xp=np, state=None):
    state = model.init(city, xp) if state is None else state
    for f in forcings:
        state = model.step(state, f, 3600.0)
    return state


def test_outputs_follow_the_variable_table(forcings):
    city = random_city(60, n_districts=3)
    model = EnergyModel()
    out = model.outputs(_run(model, city, forcings[:3]))
    assert set(out) == set(EnergyModel.OUTPUTS)
    for name, attrs in EnergyModel.OUTPUTS.items():
        assert attrs["units"] == variables.VARIABLES[name]["units"]
        dims = variables.VARIABLES[name]["dims"]
        assert out[name].shape == ((60,) if dims == ("time", "building") else (3,))
        assert np.all(np.isfinite(out[name]))
    assert set(EnergyModel.KPI_ATTRS) >= {"energy_use", "peak_load", "load_factor",
                                          "pv_self_consumption", "grid_co2_emissions"}  # fmt: skip


def test_daytime_pv_and_shading_reduce_output(forcings):
    city = random_city(150, seed=4)
    noon = forcings[6]  # 12 h local in June
    shaded = EnergyModel()
    state = shaded.step(shaded.init(city, np), noon, 3600.0)
    open_sky = EnergyModel()
    flat = {k: v for k, v in city.items() if k not in ("building_height", "grid_x", "grid_y")}
    state_open = open_sky.step(open_sky.init(flat, np), noon, 3600.0)
    assert np.all(state_open["pv_power"] > 0)
    assert np.all(state["pv_power"] <= state_open["pv_power"] + 1e-12)
    assert state["pv_power"].sum() < state_open["pv_power"].sum()
    night = forcings[20]
    assert not shaded.step(state, night, 3600.0)["pv_power"].any()


def test_fixed_shaded_fraction_input_scales_the_beam(forcings):
    city = random_city(20, grid=False)
    model = EnergyModel()
    lit = model.step(model.init(city, np), forcings[6], 3600.0)["pv_power"]
    dark = model.step(model.init(city | {"shaded_fraction": np.ones(20)}, np), forcings[6], 3600.0)
    assert np.all(dark["pv_power"] < lit)


def test_resume_from_host_arrays_is_bitwise(forcings):
    city = random_city(80, seed=6)
    model = EnergyModel()
    straight = _run(model, city, forcings)
    half = _run(model, city, forcings[:10])
    saved = snapshot(model, half)
    fresh = EnergyModel()
    resumed = _run(fresh, city, forcings[10:], state=restore(fresh, city, saved, np))
    assert set(resumed) == set(straight)
    for k in straight:
        np.testing.assert_array_equal(resumed[k], straight[k], err_msg=k)


def test_step_does_not_mutate_the_state(forcings):
    model = EnergyModel()
    state = model.init(random_city(30, grid=False), np)
    before = {k: np.array(gpu.to_host(v)) for k, v in state.items()}
    model.step(state, forcings[6], 3600.0)
    for k, v in before.items():
        np.testing.assert_array_equal(gpu.to_host(state[k]), v)


def test_dt_may_be_a_timedelta(forcings):
    city = random_city(10, grid=False)
    model = EnergyModel()
    a = model.step(model.init(city, np), forcings[6], 3600.0)
    b = model.step(model.init(city, np), forcings[6], dt.timedelta(hours=1))
    c = model.step(model.init(city, np), forcings[6], np.timedelta64(3600, "s"))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        np.testing.assert_array_equal(a[k], c[k])


def test_traffic_arrivals_convert_to_sessions():
    model = EnergyModel(ev_share=0.1, ev_plug_in_per_arrival=0.2)
    assert_close(model.ev_sessions_from_arrivals(np.array([100.0, 0.0])), np.array([2.0, 0.0]))


def test_tariff_follows_local_month_and_hour():
    model = EnergyModel()
    # 2024-07-31T23:30 UTC is 1 August 08:30 KST: summer, light load.
    assert model._price(np.datetime64("2024-07-31T23:30"), 8.5) == grid.TOU_PRICE[7, 8]
    assert grid.TOU_PRICE[7, 14] == 155.0  # summer peak
    assert grid.TOU_PRICE[0, 18] == 149.4  # winter evening peak
    assert grid.TOU_PRICE[3, 12] == 100.5  # spring mid load
    assert grid.TOU_PRICE[3, 2] == 95.7  # light load


def test_accumulator_equals_whole_series_kpis():
    rng = np.random.default_rng(1)
    steps, districts, dt_s = 203, 5, 900.0  # 50 whole hours and a partial one
    load = rng.uniform(100.0, 1000.0, (steps, districts))
    pv = rng.uniform(0.0, 900.0, (steps, districts))
    price = rng.uniform(80.0, 160.0, steps)
    capacity = np.full(districts, 1500.0)
    acc = grid.accumulator(districts, np)
    for k in range(steps):
        acc = grid.accumulate(acc, load[k], pv[k], dt_s, price[k])
    got = grid.kpis(acc, capacity)
    net = load - pv
    # Running sums and whole-array reductions add in different orders: 1e-12 relative.
    expected = {
        "energy_use": load.sum() * dt_s / 3.6e6,
        "pv_generation": pv.sum() * dt_s / 3.6e6,
        "peak_load": grid.peak_load(net) / 1000.0,
        "load_factor": grid.load_factor(net),
        "max_ramp_rate": grid.max_ramp_rate(net, dt_s) / 1000.0,
        "pv_self_consumption": grid.pv_self_consumption(load, pv),
        "transformer_utilization": grid.transformer_utilization(net, capacity).max(),
        "grid_co2_emissions": grid.co2_emissions(net, dt_s),
        "electricity_cost": grid.energy_cost(net, dt_s, price),
        "daily_peak_load": grid.daily(net, dt_s)[0].mean() / 1000.0,  # 2 days and a part
        "ramping": grid.ramping(net, dt_s) / 1000.0,
        "daily_one_minus_load_factor": grid.daily(net, dt_s)[1].mean(),
        "pv_self_sufficiency": np.minimum(load, pv).sum() / load.sum(),
    }
    for name, value in expected.items():
        assert_close(got[name], value, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(width=-c["width"]), "'width' must be finite and > 0"),
        (lambda c: c.update(width=np.full_like(c["width"], np.inf)), "'width' must be finite"),
        (
            lambda c: c.update(floor_area=np.zeros_like(c["floor_area"])),
            "'floor_area' must be finite and > 0",
        ),
        (lambda c: c.update(n_districts=1.7), "n_districts must be a whole number"),
        (lambda c: c.update(use=np.full_like(c["use"], 7)), r"'use' must be integers in \[0, 4\)"),
        (lambda c: c.update(district=np.full_like(c["district"], 9)), "'district'"),
        (lambda c: c.update(use=c["use"].astype(float)), "'use' must be integers"),
        (lambda c: c.update(height=c["height"][:-1]), "'height' has shape"),
        (lambda c: c.pop("floor_area"), "lack floor_area"),
        (lambda c: c.update(n_districts=0), "n_districts"),
        (lambda c: c.update(x=np.full_like(c["x"], np.nan)), "'x' must be finite"),
        (lambda c: c.update(shaded_fraction=np.full_like(c["x"], 2.0)), "shaded_fraction"),
        (lambda c: c.update(district_population=-np.ones(4)), "district_population"),
        (lambda c: c.update(building_height=np.zeros((5, 5))), "grid_x"),
    ],
)
def test_bad_inputs_name_the_field(edit, message):
    city = random_city(12, grid=False)
    edit(city)
    with pytest.raises(ValueError, match=message):
        EnergyModel().init(city, np)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"pv_coverage": 1.5}, r"pv_coverage must be in \[0, 1\]"),
        ({"heating_cop": 0.0}, "heating_cop must be > 0"),
        ({"heating_setpoint_c": 27.0}, "heating_setpoint_c <= cooling_setpoint_c"),
        ({"roof_samples": 3}, "roof_samples"),
        ({"solar_panels": 1}, "unknown energy parameter"),
        ({"ev_share": float("nan")}, "finite"),
        ({"tou_price_krw_per_kwh": np.ones((12, 23))}, "tou_price"),
    ],
)
def test_bad_settings_are_rejected(settings, message):
    with pytest.raises(ValueError, match=message):
        EnergyModel(**settings)


def test_step_before_init_and_bad_dt(forcings):
    with pytest.raises(RuntimeError, match="before init"):
        EnergyModel().step({}, forcings[0], 60.0)
    model = EnergyModel()
    state = model.init(random_city(5, grid=False), np)
    with pytest.raises(ValueError, match="dt"):
        model.step(state, forcings[0], -60.0)


def test_ev_charging_respects_charger_limit():
    backlog, power = ev.charge(np.zeros(2), np.array([100.0, 1.0]), 15.0, 7.0, np.array([2, 2]),
                               3600.0)  # fmt: skip
    assert power[0] == pytest.approx(14.0)  # two 7 kW chargers, saturated
    assert power[1] < 7.0 and backlog[1] > 0.0
    assert_close(backlog + power * 1.0, np.array([1500.0, 15.0]))


def test_backend_parity(xp, forcings):
    city = random_city(70, n_districts=3, seed=8)
    ref_model = EnergyModel()
    ref = _run(ref_model, city, forcings[:8])
    model = EnergyModel()
    state = _run(model, {k: xp.asarray(v) if isinstance(v, np.ndarray) else v
                         for k, v in city.items()}, forcings[:8], xp=xp)  # fmt: skip
    for k in ref:
        assert_close(state[k], ref[k], atol=1e-9, err_msg=k)
    assert model.kpis(state) == pytest.approx(ref_model.kpis(ref), rel=1e-9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ev_arrivals": -np.ones(4)}, "'ev_arrivals' must be"),
        ({"ev_arrivals": np.ones(3)}, r"'ev_arrivals' must be \(4,\)"),
        ({"air_temperature": np.nan}, "must be finite: air_temperature"),
        ({"dni": None}, "lacks dni"),
    ],
)
def test_bad_forcing_is_a_clear_error(change, message):
    model = EnergyModel()
    state = model.init(random_city(20, n_districts=4), np)
    forcing = forcing_series(1)[0] | change
    forcing = {k: v for k, v in forcing.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        model.step(state, forcing, 3600.0)


def test_ramp_compares_hourly_means_not_minutes():
    # one feeder jumps from 0 to 600 kW half-way through the second hour, at 1-min steps:
    # hourly means 0, 300, 600 kW, so the ramp is 300 kW/h (per-step it would be 36,000)
    load = np.where(np.arange(180) >= 90, 600.0, 0.0)[:, None]
    acc = grid.accumulator(1, np)
    for row in load:
        acc = grid.accumulate(acc, row, np.zeros(1), 60.0, 100.0)
    assert grid.kpis(acc, np.ones(1))["max_ramp_rate"] == pytest.approx(0.3)  # MW h-1
    assert grid.max_ramp_rate(load, 60.0) == pytest.approx(300.0)  # kW h-1
