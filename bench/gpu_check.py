"""The GPU check's measurements (run by ``bench/gpu_check.sh``): one table.

Rows: the device's copy bandwidth; the air model's sub-step on the GPU (the fused kernel
with graph replay, and its array code for comparison) at 4096^2 and 8192^2 cells with
the fraction of copy bandwidth it reaches (its minimum traffic: read every species and
the gain, read the wind factor, write every species: 28 bytes per cell for two float32
species); NumPy on the same model at 4096^2 in the same run and the speed-up per
cell-sub-step; the air model's device memory per million cells; launches per coupling
step of the demo at 100 m, whole and per model (counting backend, fused kernels). Then
the HOOKS: traffic (the fused CTM kernel and the array code on the device), energy
(``gpu_check`` of bench/traffic.py and bench/energy.py: 10^6 road cells, 10^6 buildings,
NumPy on a smaller case, device memory per million) and, with ``--coupled``, the coupled
Gwangju day at 25 m and 10 m.

Prints the table and writes it to ``$OUT/gpu_check_table.txt`` when ``OUT`` is set.
``python bench/gpu_check.py --quick`` runs small sizes (for a try on any CuPy device).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root

import numpy as np

import gpu
from bench.timing import median_time
from sim.air import AirModel

DX_M, DT_S = 10.0, 24.0  # 24 s at 10 m cells and a 4.5 m/s wind: 11 sub-steps
FORCING = {"wind_speed": 4.5, "wind_from_direction": 250.0, "mixing_height": 600.0}
Row = tuple[str, str, str, str]  # what, size, value, note


def copy_bandwidth(backend, n_bytes: int, repeats: int) -> float:
    """Device copy bandwidth [GB/s], bytes read plus written."""
    xp = backend.xp
    a = xp.ones(n_bytes // 4, dtype=xp.float32)
    b = xp.empty_like(a)

    def copy():
        b[...] = a

    return 2 * a.nbytes / median_time(copy, repeats, backend.synchronize, warmup=True) / 1e9


def air_case(backend, n: int, repeats: int, fused: bool = True) -> dict:
    """One AirModel step on ``n x n`` cells with emissions of both species: seconds per
    sub-step, minimum bytes per sub-step, launches path."""
    xp = backend.xp
    rng = np.random.default_rng(0)
    heights = (rng.random((n, n), dtype=np.float32) < 0.2) * np.float32(30.0)
    emission = xp.asarray(rng.random((n, n), dtype=np.float32) * np.float32(1e-7))
    model = AirModel(DX_M)
    state = model.init({"building_height": xp.asarray(heights)}, xp)
    forcing = FORCING | {f"emission_{s}": emission for s in model.species}
    substeps = model.substeps(state, forcing, DT_S)
    original = gpu.fused_air_substep
    if not fused:  # the array code on the same device
        gpu.fused_air_substep = lambda xp, dtype: None
    try:
        seconds = median_time(lambda: model.step(state, forcing, DT_S), repeats,
                              backend.synchronize, warmup=True)
    finally:
        gpu.fused_air_substep = original
    species = len(model.species)
    itemsize = np.dtype(model.dtype).itemsize
    return {
        "sub_s": seconds / substeps,
        "bytes": (3 * species + 1) * n * n * itemsize,
        "substeps": substeps,
        "fused": model._fused_loop is not None,
        "graphs": bool(model._fused_loop and model._fused_loop.launch.graphs),
    }


def air_memory_mb_per_mcell(model: AirModel) -> tuple[float, float]:
    """Device memory [MB per million cells] of the air state (STATE's device entries) and
    of a step's working set on the fused path (two ping-pong fields, the gain, the new
    state), from the dtypes."""
    state = sum(np.dtype(v.dtype).itemsize for v in model.STATE.values()
                if v.dims == ("y", "x") and not v.host)  # fmt: skip
    fields = len(model.species) * np.dtype(model.dtype).itemsize
    return float(state), float(state + 4 * fields)


def launches_100m() -> list[Row]:
    """Launches per coupling step of the demo at 100 m, whole and per model (counting
    backend, the fused kernels' CPU builds standing in for CuPy's), or why not."""
    what = "launches per coupling step"
    try:
        from bench import launches

        original = {name: getattr(gpu, name) for name in launches.fused_kernels()}
        for name, dispatch in launches.fused_kernels().items():
            setattr(gpu, name, dispatch)
        try:
            coupler = launches.coupler_at(100)
            launches.count_step(coupler, 0)  # the first step builds the fused buffers
            parts = launches.count_step(coupler, 1)
        finally:
            for name, dispatch in original.items():
                setattr(gpu, name, dispatch)
    except Exception as err:  # no C compiler, ...
        return [(what, "100 m demo", "not measured", f"{type(err).__name__}: {err}")]
    total = sum(p["launches"] for p in parts.values())
    by_model = {}
    for part, p in parts.items():
        by_model[part.split(":")[0]] = by_model.get(part.split(":")[0], 0) + p["launches"]
    air = parts["air:step"]
    return [(what, "100 m demo", f"{total:,}", ", ".join(f"{k} {v}" for k, v in by_model.items())
             + f"; air sub-steps {air['substeps']} (graph replay: 1 for them)")]  # fmt: skip


# ---------------------------------------------------------------------------------- HOOKS
# Each hook runs when its code exists and otherwise says what is missing; the rows it
# returns join the table. Traffic and energy: ``gpu_check(backend, size) -> list[Row]``
# in bench/traffic.py (``size`` road cells) and bench/energy.py (``size`` buildings), each
# with NumPy on a smaller case in the same run. UXsim's C++ engine on the same network is
# not part of it (not installed on the GPU machine): bench/traffic.py's grid table, CPU.
def bench_hook(name: str, backend, size: int) -> list[Row]:
    try:
        hook = getattr(importlib.import_module(f"bench.{name}"), "gpu_check", None)
    except ImportError as err:  # e.g. UXsim is not installed on the GPU machine
        return [(name, "-", "not run", f"bench/{name}.py does not import: {err}")]
    if hook is None:
        return [(name, "-", "not run", f"HOOK: define gpu_check(backend, size) in bench/{name}.py")]
    return list(hook(backend, size))


# The coupled Gwangju day (scenarios/june_weekday.toml at the resolution, on the GPU):
# runs with --coupled; a resolution outside twin.schema.RESOLUTION_RANGE_M says so.
def coupled_day(resolution_m: float, enabled: bool) -> list[Row]:
    from twin.schema import RESOLUTION_RANGE_M

    what = f"coupled day at {resolution_m:g} m"
    lo, hi = RESOLUTION_RANGE_M
    if not lo <= resolution_m <= hi:
        return [(what, "-", "not run", f"HOOK: cities build at {lo:g}-{hi:g} m only")]
    if not enabled:
        return [(what, "-", "not run", "pass --coupled (a simulated day each)")]
    import tempfile

    import twin
    from twin.scenario import Scenario

    root = Path(__file__).resolve().parents[1]
    raw = Scenario.from_toml(root / "scenarios" / "june_weekday.toml").model_dump()
    raw["city"]["resolution_m"] = resolution_m
    raw["device"] = "gpu"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = twin.run(Scenario.model_validate(raw), Path(tmp) / "day.zarr", progress=False)
        wall = time.perf_counter() - t0
    return [(what, "24 h", f"{86400 / result.wall_s:,.0f}x real time",
             f"wall {wall:.0f} s; air {result.timings_s.get('air', 0):.1f} s")]  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--coupled", action="store_true", help="run the coupled days")
    args = parser.parse_args(argv)
    backend = gpu.select("gpu")
    rows: list[Row] = [("device", "-", backend.device, f"CuPy {backend.xp.__version__}")]
    big, mid, repeats = (1024, 512, 3) if args.quick else (8192, 4096, 5)
    copy = copy_bandwidth(backend, (64 if args.quick else 1024) << 20, 10)
    rows.append(("device copy bandwidth", "1 GiB", f"{copy:,.0f} GB/s", "read + written"))
    cpu = air_case(gpu.select("cpu"), mid, 2)
    rows.append(("air sub-step, NumPy", f"{mid}^2", f"{cpu['sub_s'] * 1e3:,.1f} ms",
                 f"{cpu['bytes'] / cpu['sub_s'] / 1e9:.2f} GB/s minimum traffic"))  # fmt: skip
    for n in (mid, big):
        for fused in (True, False):
            r = air_case(backend, n, repeats, fused)
            path = "fused kernel" + (", graph replay" if r["graphs"] else "") if r["fused"] \
                else "array code"  # fmt: skip
            speed = cpu["sub_s"] / (mid * mid) / (r["sub_s"] / (n * n))
            rows.append((f"air sub-step, {path}", f"{n}^2", f"{r['sub_s'] * 1e3:,.2f} ms",
                         f"{r['bytes'] / r['sub_s'] / 1e9 / copy:.0%} of copy bandwidth; "
                         f"{speed:,.0f}x NumPy per cell"))  # fmt: skip
    state, working = air_memory_mb_per_mcell(AirModel(DX_M))
    rows.append(("air device memory", "10^6 cells", f"{state:.0f} MB state",
                 f"{working:.0f} MB with a fused step's buffers"))  # fmt: skip
    rows += launches_100m()
    for name in ("traffic", "energy"):  # 10^6 road cells, 10^6 buildings
        rows += bench_hook(name, backend, 100_000 if args.quick else 1_000_000)
    for res in (25.0, 10.0):
        rows += coupled_day(res, args.coupled)
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) for r in rows]
    table = "\n".join(lines)
    print(table)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check_table.txt").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
