"""Small seeded cities and weather for the energy tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim import weather
from twin import weatherfiles

CLIMATE = Path(__file__).resolve().parents[2] / "datasets" / "gwangju" / "climate.toml"


def random_city(n, n_districts=4, grid=True, seed=0, resolution_m=5.0, size_m=1000.0):
    """Buildings as the city stores them, plus (optionally) the height grid for shading."""
    rng = np.random.default_rng(seed)
    w, d = rng.uniform(8.0, 40.0, n), rng.uniform(8.0, 40.0, n)
    h = rng.uniform(4.0, 80.0, n)
    x, y = rng.uniform(0.0, size_m, n), rng.uniform(0.0, size_m, n)
    city = {
        "x": x, "y": y, "width": w, "depth": d, "height": h,
        "use": rng.integers(0, 4, n).astype(np.int8),
        "floor_area": w * d * np.maximum(np.floor(h / 3.0), 1.0),
        "district": rng.integers(0, n_districts, n).astype(np.int8),
        "n_districts": n_districts,
    }  # fmt: skip
    if grid:
        cells = int(size_m / resolution_m)
        centres = (np.arange(cells) + 0.5) * resolution_m
        heights = np.zeros((cells, cells))
        for xi, yi, wi, di, hi in zip(x, y, w, d, h, strict=True):
            rows = slice(
                int(max(yi - di / 2, 0) / resolution_m), int((yi + di / 2) / resolution_m) + 1
            )
            cols = slice(
                int(max(xi - wi / 2, 0) / resolution_m), int((xi + wi / 2) / resolution_m) + 1
            )
            heights[rows, cols] = np.maximum(heights[rows, cols], hi)
        city |= {"building_height": heights, "grid_x": centres, "grid_y": centres}
    return city


def forcing_series(n_hours, start="2024-06-20T21:00", seed=0):
    """Hourly forcing dicts for the energy model from the synthetic Gwangju weather."""
    t0 = np.datetime64(start, "s")
    times = t0 + np.arange(n_hours) * np.timedelta64(3600, "s")
    w = weather.synthetic_weather(
        weatherfiles.load_climatology(CLIMATE), t0, times[-1] + np.timedelta64(3600, "s"), seed=seed
    )
    f = w.at(times)
    keys = ("local_hour", "air_temperature", "ghi", "dni", "dhi", "solar_elevation",
            "solar_azimuth", "wind_speed")  # fmt: skip
    return [{"time_utc": times[i]} | {k: float(f[k][i]) for k in keys} for i in range(n_hours)]
