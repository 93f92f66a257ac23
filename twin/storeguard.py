"""Bounded checks of a store before any of its data is read (part of :mod:`twin.store`).

A store on disk is untrusted input: someone else's run, a copy damaged in transit, or a
crafted folder. Zarr and xarray trust its metadata (they open FIFOs, follow symlinks,
allocate what a header declares, decode any dtype), so every command validates a store
here first and fails with an :class:`~twin.errors.InputError` that names the store and
the part, within bounded time and memory:

* :func:`scan` walks the folder without following links: only folders and regular
  files (no symlink, FIFO, socket or device; the store root itself may be a link),
  bounded depth and entry count, bounded metadata documents of the right JSON types;
  arrays with an allow-listed data type and codecs, bounded declared shape, chunk size
  and chunk count, and one size per dimension name across the city and state groups.
* :func:`verify_chunks` checks the chunks a command is about to read: each must exist
  (no implicit fill value for a deleted chunk), be no larger than its declared size
  allows, match its CRC-32C checksum, and declare (in its Blosc or Zstandard header) the
  decompressed size that the array metadata implies, so no decompression bomb runs.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import google_crc32c

from twin.errors import InputError

_RUN_KIND = "run"  # twin.store.RUN_KIND (that module imports this one)

__all__ = ["ArrayMeta", "Scan", "read_bounded", "scan", "unsafe_codecs", "verify_chunks"]

MAX_METADATA_BYTES = 16 << 20  # [bytes] one zarr.json (the root one holds the scenario)
MAX_ENTRIES = 500_000  # files and folders in one store
MAX_DEPTH = 24  # folder levels below the root (chunk keys included)
MAX_CHUNK_BYTES = 256 << 20  # [bytes] decoded size of one chunk
MAX_CHUNKS = 4_000_000  # chunks of one array
MAX_ELEMENTS = 1 << 40  # elements of one array
MAX_STRING_BYTES = 16  # [bytes per element] declared-chunk bound for strings, on average
NUMERIC = {
    "bool": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "uint8": 1, "uint16": 2,
    "uint32": 4, "uint64": 8, "float32": 4, "float64": 8,
}  # fmt: skip
ARRAY_BYTES_CODECS = {"bytes", "vlen-utf8"}
BYTES_CODECS = {"blosc", "zstd", "crc32c"}
# dimensions shared by the city, state, KPI and member groups: one size each in a store
SHARED_DIMS = ("x", "y", "link", "node", "building", "district", "sensor", "member")
_UNSAFE_CODECS = ("pickle", "object", "msgpack", "json")  # codecs that decode to Python objects
_STR_ATTRS = ("units", "long_name", "standard_name", "calendar", "coordinates", "flag_meanings")


def _grid(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[int]:
    """Chunks along each axis (none along an empty one, whose chunk may be 0)."""
    return [math.ceil(n / c) if n else 0 for n, c in zip(shape, chunks, strict=True)]


@dataclass
class ArrayMeta:
    """What :func:`scan` validated about one array."""

    name: str  # path inside the store, "/"-separated
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: str  # a NUMERIC key or "string"
    dims: tuple[str, ...]
    codecs: tuple[str, ...]
    separator: str

    @property
    def chunk_elements(self) -> int:
        return math.prod(self.chunks)

    def chunk_keys(self, first: range | None = None):
        """Chunk file names (relative to the array), only those holding the elements
        ``first`` of the first axis when given (the time steps written so far)."""
        grid = [range(n) for n in _grid(self.shape, self.chunks)]
        if first is not None and grid and self.chunks[0]:
            c = self.chunks[0]
            grid[0] = range(first.start // c, min(len(grid[0]), math.ceil(first.stop / c)))
        if not grid:
            yield "c"
            return
        for index in product(*grid):
            yield "c" + self.separator + self.separator.join(map(str, index))


@dataclass
class Scan:
    """A validated store: its root, group attributes and arrays, and its file sizes."""

    root: Path
    groups: dict[str, dict] = field(default_factory=dict)  # name ("" for root) -> attrs
    arrays: dict[str, ArrayMeta] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)  # "/"-separated name -> bytes

    def fail(self, part: str, problem: str) -> InputError:
        """``<store>: <part> is ...`` or ``<store>: <part>: <problem>``."""
        joined = problem.startswith(("is ", "declares ", "holds "))
        return InputError(f"{self.root}: {part}{' ' if joined else ': '}{problem}")


def unsafe_codecs(doc: dict) -> list[str]:
    """Names of object-decoding codecs anywhere in an array's metadata (nested too)."""
    names = ["object dtype"] if doc.get("dtype") in ("|O", "O") else []

    def walk(node):
        if isinstance(node, dict):
            names.extend(node[k] for k in ("name", "id") if isinstance(node.get(k), str))
            for key, value in node.items():
                if key != "attributes":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for key in ("codecs", "filters", "compressor"):
        walk(doc.get(key))
    return [n for n in names if any(u in n.lower() for u in (*_UNSAFE_CODECS, "object"))]


