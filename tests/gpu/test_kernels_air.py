"""The fused air kernel against the array code it is paired with (its CPU build here, the
CUDA build where a GPU exists)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import gpu
from gpu import counting
from gpu.kernels import air as kernels
from sim.air import AirModel
from tests.helpers import assert_close, requires_cupy

requires_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")


def _city(shape, seed=0):
    rng = np.random.default_rng(seed)
    heights = rng.uniform(0, 60, shape) * (rng.random(shape) < 0.3)
    return heights, rng.random(shape) * 1e-5


def _two_steps(model, xp, heights, forcing, kernel=None, monkeypatch=None):
    """Two steps (the second with a rising mixing height: entrainment), on the fused
    ``kernel`` when given."""
    if kernel is not None:
        monkeypatch.setattr(gpu, "fused_air_substep", lambda xp, dtype: kernel)
    state = model.init({"building_height": xp.asarray(heights)}, xp)
    state = model.step(state, forcing, 120.0)
    state = model.step(state, forcing | {"mixing_height": 750.0}, 120.0)
    if kernel is not None:
        assert model._fused_loop is not None  # the fused path was taken
    return model.outputs(state)


@requires_cc
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("boundary", ["open", "closed"])
@pytest.mark.parametrize("direction", [250.0, 45.0, 180.0, 90.0, 0.0, 300.0])
def test_cpu_build_equals_array_code(direction, boundary, dtype, monkeypatch):
    heights, e = _city((45, 70))
    forcing = {"wind_speed": 4.0, "wind_from_direction": direction, "mixing_height": 500.0,
               "emission_pm25": e}  # fmt: skip
    ref = _two_steps(AirModel(50.0, boundary=boundary, dtype=dtype), np, heights, forcing)
    got = _two_steps(AirModel(50.0, boundary=boundary, dtype=dtype), np, heights, forcing,
                     kernels.cpu_build(dtype), monkeypatch)  # fmt: skip
    for name, value in ref.items():
        # The kernel does the array code's IEEE operations in the same order, each rounded
        # once (no contraction into fused multiply-adds): equal bit for bit (the sign of a
        # zero aside, which array_equal does not see).
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@requires_cc
@pytest.mark.parametrize("tile", [1, 3, 8, 32])
@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (2, 2), (33, 50)])
def test_tiles_and_tiny_grids(tile, shape, monkeypatch):
    # Tiles smaller than the halo, grids thinner than a stencil, grids not a multiple of
    # the tile: the halo and ghost logic must still reproduce the array code exactly.
    heights, e = _city(shape, seed=3)
    forcing = {"wind_speed": 3.0, "wind_from_direction": 200.0, "mixing_height": 400.0,
               "emission_nox": e}  # fmt: skip
    ref = _two_steps(AirModel(25.0), np, heights, forcing)
    got = _two_steps(AirModel(25.0), np, heights, forcing,
                     kernels.cpu_build("float32", tile), monkeypatch)  # fmt: skip
    for name, value in ref.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)  # as above: exact


@requires_cc
@pytest.mark.parametrize(
    ("speed", "direction", "diffusivity"),
    [(0.0, 0.0, 10.0), (3.0, 270.0, 0.0), (2.0, 180.0, 5.0), (0.0, 0.0, 0.0)],
)
def test_calm_one_axis_and_no_diffusion(speed, direction, diffusivity, monkeypatch):
    # Only diffusion; wind along x only without diffusion; along y only; nothing moves.
    heights, e = _city((20, 24), seed=5)
    forcing = {"wind_speed": speed, "wind_from_direction": direction, "mixing_height": 300.0,
               "emission_pm25": e, "emission_nox": 2 * e}  # fmt: skip
    kw = {"eddy_diffusivity_m2ps": diffusivity, "species": ("nox", "pm25")}
    ref = _two_steps(AirModel(20.0, **kw), np, heights, forcing)
    got = _two_steps(AirModel(20.0, **kw), np, heights, forcing, kernels.cpu_build("float32"),
                     monkeypatch)  # fmt: skip
    for name, value in ref.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)  # as above: exact


def test_only_cupy_gets_the_kernel():
    assert gpu.fused_air_substep(np, np.float32) is None
    assert gpu.fused_air_substep(counting.xp, np.float32) is None


def test_pack_checks_its_names_and_species():
    fixed = dict.fromkeys(kernels.FIXED, 0.0)
    values = kernels.pack(background=[12.0, 15.0], keep=[1.0, 0.5], **fixed)
    assert len(values) == len(kernels.FIXED) + 4 and values[-1] == 0.5
    with pytest.raises(ValueError, match="pack needs exactly"):
        kernels.pack(background=[1.0], keep=[1.0], lam=1.0)
    with pytest.raises(ValueError, match="species"):
        kernels.pack(background=[1.0] * 12, keep=[1.0] * 12, **fixed)
    with pytest.raises(ValueError, match="float32 or float64"):
        kernels.CpuSubstep("int32")  # refused before anything is compiled


@requires_cc
def test_cpu_build_refuses_other_arrays():
    k = kernels.cpu_build("float32")
    a = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        k(a, a.astype(np.float64), a[0], a, k.params(np), 0)


@pytest.mark.gpu
@requires_cupy
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_build_matches_numpy(dtype):
    xp = gpu.select("gpu").xp
    heights, e = _city((300, 410), seed=7)
    forcing = {"wind_speed": 5.0, "wind_from_direction": 230.0, "mixing_height": 500.0,
               "emission_pm25": e}  # fmt: skip
    ref = _two_steps(AirModel(20.0, dtype=dtype), np, heights, forcing)
    model = AirModel(20.0, dtype=dtype)
    got = _two_steps(model, xp, heights, forcing | {"emission_pm25": xp.asarray(e)})
    assert model._fused_loop is not None and model._fused_loop.launch.enabled
    assert model._fused_loop.launch.graphs  # the sub-steps were replayed from a graph
    for name, value in ref.items():
        # Built to be bitwise equal (--fmad=false, IEEE division, as the CPU build is);
        # about 100 ulp of slack, should the GPU round one operation differently and the
        # ~30 sub-steps carry it on.
        rtol = 1e-5 if dtype == "float32" else 1e-13
        assert_close(got[name], value, rtol=rtol, atol=0, err_msg=name)


@requires_cc
def test_fused_step_is_pure_and_its_buffers_do_not_leak(monkeypatch):
    monkeypatch.setattr(gpu, "fused_air_substep", lambda xp, dtype: kernels.cpu_build("float32"))
    heights, e = _city((30, 40), seed=9)
    model = AirModel(30.0)
    s0 = model.init({"building_height": heights}, np)
    forcing = {"wind_speed": 6.0, "wind_from_direction": 100.0, "mixing_height": 300.0,
               "emission_pm25": e}  # fmt: skip
    frozen = {k: np.array(v, copy=True) for k, v in s0.items()}
    first = model.step(s0, forcing, 300.0)
    kept = {s: first[s].copy() for s in model.species}
    second = model.step(s0, forcing | {"emission_pm25": 2 * e}, 300.0)  # reuses the buffers
    for k, v in frozen.items():
        np.testing.assert_array_equal(s0[k], v)
    for s in model.species:
        np.testing.assert_array_equal(first[s], kept[s])
    assert not np.array_equal(second["pm25"], first["pm25"])
