"""Shadows on flat ground: length h / tan(elevation) to one cell; the two kernels agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import shading

RES = 1.0  # m
HEIGHT = 20.0  # m


def _one_building(n=200, half=5):
    grid = np.zeros((n, n))
    c = n // 2
    grid[c - half : c + half, c - half : c + half] = HEIGHT
    return grid


def _cell_centres(n):
    return np.meshgrid(np.arange(n) * RES, np.arange(n) * RES)  # x (east), y (north)


@pytest.mark.parametrize("elevation", [15.0, 30.0, 45.0, 70.0])
@pytest.mark.parametrize("azimuth", [180.0, 90.0, 135.0, 200.0, 310.0])
def test_shadow_length_is_h_over_tan_elevation(elevation, azimuth):
    grid = _one_building()
    shaded = shading.shadow_mask(grid, RES, elevation, azimuth)
    x, y = _cell_centres(grid.shape[0])
    # Shadows fall away from the sun: project cells on the anti-sun direction.
    away = -np.sin(np.radians(azimuth)) * x - np.cos(np.radians(azimuth)) * y
    building = grid > 0
    ground_shadow = shaded & ~building
    length = away[ground_shadow].max() - away[building].max()
    expected = HEIGHT / math.tan(math.radians(elevation))
    # One cell: the farthest shaded cell centre lies within one cell of the exact edge, and
    # one cell spans RES * (|sin| + |cos|) of the azimuth along an oblique direction (the
    # 1e-9 absorbs round-off when the edge falls exactly on a cell centre, e.g. at 45 deg).
    a = math.radians(azimuth)
    one_cell = RES * (abs(math.sin(a)) + abs(math.cos(a)))
    assert abs(length - expected) <= one_cell + 1e-9, (length, expected)
    # Nothing is shaded on the sun side of the building, and its roof is lit.
    assert not shaded[building].any()
    assert not ground_shadow[away < away[building].min()].any()


def test_sun_below_horizon_shades_everything_and_flat_ground_nothing():
    flat = np.zeros((20, 30))
    assert shading.shadow_mask(flat, RES, -1.0, 180.0).all()
    assert not shading.shadow_mask(flat, RES, 5.0, 180.0).any()


def test_horizon_of_a_ground_point_is_the_wall_angle():
    grid = _one_building()
    c = grid.shape[0] // 2
    # A ground point 15 cells east of the building's east face (cells c-5 .. c+4).
    dist = 15
    px = np.array([[(c + 4 + dist) * RES]])
    py = np.array([[c * RES]])
    horizon = shading.horizon_tangents(grid, 0.0, 0.0, RES, px, py, np.zeros((1, 1)))
    west = 3 * horizon.shape[0] // 4  # sector of azimuth 270 deg (looking west)
    assert horizon.shape == (36, 1, 1)
    # float32 storage: relative 1e-6 is a few ulps of the tangent.
    np.testing.assert_allclose(horizon[west, 0, 0], HEIGHT / (dist * RES), rtol=1e-6)
    wall_deg = math.degrees(math.atan(HEIGHT / (dist * RES)))
    assert shading.shaded_fraction(horizon, wall_deg - 0.5, 270.0)[0] == 1.0
    assert shading.shaded_fraction(horizon, wall_deg + 0.5, 270.0)[0] == 0.0


@pytest.mark.parametrize("azimuth", [90.0, 180.0, 270.0, 0.0])
def test_roof_horizons_agree_with_the_grid_mask(azimuth):
    """On a city of multi-cell blocks, both kernels give the same roof shadows along axes."""
    rng = np.random.default_rng(5)
    n, res = 300, 2.0
    grid = np.zeros((n, n))
    rows, cols = rng.integers(0, n - 8, 400), rng.integers(0, n - 8, 400)
    heights = rng.uniform(3.0, 60.0, 400)
    for r, c, h in zip(rows, cols, heights, strict=True):
        grid[r : r + 6, c : c + 6] = np.maximum(grid[r : r + 6, c : c + 6], h)
    r0, c0 = rows + 3, cols + 3  # a roof cell of each block
    px, py = (c0 * res)[None, :], (r0 * res)[None, :]
    pz = grid[r0, c0][None, :]
    horizon = shading.horizon_tangents(grid, 0.0, 0.0, res, px, py, pz, max_distance_m=200.0)
    for elevation in (10.0, 25.0, 40.0):
        mask = shading.shadow_mask(grid, res, elevation, azimuth, max_distance_m=200.0)
        frac = shading.shaded_fraction(horizon, elevation, azimuth)
        np.testing.assert_array_equal(frac == 1.0, mask[r0, c0])
