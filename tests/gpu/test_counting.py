"""The counting test backend counts what would stall or feed a GPU, and computes like NumPy."""

from __future__ import annotations

import numpy as np

import gpu
from gpu import counting


def test_results_equal_numpy_and_stay_on_the_device():
    xp = counting.xp
    a = xp.asarray(np.arange(6.0).reshape(2, 3))
    b = xp.exp(a) * 2.0 + a[:, ::-1]
    assert isinstance(b, counting.CountingArray)
    np.testing.assert_array_equal(gpu.to_host(b), np.exp(np.arange(6.0).reshape(2, 3)) * 2.0
                                  + np.arange(6.0).reshape(2, 3)[:, ::-1])  # fmt: skip
    # reductions return 0-d device arrays, as CuPy does, not NumPy scalars
    assert isinstance(b.sum(), counting.CountingArray) and b.sum().ndim == 0
    assert gpu.array_namespace(b) is xp and counting.BACKEND.xp is xp
    assert xp.__name__ != "numpy"  # code that branches on the backend takes the CuPy path


def test_each_kind_is_counted():
    xp = counting.xp
    a = xp.zeros(4)
    out = xp.empty(4)
    counting.reset()
    xp.multiply(a, 2.0, out=out)
    a += 1.0
    assert dict(counting.counts) == {"syncs": 0, "host_arrays": 0, "uploads": 0, "launches": 2}
    counting.reset()
    with counting.traced() as sites:
        bool(a.any())
        float(a[0])
        _ = a + np.ones(4)  # a host array mixed in
        xp.asarray(np.ones(3))  # an upload
        gpu.to_host(a)
        xp.nonzero(a)  # data-sized output
        a[a > 0]  # boolean mask
        counting.BACKEND.synchronize()
    assert counting.counts["syncs"] == 6
    assert counting.counts["host_arrays"] == 1 and counting.counts["uploads"] == 1
    assert all("test_counting.py" in site for site in sites)


def test_gpu_bincount_is_sync_free_and_equals_numpy():
    xp = counting.xp
    index, weights = np.array([0, 3, 3, 1]), np.array([1.0, 2.0, 0.5, 4.0])
    dev = gpu.bincount(xp.asarray(index), xp.asarray(weights), 6)
    counting.reset()
    gpu.bincount(xp.asarray(index), xp.asarray(weights), 6)
    assert counting.counts["syncs"] == 0
    expected = np.bincount(index, weights=weights, minlength=6)
    np.testing.assert_array_equal(gpu.to_host(dev), expected)
    np.testing.assert_array_equal(gpu.bincount(index, weights, 6), expected)


@gpu.fuse
def _fused(xp, a, b, c):
    return xp.minimum(a * b, c) + 1.0, xp.where(a > b, a, b)


def test_a_fused_function_is_one_launch_and_equals_its_numpy_ops():
    xp = counting.xp
    a, b = np.linspace(-1.0, 2.0, 7), np.full(7, 0.5)
    dev = xp.asarray(a), xp.asarray(b)
    counting.reset()
    first, second = _fused(*dev, 0.25)
    assert counting.counts["launches"] == 1
    assert isinstance(first, counting.CountingArray)
    host = _fused(a, b, 0.25)
    np.testing.assert_array_equal(host[0], np.minimum(a * b, 0.25) + 1.0)
    np.testing.assert_array_equal(gpu.to_host(first), host[0])
    np.testing.assert_array_equal(gpu.to_host(second), np.where(a > b, a, b))
    total = _fused(np.asarray(2.0), np.asarray(3.0), 9.0)[0]  # 0-d stays an array
    assert isinstance(total, np.ndarray) and total.shape == () and total == 7.0


def test_fuse_falls_back_to_plain_operations_where_cupy_fuse_fails(caplog):
    import types

    fake = types.ModuleType("cupy")  # CuPy's name, NumPy's operations, a failing fuse
    fake.minimum, fake.where, fake.asarray = np.minimum, np.where, np.asarray
    calls = []

    def failing_fuse(f):
        def run(*args):
            calls.append(len(args))
            raise NotImplementedError("not supported in fusion")
        return run

    fake.fuse = failing_fuse

    class Array(np.ndarray):
        _twin_namespace = fake

    a = np.linspace(-1.0, 2.0, 7).view(Array)
    with caplog.at_level("WARNING", logger="gpu.ops"):
        first, _ = _fused(a, np.full(7, 0.5), 0.25)
        _fused(a, np.full(7, 0.5), 0.25)
    assert calls == [3]  # tried once, then plain calls
    assert "cupy.fuse of _fused failed (NotImplementedError" in caplog.text
    np.testing.assert_array_equal(np.asarray(first), np.minimum(np.asarray(a) * 0.5, 0.25) + 1.0)
