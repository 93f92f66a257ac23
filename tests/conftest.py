"""Fixtures shared by every test module."""

from __future__ import annotations

import numpy as np
import pytest

import gpu


def _backends():
    yield pytest.param(np, id="numpy")
    yield pytest.param("cupy", id="cupy", marks=pytest.mark.gpu)


@pytest.fixture(params=list(_backends()))
def xp(request):
    """The array namespace, once per available backend (ids ``numpy`` / ``cupy``)."""
    if request.param == "cupy":
        cupy, why = gpu.backend._probe_cupy()
        if cupy is None:
            pytest.skip(f"cupy backend unavailable: {why}")
        return cupy
    return request.param
