"""Device-to-host copies off the critical path: pinned buffers, their own stream.

:class:`HostCopier` copies a dict of device arrays to the host without stalling the
compute: on CuPy the copy stream first waits (on the device) for the work queued so far
on the current stream, then copies each array into a reused page-locked (pinned) NumPy
buffer with ``ndarray.get(stream=..., out=..., blocking=False)``; the caller goes on
queueing compute and collects the host arrays later with :meth:`Pending.result`, which
waits for that copy alone. The copy runs beside later compute, so the arrays must not be
changed in place until then (model states never are: a step returns new arrays). On
every other backend the copy is made at once (NumPy: plain
copies; the counting backend: :func:`gpu.to_host`, counted as syncs) and ``result``
returns it.

How the runner uses it (``twin.runner._hand_over``): make one ``HostCopier(backend.xp,
slots=3)`` per run; at an output step call ``pending = copier.copy({f"{model}/{name}":
array, ...})`` for the outputs (and states at a restart step) instead of
``Coupler.host_outputs()``, and hand ``pending`` to the writer thread, which calls
``pending.result()`` (then converts dtypes, runs the health check and writes). The
arrays returned stay valid until ``slots`` more copies have been started, so ``slots``
must exceed the number of snapshots the writer queue holds (2 today): 3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gpu.backend import to_host


class Pending:
    """A copy started by :meth:`HostCopier.copy`."""

    def __init__(self, result: dict[str, np.ndarray], event: Any = None, keep: Any = None):
        self._result, self._event, self._keep = result, event, keep

    def ready(self) -> bool:
        """Whether the copy has finished (never waits)."""
        return self._event is None or bool(self._event.done)

    def result(self) -> dict[str, np.ndarray]:
        """The host arrays by name, once the copy has finished (waits for it alone)."""
        if self._event is not None:
            self._event.synchronize()
            self._event = self._keep = None  # the device arrays may go now
        return self._result


class HostCopier:
    """Copies dicts of device arrays to the host (see the module docstring).

    Parameters
    ----------
    xp : the arrays' namespace.
    slots : sets of pinned buffers used in turn; a result's arrays are overwritten by
        the copy ``slots`` copies later.
    """

    def __init__(self, xp: Any, slots: int = 2):
        self.xp, self.slots = xp, int(slots)
        if self.slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots!r}")
        self.on_device = getattr(xp, "__name__", "") == "cupy"
        self._buffers: list[dict[str, np.ndarray]] = [{} for _ in range(self.slots)]
        self._last: list[Pending | None] = [None] * self.slots
        self._count = 0
        self._stream = xp.cuda.Stream(non_blocking=True) if self.on_device else None

    def copy(self, arrays: Mapping[str, Any]) -> Pending:
        """Start copying ``arrays`` ({name: device array}) to the host."""
        if not self.on_device:
            return Pending({k: np.array(to_host(a), copy=True) for k, a in arrays.items()})
        import cupyx

        xp, slot = self.xp, self._count % self.slots
        self._count += 1
        previous = self._last[slot]
        if previous is not None:
            previous.result()  # its buffers are reused: long done, normally
        arrays = {k: xp.ascontiguousarray(a) for k, a in arrays.items()}
        self._stream.wait_event(xp.cuda.get_current_stream().record())
        buffers, out = self._buffers[slot], {}
        for name, a in arrays.items():
            buf = buffers.get(name)
            if buf is None or buf.shape != a.shape or buf.dtype != a.dtype:
                buf = buffers[name] = cupyx.empty_pinned(a.shape, a.dtype)
            a.get(stream=self._stream, out=buf, blocking=False)
            out[name] = buf
        pending = Pending(out, self._stream.record(), keep=arrays)
        self._last[slot] = pending
        return pending
