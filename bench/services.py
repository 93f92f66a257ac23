"""Benchmark: what the service hook costs per decision (observe + decide + apply).

Claim (issue 13): the hook is cheap next to a coupling step. The demo city (Gwangju at
100 m by default) runs ``--hours`` from 07:00 three times in this process: without
services, with a service that observes and decides nothing, and with one that also
applies an action at every decision (an EV charging limit per district, and a signal
plan). Decisions are every coupling step (60 s), the most a service may ask. Reported:
the run's ``services`` timer per decision, and the difference in loop time (after the
set-up) against the run without services, per decision and as a share of a step; and
the same difference in the main thread's CPU time (``time.thread_time``, the set-up
included), which other processes on a shared machine do not inflate.
Run ``python bench/services.py`` (``--hours 1 --resolution 250`` for a quick look).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.runner import run
from twin.scenario import Scenario, builtin_scenario
from twin.services import ChargingLimit, SignalPlan


class Idle:
    """Observes, decides nothing."""

    name, every = "idle", 60

    def decide(self, observation):
        return []


class Busy:
    """Observes and applies six actions per decision."""

    name, every = "busy", 60

    def __init__(self):
        self.k = 0

    def reset(self, context):
        self.node = int(context.signals.nodes[0])

    def decide(self, observation):
        self.k += 1
        limits = [ChargingLimit(d, 100.0 + self.k % 7) for d in range(5)]
        return [*limits, SignalPlan(self.node, (40.0 + self.k % 3, 41.0))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument("--resolution", type=float, default=100.0)
    args = p.parse_args()
    base = Scenario.from_toml(builtin_scenario("june_weekday"))
    sc = base.with_updates(
        start=base.start.replace(hour=7),
        duration=f"{args.hours}h",
        city=base.city.model_dump() | {"resolution_m": args.resolution},
    )
    decisions = sc.n_steps
    print(f"# service hook: {args.hours:g} h of {sc.name} at {args.resolution:g} m, "
          f"{decisions} decisions (every 60 s step)")  # fmt: skip
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        run(sc.with_updates(duration="15min"), Path(tmp) / "warm.zarr", progress=False)
        for label, services in (("no services", []), ("idle service", [Idle()]),
                                ("busy service", [Busy()])):  # fmt: skip
            cpu = time.thread_time()
            r = run(sc, Path(tmp) / f"{len(rows)}.zarr", services=services, progress=False)
            rows[label] = (r, time.thread_time() - cpu)
    none, cpu0 = rows["no services"]
    loop0 = none.wall_s - none.timings_s["setup"]
    step_ms, step_cpu_ms = 1e3 * loop0 / sc.n_steps, 1e3 * cpu0 / sc.n_steps
    print("\n| run | loop s | services timer ms/decision | extra loop ms/decision | "
          "extra / step | extra main-thread CPU ms/decision | CPU extra / step |\n"
          "|---|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    for label, (r, cpu) in rows.items():
        loop = r.wall_s - r.timings_s["setup"]
        hook = 1e3 * r.timings_s.get("services", 0.0) / decisions
        extra = 1e3 * (loop - loop0) / decisions
        extra_cpu = 1e3 * (cpu - cpu0) / decisions
        print(f"| {label} | {loop:.2f} | {hook:.2f} | {extra:+.2f} | "
              f"{100 * extra / step_ms:+.1f} % | {extra_cpu:+.2f} | "
              f"{100 * extra_cpu / step_cpu_ms:+.1f} % |")  # fmt: skip
    print(f"\none coupling step without services: {step_ms:.1f} ms wall, "
          f"{step_cpu_ms:.1f} ms main-thread CPU (set-up included)")


if __name__ == "__main__":
    main()
