"""Benchmark: one ``sim.air.advect_diffuse`` step against a plain copy of the same array.

Claim (issue 3): the NumPy path reaches >= 5 % of the memory-copy bandwidth, the CuPy
path >= 60 % of the device copy bandwidth. Effective bandwidth is the minimum traffic
a step needs (read the field, write the result, plus any wind grids) over its time;
the copy (``out[...] = c``) of the same array is timed in the same run. Medians of
``--repeats`` runs; the machine may be shared, so compare the ratio, not the absolute
times. Run ``python bench/air.py`` (``--sizes 512 2048`` for a quick run,
``--device gpu`` on a machine with CuPy and a GPU, ``--wind grid`` for a (y, x) wind).
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: bench.timing

import numpy as np

import gpu
from bench.timing import median_time
from sim.air import AirWorkspace, advect_diffuse, max_stable_dt

DX, K = 10.0, 5.0  # m, m2 s-1
U, V = 3.0, -2.0  # m s-1


def bench_size(n: int, backend, dtype, wind: str, repeats: int) -> dict[str, float]:
    xp = backend.xp
    rng = np.random.default_rng(0)
    c = backend.asarray(rng.random((n, n)), dtype=dtype)
    out = xp.empty_like(c)
    if wind == "grid":
        u = backend.asarray(rng.uniform(0.5, 1.0, (n, n)) * U, dtype=dtype)
        v = backend.asarray(rng.uniform(0.5, 1.0, (n, n)) * V, dtype=dtype)
        fields = 3  # c, u, v read
    else:
        u, v = U, V
        fields = 1
    dt = max_stable_dt(u, v, K, DX)
    work = AirWorkspace(c.shape, c.dtype, xp)

    def step():
        advect_diffuse(c, u, v, K, DX, dt, work=work, out=out)

    def copy():
        out[...] = c

    t_step = median_time(step, repeats, backend.synchronize, warmup=True)
    t_copy = median_time(copy, repeats, backend.synchronize, warmup=True)
    itemsize = c.dtype.itemsize
    step_bytes = (fields + 1) * n * n * itemsize  # read the fields, write the result
    copy_bytes = 2 * n * n * itemsize
    return {
        "n": n,
        "step_ms": t_step * 1e3,
        "cells_per_s": n * n / t_step,
        "step_gbps": step_bytes / t_step / 1e9,
        "copy_gbps": copy_bytes / t_copy / 1e9,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 4096])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu")
    parser.add_argument("--wind", choices=["uniform", "grid"], default="uniform")
    args = parser.parse_args(argv)
    if min(args.sizes) < 8 or args.repeats < 1:
        parser.error("--sizes must be >= 8 and --repeats >= 1")

    backend = gpu.select(args.device)
    dtype = np.dtype(args.dtype)
    print(f"advect_diffuse, one step, {args.dtype}, {args.wind} wind; {backend.name} on "
          f"{backend.device}; {platform.processor() or platform.machine()}, "
          f"NumPy {np.__version__}; median of {args.repeats}")  # fmt: skip
    header = (f"{'n':>6} | {'step ms':>9} | {'Mcells/s':>9} | {'step GB/s':>9} | "
              f"{'copy GB/s':>9} | {'of copy':>7}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        r = bench_size(n, backend, dtype, args.wind, args.repeats)
        print(f"{n:>6} | {r['step_ms']:>9.2f} | {r['cells_per_s'] / 1e6:>9.1f} | "
              f"{r['step_gbps']:>9.2f} | {r['copy_gbps']:>9.2f} | "
              f"{100 * r['step_gbps'] / r['copy_gbps']:>6.2f}%")  # fmt: skip


if __name__ == "__main__":
    main()