def read_bounded(path: Path, size: int, limit: int, what: str) -> bytes:
    if size > limit:
        raise InputError(f"{path}: {what} of {size:,} bytes is larger than the {limit:,} allowed")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{path}: not a regular file; refused")
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputError(f"{path}: {what} grew past the {limit:,} bytes allowed")
    return data


def scan(path: str | Path, skip: tuple[str, ...] = ()) -> Scan:
    """Walk and validate a store's folders and metadata; read no chunk. ``skip``: folders
    at the root left unwalked (a reader of the city needs no member or output step).

    Raises
    ------
    InputError
        Naming the store and the entry that is missing, of the wrong kind or type, or
        beyond a limit.
    """
    root = Path(path)
    try:
        mode = os.stat(root).st_mode
    except FileNotFoundError:
        raise InputError(f"{root}: no such file or directory") from None
    except OSError as err:
        raise InputError(f"{root}: cannot be read ({err.strerror})") from None
    if not stat.S_ISDIR(mode):
        raise InputError(f"{root} is not a Zarr v3 store: not a folder")
    result = Scan(root)
    metas: list[tuple[str, int]] = []
    _walk(result, root, "", 0, metas, skip)
    names = {m[0] for m in metas}
    if "zarr.json" not in names:
        hint = (
            " (a Zarr v2 store; this twin writes and reads Zarr v3)"
            if ".zgroup" in result.files
            else ""
        )
        raise InputError(f"{root} is not a Zarr v3 store: no zarr.json at its root{hint}")
    for name, size in sorted(metas):
        _metadata(result, name, size)
    _check_dims(result)
    return result


def _walk(
    result: Scan, folder: Path, prefix: str, depth: int, metas: list, skip: tuple[str, ...] = ()
) -> None:
    if depth > MAX_DEPTH:
        raise result.fail(prefix, f"folders nested deeper than {MAX_DEPTH} levels; refused")
    try:
        entries = list(os.scandir(folder))
    except OSError as err:
        raise result.fail(prefix or ".", f"cannot list the folder ({err.strerror})") from None
    for entry in entries:
        name = prefix + entry.name
        if len(result.files) + len(metas) > MAX_ENTRIES:
            raise result.fail(".", f"more than {MAX_ENTRIES:,} entries; refused")
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise result.fail(
                name,
                "is a symbolic link; stores of this twin hold none (it could point "
                "outside the store); refused",
            )
        if stat.S_ISDIR(st.st_mode):
            if name in skip:
                continue
            result.files[name + "/"] = 0
            _walk(result, Path(entry.path), name + "/", depth + 1, metas)
        elif stat.S_ISREG(st.st_mode):
            result.files[name] = st.st_size
            if entry.name in ("zarr.json", ".zarray", ".zgroup"):
                metas.append((name, st.st_size))
        else:
            raise result.fail(name, "is not a regular file (a FIFO, socket or device); refused")


