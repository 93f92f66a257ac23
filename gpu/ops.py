"""Array operations whose NumPy and CuPy spellings differ in cost, not in meaning.

``cupy.bincount`` synchronises with the host twice (it checks for negative indices and
reads ``max(x) + 1`` to size its output), so a time loop that bins with it stalls the GPU;
:func:`bincount` here takes the output length from the caller and scatter-adds on the
device instead.
"""

from __future__ import annotations

from typing import Any

from gpu.backend import array_namespace


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
