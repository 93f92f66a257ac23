"""``twin city import-osm``: a City from an OpenStreetMap extract (PBF or XML).

The pieces: :mod:`~twin.importers.osm_read` streams the file (roads, then areas),
:mod:`~twin.importers.osm_roads` builds the network, :mod:`~twin.importers.osm_tags` reads
tags against the defaults table (``osm_defaults.toml``, replaceable per country) and
:mod:`~twin.importers.osm_grid` rasterizes. This module chooses the CRS and the grid and
fills the rest of the city:

* CRS: ``--crs``, else the UTM zone of the centre (WGS 84, EPSG:326zz north / 327zz south).
* Grid: cells of ``resolution_m`` on multiples of it, covering ``--bbox`` if given, else
  the car roads of the file.
* Land use: the polygons of the defaults table by cell centre; cells no polygon covers take
  the use of the buildings that cover most of them, else cropland (open land).
* Buildings: footprint area and centroid; width and depth are the sides of the box with
  the footprint's area and its bounding box's proportions; floor area = footprint x storeys.
* Population: ``--population`` residents spread over residential floor area (over
  residential land if there is none, else over all floor area), else zero with a warning.
* Districts: the ``boundary=administrative`` polygons of ``--admin-level`` (cells in none
  form one more district named after the city), else one district, the whole city.
* Sensors, by rule: the file's air-quality stations (``man_made=monitoring_station`` with
  ``monitoring:air_quality=yes``), else one monitor per district at its most populated
  cell; loop detectors on every fourth arterial or expressway link and smart meters on
  every twentieth building, evenly spread over their index, at most 80 and 300 (the
  Gwangju dataset's numbers).
* Terrain: ``--dem`` resampled bilinearly, else flat (0 m).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from twin.city import City, check_resolution, city_from_arrays
from twin.citygen import (
    BUILDING_USE,
    COMMERCIAL,
    CROPLAND,
    INDUSTRIAL,
    RESIDENTIAL,
    rasterize_heights,
)
from twin.errors import InputError
from twin.importers.osm_grid import Grid, resample_dem
from twin.importers.osm_read import read_areas, read_roads
from twin.importers.osm_roads import build_network
from twin.importers.osm_tags import load_defaults

log = logging.getLogger(__name__)
LOOP_DETECTORS, SMART_METERS = 80, 300
JOIN_RANGE_M = (1.0, 100.0)
LICENSE = "Data (c) OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)"


@dataclass
class ImportReport:
    """What an import read, built, dropped and repaired (counts)."""

    stats: dict[str, object] = field(default_factory=dict)
    fixes: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def as_attrs(self) -> dict:
        return {
            "stats": dict(self.stats),
            "fixes": {k: int(v) for k, v in self.fixes.items() if v},
            "skipped": {k: int(v) for k, v in self.skipped.items() if v},
        }


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``W,S,E,N`` in degrees, validated."""
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(
            f"--bbox {text!r}: expected four numbers W,S,E,N in degrees, e.g. 126.8,35.1,126.9,35.2"
        ) from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise InputError(
            f"--bbox {text!r}: need -180 <= W < E <= 180 and -90 <= S < N <= 90 (degrees)"
        )
    return w, s, e, n


