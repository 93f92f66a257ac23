"""Zarr v3 layout of city (and run) stores: the only module that knows it.

Encoding choices
----------------
* Grids are chunked 512 x 512 cells (1 MiB of float32): a 100 m Gwangju is a
  single chunk, a 25 m one a handful, and tiled runs can write ``y/x`` regions
  that are whole chunks.
* 1-D tables (buildings, links, sensors) are chunked 65,536 rows: one chunk for
  Gwangju, bounded memory for much larger cities.
* Compression is Blosc-zstd level 3 with byte shuffle: shuffle groups the
  exponent bytes of floats, roughly halving the size of smooth fields against
  plain zstd at a decompression speed that never limits reading.
* Strings use Zarr's ``vlen-utf8`` codec. Pickle/object codecs are never written,
  and stores that use them are refused on open: decoding them runs arbitrary code.
* Every array ends its codec chain with Zarr v3's ``crc32c`` checksum, and every chunk
  is written, even one that equals the fill value (``write_empty_chunks``), so damage
  (a deleted or truncated chunk) is found and named, never read as data.
* Stores are untrusted input: :mod:`twin.storeguard` checks folders, metadata and the
  chunks a command reads before Zarr or xarray decode any of them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar

import numpy as np
import xarray as xr
import zarr
import zarr.codecs

from twin import atomic, storeguard
from twin.errors import InputError
from twin.fingerprint import check_fingerprints
from twin.schema import GROUPS, SCHEMA_VERSION

GRID_CHUNK = 512
TABLE_CHUNK = 65536
_CRC = zarr.codecs.Crc32cCodec()  # last in every chain: damage is detected on read
_COMPRESSORS = (zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"), _CRC)
# restarts are written often and read once: the fastest codec (LZ4 with shuffle)
_RESTART_COMPRESSORS = (zarr.codecs.BloscCodec(cname="lz4", clevel=1, shuffle="shuffle"), _CRC)
_STRING_COMPRESSORS = (zarr.codecs.ZstdCodec(level=3), _CRC)
RUN_KIND = "run"
RESTART = ".restart"  # the runner's private resume state: a hidden group, out of the user's way
# Label coordinates of the city's table dimensions: the row index by which other variables
# refer to a row (from_node/to_node, a sensor's target, a building's district), so
# ``sel(link=412)`` picks what ``from_node``, ``target`` and the CLI call link 412.
LABELS = {
    "node": ("roads", "node index (the numbering of /roads from_node and to_node)"),
    "link": ("roads", "link index (the numbering of loop sensors' target)"),
    "building": ("buildings", "building index (the numbering of meter sensors' target)"),
    "district": ("districts", "district index (the numbering of the district variables)"),
    "sensor": ("sensors", "sensor index"),
}


def _encoding(ds: xr.Dataset) -> dict[str, dict]:
    enc = {}
    for name, var in ds.variables.items():
        chunks = tuple(
            min(size, GRID_CHUNK if dim in ("x", "y") else TABLE_CHUNK)
            for dim, size in var.sizes.items()
        )
        enc[name] = {
            "chunks": chunks,
            "compressors": _STRING_COMPRESSORS if var.dtype.kind in "OUT" else _COMPRESSORS,
        }
    return enc


def with_labels(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with an integer label coordinate (0, 1, ...) on each :data:`LABELS`
    dimension that has none."""
    return ds.assign_coords(
        {
            dim: (dim, np.arange(n, dtype=np.int64), {"units": "1", "long_name": LABELS[dim][1]})
            for dim, n in ds.sizes.items()
            if dim in LABELS and dim not in ds.coords
        }
    )


def save_city(tree: xr.DataTree, path: str | Path) -> Path:
    """Write a city's tree to a new Zarr v3 store at ``path`` (a city store there is
    replaced; anything else is refused)."""
    path = Path(path)
    _replaceable(path, "city")
    encoding = {f"/{g}": _encoding(tree[g].to_dataset()) for g in GROUPS}
    tree.to_zarr(
        path,
        mode="w",
        zarr_format=3,
        consolidated=False,
        encoding=encoding,
        write_empty_chunks=True,
    )
    return path


def store_kind(path: Path) -> str | None:
    """``"run"``, ``"city"``, or None when ``path`` holds no store of ours."""
    try:
        attrs = _root_attrs(path)
    except (OSError, ValueError):
        return None
    if attrs.get("kind") == RUN_KIND:
        return RUN_KIND
    return "city" if "schema_version" in attrs else None


