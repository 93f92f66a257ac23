"""``twin.City``: a thin class around the city's ``xarray.DataTree``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import xarray as xr

from sim.variables import VARIABLES
from twin import citygen, store
from twin.catalog import load_manifest
from twin.errors import InputError
from twin.schema import GROUPS, RESOLUTION_RANGE_M, SCHEMA_VERSION

# attrs of variables that are not in the shared variable table (group-specific meanings)
_LOCAL_ATTRS = {
    ("buildings", "x"): ("m", "building centre easting"),
    ("buildings", "y"): ("m", "building centre northing"),
    ("buildings", "district"): ("1", "index into /districts"),
    ("roads", "x"): ("m", "node easting"),
    ("roads", "y"): ("m", "node northing"),
    ("districts", "name"): ("1", "district name"),
    ("districts", "population"): ("1", "residents"),
    ("districts", "area"): ("m2", "area of the grid cells in the district"),
    ("sensors", "kind"): ("1", "sensor kind: air, loop or meter"),
    ("sensors", "name"): ("1", "sensor name"),
    ("sensors", "x"): ("m", "sensor easting"),
    ("sensors", "y"): ("m", "sensor northing"),
    ("sensors", "target"): ("1", "link index (loop) or building index (meter), -1 if none"),
    # cities imported from OpenStreetMap (twin.importers.osm): where each value came from
    ("roads", "source"): ("1", "where lanes and free_speed came from (bit flags)"),
    ("roads", "osm_way"): ("1", "OpenStreetMap way id of the link"),
    ("roads", "osm_node"): ("1", "OpenStreetMap node id (smallest of a joined junction)"),
    ("buildings", "height_source"): ("1", "where the height came from"),
    ("buildings", "osm_id"): ("1", "OpenStreetMap id: way if > 0, relation if < 0"),
}
_FLAGS = {
    ("grid", "land_use"): citygen.LAND_USE,
    ("buildings", "use"): citygen.BUILDING_USE,
    ("roads", "road_class"): citygen.ROAD_CLASS,
    ("buildings", "height_source"): ("height_tag", "levels_tag", "type_default"),
}
# CF bit-field flags (flag_masks): a value is the sum of the masks that apply
_MASKS = {
    ("roads", "source"): (
        "lanes_default",
        "free_speed_default",
        "lanes_tag_invalid",
        "free_speed_tag_invalid",
    ),
}
_DIMS = {
    "buildings": ("building",),
    "districts": ("district",),
    "sensors": ("sensor",),
}


class City:
    """A city: grids, buildings, roads, districts and sensors in ``city.tree``.

    Groups and names follow docs/architecture.md and docs/variables.md; every variable carries
    ``units`` and ``long_name``. Build one with :func:`build_city`, or open a saved
    one with :func:`twin.open_city`.
    """

    def __init__(self, tree: xr.DataTree):
        missing = [g for g in GROUPS if g not in tree.children]
        if missing:
            raise InputError(f"city tree lacks group(s) {missing}; a city has {list(GROUPS)}")
        self.tree = tree

    def __getitem__(self, group: str) -> xr.Dataset:
        return self.tree[group].to_dataset()

    @property
    def name(self) -> str:
        return self.tree.attrs["name"]

    @property
    def crs(self) -> str:
        return self.tree.attrs["crs"]

    @property
    def resolution_m(self) -> float:
        return float(self.tree.attrs["resolution_m"])

    @property
    def grid(self) -> xr.Dataset:
        return self["grid"]

    def save(self, path: str | Path) -> Path:
        """Write the city to a Zarr v3 store at ``path`` (replacing a city store there)."""
        return store.save_city(self.tree, path)

    def summary(self) -> dict[str, object]:
        """Headline numbers: sizes, population, network, extent."""
        g, b, r, d, s = (self[k] for k in GROUPS)
        res = self.resolution_m
        x, y = g["x"].values, g["y"].values
        sensors = Counter(str(k) for k in s["kind"].values)
        return {
            "name": self.name,
            "crs": self.crs,
            "resolution_m": res,
            "grid": f"{g.sizes['y']} x {g.sizes['x']} cells (y, x)",
            "extent_m": tuple(
                float(v) for v in (x[0] - res / 2, y[0] - res / 2, x[-1] + res / 2, y[-1] + res / 2)
            ),
            "population": float(g["population"].sum()),
            "districts": {
                str(n): int(p)
                for n, p in zip(d["name"].values, d["population"].values, strict=True)
            },
            "buildings": b.sizes["building"],
            "floor_area_km2": float(b["floor_area"].sum()) / 1e6,
            "nodes": r.sizes["node"],
            "signalized_nodes": int(r["signalized"].sum()),
            "links": r.sizes["link"],
            "road_km": float(r["length"].sum()) / 1e3 / 2,  # two directed links per road
            "sensors": dict(sensors),
            "schema_version": int(self.tree.attrs["schema_version"]),
        }

    def __repr__(self) -> str:
        return f"<City {self.name!r} at {self.resolution_m:g} m>\n{self.tree}"


def _attrs(group: str, name: str) -> dict[str, object]:
    if (group, name) in _LOCAL_ATTRS:
        units, long_name = _LOCAL_ATTRS[(group, name)]
        attrs: dict[str, object] = {"units": units, "long_name": long_name}
    else:
        attrs = {k: v for k, v in VARIABLES[name].items() if k != "dims"}
    if (group, name) in _FLAGS:
        meanings = _FLAGS[(group, name)]
        attrs["flag_values"] = list(range(len(meanings)))
        attrs["flag_meanings"] = " ".join(meanings)
    if (group, name) in _MASKS:
        meanings = _MASKS[(group, name)]
        attrs["flag_masks"] = [1 << k for k in range(len(meanings))]
        attrs["flag_meanings"] = " ".join(meanings)
    return attrs


def _dims(group: str, name: str) -> tuple[str, ...]:
    if group == "grid":
        return ("y", "x")
    if group == "roads":
        return ("node",) if name in ("x", "y", "signalized", "osm_node") else ("link",)
    return _DIMS[group]


def open_city(path: str | Path) -> City:
    """Open a city store written by :meth:`City.save`, or the city of a run store.

    Raises
    ------
    InputError
        If ``path`` is not a Zarr v3 store, uses unsafe codecs, lacks a group, or
        was written with a newer schema than this version of the twin reads.
    """
    return City(store.read_city(path))


def check_resolution(resolution_m) -> float:
    """``resolution_m`` as a float [m] in :data:`RESOLUTION_RANGE_M`, or an InputError."""
    lo, hi = RESOLUTION_RANGE_M
    try:
        resolution_m = float(resolution_m)
    except (TypeError, ValueError):
        raise InputError(f"resolution_m={resolution_m!r} is not a number") from None
    if not lo <= resolution_m <= hi:
        raise InputError(
            f"resolution_m={resolution_m:g} is out of range; allowed {lo:g} to {hi:g} m"
        )
    return resolution_m


def build_city(name_or_path: str | Path = "gwangju", resolution_m: float = 100.0, seed: int = 0):
    """Build a city from a shipped dataset name or a dataset folder.

    Parameters
    ----------
    name_or_path : dataset name (e.g. ``"gwangju"``) or path to a dataset folder
        or its ``dataset.toml``.
    resolution_m : grid cell size [m], 25 to 500.
    seed : random seed of the procedural generator.

    Returns
    -------
    City
        Identical arrays for identical arguments.
    """
    resolution_m = check_resolution(resolution_m)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed={seed!r} must be a non-negative integer")
    manifest = load_manifest(name_or_path)
    arrays = citygen.generate(manifest, resolution_m, int(seed))
    return city_from_arrays(
        arrays,
        {
            "name": manifest.name,
            "title": manifest.title,
            "crs": manifest.crs,
            "resolution_m": resolution_m,
            "source": (
                f"dataset {manifest.name} ({manifest.source}); generator twin.citygen, "
                f"resolution_m={resolution_m:g}, seed={int(seed)}"
            ),
            "seed": int(seed),
        },
    )


def city_from_arrays(arrays: dict[str, dict[str, np.ndarray]], attrs: dict) -> City:
    """A City from plain arrays per group (as :func:`twin.citygen.generate` returns them).

    Parameters
    ----------
    arrays : ``{"grid": {...}, "buildings": {...}, ...}``, names as in docs/variables.md;
        ``grid`` also holds the cell-centre coordinates ``x`` and ``y`` [m]. Consumed.
    attrs : root attributes; needs ``name``, ``crs``, ``resolution_m`` and ``source``;
        ``schema_version`` and ``Conventions`` are added.
    """
    grid = arrays.pop("grid")
    x, y = grid.pop("x"), grid.pop("y")
    coord_attrs = {"units": "m", "crs": attrs["crs"]}
    coords = {
        "x": (
            "x",
            x,
            coord_attrs | {"standard_name": "projection_x_coordinate", "long_name": "easting"},
        ),
        "y": (
            "y",
            y,
            coord_attrs | {"standard_name": "projection_y_coordinate", "long_name": "northing"},
        ),
    }
    groups = {
        "grid": xr.Dataset(
            {k: (_dims("grid", k), v, _attrs("grid", k)) for k, v in grid.items()}, coords=coords
        )
    }
    for group, variables in arrays.items():
        groups[group] = xr.Dataset(
            {k: (_dims(group, k), v, _attrs(group, k)) for k, v in variables.items()}
        )
    tree = xr.DataTree.from_dict({f"/{k}": store.with_labels(v) for k, v in groups.items()})
    tree.attrs = {
        **attrs,
        "schema_version": SCHEMA_VERSION,
        "Conventions": "CF-1.10",
    }
    return City(tree)
