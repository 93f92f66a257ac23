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
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import xarray as xr
import zarr.codecs

from twin.city import GROUPS, SCHEMA_VERSION, City
from twin.errors import InputError

GRID_CHUNK = 512
TABLE_CHUNK = 65536
_COMPRESSORS = (zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),)
_UNSAFE_CODECS = ("pickle", "object", "msgpack", "json")  # codecs that decode to Python objects


def _encoding(ds: xr.Dataset) -> dict[str, dict]:
    enc = {}
    for name, var in ds.variables.items():
        chunks = tuple(
            min(size, GRID_CHUNK if dim in ("x", "y") else TABLE_CHUNK)
            for dim, size in var.sizes.items()
        )
        enc[name] = {"chunks": chunks}
        if var.dtype.kind != "O":
            enc[name]["compressors"] = _COMPRESSORS
    return enc


def save_city(city: City, path: str | Path) -> Path:
    """Write ``city`` to a new Zarr v3 store at ``path`` (an existing store there is replaced)."""
    path = Path(path)
    if path.exists():
        if not (path / "zarr.json").is_file():
            raise InputError(f"{path} exists and is not a Zarr store; refusing to overwrite it")
        shutil.rmtree(path)
    encoding = {f"/{g}": _encoding(city.tree[g].to_dataset()) for g in GROUPS}
    city.tree.to_zarr(path, mode="w", zarr_format=3, consolidated=False, encoding=encoding)
    return path


def check_store(path: str | Path) -> Path:
    """Refuse paths that are not Zarr stores, and stores that use object/pickle codecs."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    root_meta = path / "zarr.json"
    if not root_meta.is_file():
        hint = (
            " (a Zarr v2 store; this twin writes and reads Zarr v3)"
            if (path / ".zgroup").exists()
            else ""
        )
        raise InputError(f"{path} is not a Zarr v3 store: no zarr.json at its root{hint}")
    for meta in [*path.rglob("zarr.json"), *path.rglob(".zarray")]:
        try:
            doc = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(f"{meta}: unreadable Zarr metadata ({err})") from None
        bad = _unsafe_codecs(doc)
        if bad:
            raise InputError(
                f"{path}: array {meta.parent.relative_to(path)} uses the codec(s) {bad}, which "
                "decode to arbitrary Python objects (reading them could run code); refused"
            )
    return path


def _unsafe_codecs(doc: dict) -> list[str]:
    codecs = list(doc.get("codecs") or []) + list(doc.get("filters") or [])
    if doc.get("compressor"):
        codecs.append(doc["compressor"])
    if doc.get("dtype") in ("|O", "O"):
        codecs.append({"id": "object dtype"})
    names = [str(c.get("name") or c.get("id") or "") for c in codecs if isinstance(c, dict)]
    return [n for n in names if any(u in n.lower() for u in _UNSAFE_CODECS)]


def _as_written(ds: xr.Dataset) -> xr.Dataset:
    """Load ``ds``; Zarr hands strings back as NumPy StringDType, we write object arrays."""
    ds = ds.load()
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "T":
            ds[name] = var.astype(object)
    return ds


def open_city(path: str | Path) -> City:
    """Open a city store written by :meth:`City.save` (fully loaded into memory).

    Raises
    ------
    InputError
        If ``path`` is not a Zarr v3 store, uses unsafe codecs, lacks a group, or
        was written with a newer schema than this version of the twin reads.
    """
    path = check_store(path)
    root = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
    attrs = root.get("attributes", {})
    if "schema_version" not in attrs:
        raise InputError(f"{path}: root attribute schema_version is missing; not a city store")
    version = attrs["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise InputError(
            f"{path}: schema_version={version!r} is not supported; this twin reads "
            f"schema_version 1 to {SCHEMA_VERSION} (upgrade the twin to open newer stores)"
        )
    missing = [g for g in GROUPS if not (path / g / "zarr.json").is_file()]
    if missing:
        raise InputError(f"{path}: missing group(s) {missing}; a city store has {list(GROUPS)}")
    tree = xr.open_datatree(path, engine="zarr", zarr_format=3, consolidated=False)
    city_tree = xr.DataTree.from_dict({f"/{g}": _as_written(tree[g].to_dataset()) for g in GROUPS})
    city_tree.attrs = dict(tree.attrs)
    tree.close()
    return City(city_tree)
