"""Benchmark: solar position, roof shading and the energy-model step on NumPy.

Claims (issue 5): our vectorised solar position is at least as fast as pvlib's NumPy SPA
for the same number of points, and a year of hourly steps for 100,000 buildings takes
under a minute on this CPU. Run ``python bench/energy.py`` (``--quick`` skips the 1e6
case and the year). Timings are medians of repeated runs; the machine may be shared.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: bench.timing

import numpy as np

import gpu
from bench.timing import median_time
from sim import solar, weather
from sim.energy import EnergyModel
from twin import weatherfiles

LAT, LON = 35.16, 126.85
CLIMATE = Path(__file__).resolve().parents[1] / "datasets" / "gwangju" / "climate.toml"


def city(n, seed=0, resolution_m=10.0):
    """``n`` box buildings on a square city sized for ~8 % building cover, with its grid."""
    rng = np.random.default_rng(seed)
    w, d = rng.uniform(8.0, 40.0, n), rng.uniform(8.0, 40.0, n)
    h = rng.gamma(2.0, 8.0, n) + 3.0
    size = float(np.sqrt(n * 25.0**2 / 0.08))
    x, y = rng.uniform(0.0, size, n), rng.uniform(0.0, size, n)
    cells = int(size / resolution_m) + 1
    heights = np.zeros((cells, cells))
    np.maximum.at(heights, ((y / resolution_m).astype(int), (x / resolution_m).astype(int)), h)
    centres = (np.arange(cells) + 0.5) * resolution_m
    return {
        "x": x, "y": y, "width": w, "depth": d, "height": h,
        "use": rng.integers(0, 4, n), "floor_area": w * d * np.maximum(np.floor(h / 3.0), 1.0),
        "district": rng.integers(0, 5, n), "n_districts": 5,
        "building_height": heights, "grid_x": centres, "grid_y": centres,
    }  # fmt: skip


def bench_solar(sizes, repeats):
    import pandas as pd
    import pvlib

    pvlib_s = {}
    print("\nSolar position, N points (us per point; pvlib nrel_numpy, same run)")
    print(f"{'N':>9} | {'pvlib N times':>13} | {'ours N times':>12} | {'ratio':>6} | "
          f"{'ours N places':>13} | {'ratio':>6}")  # fmt: skip
    for n in sizes:
        times = np.datetime64("2024-01-01T00:00", "s") + np.arange(n) * np.timedelta64(37, "s")
        index = pd.DatetimeIndex(times).tz_localize("UTC")
        ref = median_time(
            lambda index=index: pvlib.solarposition.get_solarposition(
                index, LAT, LON, method="nrel_numpy", delta_t=None
            ),
            repeats,
        )
        ours = median_time(lambda times=times: solar.solar_position(times, LAT, LON), repeats)
        lats = LAT + np.linspace(-0.1, 0.1, n)
        places = median_time(
            lambda t=times[0], lats=lats: solar.solar_position(t, lats, LON), repeats
        )
        print(f"{n:>9} | {ref / n * 1e6:>13.3f} | {ours / n * 1e6:>12.3f} | {ref / ours:>6.1f} | "
              f"{places / n * 1e6:>13.3f} | {ref / places:>6.0f}")  # fmt: skip
        pvlib_s[n] = ref
    return pvlib_s


def forcing_at(w, times, i):
    f = w.at(times[i : i + 1])
    return {"time_utc": times[i]} | {k: float(v[0]) for k, v in f.items() if k != "time_utc"}


def day_forcings():
    """(times, forcings): the 24 hourly steps of a synthetic June day in Gwangju (UTC)."""
    clim = weatherfiles.load_climatology(CLIMATE)
    t0 = np.datetime64("2024-06-20T21:00", "s")
    times = t0 + np.arange(24) * np.timedelta64(3600, "s")
    w = weather.synthetic_weather(clim, t0, times[-1], seed=0)
    return times, [forcing_at(w, times, i) for i in range(24)]


def gpu_check(backend, buildings: int) -> list[tuple[str, str, str, str]]:
    """Rows of ``bench/gpu_check.py``: an hourly energy step (noon, KST) of ``buildings``
    buildings on ``backend`` and of a tenth of them on NumPy in the same run (speed-up per
    building), and the device memory of the state per million buildings."""
    _, forcings = day_forcings()

    def per_building(be, n):
        model = EnergyModel()
        state = model.init(city(n, resolution_m=25.0), be.xp)
        seconds = median_time(lambda: model.step(state, forcings[6], 3600.0), 3,
                              be.synchronize, warmup=True)  # fmt: skip
        return seconds, model, state

    small = max(buildings // 10, 1000)
    cpu_s, _, _ = per_building(gpu.select("cpu"), small)
    dev_s, model, state = per_building(backend, buildings)
    device_bytes = sum(int(getattr(v, "nbytes", 0)) for k, v in state.items()
                       if k in model.STATE and not model.STATE[k].host)  # fmt: skip
    return [
        ("energy step (1 h), NumPy", f"{small:,} buildings", f"{cpu_s * 1e3:,.1f} ms", ""),
        (f"energy step (1 h), {backend.name}", f"{buildings:,} buildings",
         f"{dev_s * 1e3:,.1f} ms", f"{cpu_s / small / (dev_s / buildings):,.1f}x NumPy "
         "per building"),
        ("energy device memory", "10^6 buildings", f"{device_bytes / buildings:.0f} MB state",
         ""),
    ]  # fmt: skip


def bench_steps(sizes, repeats, roof_samples, pvlib_s):
    times, forcings = day_forcings()
    print(f"\nEnergy step (roof_samples={roof_samples}): per-building solar position + "
          "shading + thermal/PV/EV/grid step")  # fmt: skip
    print(f"{'buildings':>9} | {'init s':>7} | {'sun ms':>7} | {'step ms':>8} | "
          f"{'steps/s':>8} | {'pvlib sun ms':>12}")  # fmt: skip
    for n in sizes:
        c = city(n)
        model = EnergyModel(roof_samples=roof_samples)
        t_init = time.perf_counter()
        state = model.init(c, np)
        t_init = time.perf_counter() - t_init
        lat = LAT + (c["y"] - c["y"].mean()) / 111_000.0
        lon = LON + (c["x"] - c["x"].mean()) / 91_000.0
        sun = median_time(lambda lat=lat, lon=lon: solar.solar_position(times[6], lat, lon),
                          repeats)  # fmt: skip
        step_times = []
        for f in forcings[: max(repeats * 2, 8)]:
            tic = time.perf_counter()
            state = model.step(state, f, 3600.0)
            step_times.append(time.perf_counter() - tic)
        step = statistics.median(step_times)
        pvlib_sun = pvlib_s[n]
        print(f"{n:>9} | {t_init:>7.2f} | {sun * 1e3:>7.2f} | {step * 1e3:>8.2f} | "
              f"{1.0 / (sun + step):>8.1f} | {pvlib_sun * 1e3:>12.1f}")  # fmt: skip


def bench_year(n):
    clim = weatherfiles.load_climatology(CLIMATE)
    start = np.datetime64("2023-12-31T15:00", "s")
    times = start + np.arange(8760) * np.timedelta64(3600, "s")
    c = city(n)
    tic = time.perf_counter()
    w = weather.synthetic_weather(clim, start, times[-1], seed=1)
    f = w.at(times)
    t_weather = time.perf_counter() - tic
    model = EnergyModel()
    tic = time.perf_counter()
    state = model.init(c, np)
    t_init = time.perf_counter() - tic
    keys = [k for k in f if k != "time_utc"]
    tic, cpu = time.perf_counter(), time.process_time()
    for i in range(times.size):
        forcing = {"time_utc": times[i]} | {k: float(f[k][i]) for k in keys}
        state = model.step(state, forcing, 3600.0)
    t_year, cpu = time.perf_counter() - tic, time.process_time() - cpu
    kpis = model.kpis(state)
    # CPU time next to wall time: on a shared machine the difference is time spent waiting.
    print(f"\nYear of hourly steps, {n} buildings: weather {t_weather:.1f} s, init {t_init:.1f} s, "
          f"8760 steps {t_year:.1f} s wall, {cpu:.1f} s CPU (target < 60 s)")  # fmt: skip
    print("  KPIs: " + ", ".join(
        f"{k} {v:.4g} {EnergyModel.KPI_ATTRS[k]['units']}" for k, v in kpis.items()
    ))  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip 1e6 buildings and the year")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"NumPy {np.__version__}")  # fmt: skip
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    pvlib_s = bench_solar(sizes, args.repeats)
    bench_steps(sizes[:2], args.repeats, 5, pvlib_s)
    if not args.quick:
        bench_steps(sizes[2:], args.repeats, 1, pvlib_s)
        bench_year(100_000)


if __name__ == "__main__":
    main()
