"""Colour ranges that tell the truth: pollutants on the Korean bands from their
background, city cells (not the open boundary) choosing a range, every range stated."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from viz.layers import BOUNDARY_MARGIN_CELLS, Layer
from viz.source import Variable


def grid_var(name, values, units="ug m-3") -> Variable:
    da = xr.DataArray(np.asarray(values, dtype=float), dims=("y", "x"), attrs={"units": units})
    return Variable(name, da, "grid", timed=False)


def field(city: float, edge: float | None = None, shape=(20, 30)) -> np.ndarray:
    """``city`` everywhere, a hot spot of ``city + 0.5`` inside, ``edge`` on the margin."""
    a = np.full(shape, city)
    a[10, 15] = city + 0.5
    if edge is not None:
        m = BOUNDARY_MARGIN_CELLS
        a[:m], a[-m:], a[:, :m], a[:, -m:] = edge, edge, edge, edge
    return a


def test_pm25_near_its_background_is_drawn_on_the_standards_scale():
    # The case: 14.8-15.3 ug m-3 must not fill the colour map as if it mattered.
    layer = Layer.of(grid_var("pm25", field(14.8)), [None], background=15.0)
    assert layer.clim == (15.0, 35.0)  # background to the Korean 24-h standard
    assert "15 µg/m³ (regional background) to 35" in layer.note
    assert "Korean 24-h standard" in layer.note and "'moderate'" in layer.note


@pytest.mark.parametrize(
    ("city", "top", "band"), [(40.0, 75.0, "unhealthy"), (5.0, 35.0, "moderate")]
)
def test_pm25_range_ends_at_the_band_that_holds_the_maximum(city, top, band):
    layer = Layer.of(grid_var("pm25", field(city)), [None], background=15.0)
    assert layer.clim == (15.0, top) and f"'{band}'" in layer.note


def test_pm25_above_every_band_ends_at_the_city_maximum():
    layer = Layer.of(grid_var("pm25", field(120.0)), [None], background=15.0)
    assert layer.clim == (15.0, 120.5)
    assert "120.5 (city maximum), above the Korean CAI 'unhealthy' band top of 75" in layer.note


def test_no2_bands_in_ugm3():
    # CAI NO2 band tops 0.03 / 0.06 ppm -> 56 / 113 ug m-3 (1 ppm = 1882 ug m-3 at 25 degC)
    assert Layer.of(grid_var("no2", field(30.0)), [None]).clim == (0.0, 56.0)
    assert Layer.of(grid_var("no2", field(80.0)), [None]).clim == (0.0, 113.0)


def test_nox_shows_the_increment_over_background():
    layer = Layer.of(grid_var("nox", field(26.0)), [None], background=25.0)
    assert layer.clim == (25.0, 26.5)
    assert layer.note.startswith("increment over the background: 25 µg/m³")


def test_open_boundary_inflow_does_not_set_the_range():
    # Inflow of 80 on the boundary cells, the city at 30-30.5: the range is the city's.
    layer = Layer.of(grid_var("speed", field(30.0, edge=80.0), units="1"), [None])
    assert layer.clim == (30.0, 30.5)
    pm = Layer.of(grid_var("pm25", field(14.0, edge=80.0)), [None], background=15.0)
    assert pm.clim == (15.0, 35.0)  # inflow of 80 would have pushed it to the 75+ range


def test_every_range_is_stated():
    layer = Layer.of(grid_var("speed", field(30.0), units="m s-1"), [None])
    assert layer.note == "colours span 108 to 109.8 km/h"  # display units: x 3.6
    given = Layer.of(grid_var("speed", field(30.0), units="m s-1"), [None], clim=(0, 50))
    assert given.clim == (0.0, 50.0) and given.note == "colours span 0 to 50 km/h"
    a, b = grid_var("pm25", np.full((20, 30), 10.0)), grid_var("pm25", field(11.5))
    diff = Layer.difference(a, b, None, None)
    assert diff.clim == (-2.0, 2.0) and diff.note == "colours span -2 to +2 µg/m³, white: 0"
