"""A signalized grid city: the benchmark network of signal-control studies, as a City.

``rows x cols`` signalized junctions ``spacing_m`` apart, each joined to its neighbours
by one two-way street, and a fringe node beyond every end of every line where all the
trips start and end (the layout of the sumo-rl / RESCO ``grid4x4`` benchmarks, Alegre
2019; Ault & Sharon 2021). Residents live only at the fringe nodes, equally, so with
``[traffic] zone_size_m = spacing_m`` each fringe node is one traffic zone and the
gravity model sends trips across the grid. The rest of the city (one district, a few
houses at each fringe node, an air monitor and a smart meter) is there so the whole
coupled twin runs on it too (services are scored on it with :func:`twin.evaluate`).

One module builds it for the tests, the examples, the benchmarks and the lead's service
evaluations: :func:`grid_city` and :func:`grid_scenario`.

References
----------
Alegre, L. N. (2019). SUMO-RL. https://github.com/LucasAlegre/sumo-rl
Ault, J., Sharon, G. (2021). Reinforcement learning benchmarks for traffic signal
control. NeurIPS Datasets and Benchmarks. https://openreview.net/forum?id=LqRSh6V0vR
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twin.city import City, city_from_arrays
from twin.scenario import Scenario

ORIGIN_M = (186_000.0, 280_000.0)  # EPSG:5186, inside the minicity's bounds (its climate)
CRS = "EPSG:5186"


def _roads(rows, cols, spacing_m, lanes, free_speed_mps, capacity_vps, jam_density_vpm):
    """Nodes (signals first, row-major from the south-west; then the fringe) and links."""
    jj, ii = np.meshgrid(np.arange(1, rows + 1), np.arange(1, cols + 1), indexing="ij")
    signals = np.column_stack([ii.ravel(), jj.ravel()])  # grid units: (column, row)
    fringe = np.array(
        [(i, 0) for i in range(1, cols + 1)]
        + [(i, rows + 1) for i in range(1, cols + 1)]
        + [(0, j) for j in range(1, rows + 1)]
        + [(cols + 1, j) for j in range(1, rows + 1)]
    )
    xy = np.concatenate([signals, fringe])
    index = {(int(i), int(j)): n for n, (i, j) in enumerate(xy)}
    edges = [
        (index[(i, j)], index[(i + di, j + dj)])
        for (i, j) in index
        for di, dj in ((1, 0), (0, 1))
        if (i + di, j + dj) in index
        and (0 < j < rows + 1 if di else 0 < i < cols + 1)  # none along the fringe
    ]
    edges = np.array(edges)
    frm = np.concatenate([edges[:, 0], edges[:, 1]])
    to = np.concatenate([edges[:, 1], edges[:, 0]])
    n_links = frm.size
    x = ORIGIN_M[0] + xy[:, 0] * spacing_m
    y = ORIGIN_M[1] + xy[:, 1] * spacing_m
    return {
        "x": x,
        "y": y,
        "signalized": (np.arange(xy.shape[0]) < signals.shape[0]).astype(np.int8),
        "from_node": frm.astype(np.int32),
        "to_node": to.astype(np.int32),
        "length": np.hypot(x[to] - x[frm], y[to] - y[frm]).astype(np.float32),
        "lanes": np.full(n_links, lanes, np.int8),
        "free_speed": np.full(n_links, free_speed_mps, np.float32),
        "capacity": np.full(n_links, capacity_vps, np.float32),
        "jam_density": np.full(n_links, jam_density_vpm, np.float32),
        "road_class": np.ones(n_links, np.int8),  # arterial
    }


def grid_city(
    rows: int = 4,
    cols: int = 4,
    spacing_m: float = 1000.0,
    *,
    lanes: int = 1,
    free_speed_mps: float = 50 / 3.6,
    capacity_vps: float = 1800 / 3600,
    jam_density_vpm: float = 0.133,
    resolution_m: float = 250.0,
    residents_per_zone: float = 10_000.0,
) -> City:
    """A ``rows x cols`` signalized grid city (see the module docstring).

    Parameters
    ----------
    rows, cols : signalized junctions north-south and east-west (>= 1).
    spacing_m : [m] distance between neighbouring junctions (and to the fringe nodes);
        a whole multiple of ``resolution_m``.
    lanes : lanes per direction of every street.
    free_speed_mps : [m s-1] free speed (default 50 km/h).
    capacity_vps : [veh s-1 per lane] saturation flow (default 1,800 veh/h).
    jam_density_vpm : [veh m-1 per lane] jam density (default 133 veh/km).
    resolution_m : [m] grid cell size of the raster groups.
    residents_per_zone : residents at each fringe node.
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"rows, cols: need at least one junction each, got {rows} x {cols}")
    if spacing_m % resolution_m:
        raise ValueError(
            f"spacing_m ({spacing_m:g}) must be a whole multiple of resolution_m ({resolution_m:g})"
        )
    roads = _roads(rows, cols, spacing_m, lanes, free_speed_mps, capacity_vps, jam_density_vpm)
    # the raster reaches half a block beyond the fringe: each node sits inside its own
    # zone block of spacing_m (twin.models.traffic_zones counts blocks from the first cell)
    nx, ny = (round((n + 2) * spacing_m / resolution_m) for n in (cols, rows))
    x = ORIGIN_M[0] - spacing_m / 2 + (np.arange(nx) + 0.5) * resolution_m
    y = ORIGIN_M[1] - spacing_m / 2 + (np.arange(ny) + 0.5) * resolution_m
    population = np.zeros((ny, nx), np.float32)
    fringe = ~roads["signalized"].astype(bool)
    fx = np.searchsorted(x + resolution_m / 2, roads["x"][fringe])
    fy = np.searchsorted(y + resolution_m / 2, roads["y"][fringe])
    population[fy, fx] = residents_per_zone
    land_use = np.where(population > 0, 1, 0).astype(np.int8)  # residential where people live
    # four two-storey houses around each fringe node (the energy model's buildings)
    offsets = np.array([(-60, -60), (60, -60), (-60, 60), (60, 60)], dtype=float)
    bx = (roads["x"][fringe][:, None] + offsets[None, :, 0]).ravel()
    by = (roads["y"][fringe][:, None] + offsets[None, :, 1]).ravel()
    n_b = bx.size
    buildings = {
        "x": bx,
        "y": by,
        "width": np.full(n_b, 12.0, np.float32),
        "depth": np.full(n_b, 10.0, np.float32),
        "height": np.full(n_b, 6.0, np.float32),
        "use": np.zeros(n_b, np.int8),
        "floor_area": np.full(n_b, 240.0, np.float32),
        "district": np.zeros(n_b, np.int64),
    }
    height = np.zeros((ny, nx), np.float32)
    height[np.searchsorted(y + resolution_m / 2, by), np.searchsorted(x + resolution_m / 2, bx)] = 6
    total = float(population.sum())
    centre = (float(roads["x"].mean()), float(roads["y"].mean()))
    arrays = {
        "grid": {
            "x": x,
            "y": y,
            "elevation": np.full((ny, nx), 25.0, np.float32),
            "land_use": land_use,
            "building_height": height,
            "population": population,
            "district": np.zeros((ny, nx), np.int8),
        },
        "buildings": buildings,
        "roads": roads,
        "districts": {
            "name": np.array(["grid"], dtype=object),
            "population": np.array([round(total)], dtype=np.int64),
            "area": np.array([nx * ny * resolution_m**2]),
        },
        "sensors": {
            "kind": np.array(["air", "meter"], dtype=object),
            "name": np.array(["grid-centre", "meter-0"], dtype=object),
            "x": np.array([centre[0], bx[0]]),
            "y": np.array([centre[1], by[0]]),
            "target": np.array([-1, 0], dtype=np.int64),
        },
    }
    return city_from_arrays(
        arrays,
        {
            "name": f"grid{rows}x{cols}",
            "title": f"{rows} x {cols} signalized grid, {spacing_m:g} m blocks",
            "crs": CRS,
            "resolution_m": float(resolution_m),
            "source": (
                f"twin.envs.grid.grid_city(rows={rows}, cols={cols}, spacing_m={spacing_m:g}, "
                f"lanes={lanes})"
            ),
            "seed": 0,
        },
    )


