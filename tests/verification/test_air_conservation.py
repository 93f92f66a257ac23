"""Budgets: transport conserves mass; decay, deposition and emission follow their laws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.air import AirModel, AirWorkspace, advect_diffuse, max_stable_dt


def _field(shape, dtype, seed=1):
    """A sharp-edged, lumpy positive field (the hardest case for the limiter)."""
    rng = np.random.default_rng(seed)
    c = rng.random(shape)
    c[10:20, 5:25] += 50.0
    return c.astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "rtol"),
    # Each of the ~1e3 cells' 200 updates rounds once per operation: the sum drifts as
    # a random walk of ~eps * sqrt(steps * ops), far below these bounds (measured
    # 6e-16 in float64, 3e-8 in float32).
    [(np.float64, 1e-13), (np.float32, 2e-6)],
)
def test_closed_box_conserves_mass(dtype, rtol):
    shape = (32, 40)
    c = _field(shape, dtype)
    rng = np.random.default_rng(2)
    # A rough wind with both signs and a variable diffusivity: every code path.
    u = rng.normal(1.0, 1.0, shape)
    v = rng.normal(-0.5, 1.0, shape)
    k = rng.uniform(0.0, 3.0, shape)
    dt = max_stable_dt(u, v, k, 10.0)
    work = AirWorkspace(shape, dtype, np, block_cells=200)  # several row blocks
    total = float(c.sum(dtype=np.float64))
    for i in range(200):
        order = "xy" if i % 2 == 0 else "yx"
        c = advect_diffuse(c, u, v, k, 10.0, dt, boundary="closed", work=work, sweep_order=order)
    assert float(c.sum(dtype=np.float64)) == pytest.approx(total, rel=rtol)
    assert c.min() >= 0


def _box_model(**kw):
    kw = {
        "species": ("nox",),
        "background_ugm3": {"nox": 0.0},
        "deposition_velocity_mps": {"nox": 0.0},
        "decay_rate_per_s": {"nox": 0.0},
        "boundary": "closed",
        "dtype": "float64",
        "roughness_factor_per_m": 0.0,
    } | kw
    return AirModel(20.0, **kw)


def _mass_ug(state, model, h):
    return float(state["nox"].sum()) * model.dx_m**2 * h


def test_decay_follows_exponential_law():
    lam = 2e-4  # s-1: a 1.4 h half-life
    m = _box_model(decay_rate_per_s={"nox": lam})
    c0 = _field((24, 30), np.float64)
    state = m.init({"building_height": np.zeros((24, 30)), "nox": c0}, np)
    forcing = {"wind_speed": 4.0, "wind_from_direction": 300.0, "mixing_height": 500.0}
    m0 = _mass_ug(state, m, 500.0)
    for k in range(1, 7):
        state = m.step(state, forcing, 600.0)
        # Decay is integrated exactly per sub-step and transport is conservative, so
        # the only error is float64 round-off (measured 2e-14).
        assert _mass_ug(state, m, 500.0) == pytest.approx(m0 * math.exp(-lam * 600 * k), rel=1e-12)


def test_deposition_rate_is_velocity_over_mixing_height():
    vd, h = 5e-3, 250.0  # m s-1, m: a loss rate of 2e-5 s-1
    m = _box_model(deposition_velocity_mps={"nox": vd})
    state = m.init({"building_height": np.zeros((10, 12)), "nox": np.full((10, 12), 30.0)}, np)
    calm = {"wind_speed": 0.0, "wind_from_direction": 0.0, "mixing_height": h}
    state = m.step(state, calm, 3600.0)
    # Exact exponential integration: float64 round-off only.
    np.testing.assert_allclose(state["nox"], 30.0 * math.exp(-vd / h * 3600.0), rtol=1e-12)


def test_emission_budget_in_ug_per_cubic_metre():
    h, dt = 400.0, 900.0
    m = _box_model()
    shape = (16, 16)
    state = m.init({"building_height": np.zeros(shape)}, np)
    e = np.zeros(shape)
    e[8, 3] = 2e-4  # kg s-1 from one cell
    e[2:5, 10:12] = 1e-5
    forcing = {"wind_speed": 3.0, "wind_from_direction": 225.0, "mixing_height": h}
    state = m.step(state, forcing | {"emission_nox": e}, dt)
    # Everything emitted stays in the closed box: 1e9 ug/kg * E * dt over the layer.
    expected = 1e9 * e.sum() * dt
    assert _mass_ug(state, m, h) == pytest.approx(expected, rel=1e-12)
    assert state["nox"].min() >= 0
