"""Crafted run stores: each case damages a copy of a good store the way a hostile or
careless sender could, and says which commands must refuse it and with what message.

Used by ``tests/twin/test_storeguard.py``; ``python tests/twin/store_corpus.py CASES.json``
runs the commands of every case in one process (under the memory limit the test sets)
and prints what each command did, as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import time
from pathlib import Path

import google_crc32c

ALL = ("info", "kpi", "resume", "open_run")  # what a command reads: see twin.store
CITY = ("info", "resume", "open_run")  # the city and the root markers
RUN = ("info", "resume", "open_run")  # the root markers of a run
STATE = ("resume", "open_run")  # completed output steps
KPI = ("kpi", "resume", "open_run")


def _meta(store: Path, node: str, change) -> None:
    path = store / node / "zarr.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _root_attr(key, value):
    def change(store: Path, tmp: Path) -> None:
        _meta(store, "", lambda d: d["attributes"].__setitem__(key, value))

    return change


def _array_field(node: str, key, value):
    def change(store: Path, tmp: Path) -> None:
        _meta(store, node, lambda d: d.__setitem__(key, value))

    return change


def _replace_by_fifo(rel: str):
    def change(store: Path, tmp: Path) -> None:
        os.unlink(store / rel)
        os.mkfifo(store / rel)

    return change


def _replace_by_link(rel: str, target):
    def change(store: Path, tmp: Path) -> None:
        where = store / rel
        if where.is_dir():
            shutil.rmtree(where)
        else:
            where.unlink()
        os.symlink(target(store, tmp), where)

    return change


def _outside_file(store: Path, tmp: Path) -> Path:
    secret = tmp / "secret.bin"
    secret.write_bytes(b"\0" * 4096)
    return secret


def _other_store(rel: str):
    def target(store: Path, tmp: Path) -> Path:
        other = tmp / "other.zarr"
        if not other.exists():
            shutil.copytree(store, other, symlinks=True)
        return other / rel

    return target


def _rechecksum(data: bytes) -> bytes:
    return data + struct.pack("<I", google_crc32c.value(data))


def _blosc_bomb(rel: str):
    """A chunk whose (valid, checksummed) Blosc header declares 2 GiB decoded."""

    def change(store: Path, tmp: Path) -> None:
        inner = bytearray((store / rel).read_bytes()[:-4])
        struct.pack_into("<I", inner, 4, (1 << 31) - 1)
        (store / rel).write_bytes(_rechecksum(bytes(inner)))

    return change


def _zstd_bomb(rel: str):
    """A Zstandard frame declaring 1 TiB of content, checksummed."""

    def change(store: Path, tmp: Path) -> None:
        frame = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", 1 << 40) + b"\0" * 64
        (store / rel).write_bytes(_rechecksum(frame))

    return change


def _truncate(rel: str):
    def change(store: Path, tmp: Path) -> None:
        data = (store / rel).read_bytes()
        (store / rel).write_bytes(data[: len(data) // 2])

    return change


def _delete(rel: str):
    def change(store: Path, tmp: Path) -> None:
        path = store / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return change


def _write(rel: str, data: bytes):
    def change(store: Path, tmp: Path) -> None:
        (store / rel).write_bytes(data)

    return change


def _sparse_meta(store: Path, tmp: Path) -> None:
    with open(store / "city" / "grid" / "zarr.json", "r+b") as f:
        f.truncate(100 << 20)  # 100 MB of NUL, without writing them


def _deep(store: Path, tmp: Path) -> None:
    (store / "city" / "grid" / "/".join(["d"] * 60)).mkdir(parents=True)


def _v2_pickle(store: Path, tmp: Path) -> None:
    (store / "city" / "grid" / "extra").mkdir()
    (store / "city" / "grid" / "extra" / ".zarray").write_text(
        json.dumps({"dtype": "|O", "filters": [{"id": "pickle"}], "compressor": None})
    )


def _population_as_text(store: Path, tmp: Path) -> None:
    def change(doc):
        doc["data_type"] = "string"
        doc["codecs"] = [{"name": "vlen-utf8"}, {"name": "zstd", "configuration": {"level": 0}}]

    _meta(store, "city/grid/population", change)


def _wider_state(node: str):
    def change(store: Path, tmp: Path) -> None:
        def grow(doc):
            doc["shape"][1] += 1

        _meta(store, node, grow)

    return change


def _millions_of_chunks(store: Path, tmp: Path) -> None:
    def change(doc):
        doc["shape"] = [2, 10**7]
        doc["chunk_grid"]["configuration"]["chunk_shape"] = [1, 1]

    _meta(store, "state/traffic/speed", change)


def _units_number(store: Path, tmp: Path) -> None:
    _meta(store, "state/air/time", lambda d: d["attributes"].__setitem__("units", 5))


def _unfinished(change):
    """``change``, on a store marked interrupted (a complete one needs no restart)."""

    def both(store: Path, tmp: Path) -> None:
        change(store, tmp)
        _root_attr("status", "interrupted")(store, tmp)

    return both


def _no_output_time(store: Path, tmp: Path) -> None:
    for clock in store.glob("state/*/time"):
        shutil.rmtree(clock)


GRID_CHUNK = "city/grid/population/c/0/0"
STATE_CHUNK = "state/air/pm25/c/1/0/0"
CASES = {  # id: (change, commands that must refuse it, message pattern)
    "fifo as the root zarr.json": (
        _replace_by_fifo("zarr.json"),
        ALL,
        "zarr.json is not a regular file|exists and is not a run store written by this twin",
    ),
    "fifo as a chunk": (_replace_by_fifo(GRID_CHUNK), ALL, "c/0/0 is not a regular file"),
    "fifo as an array's zarr.json": (
        _replace_by_fifo("kpi/total_delay/zarr.json"),
        ALL,
        "not a regular file",
    ),
    "chunk linked out of the store": (
        _replace_by_link(GRID_CHUNK, _outside_file),
        ALL,
        "c/0/0 is a symbolic link",
    ),
    "group linked to another store": (
        _replace_by_link("city/roads", _other_store("city/roads")),
        ALL,
        "city/roads is a symbolic link",
    ),
    "restart linked to another store": (
        _replace_by_link(".restart/air", _other_store(".restart/air")),
        ALL,
        ".restart/air is a symbolic link",
    ),
    "chunk linked to /dev/zero": (
        _replace_by_link(GRID_CHUNK, lambda s, t: "/dev/zero"),
        ALL,
        "symbolic link",
    ),
    "metadata linked to /dev/zero": (
        _replace_by_link("city/grid/elevation/zarr.json", lambda s, t: "/dev/zero"),
        ALL,
        "symbolic link",
    ),
    "blosc decompression bomb": (
        _blosc_bomb(GRID_CHUNK),
        CITY,
        "c/0/0 declares a decoded size of 2147483647 bytes",
    ),
    "zstd decompression bomb": (_zstd_bomb("city/sensors/name/c/0"), CITY, "decompression bomb"),
    "bomb in an output step": (
        _blosc_bomb(STATE_CHUNK),
        STATE,
        "pm25 chunk c/1/0/0 declares a decoded size",
    ),
    "huge declared shape": (
        _array_field("city/grid/elevation", "shape", [10**7, 10**7]),
        ALL,
        "larger than 1,099,511,627,776 elements",
    ),
    "huge declared chunk": (
        _array_field(
            "city/grid/elevation",
            "chunk_grid",
            {"name": "regular", "configuration": {"chunk_shape": [65536, 65536]}},
        ),
        ALL,
        "declared chunk .* is larger than",
    ),
    "millions of chunks": (_millions_of_chunks, ALL, "declared 20,000,000 chunks; at most"),
    "object dtype": (
        _array_field("city/grid/elevation", "data_type", "object"),
        ALL,
        'data type "object" is not one of',
    ),
    "structured dtype": (
        _array_field("city/grid/elevation", "data_type", {"name": "struct", "configuration": {}}),
        ALL,
        "data type",
    ),
    "text where numbers are expected": (
        _population_as_text,
        CITY,
        "population holds text where this twin expects numbers",
    ),
    "pickle in Zarr v2 metadata": (_v2_pickle, ALL, "uses the codec.*pickle"),
    "unknown codec (sharding)": (
        _array_field(
            "city/grid/elevation", "codecs", [{"name": "sharding_indexed", "configuration": {}}]
        ),
        ALL,
        "codecs .* are not allowed",
    ),
    "v2 chunk key encoding": (
        _array_field("city/grid/elevation", "chunk_key_encoding", {"name": "v2"}),
        ALL,
        "chunk_key_encoding",
    ),
    "zarr.json is a JSON list": (
        _write("city/zarr.json", b"[1, 2, 3]"),
        ALL,
        "city/zarr.json: Zarr metadata is not a JSON object",
    ),
    "zarr.json is not JSON": (
        _write("city/grid/zarr.json", b"\xff\xfe{not json"),
        ALL,
        "unreadable Zarr metadata",
    ),
    "zarr_format 2 in zarr.json": (
        _array_field("city/grid/x", "zarr_format", 2),
        ALL,
        "not Zarr v3 metadata",
    ),
    "shape is text": (
        _array_field("city/grid/x", "shape", "abc"),
        ALL,
        "shape and chunk_grid.chunk_shape must be lists",
    ),
    "shape has a float": (_array_field("city/grid/x", "shape", [1.5]), ALL, "shape and chunk_grid"),
    "attributes is a list": (
        _array_field("city/grid", "attributes", [1]),
        ALL,
        "attributes is not a JSON object",
    ),
    "units is a number": (_units_number, ALL, "attribute units must be text"),
    "dimension_names are numbers": (
        _array_field("city/grid/x", "dimension_names", [1]),
        ALL,
        "dimension_names must be one short name",
    ),
    "state grid wider than the city": (
        _wider_state("state/air/pm25"),
        ALL,
        "dimension y has size .* the store is inconsistent",
    ),
    "completed_outputs is text": (
        _root_attr("completed_outputs", "many"),
        RUN,
        'completed_outputs="many" is not a whole number',
    ),
    "completed_outputs is true": (
        _root_attr("completed_outputs", True),
        RUN,
        "completed_outputs=true is not a whole number",
    ),
    "completed_outputs beyond the run": (
        _root_attr("completed_outputs", 10**9),
        RUN,
        "is not a whole number from 0 to 2",
    ),
    "restart_slot traversal": (
        _root_attr("restart_slot", "../../other_run"),
        RUN,
        'restart_slot="../../other_run" is not 0 or 1',
    ),
    "restart_slot 2": (_root_attr("restart_slot", 2), RUN, "restart_slot=2 is not 0 or 1"),
    "wall_seconds is text": (
        _root_attr("wall_seconds", "long"),
        RUN,
        "wall_seconds/timings_s are not numbers",
    ),
    "status is a list": (
        _root_attr("status", ["complete"]),
        RUN,
        "root attribute status is not text",
    ),
    "missing city group": (_delete("city/roads"), CITY, r"missing group\(s\) \['roads'\]"),
    "missing city": (_delete("city"), CITY, "missing group|without its /city group"),
    "missing output time": (_no_output_time, RUN, "no state group with its output time"),
    "missing kpi group": (_delete("kpi"), KPI, "/kpi group"),
    "missing restart array": (
        _unfinished(_delete(".restart/air/pm25")),
        ("resume",),
        ".restart/air/pm25 is missing",
    ),
    "deleted city chunk": (_delete(GRID_CHUNK), CITY, "population chunk c/0/0 is missing"),
    "deleted output chunk": (_delete(STATE_CHUNK), STATE, "pm25 chunk c/1/0/0 is missing"),
    "truncated city chunk": (
        _truncate(GRID_CHUNK),
        CITY,
        "population chunk c/0/0 is damaged: its CRC-32C",
    ),
    "truncated output chunk": (_truncate(STATE_CHUNK), STATE, "pm25 chunk c/1/0/0 is damaged"),
    "truncated kpi chunk": (_truncate("kpi/total_delay/c"), KPI, "total_delay chunk c is damaged"),
    "100 MB metadata": (_sparse_meta, ALL, "Zarr metadata of 104,857,600 bytes is larger than"),
    "folders nested 60 deep": (_deep, ALL, "nested deeper than"),
}


# ---------------------------------------------------------------- ensemble stores
# crafted copies of an ensemble store (twin sweep) of two members, member 1 complete
ENSEMBLE_ALL = ("info", "kpi", "open_member", "continue_sweep")
MEMBERS = ("info", "kpi", "continue_sweep")  # what reads /members
LABELS = ["traffic_demand_scale"]


def _ensemble(value):
    return _root_attr("ensemble", value)


def _status_value(value: int):
    def change(store: Path, tmp: Path) -> None:
        import zarr

        zarr.open_array(store / "members" / "status", mode="r+")[0] = value

    return change


def _status_size(store: Path, tmp: Path) -> None:
    def grow(doc):
        doc["shape"] = [3]

    _meta(store, "members/status", grow)


def _shared_chunk(store: Path, tmp: Path) -> None:
    _meta(store, "state/air/pm25", lambda d: d["chunk_grid"]["configuration"]["chunk_shape"]
          .__setitem__(0, 2))  # fmt: skip


MEMBER_CHUNK = "state/air/pm25/c/1/0/0/0"
ENSEMBLE_CASES = {  # id: (change, commands that must refuse it, message pattern)
    "ensemble attribute is a number": (_ensemble(5), ENSEMBLE_ALL, "root attribute ensemble=5"),
    "member count is text": (
        _ensemble({"members": "2", "labels": LABELS}),
        ENSEMBLE_ALL,
        'ensemble=.*"members": "2".* is not',
    ),
    "member count beyond the store": (
        _ensemble({"members": 10**9, "labels": LABELS}),
        ENSEMBLE_ALL,
        "says 1000000000 members, but members/status holds 2",
    ),
    "label traversal": (
        _ensemble({"members": 2, "labels": ["../../other_run"]}),
        ENSEMBLE_ALL,
        'ensemble label "../../other_run" is not a label coordinate',
    ),
    "label names a status array": (
        _ensemble({"members": 2, "labels": ["status"]}),
        ENSEMBLE_ALL,
        'ensemble label "status" is not a label coordinate',
    ),
    "labels are text": (
        _ensemble({"members": 2, "labels": "traffic_demand_scale"}),
        ENSEMBLE_ALL,
        "root attribute ensemble=",
    ),
    "members group missing": (
        _delete("members"),
        ENSEMBLE_ALL,
        r"members/status \(int8 along member\) is missing",
    ),
    "status is float": (
        _array_field("members/status", "data_type", "float64"),
        ENSEMBLE_ALL,
        "members/status .* is missing or of another make",
    ),
    "status of 3 members in a store of 2": (
        _status_size,
        ENSEMBLE_ALL,
        "dimension member has size 3, but 2",
    ),
    "status value 7": (
        _status_value(7),
        ENSEMBLE_ALL,
        "members/status of member 0 is 7, not one of",
    ),
    "status chunk deleted": (
        _delete("members/status/c/1"),
        ENSEMBLE_ALL,
        "members/status chunk c/1 is missing",
    ),
    "status chunk truncated": (
        _truncate("members/status/c/1"),
        ENSEMBLE_ALL,
        "members/status chunk c/1 is damaged",
    ),
    "status chunk is a fifo": (
        _replace_by_fifo("members/status/c/1"),
        ENSEMBLE_ALL,
        "c/1 is not a regular file",
    ),
    "error bomb": (_zstd_bomb("members/error/c/1"), MEMBERS, "decompression bomb"),
    "scenario linked out of the store": (
        _replace_by_link("members/scenario/c/1", _outside_file),
        ENSEMBLE_ALL,
        "scenario/c/1 is a symbolic link",
    ),
    "kpi chunk truncated": (_truncate("kpi/total_delay/c/1"), ("kpi",), "total_delay chunk c/1"),
    "kpi as text": (
        _array_field("kpi/total_delay", "codecs", [{"name": "vlen-utf8"}]),
        ("kpi",),
        "codec vlen-utf8 does not fit|holds text where numbers",
    ),
    "member's output chunk deleted": (
        _delete(MEMBER_CHUNK),
        ("open_member",),
        "pm25 chunk c/1/0/0/0 is missing",
    ),
    "member's output bomb": (
        _blosc_bomb(MEMBER_CHUNK),
        ("open_member",),
        "pm25 chunk c/1/0/0/0 declares a decoded size",
    ),
    "two members share a chunk": (
        _shared_chunk,
        ("continue_sweep",),
        "needs chunk 1",
    ),
}


def commands(store: Path, scenario: Path) -> dict[str, list[str]]:
    """The CLI arguments (or the Python call) of each command of a case."""
    return {
        "info": ["info", str(store)],
        "kpi": ["kpi", str(store)],
        "resume": ["run", str(scenario), "-o", str(store), "--resume", "--no-progress"],
        "open_run": [str(store)],
        "open_member": [str(store), "1"],
        "continue_sweep": [
            str(store),
            str(scenario),
            json.dumps({"traffic.demand_scale": [0.8, 1.2]}),
        ],
    }


def _python(command: str, args: list[str]) -> None:
    """The Python calls among the commands (what ``twin render --member`` opens, and
    what a re-run of ``twin sweep`` checks before it starts Ray)."""
    from twin.ensemble import open_or_create, sweep_members
    from twin.scenario import Scenario
    from twin.store import open_run
    from viz.source import Source

    if command == "open_run":
        open_run(args[0]).load()
    elif command == "open_member":
        Source.open(args[0], member=int(args[1])).run.load()
    else:
        members = sweep_members(Scenario.from_toml(args[1]), json.loads(args[2]))
        open_or_create(Path(args[0]), members)


PYTHON = ("open_run", "open_member", "continue_sweep")


def _run_all(cases: list[dict]) -> list[dict]:
    """Run every command of every case here, each within a time limit (SIGALRM)."""
    import resource
    import signal

    from typer.testing import CliRunner

    from twin.cli import app
    from twin.errors import InputError

    def alarm(signum, frame):
        raise TimeoutError("took longer than the limit")

    signal.signal(signal.SIGALRM, alarm)
    runner = CliRunner()
    results = []
    for case in cases:
        t0 = time.perf_counter()
        signal.alarm(case["limit_s"])
        try:
            if case["command"] in PYTHON:
                try:
                    _python(case["command"], case["args"])
                    code, out = 0, ""
                except InputError as err:
                    code, out = 2, f"error: {err}"
            else:
                res = runner.invoke(app, case["args"], env={"COLUMNS": "2000"})
                code, out = res.exit_code, res.output
                if res.exception is not None and not isinstance(res.exception, SystemExit):
                    out += f"\nTraceback: {type(res.exception).__name__}: {res.exception}"
        except BaseException as err:  # a hang (the alarm) or a crash is a failed case
            code, out = -1, f"Traceback: {type(err).__name__}: {err}"
        finally:
            signal.alarm(0)
        results.append(
            {
                **case,
                "code": code,
                "output": out,
                "seconds": time.perf_counter() - t0,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    return results


if __name__ == "__main__":
    json.dump(_run_all(json.loads(Path(sys.argv[1]).read_text())), sys.stdout)
