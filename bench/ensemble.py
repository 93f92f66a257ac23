"""Ensembles on Ray: 8 members on 1 worker against 2 workers, and the per-member overhead.

    python bench/ensemble.py [--address HOST:PORT] [--members 8] [--hours 1]

Baseline, measured in the same process: the same member run with ``twin.run`` here (no
Ray, no ensemble store), median of 3. The ensemble runs on a Ray that is already up
with workers that are already warm (a warm-up ensemble runs first), so neither Ray's
start nor the workers' first imports are counted:

* speed-up = wall(1 worker) / wall(2 workers) (target >= 1.7 on 2 cores);
* per-member overhead = wall(1 worker) / members - baseline (target < 0.5 s): the task
  round trip, the member's temporary store and the copy into the ensemble store;
* the same in CPU time (each member's process time over its task against the baseline's
  process time), which other jobs on a shared machine do not inflate;
* the machine's own ceiling, measured first: 4 members in 2 plain processes
  (``multiprocessing``, no Ray) against the same 4 one after the other.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import twin
from twin.distributed import connect, run_ensemble
from twin.ensemble import sweep_members
from twin.testing import CITY, scenario


def _run(args) -> None:
    member, path = args
    twin.run(member, path, progress=False)


def _ceiling(members, root: Path) -> float:
    """Speed-up of 2 plain processes over one on 4 members (before Ray starts: fork)."""
    jobs = [(m.scenario, root / f"ceiling{k}.zarr") for k, m in enumerate(members[:4])]
    t = time.perf_counter()
    for job in jobs:
        _run(job)
    one = time.perf_counter() - t
    t = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_run, jobs)
    return one / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=None, help="Ray cluster (default: a local Ray)")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    sweep = {"weather.seed": range(args.members)}
    with tempfile.TemporaryDirectory(prefix="twin-bench-ensemble-") as tmp:
        root = Path(tmp)
        city = twin.build_city(CITY["dataset"], resolution_m=CITY["resolution_m"])
        city.save(root / "city.zarr")  # every case reads the city from a store
        sc = scenario(hours=args.hours, step="120s",
                      city=CITY | {"store": str(root / "city.zarr")})  # fmt: skip
        ceiling = _ceiling(sweep_members(sc, sweep), root)
        t0 = time.perf_counter()
        connect(args.address, num_cpus=2)
        print(f"Ray up in {time.perf_counter() - t0:.1f} s (not counted)")
        member = sweep_members(sc, sweep)[0].scenario
        single, single_cpu = [], []
        for k in range(3):
            t, c = time.perf_counter(), time.process_time()
            twin.run(member, root / f"single{k}.zarr", progress=False)
            single.append(time.perf_counter() - t)
            single_cpu.append(time.process_time() - c)
        base, base_cpu = statistics.median(single), statistics.median(single_cpu)
        run_ensemble(sc, {"weather.seed": [100, 101]}, root / "warm.zarr", workers=2)
        walls, cpus = {}, []
        for workers in (1, 2):
            t = time.perf_counter()
            table = run_ensemble(sc, sweep, root / f"w{workers}.zarr", workers=workers,
                                 on_member=lambda r, *_: cpus.append(r.cpu_s))  # fmt: skip
            walls[workers] = time.perf_counter() - t
            assert list(table["status"].values) == ["complete"] * args.members
    n = args.members
    print(f"{n} members of {args.hours:g} h on the test city (minicity, 250 m, 120 s steps)")
    print(f"{'case':<34}{'wall [s]':>10}{'per member [s]':>16}")
    print(f"{'twin.run here (baseline, median)':<34}{base:>10.2f}{base:>16.2f}")
    for workers, wall in walls.items():
        print(f"{f'ensemble, {workers} worker(s)':<34}{wall:>10.2f}{wall / n:>16.2f}")
    print(f"speed-up 2 vs 1 workers: {walls[1] / walls[2]:.2f}x (target >= 1.7; "
          f"2 plain processes on this machine now: {ceiling:.2f}x)")  # fmt: skip
    print(f"per-member overhead: {walls[1] / n - base:+.2f} s (target < 0.5 s)")
    cpu = statistics.median(cpus)
    print(f"CPU per member: {cpu:.2f} s in the ensemble, {base_cpu:.2f} s for twin.run here: "
          f"overhead {cpu - base_cpu:+.2f} s of CPU")  # fmt: skip


if __name__ == "__main__":
    main()
