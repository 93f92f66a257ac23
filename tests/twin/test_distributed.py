"""Ensembles on Ray (twin.distributed): one store, equal to separate runs, faults, resume.

Ray starts once per test session: a cluster started with ``ray start --head`` on
127.0.0.1 (2 CPUs, no dashboard; the ``cluster`` fixture of tests/twin/conftest.py),
which the tests join through ``address=``, stopped afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import twin
from twin import InputError
from twin.ensemble import COMPLETE, EnsembleStore, sweep_members
from twin.store import read_kpis
from twin.testing import scenario as small_scenario

ray = pytest.importorskip("ray")
from twin.distributed import run_ensemble  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")  # one pytest worker runs every Ray test

ROOT = Path(__file__).resolve().parents[2]
SWEEP = {"traffic.demand_scale": [0.8, 1.2], "weather.seed": [0, 1]}


def scenario():
    """An hour of the test city, 2 min steps: about a second per member."""
    return small_scenario(hours=1, step="120s")


@pytest.fixture(scope="module")
def reference(cluster, tmp_path_factory):
    """The undisturbed ensemble of the 4 members of :data:`SWEEP`."""
    path = tmp_path_factory.mktemp("ens") / "sweep.zarr"
    table = run_ensemble(scenario(), SWEEP, path, address=cluster["address"])
    return path, table


def _slabs_equal(a: Path, b: Path) -> None:
    """Every state and KPI array of two ensemble stores, bitwise."""
    ga, gb = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
    for path in EnsembleStore(a).slabs + [f"kpi/{n}" for n, _ in ga["kpi"].arrays()]:
        x, y = ga[path][...], gb[path][...]
        assert x.tobytes() == y.tobytes(), path
    assert np.array_equal(ga["members/status"][...], gb["members/status"][...])


def test_ensemble_equals_separate_runs(reference, tmp_path):
    path, table = reference
    members = sweep_members(scenario(), SWEEP)
    assert list(table["status"].values) == ["complete"] * 4
    assert list(table["traffic_demand_scale"].values) == [0.8, 0.8, 1.2, 1.2]
    assert list(table["weather_seed"].values) == [0, 1, 0, 1]
    store = zarr.open_group(path, mode="r")
    for i, m in enumerate(members):
        run = twin.run(m.scenario, tmp_path / f"m{i}.zarr", progress=False)
        own = zarr.open_group(run.store, mode="r")
        for slab in EnsembleStore(path).slabs:  # every state variable, bitwise
            assert store[slab][i].tobytes() == own[slab][...].tobytes(), (i, slab)
        kpis = read_kpis(run.store)
        for name, var in kpis.data_vars.items():
            assert table[name].values[i].tobytes() == var.values.tobytes(), (i, name)
    import json

    assert "consolidated_metadata" in json.loads((path / "zarr.json").read_text())
    # the members differ (the sweep reached them)
    assert not np.array_equal(store["state/traffic/flow"][0], store["state/traffic/flow"][2])


def test_rerun_skips_complete_members(reference, cluster):
    path, table = reference
    seen = []
    again = run_ensemble(scenario(), SWEEP, path, address=cluster["address"],
                         on_member=lambda r, done, n: seen.append(r.index))  # fmt: skip
    assert seen == []
    assert again["wall_seconds"].values.tobytes() == table["wall_seconds"].values.tobytes()


def test_model_error_recorded_others_go_on(cluster, tmp_path):
    members = [{"weather.source": "synthetic"}, {"weather.source": str(tmp_path / "no.csv")}]
    table = run_ensemble(scenario(), store=tmp_path / "e.zarr", members=members,
                         address=cluster["address"])  # fmt: skip
    assert list(table["status"].values) == ["complete", "failed"]
    assert "no.csv" in table["error"].values[1]
    assert np.isfinite(table["total_delay"].values[0]) and np.isnan(table["total_delay"][1])


def test_bad_input_before_any_member(cluster, tmp_path):
    sc, store = scenario(), tmp_path / "bad.zarr"
    cases = [
        ({"traffic.demand_scal": [1.0]}, "demand_scal"),
        ({"trafic.demand_scale": [1.0]}, "trafic"),
        ({"traffic.demand_scale": []}, "empty"),
        ({"traffic.demand_scale": [1.0, -2.0]}, "demand_scale"),
        ({"duration": ["2h"]}, "store layout"),
    ]
    for sweep, words in cases:
        with pytest.raises(InputError, match=words):
            run_ensemble(sc, sweep, store, address=cluster["address"])
        assert not store.exists()
    t0 = time.monotonic()
    with pytest.raises(InputError, match=r"no Ray cluster answers at 127\.0\.0\.1:1"):
        run_ensemble(sc, {"weather.seed": [0]}, store, address="127.0.0.1:1")
    assert time.monotonic() - t0 < 15 and not store.exists()


def _descendants(pid: int) -> set[int]:
    """Process ids under ``pid`` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _member_workers(cluster) -> list[int]:
    pids = []
    for pid in _descendants(cluster["pid"]):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(b"ray::run_member"):
            pids.append(pid)
    return pids