def utm_crs(lon: float, lat: float) -> str:
    """The UTM zone (WGS 84) of a point: EPSG:326zz north of the equator, 327zz south."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def _check_crs(text: str) -> str:
    try:
        crs = CRS.from_user_input(text)
    except CRSError as err:
        raise InputError(f"--crs {text!r}: not a known CRS ({err})") from None
    if not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
        raise InputError(f"--crs {text!r}: must be a projected CRS in metres (e.g. EPSG:5186)")
    return text


def import_osm(
    path: str | Path,
    *,
    resolution_m: float = 50.0,
    bbox: tuple[float, float, float, float] | None = None,
    crs: str | None = None,
    population: float | None = None,
    dem: str | Path | None = None,
    name: str | None = None,
    defaults: str | Path | None = None,
    join_m: float = 20.0,
    admin_level: int | None = None,
) -> tuple[City, ImportReport]:
    """Build a City from an OpenStreetMap extract.

    Parameters
    ----------
    path : ``.osm.pbf``, ``.osm`` (XML), ``.osm.bz2`` or ``.osm.gz`` file.
    resolution_m : grid cell size [m], 10 to 500.
    bbox : (west, south, east, north) [degrees]; only roads and buildings inside are kept.
    crs : projected CRS in metres; default: the UTM zone of the centre.
    population : residents [1] to spread over residential floor area; None: zero.
    dem : GeoTIFF of terrain height [m] (any CRS); None: flat, 0 m.
    name : city name; default the file name without its suffixes.
    defaults : TOML file overriding entries of the shipped defaults table.
    join_m : [m] junctions closer than this along a road become one node, 1 to 100.
    admin_level : OSM ``admin_level`` of the boundaries that make the districts.

    Returns
    -------
    (City, ImportReport)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    resolution_m = check_resolution(resolution_m)
    if not JOIN_RANGE_M[0] <= join_m <= JOIN_RANGE_M[1]:
        raise InputError(
            f"--join-m {join_m:g}: allowed {JOIN_RANGE_M[0]:g} to {JOIN_RANGE_M[1]:g} m"
        )
    if population is not None and not (math.isfinite(population) and population >= 0):
        raise InputError(f"--population {population!r}: must be a number >= 0")
    if admin_level is not None and not 1 <= admin_level <= 12:
        raise InputError(f"--admin-level {admin_level}: OSM admin levels are 1 to 12")
    crs = _check_crs(crs) if crs else None
    table = load_defaults(defaults)
    report = ImportReport()
    name = name or _stem(path)

    roads = read_roads(path, table, report.fixes, report.skipped)
    report.stats["road ways"] = int(roads.way_id.size)
    if roads.way_id.size == 0:
        raise InputError(
            f"{path}: no car roads (highway={', '.join(table.highway)}) in the file"
            + (f"; other highway ways skipped: {dict(report.skipped)}" if report.skipped else "")
        )
    lon, lat = _clip(path, roads, bbox)
    if crs is None:  # the UTM zone of the centre of the bbox, else of the roads
        w, s, e, n = bbox or (np.nanmin(lon), np.nanmin(lat), np.nanmax(lon), np.nanmax(lat))
        crs = utm_crs((w + e) / 2, (s + n) / 2)
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(lon, lat)
    x, y = np.where(np.isfinite(x), x, np.nan), np.where(np.isfinite(y), y, np.nan)
    bx, by = transformer.transform(*_box_outline(bbox)) if bbox else (x, y)
    grid = Grid.covering(np.nanmin(bx), np.nanmin(by), np.nanmax(bx), np.nanmax(by), resolution_m)

    road_arrays = build_network(roads, x, y, table, join_m, report.fixes, report.stats)

    def project(xy):
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    areas = read_areas(path, grid, project, table, report.fixes, admin_level)
    land_use = areas.land_use
    for line in roads.waterways:
        iy, ix = grid.cells_on_line(*transformer.transform(line[:, 0], line[:, 1]))
        land_use[iy, ix] = 0  # water

    buildings = _buildings(areas.buildings, grid, land_use)
    report.stats["buildings"] = int(buildings["x"].size)
    if buildings["x"].size == 0:
        report.warnings.append("no buildings in the area: energy demand will be zero")
    elevation = np.zeros(grid.shape, dtype=np.float32)
    if dem is not None:
        elevation, filled = resample_dem(dem, grid, crs)
        report.fixes["grid cells the DEM does not cover, set to its mean"] += filled
    people = _population(buildings, grid, land_use, population, report)
    district, names = _districts(areas, grid, name, report)
    buildings["district"] = district[grid.index(buildings["x"], buildings["y"])[:2]]

    arrays = {
        "grid": {
            "x": grid.x,
            "y": grid.y,
            "elevation": elevation,
            "land_use": land_use,
            "population": people,
            "district": district,
        },
        "buildings": buildings,
        "roads": road_arrays,
        "districts": {
            "name": np.array(names, dtype=object),
            "population": np.rint(
                np.bincount(district.ravel(), weights=people.ravel(), minlength=len(names))
            ).astype(np.int64),
            "area": np.bincount(district.ravel(), minlength=len(names)).astype(np.float64)
            * resolution_m**2,
        },
    }
    arrays["grid"]["building_height"] = rasterize_heights(
        buildings, arrays["grid"]["x"], arrays["grid"]["y"], resolution_m
    )
    arrays["sensors"] = _sensors(arrays, roads.monitors, transformer)
    options = (
        f"resolution_m={resolution_m:g}, bbox={list(bbox) if bbox else None}, crs={crs}, "
        f"population={population}, dem={dem}, join_m={join_m:g}, admin_level={admin_level}, "
        f"defaults={defaults or 'shipped'}"
    )
    city = city_from_arrays(
        arrays,
        {
            "name": name,
            "title": f"{name} (imported from OpenStreetMap)",
            "crs": crs,
            "resolution_m": resolution_m,
            "source": f"OpenStreetMap extract {path.name}; importer twin.importers.osm, {options}",
            "license": LICENSE,
            "import_report": report.as_attrs(),
        },
    )
    return city, report


