"""Fixtures for the viz tests: a coarse Gwangju and run stores with known patterns.

The synthetic run puts every quantity's high values in a known place, so a test
can check that the picture shows them there:

* PM2.5 (and NO2, NOx): a plume centred on the north-east corner of the grid,
  growing each step; elsewhere a 12 ug m-3 background.
* Speed: congested (20 % of free speed) on links west of the grid's middle.
* Electric load: 400 kW for buildings east of the middle, 5 kW elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import twin
from sim.variables import attrs_for
from twin.store import RunStore

START = "2026-06-17T05:00:00+09:00"
STEP_S = 3600
N_STEPS = 5  # outputs at 06:00, 07:00, 08:00, 09:00, 10:00 local


def scenario_toml(start: str = START) -> str:
    return f'name = "viz-test"\nstart = {start}\nduration = "{N_STEPS}h"\n'


AIR = ("pm25", "no2", "nox")
TRAFFIC = ("density", "flow", "speed", "queue_length", "travel_time")
ENERGY_B = ("heating_power", "cooling_power", "electric_load", "pv_power", "indoor_temperature")
ENERGY_D = ("ev_charging_power", "net_load")
PLUME_SCALE_M = 3000.0
BACKGROUND_PM25 = 12.0
HIGH_LOAD_KW, LOW_LOAD_KW = 400.0, 5.0


@pytest.fixture(scope="session")
def city():
    return twin.build_city("gwangju", resolution_m=500)


def plume(city, k: int) -> np.ndarray:
    """PM2.5 [ug m-3] at step ``k``: background plus a Gaussian on the NE corner."""
    g = city.grid
    x, y = g["x"].values, g["y"].values
    r2 = (x[None, :] - x[-1]) ** 2 + (y[:, None] - y[-1]) ** 2
    return BACKGROUND_PM25 + 30.0 * (k + 1) * np.exp(-r2 / PLUME_SCALE_M**2)


def state(city, k: int, scale: float = 1.0) -> dict[str, dict[str, np.ndarray]]:
    """Outputs of step ``k`` with the patterns of the module docstring."""
    g, b, r = city.grid, city["buildings"], city["roads"]
    pm = plume(city, k) * scale
    mid_x = 0.5 * (g["x"].values[0] + g["x"].values[-1])
    node_x = r["x"].values
    link_x = 0.5 * (node_x[r["from_node"].values] + node_x[r["to_node"].values])
    free = r["free_speed"].values
    speed = np.where(link_x < mid_x, 0.2, 1.0) * free
    density = 0.02 * r["lanes"].values * free / np.maximum(speed, 1e-3)
    load = np.where(b["x"].values > mid_x, HIGH_LOAD_KW, LOW_LOAD_KW)
    n_d = city["districts"].sizes["district"]
    ones_b = np.ones(b.sizes["building"])
    return {
        "air": {"pm25": pm, "no2": 0.3 * pm, "nox": 0.5 * pm},
        "traffic": {
            "density": density,
            "flow": density * speed,
            "speed": speed,
            "queue_length": np.where(link_x < mid_x, 200.0, 0.0),
            "travel_time": r["length"].values / speed,
        },
        "energy": {
            "heating_power": 0 * ones_b,
            "cooling_power": 2.0 * ones_b * (k + 1),
            "electric_load": load * scale,
            "pv_power": 1.5 * ones_b * k,
            "indoor_temperature": 24.0 + 0.2 * k * ones_b,
            "ev_charging_power": 100.0 * np.arange(1, n_d + 1) * (k + 1),
            "net_load": 1000.0 * np.arange(1, n_d + 1) * (k + 1),
        },
    }


def make_run(path, city, scale: float = 1.0, completed: int = N_STEPS, start: str = START):
    """A run store laid out as ``twin.runner`` writes it, ``completed`` steps written,
    hourly outputs from an hour after ``start``."""
    g, b, r = city.grid, city["buildings"], city["roads"]
    n_b, n_l = b.sizes["building"], r.sizes["link"]
    ny, nx = g.sizes["y"], g.sizes["x"]
    n_d = city["districts"].sizes["district"]
    attrs = attrs_for(*AIR, *TRAFFIC, *ENERGY_B, *ENERGY_D)
    layouts = {
        "air": {v: (("y", "x"), (ny, nx), attrs[v]) for v in AIR},
        "traffic": {v: (("link",), (n_l,), attrs[v]) for v in TRAFFIC},
        "energy": {v: (("building",), (n_b,), attrs[v]) for v in ENERGY_B}
        | {v: (("district",), (n_d,), attrs[v]) for v in ENERGY_D},
    }
    coords = {"air": {c: ((c,), g[c].values, {"units": "m", "crs": city.crs}) for c in ("x", "y")}}
    store = RunStore.create(
        path,
        city.tree,
        attrs={"scenario": scenario_toml(start), "scenario_name": "viz-test", "status": "complete"},
        times_s=np.arange(1, N_STEPS + 1, dtype=np.int64) * STEP_S,
        time_units=f"seconds since {start}",
        layouts=layouts,
        coords=coords,
    )
    for k in range(completed):
        store.write_outputs(k, state(city, k, scale))
        store.write_restart(k + 1, {})
    store.write_kpis(
        xr.Dataset(
            {
                "vehicle_hours_travelled": ((), 5210.0 * scale, {"units": "h"}),
                "total_delay": ((), 830.0 * scale, {"units": "h"}),
                "pm25_exposure": ((), 18.4 * scale, {"units": "ug m-3"}),
                "energy_use": ((), 412.0 * scale, {"units": "MWh"}),
                "peak_load": ((), 96.0 * scale, {"units": "MW"}),
            }
        )
    )
    return path


@pytest.fixture(scope="session")
def run_store(city, tmp_path_factory):
    """A complete run: 5 hourly outputs, 06:00 to 10:00 local (+09:00)."""
    return make_run(tmp_path_factory.mktemp("runs") / "base.zarr", city)


@pytest.fixture(scope="session")
def other_run_store(city, tmp_path_factory):
    """The same run with every state value and KPI doubled (a 'service' run)."""
    return make_run(tmp_path_factory.mktemp("runs") / "doubled.zarr", city, scale=2.0)


@pytest.fixture(scope="session")
def city_store(city, tmp_path_factory):
    return city.save(tmp_path_factory.mktemp("cities") / "city.zarr")
