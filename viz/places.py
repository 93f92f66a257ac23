"""Named places of a city (for street views) and the sun over it (for lighting)."""

from __future__ import annotations

import re

import numpy as np
from pyproj import Transformer

import twin
from twin.catalog import load_manifest
from twin.errors import InputError

# Used when a picture has no time (a city store rendered without --time): a mid-morning
# summer sun from the south-east, high enough to light walls and roofs alike.
DEFAULT_SUN_DEG = (45.0, 135.0)  # (elevation, azimuth clockwise from north)


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", name.lower()).strip()


def places(city: twin.City) -> dict[str, tuple[float, float]]:
    """Named points [m, city CRS]: the dataset's centres, districts, mountains, industrial
    complexes and airport (when the city comes from a shipped dataset), the districts'
    cell centroids, and the air-quality monitors."""
    found: dict[str, tuple[float, float]] = {}
    try:
        manifest = load_manifest(city.name)
    except InputError:  # a city built from a dataset folder that is not shipped
        manifest = None
    if manifest is not None:
        to_xy = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True).transform
        named = [
            *manifest.centres,
            *manifest.districts,
            *manifest.mountains,
            *manifest.industrial,
            *([manifest.airport] if manifest.airport else []),
        ]
        for p in named:
            found.setdefault(p.name, tuple(float(v) for v in to_xy(p.lon, p.lat)))
    for name, xy in district_centroids(city).items():
        found.setdefault(name, xy)
    s = city["sensors"]
    air = np.asarray(s["kind"].values).astype(str) == "air"
    if "name" in s:
        for name, x, y in zip(
            s["name"].values[air], s["x"].values[air], s["y"].values[air], strict=True
        ):
            found.setdefault(str(name), (float(x), float(y)))
    return found


def district_centroids(city: twin.City) -> dict[str, tuple[float, float]]:
    """Mean position [m] of each district's grid cells, by district name."""
    g = city.grid
    xx, yy = np.meshgrid(g["x"].values, g["y"].values)
    index = g["district"].values.ravel()
    names = [str(n) for n in city["districts"]["name"].values]
    counts = np.bincount(index, minlength=len(names)).astype(float)
    sx = np.bincount(index, weights=xx.ravel(), minlength=len(names))
    sy = np.bincount(index, weights=yy.ravel(), minlength=len(names))
    return {
        n: (float(sx[k] / counts[k]), float(sy[k] / counts[k]))
        for k, n in enumerate(names)
        if counts[k] > 0
    }


def find_place(city: twin.City, query: str | None) -> tuple[str, tuple[float, float]]:
    """The place whose name matches ``query`` (case and punctuation ignored; a name that
    starts with the query, or a word of it, matches). ``None``: the densest centre."""
    known = places(city)
    if not known:
        raise InputError(f"city {city.name!r} has no named places for a street view")
    if query is None:
        name = next(iter(known))  # the dataset lists its main centre first
        return name, known[name]
    q = _key(query)
    for rule in (
        lambda k: k == q,
        lambda k: k.startswith(q),
        lambda k: f" {q} " in f" {k} ",
    ):
        hits = [n for n in known if rule(_key(n))]
        if hits:
            return hits[0], known[hits[0]]
    raise InputError(f"no place named {query!r} in {city.name}; known places: {', '.join(known)}")


def sun_position(city: twin.City, time_utc: np.datetime64 | None) -> tuple[float, float]:
    """Solar (elevation, azimuth) [deg] over the city centre at ``time_utc``.

    Azimuth is clockwise from north. Without a time, :data:`DEFAULT_SUN_DEG`.

    References
    ----------
    Reda, I. and Andreas, A. (2004). Solar position algorithm for solar radiation
    applications. Solar Energy 76(5), 577-589. doi:10.1016/j.solener.2003.12.003
    (via :func:`sim.solar.solar_position`).
    """
    if time_utc is None:
        return DEFAULT_SUN_DEG
    from sim.solar import solar_position

    g = city.grid
    cx, cy = float(g["x"].values.mean()), float(g["y"].values.mean())
    lon, lat = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True).transform(cx, cy)
    elevation, azimuth = solar_position(
        np.asarray([time_utc], dtype="datetime64[ns]"), float(lat), float(lon)
    )
    return float(np.asarray(elevation)[0]), float(np.asarray(azimuth)[0])


def sun_vector(elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    """Unit vector (east, north, up) pointing from the ground towards the sun."""
    el, az = np.deg2rad(elevation_deg), np.deg2rad(azimuth_deg)
    return np.array([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)])
