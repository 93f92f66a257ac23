"""Untrusted stores: a corpus of crafted run stores, each refused by every command that
reads the damaged part (exit 2, a message naming the store and the part, no traceback)
within seconds and under a memory limit; damage found by checksum and by missing chunks."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.twin import store_corpus
from tests.twin.test_runner import scenario
from twin.errors import InputError
from twin.runner import run
from twin.store import open_run, read_kpis

MEMORY_LIMIT = 3 << 30  # [bytes] address space of the process running the corpus
TIME_LIMIT_S = 20  # per command; a refusal takes well under a second on an idle machine


def _scenario():
    return scenario(duration="2h", city={"dataset": "minicity", "resolution_m": 500})


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    sc_path = folder / "mini.toml"
    sc_path.write_text(_scenario().to_toml())
    return run(_scenario(), folder / "good.zarr", progress=False).store, sc_path


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_corpus(cases: dict, store: Path, sc_path: Path, root: Path) -> dict:
    """Every case of ``cases`` (name: (change, refusing commands, _)): a damaged copy of
    ``store`` and the commands run on it, in one process under the memory limit;
    results by (case, command)."""
    listed = []
    for i, (name, (change, refusing, _)) in enumerate(cases.items()):
        folder = root / f"case{i}"
        folder.mkdir()
        crafted = folder / "crafted.zarr"
        shutil.copytree(store, crafted)
        change(crafted, folder)
        args = store_corpus.commands(crafted, sc_path)
        listed += [
            {"case": name, "command": c, "args": args[c], "limit_s": TIME_LIMIT_S} for c in refusing
        ]
    listing = root / "cases.json"
    listing.write_text(json.dumps(listed))
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, store_corpus.__file__, str(listing)],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_limit_memory,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {(r["case"], r["command"]): r for r in json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def corpus(good, tmp_path_factory):
    store, sc_path = good
    return run_corpus(store_corpus.CASES, store, sc_path, tmp_path_factory.mktemp("corpus"))


def test_the_good_store_reads(good):
    store, _ = good
    assert open_run(store)["state/air"]["pm25"].shape[0] == 2
    assert float(read_kpis(store)["completed_trips"]) > 0


def assert_refused(corpus: dict, cases: dict, name: str) -> None:
    """Each command of case ``name`` exited 2, in time, naming the store and the damage."""
    _, refusing, pattern = cases[name]
    for command in refusing:
        r = corpus[(name, command)]
        out = " ".join(r["output"].split())
        assert r["code"] == 2, f"{command}: exit {r['code']}: {out[-2000:]}"
        assert "Traceback" not in out, out
        assert "crafted.zarr" in out, out  # the message names the store
        assert re.search(pattern, out), f"{command}: {out}"
        assert r["seconds"] < TIME_LIMIT_S


@pytest.mark.parametrize("name", list(store_corpus.CASES))
def test_crafted_store_refused_cleanly(corpus, name):
    assert_refused(corpus, store_corpus.CASES, name)


def test_corpus_counts(corpus):
    """The closing note's numbers: every crafted case tried, every one clean."""
    clean = sum(r["code"] == 2 and "Traceback" not in r["output"] for r in corpus.values())
    assert len(store_corpus.CASES) >= 40 and clean == len(corpus)
    seconds = {c: 0.0 for c in store_corpus.ALL}
    for r in corpus.values():
        seconds[r["command"]] += r["seconds"]
    peak = max(r["max_rss_mb"] for r in corpus.values())
    print(
        f"crafted stores: {len(store_corpus.CASES)}, commands tried: {len(corpus)}, "
        f"clean: {clean}; seconds per command {seconds}; peak RSS {peak:.0f} MB"
    )


def test_every_chunk_is_written_and_checksummed(good):
    store, _ = good
    for meta in store.rglob("zarr.json"):
        doc = json.loads(meta.read_text())
        if doc["node_type"] == "array":
            assert doc["codecs"][-1]["name"] == "crc32c", meta
    # a traffic output chunk of zeros (fill value NaN) and an all-zero restart chunk exist
    time_chunks = list((store / "state" / "traffic" / "speed" / "c").iterdir())
    assert len(time_chunks) == 2


def test_deleted_and_truncated_chunks_are_named(good, tmp_path):
    store, _ = good
    crafted = tmp_path / "crafted.zarr"
    shutil.copytree(store, crafted)
    (crafted / "city" / "grid" / "population" / "c" / "0" / "0").unlink()
    with pytest.raises(InputError, match=r"array city/grid/population chunk c/0/0 is missing"):
        open_run(crafted)
    shutil.rmtree(crafted)
    shutil.copytree(store, crafted)
    chunk = crafted / "state" / "energy" / "net_load" / "c" / "1" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-1])
    with pytest.raises(InputError, match=r"state/energy/net_load chunk c/1/0 is damaged"):
        run(_scenario(), crafted, progress=False, resume=True)


def test_state_chunks_after_the_completed_steps_are_not_required(good, tmp_path):
    store, _ = good
    crafted = tmp_path / "crafted.zarr"
    shutil.copytree(store, crafted)
    meta = crafted / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["completed_outputs"] = doc["attributes"]["restart_outputs"] = 1
    meta.write_text(json.dumps(doc))
    shutil.rmtree(crafted / "state" / "air" / "pm25" / "c" / "1")
    assert np.isfinite(open_run(crafted)["state/air"]["pm25"].values).all()


@pytest.mark.parametrize(
    "name", ["chunk linked to /dev/zero", "blosc decompression bomb", "deleted output chunk"]
)
def test_pictures_refuse_crafted_stores(good, tmp_path, name):
    from viz.source import Source  # what twin render opens (no pyvista needed)

    crafted = tmp_path / "crafted.zarr"
    shutil.copytree(good[0], crafted)
    change, _, pattern = store_corpus.CASES[name]
    change(crafted, tmp_path)
    with pytest.raises(InputError, match=pattern):
        Source.open(crafted)


def test_reading_the_city_walks_only_the_city(good, tmp_path):
    # a member of a large ensemble reads its city from the shared store: the outputs beside
    # /city are not walked (a FIFO there would hang a walk); reading the run still refuses it
    from twin import open_city

    store, _ = good
    crafted = tmp_path / "crafted.zarr"
    shutil.copytree(store, crafted)
    os.mkfifo(crafted / "state" / "energy" / "fifo")
    assert open_city(crafted).tree["grid"].sizes == open_city(store).tree["grid"].sizes
    with pytest.raises(InputError, match="not a regular file"):
        open_run(crafted)
