"""Run KPIs: the one KPI table, and the running sums of the KPIs no single model owns.

:data:`KPIS` names every KPI a run reports, with its units, long name, the model whose
state it comes from, and which direction is better (services are scored against it).
Models keep their own running sums in their state (traffic counters, the energy
model's ``kpi_*`` entries); :class:`KpiModel` keeps those that combine models
(population exposure, the 24-h PM2.5 standard at the monitors, road and gas CO2). All
of it is restartable state, so a resumed run ends with the same KPIs, and the cost per
step is constant: nothing holds a time series.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import xarray as xr

import gpu
from sim.energy import heating
from sim.energy.grid import KPI_ATTRS as ENERGY_KPIS
from sim.protocol import Var
from sim.traffic.emissions import VEHICLE_CO2_KG_PER_KM

PM25_STANDARD_UGM3 = 35.0  # Korean 24-h PM2.5 standard (Ministry of Environment, 2018)
# Upper end of the "moderate" band of the Korean PM2.5 forecast grades and of the
# Comprehensive Air-quality Index (CAI): hourly PM2.5 above it is "bad" (36-75 ug m-3)
# or "very bad" (> 75) (AirKorea, "Air quality index", airkorea.or.kr; Ministry of
# Environment grades since 2018). Alerts are scored against it.
PM25_BAD_UGM3 = 35.0
ALERT_HOURS = 1.0  # an Alert holds for an hour after it was issued (reissue to extend)


@dataclass(frozen=True)
class Kpi:
    """One KPI: ``units``, ``long_name``, owning ``model``, and ``better``: whether a
    ``"lower"`` or ``"higher"`` value is the improvement."""

    units: str
    long_name: str
    model: str
    better: str


def _energy(name: str, better: str) -> Kpi:
    a = ENERGY_KPIS[name]
    return Kpi(a["units"], a["long_name"], "energy", better)


KPIS: dict[str, Kpi] = {
    "vehicle_hours_travelled": Kpi("h", "vehicle-hours travelled", "traffic", "lower"),
    "total_delay": Kpi("h", "delay against free-flow travel", "traffic", "lower"),
    "mean_trip_time": Kpi("min", "mean trip time of completed trips", "traffic", "lower"),
    "completed_trips": Kpi("1", "trips completed", "traffic", "higher"),
    "vehicle_km_travelled": Kpi("km", "vehicle-kilometres travelled", "traffic", "higher"),
    "mean_speed": Kpi(
        "km h-1", "network mean speed (distance over time on the roads)", "traffic", "higher"
    ),
    "vehicles_in_network": Kpi(
        "1", "vehicles on the roads at the end of the run", "traffic", "lower"
    ),
    "pm25_exposure": Kpi("ug m-3", "population-weighted mean PM2.5", "air", "lower"),
    "no2_exposure": Kpi("ug m-3", "population-weighted mean NO2", "air", "lower"),
    "hours_above_pm25_standard": Kpi(
        "h",
        f"mean hours per air monitor whose 24-h mean PM2.5 exceeds {PM25_STANDARD_UGM3:g} ug m-3",
        "air",
        "lower",
    ),
    "pm25_person_hours_warned": Kpi(
        "h",
        f"person-hours above {PM25_BAD_UGM3:g} ug m-3 PM2.5 (CAI bad) under an alert",
        "air",
        "higher",
    ),
    "pm25_person_hours_not_warned": Kpi(
        "h", f"person-hours above {PM25_BAD_UGM3:g} ug m-3 PM2.5 without an alert", "air", "lower"
    ),
    "pm25_person_hours_false_alarm": Kpi(
        "h", f"person-hours under an alert at or below {PM25_BAD_UGM3:g} ug m-3", "air", "lower"
    ),
    "pm25_alert_hit_rate": Kpi(
        "1",
        "share of the person-hours above the bad band that were warned (1 without any)",
        "air",
        "higher",
    ),
    "pm25_alert_false_alarm_ratio": Kpi(
        "1",
        "share of the warned person-hours at or below the bad band (0 without alerts)",
        "air",
        "lower",
    ),
    "energy_use": _energy("energy_use", "lower"),
    "pv_generation": _energy("pv_generation", "higher"),
    "grid_import": _energy("grid_import", "lower"),
    "peak_load": _energy("peak_load", "lower"),
    "load_factor": _energy("load_factor", "higher"),
    "max_ramp_rate": _energy("max_ramp_rate", "lower"),
    "pv_self_consumption": _energy("pv_self_consumption", "higher"),
    "transformer_utilization": _energy("transformer_utilization", "lower"),
    "grid_co2_emissions": _energy("grid_co2_emissions", "lower"),
    "electricity_cost": _energy("electricity_cost", "lower"),
    "daily_peak_load": _energy("daily_peak_load", "lower"),
    "ramping": _energy("ramping", "lower"),
    "daily_one_minus_load_factor": _energy("daily_one_minus_load_factor", "lower"),
    "pv_self_sufficiency": _energy("pv_self_sufficiency", "higher"),
    "ev_unserved_energy": _energy("ev_unserved_energy", "lower"),
    "thermal_discomfort": _energy("thermal_discomfort", "lower"),
    "co2_emissions": Kpi(
        "t", "CO2 from grid electricity, road traffic and gas heating", "twin", "lower"
    ),
    "road_co2_emissions": Kpi("t", "CO2 from road traffic (tank to wheel)", "traffic", "lower"),
    "heating_gas_co2_emissions": Kpi("t", "CO2 from city-gas space heating", "energy", "lower"),
    "uam_flights_completed": Kpi("1", "air-taxi flights landed", "uam", "higher"),
    "uam_flight_km": Kpi("km", "air-taxi distance flown", "uam", "lower"),
    "uam_energy": Kpi("kW h", "air-taxi battery energy used", "uam", "lower"),
    "uam_min_clearance": Kpi(
        "m", "least height of a flown route above buildings and terrain", "uam", "higher"
    ),
    "uam_people_above_55db": Kpi(
        "1", "residents where air-taxi L_den exceeds 55 dB(A)", "uam", "lower"
    ),
    "uam_noise_exposure": Kpi(
        "dB", "energy mean over residents of the air-taxi L_den at home (A-weighted)", "uam",
        "lower",
    ),
    "uam_mean_wait": Kpi(
        "min", "mean wait of a flight for a pad (on the ground and holding)", "uam", "lower"
    ),
    "failed_services": Kpi(
        "1",
        "services stopped by an error (their targets ran on the baseline)",
        "services",
        "lower",
    ),
}


def kpi_dataset(values: Mapping[str, float]) -> xr.Dataset:
    """Scalar KPIs with the ``units``, ``long_name`` and ``better`` of :data:`KPIS`."""
    unknown = sorted(set(values) - set(KPIS))
    if unknown:
        raise KeyError(f"KPIs {unknown} are not in the KPI table (twin/kpi.py)")
    return xr.Dataset(
        {
            name: (
                (),
                np.float64(values[name]),
                {"units": k.units, "long_name": k.long_name, "model": k.model, "better": k.better},
            )
            for name, k in KPIS.items()
            if name in values
        }
    )


_GRID_SUMS = ("exposed_ph", "warned_exposed_ph", "warned_ph", "pm25_exposure", "no2_exposure")


@gpu.fuse
def _exposure_terms(xp, pm25, population, seconds, alert_until, hours):
    """Per cell: person-hours above the bad band, those under an alert, person-hours
    under an alert, and population times PM2.5 (one kernel on CuPy)."""
    people_h = population * hours
    exposed = xp.where(pm25 > PM25_BAD_UGM3, people_h, 0.0)
    warned = seconds < alert_until
    return (exposed, xp.where(warned, exposed, 0.0), xp.where(warned, people_h, 0.0),
            population * pm25)  # fmt: skip


@gpu.fuse
def _product(xp, a, b, c):
    return a * b * c


@gpu.fuse
def _add_scaled(xp, total, x, scale):
    return total + x * scale


@gpu.fuse
def _add_sums(xp, seconds, exposed_ph, warned_exposed_ph, warned_ph, pm25_exposure,
              no2_exposure, vehicle_m, gas_gj, exposed, warned_exposed, warned, pm25, no2,
              driven, heating_kw, dt, population_total, gas_per_kw):  # fmt: skip
    """Every running sum after the step (one kernel on CuPy)."""
    return (
        seconds + dt,
        exposed_ph + exposed,
        warned_exposed_ph + warned_exposed,
        warned_ph + warned,
        pm25_exposure + pm25 / population_total * dt,
        no2_exposure + no2 / population_total * dt,
        vehicle_m + driven * dt,
        gas_gj + heating_kw * gas_per_kw,
    )


class KpiModel:
    """The running sums of the cross-model KPIs, stepped like a model after the others.

    Alerts (:class:`twin.services.Alert`, set with :meth:`set_alert`) are scored per step
    against the true PM2.5 of each populated cell: person-hours above ``PM25_BAD_UGM3``
    with and without an alert over the cell's district, and warned person-hours at or
    below it (false alarms).

    Forcing of a step (from :func:`twin.stages.kpi_forcing`): ``pm25`` and ``no2`` grids
    (when modelled), ``density`` and ``speed`` per link, ``heating_power`` per building, and
    ``hour_done`` (host bool: this step completes an hour of the run).

    Parameters
    ----------
    population : (y, x) [1] residents per cell, on the backend.
    population_total : [1] residents of the city.
    monitor_cells : (monitor,) flat grid-cell index of each air monitor.
    link_length : (link,) [m].
    gas_gj_per_kw_s : see :func:`sim.energy.heating.fuel_gj_per_kw_s`.
    species : modelled air species.
    cell_district : (y, x) district index of each cell, on the backend.
    n_districts : number of districts.
    """

    OUTPUTS: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    _SUMS: ClassVar[dict[str, tuple[str, str]]] = {
        "seconds": ("s", "simulated time"),
        "pm25_exposure": ("ug m-3 s", "population-weighted PM2.5, time integral"),
        "no2_exposure": ("ug m-3 s", "population-weighted NO2, time integral"),
        "exceed_h": ("h", "monitor-mean hours above the 24-h PM2.5 standard"),
        "vehicle_m": ("m", "vehicle distance driven"),
        "gas_gj": ("GJ", "city gas burnt for heating"),
        "exposed_ph": ("h", "person-hours above the bad band"),
        "warned_exposed_ph": ("h", "person-hours above the bad band under an alert"),
        "warned_ph": ("h", "person-hours under an alert"),
    }

    def __init__(
        self, population, population_total, monitor_cells, link_length, gas_gj_per_kw_s, species,
        cell_district, n_districts,
    ):  # fmt: skip
        self.population, self.population_total = population, population_total
        self.cell_district, self.n_districts = cell_district, int(n_districts)
        self.monitor_cells = monitor_cells
        self.link_length, self.gas_gj_per_kw_s = link_length, gas_gj_per_kw_s
        self.species = tuple(species)
        self.STATE = {
            **{k: Var((), "float64", u, n) for k, (u, n) in self._SUMS.items()},
            "hours": Var((), "float64", "h", "whole hours of the run so far", host=True),
            "pm25_hour_sum": Var(("monitor",), "float64", "ug m-3 s", "PM2.5 this hour"),
            "pm25_hourly": Var(
                ("hour_of_day", "monitor"),
                "float64",
                "ug m-3",
                "the last 24 hourly means at the monitors",
            ),
            "alert_until_s": Var(
                ("district",), "float64", "s", "run time an alert over the district ends"
            ),
        }

    def init(self, inputs: Mapping[str, Any], xp) -> dict[str, Any]:
        """Zero sums (``inputs`` unused)."""
        n = int(self.monitor_cells.shape[0])
        state = {k: xp.zeros((), dtype=xp.float64) for k in self._SUMS}
        state |= {
            "hours": np.asarray(0.0),
            "pm25_hour_sum": xp.zeros(n, dtype=xp.float64),
            "pm25_hourly": xp.zeros((24, n), dtype=xp.float64),
            "alert_until_s": xp.zeros(self.n_districts, dtype=xp.float64),
        }
        return state

    def step(self, state: Mapping[str, Any], forcing: Mapping[str, Any], dt: float) -> dict:
        """The sums after a step of ``dt`` [s]: the grid's terms in one batched
        reduction (rows summed as each grid alone would be, so the KPIs are those of
        separate sums bit for bit) and every sum updated in one fused kernel."""
        xp = gpu.array_namespace(state["pm25_hourly"])
        k = dict(state)
        grid = {}
        if "pm25" in forcing:
            grid = dict(zip(
                ("exposed_ph", "warned_exposed_ph", "warned_ph", "pm25_exposure"),
                _exposure_terms(forcing["pm25"], self.population, state["seconds"],
                                state["alert_until_s"][self.cell_district], dt / 3600.0),
                strict=True,
            ))  # fmt: skip
        if "no2" in forcing:
            grid["no2_exposure"] = self.population * forcing["no2"]
        sums = dict.fromkeys(_GRID_SUMS, 0.0)  # a sum without its term: + 0, unchanged
        if grid:
            rows = xp.stack([g.reshape(-1) for g in grid.values()]).sum(axis=1)
            sums |= {name: rows[i] for i, name in enumerate(grid)}
        driven = _product(forcing["density"], self.link_length, forcing["speed"]).sum()
        new = _add_sums(
            *(k[name] for name in ("seconds", *_GRID_SUMS, "vehicle_m", "gas_gj")),
            *sums.values(), driven, forcing["heating_power"].sum(), dt,
            self.population_total, self.gas_gj_per_kw_s * dt,
        )  # fmt: skip
        k |= dict(zip(("seconds", *_GRID_SUMS, "vehicle_m", "gas_gj"), new, strict=True))
        if "pm25" in forcing and self.monitor_cells.shape[0]:
            at_monitors = forcing["pm25"].reshape(-1)[self.monitor_cells]
            k["pm25_hour_sum"] = _add_scaled(k["pm25_hour_sum"], at_monitors, dt)
            if forcing["hour_done"]:
                k = self._close_hour(k, xp)
        return k

    def _close_hour(self, k: dict, xp) -> dict:
        """Hour of PM2.5 at the monitors done: count it against the 24-h standard.

        The Korean standard limits the 24-h mean; an hour counts as above it when the mean
        of the last 24 hourly means (of all hours so far, in the run's first day) exceeds
        35 ug m-3. The KPI is the mean over monitors of such hours.
        """
        hour = int(k["hours"])  # a host value
        hourly = k["pm25_hourly"].copy()
        hourly[hour % 24] = k["pm25_hour_sum"] / 3600.0
        trailing = hourly.sum(axis=0) / min(hour + 1, 24)
        k["pm25_hourly"] = hourly
        k["pm25_hour_sum"] = xp.zeros_like(k["pm25_hour_sum"])
        k["hours"] = np.asarray(hour + 1.0)
        k["exceed_h"] = k["exceed_h"] + (trailing > PM25_STANDARD_UGM3).mean()
        return k

    def outputs(self, state: Mapping[str, Any]) -> dict:
        return {}

    def set_alert(self, state: Mapping[str, Any], districts, hours: float = ALERT_HOURS) -> dict:
        """A new state with an alert over ``districts`` (indices) for the next ``hours``
        [h] of the run (on the device: no sync)."""
        rows = np.atleast_1d(np.asarray(districts))
        if rows.dtype.kind not in "iu" or np.any((rows < 0) | (rows >= self.n_districts)):
            last = self.n_districts - 1
            raise ValueError(f"districts {districts!r} must be indices in 0..{last}")
        xp = gpu.array_namespace(state["alert_until_s"])
        new = dict(state)
        until = state["alert_until_s"].copy()
        until[xp.asarray(rows)] = state["seconds"] + hours * 3600.0
        new["alert_until_s"] = until
        return new

    def values(self, state: Mapping[str, Any]) -> dict[str, float]:
        """The KPIs of these sums so far (host floats; a sync)."""
        k = {name: float(gpu.to_host(state[name])) for name in self._SUMS}
        seconds = max(k["seconds"], 1e-9)
        values = {
            "vehicle_km_travelled": k["vehicle_m"] / 1000.0,
            "hours_above_pm25_standard": k["exceed_h"],
            "road_co2_emissions": k["vehicle_m"] / 1000.0 * VEHICLE_CO2_KG_PER_KM / 1000.0,
            "heating_gas_co2_emissions": k["gas_gj"] * heating.CO2_T_PER_GJ,
        }
        if "pm25" in self.species:
            values["pm25_exposure"] = k["pm25_exposure"] / seconds
        if "nox" in self.species:
            values["no2_exposure"] = k["no2_exposure"] / seconds
        if "pm25" in self.species:
            hit, warned, exposed = k["warned_exposed_ph"], k["warned_ph"], k["exposed_ph"]
            values |= {
                "pm25_person_hours_warned": hit,
                "pm25_person_hours_not_warned": exposed - hit,
                "pm25_person_hours_false_alarm": warned - hit,
                # nothing to warn of: nothing missed; no alert: no false alarm
                "pm25_alert_hit_rate": hit / exposed if exposed > 0 else 1.0,
                "pm25_alert_false_alarm_ratio": (warned - hit) / warned if warned > 0 else 0.0,
            }
        return values


def totals(values: Mapping[str, float]) -> dict[str, float]:
    """``values`` plus the KPIs that combine models (``co2_emissions``, ``mean_speed``)."""
    parts = ("grid_co2_emissions", "road_co2_emissions", "heating_gas_co2_emissions")
    out = dict(values)
    if all(p in values for p in parts):
        out["co2_emissions"] = values[parts[0]] + values[parts[1]] + values[parts[2]]
    if values.get("vehicle_hours_travelled", 0) > 0 and "vehicle_km_travelled" in values:
        out["mean_speed"] = values["vehicle_km_travelled"] / values["vehicle_hours_travelled"]
    return out


def traffic_kpis(counters: Mapping[str, float]) -> dict[str, float]:
    """Traffic KPIs from :meth:`sim.traffic.TrafficModel.counters`."""
    c = counters
    return {
        "vehicle_hours_travelled": c["vehicle_time_s"] / 3600.0,
        "total_delay": c["delay_s"] / 3600.0,
        "mean_trip_time": c["trip_time_s"] / c["exited"] / 60.0 if c["exited"] else np.nan,
        "completed_trips": c["exited"],
        "vehicles_in_network": c["in_network"],
    }