def _metadata(result: Scan, name: str, size: int) -> None:
    raw = read_bounded(result.root / name, size, MAX_METADATA_BYTES, "Zarr metadata")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise result.fail(name, f"unreadable Zarr metadata ({err})") from None
    if not isinstance(doc, dict):
        raise result.fail(name, "Zarr metadata is not a JSON object")
    node = name.rpartition("/")[0]
    if not name.endswith("zarr.json"):
        bad = unsafe_codecs(doc)
        why = (
            f"uses the codec(s) {bad}, which decode to arbitrary Python objects (reading them "
            "could run code)"
            if bad
            else "holds Zarr v2 metadata inside a Zarr v3 store"
        )
        raise InputError(f"{result.root}: array {node} {why}; refused")
    fmt, kind = doc.get("zarr_format"), doc.get("node_type")
    if type(fmt) is not int or fmt != 3 or kind not in ("group", "array"):
        raise result.fail(name, "not Zarr v3 metadata (zarr_format 3, node_type group or array)")
    attrs = doc.get("attributes", {})
    if not isinstance(attrs, dict):
        raise result.fail(name, "attributes is not a JSON object")
    if kind == "group":
        result.groups[node] = attrs
        return
    result.arrays[node] = _array(result, node, doc, attrs)


def _ints(value, minimum: int) -> tuple[int, ...] | None:
    if not isinstance(value, list) or len(value) > 8:
        return None
    if not all(type(v) is int and v >= minimum for v in value):
        return None
    return tuple(value)


def _array(result: Scan, node: str, doc: dict, attrs: dict) -> ArrayMeta:
    part = f"array {node}"
    bad = unsafe_codecs(doc)
    if bad:
        raise InputError(
            f"{result.root}: {part} uses the codec(s) {bad}, which decode to arbitrary "
            "Python objects (reading them could run code); refused"
        )
    dtype = doc.get("data_type")
    if not isinstance(dtype, str) or (dtype not in NUMERIC and dtype != "string"):
        shown = json.dumps(dtype)[:60]
        raise result.fail(part, f"data type {shown} is not one of {[*NUMERIC, 'string']}")
    shape = _ints(doc.get("shape"), 0)
    grid = doc.get("chunk_grid")
    chunks = None
    if isinstance(grid, dict) and grid.get("name") == "regular":
        conf = grid.get("configuration")
        chunks = _ints(conf.get("chunk_shape") if isinstance(conf, dict) else None, 0)
    if (
        shape is None
        or chunks is None
        or len(chunks) != len(shape)
        or any(c == 0 < n for n, c in zip(shape, chunks, strict=True))
    ):  # a chunk of 0 only along an empty axis (Zarr writes that for a length-0 dimension)
        raise result.fail(
            part,
            "shape and chunk_grid.chunk_shape must be lists of integers of the same length "
            "(a regular chunk grid; a chunk of 0 only along an axis of length 0)",
        )
    if math.prod(shape) > MAX_ELEMENTS:
        raise result.fail(
            part, f"declared shape {list(shape)} is larger than {MAX_ELEMENTS:,} elements"
        )
    width = NUMERIC.get(dtype, MAX_STRING_BYTES)
    if math.prod(chunks) * width > MAX_CHUNK_BYTES:
        raise result.fail(
            part, f"declared chunk {list(chunks)} is larger than {MAX_CHUNK_BYTES:,} bytes"
        )
    n_chunks = math.prod(_grid(shape, chunks))
    if n_chunks > MAX_CHUNKS:
        raise result.fail(part, f"declared {n_chunks:,} chunks; at most {MAX_CHUNKS:,} allowed")
    key = doc.get("chunk_key_encoding")
    conf = key.get("configuration", {}) if isinstance(key, dict) else None
    separator = conf.get("separator", "/") if isinstance(conf, dict) else None
    if not isinstance(key, dict) or key.get("name") != "default" or separator not in ("/", "."):
        raise result.fail(part, "chunk_key_encoding must be 'default' with separator '/' or '.'")
    codecs = doc.get("codecs")
    if not isinstance(codecs, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in codecs
    ):
        raise result.fail(part, "codecs must be a list of named codecs")
    names = tuple(c["name"] for c in codecs)
    if not names or names[0] not in ARRAY_BYTES_CODECS or not set(names[1:]) <= BYTES_CODECS:
        raise result.fail(
            part,
            f"codecs {list(names)} are not allowed; this twin reads one of "
            f"{sorted(ARRAY_BYTES_CODECS)} then any of {sorted(BYTES_CODECS)}",
        )
    if (names[0] == "vlen-utf8") != (dtype == "string"):
        raise result.fail(part, f"codec {names[0]} does not fit the data type {dtype}")
    dims = doc.get("dimension_names")
    if dims is not None and (
        not isinstance(dims, list) or len(dims) != len(shape)
        or not all(isinstance(d, str) and 0 < len(d) <= 64 for d in dims)
    ):  # fmt: skip
        raise result.fail(part, "dimension_names must be one short name per axis")
    for attr in _STR_ATTRS:
        if attr in attrs and not isinstance(attrs[attr], str):
            raise result.fail(part, f"attribute {attr} must be text")
    for attr in ("scale_factor", "add_offset", "_FillValue", "missing_value"):
        if attr in attrs and (
            isinstance(attrs[attr], bool) or not isinstance(attrs[attr], int | float | str)
        ):
            raise result.fail(part, f"attribute {attr} must be a number")
    return ArrayMeta(node, shape, chunks, dtype, tuple(dims or ()), names, separator)


