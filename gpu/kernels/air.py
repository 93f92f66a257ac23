"""The fused air sub-step kernel (``air_substep.cu``) on CuPy, and a CPU build of it.

One launch does a whole sub-step of :class:`sim.air.AirModel` for every species:
advection along both axes (MC-limited Lax-Wendroff with the vertical exchange), Heun
diffusion, inflow at the background through open edges, then decay, deposition and
emissions. It reads each species' field, the wind factor and the gain once and writes
each field once (28 bytes per cell for two float32 species), where the ``xp`` path makes
about 68 array passes per sub-step.

It is paired with the ``xp`` code it must match: :mod:`sim.air.scheme` and
:mod:`sim.air.sweeps` (transport) and :meth:`sim.air.AirModel.step` (sources). It
performs the same floating-point operations in the same order, each rounded once (no
fused multiply-adds: NVRTC ``--fmad=false``, ``cc -ffp-contract=off``), so its results
equal NumPy's bit for bit up to the sign of zero. The source compiles as plain C too
(:func:`cpu_build`), which is how the tests check it on machines without a GPU.

The step's numbers travel in a small device array (:meth:`AirSubstep.params`), written
by a one-thread kernel from launch arguments, so the sub-step launches themselves take
only pointers and the sweep order and can be captured once in a CUDA graph and replayed
(:mod:`gpu.graphs`).
"""

from __future__ import annotations

import abc
import ctypes
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gpu.kernels.build import FMAD_OFF, cc_library, compiled_or_none, set_values, setter_source

SOURCE = Path(__file__).with_name("air_substep.cu")
# Index of each parameter in the params array (the P_* of the source); species s has its
# background at N_FIXED + 2 s and its keep factor at N_FIXED + 2 s + 1.
FIXED = ("lam", "wind_x", "wind_y", "exchange_x", "exchange_y", "diffusion_a", "diffusion_b",
         "diffuse", "open_edges", "gain")  # fmt: skip
N_PARAMS = 32  # the parameter kernel's arguments
MAX_SPECIES = (N_PARAMS - len(FIXED)) // 2
TILE = {"float32": 32, "float64": 16}  # 4 shared tiles of (TILE + 9)^2 values, < 48 KB
THREADS = 256


def pack(*, background: Sequence[float], keep: Sequence[float], **fixed: float) -> list[float]:
    """The params array's values: the ``FIXED`` names as keywords (numbers; flags 0/1),
    then per species its ``background`` [concentration] and ``keep`` factor [1].

    ``lam`` is sub-step / dx [s m-1]; ``wind_x``, ``wind_y`` [m s-1] the weather wind
    towards +x, +y (0: no advection along that axis; the face wind is the wind factor
    times it); ``diffusion_a`` = -delta**2 / 2 and ``diffusion_b`` = delta**2 - delta with
    delta = K sub / dx**2.
    """
    if sorted(fixed) != sorted(FIXED):
        raise ValueError(f"pack needs exactly {FIXED}, got {tuple(fixed)}")
    if len(background) != len(keep) or not 0 < len(keep) <= MAX_SPECIES:
        raise ValueError(f"1 to {MAX_SPECIES} species, one background and keep each")
    values = [float(fixed[k]) for k in FIXED]
    for bg, k in zip(background, keep, strict=True):
        values += [float(bg), float(k)]
    return values


