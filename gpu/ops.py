"""Array operations whose NumPy and CuPy spellings differ in cost, not in meaning.

``cupy.bincount`` synchronises with the host twice (it checks for negative indices and
reads ``max(x) + 1`` to size its output), so a time loop that bins with it stalls the GPU;
:func:`bincount` here takes the output length from the caller and scatter-adds on the
device instead.

:func:`fuse` turns an elementwise function into one kernel on CuPy (``cupy.fuse``) and
leaves it as it is on NumPy.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from gpu.backend import array_namespace

log = logging.getLogger(__name__)


def bincount(index: Any, weights: Any, length: int) -> Any:
    """Sum ``weights`` into ``length`` bins by ``index`` without a host synchronisation.

    Parameters
    ----------
    index : (n,) int array, every value in ``[0, length)`` (trusted, not checked).
    weights : (n,) float array on the same backend.
    length : number of bins (a host integer).

    Returns
    -------
    (length,) float64 array. On NumPy this is ``numpy.bincount(..., minlength=length)``
    (sums in index order, bitwise as before); on CuPy an atomic scatter-add, whose
    summation order, and so the last bits, may vary between runs.
    """
    xp = array_namespace(index, weights)
    if xp.__name__ == "numpy":
        return xp.bincount(index, weights=weights, minlength=length)
    if xp.__name__ == "cupy":
        import cupyx

        out = xp.zeros(length, dtype=xp.float64)
        cupyx.scatter_add(out, index, weights.astype(xp.float64, copy=False))
        return out
    # another namespace (the counting test backend): ufunc.at has the same meaning
    out = xp.zeros(length, dtype=xp.float64)
    xp.add.at(out, index, weights)
    return out


def fuse(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One kernel for an elementwise function ``fn(xp, *arrays_or_scalars)``.

    ``fn`` may use only elementwise ``xp`` operations (ufuncs, ``xp.where``; no indexing,
    no reductions, no ``out=``) and returns an array or a tuple of arrays. On CuPy the
    call is :func:`cupy.fuse` of ``fn`` (one kernel launch instead of one per
    operation, compiled once per argument types and cached by CuPy); on NumPy it is
    ``fn(numpy, ...)``, the same operations in the same order, so results are bitwise
    those of the unfused code; on the counting backend (:mod:`gpu.counting`) the same,
    counted as one launch. Where ``cupy.fuse`` fails (an operation it does not support)
    the wrapper logs one line and runs ``fn`` unfused from then on.
    """
    compiled: list = []  # [cupy.fuse of fn], or [None] once fusing failed

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        xp = array_namespace(*args)
        name = xp.__name__
        if name == "numpy":  # 0-d results as 0-d arrays (not NumPy scalars), as on CuPy
            out = fn(xp, *args)
            if isinstance(out, tuple):
                return tuple(xp.asarray(o) for o in out)
            return xp.asarray(out)
        if name == "cupy":
            if not compiled:
                compiled.append(xp.fuse(lambda *a: fn(xp, *a)))
            if compiled[0] is not None:
                try:
                    return compiled[0](*args)
                except Exception as err:  # an operation cupy.fuse does not support, ...
                    compiled[0] = None
                    log.warning("cupy.fuse of %s failed (%s: %s); one kernel per "
                                "operation from now on.", fn.__qualname__,
                                type(err).__name__, err)  # fmt: skip
            return fn(xp, *args)
        from gpu import counting

        with counting.one_launch():
            return fn(xp, *args)

    return call