def _replaceable(path: Path, kind: str, remove: bool = True) -> None:
    """Remove a store of ``kind`` at ``path`` (or, with ``remove=False``, only check
    that it may be replaced); refuse to delete anything else."""
    if not os.path.lexists(path):
        return
    found = store_kind(path)
    if found != kind:
        what = f"a {found} store" if found else "not a store written by this twin"
        raise InputError(
            f"{path} exists and is {what}; refusing to replace it with a {kind} store "
            "(choose another path or delete it yourself)"
        )
    if remove:
        shutil.rmtree(path)


def check_store(path: str | Path) -> Path:
    """Refuse paths that are not Zarr v3 stores of safe, bounded make (see
    :func:`twin.storeguard.scan`): object/pickle codecs, links, FIFOs and devices,
    unexpected dtypes, huge declared shapes or chunks, malformed metadata."""
    return storeguard.scan(path).root


def _as_written(ds: xr.Dataset) -> xr.Dataset:
    """Load ``ds``; Zarr hands strings back as NumPy StringDType, we write object arrays."""
    ds = ds.load()
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "T":
            ds[name] = var.astype(object)
    return ds


def read_city(path: str | Path) -> xr.DataTree:
    """The city tree of a city store, or of a run store's ``/city`` (see
    :func:`twin.open_city`, which raises the same errors)."""
    # what a run or ensemble store holds beside /city is not read here: with many
    # members or output steps, walking it would cost each reader of the city more
    scan = storeguard.scan(path, skip=("state", "kpi", "members", "forcing", RESTART, "services"))
    path = scan.root
    prefix = ""
    if scan.groups.get("", {}).get("kind") == RUN_KIND:
        prefix = "city/"
        if "city" not in scan.groups:
            raise InputError(f"{path}: run store without its /city group")
    attrs = scan.groups.get(prefix.rstrip("/"), {})
    if "schema_version" not in attrs:
        raise InputError(f"{path}: root attribute schema_version is missing; not a city store")
    version = attrs["schema_version"]
    if type(version) is not int or not 1 <= version <= SCHEMA_VERSION:
        raise InputError(
            f"{path}: schema_version={version!r} is not supported; this twin reads "
            f"schema_version 1 to {SCHEMA_VERSION} (upgrade the twin to open newer stores)"
        )
    storeguard.verify_city(scan, prefix)
    base = path / prefix if prefix else path

    def load():
        tree = xr.open_datatree(base, engine="zarr", zarr_format=3, consolidated=False)
        city = xr.DataTree.from_dict(
            {f"/{g}": with_labels(_as_written(tree[g].to_dataset())) for g in GROUPS}
        )
        city.attrs = dict(tree.attrs)
        tree.close()
        return city

    return storeguard.read_guarded(scan, f"the city {prefix or '/'}", load)


def _root_attrs(path: Path) -> dict:
    """The root attributes, read with the guard's bounds (no link, FIFO or huge file)."""
    meta = path / "zarr.json"
    size = os.stat(meta, follow_symlinks=False).st_size
    doc = json.loads(storeguard.read_bounded(meta, size, storeguard.MAX_METADATA_BYTES, "metadata"))
    attrs = doc.get("attributes", {}) if isinstance(doc, dict) else {}
    return attrs if isinstance(attrs, dict) else {}


# ---------------------------------------------------------------- run stores
Layout = dict[str, dict[str, tuple[tuple[str, ...], tuple[int, ...], dict]]]
RestartLayout = dict[str, dict[str, tuple[tuple[str, ...], tuple[int, ...], str]]]


def _update_root_attrs(path: Path, **changes) -> None:
    meta = path / "zarr.json"
    doc = json.loads(meta.read_text(encoding="utf-8"))
    doc["attributes"].update(changes)
    atomic.write_json(meta, doc)


def _chunks(dims: tuple[str, ...], shape: tuple[int, ...], grid_chunk: int = GRID_CHUNK
            ) -> tuple[int, ...]:
    """One chunk per table, grids in ``grid_chunk`` squares; a chunk side is at least 1
    (Zarr's regular grid asks for positive chunk sides; the store guard allows 0 only along
    an empty axis, as xarray writes it), so a dimension of length 0 (a day without flights)
    gets a valid chunk shape."""
    return tuple(
        min(n, grid_chunk) if d in ("x", "y") else max(n, 1)
        for d, n in zip(dims, shape, strict=True)
    )


