"""City-gas space heating: the fuel burnt for the heat not met electrically, its emissions.

The energy model meets each building's heat demand; the share ``electric_heating_share``
comes from heat pumps (electricity), the rest from city-gas boilers. The fuel they burn
loads no feeder but emits NOx, PM2.5 and CO2 at the building.

References
----------
EMEP/EEA (2019). Air Pollutant Emission Inventory Guidebook 2019, 1.A.4 small combustion,
    table 3-14 (natural gas, Tier 1) [g per GJ of fuel].
IPCC (2006). Guidelines for National Greenhouse Gas Inventories, vol. 2, table 2.2:
    56.1 t CO2 per TJ of natural gas.
"""

from __future__ import annotations

EMISSION_G_PER_GJ = {"nox": 51.0, "pm25": 1.2}  # EMEP/EEA 2019, natural gas, Tier 1
CO2_T_PER_GJ = 0.0561  # IPCC 2006
BOILER_EFFICIENCY = 0.9  # condensing and non-condensing city-gas boilers, about


def fuel_gj_per_kw_s(electric_heating_share: float) -> float:
    """Gas burnt per kW of heat demand [GJ s-1 kW-1] when ``electric_heating_share`` [1] of
    the heat comes from heat pumps: ``(1 - share) * 1e-6 / efficiency``."""
    return (1.0 - electric_heating_share) * 1e-6 / BOILER_EFFICIENCY
