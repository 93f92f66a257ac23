"""State layers: a variable's values per output step, its colour map and colour limits.

Colour ranges say something. A pollutant's range starts at the regional background of
the run (what flows in through the open boundary) and ends at the Korean air-quality
band that holds the city's highest value (:data:`POLLUTANT_BANDS`), so a city sitting
at its background looks clean, not like a dangerous spread of 14.8 to 15.3 ug m-3.
A pollutant without a Korean band (NOx) shows the city's increment over its background.
Grid ranges are taken from the city cells at least :data:`BOUNDARY_MARGIN_CELLS` inside
the domain edge: the air model's open boundary brings in the background there
(:func:`sim.air.transport.transport`), which should not set the colours of the city.
Every layer carries a ``note`` stating its range and what anchors it; pictures print it
next to the colour bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twin.errors import InputError
from twin.kpi import PM25_STANDARD_UGM3
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
    "noise_lden": "YlGnBu",
    "noise_leq_hour": "YlGnBu",
}
DIFFERENCE_CMAP = "RdBu_r"
DEFAULT_CMAP = "viridis"
POLLUTANTS = ("pm25", "no2", "nox")
# Korean Comprehensive Air-quality Index (CAI) band tops [ug m-3]: PM2.5 24-h 15/35/75
# (35 is the 24-h environmental standard); NO2 1-h 0.03/0.06/0.2 ppm at 25 degC and
# 1 atm (1 ppm = 1882 ug m-3). Ministry of Environment / Korea Environment Corporation,
# AirKorea "CAI" (2018 revision); Framework Act on Environmental Policy, Enforcement
# Decree, Annex 1 (air-quality standards).
POLLUTANT_BANDS = {
    "pm25": (("good", 15.0), ("moderate", 35.0), ("unhealthy", 75.0)),
    "no2": (("good", 56.0), ("moderate", 113.0), ("unhealthy", 376.0)),
}
STANDARDS = {"pm25": (PM25_STANDARD_UGM3, "Korean 24-h standard")}
BOUNDARY_MARGIN_CELLS = 3  # grid cells next to the open boundary left out of a range
# Air-taxi noise maps are drawn from 35 dB, 10 dB below the WHO guideline level for
# aircraft noise (L_den 45 dB; WHO Regional Office for Europe 2018, Environmental Noise
# Guidelines for the European Region, ISBN 978-92-890-5356-3), so the corridors show
# as well as the louder vertiports; quieter cells are left uncoloured (not a sheet of 0 dB).
NOISE = ("noise_lden", "noise_leq_hour")
NOISE_FLOOR_DB, NOISE_GUIDELINE_DB = 35.0, 45.0


@dataclass(frozen=True)
class Layer:
    """What colours one part of the scene.

    ``values(index)`` gives per-element values (per building, link, grid cell or
    district) at output step ``index`` in display units; ``clim`` is fixed for a
    whole picture or animation so colours compare across frames and panels; ``note``
    states the range and its anchor in words (``""`` when the ticks say it all);
    values below ``floor`` (when set) are not drawn.
    """

    kind: str
    title: str
    values: Callable[[int | None], np.ndarray]
    cmap: str
    clim: tuple[float, float]
    note: str = ""
    floor: float | None = None

    @classmethod
    def of(cls, var: Variable, steps: Sequence[int | None], clim=None, background=None) -> Layer:
        """A layer of ``var`` with colour limits for its values at ``steps``.

        Parameters
        ----------
        var : the variable.
        steps : output steps the picture shows (the range covers them all).
        clim : (low, high) in display units, or ``None`` to choose them.
        background : regional background of a pollutant [display units], the low end of
            its range; ``None``: 0 for a banded pollutant, the data's minimum otherwise.
        """
        values = var.values
        species = var.name.split("/")[-1]
        floor = NOISE_FLOOR_DB if species in NOISE else None
        if clim is None and species in POLLUTANTS:
            shown = [city_cells(values(i), var.kind) for i in steps]
            clim, note = pollutant_range(species, shown, background, var.units)
        elif clim is None and floor is not None:
            _, hi = finite_range([city_cells(values(i), var.kind) for i in steps])
            clim = (floor, max(hi, floor + 10.0))
            note = (f"colours: {floor:g} to {clim[1]:.4g} dB (city maximum), quieter cells "
                    f"not coloured; WHO guideline for aircraft noise: L_den "
                    f"{NOISE_GUIDELINE_DB:g} dB")  # fmt: skip
        else:
            clim = clim or finite_range([city_cells(values(i), var.kind) for i in steps])
            note = span_note(clim, var.units)
        return cls(
            kind=var.kind,
            title=var.title,
            values=values,
            cmap=_CMAPS.get(species, DEFAULT_CMAP),
            clim=tuple(float(c) for c in clim),
            note=note,
            floor=floor,
        )

    @classmethod
    def difference(cls, a: Variable, b: Variable, step_a: int | None, step_b: int | None) -> Layer:
        """``b`` at ``step_b`` minus ``a`` at ``step_a``, with limits symmetric about zero so
        no change is the middle colour of the diverging map."""
        if a.kind != b.kind or a.values(step_a).shape != b.values(step_b).shape:
            raise InputError(
                f"cannot compare {a.name}: shapes {dict(a.data.sizes)} and "
                f"{dict(b.data.sizes)} differ (the two stores must share the city)"
            )

        diff = b.values(step_b) - a.values(step_a)
        lo, hi = finite_range([city_cells(diff, a.kind)])
        span = max(abs(lo), abs(hi))
        span = span if span > 0 else 1.0  # all zero: any symmetric range maps it to white
        return cls(
            kind=a.kind,
            title=f"{a.name} difference B - A [{a.units}]" if a.units else f"{a.name} B - A",
            values=lambda _step: diff,
            cmap=DIFFERENCE_CMAP,
            clim=(-span, span),
            note=f"colours span -{span:.4g} to +{span:.4g} {a.units}".rstrip() + ", white: 0",
        )


def span_note(clim: tuple[float, float], units: str) -> str:
    """``colours span LOW to HIGH UNITS``: a range with no anchor but the data."""
    return f"colours span {clim[0]:.4g} to {clim[1]:.4g} {units}".rstrip()


def city_cells(values: np.ndarray, kind: str) -> np.ndarray:
    """The values that choose a colour range: for a grid, the cells at least
    :data:`BOUNDARY_MARGIN_CELLS` from the edge (when the grid is wide enough)."""
    m = BOUNDARY_MARGIN_CELLS
    if kind == "grid" and values.ndim == 2 and min(values.shape) > 4 * m:
        return values[m:-m, m:-m]
    return values


def pollutant_range(species, arrays, background, units) -> tuple[tuple[float, float], str]:
    """Colour limits and their note for a pollutant: from its background to the top of
    the Korean CAI band holding the highest value (above every band: the highest value;
    no band for the species: the city's increment over its background)."""
    lo_data, hi_data = finite_range(arrays)
    bands = POLLUTANT_BANDS.get(species)
    if background is None:
        background = 0.0 if bands else lo_data
    lo = float(background)
    start = f"{lo:.4g} {units} (regional background)" if lo > 0 else f"0 {units}"
    if bands is None:
        hi = max(hi_data, lo + 1e-6 * max(abs(lo), 1.0))
        return (lo, hi), f"increment over the background: {start} to {hi:.4g} (city maximum)"
    standard, standard_name = STANDARDS.get(species, (None, ""))
    for band, top in bands:
        if top > lo and top >= hi_data:
            what = f"{standard_name}, " if top == standard else ""
            return (lo, top), f"colours: {start} to {top:g} ({what}top of the CAI '{band}' band)"
    band, top = bands[-1]
    return (lo, hi_data), (
        f"colours: {start} to {hi_data:.4g} (city maximum), above the Korean CAI "
        f"'{band}' band top of {top:g}"
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
