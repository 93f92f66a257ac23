"""Air taxis over a City: the UAM model of a run from the dataset's ``[uam]`` tables.

The dataset (``datasets/<name>/dataset.toml``, ``[[uam.vertiports]]`` and
``[[uam.no_fly]]``) gives the sites in latitude and longitude; here they are projected
to the city's CRS, the route lattice is built from ``elevation + building_height``, the
ground noise grid from blocks of ``[uam] noise_cell_m``, and the day's flights are
drawn from a gravity model: the flights between vertiports ``i`` and ``j`` are in
proportion to ``m_i m_j / d_ij`` with ``m`` the residents plus jobs within
``catchment_m`` (jobs: non-residential floor area at 25 m2 per job), spread over the
day by :data:`DIURNAL_PROFILE`.
"""

from __future__ import annotations

from datetime import UTC

import numpy as np
from pyproj import Transformer

from sim.uam import UamModel, noise, routing
from sim.uam.flight import Aircraft
from sim.weather import Weather
from twin.catalog import Manifest
from twin.city import City
from twin.citygen import BUILDING_USE
from twin.errors import InputError
from twin.scenario import Scenario, UamSettings

# share of a day's air-taxi departures per local hour: none 00-06, commuter peaks at
# 08 and 18 (an assumption shaped like the city's road demand; K-UAM ConOps 1.0 plans
# daytime operations first)
DIURNAL_PROFILE = np.array(
    [0, 0, 0, 0, 0, 0, 2, 6, 9, 7, 5, 5, 5, 5, 5, 6, 7, 9, 8, 6, 4, 3, 2, 1], dtype=float
)
FLOOR_M2_PER_JOB = 25.0


def sites(manifest: Manifest, city: City):
    """Vertiports ``(V, 3)`` [m] (x, y, ground height), pads ``(V,)``, names and the
    no-fly volumes ``[(polygon (k, 2) [m], floor_m, ceiling_m)]`` in the city's CRS."""
    where = manifest.folder / "dataset.toml"
    if manifest.uam is None:
        raise InputError(
            f"scenario [uam] asks for air taxis but {where} has no [uam] table: declare "
            "[[uam.vertiports]] (name, lat, lon, pads) for this city"
        )
    to_xy = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True)
    g = city.grid
    x, y = g["x"].values, g["y"].values
    res = city.resolution_m
    ports = []
    for i, v in enumerate(manifest.uam.vertiports):
        px, py = to_xy.transform(v.lon, v.lat)
        if not (
            x[0] - res / 2 <= px <= x[-1] + res / 2 and y[0] - res / 2 <= py <= y[-1] + res / 2
        ):
            raise InputError(
                f"{where}: uam.vertiports[{i}] ({v.name!r}) at lat {v.lat}, lon {v.lon} lies "
                f"outside the city's grid ({x[0]:.0f}..{x[-1]:.0f}, {y[0]:.0f}..{y[-1]:.0f} m)"
            )
        ix, iy = np.abs(x - px).argmin(), np.abs(y - py).argmin()
        ports.append((px, py, float(g["elevation"].values[iy, ix])))
    volumes = [
        (
            np.array([to_xy.transform(lon, lat) for lat, lon in nf.polygon]),
            nf.floor_m,
            nf.ceiling_m,
        )
        for nf in manifest.uam.no_fly
    ]
    pads = np.array([v.pads for v in manifest.uam.vertiports])
    names = [v.name for v in manifest.uam.vertiports]
    return np.array(ports), pads, names, volumes


def masses(city: City, ports: np.ndarray, catchment_m: float) -> np.ndarray:
    """Residents plus jobs within ``catchment_m`` of each vertiport."""
    g, b = city.grid, city["buildings"]
    gx, gy = np.meshgrid(g["x"].values, g["y"].values)
    pop = g["population"].values.astype(float)
    work = b["use"].values != BUILDING_USE.index("residential")
    jobs = b["floor_area"].values * work / FLOOR_M2_PER_JOB
    out = []
    for px, py, _ in ports:
        near = (gx - px) ** 2 + (gy - py) ** 2 <= catchment_m**2
        near_b = (b["x"].values - px) ** 2 + (b["y"].values - py) ** 2 <= catchment_m**2
        out.append(pop[near].sum() + jobs[near_b].sum())
    return np.array(out)


