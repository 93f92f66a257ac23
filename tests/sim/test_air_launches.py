"""Launches, syncs and uploads of an air step on the counting backend (gpu.counting)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import gpu
from gpu import counting
from gpu.kernels.air import cpu_build
from sim.air import AirModel

# The budgets reached (issue 16), for two species with emissions and a rising mixing
# height (the most set-up work): the array code sets up once per step (sweep
# coefficients for both sweep orders and all species, exchange, sources) and makes 68
# array operations per sub-step for both species (was about 200 + 144 per sub-step);
# the fused kernel makes one launch per sub-step, replayed from one CUDA graph on CuPy.
ARRAY_SETUP, ARRAY_PER_SUBSTEP = 60, 68
FUSED_SETUP, FUSED_PER_SUBSTEP = 16, 1


def _counted_step(model, dt):
    xp = counting.xp
    rng = np.random.default_rng(0)
    heights = rng.uniform(0, 40, (60, 80)) * (rng.random((60, 80)) < 0.4)
    e = xp.asarray(rng.random((60, 80)) * 1e-6)
    forcing = {"wind_speed": 3.0, "wind_from_direction": 250.0, "mixing_height": 600.0,
               "emission_pm25": e, "emission_nox": e}  # fmt: skip
    state = model.step(model.init({"building_height": heights}, xp), forcing, 60.0)
    forcing |= {"mixing_height": 700.0}
    n = model.substeps(state, forcing, dt)
    counting.reset()
    with counting.traced() as sites:
        model.outputs(model.step(state, forcing, dt))
    return dict(counting.counts), n, sites


@pytest.mark.parametrize("fused", [False, True])
def test_air_step_launch_budget(fused, monkeypatch):
    if fused:
        if shutil.which("cc") is None:
            pytest.skip("needs a C compiler (cc) for the kernel's CPU build")
        kernel = cpu_build("float32", on_launch=lambda: counting.counts.update(launches=1))
        monkeypatch.setattr(gpu, "fused_air_substep", lambda xp, dtype: kernel)
    setup, per = (FUSED_SETUP, FUSED_PER_SUBSTEP) if fused else (ARRAY_SETUP, ARRAY_PER_SUBSTEP)
    few, n_few, _ = _counted_step(AirModel(100.0), 60.0)
    many, n_many, sites = _counted_step(AirModel(100.0), 240.0)
    assert n_many > n_few >= 2
    for counts, n in ((few, n_few), (many, n_many)):
        assert counts["launches"] <= setup + per * n, (counts, n)
    assert many["launches"] - few["launches"] == per * (n_many - n_few)
    for kind in ("syncs", "uploads", "host_arrays"):
        assert many[kind] == 0, (kind, sites)