def _check_dims(result: Scan) -> None:
    """One size per dimension name in each group, and across the city, state, KPI and
    member groups for the dimensions they share (a state grid is the city's grid, an
    ensemble's ``member`` has one length)."""
    sizes: dict[tuple[str, str], tuple[int, str]] = {}
    for name, arr in result.arrays.items():
        group = name.rpartition("/")[0]
        top = group.split("/")[0]
        shared = group == "" or top in ("city", "state", "kpi", "members", *_city_groups())
        for dim, n in zip(arr.dims, arr.shape, strict=True):
            scope = "" if shared and dim in SHARED_DIMS else group
            seen = sizes.setdefault((scope, dim), (n, name))
            if seen[0] != n:
                raise result.fail(
                    f"array {name}",
                    f"dimension {dim} has size {n}, but {seen[0]} in {seen[1]}; the store is "
                    "inconsistent",
                )


def _city_groups() -> tuple[str, ...]:
    from twin.schema import GROUPS

    return GROUPS


# ---------------------------------------------------------------- chunk checks
def _expected_bytes(arr: ArrayMeta) -> int | None:
    """Decoded bytes of one chunk (None for strings: variable length)."""
    return None if arr.dtype == "string" else arr.chunk_elements * NUMERIC[arr.dtype]


def _declared_size(data: bytes, codec: str) -> int | None:
    """Decompressed size a Blosc or Zstandard frame declares in its header (None:
    undeclared or not such a frame)."""
    if codec == "blosc":
        if len(data) < 16:
            return None
        nbytes, _, cbytes = struct.unpack_from("<III", data, 4)
        return nbytes if cbytes == len(data) else None
    if len(data) < 6 or data[:4] != b"\x28\xb5\x2f\xfd":
        return None
    descriptor = data[4]
    fcs_flag, single = descriptor >> 6, (descriptor >> 5) & 1
    at = 5 + (0 if single else 1) + (0, 1, 2, 4)[descriptor & 3]
    width = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if width == 0 or len(data) < at + width:
        return None
    value = int.from_bytes(data[at : at + width], "little")
    return value + 256 if width == 2 else value


def verify_chunks(result: Scan, names, first: range | None = None, missing_ok: bool = False):
    """Check every chunk of the arrays ``names`` (those holding the elements ``first``
    of the first axis when given) before anything decodes them; ``missing_ok`` passes
    over absent chunks (tables another process is appending to).

    Raises
    ------
    InputError
        Naming the array and the chunk that is missing, too large, fails its checksum
        or declares a decoded size its array does not allow.
    """
    for name in names:
        arr = result.arrays[name]
        expected = _expected_bytes(arr)
        if expected is None:  # strings: a generous bound on the encoded size
            limit = min(arr.chunk_elements * 256, MAX_CHUNK_BYTES) + 4096
        else:  # compressors may add a little to incompressible data
            limit = expected + expected // 8 + 4096
        compressor = next((c for c in arr.codecs[1:] if c in ("blosc", "zstd")), None)
        for key in arr.chunk_keys(first):
            rel = f"{name}/{key}"
            part = f"array {name} chunk {key}"
            if rel not in result.files:
                if missing_ok:
                    continue
                raise result.fail(
                    part,
                    "is missing (deleted, or never written); the store is "
                    "damaged and a missing chunk is not read as a fill value",
                )
            data = read_bounded(result.root / rel, result.files[rel], limit, "chunk")
            if arr.codecs[-1] == "crc32c":
                if len(data) < 4 or struct.pack("<I", google_crc32c.value(data[:-4])) != data[-4:]:
                    raise result.fail(part, "is damaged: its CRC-32C checksum does not match")
                data = data[:-4]
            if compressor is not None:
                declared = _declared_size(data, compressor)
                bound = expected if expected is not None else MAX_CHUNK_BYTES
                if (
                    declared is None
                    or declared > bound
                    or (expected is not None and declared != expected)
                ):
                    raise result.fail(
                        part,
                        f"declares a decoded size of {declared} bytes where the array "
                        f"allows {bound}; refused (damaged, or a decompression bomb)",
                    )
            elif expected is not None and len(data) != expected:
                raise result.fail(part, f"holds {len(data)} bytes where {expected} are expected")


