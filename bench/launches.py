"""Launches per coupling step, by component, with the counting backend (no GPU needed).

``gpu.counting`` is NumPy behind a namespace that takes the CuPy code paths and counts
every array operation (about one kernel launch each on a GPU), every host sync, upload and
host array mixed into device work. This script builds a city, steps the coupled models
on it and prints, per component, what its stage (forcing) and its model step cost per
coupling step. At 5-10 us per CuPy launch the launch count is a floor on a step's GPU time
whatever the device. Run ``python bench/launches.py --resolution 100 --steps 480 481``;
``--fused`` plugs the CPU builds of the fused kernels (:func:`gpu.kernels.air.cpu_build`,
:func:`gpu.kernels.ctm.cpu_build`, one launch per call) into the air and traffic models,
as CuPy would get their CUDA builds, so the counts are those of the GPU path (without
graph replay, which turns the air sub-steps' launches into one).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root

import gpu
import twin
from gpu import counting
from gpu.kernels import air, ctm
from twin.coupling import Coupler
from twin.scenario import Scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "june_weekday.toml"
KINDS = ("launches", "syncs", "uploads", "host_arrays")
COLUMNS = (*KINDS, "substeps")


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
    model ``name:step``, step and outputs together; ``substeps`` where the model says)."""
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
        if hasattr(model, "substeps"):
            model.step = _noting(model, model.step, parts, f"{c.name}:step")
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


def _noting(model, step, parts, part):
    def run(state, forcing, dt):
        parts.setdefault(part, Counter())["substeps"] += model.substeps(state, forcing, dt)
        return step(state, forcing, dt)
    return run


def fused_kernels() -> dict:
    """Replacements for :mod:`gpu`'s kernel dispatch that offer the fused kernels' CPU
    builds (each launch counted) on every namespace, as :mod:`gpu` offers their CUDA
    builds on CuPy: ``{name: function}`` to set on :mod:`gpu`."""
    def note():
        counting.counts.update(launches=1)

    air_kernel, ctm_kernel = air.cpu_build("float32", on_launch=note), ctm.cpu_build(note)
    return {
        "fused_air_substep": lambda xp, dtype: air_kernel,
        "fused_ctm_substeps": lambda xp: ctm_kernel,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=100, help="grid cell [m]")
    parser.add_argument("--steps", type=int, nargs="+", default=[480],
                        help="coupling step indices (480: 08:00 of the demo day)")  # fmt: skip
    parser.add_argument("--fused", action="store_true",
                        help="the fused kernels' CPU builds in place of CuPy's")  # fmt: skip
    args = parser.parse_args(argv)
    if args.fused:
        for name, dispatch in fused_kernels().items():
            setattr(gpu, name, dispatch)
    coupler = coupler_at(args.resolution)
    g = coupler.city.grid
    kernels = "fused air and CTM kernels (CPU builds)" if args.fused else "array code"
    print(f"{SCENARIO.name} at {args.resolution} m ({g.sizes['y']} x {g.sizes['x']} cells), "
          f"counting backend, {kernels}; per coupling step")  # fmt: skip
    header = f"{'step':>5} | {'part':<18} | " + " | ".join(f"{k:>11}" for k in COLUMNS)
    print(header)
    print("-" * len(header))
    for i in args.steps:
        parts = count_step(coupler, i)
        total = Counter()
        for part, c in parts.items():
            total.update(c)
            print(f"{i:>5} | {part:<18} | " + " | ".join(f"{c[k]:>11,}" for k in COLUMNS))
        print(f"{i:>5} | {'total':<18} | " + " | ".join(f"{total[k]:>11,}" for k in COLUMNS))


if __name__ == "__main__":
    main()
