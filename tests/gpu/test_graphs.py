"""gpu.graphs: a plain call off CuPy; capture, replay and the fallback with a stand-in
CUDA namespace; real replay on a GPU."""

from __future__ import annotations

import logging
import types

import numpy as np
import pytest

import gpu
from tests.helpers import requires_cupy


class _Graph:
    def __init__(self, calls):
        self.calls, self.launches = calls, 0

    def launch(self, stream=None):
        self.launches += 1


def _fake_cupy(fail: bool = False):
    """A namespace named cupy whose streams record captures (or refuse them)."""
    log: list = []

    class Stream:
        def __init__(self, non_blocking=False):
            assert non_blocking  # capture on a stream that does not sync with stream 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def begin_capture(self):
            if fail:
                raise RuntimeError("cudaErrorStreamCaptureUnsupported")
            log.append("begin")

        def end_capture(self):
            log.append("end")
            return _Graph(list(log))

    xp = types.ModuleType("cupy")
    xp.cuda = types.SimpleNamespace(Stream=Stream, get_current_stream=lambda: "current")
    return xp, log


def test_plain_call_on_numpy():
    calls = []
    f = gpu.capture(lambda *a: calls.append(a), np)
    a = np.zeros(3)
    f(2, a)
    f(2, a)
    assert calls == [(2, a), (2, a)] and not f.enabled and not f.graphs


def test_capture_once_then_replay_per_arguments():
    xp, log = _fake_cupy()
    calls = []
    f = gpu.capture(lambda n, a: calls.append(n), xp, max_graphs=2)
    a, b = np.zeros(4), np.zeros(4)
    for _ in range(3):
        f(3, a)
    assert calls == [3] and log == ["begin", "end"]  # captured once, replayed after
    graph = f.graphs[next(iter(f.graphs))]
    assert graph.launches == 3
    f(3, b)  # another array (pointer): another graph
    f(4, a)
    assert calls == [3, 3, 4] and len(f.graphs) == 2  # the oldest was dropped


def test_fallback_logs_once_and_calls_plainly(caplog):
    xp, _ = _fake_cupy(fail=True)
    calls = []
    f = gpu.capture(lambda n: calls.append(n), xp)
    with caplog.at_level(logging.WARNING, logger="gpu.graphs"):
        f(1)
        f(2)
    assert calls == [1, 2] and not f.enabled
    lines = [r for r in caplog.records if r.name == "gpu.graphs"]
    assert len(lines) == 1 and "plain kernel launches" in lines[0].getMessage()


@pytest.mark.gpu
@requires_cupy
def test_replay_on_a_gpu():
    xp = gpu.select("gpu").xp
    a, out = xp.arange(1000, dtype=xp.float32), xp.empty(1000, dtype=xp.float32)

    def twice(n):
        for _ in range(n):
            xp.multiply(a, 2, out=out)
            xp.add(out, 1, out=out)

    f = gpu.capture(twice, xp)
    f(3)
    a[...] = 5  # a replay reads the arrays as they are then
    f(3)
    xp.cuda.get_current_stream().synchronize()
    assert f.enabled and len(f.graphs) == 1
    np.testing.assert_array_equal(gpu.to_host(out), np.full(1000, 11, np.float32))
