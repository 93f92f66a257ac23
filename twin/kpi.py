"""Run KPIs: running sums updated every coupling step, scalars with units at the end.

The accumulator never holds a time series: it keeps a few float64 sums whose values
are saved with each restart snapshot, so a resumed run ends with the same KPIs.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.energy.grid import KPI_ATTRS as ENERGY_KPIS

PM25_STANDARD_UGM3 = 35.0  # Korean 24-h PM2.5 standard (Ministry of Environment, 2018)
VEHICLE_CO2_KG_PER_KM = 0.17  # fleet-average passenger car, tank to wheel (EEA 2019, about)

# name: (units, long_name); energy KPIs come from the energy model's own table
KPIS: dict[str, tuple[str, str]] = {
    "vehicle_hours_travelled": ("h", "vehicle-hours travelled"),
    "total_delay": ("h", "delay against free-flow travel"),
    "mean_trip_time": ("min", "mean trip time of completed trips"),
    "completed_trips": ("1", "trips completed"),
    "vehicles_in_network": ("1", "vehicles on the roads at the end of the run"),
    "pm25_exposure": ("ug m-3", "population-weighted mean PM2.5"),
    "no2_exposure": ("ug m-3", "population-weighted mean NO2"),
    "hours_above_pm25_standard": (
        "h",
        f"mean hours per air monitor whose 24-h mean PM2.5 exceeds {PM25_STANDARD_UGM3:g} ug m-3",
    ),
    **{name: (a["units"], a["long_name"]) for name, a in ENERGY_KPIS.items()},
    "co2_emissions": ("t", "CO2 from grid electricity, road traffic and gas heating"),
    "road_co2_emissions": ("t", "CO2 from road traffic (tank to wheel)"),
    "heating_gas_co2_emissions": ("t", "CO2 from city-gas space heating"),
}


def kpi_dataset(values: dict[str, float]) -> xr.Dataset:
    """Scalar KPIs with ``units`` and ``long_name`` from :data:`KPIS`."""
    return xr.Dataset(
        {
            name: ((), np.float64(values[name]), {"units": units, "long_name": long_name})
            for name, (units, long_name) in KPIS.items()
            if name in values
        }
    )
