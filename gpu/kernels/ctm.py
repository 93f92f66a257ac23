"""The fused CTM sub-steps kernel (``ctm_substep.cu``) on CuPy, and a CPU build of it.

One launch runs a run of sub-steps of :class:`sim.traffic.TrafficModel` (all of a
coupling step's sub-steps between two host events: a route update, an hourly demand
draw, the end of a detector interval): new trips, signal discharge, cell sending and
receiving, the node model, the cell update, vehicle ages, the network counters and the
loop detectors' sums. The ``xp`` path makes about 74 array operations per sub-step.

It is paired with the ``xp`` code it must match: :func:`sim.traffic.loading.substep`,
the sub-step loop of :meth:`sim.traffic.TrafficModel.step` and
:func:`sim.traffic.detectors.accumulate`. It performs the same float64 operations in the
same order, each rounded once (no fused multiply-adds), and sums whole arrays in NumPy's
pairwise order, so its results equal NumPy's bit for bit up to the sign of zero. The
source compiles as plain C too (:func:`cpu_build`), which is how the tests check it on
machines without a GPU.

On CUDA the kernel is one thread block (phases separated by ``__syncthreads``): a
network's sub-step moves well under a megabyte, so a launch, not the arithmetic, is what
costs; one block uses one of the GPU's multiprocessors, which bounds the speed of very
large networks (a million cells) to that of one multiprocessor.

Arguments are the arrays named in :data:`ARRAYS` (float64, int64 for :data:`INDEX`),
C-contiguous, then the sizes :data:`SIZES`, ``poisson`` (multiply new trips by
``multiplier``), ``h`` [s] and the sub-steps ``k0 .. k1 - 1``; ``fh`` holds each
sub-step's demand factor times ``h`` and is written by :meth:`CtmSubsteps.set_params`
(a one-thread kernel from launch arguments: no host-to-device copy).
"""

from __future__ import annotations

import abc
import ctypes
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gpu.kernels.build import FMAD_OFF, cc_library, compiled_or_none, set_values, setter_source

SOURCE = Path(__file__).with_name("ctm_substep.cu")
STATIC = (
    "speed", "wave", "capacity", "jam", "entry", "od_per_s", "multiplier", "route", "greens",
    "fh", "first", "last", "cell_first_of", "cell_last_of", "node_sources", "out_links",
    "from_node", "to_node", "zone_nodes", "link_approach", "exit_zone", "exit_link",
    "det_cell", "det_frac", "det_occupancy", "det_length",
)  # fmt: skip
STATE = (
    "vehicles", "link_dest", "link_age", "queue", "origin_age", "approach_green",
    "acc_cell_flow", "acc_link_time", "acc_link_out", "acc_zone_arrivals", "entered",
    "exited", "generated", "trip_time", "vehicle_time", "waiting_time", "det_count",
    "det_occ", "det_dist", "det_time",
)  # fmt: skip
SCRATCH = (
    "send", "recv", "flow", "inflow", "on_link", "on_link_now", "link_out", "link_in",
    "shortfall", "sending", "demand", "node_demand", "limit", "arrive", "leaving",
    "mean_age", "waiting", "waiting_now", "origin_moved", "exits", "trips", "new_trips",
)  # fmt: skip
ARRAYS = STATIC + STATE + SCRATCH  # the kernel's pointer arguments, in order
INDEX = frozenset(
    ("first", "last", "cell_first_of", "cell_last_of", "node_sources", "out_links",
     "from_node", "to_node", "zone_nodes", "link_approach", "exit_zone", "exit_link",
     "det_cell")
)  # fmt: skip
# C cells, L links (both with the dummy), Z zones, N nodes, KI / KO node-table rows,
# NA approaches, NE exits (zone, approach to its node), ND detectors
SIZES = ("C", "L", "Z", "N", "KI", "KO", "NA", "NE", "ND")
ROUTE_ARRAYS = ("slot_cost", "slot_to", "dest", "d", "spare", "flag")  # route_sweeps' arrays
ROUTE_DTYPES = {"slot_to": np.int64, "dest": np.int64, "flag": np.int32}  # others float64
N_PARAMS = 32  # values per parameter launch
THREADS = 256  # one block; __launch_bounds__ keeps its registers within it


