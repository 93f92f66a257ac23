"""Benchmark: signal-control services against fixed-time plans, paired over seeds.

Claim (issue 13): ``twin.evaluate`` scores a signal service against its baseline with
intervals. Two cities:

- ``grid``: the 4 x 4 signalized grid of :func:`twin.gridcity.grid_city` (RESCO's
  ``grid4x4`` geometry), the morning peak from 07:00;
- ``gwangju``: ``scenarios/high_demand.toml`` (Gwangju at 100 m, 40 % more trips).

Each seed draws its own Poisson demand, weather and sensor noise; both arms of a seed share
them. Services decide every ``--every`` seconds (a multiple of ``--step``), from detectors
only. Printed: total delay, mean speed and vehicles in the network at the end (and trips
completed), baseline and service means, the paired difference with its 95 % interval.
Run ``python bench/signal_services.py --city grid`` (``--seeds 2 --hours 1`` for a look).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.evaluation import evaluate
from twin.gridcity import grid_city
from twin.scenario import Scenario, ServiceSpec, builtin_scenario

KPIS = ("total_delay", "mean_speed", "vehicles_in_network", "completed_trips")


def scenario(args, workdir: Path) -> Scenario:
    date = args.date or "2026-10-16"  # the grid: a weekday
    if args.city == "gwangju":
        base = Scenario.from_toml(builtin_scenario("high_demand"))
        date = args.date or f"{base.start:%Y-%m-%d}"
    window = {
        "start": f"{date}T{args.start:02d}:00:00+09:00",
        "duration": f"{args.hours:g}h",
        "step": f"{args.step:g}s",
        "output_interval": "15min",
    }
    traffic = {"demand_noise": "poisson"}
    if args.city == "grid":
        store = workdir / "grid4x4.zarr"
        grid_city().save(store)
        return Scenario.from_dict(
            {
                "name": "grid4x4-peak",
                "city": {"store": str(store)},
                "traffic": traffic | {"trips_per_day": args.trips, "zone_size_m": 200},
                "device": "cpu",
            }
            | window
        )
    changes = window if args.hours < 24 else {"step": window["step"]}
    return base.with_updates(traffic=base.traffic.model_dump() | traffic, device="cpu", **changes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--city", choices=("grid", "gwangju"), default="grid")
    p.add_argument("--services", default="max_pressure,longest_queue")
    p.add_argument("--baseline", default="fixed_time")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument("--start", type=int, default=7, help="start hour (city time)")
    p.add_argument("--date", default=None, help="default: the scenario's (grid: 2026-10-16)")
    p.add_argument("--step", type=float, default=20.0, help="coupling step [s]")
    p.add_argument("--every", type=float, default=20.0, help="decision interval [s]")
    p.add_argument("--trips", type=float, default=120_000, help="grid: trips per day")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sc = scenario(args, Path(tmp))
        print(
            f"# {sc.name}: {args.hours:g} h from {sc.start:%Y-%m-%d %H:%M %z}, step "
            f"{args.step:g} s, decisions every {args.every:g} s, {args.seeds} seeds, "
            f"{platform.processor() or platform.machine()}"
        )
        for name in args.services.split(","):
            t0 = time.perf_counter()
            ev = evaluate(
                sc,
                ServiceSpec(name=name, every=args.every),
                ServiceSpec(name=args.baseline, every=3600),
                seeds=args.seeds,
            )
            wall = time.perf_counter() - t0
            print(f"\n## {name} against {args.baseline} ({wall:.0f} s for {2 * args.seeds} runs)")
            print("| KPI | units | baseline | service | difference (95 % CI) | relative |")
            print("|---|---|---:|---:|---|---:|")
            for k in KPIS:
                v = {s: float(ev.table[k].sel(stat=s)) for s in ev.table["stat"].values}
                print(
                    f"| {k} | {ev.table[k].attrs['units']} | {v['baseline']:.4g} | "
                    f"{v['service']:.4g} | {v['difference']:+.4g} ({v['ci_low']:+.4g} to "
                    f"{v['ci_high']:+.4g}) | {100 * v['relative']:+.1f} % |"
                )


if __name__ == "__main__":
    main()