def schedule(ports, mass, settings: UamSettings, duration_s: float, start_local_hour: float):
    """Origins, destinations and departure times [s after the start] of the run's
    flights, in departure order (see the module docstring)."""
    v = len(ports)
    pairs = [(o, d) for o in range(v) for d in range(v) if o != d]
    n = round(settings.flights_per_day)
    if not pairs or n == 0:
        return (np.zeros(0, dtype=np.int64),) * 2 + (np.zeros(0),)
    dist = np.array([np.hypot(*(ports[o, :2] - ports[d, :2])) for o, d in pairs])
    w = np.array([mass[o] * mass[d] for o, d in pairs]) / np.maximum(dist, 1000.0)
    if not w.sum() > 0:
        w = np.ones(len(pairs))
    rng = np.random.default_rng(settings.seed)
    origin, destination, times = [], [], []
    for day in range(int(np.ceil(duration_s / 86400.0))):
        chosen = rng.choice(len(pairs), size=n, p=w / w.sum())
        local_s = rng.choice(24, size=n, p=DIURNAL_PROFILE / DIURNAL_PROFILE.sum()) * 3600.0
        local_s = local_s + rng.uniform(0.0, 3600.0, n)
        t = day * 86400.0 + (local_s - start_local_hour * 3600.0) % 86400.0
        keep = t < duration_s
        origin += [pairs[c][0] for c in chosen[keep]]
        destination += [pairs[c][1] for c in chosen[keep]]
        times.append(t[keep])
    t = np.concatenate(times)
    order = np.argsort(t, kind="stable")
    return (np.asarray(origin, dtype=np.int64)[order],
            np.asarray(destination, dtype=np.int64)[order], t[order])  # fmt: skip


def start_local_hour(scenario: Scenario, weather: Weather) -> float:
    """Local hour of the city's clock (its climatology's UTC offset) at the run's start."""
    t = scenario.start.astimezone(UTC)
    hour = t.hour + t.minute / 60 + t.second / 3600
    return (hour + weather.climatology.utc_offset_hours) % 24.0


def uam_model(city: City, manifest: Manifest, scenario: Scenario, weather: Weather) -> UamModel:
    """The UAM model of a run (:class:`sim.uam.UamModel`); InputError for a city or
    settings it cannot fly."""
    u = scenario.uam
    ports, pads, names, volumes = sites(manifest, city)
    g = city.grid
    x, y = g["x"].values, g["y"].values
    elevation = g["elevation"].values.astype(float)
    surface = elevation + g["building_height"].values
    res = city.resolution_m
    grid = routing.route_grid(
        surface, x, y, u.route_cell_m, u.route_dz_m, u.ceiling_m, u.clearance_m, volumes
    )
    for (px, py, _), name in zip(ports, names, strict=True):
        try:
            grid.node(px, py)
        except ValueError as err:
            raise InputError(
                f"vertiport {name!r} of {manifest.folder / 'dataset.toml'}: {err}; move it, "
                "or change [uam] ceiling_m or clearance_m"
            ) from None
    kn = max(1, round(u.noise_cell_m / res))
    pop = g["population"].values.astype(float)
    ny, nx = pop.shape
    gx, gy = np.meshgrid(x, y)
    receivers = np.stack([
        routing.blocks(gx, kn, "mean"),
        routing.blocks(gy, kn, "mean"),
        routing.blocks(elevation, kn, "mean") + noise.RECEIVER_HEIGHT_M,
    ], axis=-1)  # fmt: skip
    nbx = -(-nx // kn)
    cell = ((np.arange(ny) // kn)[:, None] * nbx + (np.arange(nx) // kn)[None, :]).ravel()
    kr = max(1, round(u.route_cell_m / res))
    origin, destination, departure = schedule(
        ports, masses(city, ports, u.catchment_m), u, scenario.duration.total_seconds(),
        start_local_hour(scenario, weather),
    )  # fmt: skip
    try:
        return UamModel(
            grid, surface, x, y, ports, pads, origin, destination, departure,
            receivers, routing.blocks(pop, kn, "sum"), cell, kn * res,
            routing.blocks(pop, kr, "sum"),
            routing.blocks(elevation, kr, "mean") + noise.RECEIVER_HEIGHT_M,
            weights=routing.Weights(u.weight_length, u.weight_climb, u.weight_noise),
            aircraft=Aircraft(),
            turnaround_s=u.turnaround_s,
            max_route_updates=u.max_route_updates,
            noise_segment_m=u.noise_segment_m,
            source_level_dba=u.source_level_dba,
        )  # fmt: skip
    except ValueError as err:
        raise InputError(f"scenario [uam] on city {city.name!r}: {err}") from None
