"""Energy model against closed forms: RC steady state and step response, balances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.energy import EnergyModel, ev, thermal
from tests.helpers import assert_close
from tests.sim.energy_city import forcing_series, random_city


def _buildings(n=50, seed=0):
    rng = np.random.default_rng(seed)
    w, d = rng.uniform(8, 40, n), rng.uniform(8, 40, n)
    h = rng.uniform(4, 80, n)
    use = rng.integers(0, 4, n)
    area = w * d * np.maximum(np.floor(h / 3.0), 1.0)
    return thermal.envelope(w, d, h, area, use)


@pytest.mark.parametrize("dt_s", [1.0, 60.0, 3600.0])
def test_steady_heating_is_ua_times_temperature_difference(dt_s):
    geo = _buildings()
    t_set, t_out = 20.0, -5.0
    t_in = np.full_like(geo["ua"], t_set)
    coef = thermal.step_coefficients(geo["ua"], geo["capacity"], dt_s)
    t_new, hvac = thermal.step_temperature(
        t_in, t_out, np.zeros_like(t_in), geo["ua"], coef, t_set, 26.0
    )
    assert_close(hvac, geo["ua"] * (t_set - t_out))
    assert_close(t_new, t_in)
    # Cooling mirrors heating: hold 26 degC against 35 degC outside.
    _, hvac = thermal.step_temperature(
        np.full_like(t_in, 26.0), 35.0, np.zeros_like(t_in), geo["ua"], coef, 20.0, 26.0
    )
    assert_close(-hvac, geo["ua"] * (35.0 - 26.0))


@pytest.mark.parametrize("dt_s", [60.0, 3600.0])
def test_free_floating_step_response_has_time_constant_rc(dt_s):
    geo = _buildings(8)
    tau = geo["capacity"] / geo["ua"]
    t0, t_out = 20.0, 0.0
    t = np.full_like(tau, t0)
    coef = thermal.step_coefficients(geo["ua"], geo["capacity"], dt_s)
    n = int(3 * tau.max() / dt_s)
    history = np.empty((n, tau.size))
    zeros = np.zeros_like(t)
    for k in range(n):
        t, hvac = thermal.step_temperature(t, t_out, zeros, geo["ua"], coef, -math.inf, math.inf)
        history[k] = t
    assert not hvac.any()
    elapsed = dt_s * np.arange(1, n + 1)[:, None]
    exact = t_out + (t0 - t_out) * np.exp(-elapsed / tau)
    # The update is the exact solution; only round-off accumulates over ~100-2500 steps.
    assert_close(history, exact, rtol=1e-10, atol=1e-12)
    # The time constant read back from the series (log-linear slope) is RC.
    fitted = -1.0 / np.polyfit(elapsed[:, 0], np.log(history - t_out), 1)[0]
    assert_close(fitted, tau, rtol=1e-9)


def test_hvac_capacity_limits_power_and_temperature():
    geo = _buildings(5)
    coef = thermal.step_coefficients(geo["ua"], geo["capacity"], 3600.0)
    cap = 0.5 * geo["ua"] * 25.0  # half of what holding 20 degC at -5 degC needs
    t_in = np.full(5, 20.0)
    t_new, hvac = thermal.step_temperature(
        t_in, -5.0, np.zeros(5), geo["ua"], coef, 20.0, 26.0, cap, cap
    )
    assert_close(hvac, cap)
    # With constant power the zone relaxes towards T_out + P / UA = 7.5 degC.
    t_eq = -5.0 + cap / geo["ua"]
    assert_close(t_new, t_eq + (20.0 - t_eq) * (1.0 - coef["relax"]))
    assert np.all(t_new < 20.0)


def test_model_steady_heating_is_ua_dt_minus_internal_gains():
    city = random_city(200, grid=False, seed=2)
    model = EnergyModel(initial_indoor_temperature_c=20.0, heating_setback_c=20.0)
    state = model.init(city, np)
    forcing = forcing_series(1)[0] | {
        "air_temperature": -5.0,
        "ghi": 0.0,
        "dni": 0.0,
        "dhi": 0.0,
        "solar_elevation": -20.0,
        "local_hour": 3.0,
    }
    for _ in range(3):
        state = model.step(state, forcing, 3600.0)
    s = model.static
    gains_w = s["floor_area"] * s["hourly"][3, 0][s["use"]]
    expected_kw = (s["ua"] * 25.0 - gains_w) / 1000.0
    assert_close(state["heating_power"], expected_kw, rtol=1e-9)


def test_energy_balance_at_every_step_and_level():
    city = random_city(400, n_districts=6, seed=3)
    model = EnergyModel(roof_samples=1)
    state = model.init(city, np)
    rng = np.random.default_rng(9)
    arrived_kwh = delivered_kwh = 0.0
    load_total_kwh = 0.0
    for k, forcing in enumerate(forcing_series(48)):
        if k % 2:  # alternate traffic arrivals and the default profile
            forcing = forcing | {"ev_arrivals": rng.uniform(0.0, 5.0, 6)}
            arrived_kwh += forcing["ev_arrivals"].sum() * model.params.ev_session_energy_kwh
        else:
            arrived_kwh += (
                ev.profile_sessions(
                    model.static["fleet"], model.params.ev_sessions_per_day,
                    forcing["local_hour"], 3600.0,
                ).sum() * model.params.ev_session_energy_kwh
            )  # fmt: skip
        state = model.step(state, forcing, 3600.0)
        d, nd = city["district"], city["n_districts"]
        demand = np.bincount(d, state["electric_load"], nd)
        pv = np.bincount(d, state["pv_power"], nd)
        # net = demand - PV + EV per district and for the city, every step (round-off only).
        assert_close(state["net_load"], demand - pv + state["ev_charging_power"], rtol=1e-12,
                     atol=1e-9)  # fmt: skip
        assert_close(state["net_load"].sum(),
                     state["electric_load"].sum() - state["pv_power"].sum()
                     + state["ev_charging_power"].sum(), rtol=1e-12)  # fmt: skip
        delivered_kwh += state["ev_charging_power"].sum()
        load_total_kwh += demand.sum() + state["ev_charging_power"].sum()
    # EV energy is conserved: what arrived was delivered or is still owed.
    assert_close(delivered_kwh + state["ev_backlog"].sum(), arrived_kwh, rtol=1e-12)
    kpis = model.kpis(state)
    assert_close(kpis["energy_use"], load_total_kwh / 1000.0, rtol=1e-12)
    assert kpis["pv_generation"] > 0.0
