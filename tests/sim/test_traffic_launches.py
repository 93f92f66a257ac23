"""Launches, syncs and uploads of a traffic step on the counting backend (gpu.counting)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

import gpu
from gpu import counting
from gpu.kernels import ctm
from sim.traffic import Demand, TrafficModel, flat_profile
from sim.traffic.detectors import Detectors
from sim.traffic.synthetic import grid_network, random_od

# The budgets reached (issue 16) for signalized fixed-time nodes with loop detectors and
# trips ending before signals, the coupled demo's set-up: a CTM sub-step was 129 array
# operations (fewer with no detectors); fused elementwise chains (gpu.fuse, one kernel
# each on CuPy) and origins as one more slot of the node tables make it 74. The set-up
# of a coupling step (signal green fractions of all its sub-steps, route uses, the
# accumulators) and the outputs take SETUP (was 144, then 122 with the signal windows
# fused, 94 with the phase sums, the signal display and the link times fused too).
SETUP, PER_SUBSTEP = 94, 74
# On the fused CTM kernel (CuPy's path; its CPU build counts here) the sub-steps between
# two host events are one launch, after one parameter launch per 32 sub-steps; the first
# step of a new sub-step count allocates its parameter array (one more).
FUSED_SETUP = 91


def _model():
    net = grid_network(5, 5, spacing_m=400.0)
    zones = np.array([0, 4, 12, 20, 24])
    return TrafficModel(
        net,
        Demand(zones, random_od(5, 4000.0, np.random.default_rng(7)), flat_profile),
        route_interval_s=1e9,  # no route update inside the counted steps
        detectors=Detectors(np.arange(0, net.n_links, 7), 50.0, interval_s=1e9),
        exit_before_signal=True,
    )


def _counted_step(model, dt):
    state = model.init({}, counting.xp)
    for k in range(3):  # vehicles on the network, queues at the signals
        state = model.step(state, {"time_of_day_s": 7 * 3600.0 + 60.0 * k}, 60.0)
    n = max(1, int(np.ceil(dt / model.dt_sub_max_s * (1 - 1e-12))))
    counting.reset()
    with counting.traced() as sites:
        model.outputs(model.step(state, {"time_of_day_s": 7 * 3600.0 + 180.0}, dt))
    return dict(counting.counts), n, sites


@pytest.mark.parametrize("dt", [60.0, 240.0])
def test_traffic_step_launch_budget(dt):
    model = _model()
    few, n_few, _ = _counted_step(model, 20.0)
    many, n_many, sites = _counted_step(model, dt)
    assert n_many > n_few >= 2
    for counts, n in ((few, n_few), (many, n_many)):
        assert counts["launches"] <= SETUP + PER_SUBSTEP * n, (counts, n)
    assert many["launches"] - few["launches"] == PER_SUBSTEP * (n_many - n_few)
    for kind in ("syncs", "uploads", "host_arrays"):
        assert many[kind] == 0, (kind, sites)


def test_fused_traffic_step_launch_budget(monkeypatch):
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler (cc) for the kernel's CPU build")
    kernel = ctm.cpu_build(on_launch=lambda: counting.counts.update(launches=1))
    monkeypatch.setattr(gpu, "fused_ctm_substeps", lambda xp: kernel)
    model = _model()
    counted = [_counted_step(model, dt) for dt in (20.0, 60.0, 240.0)]
    for counts, n, sites in counted:
        assert model._fused_by
        # set-up and outputs, the parameter launches, the new parameter array, one run
        assert counts["launches"] <= FUSED_SETUP + math.ceil(n / 32) + 1 + 1, (counts, n)
        for kind in ("syncs", "uploads", "host_arrays"):
            assert counts[kind] == 0, (kind, sites)
    (few, n_few, _), (_, _, _), (many, n_many, _) = counted
    assert n_many == 12 * n_few  # no launch per sub-step: only the parameter launches grow
    assert many["launches"] - few["launches"] == math.ceil(n_many / 32) - math.ceil(n_few / 32)
