"""Backend choice (NumPy or CuPy), transfers and the array namespace helper."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "gpu")
ENV_VAR = "TWIN_DEVICE"


class GPUUnavailableError(RuntimeError):
    """``device="gpu"`` was asked for but no usable CUDA device answers."""


@dataclass(frozen=True)
class Backend:
    """An array library plus the device it runs on.

    Attributes
    ----------
    name : ``"numpy"`` or ``"cupy"``.
    xp : the array namespace (the :mod:`numpy` or :mod:`cupy` module itself, so
        that ufuncs with ``out=`` work the same on both).
    device : a human-readable device description, e.g. ``"cpu"`` or
        ``"cuda:0 (NVIDIA H100 80GB HBM3)"``.
    """

    name: str
    xp: ModuleType
    device: str

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Move ``a`` (host or device array, list, scalar) to this backend."""
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a: Any) -> np.ndarray:
        """Return ``a`` as a NumPy array (a copy when it lives on a GPU)."""
        return to_host(a)

    def synchronize(self) -> None:
        """Wait for queued device work to finish (no-op on NumPy)."""
        if self.is_gpu:
            self.xp.cuda.get_current_stream().synchronize()


NUMPY = Backend("numpy", np, "cpu")


def to_host(a: Any) -> np.ndarray:
    """Return ``a`` as a NumPy array; CuPy arrays are copied from the device."""
    if array_api_compat.is_cupy_array(a):
        return a.get()
    host = getattr(a, "_twin_to_host", None)  # test backends (gpu.counting)
    if host is not None:
        return host(a)
    return np.asarray(a)


def array_namespace(*arrays: Any) -> ModuleType:
    """The namespace (:mod:`numpy` or :mod:`cupy`) of the given arrays.

    Python scalars and ``None`` are ignored. Mixing NumPy and CuPy arrays is an
    error, as it would silently copy between host and device.
    """
    arrays = tuple(a for a in arrays if a is not None and not isinstance(a, int | float | bool))
    if not arrays:
        return np
    for a in arrays:
        namespace = getattr(a, "_twin_namespace", None)  # test backends (gpu.counting)
        if namespace is not None:
            return namespace
    return array_api_compat.array_namespace(*arrays, use_compat=False)


@functools.cache
def _probe_cupy() -> tuple[ModuleType | None, str]:
    """Import CuPy and run a tiny allocation + kernel; return (cupy, description).

    ``import cupy`` succeeds on machines without a driver, so importing is not
    enough: only a device that answers counts. On failure returns
    ``(None, reason)``.
    """
    try:
        import cupy
    except Exception as err:  # ImportError, or a broken CUDA install
        return None, f"CuPy is not importable ({type(err).__name__}: {err})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
        if n < 1:
            return None, "CuPy found no CUDA device"
        probe = cupy.arange(8, dtype=cupy.float32)
        total = float((probe * 2).sum())
        if total != 56.0:
            return None, f"CUDA device answered a test kernel wrongly ({total} != 56)"
        dev = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        label = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    except Exception as err:  # CUDARuntimeError, CompileException, driver errors
        return None, f"no usable CUDA device ({type(err).__name__}: {err})"
    return cupy, f"cuda:{dev.id} ({label})"


def select(device: str | None = None) -> Backend:
    """Choose the array backend.

    Parameters
    ----------
    device : ``"auto"``, ``"cpu"`` or ``"gpu"``; ``None`` reads the
        ``TWIN_DEVICE`` environment variable (default ``"auto"``).
        ``auto`` takes the GPU when CuPy imports and a device answers a tiny
        allocation and kernel, otherwise NumPy with one INFO log line saying
        why. ``gpu`` without a usable device raises :class:`GPUUnavailableError`.

    Returns
    -------
    Backend
    """
    source = "argument device"
    if device is None:
        device, source = os.environ.get(ENV_VAR, "auto"), f"environment variable {ENV_VAR}"
    choice = str(device).strip().lower()
    if choice not in DEVICES:
        allowed = ", ".join(DEVICES)
        raise ValueError(f"{source}={device!r} is not a device; expected one of {allowed}")
    if choice == "cpu":
        return NUMPY
    cupy, description = _probe_cupy()
    if cupy is not None:
        return Backend("cupy", cupy, description)
    if choice == "gpu":
        raise GPUUnavailableError(
            f"device='gpu' was requested ({source}) but {description}. "
            "Install the 'gpu' extra (pip install 'gwangju-twin[gpu]') on a machine with an "
            "NVIDIA driver, or use device='cpu' / 'auto'."
        )
    log.info("Using NumPy on the CPU: %s.", description)
    return NUMPY


def device_memory() -> tuple[int, int] | None:
    """``(bytes held by CuPy's memory pool, total bytes of the device)`` of the current
    CUDA device, or None where CuPy has not been imported (a NumPy run).

    The pool keeps freed blocks for reuse, so the bytes it holds after a run are that
    run's peak use (what an ensemble sizes its fractional GPU requests from)."""
    import sys

    cupy = sys.modules.get("cupy")
    if cupy is None:
        return None
    try:
        total = cupy.cuda.Device().mem_info[1]
    except Exception:  # no usable device: the run was a NumPy run
        return None
    return int(cupy.get_default_memory_pool().total_bytes()), int(total)
