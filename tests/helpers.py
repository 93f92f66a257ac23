"""Shared test helpers: one tolerance rule and the optional-dependency skips."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import gpu


def _cupy_usable() -> bool:
    return gpu.backend._probe_cupy()[0] is not None


requires_cupy = pytest.mark.skipif(not _cupy_usable(), reason="needs CuPy and a CUDA GPU")
requires_pyvista = pytest.mark.skipif(
    importlib.util.find_spec("pyvista") is None, reason="needs pyvista (the 'viz' extra)"
)
requires_geo = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("osmium", "shapely", "scipy")),
    reason="needs pyosmium, shapely and scipy (the 'geo' extra)",
)


def default_rtol(dtype) -> float:
    """4 sqrt(eps): round-off of a short computation, as in SciPy's xp_assert_close."""
    dtype = np.dtype(dtype)
    return 4 * float(np.finfo(dtype).eps) ** 0.5 if dtype.kind == "f" else 0.0


def assert_close(actual, desired, rtol: float | None = None, atol: float = 0.0, err_msg=""):
    """Compare arrays from any backend; the default rtol follows the dtype of ``actual``.

    A looser tolerance than the default must carry a comment at the call saying why.
    """
    a, d = gpu.to_host(actual), gpu.to_host(desired)
    if rtol is None:
        rtol = default_rtol(a.dtype if a.dtype.kind == "f" else np.float64)
    np.testing.assert_allclose(a, d, rtol=rtol, atol=atol, err_msg=err_msg)
