"""Benchmark: where the time of a coupled run goes, and what restart points cost.

Claim (issue 10): restart state costs at most 10 % of the demo's wall time at default
settings. The demo scenario (June weekday, Gwangju at 100 m, 24 h; ``--hours`` and
``--resolution`` make it smaller) runs three times in this process, with restart points
at the default interval (hourly), at every output step (15 min), and only at the end:
the wall-time difference against the last is what restarts cost. Per-part times come
from the run's own timers: models, stages, KPIs, the health check, host copies
("snapshot"), time the loop waited for the writer, and the writer thread's output and
restart writes (the writer overlaps the loop, so its times are not part of the sum).
Run ``python bench/coupled.py`` (``--hours 6`` for a quick look, ``--device gpu`` where a
GPU is lent; add ``--profile`` there for exact per-part GPU times).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.runner import run
from twin.scenario import Scenario, builtin_scenario

WRITER = ("output writes", "restart writes")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--resolution", type=float, default=100.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    base = Scenario.from_toml(builtin_scenario("june_weekday"))
    base = base.with_updates(
        duration=f"{args.hours}h",
        city=base.city.model_dump() | {"resolution_m": args.resolution},
    )
    variants = {
        "default (hourly)": base,
        "every output": base.with_updates(restart_interval=base.output_interval),
        "only at the end": base.with_updates(restart_interval=base.duration),
    }
    print(f"# coupled run: {base.name}, {args.hours:g} h at {args.resolution:g} m, "
          f"{args.device}; {platform.processor() or platform.machine()}")  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        warm = base.with_updates(duration=base.output_interval)  # imports, caches
        run(warm, Path(tmp) / "warm.zarr", device=args.device, progress=False)
        for label, sc in variants.items():
            r = run(sc, Path(tmp) / "run.zarr", device=args.device, progress=False,
                    profile=args.profile)  # fmt: skip
            results[label] = r
            (Path(tmp) / "run.zarr").rename(Path(tmp) / f"{len(results)}.zarr")
    first = results["default (hourly)"]
    loop = {k: v for k, v in first.timings_s.items() if k not in WRITER}
    print("\n| part (default run) | seconds | share of wall |\n|---|---:|---:|")
    for name, seconds in sorted(loop.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {seconds:.2f} | {100 * seconds / first.wall_s:.1f} % |")
    print(f"| (sum of the loop's parts) | {sum(loop.values()):.2f} | "
          f"{100 * sum(loop.values()) / first.wall_s:.1f} % |")  # fmt: skip
    for name in WRITER:
        print(f"| writer thread: {name} | {first.timings_s.get(name, 0.0):.2f} | "
              f"{100 * first.timings_s.get(name, 0.0) / first.wall_s:.1f} % |")  # fmt: skip
    print(f"| wall | {first.wall_s:.2f} | 100 % |")

    def looped(r):  # wall time after the set-up (city, models, store)
        return r.wall_s - r.timings_s["setup"]

    none = looped(results["only at the end"])
    print("\n| restart points | wall s | loop s (after set-up) | restart writes s | "
          "loop over 'only at the end' |\n|---|---:|---:|---:|---:|")  # fmt: skip
    for label, r in results.items():
        print(f"| {label} | {r.wall_s:.2f} | {looped(r):.2f} | "
              f"{r.timings_s.get('restart writes', 0):.2f} | "
              f"{100 * (looped(r) - none) / looped(r):+.1f} % |")  # fmt: skip


if __name__ == "__main__":
    main()
