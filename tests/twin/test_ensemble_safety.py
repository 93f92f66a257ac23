"""Ensemble stores are as safe as run stores (twin.ensemble, twin.atomic, twin.locking,
twin.fingerprint, twin.storeguard): the template is created atomically (a kill at every
step of it, by the fault-injection seam), one driver writes a store, a re-run refuses
changed inputs and never replaces what is not its ensemble, and crafted ensemble stores
are refused cleanly (exit 2, store and part named) under a memory limit."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

import gpu
from tests.twin import store_corpus
from tests.twin.test_storeguard import MEMORY_LIMIT, assert_refused, run_corpus
from twin import atomic
from twin.catalog import datasets_root
from twin.coupling import Coupler
from twin.ensemble import COMPLETE, PENDING, EnsembleStore, open_or_create, run_member
from twin.ensemble import sweep_members as members_of
from twin.errors import InputError
from twin.locking import WriterLock
from twin.runner import _load_city, run
from twin.testing import scenario as small_scenario

SWEEP = {"traffic.demand_scale": [0.8, 1.2]}


def scenario(**changes):
    return small_scenario(hours=1, step="120s", **changes)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """An ensemble store of two members, member 1 complete, and its scenario file."""
    folder = tmp_path_factory.mktemp("ensemble")
    sc_path = folder / "sweep.toml"
    sc_path.write_text(scenario().to_toml())
    members = members_of(scenario(), SWEEP)
    path = folder / "good.zarr"
    open_or_create(path, members)
    assert run_member(path, 1, members[1]).status == "complete"
    return path, sc_path, members


# ---------------------------------------------------------------- atomic creation
def _template_args(members):
    first = members[0].scenario
    city = _load_city(first)
    coupler = Coupler(city, first, gpu.select("cpu"))
    coupler.init()
    layouts, coords, _ = coupler.layouts()
    return city.tree, members, layouts, coords, {"scenario": first.to_toml()}


def _kill_at(path: Path, args, step: str) -> None:
    """Create a template in a forked child that SIGKILLs itself at ``step``."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        try:
            atomic.creation_hook = lambda s: s == step and os.kill(os.getpid(), signal.SIGKILL)
            EnsembleStore.create(path, *args)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, step


def test_kill_at_every_template_step_leaves_a_usable_path(good, tmp_path):
    members = good[2]
    args = _template_args(members)
    seen: list[str] = []
    atomic.creation_hook = seen.append
    try:  # replacing a store: every step, the old store's moves included
        EnsembleStore.create(tmp_path / "steps.zarr", *args)
        EnsembleStore.create(tmp_path / "steps.zarr", *args)
    finally:
        atomic.creation_hook = None
    steps = list(dict.fromkeys(seen))
    assert {"ensemble template", "consolidated", "old store removed"} <= set(steps)
    for i, step in enumerate(steps):
        path = tmp_path / f"e{i}.zarr"
        shutil.copytree(good[0], path)  # the old store: a run of member 1
        _kill_at(path, args, step)
        if path.exists():  # the old ensemble or the new one, complete: never half-made
            status = list(EnsembleStore(path).status())
            assert status in ([PENDING, COMPLETE], [PENDING, PENDING]), step
        else:
            assert step == "old store moved aside", step
        # a re-run continues or replaces what is there, and removes the kill's leftovers
        assert open_or_create(path, members).status().shape == (2,)
        assert sorted(p.name for p in tmp_path.glob(f"e{i}.zarr*")) == [f"e{i}.zarr"], step


# ---------------------------------------------------------------- one writer, same inputs
def test_a_second_driver_is_refused_naming_the_holder(good, tmp_path):
    from twin.distributed import run_members

    path = tmp_path / "held.zarr"
    with WriterLock(path), pytest.raises(InputError, match=rf"pid {os.getpid()} on host"):
        run_members(good[2], path)  # refused before Ray starts or anything is written
    assert not path.exists()


def test_a_rerun_with_a_changed_input_is_refused(tmp_path):
    folder = tmp_path / "minicity"
    shutil.copytree(datasets_root() / "minicity", folder)
    sc = scenario().with_updates(city=scenario().city.model_dump() | {"dataset": str(folder)})
    members = members_of(sc, SWEEP)
    path = tmp_path / "e.zarr"
    open_or_create(path, members)
    assert open_or_create(path, members).path == path  # unchanged: continued
    with open(folder / "dataset.toml", "a") as f:
        f.write("\n# edited\n")
    with pytest.raises(InputError, match=r"the input city.dataset = .* changed.*--overwrite"):
        open_or_create(path, members)
    assert open_or_create(path, members, overwrite=True).path == path


def test_a_plain_run_or_a_damaged_ensemble_is_not_replaced(good, tmp_path):
    members = good[2]
    plain = run(scenario(), tmp_path / "run.zarr", progress=False).store
    with pytest.raises(InputError, match="holds a run, not an ensemble; refusing to replace"):
        open_or_create(plain, members)
    damaged = tmp_path / "damaged.zarr"
    shutil.copytree(good[0], damaged)
    (damaged / "members" / "status" / "c" / "1").unlink()
    with pytest.raises(InputError, match=r"status chunk c/1 is missing.*refusing to continue"):
        open_or_create(damaged, members)
    assert (damaged / "state").is_dir()  # nothing was deleted


def test_render_refuses_a_member_that_is_not_complete(good):
    from viz.source import Source

    with pytest.raises(InputError, match="member 0 is pending; only complete members"):
        Source.open(good[0], member=0)
    assert Source.open(good[0], member=1).run is not None


# ---------------------------------------------------------------- crafted ensemble stores
@pytest.fixture(scope="module")
def corpus(good, tmp_path_factory):
    store, sc_path, _ = good
    root = tmp_path_factory.mktemp("ensemble_corpus")
    return run_corpus(store_corpus.ENSEMBLE_CASES, store, sc_path, root)


@pytest.mark.parametrize("name", list(store_corpus.ENSEMBLE_CASES))
def test_crafted_ensemble_refused_cleanly(corpus, name):
    assert_refused(corpus, store_corpus.ENSEMBLE_CASES, name)


def test_ensemble_corpus_counts(corpus):
    """The closing note's numbers for ensemble stores."""
    clean = sum(r["code"] == 2 and "Traceback" not in r["output"] for r in corpus.values())
    assert clean == len(corpus)
    peak = max(r["max_rss_mb"] for r in corpus.values())
    assert peak * (1 << 20) < MEMORY_LIMIT
    print(
        f"crafted ensemble stores: {len(store_corpus.ENSEMBLE_CASES)}, commands tried: "
        f"{len(corpus)}, clean: {clean}; peak RSS {peak:.0f} MB"
    )
