"""UAM routing on synthetic lattices with known answers (sim/uam/routing.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from sim.uam import routing
from sim.uam.routing import RouteGrid, Weights

CELL = 100.0


def _grid(free: np.ndarray, dz: float = 50.0) -> RouteGrid:
    nz, ny, nx = free.shape
    return RouteGrid(
        CELL * np.arange(nx), CELL * np.arange(ny), 100.0 + dz * np.arange(nz), free,
        np.zeros((ny, nx)),
    )  # fmt: skip


SHORTEST = Weights()


def _route(grid, origin, destination, weights=SHORTEST, noise=None):
    costs = routing.move_costs(grid, weights, noise, np)
    togo = routing.cost_to_go(costs, destination, np)
    return routing.extract_path(togo, costs, origin), togo


def _length(grid, path):
    dz, dy, dx = grid.spacing
    steps = np.diff(np.asarray(path), axis=0) * [dz, dy, dx]
    return float(np.linalg.norm(steps, axis=1).sum())


def _octile(a, b):
    dy, dx = abs(a[0] - b[0]), abs(a[1] - b[1])
    return CELL * (max(dx, dy) + (math.sqrt(2) - 1) * min(dx, dy))


def test_a_wall_with_one_gap_routes_through_the_gap():
    free = np.ones((1, 21, 31), dtype=bool)
    free[0, :, 15] = False
    free[0, 16, 15] = True  # the gap
    grid = _grid(free)
    path, _ = _route(grid, (0, 4, 2), (0, 4, 28))
    assert (0, 16, 15) in path
    # the known shortest: octile distance to the gap and on from it
    expected = _octile((4, 2), (16, 15)) + _octile((16, 15), (4, 28))
    assert _length(grid, path) == pytest.approx(expected, rel=1e-12)
    assert all(free[n] for n in path)


def _reference(grid, weights, origin, destination):
    """Dijkstra (SciPy) on the same lattice and costs: an independent shortest path."""
    costs = routing.move_costs(grid, weights, None, np)
    shape = grid.shape
    rows, cols, vals = [], [], []
    index = np.arange(np.prod(shape)).reshape(shape)
    for o, (oz, oy, ox) in enumerate(routing.OFFSETS):
        c = costs[o]
        ok = np.isfinite(c)
        a = index[ok]
        z, y, x = np.nonzero(ok)
        rows.append(a)
        cols.append(index[z + oz, y + oy, x + ox])
        vals.append(c[ok])
    graph = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(index.size, index.size)).tocsr()  # fmt: skip
    return dijkstra(graph, indices=index[origin])[index[destination]]


def test_a_no_fly_cylinder_is_avoided_on_the_shortest_route():
    nz, ny, nx = 3, 31, 41
    gy, gx = np.meshgrid(CELL * np.arange(ny), CELL * np.arange(nx), indexing="ij")
    cylinder = np.array([[2000 + 800 * math.cos(a), 1500 + 800 * math.sin(a)]
                         for a in np.linspace(0, 2 * math.pi, 64, endpoint=False)])  # fmt: skip
    inside = routing.inside_polygon(gx, gy, cylinder)
    free = np.ones((nz, ny, nx), dtype=bool)
    free[:, inside] = False  # from the ground to above the ceiling
    grid = _grid(free)
    origin, destination = (1, 15, 2), (1, 15, 38)
    path, togo = _route(grid, origin, destination)
    assert all(free[n] for n in path)
    length = _length(grid, path)
    # exactly the lattice shortest path of an independent solver
    assert togo[origin] == pytest.approx(_reference(grid, Weights(), origin, destination), 1e-12)
    assert length == pytest.approx(togo[origin], rel=1e-12)
    # and within the lattice's metric error of the taut string around the circle
    d, r = 1800.0, 800.0  # centre to each end, radius
    taut = 2 * math.sqrt(d * d - r * r) + r * (math.pi - 2 * math.acos(r / d))
    assert taut <= length <= taut * (1 + 0.0824), (length, taut)  # octile over Euclid


def test_climb_weight_trades_a_climb_for_a_detour():
    # a block standing in the way up to level 2 of 4, with a way round it
    free = np.ones((4, 21, 31), dtype=bool)
    free[:3, 3:18, 14:17] = False
    grid = _grid(free, dz=100.0)
    over, _ = _route(grid, (0, 10, 2), (0, 10, 28), Weights(1.0, 0.0))
    around, _ = _route(grid, (0, 10, 2), (0, 10, 28), Weights(1.0, 10.0))
    assert max(n[0] for n in over) == 3 and max(n[0] for n in around) == 0
    assert _length(grid, around) > _length(grid, over)


def test_noise_weight_moves_the_route_away_from_people():
    free = np.ones((1, 21, 31), dtype=bool)
    grid = _grid(free)
    population = np.zeros((21, 31))
    population[9:12, 12:19] = 1000.0  # a neighbourhood on the straight line
    field = routing.noise_field(grid, population, np.zeros((21, 31)), np, radius_m=600.0)
    exposure = []
    lengths = []
    for w in (0.0, 0.1, 2.0):
        path, _ = _route(grid, (0, 10, 2), (0, 10, 28), Weights(1.0, 0.0, w), field)
        exposure.append(sum(field[n] for n in path))
        lengths.append(_length(grid, path))
    assert lengths[0] == pytest.approx(2600.0)
    # more weight, less exposure for more length (the last clears the field's radius)
    assert exposure[0] > exposure[1] > exposure[2] == 0
    assert lengths[0] < lengths[1] < lengths[2]


def test_route_grid_keeps_clearance_along_every_leg():
    rng = np.random.default_rng(3)
    res = 25.0
    x, y = res * np.arange(120), res * np.arange(80)
    surface = 30.0 + rng.uniform(0, 1, (80, 120)) ** 8 * 200.0  # sparse towers up to 230 m
    no_fly = [(np.array([[1000.0, 800.0], [2000.0, 800.0], [2000.0, 1600.0]]), 0.0, 400.0)]
    grid = routing.route_grid(surface, x, y, 100.0, 25.0, 450.0, 50.0, no_fly)
    a, b = grid.node(100.0, 100.0), grid.node(2900.0, 1900.0)
    path, _ = _route(grid, a, b)
    points = routing.path_points(grid, path)
    assert routing.route_clearance(points, surface, x, y, sample_m=1.0) >= 50.0
    inside = routing.inside_polygon(points[:, 0], points[:, 1], no_fly[0][0])
    assert not np.any(inside & (points[:, 2] <= 400.0))


def test_bad_weights_and_full_columns_are_clear_errors():
    with pytest.raises(ValueError, match="climb"):
        Weights(climb=-1.0)
    with pytest.raises(ValueError, match="all zero"):
        Weights(0.0, 0.0, 0.0)
    grid = _grid(np.zeros((2, 3, 3), dtype=bool))
    with pytest.raises(ValueError, match="no free air space"):
        grid.node(100.0, 100.0)
