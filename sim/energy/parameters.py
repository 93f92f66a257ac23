"""Settings of the energy model, with their units, defaults and sources."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from sim.energy import grid, thermal

_FRACTIONS = (
    "electric_heating_share",
    "pv_coverage",
    "pv_efficiency",
    "pv_system_losses",
    "pv_inverter_efficiency",
    "albedo",
    "ev_share",
    "ev_plug_in_per_arrival",
)
_POSITIVE = (
    "heating_cop",
    "cooling_cop",
    "ua_scale",
    "hvac_design_delta_k",
    "ev_session_energy_kwh",
    "ev_charger_power_kw",
    "feeder_capacity_w_per_m2",
    "horizon_distance_m",
    "setpoint_offset_max_c",
)
_NONNEGATIVE = (
    "vehicles_per_person",
    "ev_sessions_per_day",
    "ev_chargers_per_vehicle",
    "grid_co2_t_per_mwh",
)


_TABLES = ("tou_price_krw_per_kwh", "grid_co2_hourly_t_per_mwh")  # checked by the model


@dataclasses.dataclass(frozen=True)
class EnergyParameters:
    """Energy-model settings (units in the names; defaults are Korean/Gwangju values).

    Attributes
    ----------
    heating_setpoint_c, cooling_setpoint_c : zone setpoints [degC] while the HVAC of the
        building's use is scheduled on (20 and 26 degC, the Korean public-building
        recommendations for winter and summer).
    heating_setback_c, cooling_setback_c : setpoints outside those hours [degC].
    heating_cop, cooling_cop : seasonal performance of heat pumps and chillers [1].
    electric_heating_share : share of heat demand met electrically (heat pumps) [1]; the
        rest burns city gas in boilers and does not load the grid (most Korean homes heat
        with gas boilers, about 80 %: KEEI Household Energy Survey, approximate).
    ua_scale : multiplies envelope conductances (retrofit scenarios) [1].
    hvac_design_delta_k : plant size as UA times this temperature difference [K].
    initial_indoor_temperature_c : zone temperature at ``init`` [degC].
    pv_coverage : share of each roof covered with modules [1].
    pv_efficiency : module efficiency at standard test conditions [1].
    pv_tilt_deg, pv_azimuth_deg : module orientation [deg] (azimuth clockwise from north);
        20 deg south-facing racks are common on Korean flat roofs.
    pv_gamma_per_k : power temperature coefficient [K-1] (mono c-Si).
    pv_system_losses, pv_inverter_efficiency : PVWatts defaults [1] (Dobos 2014).
    albedo : ground reflectance for facades and tilted modules [1].
    ev_share : electric share of the vehicle fleet [1]; 10 %, a near-future fleet (about
        3 % in Korea in 2024).
    vehicles_per_person : registered cars per resident [1] (about 0.5 in Gwangju).
    ev_sessions_per_day : plug-ins per EV and day for the default arrival profile [d-1].
    ev_plug_in_per_arrival : share of EV arrivals that plug in, for traffic arrivals [1]
        (0.4 sessions a day over about 2.5 trips per vehicle and day).
    ev_session_energy_kwh : mean energy per charging session [kWh].
    ev_charger_power_kw : power of one charger [kW] (7 kW AC, the Korean standard slow unit).
    ev_chargers_per_vehicle : chargers per EV in each district [1].
    grid_co2_t_per_mwh : grid emission factor [t MWh-1] (``grid.CO2_T_PER_MWH``, GIR).
    grid_co2_hourly_t_per_mwh : a carbon intensity per local hour (24 values) [t MWh-1]
        instead of the constant; ``None`` keeps ``grid_co2_t_per_mwh``.
    tou_price_krw_per_kwh : tariff [KRW kWh-1] by (month, local hour); ``None`` takes
        ``grid.TOU_PRICE`` (KEPCO time-of-use).
    feeder_capacity_w_per_m2 : assumed feeder rating per m2 of district floor area [W m-2]
        when the inputs carry no ``transformer_capacity_kw``.
    roof_samples : roof points tested for shade, 1 (centre) or 5 (centre and quarters).
    horizon_sectors : azimuth sectors of the roof horizons.
    horizon_distance_m : scan radius of the roof horizons [m].
    block_buildings : buildings per block of a step on the CPU (cache blocking; the result
        does not depend on it beyond the summation order of district totals).
    ev_deadlines : sessions leave at a departure hour (``sim.energy.ev.DEPARTURE_HOUR``),
        each vehicle charging at the charger power until done, so a charging limit may
        leave energy unserved; ``False`` keeps the first-order backlog queue (no departures).
    setpoint_offset_max_c : largest setpoint change a controller may make [K] (comfort
        bounds: 3 K keeps a 20 degC heating setpoint above 17 degC, the floor of the
        ASHRAE 55 / ISO 7730 category III comfort range for light activity, about).
    """

    heating_setpoint_c: float = 20.0
    cooling_setpoint_c: float = 26.0
    heating_setback_c: float = 16.0
    cooling_setback_c: float = 30.0
    heating_cop: float = 3.0
    cooling_cop: float = 3.5
    electric_heating_share: float = 0.2
    ua_scale: float = 1.0
    hvac_design_delta_k: float = thermal.HVAC_DESIGN_DELTA_K
    initial_indoor_temperature_c: float = 21.0
    pv_coverage: float = 0.3
    pv_efficiency: float = 0.20
    pv_tilt_deg: float = 20.0
    pv_azimuth_deg: float = 180.0
    pv_gamma_per_k: float = -0.0037
    pv_system_losses: float = 0.14
    pv_inverter_efficiency: float = 0.96
    albedo: float = 0.2
    ev_share: float = 0.1
    vehicles_per_person: float = 0.5
    ev_sessions_per_day: float = 0.4
    ev_plug_in_per_arrival: float = 0.16
    ev_session_energy_kwh: float = 15.0
    ev_charger_power_kw: float = 7.0
    ev_chargers_per_vehicle: float = 0.5
    grid_co2_t_per_mwh: float = grid.CO2_T_PER_MWH
    tou_price_krw_per_kwh: Any = None
    grid_co2_hourly_t_per_mwh: Any = None
    ev_deadlines: bool = False
    feeder_capacity_w_per_m2: float = 60.0
    roof_samples: int = 5
    horizon_sectors: int = 36
    horizon_distance_m: float = 500.0
    block_buildings: int = 8192
    setpoint_offset_max_c: float = 3.0

    def __post_init__(self):
        for name in (f.name for f in dataclasses.fields(self)):
            value = getattr(self, name)
            if name not in _TABLES and not (
                isinstance(value, int | float) and math.isfinite(value)
            ):
                raise ValueError(f"energy parameter {name} must be a finite number, got {value!r}")
        checks = (
            (_FRACTIONS, lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
            (_POSITIVE, lambda v: v > 0, "> 0"),
            (_NONNEGATIVE, lambda v: v >= 0, ">= 0"),
        )
        for names, ok, rule in checks:
            for name in names:
                if not ok(getattr(self, name)):
                    raise ValueError(
                        f"energy parameter {name} must be {rule}, got {getattr(self, name)!r}"
                    )
        order = (
            "heating_setback_c",
            "heating_setpoint_c",
            "cooling_setpoint_c",
            "cooling_setback_c",
        )
        values = [getattr(self, n) for n in order]
        if values != sorted(values):
            raise ValueError(f"energy parameters must satisfy {' <= '.join(order)}")
        if self.roof_samples not in (1, 5):
            raise ValueError(
                f"energy parameter roof_samples must be 1 or 5, got {self.roof_samples}"
            )
        if self.horizon_sectors < 4:
            raise ValueError("energy parameter horizon_sectors must be >= 4")
        if not (isinstance(self.block_buildings, int) and self.block_buildings >= 1):
            raise ValueError("energy parameter block_buildings must be an integer >= 1")

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> EnergyParameters:
        """Build from a settings mapping (e.g. a scenario's ``energy`` table)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            allowed = ", ".join(sorted(known))
            raise ValueError(f"unknown energy parameter(s) {', '.join(unknown)}; known: {allowed}")
        return cls(**settings)
