"""State layers: a variable's values per output step, its colour map and colour limits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twin.errors import InputError
from viz.source import Variable

# Colour maps people expect: pollution light-to-dark red, slow roads red, differences
# diverging around white; everything else perceptually uniform.
_CMAPS = {
    "pm25": "YlOrRd",
    "no2": "YlOrRd",
    "nox": "YlOrRd",
    "speed": "RdYlGn",
    "free_speed": "RdYlGn",
    "indoor_temperature": "coolwarm",
}
DIFFERENCE_CMAP = "RdBu_r"
DEFAULT_CMAP = "viridis"


@dataclass(frozen=True)
class Layer:
    """What colours one part of the scene.

    ``values(index)`` gives per-element values (per building, link, grid cell or
    district) at output step ``index`` in display units; ``clim`` is fixed for a
    whole picture or animation so colours compare across frames and panels.
    """

    kind: str
    title: str
    values: Callable[[int | None], np.ndarray]
    cmap: str
    clim: tuple[float, float]

    @classmethod
    def of(cls, var: Variable, steps: Sequence[int | None], clim=None) -> Layer:
        """A layer of ``var`` with colour limits spanning its values at ``steps``."""
        values = var.values
        return cls(
            kind=var.kind,
            title=var.title,
            values=values,
            cmap=_CMAPS.get(var.name.split("/")[-1], DEFAULT_CMAP),
            clim=clim or finite_range([values(i) for i in steps]),
        )

    @classmethod
    def difference(cls, a: Variable, b: Variable, step_a: int | None, step_b: int | None) -> Layer:
        """``b`` at ``step_b`` minus ``a`` at ``step_a``, with limits symmetric about zero so
        no change is the middle colour of the diverging map."""
        if a.kind != b.kind or a.data.shape != b.data.shape:
            raise InputError(
                f"cannot compare {a.name}: shapes {dict(a.data.sizes)} and "
                f"{dict(b.data.sizes)} differ (the two stores must share the city and steps)"
            )

        diff = b.values(step_b) - a.values(step_a)
        lo, hi = finite_range([diff])
        span = max(abs(lo), abs(hi))
        span = span if span > 0 else 1.0  # all zero: any symmetric range maps it to white
        return cls(
            kind=a.kind,
            title=f"{a.name} difference B - A [{a.units}]" if a.units else f"{a.name} B - A",
            values=lambda _step: diff,
            cmap=DIFFERENCE_CMAP,
            clim=(-span, span),
        )


def finite_range(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    """(min, max) of the finite values; a constant or empty field gets a unit-wide range."""
    lo, hi = np.inf, -np.inf
    for a in arrays:
        finite = a[np.isfinite(a)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    if not np.isfinite(lo):
        return 0.0, 1.0
    if hi <= lo:
        return lo - 0.5, hi + 0.5
    return lo, hi
