"""Benchmark: signal-env steps per second, 1 to 64 cities in one batched model, and sumo-rl.

Claim (issue 18): N cities stepped as one batched model (``twin.envs.make_vec``) make
training worthwhile, and the env is faster than sumo-rl on the same 4 x 4 grid. For
each city and N the script times vector steps of random phase actions (every signal of
every city controlled, ``delta_s`` of simulated time per step) and prints env steps per
second (N times vector steps over the wall time; medians of ``--repeats``), for the
batched union, unions of 8 cities stepped in turn (``batch=8``) and, as the baseline
measured in the same run, a Python loop over N models. The sumo-rl row runs sumo-rl's
``SumoEnvironment`` (libsumo, multi-agent, all 16 signals, the same ``delta_s``, yellow
3 s, minimum green 5 s) on a SUMO network of the same grid (``netgenerate``: RESCO's
grid4x4 as :func:`twin.gridcity.grid_city` lays it, 300 m blocks and fringe streets,
three lanes, 50 km/h) with the twin's OD demand of the hour as SUMO flows, interleaved
with the twin's single env; the ratio is against it. The machine may be shared: read the
ratios.

Run ``python bench/envs.py`` (``--quick`` for a short check, ``--device gpu`` with a
GPU, ``--no-sumo`` without the sumo-rl row).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: bench.timing

import numpy as np

from bench.timing import median_time
from sim.traffic.demand import daily_profile
from twin.envs import make_vec
from twin.envs.grid import grid_scenario
from twin.gridcity import ORIGIN_M
from twin.runner import _load_city
from twin.scenario import Scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def demo_scenario(resolution_m: float) -> Scenario:
    """The demo scenario's city and settings, 07:00-08:00 (roads do not depend on the
    grid resolution, so a coarser city has the same traffic)."""
    sc = Scenario.from_toml(SCENARIOS / "june_weekday.toml")
    city = sc.city.model_dump() | {"resolution_m": resolution_m}
    return sc.with_updates(
        start=sc.start.replace(hour=7), duration="1h", output_interval="1h", city=city,
        traffic=sc.traffic.model_dump() | {"demand_noise": "poisson"}, device="cpu",
    )  # fmt: skip


def vec_chunk(sc, n, batch, delta_s, steps, repeats, device, city=None):
    """A function running ``steps`` vector steps of ``n`` cities (``batch`` ``union`` or
    ``loop``) with random phases, warmed up (sub-step constants, routes)."""
    env = make_vec(sc, n, delta_s=delta_s, batch=batch, device=device, city=city)
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = iter([env.action_space.sample() for _ in range(steps * (repeats + 1))])
    env.step(next(actions))

    def run():
        for _ in range(steps):
            env.step(next(actions))

    return run


def interleaved(runs, repeats: int) -> list[float]:
    """Median wall time of each function, the functions taking turns (so a change of the
    machine's load hits them alike)."""
    times = [[median_time(f, 1) for f in runs] for _ in range(repeats)]
    return [statistics.median(t[i] for t in times) for i in range(len(runs))]


# --------------------------------------------------------------------------- sumo-rl
def _sumo_home() -> str:
    import sumo

    return os.environ.setdefault("SUMO_HOME", sumo.SUMO_HOME)


def sumo_files(folder: Path, sc: Scenario) -> tuple[Path, Path]:
    """The grid as a SUMO network and the twin's OD matrix of the hour as SUMO flows."""
    import sumolib

    from twin.envs.batch import CityBatch

    home = _sumo_home()
    net = folder / "grid.net.xml"
    signals = ",".join(f"{c}{r}" for c in "ABCD" for r in range(4))
    subprocess.run(
        [f"{home}/bin/netgenerate", "--grid", "--grid.number=4", "--grid.length=300",
         "--grid.attach-length=300", "--default.lanenumber=3", "--default.speed=13.89",
         "--no-turnarounds=true", f"--tls.set={signals}", "-o", str(net)],
        check=True, capture_output=True,
    )  # fmt: skip
    network = sumolib.net.readNet(str(net))
    by_xy = {tuple(np.round(n.getCoord())): n for n in network.getNodes()}
    batch = CityBatch(sc, 1)
    roads = batch.city["roads"]
    demand = batch.demand
    zones = [
        by_xy[
            (round(roads["x"].values[z] - ORIGIN_M[0]), round(roads["y"].values[z] - ORIGIN_M[1]))
        ]
        for z in demand.zone_nodes
    ]
    tod = float(batch.time_of_day_s[0])
    factor = float(daily_profile(tod + 60.0 * (np.arange(60) + 0.5)).mean())
    rate = demand.od_veh_per_h * factor * sc.traffic.demand_scale
    rows = ["<routes>", '<vType id="car" length="5" minGap="2.5" maxSpeed="13.89"/>']
    end = sc.duration.total_seconds()
    for o, origin in enumerate(zones):
        for d, dest in enumerate(zones):
            if rate[o, d] > 0:
                start, stop = origin.getOutgoing()[0].getID(), dest.getIncoming()[0].getID()
                rows.append(
                    f'<flow id="f{o}_{d}" type="car" begin="0" end="{end:g}" from="{start}" '
                    f'to="{stop}" vehsPerHour="{rate[o, d]:.4f}" departLane="best"/>'
                )
    rows.append("</routes>")
    routes = folder / "grid.rou.xml"
    routes.write_text("\n".join(rows))
    return net, routes


def sumo_chunk(folder: Path, sc: Scenario, delta_s: float, steps: int, repeats: int):
    """A function running ``steps`` steps of sumo-rl (libsumo, all 16 signals, random
    phases) on the grid, warmed up; and its environment (to close)."""
    _sumo_home()
    os.environ["LIBSUMO_AS_TRACI"] = "1"
    import sumo_rl

    net, routes = sumo_files(folder, sc)
    env = sumo_rl.SumoEnvironment(
        net_file=str(net), route_file=str(routes), use_gui=False,
        num_seconds=int(sc.duration.total_seconds()), delta_time=int(delta_s),
        yellow_time=3, min_green=5, single_agent=False, sumo_warnings=False,
    )  # fmt: skip
    env.reset()
    spaces = {a: env.action_spaces(a) for a in env.ts_ids}
    for space in spaces.values():
        space.seed(0)

    def step():
        env.step({a: space.sample() for a, space in spaces.items()})

    def run():
        for _ in range(steps):
            step()

    step()  # warm up
    return run, env


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ns", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="N = 1 and 8, fewer steps")
    p.add_argument("--no-sumo", action="store_true")
    p.add_argument("--demo-resolution", type=float, default=250.0)
    args = p.parse_args(argv)
    ns = [n for n in args.ns if n <= 8] if args.quick else args.ns
    folder = Path(tempfile.mkdtemp(prefix="bench-envs-"))
    grid = grid_scenario(folder / "grid.zarr", hours=1.0, step="20s")
    demo = demo_scenario(args.demo_resolution)
    when = time.strftime("%Y-%m-%d %H:%M")
    machine = platform.processor() or platform.machine()
    print(f"# bench/envs.py on {machine}, {os.cpu_count()} CPUs, device {args.device}, {when}")
    print("| city | N | union | unions of 8 | loop | union / loop | unions of 8 / loop |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, sc, delta, steps in (("4x4 grid", grid, 20.0, 24), ("demo", demo, 60.0, 4)):
        city = _load_city(sc)
        for n in ns:
            k = max(1, steps // (4 if n >= 64 else 1) // (2 if args.quick else 1))
            batches = ["loop"] if n == 1 else ["union", "loop"]  # one city: the same model
            if n > 8:
                batches.append(8)
            if name == "demo" and n > 8:
                # the union's zone x link tables grow as N**2: 64 demo cities would need GBs,
                # and unions of 8 demo cities are slower than a loop already at N = 8
                batches = ["loop"]
            runs = [vec_chunk(sc, n, b, delta, k, args.repeats, args.device, city) for b in batches]
            rate = dict(zip(batches, (n * k / t for t in interleaved(runs, args.repeats)),
                            strict=True))  # fmt: skip
            loop = rate["loop"]
            union = rate.get("union", loop if n == 1 else float("nan"))
            eights = rate.get(8, union if n == 8 else float("nan"))
            print(f"| {name} | {n} | {union:,.1f} | {eights:,.1f} | {loop:,.1f} | "
                  f"{union / loop:.2f} | {eights / loop:.2f} |", flush=True)  # fmt: skip
    if not args.no_sumo:
        k = 24 // (2 if args.quick else 1)
        twin_run = vec_chunk(grid, 1, "loop", 20.0, k, args.repeats, args.device)
        try:
            sumo_run, env = sumo_chunk(folder, grid, 20.0, k, args.repeats)
        except (ImportError, OSError, subprocess.CalledProcessError) as err:
            print(f"sumo-rl: not run ({err})")
            return 0
        twin_t, sumo_t = interleaved([twin_run, sumo_run], args.repeats)
        env.close()
        print(
            f"\n4x4 grid, one city, all 16 signals, delta 20 s: twin {k / twin_t:,.1f} env "
            f"steps/s, sumo-rl (libsumo) {k / sumo_t:,.1f}: ratio {sumo_t / twin_t:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
