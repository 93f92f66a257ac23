"""A synthetic signalized grid city: the test bed of signal-control studies.

:func:`grid_city` lays ``n x n`` signalized intersections ``spacing_m`` apart, with a
fringe node ``spacing_m`` beyond each edge intersection on every line (``4 n`` entry and
exit points), multi-lane two-way links between neighbours, and all residents at the
fringe nodes, so every trip is a through trip across the grid. With the defaults it has
the geometry of RESCO's ``grid4x4`` (Ault and Sharon 2021; the SUMO network spans
1,500 x 1,500 m with intersections 300 m apart, three lanes each way, 50 km h-1), the
published anchor for comparing signal controllers; demand is the twin's own (a gravity
model between the fringe zones), not RESCO's route files.

A loop detector sits on every approach of every intersection, an air monitor at the
centre and a smart meter on each of the few buildings (one per block), so services see
the same sensor kinds as in Gwangju. The grid lies in Gwangju's projected CRS (EPSG:5186,
near Sangmu) so the city's climatology and sun apply.

References
----------
Ault, J. and Sharon, G. (2021). Reinforcement Learning Benchmarks for Traffic Signal
Control. NeurIPS Datasets and Benchmarks. https://github.com/Pi-Star-Lab/RESCO
"""

from __future__ import annotations

import numpy as np

from twin import citygen
from twin.city import City, city_from_arrays
from twin.errors import InputError

ORIGIN_M = (187_000.0, 280_000.0)  # [m] EPSG:5186 south-west corner, near Sangmu
CAPACITY_VPH_PER_LANE = 1800.0  # [veh h-1] saturation flow (HCM base, rounded)
JAM_DENSITY_VPKM_PER_LANE = 133.0  # [veh km-1] 7.5 m per stopped vehicle


def grid_city(
    n: int = 4,
    spacing_m: float = 300.0,
    lanes: int = 3,
    free_speed_kmh: float = 50.0,
    resolution_m: float = 50.0,
    population_per_entry: int = 1000,
    name: str | None = None,
) -> City:
    """A City with ``n x n`` signalized intersections (see the module notes).

    Parameters
    ----------
    n : intersections per side, 2 to 20.
    spacing_m : [m] distance between neighbouring intersections (and to the fringe
        nodes), 50 to 2000.
    lanes : lanes per direction on every link, 1 to 6.
    free_speed_kmh : [km h-1] free-flow speed, 10 to 130.
    resolution_m : [m] grid cell size (25 to 500, at most ``spacing_m``).
    population_per_entry : residents placed at each fringe node (they make the demand).
    name : the city's name (default ``"grid{n}x{n}"``).
    """
    _check("n", n, 2, 20)
    _check("spacing_m", spacing_m, 50.0, 2000.0)
    _check("lanes", lanes, 1, 6)
    _check("free_speed_kmh", free_speed_kmh, 10.0, 130.0)
    _check("resolution_m", resolution_m, 25.0, min(500.0, spacing_m))
    _check("population_per_entry", population_per_entry, 1, 10_000_000)
    name = name or f"grid{n}x{n}"
    roads, entries = _roads(n, spacing_m, lanes, free_speed_kmh)
    buildings = _buildings(n, spacing_m)
    grid = _grid(n, spacing_m, resolution_m, roads, entries, population_per_entry, buildings)
    signal = np.flatnonzero(roads["signalized"])
    approaches = np.flatnonzero(np.isin(roads["to_node"], signal))
    x, y = roads["x"], roads["y"]
    f, t = roads["from_node"][approaches], roads["to_node"][approaches]
    half = (n + 1) * spacing_m / 2
    sensors = {
        "kind": np.array(
            ["air"] + ["loop"] * approaches.size + ["meter"] * buildings["x"].size, dtype=object
        ),
        "name": np.array(
            ["centre"]
            + [f"loop-{i}" for i in approaches]
            + [f"meter-{i}" for i in range(buildings["x"].size)],
            dtype=object,
        ),
        "x": np.concatenate([[ORIGIN_M[0] + half], (x[f] + x[t]) / 2, buildings["x"]]),
        "y": np.concatenate([[ORIGIN_M[1] + half], (y[f] + y[t]) / 2, buildings["y"]]),
        "target": np.concatenate([[-1], approaches, np.arange(buildings["x"].size)]).astype(
            np.int64
        ),
    }
    people = int(grid["population"].sum())
    districts = {
        "name": np.array([name], dtype=object),
        "population": np.array([people], dtype=np.int64),
        "area": np.array([grid["population"].size * resolution_m**2], dtype=np.float64),
    }
    source = (
        f"twin.gridcity.grid_city(n={n}, spacing_m={spacing_m:g}, lanes={lanes}, "
        f"free_speed_kmh={free_speed_kmh:g}, resolution_m={resolution_m:g}, "
        f"population_per_entry={population_per_entry})"
    )
    arrays = {
        "grid": grid,
        "buildings": buildings,
        "roads": roads,
        "districts": districts,
        "sensors": sensors,
    }
    attrs = {
        "name": name,
        "title": f"Signalized {n} x {n} grid, {spacing_m:g} m blocks (synthetic)",
        "crs": "EPSG:5186",
        "resolution_m": float(resolution_m),
        "source": source,
    }
    return city_from_arrays(arrays, attrs)


