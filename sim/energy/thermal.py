"""Building heating and cooling demand with a lumped resistance-capacitance (1R1C) model.

Each building is one thermal zone: a heat capacity ``C`` (ISO 13790 effective internal
capacity) coupled to the outdoor air through one conductance ``UA`` (transmission through
walls, windows, roof and ground floor plus ventilation, as ISO 13790 H_tr + H_ve). Internal
and solar gains act on the zone; an ideal HVAC of finite size (``HVAC_DESIGN_DELTA_K``)
keeps the zone between a heating and a cooling setpoint. Over a step with constant inputs
the ODE

    C dT/dt = UA (T_out - T) + Q_gains + Q_hvac

is integrated exactly, so the result does not depend on the step length.

References
----------
ISO 13790:2008, Energy performance of buildings - Calculation of energy use for space
heating and cooling (H_tr, H_ve, effective capacity classes, Table 12; ideal HVAC).
Kramer, R., van Schijndel, J. and Schellen, H. (2012). Simplified thermal and hygric
building models: a literature review. Frontiers of Architectural Research 1(4), 318-325.
doi:10.1016/j.foar.2012.09.001
Deru, M. et al. (2011). U.S. Department of Energy commercial reference building models of
the national building stock. NREL/TP-5500-46861 (shape of the use schedules).
"""

from __future__ import annotations

import math

import numpy as np

import gpu

USES = ("residential", "commercial", "industrial", "public")  # meaning of `use` 0..3

# Representative stock values per use (residential, commercial, industrial, public). These
# are assumptions for a mixed-age Korean stock, between the 2001 and 2018 limits of the
# Korean energy-saving design standard; scenarios may rescale UA via `ua_scale`.
U_WALL = (0.55, 0.60, 0.80, 0.55)  # W m-2 K-1
U_ROOF = (0.40, 0.40, 0.60, 0.40)  # W m-2 K-1
U_FLOOR = (0.50, 0.50, 0.60, 0.50)  # W m-2 K-1, before the ground reduction below
U_WINDOW = (2.4, 2.4, 3.0, 2.4)  # W m-2 K-1
WINDOW_TO_WALL = (0.25, 0.45, 0.15, 0.35)  # 1
AIR_CHANGES = (0.6, 1.0, 1.0, 0.8)  # h-1, infiltration plus mechanical ventilation
FLOOR_PER_PERSON = (35.0, 15.0, 40.0, 20.0)  # m2 per occupant at full occupancy
APPLIANCE_DENSITY = (6.0, 18.0, 25.0, 12.0)  # W m-2 plug, lighting and process at full use
APPLIANCE_BASE = (0.35, 0.25, 0.35, 0.20)  # 1, share of appliance load always on
HVAC_HOURS = ((0, 24), (8, 22), (7, 19), (8, 19))  # local hours [start, end) at setpoint
GROUND_FACTOR = 0.5  # ISO 13790 b-factor for a floor on the ground (ISO 13370 simplified)
HEAT_CAPACITY = 165e3  # J m-2 K-1 of floor area, ISO 13790 Table 12 "medium"
SENSIBLE_PER_PERSON = 70.0  # W, sedentary occupant (ISO 7730 metabolic tables)
SOLAR_APERTURE = 0.34  # 1, g 0.6 x (1 - frame 0.2) x external shading 0.7 for facades
AIR_HEAT_CAPACITY = 1200.0  # J m-3 K-1, rho c_p of air
# HVAC plant size as UA times a design temperature difference [K]: 20 degC indoors against
# Gwangju's about -10 degC heating design day, plus ~15 % margin; cooling is sized alike.
HVAC_DESIGN_DELTA_K = 35.0

# Hourly occupancy fraction (local hours 0..23) per use, after the DOE reference schedules.
# fmt: off
OCCUPANCY = (
    (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.7, 0.4, 0.3, 0.3, 0.3,
     0.3, 0.3, 0.3, 0.3, 0.4, 0.6, 0.8, 0.9, 0.9, 1.0, 1.0, 1.0),
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.2, 0.6, 0.9, 0.9, 0.9,
     0.8, 0.9, 0.9, 0.9, 0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.05, 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.6, 0.9, 0.9, 0.9, 0.9,
     0.5, 0.9, 0.9, 0.9, 0.9, 0.6, 0.2, 0.1, 0.05, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 0.7, 0.9, 0.9, 0.9,
     0.6, 0.9, 0.9, 0.9, 0.8, 0.5, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0),
)
# fmt: on