def read_guarded(scan: Scan, what: str, reader: Callable[[], object]):
    """Run an xarray/Zarr reader on a store that passed the guard; what still fails to
    decode is reported as damage of that store, not as a traceback."""
    try:
        return reader()
    except (ValueError, TypeError, KeyError, IndexError, OSError) as err:
        raise InputError(
            f"{scan.root}: {what} cannot be read ({type(err).__name__}: {err})"
        ) from None


# ---------------------------------------------------------------- run stores
_TEXT_ATTRS = (
    "kind", "scenario", "scenario_name", "status", "backend", "device", "package_version",
    "wall_start", "wall_end", "host",
)  # fmt: skip


def output_steps(scan: Scan) -> int:
    """The output steps of a run store: the length of the ``time`` of its state groups
    (one and the same)."""
    times = [
        a for n, a in scan.arrays.items() if n.startswith("state/") and n.count("/") == 2
        and n.endswith("/time")
    ]  # fmt: skip
    if not times or any(len(a.shape) != 1 or a.dtype != "int64" for a in times):
        raise InputError(
            f"{scan.root}: no state group with its output time (int64, one axis) is there; "
            "not a run store"
        )
    sizes = sorted({a.shape[0] for a in times})
    if len(sizes) != 1:
        raise InputError(f"{scan.root}: the state groups' time axes differ in length {sizes}")
    return sizes[0]


def _timed(scan: Scan) -> list[str]:
    """The state arrays along ``time`` (not the time coordinates themselves)."""
    return [
        n for n, a in scan.arrays.items() if n.startswith("state/") and a.dims[:1] == ("time",)
        and n.rpartition("/")[2] not in ("time", "local_time")
    ]  # fmt: skip


def run_attrs(scan: Scan) -> dict:
    """The root attributes of a run store, after checking the types and ranges of
    everything the twin reads from them (markers, names, times)."""
    attrs = scan.groups.get("", {})
    root = scan.root
    if attrs.get("kind") != _RUN_KIND:
        raise InputError(f"{root} is not a run store (no kind='run' root attribute)")
    expect_numbers(scan, _timed(scan))
    bounds = {"completed_outputs": output_steps(scan)}
    bounds["restart_outputs"] = attrs.get("completed_outputs", 0)
    for key, upper in bounds.items():
        value = attrs.get(key, 0)
        if type(value) is not int or not 0 <= value <= (upper if type(upper) is int else -1):
            raise InputError(
                f"{root}: root attribute {key}={json.dumps(value)[:40]} is not a whole number "
                f"from 0 to {upper}"
            )
    slot = attrs.get("restart_slot", 0)
    if type(slot) is not int or slot not in (0, 1):
        raise InputError(
            f"{root}: root attribute restart_slot={json.dumps(slot)[:40]} is not 0 or 1"
        )
    for key in _TEXT_ATTRS:
        if key in attrs and not isinstance(attrs[key], str):
            raise InputError(f"{root}: root attribute {key} is not text")
    if "ensemble" in attrs:
        ensemble_attrs(scan)
    wall, timings = attrs.get("wall_seconds", 0.0), attrs.get("timings_s", {})
    if (
        not _number(wall)
        or not isinstance(timings, dict)
        or not all(map(_number, timings.values()))
    ):
        raise InputError(f"{root}: root attributes wall_seconds/timings_s are not numbers")
    return {"completed_outputs": 0, "restart_outputs": 0, "restart_slot": 0, **attrs}