class AirSubstep(abc.ABC):
    """The kernel on one backend and dtype: :meth:`params`, :meth:`set_params` and the
    launch, ``kernel(cin, cout, factor, gain, params, order)``.

    ``cin``, ``cout``: (species, ny, nx) C-contiguous, distinct; ``factor``: (ny, nx);
    ``gain``: (species, ny, nx) (read only when the params say so); ``order``: 0 sweeps
    x then y, 1 y then x. No validation beyond shapes: the caller (the air model) owns
    the contract.
    """

    def __init__(self, dtype: Any):
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in TILE:
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.tile = TILE[self.dtype.name]

    def params(self, xp: Any) -> Any:
        """A params array on ``xp`` (zeros)."""
        return xp.zeros(N_PARAMS, dtype=self.dtype)

    @abc.abstractmethod
    def set_params(self, params: Any, values: Sequence[float]) -> None:
        """Write ``values`` (:func:`pack`) into ``params``."""

    @abc.abstractmethod
    def __call__(self, cin, cout, factor, gain, params, order: int) -> None:
        """One sub-step of every species from ``cin`` into ``cout``."""

    def _grid(self, cin) -> tuple[int, int, int, tuple[int, int]]:
        ns, ny, nx = (int(n) for n in cin.shape)
        return ns, ny, nx, (-(-nx // self.tile), -(-ny // self.tile))


class _CupySubstep(AirSubstep):
    def __init__(self, dtype: Any):
        import cupy

        super().__init__(dtype)
        real = "float" if self.dtype.name == "float32" else "double"
        module = cupy.RawModule(
            code=SOURCE.read_text() + setter_source("air_params", "REAL", N_PARAMS),
            options=(FMAD_OFF, f"-DREAL={real}", f"-DTILE={self.tile}"),
        )
        # compile now, outside any graph capture
        self._substep = module.get_function("air_substep")
        self._setter = module.get_function("air_params")

    def set_params(self, params, values) -> None:
        set_values(self._setter, params, values, N_PARAMS, self.dtype)

    def __call__(self, cin, cout, factor, gain, params, order: int) -> None:
        ns, ny, nx, grid = self._grid(cin)
        self._substep(grid, (THREADS,), (cin, cout, factor, gain, params, np.int32(ns),
                                         np.int32(ny), np.int32(nx), np.int32(order)))


class CpuSubstep(AirSubstep):
    """The same source built as C with the system compiler (``cc``) and called through
    ctypes on NumPy arrays: the reference build for tests on machines without a GPU.

    ``on_launch``, if given, is called once per launch (e.g. to count launches).
    """

    def __init__(self, dtype: Any, tile: int | None = None,
                 on_launch: Callable[[], None] | None = None):
        super().__init__(dtype)
        self.tile = int(tile or self.tile)
        self.on_launch = on_launch
        self._fn = _cpu_library(self.dtype.name, self.tile).air_substep
        self._fn.restype = None
        self._fn.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int] * 4

    def set_params(self, params, values) -> None:
        # one write, as the CuPy build's one-thread kernel (counted as its launch)
        if self.on_launch is not None:
            self.on_launch()
        params.view(np.ndarray)[: len(values)] = values

    def __call__(self, cin, cout, factor, gain, params, order: int) -> None:
        arrays = (cin, cout, factor, gain, params)
        for a in arrays:
            if not (isinstance(a, np.ndarray) and a.flags.c_contiguous and a.dtype == self.dtype):
                raise ValueError(f"the CPU build takes C-contiguous {self.dtype} NumPy arrays")
        ns, ny, nx, _ = self._grid(cin)
        if self.on_launch is not None:
            self.on_launch()
        self._fn(*(a.ctypes.data for a in arrays), ns, ny, nx, int(order))


def _cpu_library(dtype: str, tile: int) -> ctypes.CDLL:
    real = "float" if dtype == "float32" else "double"
    return cc_library(SOURCE, (f"REAL={real}", f"TILE={tile}"))


def cpu_build(dtype: Any = "float32", tile: int | None = None,
              on_launch: Callable[[], None] | None = None) -> CpuSubstep:
    """The CPU build of the kernel (compiled once per dtype and tile; needs ``cc``)."""
    return CpuSubstep(dtype, tile, on_launch)


@functools.cache
def _cupy_kernel(dtype: str) -> AirSubstep | None:
    return compiled_or_none(lambda: _CupySubstep(dtype), "fused air kernel")


def for_namespace(xp: Any, dtype: Any) -> AirSubstep | None:
    """The fused sub-step for arrays of ``xp`` and ``dtype``: compiled (once) on CuPy;
    None on every other namespace, or where it does not compile (one log line)."""
    if getattr(xp, "__name__", "") != "cupy" or np.dtype(dtype).name not in TILE:
        return None
    return _cupy_kernel(np.dtype(dtype).name)