def test_killed_worker_is_retried(reference, cluster, tmp_path):
    path = tmp_path / "killed.zarr"
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(table=run_ensemble(
        scenario(), SWEEP, path, address=cluster["address"])))  # fmt: skip
    thread.start()
    killed, deadline = None, time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        workers = _member_workers(cluster)
        if workers:
            time.sleep(0.5)  # let it get into the run
            os.kill(workers[0], signal.SIGKILL)
            killed = workers[0]
        time.sleep(0.1)
    thread.join(300)
    assert killed is not None, "no member worker seen to kill"
    assert list(out["table"]["status"].values) == ["complete"] * 4
    _slabs_equal(path, reference[0])


def _any_complete(path: Path) -> bool:
    """Whether a member of the ensemble store at ``path`` is complete. The driver writes
    the template in place, ``/members`` before the root's ``ensemble`` attribute, so the
    store is not yet one until that attribute is there (reading it earlier was why this
    test failed when it ran alone: the first poll came during the template's writing)."""
    if not (path / "members").exists():
        return False
    try:
        return bool((EnsembleStore(path).status() == COMPLETE).any())
    except InputError:  # still being created
        return False


def test_killed_driver_resumes(reference, cluster, tmp_path):
    path = tmp_path / "driver.zarr"
    code = (
        "from tests.twin.test_distributed import SWEEP, scenario\n"
        "from twin.distributed import run_ensemble\n"
        f"run_ensemble(scenario(), SWEEP, {str(path)!r}, address={cluster['address']!r},"
        " workers=1)\n"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and driver.poll() is None:
        if _any_complete(path):
            break
        time.sleep(0.2)
    assert driver.poll() is None, "the driver finished before it could be killed"
    driver.kill()
    driver.wait()
    # The member in flight outlives its driver until Ray reaps the orphaned task, and may
    # still complete: wait until no member runs, or the status read here races with it
    # (a member completing after this read is skipped by the re-run below).
    while _member_workers(cluster) and time.monotonic() < deadline + 60:
        time.sleep(0.2)
    status = EnsembleStore(path).status()
    assert 1 <= np.sum(status == COMPLETE) < 4
    seen = []
    table = run_ensemble(scenario(), SWEEP, path, address=cluster["address"],
                         on_member=lambda r, done, n: seen.append(r.index))  # fmt: skip
    assert sorted(seen) == [i for i in range(4) if status[i] != COMPLETE]
    assert list(table["status"].values) == ["complete"] * 4
    _slabs_equal(path, reference[0])


def test_cli_sweep_and_info(cluster, tmp_path):
    from typer.testing import CliRunner

    from twin.cli import app

    toml = tmp_path / "s.toml"
    toml.write_text(scenario().to_toml(), encoding="utf-8")
    store = tmp_path / "cli.zarr"
    cli = CliRunner()
    args = ["sweep", str(toml), "-p", "traffic.demand_scale=0.8,1.2", "-o", str(store),
            "--address", cluster["address"]]  # fmt: skip
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    for text in ("2 of 2 members complete", "total_delay", "spread", "members"):
        assert text in result.output, text
    result = cli.invoke(app, ["info", str(store)])
    assert result.exit_code == 0, result.output
    assert "ensemble" in result.output and "2 (0 pending, 2 complete, 0 failed)" in result.output
    result = cli.invoke(app, ["kpi", str(store)])
    assert result.exit_code == 0 and "2 of 2 members complete" in result.output, result.output
    bad = cli.invoke(app, [*args[:3], "traffic.demand_scale", *args[4:]])
    assert bad.exit_code == 2 and "KEY=V1,V2" in bad.output and "Traceback" not in bad.output


def test_evaluate_on_ray_equals_one_by_one(cluster, tmp_path):
    sc = small_scenario(hours=1)  # 60 s steps: max_pressure decides every 60 s
    here = twin.evaluate(sc, "max_pressure", seeds=2)
    there = twin.evaluate(sc, "max_pressure", seeds=2, address=cluster["address"],
                          store_dir=tmp_path)  # fmt: skip
    assert there.ensemble == tmp_path / "evaluation.zarr" and there.ensemble.exists()
    assert set(here.members.data_vars) == set(there.members.data_vars)
    for name, var in here.members.data_vars.items():
        assert var.dims == there.members[name].dims
        assert var.values.tobytes() == there.members[name].values.tobytes(), name


def test_local_ray_without_address(tmp_path):
    """No address and no RAY_ADDRESS: a local Ray (in a process of its own), its files
    under the cache folder."""
    import shutil
    import tempfile

    cache = Path(tempfile.mkdtemp(prefix="tc", dir="/tmp"))  # short: Ray's socket paths
    code = (
        "from tests.twin.test_distributed import scenario\n"
        "from twin.distributed import run_ensemble\n"
        f"t = run_ensemble(scenario(), {{'weather.seed': [3]}}, {str(tmp_path / 'l.zarr')!r})\n"
        "print(list(t['status'].values))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env |= {"PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(cache)}
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=400)  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        assert "['complete']" in out.stdout
        assert any((cache / "twin" / "ray").glob("session_*"))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_gpu_share_from_measured_memory():
    from twin.distributed import _measured_share
    from twin.ensemble import MemberResult

    gib = 2**30
    assert _measured_share(MemberResult(0, "complete", device_bytes=None)) is None
    # 1.25 x 10 GiB of 80 GiB = 0.156 -> 3/16; tiny uses get 1/16; huge ones a whole GPU
    assert _measured_share(MemberResult(0, "complete", device_bytes=(10 * gib, 80 * gib))) == 3 / 16
    assert _measured_share(MemberResult(0, "complete", device_bytes=(1, 80 * gib))) == 1 / 16
    assert _measured_share(MemberResult(0, "complete", device_bytes=(79 * gib, 80 * gib))) == 1.0


