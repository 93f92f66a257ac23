"""Gaussian puff: advect_diffuse against the exact solution, and its order of accuracy.

An instantaneous point release of mass M in a uniform wind (u, v) with eddy
diffusivity K spreads as c = M / (4 pi K t) exp(-((x - u t)^2 + (y - v t)^2) / (4 K t))
(e.g. Seinfeld & Pandis 2016, ch. 18). Starting from the exact field at t0 > 0, the
scheme must reproduce it at t1 with an error falling at (at least) second order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.air import AirWorkspace, advect_diffuse, max_stable_dt

K, T0, T1 = 0.5, 400.0, 1000.0  # m2 s-1, s, s: sigma grows from 20 m to 32 m
COURANT = 0.8  # the same Courant number at every resolution, so dt scales with dx


def puff_error(dx: float, u: float, v: float, dtype=np.float64) -> float:
    """Relative L2 error at T1 on a grid that holds the puff +-5 sigma all the way."""
    margin = 5 * math.sqrt(2 * K * T1)
    xlo, xhi = min(u * T0, u * T1) - margin, max(u * T0, u * T1) + margin
    ylo, yhi = min(v * T0, v * T1) - margin, max(v * T0, v * T1) + margin
    x = xlo + (np.arange(math.ceil((xhi - xlo) / dx)) + 0.5) * dx
    y = ylo + (np.arange(math.ceil((yhi - ylo) / dx)) + 0.5) * dx
    xx, yy = np.meshgrid(x, y)

    def exact(t):
        return np.exp(-((xx - u * t) ** 2 + (yy - v * t) ** 2) / (4 * K * t)) / (4 * np.pi * K * t)

    steps = math.ceil((T1 - T0) / (COURANT * dx / max(abs(u), abs(v))))
    dt = (T1 - T0) / steps
    assert dt <= max_stable_dt(u, v, K, dx)
    c = exact(T0).astype(dtype)
    work = AirWorkspace(c.shape, c.dtype, np)
    for i in range(steps):
        # Alternating the sweep order, as AirModel does (Strang-type symmetrisation).
        order = "xy" if i % 2 == 0 else "yx"
        advect_diffuse(c, u, v, K, dx, dt, work=work, out=c, sweep_order=order)
    e = exact(T1)
    return float(np.sqrt(((c - e) ** 2).sum() / (e**2).sum()))


@pytest.mark.parametrize(("u", "v"), [(1.0, 0.0), (0.8, 0.3)], ids=["along-x", "oblique"])
def test_puff_converges_at_second_order(u, v):
    dxs = (5.0, 2.5)  # sigma / dx from 4 to 13
    coarse, fine = (puff_error(dx, u, v) for dx in dxs)
    order = math.log2(coarse / fine)
    msg = f"relative L2 error {coarse:.3e} at dx={dxs[0]} m, {fine:.3e} at dx={dxs[1]} m: "
    msg += f"order {order:.2f}"
    # The scheme is second order; an MC-limited scheme clips smooth extrema, which
    # costs a little on coarse grids, so > 1.8 leaves room without admitting first
    # order (measured 2.0 along x and 2.1 oblique).
    assert order > 1.8, msg
    # Absolute level on the fine grid: measured 1.6e-3 along x, 1.6e-3 oblique.
    assert fine < 3e-3, msg


def test_puff_float32_tracks_float64():
    err64 = puff_error(5.0, 0.8, 0.3)
    err32 = puff_error(5.0, 0.8, 0.3, np.float32)
    # float32 round-off (~1e-7 per operation, a few hundred steps) is far below the
    # discretisation error of 7e-3: the two errors agree to 1 % (measured 4e-6).
    assert err32 == pytest.approx(err64, rel=1e-2)