# the arrays of an ensemble's /members group that the twin reads, with their data types
MEMBER_ARRAYS = {"status": "int8", "error": "string", "scenario": "string",
                 "wall_seconds": "float64"}  # fmt: skip


def ensemble_attrs(scan: Scan) -> dict:
    """The ``ensemble`` root attribute of an ensemble store, checked: ``members`` a whole
    number, the length of ``member`` in the store; ``labels`` names of label coordinates
    of ``/members`` along ``member`` (names from the store are never used as paths
    before this); the ``/members`` arrays of :data:`MEMBER_ARRAYS` one per member.

    Raises
    ------
    InputError
        Naming the store and the attribute or array that is malformed or missing.
    """
    root, ens = scan.root, scan.groups.get("", {}).get("ensemble")
    if (
        not isinstance(ens, dict)
        or type(ens.get("members")) is not int
        or not isinstance(ens.get("labels"), list)
        or len(ens["labels"]) > 16
    ):
        raise InputError(
            f"{root}: root attribute ensemble={json.dumps(ens)[:80]} is not "
            '{"members": <whole number>, "labels": [<up to 16 names>]}'
        )
    n = ens["members"]
    for name, dtype in MEMBER_ARRAYS.items():
        arr = scan.arrays.get(f"members/{name}")
        if arr is None or arr.dtype != dtype or arr.dims != ("member",):
            raise InputError(
                f"{root}: array members/{name} ({dtype} along member) is missing or of "
                "another make; not an ensemble store of this twin"
            )
        if arr.shape != (n,):
            raise InputError(
                f"{root}: root attribute ensemble says {n} members, but members/{name} "
                f"holds {arr.shape[0]}; the store is inconsistent"
            )
    for label in ens["labels"]:
        arr = scan.arrays.get(f"members/{label}") if isinstance(label, str) else None
        if arr is None or "/" in label or label in MEMBER_ARRAYS or arr.dims != ("member",):
            raise InputError(
                f"{root}: ensemble label {json.dumps(label)[:60]} is not a label coordinate "
                "of /members along member"
            )
    return ens


def _number(value) -> bool:
    return type(value) in (int, float)


def expect_numbers(scan: Scan, names) -> None:
    for name in names:
        if scan.arrays[name].dtype == "string":
            raise InputError(f"{scan.root}: array {name} holds text where numbers are expected")


def expect_array(scan: Scan, name: str, shape: tuple[int, ...], dtype: str) -> None:
    """Refuse a resume whose store lacks, or changed the make of, an array it writes."""
    arr = scan.arrays.get(name)
    if arr is None:
        raise InputError(f"{scan.root}: array {name} is missing; this run needs it to resume")
    if arr.shape != tuple(shape) or arr.dtype != dtype:
        raise InputError(
            f"{scan.root}: array {name} is {arr.dtype} {list(arr.shape)} where this run writes "
            f"{dtype} {list(shape)}; refusing to resume"
        )


def verify_state(scan: Scan, done: int) -> None:
    """The chunks of the first ``done`` output steps of every state array (and of the
    coordinates in full)."""
    names = [n for n in scan.arrays if n.startswith("state/")]
    timed = _timed(scan)
    verify_chunks(scan, timed, first=range(done))
    verify_chunks(scan, [n for n in names if n not in timed])


def verify_city(scan: Scan, prefix: str) -> None:
    """Every group and chunk of the city's arrays; text only where the schema has it."""
    missing = [g for g in _city_groups() if prefix + g not in scan.groups]
    if missing:
        raise InputError(
            f"{scan.root}: missing group(s) {missing}; a city store has {list(_city_groups())}"
        )
    names = [
        n
        for n in scan.arrays
        if n.startswith(prefix) and n[len(prefix) :].split("/")[0] in _city_groups()
    ]
    for name in names:
        if scan.arrays[name].dtype == "string" and name[len(prefix) :] not in _CITY_TEXT:
            raise InputError(
                f"{scan.root}: array {name} holds text where this twin expects numbers; refused"
            )
    verify_chunks(scan, names)


_CITY_TEXT = {"districts/name", "sensors/name", "sensors/kind"}