def _stem(path: Path) -> str:
    """The file name without its OSM suffixes (``.osm.pbf``, ``.osm.bz2``, ``.osm``...)."""
    name = path.name
    for suffix in (".pbf", ".bz2", ".gz", ".osm"):
        name = name.removesuffix(suffix)
    return name or path.name


def _clip(path: Path, roads, bbox) -> tuple[np.ndarray, np.ndarray]:
    """Road vertex lon/lat, NaN outside ``bbox``; an InputError if nothing is left."""
    lon, lat = roads.lon.copy(), roads.lat.copy()
    if bbox is not None:
        w, s, e, n = bbox
        out = ~((lon >= w) & (lon <= e) & (lat >= s) & (lat <= n))
        lon[out] = lat[out] = np.nan
    if not np.isnan(lon).all():
        return lon, lat
    if bbox is None:
        raise InputError(f"{path}: the road ways have no node locations in the file")
    extent = (
        f"; the file's roads span {np.nanmin(roads.lon):.4f},{np.nanmin(roads.lat):.4f},"
        f"{np.nanmax(roads.lon):.4f},{np.nanmax(roads.lat):.4f}"
        if np.isfinite(roads.lon).any()
        else ""
    )
    raise InputError(f"{path}: no roads inside --bbox {','.join(map(str, bbox))}{extent}")


def _box_outline(bbox, n: int = 16):
    """Points along the edges of a lon/lat box (its projected outline bulges)."""
    w, s, e, n_ = bbox
    t = np.linspace(0.0, 1.0, n)
    lon = np.concatenate([w + (e - w) * t, np.full(n, e), e - (e - w) * t, np.full(n, w)])
    lat = np.concatenate([np.full(n, s), s + (n_ - s) * t, np.full(n, n_), n_ - (n_ - s) * t])
    return lon, lat


_BUILDING_DTYPES = {"x": np.float64, "y": np.float64, "width": np.float32, "depth": np.float32}
_BUILDING_DTYPES |= {"height": np.float32, "use": np.int8, "floor_area": np.float32}
_BUILDING_DTYPES |= {"height_source": np.int8, "osm_id": np.int64}


def _buildings(records: dict, grid: Grid, land_use: np.ndarray) -> dict[str, np.ndarray]:
    """Building arrays; settles open uses and fills the land use no polygon gave."""
    b = {
        k: np.concatenate(records[k]) if records.get(k) else np.zeros(0, dtype)
        for k, dtype in _BUILDING_DTYPES.items()
    }
    records.clear()
    iy, ix, _ = grid.index(b["x"], b["y"])
    # building=yes & co. take the use of their land-use polygon (residential elsewhere)
    cell = land_use[iy, ix]
    guess = np.select([cell == COMMERCIAL, cell == INDUSTRIAL], [1, 2], 0)
    b["use"] = np.where(b["use"] < 0, guess, b["use"]).astype(np.int8)
    # cells no polygon covers: the use of the buildings covering most of them
    by_use = np.zeros((len(BUILDING_USE), *grid.shape), dtype=np.float32)
    np.add.at(by_use, (b["use"], iy, ix), b["width"] * b["depth"])
    to_land = np.array([RESIDENTIAL, COMMERCIAL, INDUSTRIAL, COMMERCIAL], dtype=np.int8)
    fill = (land_use < 0) & (by_use.sum(axis=0) > 0)
    land_use[fill] = to_land[by_use.argmax(axis=0)[fill]]
    land_use[land_use < 0] = CROPLAND
    return b


