"""Traffic model benchmark: sim.traffic (NumPy) side by side with UXsim, plus scaling.

Run from the repository root::

    .venv/bin/python bench/traffic.py              # UXsim grids + scaling series
    .venv/bin/python bench/traffic.py --city       # also the city-like 24 h case
    .venv/bin/python bench/traffic.py --quick      # one repetition, no UXsim Python engine
    .venv/bin/python bench/traffic.py --spread     # only the route-spread comparison

Grid cases (issue 4): signalized lattices of 10 x 10 and 20 x 20 intersections,
500 m links, 2 lanes, UXsim's default diagram (20 m/s, 0.2 veh/m per lane, 0.8 veh/s
per lane), 30 s / 30 s two-phase signals, a random OD matrix between as many zones as
the lattice side loaded during the first hour, 2 simulated hours. Both models use a
5 s step (UXsim: platoons of 5 vehicles x 1 s reaction time) and re-route every 300 s
with weight 0.5. Times are medians over repetitions; the machine may be shared, so
expect noise.

Scaling: lattices up to more than 100,000 cells, 10 zones, 10 simulated minutes
under load; cost per sub-step and per cell-update (the whole sub-step, node model and
destination bookkeeping included, divided by the number of cells).

Route spread (issue 12): the 10 x 10 grid at light (3,600 veh/h) and moderate
(15,000 veh/h) demand, our all-or-nothing next-link choice (spread 0) and the logit
split at 15 s and 60 s, against UXsim, whose dynamic user optimum adds its own route
noise (``duo_noise``, 1 % by default, random per vehicle): UXsim's total travel time is
the median over seeds 0, 1, 2 (C++ engine).

City (``--city``): 35 x 25 lattice of 600 m links (local 11 m/s, 2 lanes; every 4th
row and column an arterial at 16 m/s, 3 lanes), a 22 m/s ring road, 15 zones with a
gravity OD of 200,000 trips a day on the default daily profile, 24 h in 60 s coupling
steps, at sub-steps of 5 s and 10 s.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import gpu

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the UXsim scenario builder shared with the tests

from sim.traffic import Demand, TrafficModel, flat_profile, gravity_od  # noqa: E402
from sim.traffic.synthetic import grid_network, random_od  # noqa: E402
from tests.verification.traffic_uxsim import run_uxsim, uxsim_like_model  # noqa: E402

DEMAND_END_S, T_MAX_S, STEP_S = 3600.0, 7200.0, 60.0
# UXsim's side of the grid cases, as uxsim_like_model sets up ours
UXSIM_SETUP = dict(
    demand_end_s=DEMAND_END_S,
    t_max_s=T_MAX_S,
    green_s=30.0,
    route_interval_s=300.0,
    route_weight=0.5,
)


def grid_case(side: int, total_veh_per_h: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    net = grid_network(side, side, spacing_m=500.0, lanes=2)
    zones = rng.choice(net.n_nodes, side, replace=False)
    # whole platoons of 5 per pair, so that UXsim loads the same number of trips
    trips = np.maximum(np.round(random_od(side, total_veh_per_h, rng) / 5), 1) * 5
    np.fill_diagonal(trips, 0)
    return net, zones, (trips + 0.01) * (trips > 0)


def run_ours(net, zones, od, t_max_s=T_MAX_S, demand_end_s=DEMAND_END_S, spread_s=0.0):
    model = uxsim_like_model(net, zones, od, route_spread_s=spread_s)
    start = time.perf_counter()
    state = model.init({}, np)
    for k in range(int(t_max_s / STEP_S)):
        scale = 1.0 if k * STEP_S < demand_end_s else 0.0
        state = model.step(state, {"time_of_day_s": k * STEP_S, "demand_scale": scale}, STEP_S)
    wall = time.perf_counter() - start
    c = model.counters(state)
    return {
        "wall_s": wall,
        "cells": model.cells.n_cells,
        "completed": c["exited"],
        "total_travel_time_s": c["trip_time_s"],
    }


def median_run(fn, reps):
    runs = [fn() for _ in range(reps)]
    out = dict(runs[-1])
    out["wall_s"] = statistics.median(r["wall_s"] for r in runs)
    return out


def grid_table(reps: int, python_engine: bool) -> None:
    print("\n## UXsim grids (2 simulated hours, demand in the first hour)\n")
    print(
        "| grid | demand [veh/h] | cells | ours [s] | RTF | UXsim py [s] | UXsim C++ [s] "
        "| UXsim py / ours | UXsim C++ / ours | trips (ours / UXsim) | TTT ours / UXsim |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for side in (10, 20):
        for total in (3600.0, 40000.0):
            net, zones, od = grid_case(side, total)
            ours = median_run(lambda: run_ours(net, zones, od), reps)  # noqa: B023
            kw = UXSIM_SETUP
            engines = {"C++": True, "py": False} if python_engine else {"C++": True}
            ux = {
                name: median_run(lambda c=cpp: run_uxsim(net, zones, od, cpp=c, **kw), reps)  # noqa: B023
                for name, cpp in engines.items()
            }
            py = ux.get("py", {"wall_s": float("nan"), "total_travel_time_s": float("nan")})
            cpp = ux["C++"]
            ttt = ours["total_travel_time_s"]
            print(
                f"| {side}x{side} | {total:,.0f} | {ours['cells']:,} | {ours['wall_s']:.2f} "
                f"| {T_MAX_S / ours['wall_s']:,.0f} | {py['wall_s']:.2f} | {cpp['wall_s']:.2f} "
                f"| {py['wall_s'] / ours['wall_s']:.1f}x | {cpp['wall_s'] / ours['wall_s']:.2f}x "
                f"| {ours['completed']:,.0f} / {cpp['completed']:,.0f} "
                f"| {ttt / py['total_travel_time_s']:.3f} (py), "
                f"{ttt / cpp['total_travel_time_s']:.3f} (C++) |"
            )


def spread_table() -> None:
    print("\n## Route spread against UXsim (10x10 signalized grid, 2 simulated hours)\n")
    print(
        "| demand [veh/h] | spread [s] | trips (ours / UXsim) | TTT ours [veh h] "
        "| TTT UXsim [veh h] (seeds 0-2) | ours / UXsim median |"
    )
    print("|---|---|---|---|---|---|")
    kw = UXSIM_SETUP | {"cpp": True}
    for total in (3600.0, 15000.0):
        net, zones, od = grid_case(10, total)
        ux = [run_uxsim(net, zones, od, seed=seed, **kw) for seed in range(3)]
        ux_ttt = statistics.median(u["total_travel_time_s"] for u in ux)
        spread = ", ".join(f"{u['total_travel_time_s'] / 3600:,.0f}" for u in ux)
        for spread_s in (0.0, 15.0, 60.0):
            ours = run_ours(net, zones, od, spread_s=spread_s)
            print(
                f"| {total:,.0f} | {spread_s:g} | {ours['completed']:,.0f} / "
                f"{ux[0]['completed']:,.0f} | {ours['total_travel_time_s'] / 3600:,.1f} "
                f"| {spread} | {ours['total_travel_time_s'] / ux_ttt:.3f} |"
            )


def scaling_table(reps: int) -> None:
    print("\n## Scaling (10 zones, 10 simulated minutes at 5 s sub-steps, under load)\n")
    print("| grid | links | cells | sub-step [ms] | per cell-update [ns] | link x zone [ns] |")
    print("|---|---|---|---|---|---|")
    sim_s = 600.0
    for side in (10, 20, 40, 60, 80):
        rng = np.random.default_rng(1)
        net = grid_network(side, side, spacing_m=500.0, lanes=2)
        zones = rng.choice(net.n_nodes, 10, replace=False)
        od = random_od(10, 400.0 * side, rng)
        model = TrafficModel(net, Demand(zones, od, flat_profile), dt_max_s=5.0)
        state = model.init({}, np)
        for k in range(10):  # warm up: load the network
            state = model.step(state, {"time_of_day_s": 60.0 * k}, 60.0)
        walls = []
        for _ in range(reps):
            start = time.perf_counter()
            model.step(state, {"time_of_day_s": 600.0}, sim_s)
            walls.append(time.perf_counter() - start)
        per_sub = statistics.median(walls) / (sim_s / 5.0)
        cells = model.cells.n_cells
        print(
            f"| {side}x{side} | {net.n_links:,} | {cells:,} | {per_sub * 1e3:.2f} "
            f"| {per_sub / cells * 1e9:.1f} | {per_sub / (net.n_links * 10) * 1e9:.1f} |"
        )


def city_network():
    return grid_network(
        35,
        25,
        spacing_m=600.0,
        lanes=2,
        free_speed=11.0,
        capacity=0.5,
        jam_density=0.15,
        arterial_every=4,
        arterial_speed=16.0,
        arterial_lanes=3,
        ring_speed=22.0,
        ring_lanes=3,
    )


def city_table(reps: int) -> None:
    net = city_network()
    rng = np.random.default_rng(0)
    zones = rng.choice(net.n_nodes, 15, replace=False)
    od = gravity_od(
        rng.uniform(0.5, 1.5, 15), np.c_[net.node_x[zones], net.node_y[zones]], 200_000.0
    )
    print(
        f"\n## City-like day ({net.n_nodes} nodes, {net.n_links} links, 15 zones, "
        "200,000 trips, 24 h)\n"
    )
    print("| sub-step | cells | wall [s] | RTF | completed | mean trip [min] | delay [veh h] |")
    print("|---|---|---|---|---|---|---|")
    for dt in (5.0, 10.0):
        walls = []
        for _ in range(reps):
            model = TrafficModel(net, Demand(zones, od), dt_max_s=dt)
            start = time.perf_counter()
            state = model.init({}, np)
            for k in range(1440):
                state = model.step(state, {"time_of_day_s": 60.0 * k}, 60.0)
            walls.append(time.perf_counter() - start)
        c = model.counters(state)
        wall = statistics.median(walls)
        print(
            f"| {dt:.0f} s | {model.cells.n_cells:,} | {wall:.1f} | {86400 / wall:,.0f} "
            f"| {c['exited']:,.0f} | {c['trip_time_s'] / c['exited'] / 60:.1f} "
            f"| {c['delay_s'] / 3600:,.0f} |"
        )


GPU_ZONES = 15  # like the Gwangju demo: cost per cell grows with the zones


def gpu_case(cells: int, xp, seed: int = 0):
    """A signalized lattice of 500 m links cut into about ``cells`` road cells (5 s
    sub-steps), GPU_ZONES zones, loaded for 10 minutes on backend ``xp``: (model, state)."""
    side = max(3, math.ceil(math.sqrt(cells / 20)) + 1)  # 4 side (side - 1) links, 5 cells
    rng = np.random.default_rng(seed)
    net = grid_network(side, side, spacing_m=500.0, lanes=2)
    zones = np.sort(rng.choice(net.n_nodes, GPU_ZONES, replace=False))
    od = random_od(GPU_ZONES, 300.0 * GPU_ZONES, rng)
    model = TrafficModel(net, Demand(zones, od, flat_profile), route_interval_s=1e9)
    state = model.init({}, xp)
    for k in range(10):
        state = model.step(state, {"time_of_day_s": 7 * 3600.0 + STEP_S * k}, STEP_S)
    return model, state


def gpu_check(backend, cells: int) -> list[tuple[str, str, str, str]]:
    """Rows of ``bench/gpu_check.py``: a 60 s coupling step on about ``cells`` road cells
    on ``backend`` (the fused CTM kernel where it has one, and the array code) and NumPy
    on a sixteenth of them (same run, speed-up per cell-sub-step), the device memory of
    the state (and of the sub-step's scratch buffers) per million road cells, and the
    launches of the step (counting backend on the small case, the fused kernel's CPU
    build standing in for its CUDA build)."""
    from bench.timing import median_time
    from gpu import counting
    from gpu.kernels import ctm

    def per_cell_substep(be, n, dispatch=gpu.fused_ctm_substeps):
        original, gpu.fused_ctm_substeps = gpu.fused_ctm_substeps, dispatch
        try:
            model, state = gpu_case(n, be.xp)
            forcing = {"time_of_day_s": 8 * 3600.0}
            seconds = median_time(lambda: model.step(state, forcing, STEP_S), 3,
                                  be.synchronize, warmup=True)  # fmt: skip
        finally:
            gpu.fused_ctm_substeps = original
        n_sub = math.ceil(STEP_S / model.dt_sub_max_s * (1 - 1e-12))
        return seconds, seconds / (model.cells.n_cells * n_sub), model, state

    def launches(dispatch):
        original, gpu.fused_ctm_substeps = gpu.fused_ctm_substeps, dispatch
        try:
            count_model, count_state = gpu_case(small, counting.xp)
            counting.reset()
            count_model.step(count_state, {"time_of_day_s": 8 * 3600.0}, STEP_S)
            return counting.counts["launches"], count_model.cells.n_cells
        finally:
            gpu.fused_ctm_substeps = original

    small = max(cells // 16, 1000)
    cpu_s, cpu_per, cpu_model, _ = per_cell_substep(gpu.select("cpu"), small)
    dev_s, dev_per, model, state = per_cell_substep(backend, cells)
    fused = bool(model._fused_by)
    n = model.cells.n_cells
    device_bytes = sum(int(v.nbytes) for k, v in state.items() if not model.STATE[k].host)
    work_bytes = sum(int(v.nbytes) for v in model._dev[backend.xp.__name__][3].values())
    work_bytes += sum(int(v.nbytes) for f in model._fused_by.values()
                      for v in f.scratch.values())  # fmt: skip
    rows = [
        ("traffic step (60 s), NumPy", f"{cpu_model.cells.n_cells:,} cells",
         f"{cpu_s * 1e3:,.1f} ms", f"{cpu_per * 1e9:.1f} ns per cell-sub-step"),
        (f"traffic step (60 s), {backend.name}, {'fused kernel' if fused else 'array code'}",
         f"{n:,} cells", f"{dev_s * 1e3:,.1f} ms",
         f"{cpu_per / dev_per:,.1f}x NumPy per cell-sub-step"),
    ]  # fmt: skip
    if fused:  # the array code on the same device
        arr_s, arr_per, _, _ = per_cell_substep(backend, cells, lambda xp: None)
        rows.append((f"traffic step (60 s), {backend.name}, array code", f"{n:,} cells",
                     f"{arr_s * 1e3:,.1f} ms",
                     f"{cpu_per / arr_per:,.1f}x NumPy per cell-sub-step"))  # fmt: skip
    array_launches, n_small = launches(lambda xp: None)  # the small case's cells
    try:
        kernel = ctm.cpu_build(lambda: counting.counts.update(launches=1))
        fused_launches = f"{launches(lambda xp: kernel)[0]:,} fused, "
    except (RuntimeError, OSError) as err:  # no C compiler for the CPU build
        fused_launches = f"fused not counted ({err}), "
    return [*rows,
        ("traffic device memory", "10^6 road cells", f"{device_bytes / n:.0f} MB state",
         f"{(device_bytes + work_bytes) / n:.0f} MB with the sub-step's buffers; "
         f"{GPU_ZONES} zones"),
        ("traffic launches per 60 s step", f"{n_small:,} cells",
         f"{fused_launches}{array_launches:,} array code", "counting backend"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--city", action="store_true", help="add the city-like 24 h case")
    parser.add_argument("--quick", action="store_true", help="1 rep, skip UXsim's Python engine")
    parser.add_argument("--spread", action="store_true", help="only the route-spread table")
    args = parser.parse_args()
    reps = 1 if args.quick else args.reps
    print(f"# sim.traffic benchmark on {platform.processor() or platform.machine()}, NumPy")
    print(f"numpy {np.__version__}, Python {platform.python_version()}, medians of {reps}")
    spread_table()
    if args.spread:
        return
    grid_table(reps, python_engine=not args.quick)
    scaling_table(reps)
    if args.city:
        city_table(reps)


if __name__ == "__main__":
    main()
