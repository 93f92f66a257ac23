"""Runs that end badly: SIGTERM, a full disk, a kill's leftovers, a resume of a complete
run. The store is always marked for what happened, holds no stray temporary files, and
resumes to the same bits as an uninterrupted run."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
import zarr.storage._local as zarr_local

from tests.twin.test_runner import scenario
from twin.runner import run


def _scenario():
    return scenario(duration="12h", city={"dataset": "minicity", "resolution_m": 500})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return run(_scenario(), tmp_path_factory.mktemp("ref") / "ref.zarr", progress=False)


def _attrs(store: Path) -> dict:
    return json.loads((store / "zarr.json").read_text())["attributes"]


def _assert_same_outputs(a: Path, b: Path) -> None:
    ga, gb = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
    for model in ("traffic", "air", "energy"):
        for name, arr in ga[f"state/{model}"].arrays():
            np.testing.assert_array_equal(arr[...], gb[f"state/{model}/{name}"][...], name)


def _stray(store: Path) -> list[str]:
    return [
        str(p.relative_to(store.parent))
        for p in store.parent.rglob("*")
        if p.name.endswith((".partial", ".tmp", ".lock", ".creating", ".replaced"))
    ]


def test_sigterm_marks_interrupted_and_resume_cleans_partials(reference, tmp_path):
    sc_path = tmp_path / "mini.toml"
    sc_path.write_text(_scenario().to_toml())
    store = tmp_path / "run.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "run", str(sc_path), "-o", str(store), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if _attrs(store)["completed_outputs"] >= 2:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in out, out
    assert _attrs(store)["status"] == "interrupted"
    # what a kill in the middle of a chunk write or a marker update leaves behind
    chunk_dir = store / "state" / "air" / "pm25" / "c" / "5" / "0"
    chunk_dir.mkdir(parents=True, exist_ok=True)
    (chunk_dir / "0.3f2a.partial").write_bytes(b"half")
    (store / "zarr.json.tmp").write_text("{")
    resumed = run(_scenario(), store, progress=False, resume=True)
    assert _stray(store) == []
    _assert_same_outputs(reference.store, store)
    assert resumed.kpis.equals(reference.kpis)


def test_full_disk_names_the_store_marks_failed_and_resumes(reference, tmp_path, monkeypatch):
    store = tmp_path / "run.zarr"
    real_put, real_write_bytes = zarr_local._put, Path.write_bytes
    state = {"writes": 0, "full": False}

    def put(path, value, exclusive=False):
        if "/state/" in str(path) and "/c/" in str(path):
            state["writes"] += 1
            state["full"] = state["full"] or state["writes"] > 40  # a few output steps in
        if state["full"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_put(path, value, exclusive)

    def write_bytes(self, data):
        if state["full"]:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write_bytes(self, data)

    monkeypatch.setattr(zarr_local, "_put", put)
    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(RuntimeError, match=rf"run store {store} failed: .*No space left"):
        run(_scenario(), store, progress=False)
    monkeypatch.undo()  # room again
    attrs = _attrs(store)
    assert attrs["status"] == "failed" and 0 < attrs["completed_outputs"] < 12
    assert _stray(store) == []
    run(_scenario(), store, progress=False, resume=True)
    _assert_same_outputs(reference.store, store)


def test_resume_of_a_complete_run_changes_nothing(reference):
    before = (reference.store / "zarr.json").read_bytes()
    kpis_before = os.stat(reference.store / "kpi" / "zarr.json").st_mtime_ns
    again = run(_scenario(), reference.store, progress=False, resume=True)
    assert (reference.store / "zarr.json").read_bytes() == before
    assert os.stat(reference.store / "kpi" / "zarr.json").st_mtime_ns == kpis_before
    assert again.wall_s == _attrs(reference.store)["wall_seconds"]
    assert again.kpis.equals(reference.kpis)
