"""Run-store creation interrupted at every one of its steps (by the fault-injection seam
``twin.atomic.creation_hook``, not by timing luck) leaves a usable path; a full disk
still records a failed status."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

import twin
from twin import atomic
from twin.errors import InputError
from twin.store import RUN_KIND, RunStore, _replaceable

SCENARIO = "new"


@pytest.fixture(scope="module")
def city():
    return twin.build_city("minicity", resolution_m=500, seed=1)


def _create(city, path: Path, scenario: str = SCENARIO) -> RunStore:
    ny, nx = city.grid.sizes["y"], city.grid.sizes["x"]
    return RunStore.create(
        path,
        city.tree,
        attrs={"scenario": scenario, "status": "complete"},
        times_s=np.arange(1, 4, dtype=np.int64) * 3600,
        time_units="seconds since 2026-06-17T00:00:00+09:00",
        layouts={"air": {"pm25": (("y", "x"), (ny, nx), {"units": "ug m-3"})}},
        coords={},
        restart={"air": {"pm25": (("y", "x"), (ny, nx), "float32")}},
    )


@pytest.fixture(scope="module")
def steps(city, tmp_path_factory):
    """Every step of a creation that replaces an existing store, in order."""
    path = tmp_path_factory.mktemp("steps") / "run.zarr"
    _create(city, path, "old")
    seen: list[str] = []
    atomic.creation_hook = seen.append
    try:
        _create(city, path)
    finally:
        atomic.creation_hook = None
    assert "identity and layout_complete" in seen and "old store removed" in seen
    return seen


def _kill_at(city, path: Path, step: str) -> None:
    """Create a store in a forked child that SIGKILLs itself at ``step``."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        try:
            atomic.creation_hook = lambda s: s == step and os.kill(os.getpid(), signal.SIGKILL)
            _create(city, path)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, step


def _state(path: Path) -> str:
    """What a kill left at ``path``: nothing, the old store or the new one (complete)."""
    if not path.exists():
        return "nothing"
    scenario = json.loads((path / "zarr.json").read_text())["attributes"]["scenario"]
    RunStore.open_for_resume(path, scenario)
    return scenario


@pytest.fixture(scope="module")
def old_store(city, tmp_path_factory):
    return _create(city, tmp_path_factory.mktemp("old") / "old.zarr", "old").path


def _leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "."))


@pytest.mark.parametrize("replacing", [False, True], ids=["new", "replacing"])
def test_kill_at_every_creation_step_leaves_a_usable_path(
    city, steps, old_store, tmp_path, replacing
):
    left = {}
    for i, step in enumerate(steps):
        if not replacing and "old store" in step:
            continue
        path = tmp_path / f"run{i}.zarr"
        if replacing:
            shutil.copytree(old_store, path)
        _kill_at(city, path, step)
        # the path holds a complete, resumable store or nothing: never a half-made one
        left[step] = _state(path)
        # a plain run may replace whatever is there and removes what the kill left (the
        # first two things create does; the rest is an ordinary creation, checked below)
        _replaceable(path, RUN_KIND, remove=False)
        atomic.begin_creation(path)
        assert _leftovers(path) == [], step
    _create(city, path)
    assert _state(path) == SCENARIO and _leftovers(path) == []
    expected_before = "old" if replacing else "nothing"
    order = list(left)
    moved = order.index("old store moved aside" if replacing else "new store in place")
    assert all(left[s] == expected_before for s in order[:moved]), left
    assert left["new store in place"] == SCENARIO
    if replacing:
        assert left["old store moved aside"] == "nothing"
        assert left["old store removed"] == SCENARIO


def test_error_at_every_creation_step_leaves_no_leftovers(city, steps, old_store, tmp_path):
    path = tmp_path / "run.zarr"
    shutil.copytree(old_store, path)
    # a sample of the steps (every step is killed above): first, a city group, the last
    # before the rename, and each side of it
    sample = ["root group", "city/roads", "identity and layout_complete"]
    for step in [*sample, "old store moved aside", "new store in place"]:

        def fail(s, step=step):
            if s == step:
                raise OSError(errno.EIO, f"injected at {s}")

        atomic.creation_hook = fail
        try:
            with pytest.raises(OSError, match="injected"):
                _create(city, path)
        finally:
            atomic.creation_hook = None
        after = _state(path)
        assert after == (
            "old" if steps.index(step) < steps.index("new store in place") else SCENARIO
        )
        assert [p.name for p in tmp_path.iterdir()] == ["run.zarr"], step
        if after == SCENARIO:
            shutil.rmtree(path)
            shutil.copytree(old_store, path)


def test_half_made_store_of_old_versions_is_replaceable_not_resumable(city, tmp_path):
    path = tmp_path / "run.zarr"
    _create(city, path)
    meta = path / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["layout_complete"] = False
    meta.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="interrupted while it was being created; run without"):
        RunStore.open_for_resume(path, SCENARIO)
    _create(city, path)
    assert _state(path) == SCENARIO


def test_full_disk_still_records_a_shorter_status(tmp_path, monkeypatch):
    meta = tmp_path / "zarr.json"
    atomic.write_json(meta, {"attributes": {"status": "running"}})

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    atomic.write_json(meta, {"attributes": {"status": "failed"}})
    assert json.loads(meta.read_text()) == {"attributes": {"status": "failed"}}
    assert [p.name for p in tmp_path.iterdir()] == ["zarr.json"]  # no stray .tmp
    with pytest.raises(OSError, match="No space left"):  # longer: cannot be recorded
        atomic.write_json(meta, {"attributes": {"status": "failed", "more": "x" * 100}})
