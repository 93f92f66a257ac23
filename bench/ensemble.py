"""Ensembles on Ray: 8 members on 1 worker against 2 workers, the per-member overhead,
and tiled air steps against one process.

    python bench/ensemble.py [--address HOST:PORT] [--members 8] [--hours 4]
                             [--air-size 1024] [--air-steps 3]

Baselines, measured in the same process: the same member run with ``twin.run`` here (no
Ray, a run store of its own), and run as an ensemble member here
(:func:`twin.ensemble.run_member` into a scratch ensemble store, no Ray), medians of 3.
The ensemble runs on a Ray that is already up with workers that are already warm (a
warm-up ensemble runs first), so neither Ray's start nor the workers' first imports are
counted:

* speed-up = wall(1 worker) / wall(2 workers) (target >= 1.7 on 2 cores);
* per-member overhead = wall(1 worker) / members - the ``twin.run`` baseline (target
  < 0.5 s): what a modeller pays per run for running it in an ensemble; and its parts:
  the member itself against ``twin.run`` (a member writes straight into the ensemble
  store, whose template the driver wrote once), and Ray's share, wall(1 worker) /
  members - the in-process member (the task round trip, scheduling, Ray's processes);
* the same in CPU time (each member's process time over its task against the
  in-process member's), which other jobs on a shared machine do not inflate;
* the machine's own ceiling, measured first: 4 members in 2 plain processes
  (``multiprocessing``, no Ray, :func:`run_member`) against the same 4 one after the other;
* tiled air (:mod:`twin.tiles`): ``--air-steps`` steps of the air model on an
  ``--air-size`` square grid (100 m cells, float32, an oblique 3 m/s wind over random
  buildings, 10 sub-steps a step) in this process against the same steps on 1 x 2 and
  2 x 2 tiles (512-cell chunks), the actors started and warm before timing; the tiled
  result is checked equal to the untiled one, bitwise. Ratio = untiled wall / tiled wall.

Members are 4 h by default (about 1.9 s each): the driver's own part (writing the
template, about 1.3 s, and reading the KPI table back) is serial, so with 1 h members
(about 0.9 s) the speed-up measures it more than the members (Amdahl); ``--hours 1``
shows it.

The load average is printed at the start and the end: on a shared machine the second
worker gets what the other jobs leave of the second core.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import twin
from sim.air import AirModel
from twin.distributed import TileGroup, connect, run_ensemble
from twin.ensemble import open_or_create, run_member, sweep_members
from twin.testing import CITY, scenario
from twin.tiles import TiledAir, layout


def _run(args) -> None:
    assert run_member(*args).status == "complete"


def _ceiling(members, scratch: str) -> float:
    """Speed-up of 2 plain processes over one on 4 members run into the scratch ensemble
    store ``scratch`` (before Ray starts: fork)."""
    jobs = [(scratch, k, members[k]) for k in range(4, 8)]
    t = time.perf_counter()
    for job in jobs:
        _run(job)
    one = time.perf_counter() - t
    t = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_run, jobs)
    return one / (time.perf_counter() - t)


def _air_steps(model, step, state, forcing, steps: int) -> tuple[dict, float, float]:
    """``steps`` air steps of 300 s; the state after them, wall and CPU time [s]."""
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        state = step(state, forcing, 300.0)
    return state, time.perf_counter() - t, time.process_time() - c


def _tiled_air(size: int, steps: int, address: str | None) -> None:
    """Untiled against tiled air steps on a ``size`` x ``size`` grid (see the module doc)."""
    rng = np.random.default_rng(0)
    model = AirModel(100.0)
    state = model.init({"building_height": rng.uniform(0, 60, (size, size))}, np)
    forcing = {"wind_speed": 3.0, "wind_from_direction": 230.0, "mixing_height": 600.0}
    forcing |= {f"emission_{s}": rng.uniform(0, 2e-6, (size, size)) for s in model.species}
    n = model.substeps(state, forcing, 300.0)
    whole, wall, cpu = _air_steps(model, model.step, state, forcing, steps)
    print(f"\nair model, {size} x {size} cells, float32, {steps} steps of {n} sub-steps")
    print(f"{'case':<28}{'wall [s]':>9}{'driver CPU':>11}{'tiles CPU sum/max':>19}"
          f"{'wall ratio':>11}{'CPU ratio':>10}")  # fmt: skip
    print(f"{'one process (baseline)':<28}{wall:>9.2f}{cpu:>11.2f}{'':>19}{'1.00x':>11}"
          f"{'1.00x':>10}")  # fmt: skip
    for tiles in ((1, 2), (2, 2)):
        tiled = TiledAir(
            model,
            layout((size, size), tiles, 512),
            lambda ts, m, s: TileGroup(ts, m, s, device="cpu", address=address),
        )
        try:
            tiled.step(state, forcing, 300.0)  # starts the actors: not timed
            before = tiled.group.cpu_seconds()
            # from ``state`` again: the actors load it (counted), then step
            parts, t_wall, t_cpu = _air_steps(tiled, tiled.step, state, forcing, steps)
            used = [b - a for a, b in zip(before, tiled.group.cpu_seconds(), strict=True)]
        finally:
            tiled.close()
        assert all(np.array_equal(parts[s], whole[s]) for s in model.species), tiles
        label = f"{tiles[0]} x {tiles[1]} tiles (Ray actors)"
        spent = f"{sum(used):.2f}/{max(used):.2f}"
        print(f"{label:<28}{t_wall:>9.2f}{t_cpu:>11.2f}{spent:>19}{wall / t_wall:>10.2f}x"
              f"{cpu / (max(used) + t_cpu):>9.2f}x")  # fmt: skip
    print(
        "CPU ratio = baseline CPU / (busiest tile's CPU + driver CPU): the speed-up with a "
        "free core per tile"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=None, help="Ray cluster (default: a local Ray)")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--hours", type=float, default=4.0, help="simulated hours a member")
    parser.add_argument("--air-size", type=int, default=1024, help="air grid side [cells]")
    parser.add_argument("--air-steps", type=int, default=3)
    parser.add_argument("--only-air", action="store_true", help="skip the ensemble part")
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.1f} (2 cores)")
    if args.only_air:
        connect(args.address, num_cpus=2)
        _tiled_air(args.air_size, args.air_steps, args.address)
        return
    sweep = {"weather.seed": range(args.members)}
    with tempfile.TemporaryDirectory(prefix="twin-bench-ensemble-") as tmp:
        root = Path(tmp)
        city = twin.build_city(CITY["dataset"], resolution_m=CITY["resolution_m"])
        city.save(root / "city.zarr")  # every case reads the city from a store
        sc = scenario(hours=args.hours, step="120s",
                      city=CITY | {"store": str(root / "city.zarr")})  # fmt: skip
        members = sweep_members(sc, {"weather.seed": range(200, 208)})
        scratch = str(open_or_create(root / "scratch.zarr", members).path)
        ceiling = _ceiling(members, scratch)
        t0 = time.perf_counter()
        connect(args.address, num_cpus=2)
        print(f"Ray up in {time.perf_counter() - t0:.1f} s (not counted)")
        runs = {"twin.run": [], "member": []}
        for k in range(3):
            t, c = time.perf_counter(), time.process_time()
            twin.run(members[0].scenario, root / f"single{k}.zarr", progress=False)
            runs["twin.run"].append((time.perf_counter() - t, time.process_time() - c))
            t, c = time.perf_counter(), time.process_time()
            assert run_member(scratch, k, members[k]).status == "complete"
            runs["member"].append((time.perf_counter() - t, time.process_time() - c))
        (base, base_cpu), (inproc, inproc_cpu) = (
            [statistics.median(v) for v in zip(*runs[name], strict=True)] for name in runs
        )
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
    print(f"{'case':<40}{'wall [s]':>10}{'per member [s]':>16}")
    print(f"{'twin.run here (baseline, median)':<40}{base:>10.2f}{base:>16.2f}")
    print(f"{'run_member here, no Ray (median)':<40}{inproc:>10.2f}{inproc:>16.2f}")
    for workers, wall in walls.items():
        print(f"{f'ensemble, {workers} worker(s)':<40}{wall:>10.2f}{wall / n:>16.2f}")
    print(f"speed-up 2 vs 1 workers: {walls[1] / walls[2]:.2f}x (target >= 1.7; "
          f"2 plain processes on this machine now: {ceiling:.2f}x)")  # fmt: skip
    print(f"per-member overhead against twin.run: {walls[1] / n - base:+.2f} s (target < 0.5 s)"
          f" = member against twin.run {inproc - base:+.2f} s + Ray's share "
          f"{walls[1] / n - inproc:+.2f} s")  # fmt: skip
    cpu = statistics.median(cpus)
    print(f"CPU per member: {cpu:.2f} s in the ensemble, {inproc_cpu:.2f} s for run_member here "
          f"(overhead {cpu - inproc_cpu:+.2f} s), {base_cpu:.2f} s for twin.run here")  # fmt: skip
    _tiled_air(args.air_size, args.air_steps, args.address)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