def scratch_shapes(C: int, L: int, Z: int, N: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the :data:`SCRATCH` buffers (the kernel's working arrays)."""
    shapes = {k: (C,) for k in ("send", "recv", "flow", "inflow")}
    shapes |= {k: (L,) for k in ("on_link", "on_link_now", "link_out", "link_in", "shortfall")}
    shapes |= {"sending": (Z, L + Z), "demand": (Z, L), "leaving": (L + Z,), "mean_age": (N,)}
    shapes |= {k: (Z, N) for k in ("node_demand", "limit", "arrive")}
    shapes |= {k: (Z,) for k in ("waiting", "waiting_now", "origin_moved", "exits", "trips")}
    return shapes | {"new_trips": (Z, Z)}


class CtmSubsteps(abc.ABC):
    """The kernel on one backend: :meth:`params`, :meth:`set_params` and the launch,
    ``kernel(arrays, sizes, poisson, h_s, k0, k1)`` (see the module docstring).

    No validation beyond what the CPU build needs: the caller (the traffic model) owns
    the contract.
    """

    def params(self, xp: Any, n: int) -> Any:
        """A parameter array on ``xp`` for ``n`` sub-steps (zeros)."""
        return xp.zeros(max(int(n), 1), dtype=np.float64)

    def set_params(self, params: Any, values: Sequence[float]) -> None:
        """Write ``values`` into ``params``, :data:`N_PARAMS` per launch."""
        for start in range(0, len(values), N_PARAMS):
            self._set(params[start:], values[start : start + N_PARAMS])

    @abc.abstractmethod
    def _set(self, params: Any, values: Sequence[float]) -> None:
        """Write one launch's ``values`` at the start of ``params``."""

    @abc.abstractmethod
    def __call__(self, arrays: Mapping[str, Any], sizes: Mapping[str, int], poisson: bool,
                 h_s: float, k0: int, k1: int) -> None:  # fmt: skip
        """Sub-steps ``k0`` to ``k1`` (exclusive) in one launch."""

    @abc.abstractmethod
    def route_sweeps(self, arrays: Mapping[str, Any], max_sweeps: int) -> None:
        """Shortest times in place in ``arrays["d"]`` (see ``route_body`` in the source):
        :data:`ROUTE_ARRAYS`, ``slot_cost``/``slot_to`` (k, node), ``dest`` (zone,),
        ``d``/``spare`` (zone, node), ``flag`` (1,) int32. One launch."""

    @staticmethod
    def _checked(arrays: Mapping[str, Any], names: Sequence[str], dtype_of: Callable,
                 kind: type = object) -> list:  # fmt: skip
        """``arrays[name]`` for ``names``, each checked to be a C-contiguous ``kind`` of
        ``dtype_of(name)`` (host metadata only: no sync)."""
        out = []
        for k in names:
            a, dtype = arrays[k], np.dtype(dtype_of(k))
            if not (isinstance(a, kind) and a.flags.c_contiguous and a.dtype == dtype):
                where = " NumPy" if kind is np.ndarray else ""
                raise ValueError(f"the CTM kernel takes C-contiguous {dtype}{where} arrays "
                                 f"({k!r} is not one)")  # fmt: skip
            out.append(a)
        return out

    @staticmethod
    def _route_scalars(arrays: Mapping[str, Any], max_sweeps: int):
        k, n = (int(v) for v in arrays["slot_cost"].shape)
        return int(arrays["dest"].shape[0]), n, k, int(max_sweeps), float("nan")

    @staticmethod
    def _scalars(sizes: Mapping[str, int], poisson: bool, h_s: float, k0: int, k1: int):
        return (*(int(sizes[k]) for k in SIZES), int(bool(poisson)), float(h_s), int(k0),
                int(k1))  # fmt: skip


class _CupyCtm(CtmSubsteps):
    def __init__(self):
        import cupy

        module = cupy.RawModule(
            code=SOURCE.read_text() + setter_source("ctm_params", "double", N_PARAMS),
            options=(FMAD_OFF, f"-DCTM_THREADS={THREADS}"),
        )
        # compile now, outside any graph capture
        self._kernel = module.get_function("ctm_substeps")
        self._routes = module.get_function("route_sweeps")
        self._setter = module.get_function("ctm_params")

    def _set(self, params, values) -> None:
        set_values(self._setter, params, values, N_PARAMS, np.float64)

    def __call__(self, arrays, sizes, poisson, h_s, k0, k1) -> None:
        *ints, p, h, a, b = self._scalars(sizes, poisson, h_s, k0, k1)
        scalars = (*(np.int64(v) for v in ints), np.int32(p), np.float64(h), np.int32(a),
                   np.int32(b))  # fmt: skip
        self._kernel((1,), (THREADS,), (*self._checked(arrays, ARRAYS, _dtype), *scalars))

    def route_sweeps(self, arrays, max_sweeps) -> None:
        z, n, k, m, bad = self._route_scalars(arrays, max_sweeps)
        checked = self._checked(arrays, ROUTE_ARRAYS, _route_dtype)
        self._routes((1,), (THREADS,), (*checked, np.int64(z), np.int64(n), np.int64(k),
                                        np.int32(m), np.float64(bad)))  # fmt: skip


class CpuCtm(CtmSubsteps):
    """The same source built as C with the system compiler (``cc``) and called through
    ctypes on NumPy arrays: the reference build for tests on machines without a GPU.

    ``on_launch``, if given, is called once per launch (e.g. to count launches).
    """

    def __init__(self, on_launch: Callable[[], None] | None = None):
        self.on_launch = on_launch
        library = cc_library(SOURCE)
        self._fn, self._routes = library.ctm_substeps, library.route_sweeps
        self._fn.restype = self._routes.restype = None
        self._fn.argtypes = (
            [ctypes.c_void_p] * len(ARRAYS)
            + [ctypes.c_longlong] * len(SIZES)
            + [ctypes.c_int, ctypes.c_double, ctypes.c_int, ctypes.c_int]
        )
        self._routes.argtypes = (
            [ctypes.c_void_p] * len(ROUTE_ARRAYS) + [ctypes.c_longlong] * 3
            + [ctypes.c_int, ctypes.c_double]
        )  # fmt: skip

    def _note(self) -> None:
        if self.on_launch is not None:
            self.on_launch()

    def _set(self, params, values) -> None:
        self._note()  # one write, as the CuPy build's one-thread kernel
        params.view(np.ndarray)[: len(values)] = values

    def __call__(self, arrays, sizes, poisson, h_s, k0, k1) -> None:
        pointers = [a.ctypes.data for a in self._checked(arrays, ARRAYS, _dtype, np.ndarray)]
        self._note()
        self._fn(*pointers, *self._scalars(sizes, poisson, h_s, k0, k1))

    def route_sweeps(self, arrays, max_sweeps) -> None:
        checked = self._checked(arrays, ROUTE_ARRAYS, _route_dtype, np.ndarray)
        self._note()
        self._routes(*(a.ctypes.data for a in checked), *self._route_scalars(arrays, max_sweeps))


def _dtype(name: str) -> type:
    return np.int64 if name in INDEX else np.float64


def _route_dtype(name: str) -> type:
    return ROUTE_DTYPES.get(name, np.float64)


def cpu_build(on_launch: Callable[[], None] | None = None) -> CpuCtm:
    """The CPU build of the kernel (compiled once; needs ``cc``)."""
    return CpuCtm(on_launch)


@functools.cache
def _cupy_kernel() -> CtmSubsteps | None:
    return compiled_or_none(_CupyCtm, "fused CTM kernel")


def for_namespace(xp: Any) -> CtmSubsteps | None:
    """The fused sub-steps for arrays of ``xp``: compiled (once) on CuPy; None on every
    other namespace, or where it does not compile (one log line)."""
    if getattr(xp, "__name__", "") != "cupy":
        return None
    return _cupy_kernel()
