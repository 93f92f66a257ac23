"""Electric-vehicle charging demand per district from vehicle arrivals.

Vehicles that arrive and plug in add their session energy to a district backlog. The
plugged-in fleet is the backlog divided by the mean session energy; each plugged vehicle
draws the charger power until its session is done, so in aggregate the backlog drains at
rate ``charger_power / session_energy`` (a first-order queue), bounded by the number of
chargers. Energy is conserved (to round-off): delivered + backlog = arrived.

References
----------
Quiros-Tortos, J., Ochoa, L. F. and Butler, T. (2018). How electric vehicles and the grid
work together: lessons learned from one of the largest electric vehicle trials in the
world. IEEE Power and Energy Magazine 16(6), 64-76. doi:10.1109/MPE.2018.2863060 (home
arrival and plug-in times, evening peak).
"""

from __future__ import annotations

import numpy as np

import gpu

# Share of a day's charging sessions that start in each local hour (0..23): an evening
# home-arrival peak at 18-20 h and a smaller workplace peak at 8-9 h, after the arrival
# distributions reported for home and work charging (Quiros-Tortos et al. 2018).
# fmt: off
ARRIVAL_PROFILE = np.array([
    0.5, 0.3, 0.2, 0.2, 0.2, 0.4, 1.0, 2.5, 5.0, 4.5, 3.0, 2.5,
    3.0, 3.0, 3.0, 3.5, 4.5, 6.5, 9.5, 11.0, 10.0, 8.0, 5.5, 2.7,
])
# fmt: on
ARRIVAL_PROFILE = ARRIVAL_PROFILE / ARRIVAL_PROFILE.sum()


def profile_sessions(fleet, sessions_per_vehicle_day, local_hour, dt_s):
    """Charging sessions starting in each district during a step from the daily profile.

    Parameters
    ----------
    fleet : array (district,) [1], electric vehicles registered in each district.
    sessions_per_vehicle_day : float [d-1], mean plug-ins per vehicle and day.
    local_hour : float [h], local clock time at the start of the step.
    dt_s : float [s], step length (shorter than one hour keeps the profile resolution).
    """
    share = float(ARRIVAL_PROFILE[int(local_hour) % 24]) * dt_s / 3600.0
    return fleet * (sessions_per_vehicle_day * share)


def charge(
    backlog_kwh, sessions, session_energy_kwh, charger_power_kw, chargers, dt_s, limit_kw=None
):
    """Charge for one step; returns ``(backlog_kwh, power_kw)`` per district.

    Parameters
    ----------
    backlog_kwh : array (district,) [kWh], energy still owed to plugged-in vehicles.
    sessions : array (district,) [1], vehicles plugging in during the step.
    session_energy_kwh : float [kWh], mean energy per session.
    charger_power_kw : float [kW], power of one charger.
    chargers : array (district,) [1], chargers available in each district.
    dt_s : float [s], step length.
    limit_kw : array (district,) [kW] or None, a cap on each district's charging power
        (a controller's limit; ``inf`` where there is none). Energy held back stays owed.

    Returns
    -------
    backlog_kwh : array [kWh], owed energy at the end of the step.
    power_kw : array [kW], mean charging power over the step.
    """
    xp = gpu.array_namespace(backlog_kwh, sessions, chargers)
    dt_h = dt_s / 3600.0
    owed = backlog_kwh + sessions * session_energy_kwh
    drained = -owed * xp.expm1(-charger_power_kw / session_energy_kwh * dt_h)
    delivered = xp.minimum(drained, chargers * charger_power_kw * dt_h)
    if limit_kw is not None:
        delivered = xp.minimum(delivered, limit_kw * dt_h)
    return owed - delivered, delivered / dt_h