def grid_scenario(
    store: str | Path,
    hours: float = 1.0,
    *,
    start: str = "2026-06-17T07:00:00+09:00",
    city: City | None = None,
    **changes: Any,
) -> Scenario:
    """A scenario on the grid city, saved at ``store`` (a Zarr city store).

    ``hours`` of a June weekday morning at 60 s steps, the fringe zones
    (``zone_size_m`` = the block), 40,000 trips a day with hourly Poisson draws
    (``demand_noise = "poisson"``: the seed changes the demand), detectors reporting
    every minute. ``city`` (default :func:`grid_city`) is saved at ``store`` unless a city
    store is there already; ``changes`` replace top-level scenario fields.
    """
    city = grid_city() if city is None else city
    store = Path(store)
    if not store.exists():
        city.save(store)
    xs = city["roads"]["x"].values
    spacing = float(np.diff(np.unique(xs)).min())
    duration_s = round(hours * 3600)
    base: dict[str, Any] = {
        "name": f"{city.name}-{hours:g}h",
        "start": start,
        "duration": f"{duration_s}s",
        "step": "60s",
        "output_interval": "3600s" if duration_s % 3600 == 0 else f"{duration_s}s",
        "device": "cpu",
        "city": {"dataset": "minicity", "store": str(store)},
        "traffic": {
            "trips_per_day": 40_000,
            "zone_size_m": spacing,
            "demand_noise": "poisson",
            "detector_interval_s": 60.0,
        },
    }
    return Scenario.from_dict(base | changes)
