"""The demo day with and without 500 air-taxi flights, timed in one process.

    python bench/uam.py [--resolution 100] [--render uam.png]

Runs ``scenarios/june_weekday.toml`` (the demo) and ``scenarios/june_weekday_uam.toml``
(the same plus ``[uam] flights_per_day = 500``) one after the other, prints the wall and
CPU time of each (the process's CPU seconds, background writer included: on a shared
machine the wall time measures the load, the CPU time the work), their ratios, the UAM
model's own time and KPIs, and renders the routes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# run as a script, bench/ comes first on sys.path and ``import viz`` would import
# bench/viz.py: put the repository root first
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from twin.runner import run  # noqa: E402
from twin.scenario import Scenario, builtin_scenario  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=float, default=100.0)
    ap.add_argument("--render", type=Path, default=None, help="PNG of the UAM run's routes")
    ap.add_argument("--keep", type=Path, default=None, help="folder to keep the stores in")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-uam-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name in ("june_weekday", "june_weekday_uam"):
        sc = Scenario.from_toml(builtin_scenario(name))
        sc = sc.with_updates(city=sc.city.model_dump() | {"resolution_m": args.resolution})
        t0, c0 = time.perf_counter(), time.process_time()
        result = run(sc, folder / f"{name}.zarr", progress=False)
        rows[name] = (time.perf_counter() - t0, time.process_time() - c0, result)
    for i, clock in ((0, "wall"), (1, "CPU")):
        base, uam = rows["june_weekday"][i], rows["june_weekday_uam"][i]
        print(f"{clock}: demo without UAM {base:.1f} s; with 500 flights {uam:.1f} s; "
              f"ratio {uam / base:.3f}")  # fmt: skip
    result = rows["june_weekday_uam"][2]
    print(f"UAM model {result.timings_s['uam']:.1f} s, its clock stage "
          f"{result.timings_s['uam clock']:.2f} s")  # fmt: skip
    for k in result.kpis.data_vars:
        if k.startswith("uam"):
            v = result.kpis[k]
            print(f"  {k}: {float(v):.4g} {v.attrs['units']}")
    if args.render:
        import viz

        viz.render(folder / "june_weekday_uam.zarr", args.render, time="18:00")
        print(f"picture: {args.render}")


if __name__ == "__main__":
    main()
