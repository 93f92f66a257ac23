"""The coupling stages: what one model's outputs become in another model's forcing.

- traffic -> link emissions -> air (:class:`RoadEmissions`);
- energy -> heating emissions -> air (:class:`HeatingEmissions`);
- traffic -> EV arrivals -> energy (:class:`EvArrivals`);
- weather -> all (each component's forcing takes its scalars from :class:`Exchange`).

A stage is built once from the city (index tables go to the device then) and called
every coupling step on device arrays; none of them reads a device value on the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import xarray as xr

import gpu
from sim.energy import heating
from sim.traffic import LinkRasterizer, link_emissions
from twin.city import City


@dataclass
class Exchange:
    """What flows between the models of one run, updated as a coupling step proceeds.

    Attributes
    ----------
    step : index of the current coupling step (``[t, t + dt)``).
    time : start of the step (timezone-aware, the scenario's offset).
    dt_s : [s] coupling step.
    weather : this step's forcing scalars (:meth:`sim.weather.Weather.at` names).
    outputs : ``{component: {name: array}}``, the latest outputs of each model: this
        step's for the models already stepped, the last step's for the others.
    states : ``{component: state}``, the latest states.
    models : ``{component: model}``.
    """

    dt_s: float
    step: int = 0
    time: datetime | None = None
    weather: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)

    @property
    def hour_done(self) -> bool:
        """Whether this step completes a whole hour of the run."""
        i, dt = self.step, self.dt_s
        return (i + 1) * dt // 3600 > i * dt // 3600


def grid_cells(grid: xr.Dataset, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Flat grid-cell index of points [m] (clipped to the grid)."""
    res = float(grid["x"][1] - grid["x"][0]) if grid.sizes["x"] > 1 else 1.0
    ix = np.clip(np.floor((x - grid["x"].values[0]) / res + 0.5), 0, grid.sizes["x"] - 1)
    iy = np.clip(np.floor((y - grid["y"].values[0]) / res + 0.5), 0, grid.sizes["y"] - 1)
    return (iy * grid.sizes["x"] + ix).astype(np.int64)


class RoadEmissions:
    """traffic -> link emissions -> air: NOx and PM2.5 of each link onto the grid [kg s-1]."""

    def __init__(self, city: City, species: tuple[str, ...], xp):
        g, r = city.grid, city["roads"]
        frm, to = r["from_node"].values, r["to_node"].values
        x, y = r["x"].values, r["y"].values
        self.species = species
        self.link_length = xp.asarray(r["length"].values, dtype=xp.float64)
        self.rasterize = LinkRasterizer(x[frm], y[frm], x[to], y[to], g["x"].values, g["y"].values)

    def __call__(self, traffic_out: Mapping[str, Any]) -> dict[str, Any]:
        links = link_emissions(
            traffic_out["flow"], traffic_out["speed"], self.link_length, check=False
        )
        return {s: self.rasterize(links[s]) for s in self.species}


class HeatingEmissions:
    """energy -> heating emissions -> air: city-gas boilers' NOx and PM2.5 [kg s-1 per cell]."""

    def __init__(self, city: City, species: tuple[str, ...], electric_heating_share: float, xp):
        g, b = city.grid, city["buildings"]
        self.shape = (g.sizes["y"], g.sizes["x"])
        self.building_cell = xp.asarray(grid_cells(g, b["x"].values, b["y"].values))
        self.gas_gj_per_kw_s = heating.fuel_gj_per_kw_s(electric_heating_share)
        self.species = species

    def __call__(self, heating_power) -> dict[str, Any]:
        gas_gj_per_s = heating_power * self.gas_gj_per_kw_s
        n = self.shape[0] * self.shape[1]
        return {
            s: gpu.bincount(
                self.building_cell, gas_gj_per_s * (heating.EMISSION_G_PER_GJ[s] * 1e-3), n
            ).reshape(self.shape)
            for s in self.species
        }


class EvArrivals:
    """traffic -> EV arrivals -> energy: vehicles reaching each district in the step."""

    def __init__(self, zone_district: np.ndarray, n_districts: int, xp):
        self.zone_district = xp.asarray(zone_district)
        self.n_districts = n_districts

    def __call__(self, zone_arrivals) -> Any:
        return gpu.bincount(self.zone_district, zone_arrivals, self.n_districts)