def envelope(width_m, depth_m, height_m, floor_area_m2, use, *, ua_scale=1.0):
    """Envelope conductance, heat capacity and window areas of box-shaped buildings.

    Parameters
    ----------
    width_m, depth_m, height_m : arrays [m], footprint sides (along x and y) and height.
    floor_area_m2 : array [m2], gross floor area (sets capacity and gains).
    use : int array, 0 residential, 1 commercial, 2 industrial, 3 public.
    ua_scale : float [1], multiplies the conductance (retrofit scenarios).

    Returns
    -------
    dict of arrays: ``ua`` [W K-1] (transmission + ventilation), ``capacity`` [J K-1],
    ``window_ns`` and ``window_ew`` [m2] (glazing on the north+south and east+west facades).
    """
    xp = gpu.array_namespace(width_m, depth_m, height_m, floor_area_m2, use)

    def per_use(table):
        return xp.asarray(table, dtype=xp.float64)[use]

    footprint = width_m * depth_m
    wall_ns, wall_ew = 2.0 * width_m * height_m, 2.0 * depth_m * height_m
    wwr = per_use(WINDOW_TO_WALL)
    walls = wall_ns + wall_ew
    h_tr = (
        per_use(U_WALL) * walls * (1.0 - wwr)
        + per_use(U_WINDOW) * walls * wwr
        + per_use(U_ROOF) * footprint
        + GROUND_FACTOR * per_use(U_FLOOR) * footprint
    )
    h_ve = AIR_HEAT_CAPACITY * per_use(AIR_CHANGES) / 3600.0 * footprint * height_m
    return {
        "ua": ua_scale * (h_tr + h_ve),
        "capacity": HEAT_CAPACITY * floor_area_m2,
        "window_ns": wwr * wall_ns,
        "window_ew": wwr * wall_ew,
    }


def hourly_use_table(heating_setpoint_c, cooling_setpoint_c, heating_setback_c, cooling_setback_c):
    """Per-use schedules by local hour, shape (24, 4 quantities, 4 uses), on the host.

    Quantities: internal gains [W m-2] (appliances, lighting and occupants' sensible heat),
    appliance electricity [W m-2], heating setpoint [degC], cooling setpoint [degC]. All
    appliance electricity ends up as heat in the zone. Setpoints apply during the use's
    ``HVAC_HOURS``, setbacks otherwise.
    """
    occupancy = np.asarray(OCCUPANCY, dtype=np.float64).T  # (hour, use)
    base = np.asarray(APPLIANCE_BASE)
    appliances = np.asarray(APPLIANCE_DENSITY) * (base + (1.0 - base) * occupancy)
    people = SENSIBLE_PER_PERSON * occupancy / np.asarray(FLOOR_PER_PERSON)
    hours = np.arange(24)
    on = np.stack([(hours >= a) & (hours < b) for a, b in HVAC_HOURS], axis=1)
    heat = np.where(on, heating_setpoint_c, heating_setback_c)
    cool = np.where(on, cooling_setpoint_c, cooling_setback_c)
    return np.stack([appliances + people, appliances, heat, cool], axis=1)


def step_coefficients(ua, capacity, dt_s):
    """Per-building constants of a step of ``dt_s`` [s] for :func:`step_temperature`.

    With ``a = exp(-dt / RC)`` and ``RC = capacity / ua`` the zone time constant [s]:
    ``relax`` = 1 - a (computed with ``-expm1``, accurate for steps much shorter than RC),
    ``inv_ua`` = 1 / UA [K W-1], ``hold`` = UA / (1 - a) [W K-1] (power per kelvin of
    change of the end-of-step temperature) and ``shift`` = (1 - a) / UA [K W-1] (its
    inverse). They depend only on ``dt_s``, so a model with a fixed step computes them once.
    """
    xp = gpu.array_namespace(ua, capacity)
    relax = -xp.expm1(-dt_s * ua / capacity)
    return {"relax": relax, "inv_ua": 1.0 / ua, "hold": ua / relax, "shift": relax / ua}


def step_temperature(
    t_in,
    t_out,
    gains_w,
    ua,
    coefficients,
    heat_setpoint,
    cool_setpoint,
    heat_capacity_w=math.inf,
    cool_capacity_w=math.inf,
):
    """Advance the zone temperature by one step with an ideal, size-limited HVAC.

    Exact for inputs constant over the step: the zone relaxes towards
    ``T_eq = T_out + (gains + hvac) / UA`` by the factor ``exp(-dt/RC)``.

    Parameters
    ----------
    t_in : array [degC], zone temperature at the start of the step.
    t_out : float or array [degC], outdoor air temperature over the step.
    gains_w : array [W], internal plus solar gains over the step.
    ua : array [W K-1], envelope conductance.
    coefficients : dict from :func:`step_coefficients` for this step length.
    heat_setpoint, cool_setpoint : float or array [degC], heat_setpoint <= cool_setpoint.
    heat_capacity_w, cool_capacity_w : float or array [W], HVAC size (default unlimited).

    Returns
    -------
    t_new : array [degC], temperature at the end of the step.
    hvac_w : array [W], constant HVAC power over the step: positive heating, negative
        cooling, zero when the free-floating temperature stays within the setpoints. It is
        the power that lands the zone exactly on the violated setpoint at the end of the
        step (or the capacity, if smaller), so in steady conditions
        ``hvac_w = UA (T_set - T_out) - gains``.

    Notes
    -----
    Written as corrections to ``t_in`` (``T_eq - T_in`` times ``1 - a``) rather than as
    ``a T_in + (1 - a) T_eq``, so that short steps do not cancel large terms.
    """
    xp = gpu.array_namespace(t_in, gains_w, ua)
    gap = (ua * t_out + gains_w) * coefficients["inv_ua"] - t_in  # T_eq - T_in [K]
    t_free = t_in + gap * coefficients["relax"]
    target = xp.clip(t_free, heat_setpoint, cool_setpoint)
    needed = coefficients["hold"] * (target - t_in) - ua * gap
    hvac = xp.where(target != t_free, xp.clip(needed, -cool_capacity_w, heat_capacity_w), 0.0)
    return t_free + hvac * coefficients["shift"], hvac
