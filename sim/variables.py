"""The one table of variable names, dims and CF attributes (docs/variables.md).

Models declare ``OUTPUTS = variables.outputs_for(...)``; writers read the dims and attrs
from there, so names and units agree across models, stores, KPIs and pictures.
"""

from __future__ import annotations

from types import MappingProxyType

# name: (dims, units, long_name, standard_name or None)
_TABLE: dict[str, tuple[tuple[str, ...], str, str, str | None]] = {
    # city grid
    "elevation": (("y", "x"), "m", "terrain height above sea level", "surface_altitude"),
    "land_use": (("y", "x"), "1", "land-use class", "area_type"),
    "building_height": (("y", "x"), "m", "tallest building in the cell, 0 where none", None),
    "population": (("y", "x"), "1", "residents in the cell", None),
    "district": (("y", "x"), "1", "index into /districts", None),
    # buildings
    "width": (("building",), "m", "footprint side along x", None),
    "depth": (("building",), "m", "footprint side along y", None),
    "height": (("building",), "m", "building height", "height"),
    "use": (("building",), "1", "building use class", None),
    "floor_area": (("building",), "m2", "gross floor area", None),
    # roads
    "from_node": (("link",), "1", "upstream node index", None),
    "to_node": (("link",), "1", "downstream node index", None),
    "length": (("link",), "m", "link length", None),
    "lanes": (("link",), "1", "number of lanes", None),
    "free_speed": (("link",), "m s-1", "free-flow speed", None),
    "capacity": (("link",), "s-1", "per-lane capacity (vehicles per second)", None),
    "jam_density": (("link",), "m-1", "per-lane jam density (vehicles per metre)", None),
    "road_class": (("link",), "1", "road class (local, arterial, ring)", None),
    "signalized": (("node",), "1", "1 where a traffic signal controls the node", None),
    # traffic state
    "density": (("time", "link"), "m-1", "vehicle density, all lanes", None),
    "flow": (("time", "link"), "s-1", "vehicles per second leaving the link", None),
    "speed": (("time", "link"), "m s-1", "space-mean speed", None),
    "queue_length": (("time", "link"), "m", "back of queue from the downstream end", None),
    "travel_time": (("time", "link"), "s", "current link travel time", None),
    "signal_phase": (("time", "signal"), "1", "phase shown (in green or clearing)", None),
    "signal_interval": (
        ("time", "signal"),
        "1",
        "interval shown: 0 green, 1 amber, 2 all-red",
        None,
    ),
    "signal_phase_time": (
        ("time", "signal"),
        "s",
        "time since the shown phase's green began",
        None,
    ),
    "detector_count": (("time", "detector"), "1", "vehicles over the loop, last interval", None),
    "detector_occupancy": (("time", "detector"), "1", "time share the loop is occupied", None),
    "detector_speed": (("time", "detector"), "m s-1", "space-mean speed at the loop", None),
    "detector_queue_length": (
        ("time", "detector"),
        "m",
        "back of queue from the downstream end of the loop's link",
        None,
    ),
    # air state
    "pm25": (
        ("time", "y", "x"),
        "ug m-3",
        "near-surface PM2.5 mass concentration",
        "mass_concentration_of_pm2p5_ambient_aerosol_particles_in_air",
    ),
    "no2": (
        ("time", "y", "x"),
        "ug m-3",
        "near-surface NO2 mass concentration",
        "mass_concentration_of_nitrogen_dioxide_in_air",
    ),
    "nox": (
        ("time", "y", "x"),
        "ug m-3",
        "near-surface NOx mass concentration (as NO2)",
        "mass_concentration_of_nox_expressed_as_nitrogen_dioxide_in_air",
    ),
    # forcing
    "mixing_height": (
        ("time",),
        "m",
        "boundary-layer height",
        "atmosphere_boundary_layer_thickness",
    ),
    "air_temperature": (("time",), "degC", "2 m air temperature", "air_temperature"),
    "wind_speed": (("time",), "m s-1", "10 m wind speed", "wind_speed"),
    "wind_from_direction": (
        ("time",),
        "degree",
        "10 m wind direction (from)",
        "wind_from_direction",
    ),
    "relative_humidity": (("time",), "1", "relative humidity (fraction)", "relative_humidity"),
    "cloud_fraction": (("time",), "1", "total cloud fraction", "cloud_area_fraction"),
    "ghi": (
        ("time",),
        "W m-2",
        "global horizontal irradiance",
        "surface_downwelling_shortwave_flux_in_air",
    ),
    "dni": (("time",), "W m-2", "direct normal irradiance", None),
    "dhi": (
        ("time",),
        "W m-2",
        "diffuse horizontal irradiance",
        "surface_diffuse_downwelling_shortwave_flux_in_air",
    ),
    "solar_elevation": (("time",), "degree", "true solar elevation angle", "solar_elevation_angle"),
    "solar_azimuth": (
        ("time",),
        "degree",
        "solar azimuth clockwise from north",
        "solar_azimuth_angle",
    ),
    # energy state
    "heating_power": (("time", "building"), "kW", "heating demand met", None),
    "cooling_power": (("time", "building"), "kW", "cooling demand met", None),
    "electric_load": (("time", "building"), "kW", "appliances and HVAC electricity", None),
    "pv_power": (("time", "building"), "kW", "rooftop PV AC output", None),
    "indoor_temperature": (("time", "building"), "degC", "zone air temperature", None),
    "ev_charging_power": (("time", "district"), "kW", "EV charging load", None),
    "net_load": (("time", "district"), "kW", "electric_load + ev_charging_power - pv_power", None),
}

VARIABLES = MappingProxyType(
    {
        name: MappingProxyType(
            {"dims": dims, "units": units, "long_name": long_name}
            | ({"standard_name": std} if std else {})
        )
        for name, (dims, units, long_name, std) in _TABLE.items()
    }
)


def attrs_for(*names: str) -> dict[str, dict[str, str]]:
    """CF attrs (``units``, ``long_name``, ``standard_name`` where CF has one) by name."""
    unknown = [n for n in names if n not in VARIABLES]
    if unknown:
        raise KeyError(f"not in the variable table (sim/variables.py): {', '.join(unknown)}")
    return {n: {k: v for k, v in VARIABLES[n].items() if k != "dims"} for n in names}


def outputs_for(*names: str) -> dict[str, dict]:
    """A model's ``OUTPUTS`` table: the CF attrs of :func:`attrs_for` plus ``dims``, the
    dimensions of one output (the table's dims without the leading ``time``)."""
    return {
        name: {"dims": VARIABLES[name]["dims"][1:], **attrs}
        for name, attrs in attrs_for(*names).items()
    }
