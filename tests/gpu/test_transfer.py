"""gpu.transfer.HostCopier: plain copies off CuPy; pinned buffers and a copy stream with
a stand-in CUDA namespace; real copies on a GPU."""

from __future__ import annotations

import sys
import types
from typing import ClassVar

import numpy as np
import pytest

import gpu
from gpu import counting
from tests.helpers import requires_cupy


def test_numpy_path_copies_at_once():
    a = np.arange(6.0).reshape(2, 3)
    pending = gpu.HostCopier(np).copy({"a": a, "b": a[0]})
    assert pending.ready()
    out = pending.result()
    a[...] = -1  # the result is a copy
    np.testing.assert_array_equal(out["a"], np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(out["b"], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="slots must be >= 1"):
        gpu.HostCopier(np, slots=0)


def test_counting_backend_counts_the_copy_as_a_sync():
    a = counting.xp.ones(4)
    counting.reset()
    out = gpu.HostCopier(counting.xp).copy({"a": a}).result()
    assert counting.counts["syncs"] == 1 and type(out["a"]) is np.ndarray


class _Event:
    def __init__(self, log):
        self.log, self.done = log, False

    def synchronize(self):
        self.log.append("wait")
        self.done = True


class _Array(np.ndarray):
    log: ClassVar[list] = []

    def get(self, stream=None, out=None, blocking=True):
        assert stream is not None and not blocking and out is not None
        out[...] = self.view(np.ndarray)
        self.log.append("copy")


def _fake(monkeypatch):
    log: list = []
    _Array.log = log

    class Stream:
        def __init__(self, non_blocking=False):
            self.non_blocking = non_blocking

        def record(self):
            return _Event(log)

        def wait_event(self, event):
            log.append("stream waits")

    xp = types.ModuleType("cupy")
    xp.ascontiguousarray = lambda a: a
    xp.cuda = types.SimpleNamespace(Stream=Stream, get_current_stream=lambda: Stream())
    pinned = types.ModuleType("cupyx")
    pinned.empty_pinned = lambda shape, dtype: np.empty(shape, dtype)
    monkeypatch.setitem(sys.modules, "cupyx", pinned)
    return xp, log


def test_device_path_reuses_pinned_buffers_by_slot(monkeypatch):
    xp, log = _fake(monkeypatch)
    copier = gpu.HostCopier(xp, slots=2)
    a = np.arange(4.0).view(_Array)
    first = copier.copy({"a": a})
    assert not first.ready() and log == ["stream waits", "copy"]  # nothing waited on
    second = copier.copy({"a": a * 2})
    buf = first.result()["a"]
    np.testing.assert_array_equal(buf, np.arange(4.0))
    third = copier.copy({"a": a * 3})  # slot 0 again: the first copy's buffer
    assert third.result()["a"] is buf and second.result()["a"] is not buf
    np.testing.assert_array_equal(buf, np.arange(4.0) * 3)


@pytest.mark.gpu
@requires_cupy
def test_copies_on_a_gpu():
    xp = gpu.select("gpu").xp
    a = xp.arange(12, dtype=xp.float32).reshape(3, 4)
    b = a + 1  # queued before the copy: seen by it
    pending = gpu.HostCopier(xp).copy({"a": a, "t": a.T, "b": b})
    later = a * 0  # queued after it, on the compute stream, alongside the copy
    out = pending.result()
    np.testing.assert_array_equal(out["b"], np.arange(1, 13, dtype=np.float32).reshape(3, 4))
    assert not bool(later.any())
    np.testing.assert_array_equal(out["a"], np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(out["t"], np.arange(12, dtype=np.float32).reshape(3, 4).T)
