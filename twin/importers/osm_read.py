"""Streaming reads of an OpenStreetMap file (PBF or XML) with pyosmium.

Two passes, neither of which holds the file: the first keeps the car roads (node ids and
coordinates of their ways, parsed tags), traffic signals, air-quality stations and river
lines; the second, once the grid is known, turns buildings into small records (chunks of
footprints are projected and measured together) and rasterizes land-use and boundary
polygons straight onto the grid. Multipolygons are assembled by pyosmium's area handler
(outer and inner rings, so holes are respected). Node locations are cached by pyosmium's
``flex_mem`` index, 8-16 bytes per node of the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.citygen import BUILDING_USE, LAND_USE
from twin.errors import InputError
from twin.importers.osm_grid import Grid
from twin.importers.osm_tags import (
    BUILDING_KEYS,
    ROAD_KEYS,
    Defaults,
    building_height,
    pick,
    road_attributes,
)

GEO_HINT = "importing OpenStreetMap needs the 'geo' extra: pip install 'gwangju-twin[geo]'"
LOCATIONS = "flex_mem"
CHUNK = 20_000  # building footprints projected and measured at once
_UNDEFINED = 2**31 - 1  # osmium's undefined coordinate
# where polygons overlap, the class of higher priority wins (see osm_defaults.toml)
_PRIORITY = {
    name: rank
    for rank, name in enumerate(
        ("cropland", "residential", "commercial", "industrial", "airport", "forest", "water"),
        start=1,
    )
}
PRIORITY = np.array([_PRIORITY[name] for name in LAND_USE], dtype=np.int8)


def osmium_module():
    """pyosmium, or an ImportError that says which extra to install."""
    try:
        import osmium
        import scipy  # noqa: F401
        import shapely  # noqa: F401
    except ImportError:
        raise ImportError(GEO_HINT) from None
    return osmium


@dataclass
class Roads:
    """Car-road ways of the file: vertices flat, ``start`` offsets, attributes per way."""

    way_id: np.ndarray  # (way,)
    start: np.ndarray  # (way + 1,) into the vertex arrays
    node_id: np.ndarray  # (vertex,)
    lon: np.ndarray  # (vertex,) NaN where the file lacks the node
    lat: np.ndarray
    highway: np.ndarray  # (way,) index into the defaults' highway classes
    direction: np.ndarray  # (way,) +1, -1 or 0 (both ways)
    lanes: np.ndarray  # (way, 2) forward, backward
    speed_mps: np.ndarray  # (way, 2)
    source: np.ndarray  # (way, 2) bits of /roads/source
    signals: np.ndarray  # OSM ids of highway=traffic_signals nodes
    monitors: list[tuple[float, float, str]]  # air-quality stations (lon, lat, name)
    waterways: list[np.ndarray]  # (k, 2) lon/lat lines


def _open_error(path: Path, err: Exception) -> InputError:
    return InputError(
        f"{path}: not a readable OpenStreetMap file (.osm.pbf, .osm, .osm.bz2, .osm.gz) ({err})"
    )


def read_roads(path: Path, defaults: Defaults, fixes: Counter, skipped: Counter) -> Roads:
    """First pass: car roads, signals, air monitors and river lines (lon/lat)."""
    osmium = osmium_module()
    classes = list(defaults.highway)
    waterways = set(defaults.land_use.waterways)
    ways, attrs, vertices = [], [], []
    signals, monitors, rivers = [], [], []
    fp = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations(LOCATIONS)
        .with_filter(osmium.filter.KeyFilter("highway", "waterway", "man_made"))
    )
    try:
        for obj in fp:
            tags = obj.tags
            if obj.is_node():
                if tags.get("highway") == "traffic_signals":
                    signals.append(obj.id)
                elif (
                    tags.get("man_made") == "monitoring_station"
                    and tags.get("monitoring:air_quality") == "yes"
                    and obj.location.valid()
                ):
                    monitors.append((obj.location.lon, obj.location.lat, tags.get("name", "")))
                continue
            if tags.get("waterway") in waterways:
                xy = np.array([(n.x, n.y) for n in obj.nodes], dtype=np.int64).reshape(-1, 2)
                xy = xy[xy[:, 0] != _UNDEFINED] * 1e-7
                if len(xy) >= 2:
                    rivers.append(xy)
            value = tags.get("highway")
            if value is None:
                continue
            if value not in defaults.highway:
                skipped[f"highway={value}"] += 1
                continue
            if tags.get("area") == "yes" or len(obj.nodes) < 2:
                skipped["highway areas and ways of one node"] += 1
                continue
            if tags.get("access") in ("no", "private") or "no" in (
                tags.get("motor_vehicle"),
                tags.get("motorcar"),
            ):
                skipped["roads closed to cars (access, motor_vehicle)"] += 1
                continue
            direction, sides = road_attributes(
                pick(tags, ROAD_KEYS), defaults.highway[value], defaults.maxspeed, fixes
            )
            ways.append((obj.id, classes.index(value), direction))
            attrs.append(sides)
            vertices.append(np.array([(n.ref, n.x, n.y) for n in obj.nodes], dtype=np.int64))
    except (RuntimeError, ValueError) as err:  # pyosmium's parse errors
        raise _open_error(path, err) from None

    flat = np.concatenate(vertices) if vertices else np.zeros((0, 3), np.int64)
    missing = flat[:, 1] == _UNDEFINED
    if missing.any():
        fixes["road nodes missing from the extract: their segments dropped"] += int(missing.sum())
    lon = np.where(missing, np.nan, flat[:, 1] * 1e-7)
    lat = np.where(missing, np.nan, flat[:, 2] * 1e-7)
    table = np.array(ways, dtype=np.int64).reshape(-1, 3)
    sides = np.array(attrs, dtype=np.float64).reshape(-1, 2, 3)
    return Roads(
        way_id=table[:, 0],
        start=np.concatenate([[0], np.cumsum([len(v) for v in vertices])]).astype(np.int64),
        node_id=flat[:, 0],
        lon=lon,
        lat=lat,
        highway=table[:, 1],
        direction=table[:, 2].astype(np.int8),
        lanes=sides[:, :, 0].astype(np.int8),
        speed_mps=sides[:, :, 1],
        source=sides[:, :, 2].astype(np.int8),
        signals=np.unique(np.array(signals, dtype=np.int64)),
        monitors=monitors,
        waterways=rivers,
    )


@dataclass
class Areas:
    """What the second pass found: building records and rasters on the grid."""

    buildings: dict[str, list[np.ndarray]] = field(default_factory=dict)
    land_use: np.ndarray | None = None  # (y, x) int8 class, -1 where no polygon
    district: np.ndarray | None = None  # (y, x) int16 boundary index, -1 outside all
    district_names: list[str] = field(default_factory=list)


class _Chunks:
    """Buffers polygons (WKB, lon/lat) with a row of values each, and hands them on
    projected to metres a chunk at a time (``take``)."""

    def __init__(self, project):
        self.project = project
        self.wkb: list[str] = []
        self.rows: list[tuple] = []

    def add(self, wkb: str, *row) -> None:
        self.wkb.append(wkb)
        self.rows.append(row)
        if len(self.wkb) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        import shapely

        if self.wkb:
            geoms = shapely.transform(shapely.from_wkb(self.wkb), self.project)
            rows, self.wkb, self.rows = self.rows, [], []
            self.take(geoms, rows)

    def take(self, geoms, rows: list[tuple]) -> None:
        raise NotImplementedError


class _Footprints(_Chunks):
    """Building footprints, measured: rows are (osm id, height, storeys, source, use)."""

    def __init__(self, grid: Grid, project, out: dict[str, list[np.ndarray]], fixes: Counter):
        super().__init__(project)
        self.grid, self.out, self.fixes = grid, out, fixes

    def take(self, geoms, rows) -> None:
        import shapely

        values = np.array(rows, dtype=np.float64)
        area = shapely.area(geoms)
        centre = shapely.get_coordinates(shapely.centroid(geoms))
        xmin, ymin, xmax, ymax = shapely.bounds(geoms).T
        _, _, inside = self.grid.index(centre[:, 0], centre[:, 1])
        good = area > 0
        self.fixes["buildings without a footprint area (degenerate polygons), dropped"] += int(
            (~good).sum()
        )
        self.fixes["buildings outside the city's grid, dropped"] += int((good & ~inside).sum())
        keep = good & inside
        # an axis-aligned box of the footprint's area and its bounding box's proportions
        scale = np.sqrt(area / np.maximum((xmax - xmin) * (ymax - ymin), 1e-9))
        f4 = np.float32
        columns = {  # in the dtypes of /buildings, so the records stay small
            "x": centre[:, 0],
            "y": centre[:, 1],
            "width": ((xmax - xmin) * scale).astype(f4),
            "depth": ((ymax - ymin) * scale).astype(f4),
            "floor_area": (area * values[:, 2]).astype(f4),
            "osm_id": values[:, 0].astype(np.int64),
            "height": values[:, 1].astype(f4),
            "height_source": values[:, 3].astype(np.int8),
            "use": values[:, 4].astype(np.int8),
        }
        for name, column in columns.items():
            self.out.setdefault(name, []).append(column[keep])


class _Polygons(_Chunks):
    """Land-use and boundary polygons, rasterized: rows are (land-use class, district name)."""

    def __init__(self, grid: Grid, project, areas: Areas):
        super().__init__(project)
        self.grid, self.areas = grid, areas
        self.priority = np.zeros(grid.shape, dtype=np.int8)

    def take(self, geoms, rows) -> None:
        a = self.areas
        for polygon, (land_use, district_name) in zip(geoms, rows, strict=True):
            iy, ix = self.grid.cells_in(polygon)
            if land_use is not None:
                rank = PRIORITY[land_use]
                win = self.priority[iy, ix] < rank
                a.land_use[iy[win], ix[win]] = land_use
                self.priority[iy[win], ix[win]] = rank
            free = a.district[iy, ix] < 0
            if district_name is not None and free.any():
                a.district[iy[free], ix[free]] = len(a.district_names)
                a.district_names.append(district_name)


def read_areas(
    path: Path,
    grid: Grid,
    project,
    defaults: Defaults,
    fixes: Counter,
    admin_level: int | None = None,
) -> Areas:
    """Second pass: buildings, land-use and (with ``admin_level``) boundary polygons.

    ``project`` maps an (n, 2) array of lon/lat to projected metres.
    """
    osmium = osmium_module()

    areas = Areas(
        land_use=np.full(grid.shape, -1, dtype=np.int8),
        district=np.full(grid.shape, -1, dtype=np.int16),
    )
    footprints = _Footprints(grid, project, areas.buildings, fixes)
    polygons = _Polygons(grid, project, areas)
    wkb = osmium.geom.WKBFactory()
    admin = None if admin_level is None else str(admin_level)

    def visit(area) -> None:
        tags = area.tags
        building = tags.get("building")
        building = None if building == "no" else building
        land_use = defaults.land_use_of(tags)
        boundary = (
            admin is not None
            and tags.get("boundary") == "administrative"
            and tags.get("admin_level") == admin
        )
        if building is None and land_use is None and not boundary:
            return
        try:
            geom = wkb.create_multipolygon(area)
        except RuntimeError:
            fixes["polygons with broken geometry, skipped"] += 1
            return
        osm_id = area.orig_id() if area.from_way() else -area.orig_id()
        if building is not None:
            height, levels, source, use = building_height(
                pick(tags, BUILDING_KEYS), defaults, fixes
            )
            footprints.add(
                geom, osm_id, height, levels, source, BUILDING_USE.index(use) if use else -1
            )
        if land_use is not None or boundary:
            name = (tags.get("name") or f"boundary {osm_id}") if boundary else None
            polygons.add(geom, land_use, name)

    class Handler(osmium.SimpleHandler):
        # only `area` is defined, so only assembled areas reach Python, one at a time
        def area(self, area) -> None:
            visit(area)

    try:
        Handler().apply_file(
            str(path),
            locations=True,
            idx=LOCATIONS,
            filters=[osmium.filter.KeyFilter(*defaults.area_keys)],
        )
    except (RuntimeError, ValueError) as err:  # pyosmium's parse errors
        raise _open_error(path, err) from None
    footprints.flush()
    polygons.flush()
    return areas
