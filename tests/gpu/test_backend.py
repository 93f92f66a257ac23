"""Backend selection with and without a usable CuPy."""

from __future__ import annotations

import logging
import sys
import types

import numpy as np
import pytest

import gpu
from gpu import backend
from tests.helpers import requires_cupy


@pytest.fixture
def no_probe_cache():
    backend._probe_cupy.cache_clear()
    yield
    backend._probe_cupy.cache_clear()


def _fake_cupy(monkeypatch, *, devices=1, fail_alloc=False):
    """Install a stand-in ``cupy`` module that behaves like a driverless machine."""
    fake = types.ModuleType("cupy")

    class CUDARuntimeError(RuntimeError):
        pass

    def get_device_count():
        if devices < 0:
            raise CUDARuntimeError("cudaErrorInsufficientDriver")
        return devices

    def arange(n, dtype=None):
        if fail_alloc:
            raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return np.arange(n, dtype=dtype)

    fake.float32 = np.float32
    fake.arange = arange
    fake.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(
            getDeviceCount=get_device_count,
            getDeviceProperties=lambda i: {"name": b"Fake GPU"},
        ),
        Device=lambda: types.SimpleNamespace(id=0),
    )
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def test_cpu_is_numpy():
    b = gpu.select("cpu")
    assert b.name == "numpy" and b.xp is np and b.device == "cpu"
    a = b.asarray([1, 2, 3], dtype=np.float32)
    assert isinstance(b.to_host(a), np.ndarray) and a.dtype == np.float32
    b.synchronize()


def test_auto_without_cupy_falls_back_with_one_info_line(monkeypatch, caplog, no_probe_cache):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with caplog.at_level(logging.INFO, logger="gpu.backend"):
        b = gpu.select("auto")
    assert b.name == "numpy"
    lines = [r for r in caplog.records if r.name == "gpu.backend"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "CuPy is not importable" in lines[0].getMessage()


def test_auto_with_driverless_cupy_falls_back(monkeypatch, caplog, no_probe_cache):
    _fake_cupy(monkeypatch, fail_alloc=True)
    with caplog.at_level(logging.INFO, logger="gpu.backend"):
        assert gpu.select("auto").name == "numpy"
    assert "no usable CUDA device" in caplog.text and "cudaErrorNoDevice" in caplog.text


def test_gpu_without_device_is_a_clear_error(monkeypatch, no_probe_cache):
    _fake_cupy(monkeypatch, devices=0)
    with pytest.raises(gpu.GPUUnavailableError, match="device='gpu' was requested"):
        gpu.select("gpu")


def test_auto_with_working_cupy_takes_it(monkeypatch, no_probe_cache):
    fake = _fake_cupy(monkeypatch)
    b = gpu.select("auto")
    assert b.name == "cupy" and b.xp is fake and "Fake GPU" in b.device


def test_env_var_sets_default(monkeypatch):
    monkeypatch.setenv("TWIN_DEVICE", "cpu")
    assert gpu.select().name == "numpy"
    monkeypatch.setenv("TWIN_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"TWIN_DEVICE='tpu'.*auto, cpu, gpu"):
        gpu.select()


def test_bad_device_argument():
    with pytest.raises(ValueError, match="argument device='fast'"):
        gpu.select("fast")


def test_array_namespace_ignores_scalars():
    assert gpu.array_namespace(np.ones(3), 2.0, None) is np
    assert gpu.array_namespace() is np


@pytest.mark.gpu
@requires_cupy
def test_cupy_round_trip():
    b = gpu.select("gpu")
    a = b.asarray(np.arange(5.0))
    assert gpu.array_namespace(a) is b.xp
    np.testing.assert_array_equal(b.to_host(a * 2), np.arange(5.0) * 2)