def _check(field: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not low <= value <= high:
        raise InputError(f"grid_city: {field} = {value!r}; allowed: {low:g} to {high:g}")


def _roads(n: int, spacing_m: float, lanes: int, free_speed_kmh: float):
    """Nodes (intersections row-major, then fringe nodes) and two-way links."""
    k = np.arange(1, n + 1) * spacing_m
    ix, iy = np.meshgrid(k, k)  # intersection (row j, column i) at (k[i], k[j])
    edge = (n + 1) * spacing_m
    zero, far = np.zeros(n), np.full(n, edge)
    fringe = np.column_stack(  # south, north, west, east
        [np.concatenate([k, k, zero, far]), np.concatenate([zero, far, k, k])]
    )
    x = np.concatenate([ix.ravel(), fringe[:, 0]]) + ORIGIN_M[0]
    y = np.concatenate([iy.ravel(), fringe[:, 1]]) + ORIGIN_M[1]
    node = np.arange(n * n).reshape(n, n)  # [row, column]
    f0 = n * n
    pairs = [(node[j, i], node[j, i + 1]) for j in range(n) for i in range(n - 1)]
    pairs += [(node[j, i], node[j + 1, i]) for j in range(n - 1) for i in range(n)]
    pairs += [(f0 + i, node[0, i]) for i in range(n)]  # south fringe
    pairs += [(f0 + n + i, node[n - 1, i]) for i in range(n)]  # north
    pairs += [(f0 + 2 * n + j, node[j, 0]) for j in range(n)]  # west
    pairs += [(f0 + 3 * n + j, node[j, n - 1]) for j in range(n)]  # east
    a = np.array(pairs)
    frm = np.concatenate([a[:, 0], a[:, 1]]).astype(np.int32)
    to = np.concatenate([a[:, 1], a[:, 0]]).astype(np.int32)
    m = frm.size
    roads = {
        "x": x,
        "y": y,
        "signalized": (np.arange(x.size) < n * n).astype(np.int8),
        "from_node": frm,
        "to_node": to,
        "length": np.full(m, spacing_m, np.float32),
        "lanes": np.full(m, lanes, np.int8),
        "free_speed": np.full(m, free_speed_kmh / 3.6, np.float32),
        "capacity": np.full(m, CAPACITY_VPH_PER_LANE / 3600.0, np.float32),
        "jam_density": np.full(m, JAM_DENSITY_VPKM_PER_LANE / 1000.0, np.float32),
        "road_class": np.full(m, citygen.ROAD_CLASS.index("arterial"), np.int8),
    }
    return roads, np.arange(f0, x.size)


def _grid(n, spacing_m, resolution_m, roads, entries, population_per_entry, buildings):
    """Flat residential land, residents in the cells of the fringe nodes, the buildings'
    heights in the cells of their centres."""
    cells = int(np.ceil((n + 1) * spacing_m / resolution_m)) + 1
    centres = (np.arange(cells) + 0.0) * resolution_m
    x, y = centres + ORIGIN_M[0], centres + ORIGIN_M[1]

    def cell(px, py):
        ix = np.clip(np.rint((px - x[0]) / resolution_m).astype(int), 0, cells - 1)
        return np.clip(np.rint((py - y[0]) / resolution_m).astype(int), 0, cells - 1), ix

    population = np.zeros((cells, cells), np.float32)
    np.add.at(population, cell(roads["x"][entries], roads["y"][entries]), population_per_entry)
    height = np.zeros((cells, cells), np.float32)
    height[cell(buildings["x"], buildings["y"])] = buildings["height"]
    return {
        "x": x,
        "y": y,
        "elevation": np.full((cells, cells), 25.0, np.float32),
        "land_use": np.full((cells, cells), citygen.LAND_USE.index("residential"), np.int8),
        "population": population,
        "district": np.zeros((cells, cells), np.int8),
        "building_height": height,
    }


def _buildings(n: int, spacing_m: float) -> dict[str, np.ndarray]:
    """One four-storey residential block in the middle of each inner block."""
    c = (np.arange(1, n) + 0.5) * spacing_m
    bx, by = (v.ravel() for v in np.meshgrid(c + ORIGIN_M[0], c + ORIGIN_M[1]))
    size = np.full(bx.size, min(40.0, spacing_m / 3), np.float32)
    return {
        "x": bx,
        "y": by,
        "width": size,
        "depth": size,
        "height": np.full(bx.size, 12.0, np.float32),
        "use": np.full(bx.size, citygen.BUILDING_USE.index("residential"), np.int8),
        "floor_area": (size * size * 4).astype(np.float32),
        "district": np.zeros(bx.size, np.int8),
    }