class _Ref:
    """An object ref of :class:`_FakeRay` (hashable, like Ray's)."""

    def __init__(self, result):
        self.result = result


class _FakeRay:
    """Just enough of Ray for :func:`twin.distributed.run_members`: a cluster with GPUs
    (``resources``), tasks that return a result at once, and a record of what each asked
    for and how many were in flight."""

    class exceptions:
        RayError = RuntimeError

    def __init__(self, resources, device_bytes):
        self.resources, self.device_bytes = resources, device_bytes
        self.asked: list[dict] = []
        self.in_flight: list[int] = []
        self.flight: set = set()

    def cluster_resources(self):
        return dict(self.resources)

    def remote(self, **_):
        fake = self

        class Task:
            def options(self, **opts):
                class Call:
                    def remote(self, store, i, member, device):
                        from twin.ensemble import MemberResult

                        fake.asked.append(opts)
                        ref = _Ref(MemberResult(i, "complete", device_bytes=fake.device_bytes))
                        fake.flight.add(i)
                        fake.in_flight.append(len(fake.flight))
                        return ref

                return Call()

        return lambda fn: Task()

    def wait(self, refs, num_returns):
        self.flight.discard(refs[0].result.index)
        return refs[:1], refs[1:]

    def get(self, ref):
        return ref.result


def test_gpu_share_asked_from_the_first_members_memory(monkeypatch, tmp_path):
    """On a cluster with GPUs the first member runs alone on a whole GPU; the others ask
    for the share its measured device memory implies (10 of 80 GiB: 3/16), all at once.
    With ``device="cpu"`` or no GPUs in the cluster, one CPU each."""
    import twin.distributed as dist

    gib = 2**30
    members = sweep_members(scenario(), {"weather.seed": [0, 1, 2, 3]})
    fake = _FakeRay({"CPU": 8, "GPU": 2}, (10 * gib, 80 * gib))
    monkeypatch.setattr(dist, "connect", lambda address: fake)
    dist.run_members(members, tmp_path / "g.zarr", device="gpu")
    assert fake.asked[0] == {"num_cpus": 1, "num_gpus": 1.0}
    assert fake.asked[1:] == [{"num_cpus": 1, "num_gpus": 3 / 16}] * 3
    assert fake.in_flight[0] == 1 and max(fake.in_flight) == 3
    fixed = _FakeRay({"CPU": 8, "GPU": 2}, (10 * gib, 80 * gib))
    monkeypatch.setattr(dist, "connect", lambda address: fixed)
    dist.run_members(members, tmp_path / "f.zarr", device="gpu", gpu_share=0.5)
    assert fixed.asked == [{"num_cpus": 1, "num_gpus": 0.5}] * 4
    plain = _FakeRay({"CPU": 8}, None)
    monkeypatch.setattr(dist, "connect", lambda address: plain)
    dist.run_members(members, tmp_path / "c.zarr", device="gpu")
    assert plain.asked == [{"num_cpus": 1}] * 4
    assert dist._resources(fake, "cpu", None) == {"num_cpus": 1}


def test_ray_errors_are_one_plain_line():
    from twin.distributed import _ray_error

    class Crashed(Exception):  # like ray.exceptions.WorkerCrashedError: colour, then a hint
        cause = None

        def __str__(self):
            return "\x1b[31mThe worker died unexpectedly.\x1b[39m\nCheck the logs."

    assert _ray_error(Crashed()) == "Crashed: The worker died unexpectedly."
    wrapped = Crashed()
    wrapped.cause = ValueError("trips_per_day must be finite")  # like RayTaskError.cause
    assert _ray_error(wrapped) == "ValueError: trips_per_day must be finite"