def check_entries(target: Path, layouts: Layout, lead: dict[str, int], grid_chunk: int = GRID_CHUNK
                  ) -> None:  # fmt: skip
    """Refuse, before anything is written, a store whose output chunks and their folders
    would pass the store guard's limit of files and folders (no reader would open it).

    ``lead``: the leading dims of every output array and their lengths, e.g.
    ``{"time": 96}`` or ``{"member": 8, "time": 96}``."""
    total = 0
    for variables in layouts.values():
        for dims, shape, _ in variables.values():
            chunks = _chunks(dims, shape, grid_chunk)
            counts = [*lead.values(), *(-(-n // c) for n, c in zip(shape, chunks, strict=True))]
            # c/, a folder per chunk key prefix, a file per chunk
            total += 1 + sum(math.prod(counts[:j]) for j in range(1, len(counts) + 1))
    if total > storeguard.MAX_ENTRIES:
        names = {"member": "members", "time": "output steps"}
        sizes = " x ".join(f"{n:,} {names.get(d, d)}" for d, n in lead.items())
        more = ", fewer members or several ensemble stores" if "member" in lead else ""
        raise InputError(
            f"{target}: the outputs ({sizes}) would take {total:,} files and folders, "
            f"more than the {storeguard.MAX_ENTRIES:,} a store may hold; use a longer "
            f"output_interval or a shorter duration{more}"
        )


def grid_chunk_of(path: str | Path, group: str) -> int:
    """The ``y/x`` chunk length [cells] of the grids of ``group`` in the run store at
    ``path`` (its first variable with an ``x`` dimension)."""
    grp = zarr.open_group(Path(path) / group, mode="r", zarr_format=3)
    for _, arr in grp.arrays():
        dims = arr.metadata.dimension_names or ()
        if "x" in dims:
            return int(arr.chunks[dims.index("x")])
    raise InputError(f"{path}: group {group!r} holds no grid (no array with an x dimension)")


def write_region(path: str | Path, group: str, k: int, rows: tuple[int, int],
                 cols: tuple[int, int], values: dict[str, np.ndarray]) -> None:
    """Output step ``k`` of a ``y/x`` region (``rows`` x ``cols``, half-open, whole
    chunks) of the grids ``values`` of ``group`` in the run store at ``path``: what one
    tile's worker writes (:mod:`twin.tiles`); the driver moves the completion marker."""
    grp = zarr.open_group(Path(path) / group, mode="r+", zarr_format=3)
    for name, v in values.items():
        arr = grp[name].with_config({"write_empty_chunks": True})
        arr[k, ..., slice(*rows), slice(*cols)] = v


def time_attrs(units: str, utc_offset_hours: float | None = None) -> dict[str, dict]:
    """CF attributes of a run's ``time`` and ``local_time`` coordinates.

    ``time`` is CF time in ``units`` (``seconds since <start with its UTC offset>``), so
    it decodes to UTC instants; ``local_time`` holds the same seconds counted from the
    start on the city's wall clock (``utc_offset_hours``, default the start's offset), so
    it decodes to the city's clock: 08:00 KST reads 08:00, not 23:00 the day before.
    Both carry the offset as ``utc_offset`` (``"+09:00"``).
    """
    start = datetime.fromisoformat(units.removeprefix("seconds since "))
    if utc_offset_hours is not None:
        start = start.astimezone(timezone(timedelta(hours=float(utc_offset_hours))))
    offset = start.isoformat()[-6:]
    common = {"calendar": "proleptic_gregorian", "utc_offset": offset}
    return {
        "time": {
            "units": units,
            **common,
            "standard_name": "time",
            "long_name": "time (UTC once decoded; local_time is the city's clock)",
        },
        "local_time": {
            "units": f"seconds since {start.replace(tzinfo=None).isoformat()}",
            **common,
            "long_name": f"local time in the city (UTC{offset})",
        },
    }


def _write(grp: zarr.Group, name: str, dims: tuple[str, ...], values, attrs: dict) -> None:
    """A small array written whole (coordinates, forcing)."""
    values = np.asarray(values)
    text = values.dtype.kind in "OUST"
    arr = grp.create_array(
        name,
        shape=values.shape,
        dtype=str if text else values.dtype,
        dimension_names=dims,
        attributes=attrs,
        compressors=_STRING_COMPRESSORS if text else _COMPRESSORS,
        config={"write_empty_chunks": True},
    )
    arr[...] = values.astype(str) if text else values


def _write_coords(grp: zarr.Group, coords: dict[str, tuple]) -> None:
    """Coordinates of a group; those that are not a dimension's own are named in the
    group's CF ``coordinates`` attribute, so xarray reads them as coordinates."""
    for name, (dims, values, attrs) in coords.items():
        _write(grp, name, dims, values, attrs)
    auxiliary = [k for k, (dims, _, _) in coords.items() if dims != (k,)]
    if auxiliary:
        grp.attrs["coordinates"] = " ".join(auxiliary)


def _output_time(root: zarr.Group) -> zarr.Array:
    """The output ``time`` of a run store (every ``/state`` group has the same)."""
    return next(root["state"].groups())[1]["time"]


def _times(seconds: np.ndarray, attrs: dict[str, dict]) -> dict[str, tuple]:
    return {name: (("time",), seconds, a) for name, a in attrs.items()}


def _labels(city: xr.DataTree, dims: set[str]) -> dict[str, tuple]:
    """Label coordinates of ``dims`` from the city (district names too)."""
    coords = {}
    for dim in sorted(dims & set(LABELS)):
        table = with_labels(city[LABELS[dim][0]].to_dataset())
        coords[dim] = ((dim,), table[dim].values, dict(table[dim].attrs))
        if dim == "district":
            coords["district_name"] = ((dim,), table["name"].values, {"long_name": "district name"})
    return coords


def start_run_store(path: Path, city: xr.DataTree) -> zarr.Group:
    """A new run store in the (new or temporary) folder ``path`` holding the static city,
    its root marked ``layout_complete = False`` until the caller has written the rest;
    every chunk is written, even one equal to the fill value (a missing chunk is damage)."""
    root = zarr.open_group(path, mode="w", zarr_format=3)
    atomic.creation_step("root group")
    # kind first (so a half-made store can be replaced), layout_complete last
    root.attrs.update({"kind": RUN_KIND, "layout_complete": False})
    atomic.creation_step("store kind")
    for g in GROUPS:
        ds = with_labels(city[g].to_dataset())
        ds.to_zarr(
            path,
            group=f"city/{g}",
            mode="w",
            zarr_format=3,
            consolidated=False,
            encoding=_encoding(ds),
            write_empty_chunks=True,
        )
        atomic.creation_step(f"city/{g}")
    zarr.open_group(path / "city", mode="r+", zarr_format=3).attrs.update(dict(city.attrs))
    atomic.creation_step("city attributes")
    return root


class RunStore:
    """The Zarr v3 store of one run (the layout is documented in ``docs/store.md``).

    Layout: ``/city/<group>`` (the static city), ``/state/<model>/<var>`` with a
    leading ``time`` dimension pre-allocated for the whole run and chunked one
    output step per chunk (so each snapshot is a chunk-aligned region write, and
    ensemble ``member`` or tile ``y/x`` regions can be written the same way),
    ``/forcing`` (the weather of every coupling step), ``/.restart/<model>/<var>`` (each
    model state variable with the dims of its ``STATE`` table and a leading ``slot`` of 2:
    the states at the last two restart points, alternating, one chunk per slot, so a crash
    while writing one leaves the other intact), ``/kpi`` (scalars), ``/services/<name>``.
    Every group opened alone is self-describing: its own ``time`` and ``local_time``
    coordinates (:func:`time_attrs`) and label coordinates of its table dimensions
    (:data:`LABELS`). The root attributes ``completed_outputs`` (output steps written) and
    ``restart_outputs`` with ``restart_slot`` (the output step of the latest complete
    restart and its slot) are the completion markers, replaced atomically after each
    write, so a store killed at any moment opens, holds every completed output step, and
    resumes from its latest restart. :meth:`finish` consolidates the metadata.

    Arrays are opened once and their handles kept: reopening them for every write costs
    more than the write.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.group = zarr.open_group(self.path, mode="r+", zarr_format=3)
        self._handles: dict[str, zarr.Array] = {}

    def _array(self, name: str) -> zarr.Array:
        if name not in self._handles:  # every chunk written, even one equal to the fill
            self._handles[name] = self.group[name].with_config({"write_empty_chunks": True})
        return self._handles[name]

    # -- creation / reopening
    @classmethod
    def create(
        cls,
        path: str | Path,
        city: xr.DataTree,
        attrs: dict,
        times_s: np.ndarray,
        time_units: str,
        layouts: Layout,
        coords: dict[str, dict[str, tuple[tuple[str, ...], np.ndarray, dict]]],
        restart: RestartLayout | None = None,
        forcing: tuple[np.ndarray, dict[str, tuple[np.ndarray, dict]]] | None = None,
        grid_chunk: int = GRID_CHUNK,
    ) -> RunStore:
        """Create a run store.

        ``times_s``: output times [s since the start] in ``time_units``;
        ``layouts[model][var] = (dims without time, shape without time, attrs)``;
        ``coords[model][name] = (dims, values, attrs)`` for each state group (label
        coordinates of the city's dims are added);
        ``restart[model][var] = (dims, shape, dtype)`` of each restart variable;
        ``forcing = (times [s since the start], {name: (values, attrs)})``: the weather.
        ``attrs`` may give ``utc_offset_hours``, the city's clock (default: the start's).
        ``grid_chunk``: the ``y/x`` chunk length [cells] of the state grids.

        The store is built in a temporary folder beside ``path`` and renamed into place
        when complete (see :func:`twin.atomic.finish_creation`); the caller holds the
        writer lock.
        """
        target = Path(path)
        _replaceable(target, RUN_KIND, remove=False)
        check_entries(target, layouts, {"time": len(times_s)}, grid_chunk)

        def write(work: Path) -> None:
            cls._write_layout(
                work, city, attrs, times_s, time_units, layouts, coords, restart, forcing,
                grid_chunk,
            )

        return cls(atomic.create(target, write))

    @staticmethod
    def _write_layout(path, city, attrs, times_s, time_units, layouts, coords, restart, forcing,
                      grid_chunk=GRID_CHUNK):
        """The layout of :meth:`create`, written into the (temporary) folder ``path``."""
        root = start_run_store(path, city)
        clock = time_attrs(time_units, attrs.get("utc_offset_hours"))
        state = root.require_group("state")
        n = times_s.size
        for model, variables in layouts.items():
            grp = state.require_group(model)
            dims = {d for dims, _, _ in variables.values() for d in dims}
            _write_coords(grp, _times(times_s, clock) | _labels(city, dims) | coords.get(model, {}))
            for name, (dims, shape, attrs_) in variables.items():
                grp.create_array(
                    name,
                    shape=(n, *shape),
                    chunks=(1, *_chunks(dims, shape, grid_chunk)),
                    dtype="float32",
                    fill_value=np.nan,
                    dimension_names=("time", *dims),
                    attributes=attrs_,
                    compressors=_COMPRESSORS,
                )
            atomic.creation_step(f"state/{model}")
        if forcing is not None:
            seconds, series = forcing
            grp = root.require_group("forcing")
            grp.attrs["long_name"] = "the weather that drove the run, at each coupling step"
            _write_coords(grp, _times(seconds, clock))
            for name, (values, attrs_) in series.items():
                _write(grp, name, ("time",), values, attrs_)
            atomic.creation_step("forcing")
        for model, variables in (restart or {}).items():
            grp = root.require_group(f"{RESTART}/{model}")
            for name, (dims, shape, dtype) in variables.items():
                grp.create_array(
                    name,
                    shape=(2, *shape),
                    chunks=(1, *(max(n, 1) for n in shape)),  # positive chunk sides
                    dtype=dtype,
                    fill_value=0,
                    dimension_names=("slot", *dims),
                    compressors=_RESTART_COMPRESSORS,
                )
            atomic.creation_step(f"{RESTART}/{model}")
        _update_root_attrs(
            path,
            completed_outputs=0,
            restart_outputs=0,
            restart_slot=0,
            **attrs,
            layout_complete=True,
        )
        atomic.creation_step("identity and layout_complete")

    @staticmethod
    def check_resumable(path: str | Path, scenario_toml: str) -> storeguard.Scan:
        """The checks of :meth:`open_for_resume` that need no model: kind, completed
        layout, same scenario, root markers, the city (cheap, so a run refuses a bad
        store before it builds its models)."""
        scan = storeguard.scan(path)
        path = scan.root
        attrs = scan.groups[""]
        if attrs.get("kind") != RUN_KIND:
            raise InputError(f"{path} is not a run store (no kind='run' root attribute)")
        if not attrs.get("layout_complete"):
            raise InputError(
                f"{path} was interrupted while it was being created; run without --resume"
            )
        if attrs.get("scenario") != scenario_toml:
            raise InputError(
                f"{path} holds a run of a different scenario; refusing to resume it. "
                "Run without --resume to start over (this replaces the store)."
            )
        storeguard.run_attrs(scan)
        storeguard.verify_city(scan, "city/")
        return scan

    @classmethod
    def open_for_resume(
        cls,
        path: str | Path,
        scenario_toml: str,
        layouts: Layout | None = None,
        restart: RestartLayout | None = None,
        inputs: dict | None = None,
    ) -> RunStore:
        """Reopen a run store to continue it; refused if it holds another scenario, was
        made from other input files (``inputs``: their fingerprints now, see
        :mod:`twin.fingerprint`), lacks or changed an array this run writes
        (``layouts``, ``restart`` as for :meth:`create`), or is damaged in a part the
        resume reads. Leftovers of a kill (Zarr's ``*.partial`` files, a
        ``zarr.json.tmp``, a killed creation's ``<name>.creating`` beside it) are removed;
        the caller holds the writer lock."""
        scan = cls.check_resumable(path, scenario_toml)
        path = scan.root
        attrs = storeguard.run_attrs(scan)
        if inputs is not None:
            check_fingerprints(path, attrs.get("input_fingerprints"), inputs)
        n = storeguard.output_steps(scan)
        for model, variables in (layouts or {}).items():
            for name, (_, shape, _) in variables.items():
                storeguard.expect_array(scan, f"state/{model}/{name}", (n, *shape), "float32")
        for model, variables in (restart or {}).items():
            for name, (_, shape, dtype) in variables.items():
                storeguard.expect_array(
                    scan, f"{RESTART}/{model}/{name}", (2, *shape), np.dtype(dtype).name
                )
        storeguard.verify_state(scan, attrs["completed_outputs"])
        if attrs["restart_outputs"]:
            slot = attrs["restart_slot"]
            names = [f"{RESTART}/{m}/{v}" for m, vs in (restart or {}).items() for v in vs]
            storeguard.verify_chunks(scan, names, first=range(slot, slot + 1))
        for name in scan.files:
            if name.endswith((".partial", "zarr.json.tmp")):
                (path / name).unlink()
        atomic.remove_leftovers(path)  # of a creation killed while replacing this store
        # its metadata changes again (service records grow): drop the consolidated copy
        # first, so no reader trusts stale shapes; finish() writes it anew
        meta = path / "zarr.json"
        doc = json.loads(meta.read_text(encoding="utf-8"))
        if doc.pop("consolidated_metadata", None) is not None:
            atomic.write_json(meta, doc)
        return cls(path)

    @property
    def attrs(self) -> dict:
        return _root_attrs(self.path)

    def update_attrs(self, **changes) -> None:
        _update_root_attrs(self.path, **changes)

    # -- per output step
    def write_outputs(self, k: int, outputs: dict[str, dict[str, np.ndarray]]) -> None:
        """Output step ``k`` (0-based) of every model, then the marker: ``k + 1`` done."""
        for model, variables in outputs.items():
            for name, values in variables.items():
                self._array(f"state/{model}/{name}")[k] = values
        self.update_attrs(completed_outputs=k + 1)

    def write_restart(
        self, completed: int, states: dict[str, dict[str, np.ndarray]], services: str = ""
    ) -> None:
        """Save model states (and the services' state, JSON text) after ``completed``
        output steps, then mark them complete.

        The slot not holding the latest restart is overwritten; the marker moves to it
        only when every variable is written."""
        slot = 1 - int(self.attrs.get("restart_slot", 0)) if completed else 0
        for model, variables in states.items():
            for name, values in variables.items():
                self._array(f"{RESTART}/{model}/{name}")[slot] = values
        if services:
            self.group.require_group(RESTART).attrs[f"services_{slot}"] = services
        self.update_attrs(restart_outputs=completed, restart_slot=slot)

    def read_restart(
        self, layout: RestartLayout
    ) -> tuple[int, dict[str, dict[str, np.ndarray]], str]:
        """The latest restart: the output steps it follows, the states (host arrays) of
        the variables of ``layout`` (names never come from the store) and the services'
        state (JSON text, empty without services)."""
        attrs = self.attrs
        completed, slot = attrs.get("restart_outputs", 0), attrs.get("restart_slot", 0)
        if type(completed) is not int or type(slot) is not int or slot not in (0, 1):
            raise InputError(f"{self.path}: restart_outputs/restart_slot are not valid markers")
        if completed == 0:
            return 0, {}, ""
        if not (self.path / RESTART / "zarr.json").is_file():
            raise InputError(
                f"{self.path}: no {RESTART} group to resume from (a store of an older twin "
                "kept it in /restart); run without --resume to start over"
            )
        services = self._array_group(RESTART).attrs.get(f"services_{slot}", "")
        if not isinstance(services, str):
            raise InputError(f"{self.path}: restart attribute services_{slot} is not text")

        def load():
            return {
                model: {name: self._array(f"{RESTART}/{model}/{name}")[slot] for name in variables}
                for model, variables in layout.items()
            }

        return (
            completed,
            storeguard.read_guarded(storeguard.Scan(self.path), "the restart", load),
            services,
        )

    def _array_group(self, name: str) -> zarr.Group:
        return zarr.open_group(self.path / name, mode="r", zarr_format=3)

    # -- services
    _RECORD_DIMS: ClassVar[dict[str, str]] = {
        "actions": "action", "rejections": "rejection", "observations": "decision"
    }  # fmt: skip

    def write_service_records(self, records: dict[str, dict[str, list[dict]]], units: str):
        """Append each service's new rows to ``/services/<name>``: one array per column,
        ``<table>_<column>`` along ``action``, ``rejection`` or ``decision``; times in
        ``units`` (seconds since the start), ``<table>_time`` the coordinate of its table."""
        clock = None
        for name, tables in records.items():
            grp = self.group.require_group(f"services/{name}")
            for table, rows in tables.items():
                for column in rows[0] if rows else ():
                    values = np.asarray([r[column] for r in rows])
                    key = f"{table}_{'time' if column == 'time_s' else column}"
                    if key not in grp:
                        dims = (
                            self._RECORD_DIMS[table],
                            *(f"{column}_{i}" for i in range(values.ndim - 1)),
                        )
                        if clock is None:
                            clock = time_attrs(units, self.attrs.get("utc_offset_hours"))
                        attrs = (
                            clock["time"]
                            if column == "time_s"
                            else {"coordinates": f"{table}_time"}
                        )
                        grp.create_array(
                            key,
                            shape=(0, *values.shape[1:]),
                            chunks=(4096, *values.shape[1:]),
                            dtype=str if values.dtype.kind in "US" else values.dtype,
                            dimension_names=dims,
                            attributes=attrs,
                            compressors=_STRING_COMPRESSORS
                            if values.dtype.kind in "US"
                            else _COMPRESSORS,
                        )
                    grp[key].append(values)

    def write_service_summary(self, summary: dict[str, dict]) -> None:
        """Status, counts and errors of each service, as attributes of its group."""
        for name, attrs in summary.items():
            self.group.require_group(f"services/{name}").attrs.update(attrs)

    def truncate_service_records(self, before_s: float) -> None:
        """Drop the rows at or after ``before_s`` [s since the start] (a resumed run
        writes them again)."""
        if "services" not in self.group:
            return
        for _, grp in self.group["services"].groups():
            arrays = dict(grp.arrays())
            for table in self._RECORD_DIMS:
                if f"{table}_time" not in arrays:
                    continue
                keep = int(np.count_nonzero(arrays[f"{table}_time"][...] < before_s))
                for key, arr in arrays.items():
                    if key.startswith(f"{table}_"):
                        arr.resize((keep, *arr.shape[1:]))

    def write_kpis(self, kpis: xr.Dataset) -> xr.Dataset:
        """Replace ``/kpi`` with scalar KPIs, with the period they cover: a scalar ``time``
        (the end of the run) and its ``time_bounds`` (start, end); returns them as read."""
        time = _output_time(self.group)
        attrs = dict(time.attrs) | {"bounds": "time_bounds", "long_name": "end of the run"}
        bounds = {k: attrs[k] for k in ("units", "calendar", "utc_offset")}
        kpis = kpis.assign_coords(
            time=((), time[-1], attrs),
            time_bounds=(("bounds",), np.array([0, time[-1]]), bounds),
        )
        kpis.to_zarr(
            self.path,
            group="kpi",
            mode="w",
            zarr_format=3,
            consolidated=False,
            encoding={name: {"compressors": _COMPRESSORS} for name in kpis.variables},
            write_empty_chunks=True,
        )
        return read_kpis(self.path)

    def finish(self) -> None:
        """Consolidate the metadata (the run is complete): see :func:`consolidate`."""
        consolidate(self.path)

    def open(self) -> xr.DataTree:
        return open_run(self.path)


def consolidate(path: Path) -> None:
    """Consolidate a store's metadata into its root ``zarr.json``, so plain
    ``xarray.open_dataset(path, group=..., engine="zarr")`` opens any group quickly and
    without a warning."""
    with warnings.catch_warnings():  # zarr: "not part of the v3 specification" (yet)
        warnings.simplefilter("ignore", UserWarning)
        zarr.consolidate_metadata(path, zarr_format=3)


def read_kpis(path: str | Path) -> xr.Dataset:
    """The ``/kpi`` group of a finished run store."""
    scan = storeguard.scan(path)
    if "kpi" not in scan.groups:
        raise InputError(f"{scan.root}: no /kpi group; is this a finished run store?")
    names = [n for n in scan.arrays if n.startswith("kpi/")]
    storeguard.expect_numbers(scan, names)
    storeguard.verify_chunks(scan, names)

    def load():
        ds = xr.open_dataset(
            scan.root, group="kpi", engine="zarr", zarr_format=3, consolidated=False
        )
        return ds.load()

    return storeguard.read_guarded(scan, "/kpi", load)


def _status(path: Path, attrs: dict) -> str:
    """The run status, ``interrupted`` for a running run whose writer is gone (nobody
    holds its writer lock)."""
    from twin.locking import lock_holder

    status = attrs.get("status", "")
    if status == "running" and lock_holder(path) is None:
        again = "run the same sweep again" if "ensemble" in attrs else "continue it with --resume"
        return f"interrupted (its process is gone; {again})"
    return status


def run_summary(path: str | Path) -> dict[str, object]:
    """Status lines of a run store (empty for a city store)."""
    scan = storeguard.scan(path)
    if scan.groups.get("", {}).get("kind") != RUN_KIND:
        return {}
    attrs = storeguard.run_attrs(scan)
    n = storeguard.output_steps(scan)
    return {
        "scenario": attrs.get("scenario_name", ""),
        "status": _status(scan.root, attrs),
        "output steps": f"{attrs['completed_outputs']} of {n} complete",
        "backend": f"{attrs.get('backend', '')} on {attrs.get('device', '')}",
        "started": attrs.get("wall_start", ""),
        "wall time": f"{attrs['wall_seconds']:.1f} s" if "wall_seconds" in attrs else "",
        "version": attrs.get("package_version", ""),
    }


def open_run(path: str | Path) -> xr.DataTree:
    """Open a run store lazily as a DataTree, cut to its completed output steps.

    The guard checks every chunk the tree exposes first (city, completed output steps,
    forcing, KPIs, service records), so damage is reported by array and chunk."""
    scan = storeguard.scan(path)
    attrs = storeguard.run_attrs(scan)
    done = attrs["completed_outputs"]
    storeguard.verify_city(scan, "city/")
    storeguard.verify_state(scan, done)
    if attrs.get("status") == "complete" and "kpi" not in scan.groups:
        raise InputError(f"{scan.root}: a complete run without its /kpi group; damaged")
    kpis = [n for n in scan.arrays if n.startswith(("kpi/", "forcing/"))]
    storeguard.expect_numbers(scan, kpis)
    storeguard.verify_chunks(scan, kpis)
    services = [n for n in scan.arrays if n.startswith("services/")]
    storeguard.verify_chunks(scan, services, missing_ok=True)

    def load():
        tree = xr.open_datatree(scan.root, engine="zarr", zarr_format=3, consolidated=False)
        if RESTART in tree.children:  # the runner's private resume state
            tree = tree.drop_nodes(RESTART)
        for name, node in (tree["state"].children if "state" in tree.children else {}).items():
            if done < node.sizes.get("time", 0):
                tree[f"state/{name}"] = node.to_dataset().isel(time=slice(0, done))
        return tree

    return storeguard.read_guarded(scan, "the run", load)
