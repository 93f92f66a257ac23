"""CUDA graphs: capture a sync-free function's launches once, replay them with one call.

:func:`capture` wraps a function that only enqueues device work (kernel launches on
preallocated arrays: no allocation, no host sync, no host-to-device copy). On CuPy the
first call with given arguments records its launches on a private non-blocking stream
(``Stream.begin_capture`` / ``end_capture``) into a graph, and every call with the same
arguments replays that graph on the current stream (``Graph.launch``): one launch
instead of one per kernel. A graph holds raw device pointers, so graphs are cached by
the arguments' pointers, shapes and dtypes (and the values of non-array arguments).
Where capture is not possible (an old CUDA, an operation that may not be captured) the
wrapper logs one line and calls the function plainly from then on. On every other
backend (NumPy, the counting test backend) it is a plain call.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def _key(args: tuple) -> tuple:
    """Hashable identity of a call: arrays by pointer, shape, strides and dtype."""
    out = []
    for a in args:
        data = getattr(a, "data", None)
        if hasattr(data, "ptr"):  # a CuPy array
            out.append((data.ptr, a.shape, a.strides, a.dtype.str))
        elif hasattr(a, "__array_interface__"):
            out.append((a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str))
        else:
            out.append(a)
    return tuple(out)


class Captured:
    """``fn`` replayed from CUDA graphs on CuPy (see the module docstring).

    Attributes
    ----------
    enabled : False once capture failed (or on a backend without graphs): plain calls.
    graphs : the cached graphs, most recently used last (at most ``max_graphs``).
    """

    def __init__(self, fn: Callable[..., None], xp: Any, max_graphs: int = 32):
        self.fn, self.xp, self.max_graphs = fn, xp, int(max_graphs)
        self.enabled = getattr(xp, "__name__", "") == "cupy"
        self.graphs: OrderedDict[tuple, Any] = OrderedDict()
        self._stream = None

    def __call__(self, *args: Any) -> None:
        if not self.enabled:
            self.fn(*args)
            return
        key = _key(args)
        graph = self.graphs.get(key)
        if graph is None:
            try:
                graph = self._capture(args)
            except Exception as err:  # CUDARuntimeError, NotImplementedError, ...
                self.enabled = False
                self.graphs.clear()
                name = getattr(self.fn, "__qualname__", repr(self.fn))
                log.warning("CUDA graph capture of %s is not possible (%s: %s); plain kernel "
                            "launches from now on.", name, type(err).__name__, err)  # fmt: skip
                self.fn(*args)
                return
            self.graphs[key] = graph
            while len(self.graphs) > self.max_graphs:
                self.graphs.popitem(last=False)
        self.graphs.move_to_end(key)
        graph.launch(stream=self.xp.cuda.get_current_stream())

    def _capture(self, args: tuple) -> Any:
        if self._stream is None:
            self._stream = self.xp.cuda.Stream(non_blocking=True)
        stream = self._stream
        with stream:
            stream.begin_capture()
            try:
                self.fn(*args)
            finally:
                graph = stream.end_capture()  # always leave capture mode
        return graph


def capture(fn: Callable[..., None], xp: Any, max_graphs: int = 32) -> Captured:
    """``fn`` as a :class:`Captured`: graph-replayed on CuPy, a plain call elsewhere."""
    return Captured(fn, xp, max_graphs)
