"""The fused CTM kernel against the array code it is paired with (its CPU build here, the
CUDA build where a GPU exists)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import gpu
from gpu import counting
from gpu.kernels import ctm as kernels
from sim import protocol
from sim.traffic import Demand, TrafficModel, flat_profile, routing
from sim.traffic.detectors import Detectors
from sim.traffic.fused import FusedCtm
from sim.traffic.synthetic import grid_network, random_od
from tests.helpers import assert_close, requires_cupy

requires_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")


def _model(trips_per_h=4000.0, detectors=True, signals=True, **kw):
    net = grid_network(5, 5, spacing_m=400.0, signalized=signals)
    zones = np.array([0, 4, 12, 20, 24])
    return TrafficModel(
        net,
        Demand(zones, random_od(5, trips_per_h, np.random.default_rng(7)), flat_profile),
        detectors=Detectors(np.arange(0, net.n_links, 7), 50.0, interval_s=120.0)
        if detectors else None,
        **kw,
    )  # fmt: skip


def _run(model, xp, steps=25, dt=60.0):
    state = model.init({}, xp)
    for k in range(steps):
        state = model.step(state, {"time_of_day_s": 7 * 3600.0 + dt * k}, dt)
    return protocol.snapshot(model, state), {
        k: gpu.to_host(v) for k, v in model.outputs(state).items()
    }


CASES = {
    "default": {},
    "exit-before-signal": {"exit_before_signal": True},
    # queues spill back: out-links short of supply, the node model's limits bind
    "congested": {"trips_per_h": 40000.0, "exit_before_signal": True},
    # hourly Poisson draws and route updates inside a coupling step split its sub-steps
    "poisson-routes": {"demand_noise": "poisson", "route_interval_s": 90.0, "seed": 3},
    "logit-routes": {"route_spread_s": 20.0, "route_interval_s": 150.0},
    "no-detectors-no-signals": {"detectors": False, "signals": False},
}


@requires_cc
@pytest.mark.parametrize("case", list(CASES))
def test_cpu_build_equals_array_code(case, monkeypatch):
    ref = _run(_model(**CASES[case]), np)
    monkeypatch.setattr(gpu, "fused_ctm_substeps", lambda xp: kernels.cpu_build())
    model = _model(**CASES[case])
    got = _run(model, np)
    assert model._fused_by  # the fused path was taken
    for part, expected in zip(got, ref, strict=True):
        assert set(part) == set(expected)
        for name, value in expected.items():
            if name == "route_sweeps":  # the array code's host count of Bellman-Ford
                continue  # sweeps; the kernel tests convergence on the device, no count
            # The kernel does the array code's IEEE float64 operations in the same order,
            # each rounded once (no contraction into fused multiply-adds), and sums whole
            # arrays in NumPy's pairwise order: equal bit for bit (the sign of a zero
            # aside, which array_equal does not see), over 25 steps of 18 sub-steps.
            np.testing.assert_array_equal(part[name], value, err_msg=name)


@requires_cc
def test_vehicles_are_conserved_on_the_fused_path(monkeypatch):
    # conservation, independent of the array code: every vehicle generated is waiting,
    # on a link, or has arrived
    monkeypatch.setattr(gpu, "fused_ctm_substeps", lambda xp: kernels.cpu_build())
    model = _model(trips_per_h=40000.0)
    state = model.init({}, np)
    for k in range(10):
        state = model.step(state, {"time_of_day_s": 7 * 3600.0 + 60.0 * k}, 60.0)
    c = model.counters(state)
    assert c["generated"] > 1000 and c["exited"] > 0
    # round-off of ~1e5 vehicle moves of ~1 vehicle each, float64: far below 1e-6
    assert abs(c["generated"] - c["waiting"] - c["in_network"] - c["exited"]) < 1e-6
    np.testing.assert_allclose(state["vehicles"].sum(), c["in_network"], rtol=1e-12)


@requires_cc
def test_adaptive_signals_keep_the_array_code(monkeypatch):
    monkeypatch.setattr(gpu, "fused_ctm_substeps", lambda xp: kernels.cpu_build())
    model = _model(signal_control="actuated")
    _run(model, np, steps=2)
    assert not model._fused_by


def test_only_cupy_gets_the_kernel():
    assert gpu.fused_ctm_substeps(np) is None
    assert gpu.fused_ctm_substeps(counting.xp) is None


@requires_cc
def test_cpu_build_refuses_other_arrays():
    k = kernels.cpu_build()
    arrays = {name: np.zeros(2, np.int64 if name in kernels.INDEX else np.float64)
              for name in kernels.ARRAYS}  # fmt: skip
    arrays["vehicles"] = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="C-contiguous float64 NumPy arrays \\('vehicles'"):
        k(arrays, dict.fromkeys(kernels.SIZES, 0), False, 1.0, 0, 1)
    arrays["vehicles"] = np.zeros(4)[::2]
    with pytest.raises(ValueError, match="'vehicles'"):
        k(arrays, dict.fromkeys(kernels.SIZES, 0), False, 1.0, 0, 1)


def test_scratch_shapes_cover_the_scratch_arguments():
    assert set(kernels.scratch_shapes(10, 5, 3, 4)) == set(kernels.SCRATCH)


@pytest.mark.gpu
@requires_cupy
@pytest.mark.parametrize("case", ["exit-before-signal", "congested", "poisson-routes"])
def test_cuda_build_matches_numpy(case):
    xp = gpu.select("gpu").xp
    ref = _run(_model(**CASES[case]), np)
    model = _model(**CASES[case])
    got = _run(model, xp)
    assert model._fused_by  # CuPy took the kernel
    for part, expected in zip(got, ref, strict=True):
        for name, value in expected.items():
            # Built to be bitwise equal (--fmad=false, IEEE division, the CPU build's
            # order); 1e-12 of slack should the GPU round one operation differently and
            # 450 sub-steps carry it on.
            assert_close(part[name], value, rtol=1e-12, atol=1e-12, err_msg=name)


@requires_cc
def test_route_sweeps_equal_bellman_ford_and_flag_non_convergence():
    model = _model()
    _, graph, _ = model._device(np)
    fused = FusedCtm(kernels.cpu_build(), model, np)
    cost = np.append(np.random.default_rng(1).uniform(5.0, 90.0, model.network.n_links), 0.0)
    cold = np.full((model.demand.n_zones, model.network.n_nodes), np.inf)
    # from a cold start (every node unreached) and from another solution: the fixed point
    # of the same sweeps, bit for bit
    expected = routing.shortest_times(np, graph, cost)
    np.testing.assert_array_equal(fused.shortest_times(cost, cold), expected)
    warm = routing.shortest_times(np, graph, 2.0 * cost)
    np.testing.assert_array_equal(fused.shortest_times(cost, warm), expected)
    fused.max_sweeps = 1  # far too few: the result is NaN, which the health check reports
    assert np.isnan(fused.shortest_times(cost, cold)).all()
