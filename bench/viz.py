"""Benchmark: building mesh and whole-scene render time for 10k, 100k and 300k buildings.

Claim (issue 7): a 100k-building scene is built and rendered to a 1600 x 1000 PNG in
under 10 s on this CPU with software GL (Mesa llvmpipe through EGL). The city is
Gwangju at 100 m (terrain, roads, sensors, labels as in a real picture) with its
buildings resampled to N: drawn with replacement from the generated ones and moved by
up to one lot, so sizes and heights stay realistic. Columns:

* ``mesh``: :func:`viz.geometry.boxes` plus the ``pyvista.PolyData`` wrapping it;
* ``scene``: the whole :class:`viz.scene.CityScene` (terrain, buildings, roads, ...);
* ``render``: first render and PNG write (includes the upload to GL);
* ``total``: scene + render, the number the claim is about.

Baseline, in the same run: the per-building way (one ``pyvista.Box`` per building,
merged) on ``--baseline-n`` buildings, against :func:`viz.geometry.boxes` on the same
ones. Medians of ``--repeats`` runs; the machine may be shared, so expect noise.
Run ``python bench/viz.py`` (``--sizes 10000`` for a quick run).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This file is named after the package it measures: run as a script, its folder comes
# first on sys.path and ``import viz`` would import this file. Drop that folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))  # the repo root: the viz package and bench.timing

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

import twin  # noqa: E402
import viz  # noqa: E402
from bench.timing import median_time  # noqa: E402
from viz import geometry  # noqa: E402
from viz.headless import ensure_offscreen  # noqa: E402

SIZE = (1600, 1000)
TARGET_S = 10.0  # at 100k buildings



def with_buildings(city: twin.City, n: int, seed: int = 0) -> twin.City:
    """``city`` with ``n`` buildings resampled from its own (jittered by up to 50 m)."""
    b = city["buildings"]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, b.sizes["building"], n)
    new = b.isel(building=pick)
    jitter = rng.uniform(-50.0, 50.0, (2, n))
    new = new.assign(x=new["x"] + jitter[0], y=new["y"] + jitter[1])
    groups = {f"/{g}": city[g] for g in city.tree.children if g != "buildings"}
    tree = xr.DataTree.from_dict(groups | {"/buildings": new})
    tree.attrs = dict(city.tree.attrs)
    return twin.City(tree)


def mesh(city: twin.City):
    import pyvista as pv

    b = city["buildings"]
    base = np.zeros(b.sizes["building"])
    points, faces = geometry.boxes(
        b["x"].values, b["y"].values, b["width"].values, b["depth"].values, base, b["height"]
    )
    return pv.PolyData(points, faces)


def per_building_mesh(city: twin.City):
    import pyvista as pv

    b = city["buildings"].to_dataframe()
    boxes = [
        pv.Box(
            bounds=(
                r.x - r.width / 2,
                r.x + r.width / 2,
                r.y - r.depth / 2,
                r.y + r.depth / 2,
                0.0,
                r.height,
            )
        )
        for r in b.itertuples()
    ]
    return pv.merge(boxes)


def bench(city: twin.City, n: int, repeats: int, out: Path) -> dict[str, float]:
    c = with_buildings(city, n)
    row = {"n": n, "mesh": median_time(lambda: mesh(c), repeats)}
    scenes, renders = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        s = viz.scene(c, size=SIZE)
        t1 = time.perf_counter()
        s.plotter.screenshot(str(out))
        t2 = time.perf_counter()
        s.plotter.close()
        scenes.append(t1 - t0)
        renders.append(t2 - t1)
    row["scene"], row["render"] = statistics.median(scenes), statistics.median(renders)
    row["total"] = row["scene"] + row["render"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-n", type=int, default=2000)
    args = parser.parse_args()

    window = ensure_offscreen()
    city = twin.build_city("gwangju", resolution_m=100.0)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {window}")
    print(
        f"# Gwangju at 100 m ({city.grid.sizes['y']} x {city.grid.sizes['x']} cells), "
        f"{SIZE[0]}x{SIZE[1]} PNG, medians of {args.repeats}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.png"
        viz.render(with_buildings(city, 1000), out, size=(64, 64))  # warm-up: GL, fonts
        print(f"{'buildings':>10} {'mesh s':>8} {'scene s':>8} {'render s':>9} {'total s':>8}")
        for n in args.sizes:
            r = bench(city, n, args.repeats, out)
            flag = ""
            if n == 100_000:
                flag = "  <- target < 10 s: " + ("met" if r["total"] < TARGET_S else "MISSED")
            print(
                f"{n:>10,} {r['mesh']:8.2f} {r['scene']:8.2f} {r['render']:9.2f} "
                f"{r['total']:8.2f}{flag}"
            )
    small = with_buildings(city, args.baseline_n)
    loop = median_time(lambda: per_building_mesh(small), max(1, args.repeats))
    vec = median_time(lambda: mesh(small), max(1, args.repeats))
    print(
        f"baseline, {args.baseline_n:,} buildings: one pv.Box each + merge {loop:.2f} s, "
        f"geometry.boxes {vec:.4f} s, ratio {loop / vec:,.0f}x"
    )


if __name__ == "__main__":
    main()
