"""Unit, backend and bad-input tests of sim.shading."""

from __future__ import annotations

import numpy as np
import pytest

import gpu
from sim import shading
from tests.helpers import assert_close


def _block_city(n=120, seed=1):
    rng = np.random.default_rng(seed)
    grid = np.zeros((n, n))
    for r, c, h in zip(rng.integers(0, n - 6, 60), rng.integers(0, n - 6, 60),
                       rng.uniform(3.0, 50.0, 60), strict=True):  # fmt: skip
        grid[r : r + 5, c : c + 5] = np.maximum(grid[r : r + 5, c : c + 5], h)
    return grid


def test_bad_inputs_are_rejected():
    grid = np.zeros((10, 10))
    with pytest.raises(ValueError, match="2-D"):
        shading.shadow_mask(np.zeros(10), 1.0, 30.0, 180.0)
    with pytest.raises(ValueError, match="resolution_m"):
        shading.shadow_mask(grid, 0.0, 30.0, 180.0)
    with pytest.raises(ValueError, match="finite"):
        shading.shadow_mask(grid, 1.0, np.nan, 180.0)
    p = np.zeros((1, 1))
    with pytest.raises(ValueError, match="n_sectors"):
        shading.horizon_tangents(grid, 0.0, 0.0, 1.0, p, p, p, n_sectors=2)
    with pytest.raises(ValueError, match="max_distance_m"):
        shading.horizon_tangents(grid, 0.0, 0.0, 1.0, p, p, p, max_distance_m=-1.0)


def test_taller_neighbour_shades_a_roof_and_terrain_counts():
    grid = np.zeros((40, 40))
    grid[10:14, 10:14] = 10.0  # low block
    grid[16:20, 10:14] = 30.0  # tall block just north of it
    # Sun from the north (azimuth 0) at 45 deg: 20 m of excess height reaches 20 m south.
    mask = shading.shadow_mask(grid, 1.0, 45.0, 0.0)
    assert mask[10:14, 10:14].all() and not mask[16:20, 10:14].any()
    # A ridge of terrain shades the flat ground behind it just like a building would.
    terrain = np.zeros((40, 40))
    terrain[:, 30] = 8.0
    assert shading.shadow_mask(terrain, 1.0, 45.0, 90.0)[:, 23:30].all()


def test_points_outside_the_grid_see_an_open_horizon():
    grid = _block_city()
    far = np.array([[-5000.0]])
    horizon = shading.horizon_tangents(grid, 0.0, 0.0, 1.0, far, far, np.zeros((1, 1)))
    assert not horizon.any()


def test_backend_parity(xp):
    grid = _block_city()
    rng = np.random.default_rng(2)
    px, py = rng.uniform(0, 119, (2, 50)), rng.uniform(0, 119, (2, 50))
    pz = grid[np.rint(py).astype(int), np.rint(px).astype(int)]
    ref_h = shading.horizon_tangents(grid, 0.0, 0.0, 1.0, px, py, pz)
    ours_h = shading.horizon_tangents(
        xp.asarray(grid), 0.0, 0.0, 1.0, xp.asarray(px), xp.asarray(py), xp.asarray(pz)
    )
    assert_close(ours_h, ref_h)
    for el, az in ((20.0, 135.0), (50.0, 260.0)):
        np.testing.assert_array_equal(
            gpu.to_host(shading.shaded_fraction(ours_h, el, az)),
            shading.shaded_fraction(ref_h, el, az),
        )
        np.testing.assert_array_equal(
            gpu.to_host(shading.shadow_mask(xp.asarray(grid), 1.0, el, az)),
            shading.shadow_mask(grid, 1.0, el, az),
        )