def _population(b, grid: Grid, land_use, population, report: ImportReport) -> np.ndarray:
    """Residents per cell (y, x): ``population`` over residential floor area."""
    people = np.zeros(grid.shape, dtype=np.float64)
    if not population:
        report.warnings.append(
            "no --population: the grid has no residents, so `twin run` has no traffic "
            "demand; pass --population N to spread N residents over residential floor area"
        )
        return people.astype(np.float32)
    iy, ix, _ = grid.index(b["x"], b["y"])
    weight = np.zeros(grid.shape)
    np.add.at(weight, (iy, ix), np.where(b["use"] == 0, b["floor_area"], 0.0))
    if weight.sum() <= 0:
        report.fixes["population spread over residential land (no residential buildings)"] += 1
        weight = (land_use == RESIDENTIAL).astype(np.float64)
    if weight.sum() <= 0:
        report.fixes["population spread over all floor area (no residential land)"] += 1
        np.add.at(weight, (iy, ix), b["floor_area"].astype(np.float64))
    if weight.sum() <= 0:
        raise InputError(
            "--population: the area has neither buildings nor residential land to house anyone"
        )
    return (population * weight / weight.sum()).astype(np.float32)


def _districts(areas, grid: Grid, name: str, report: ImportReport):
    """District index per cell (y, x) int8 and the district names."""
    district, names = areas.district, list(areas.district_names)
    if not names:
        return np.zeros(grid.shape, dtype=np.int8), [name]
    if (district < 0).any():
        district = np.where(district < 0, len(names), district)
        names.append(f"{name} (outside the boundaries)")
    if len(names) > 127:
        raise InputError(
            f"--admin-level gives {len(names)} districts; at most 127 fit (choose a lower level)"
        )
    report.stats["districts"] = len(names)
    return district.astype(np.int8), names


def _sensors(arrays: dict, monitors, transformer) -> dict[str, np.ndarray]:
    """Air monitors, loop detectors on major links and smart meters (see module doc)."""
    g, r, b = arrays["grid"], arrays["roads"], arrays["buildings"]
    if monitors:
        mx, my = transformer.transform([m[0] for m in monitors], [m[1] for m in monitors])
        names = [m[2] or f"air-{k}" for k, m in enumerate(monitors)]
    else:
        mx, my, names = [], [], []
        pop, district = g["population"], g["district"]
        for k, label in enumerate(arrays["districts"]["name"]):
            inside = district == k
            if not inside.any():
                continue
            iy, ix = np.unravel_index(np.argmax(np.where(inside, pop + 1.0, 0.0)), pop.shape)
            mx.append(g["x"][ix])
            my.append(g["y"][iy])
            names.append(f"air-{label}")
    major = np.flatnonzero(r["road_class"] > 0)
    n_loops = min(LOOP_DETECTORS, -(-major.size // 4))
    loops = np.unique(np.linspace(0, major.size - 1, n_loops).round())
    loops = major[loops.astype(np.int64)]
    n_b = b["x"].size
    n_meters = min(SMART_METERS, -(-n_b // 20))
    meters = np.unique(np.linspace(0, n_b - 1, n_meters).round()).astype(np.int64)
    frm, to = r["from_node"][loops], r["to_node"][loops]
    n_air = len(names)
    return {
        "kind": np.array(
            ["air"] * n_air + ["loop"] * loops.size + ["meter"] * meters.size, dtype=object
        ),
        "name": np.array(
            names + [f"loop-{i}" for i in loops] + [f"meter-{i}" for i in meters], dtype=object
        ),
        "x": np.concatenate(
            [np.asarray(mx, float), (r["x"][frm] + r["x"][to]) / 2, b["x"][meters]]
        ),
        "y": np.concatenate(
            [np.asarray(my, float), (r["y"][frm] + r["y"][to]) / 2, b["y"][meters]]
        ),
        "target": np.concatenate([np.full(n_air, -1), loops, meters]).astype(np.int64),
    }
