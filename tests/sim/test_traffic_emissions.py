"""Link emissions (COPERT-style factors) and their rasterisation onto the grid."""

from __future__ import annotations

import numpy as np
import pytest

from sim.traffic import LinkRasterizer, emission_factors, link_emissions, rasterize_links
from tests.helpers import assert_close


def test_emission_factor_values_at_50_kmh():
    # hand evaluation of the guidebook curves at V = 50 km/h, 40 % diesel
    v = 50.0
    nox = 0.4 * (1.11 - 2.02e-2 * v + 1.48e-4 * v**2) + 0.6 * (0.106 - 1.58e-3 * v + 7.1e-6 * v**2)
    exhaust = 0.4 * (0.045 - 5.39e-4 * v + 3.48e-6 * v**2) + 0.6 * 1.1e-3
    tyre = 0.0107 * 0.42 * (1.78 - 0.00974 * v)
    brake = 0.0075 * 0.39 * (2.75 - 0.027 * v)
    road = 0.015 * 0.27
    ef = emission_factors(np.array([v / 3.6]))
    assert_close(ef["nox"], [nox])
    assert_close(ef["pm25"], [exhaust + tyre + brake + road])
    # plausible urban fleet values: NOx 0.1-0.5 g/km, PM2.5 10-50 mg/km
    assert 0.1 < nox < 0.5 and 0.01 < ef["pm25"][0] < 0.05


def test_emission_factors_shape_with_speed():
    ef = emission_factors(np.array([0.0, 10 / 3.6, 30 / 3.6, 60 / 3.6, 200 / 3.6]))
    # clamped outside 10-130 km/h; NOx highest in stop-and-go traffic
    assert_close(ef["nox"][0], ef["nox"][1])
    assert ef["nox"][1] > ef["nox"][2] > ef["nox"][3]
    assert np.all(ef["pm25"] > 0)
    with pytest.raises(ValueError, match="diesel_share"):
        emission_factors(np.ones(2), diesel_share=1.5)


def test_link_emissions_units():
    flow = np.array([0.5, 0.0, 1.0])  # veh/s
    speed = np.array([50 / 3.6, 50 / 3.6, 50 / 3.6])
    length = np.array([1000.0, 1000.0, 2000.0])
    out = link_emissions(flow, speed, length)
    ef = emission_factors(speed)
    # 0.5 veh/s over 1 km = 0.5 veh km/s; times g/km, to kg/s
    assert_close(out["nox"], flow * length / 1000 * ef["nox"] / 1000)
    assert out["pm25"][1] == 0.0
    with pytest.raises(ValueError, match="one value per link"):
        link_emissions(flow, speed[:2], length)
    with pytest.raises(ValueError, match="flow: must be finite and >= 0"):
        link_emissions(-flow, speed, length)


GRID_X = np.arange(5) * 100.0 + 50.0  # cells 0-500 m
GRID_Y = np.arange(4) * 100.0 + 50.0  # cells 0-400 m


def test_rasterize_conserves_mass_inside_the_grid():
    rng = np.random.default_rng(0)
    x0, x1 = rng.uniform(1, 499, 50), rng.uniform(1, 499, 50)
    y0, y1 = rng.uniform(1, 399, 50), rng.uniform(1, 399, 50)
    values = rng.uniform(0, 1, 50)
    grid = rasterize_links(values, x0, y0, x1, y1, GRID_X, GRID_Y)
    assert grid.shape == (4, 5)
    assert_close(grid.sum(), values.sum(), rtol=1e-12)  # round-off of the fractions


def test_rasterize_splits_by_length():
    # along row 1 (y = 150) from x = 50 to x = 350: 50 m in cell 0, 100 m in cells 1
    # and 2, 50 m in cell 3
    grid = rasterize_links(np.array([3.0]), [50.0], [150.0], [350.0], [150.0], GRID_X, GRID_Y)
    expected = np.zeros((4, 5))
    expected[1, :4] = [0.5, 1.0, 1.0, 0.5]
    assert_close(grid, expected, atol=1e-12)
    # diagonal through cell corners: equal shares in the cells on the diagonal
    diag = rasterize_links(np.array([2.0]), [0.0], [0.0], [200.0], [200.0], GRID_X, GRID_Y)
    assert_close(diag[[0, 1], [0, 1]], [1.0, 1.0])
    assert_close(diag.sum(), 2.0)


def test_rasterize_drops_the_part_outside_and_keeps_points():
    # half of this link lies west of the grid
    grid = rasterize_links(np.array([2.0]), [-200.0], [50.0], [200.0], [50.0], GRID_X, GRID_Y)
    assert_close(grid.sum(), 1.0)
    # a zero-length link is a point source
    point = rasterize_links(np.array([1.0]), [260.0], [330.0], [260.0], [330.0], GRID_X, GRID_Y)
    assert point[3, 2] == 1.0


def test_rasterizer_reuse_and_bad_input():
    r = LinkRasterizer([0.0, 10.0], [0.0, 10.0], [100.0, 10.0], [0.0, 300.0], GRID_X, GRID_Y)
    assert_close(r(np.array([1.0, 2.0])).sum(), 3.0)
    with pytest.raises(ValueError, match=r"values: expected shape \(2,\)"):
        r(np.ones(3))
    with pytest.raises(ValueError, match="grid_x: expected at least 2 finite, strictly ascending"):
        LinkRasterizer([0.0], [0.0], [1.0], [1.0], GRID_X[::-1], GRID_Y)
    with pytest.raises(ValueError, match="one length"):
        LinkRasterizer([0.0, 1.0], [0.0], [1.0], [1.0], GRID_X, GRID_Y)
