"""Steady plume of a continuous point source in a uniform wind (2-D layer).

In a layer of height h, a source of E kg/s in one cell is a 2-D point source of
strength q = 1e9 E / h [ug m-1 s-1]. The steady solution of
u dc/dx = K (d2c/dx2 + d2c/dy2) + q delta(x) delta(y) is
c = q / (2 pi K) exp(u x / (2 K)) K0(u r / (2 K)) (e.g. Carslaw & Jaeger 1959,
sec. 10.4, for the moving point source), whose centreline tends, for
u x / (2 K) >> 1, to the slender-plume (line-source) form
c(x, 0) = q / sqrt(4 pi K u x): the plume carries q downwind and spreads with
sigma_y^2 = 2 K x / u.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import k0

from sim.air import AirModel

DX, U, K, H, E = 5.0, 2.0, 5.0, 100.0, 1e-6  # m, m s-1, m2 s-1, m, kg s-1
NY, NX, ROW, COL = 61, 120, 30, 10  # the source cell; 150 m of air either side


@pytest.fixture(scope="module")
def steady():
    m = AirModel(
        DX,
        species=("pm25",),
        background_ugm3={"pm25": 0.0},
        deposition_velocity_mps={"pm25": 0.0},
        eddy_diffusivity_m2ps=K,
        roughness_factor_per_m=0.0,
        dtype="float64",
    )
    state = m.init({"building_height": np.zeros((NY, NX))}, np)
    e = np.zeros((NY, NX))
    e[ROW, COL] = E
    forcing = {"wind_speed": U, "wind_from_direction": 270.0, "mixing_height": H}
    # 10 min is 2.4 crossing times of the 550 m downwind: steady to < 1e-10.
    for _ in range(10):
        state = m.step(state, forcing | {"emission_pm25": e}, 60.0)
    return state["pm25"]


def _downwind():
    x = (np.arange(NX) - COL) * DX
    keep = (x >= 50) & (x <= 450)  # from 10 cells off the source to 20 cells off the edge
    return x[keep], keep


def test_centreline_matches_exact_point_source(steady):
    x, keep = _downwind()
    q = 1e9 * E / H
    exact = q / (2 * np.pi * K) * np.exp(U * x / (2 * K)) * k0(U * x / (2 * K))
    # A one-cell source on a 5 m grid, 10+ cells away: discretisation error is
    # largest nearest the source (measured 1.0 % at 50 m, 0.07 % at 450 m).
    np.testing.assert_allclose(steady[ROW, keep], exact, rtol=0.015)


def test_centreline_follows_slender_plume_law(steady):
    x, keep = _downwind()
    q = 1e9 * E / H
    slender = q / np.sqrt(4 * np.pi * K * U * x)
    # The slender-plume form itself is 1 - 1/(8 z) off the exact solution
    # (z = u x / 2K >= 10 here: <= 1.3 %); measured deviation 0.27 %.
    np.testing.assert_allclose(steady[ROW, keep], slender, rtol=0.015)


def test_plume_carries_the_source_strength_and_spreads(steady):
    x, keep = _downwind()
    q = 1e9 * E / H
    y = (np.arange(NY) - ROW) * DX
    cols = steady[:, keep]
    # Mass flux through every cross-section equals the source (steady state). u c at
    # cell centres stands in for the scheme's face flux (limited slopes, diffusion
    # along x), which differs by 1.6e-5 at most here.
    np.testing.assert_allclose(U * cols.sum(axis=0) * DX, q, rtol=1e-4)
    var = (cols * y[:, None] ** 2).sum(axis=0) / cols.sum(axis=0)
    # Lateral spread grows as d(sigma_y^2)/dx = 2 K / u; the one-cell source adds a
    # constant (a virtual origin, measured 1.3 dx^2). Fitted slope within 2 % (measured
    # 0.5 %).
    slope, offset = np.polyfit(x, var, 1)
    assert slope == pytest.approx(2 * K / U, rel=0.02)
    assert 0 < offset < 2 * DX**2
