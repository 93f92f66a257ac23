"""Launches per coupling step, by component, with the counting backend (no GPU needed).

``gpu.counting`` is NumPy behind a namespace that takes the CuPy code paths and counts
every array operation (about one kernel launch each on a GPU), every host sync, upload and
host array mixed into device work. This script builds a city, steps the coupled models
on it and prints, per component, what its stage (forcing) and its model step cost per
coupling step. At 5-10 us per CuPy launch the launch count is a floor on a step's GPU time
whatever the device. Run ``python bench/launches.py --resolution 100 --steps 480 481``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root

import twin
from gpu import counting
from twin.coupling import Coupler
from twin.scenario import Scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "june_weekday.toml"
KINDS = ("launches", "syncs", "uploads", "host_arrays")


def coupler_at(resolution_m: int, scenario: Path = SCENARIO) -> Coupler:
    """A coupler of ``scenario`` at ``resolution_m`` on the counting backend, initialised."""
    text = re.sub(r"resolution_m\s*=\s*\d+", f"resolution_m = {resolution_m}",
                  scenario.read_text())  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / scenario.name
        path.write_text(text)
        sc = Scenario.from_toml(path)
    city = twin.build_city(sc.city.dataset, resolution_m=sc.city.resolution_m, seed=sc.city.seed)
    coupler = Coupler(city, sc, counting.BACKEND)
    coupler.init()
    return coupler


def count_step(coupler: Coupler, i: int) -> dict[str, Counter]:
    """Counts of coupling step ``i`` by part (a component's stage ``name:forcing`` and its
    model ``name:step``, step and outputs together)."""
    parts: dict[str, Counter] = {}
    wrapped = []
    for c in coupler.components:
        def timed(fn, part):
            def run(*args):
                before = Counter(counting.counts)
                try:
                    return fn(*args)
                finally:
                    parts.setdefault(part, Counter()).update(
                        {k: counting.counts[k] - before[k] for k in KINDS}
                    )
            return run
        wrapped.append((c, c.forcing, c.model))
        model = c.model
        c.forcing = timed(c.forcing, f"{c.name}:forcing")
        step, outputs = model.step, model.outputs
        model.step = timed(step, f"{c.name}:step")
        model.outputs = timed(outputs, f"{c.name}:step")
    try:
        counting.reset()
        coupler.step(i)
    finally:
        for c, forcing, model in wrapped:
            c.forcing = forcing
            vars(model).pop("step", None)
            vars(model).pop("outputs", None)
    return parts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=100, help="grid cell [m]")
    parser.add_argument("--steps", type=int, nargs="+", default=[480],
                        help="coupling step indices (480: 08:00 of the demo day)")  # fmt: skip
    args = parser.parse_args(argv)
    coupler = coupler_at(args.resolution)
    g = coupler.city.grid
    print(f"{SCENARIO.name} at {args.resolution} m ({g.sizes['y']} x {g.sizes['x']} cells), "
          "counting backend; per coupling step")  # fmt: skip
    header = f"{'step':>5} | {'part':<18} | " + " | ".join(f"{k:>11}" for k in KINDS)
    print(header)
    print("-" * len(header))
    for i in args.steps:
        parts = count_step(coupler, i)
        total = Counter()
        for part, c in parts.items():
            total.update(c)
            print(f"{i:>5} | {part:<18} | " + " | ".join(f"{c[k]:>11,}" for k in KINDS))
        print(f"{i:>5} | {'total':<18} | " + " | ".join(f"{total[k]:>11,}" for k in KINDS))


if __name__ == "__main__":
    main()
