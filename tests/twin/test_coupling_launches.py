"""Launches of whole coupling steps of the demo scenario on the counting backend, on the
path CuPy takes (the fused kernels' CPU builds standing in for their CUDA builds)."""

from __future__ import annotations

import shutil

import pytest

import gpu
from bench.launches import count_step, coupler_at, fused_kernels

# Issue 16's target: at most 400 launches per coupling step of the demo at 100 m (was
# 3,300; 1,650 with the fused air kernel alone). Counted at 250 m to keep the test
# fast: a count is one per array operation whatever the arrays' sizes, and what the
# resolution changes, the air model's CFL sub-steps (1-2 at 100 m and at 250 m in these
# steps), is one launch each on the fused path (bench/launches.py gives 380 at 100 m).
BUDGET = 400
# A route update (every 300 s: every fifth 60 s step) adds the Bellman-Ford sweeps,
# about 4 array operations each, and one sync, its convergence test.
ROUTE_UPDATE_BUDGET = 650


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")
def test_a_coupling_step_fits_the_launch_budget(monkeypatch):
    for name, dispatch in fused_kernels().items():
        monkeypatch.setattr(gpu, name, dispatch)
    coupler = coupler_at(250)
    count_step(coupler, 0)  # the first step builds each model's fused buffers once
    for i in range(1, 6):
        parts = count_step(coupler, i)
        total = {k: sum(p[k] for p in parts.values()) for k in ("launches", "syncs")}
        route_update = i == 5
        assert total["launches"] <= (ROUTE_UPDATE_BUDGET if route_update else BUDGET), (
            i, {name: p["launches"] for name, p in parts.items()})  # fmt: skip
        assert total["syncs"] == int(route_update), (i, parts)
        for kind in ("uploads", "host_arrays"):
            assert all(p[kind] == 0 for p in parts.values()), (i, kind, parts)
