"""Electric-vehicle charging demand per district from vehicle arrivals.

Vehicles that arrive and plug in add their session energy to a district backlog. The
plugged-in fleet is the backlog divided by the mean session energy; each plugged vehicle
draws the charger power until its session is done, so in aggregate the backlog drains at
rate ``charger_power / session_energy`` (a first-order queue), bounded by the number of
chargers. Energy is conserved (to round-off): delivered + backlog = arrived.

With departure deadlines (:func:`charge_by_deadline`, ``ev_deadlines``), sessions are
grouped by their local departure hour (:data:`DEPARTURE_HOUR`); each plugged vehicle
draws the charger power until done, a district's charging limit is handed out earliest
departure first, and the vehicles leaving take the energy still owed with them
(unserved): delivered + owed + unserved = arrived.

References
----------
Quiros-Tortos, J., Ochoa, L. F. and Butler, T. (2018). How electric vehicles and the grid
work together: lessons learned from one of the largest electric vehicle trials in the
world. IEEE Power and Energy Magazine 16(6), 64-76. doi:10.1109/MPE.2018.2863060 (home
arrival and plug-in times, evening peak).
"""

from __future__ import annotations

import math

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


# ------------------------------------------------------------ sessions with departure times

# Local hour at which a session that starts in each local hour (0..23) ends: daytime
# (workplace, shopping) sessions starting 06-14 h leave at 18 h, evening and night (home)
# sessions starting 15-05 h leave at 08 h the next morning. Home sessions plugged in the
# evening and unplugged in the morning, and workplace sessions of a working day, are the
# two patterns of the trial data (Quiros-Tortos et al. 2018); every dwell is >= 3 h, so a
# default 15 kWh session at 7 kW (2.1 h) completes uncontrolled when a charger is free.
DEPARTURE_HOUR = np.array([18 if 6 <= h <= 14 else 8 for h in range(24)], dtype=np.int64)
SLOTS = 24  # sessions are grouped by their local departure hour


# DEPARTURE_ORDER[h]: departure slots from the next departure on (earliest deadline
# first) during local hour h; the slot of hour h itself, which left at its start, is last.
DEPARTURE_ORDER = (np.arange(SLOTS)[:, None] + 1 + np.arange(SLOTS)[None, :]) % SLOTS


def departing(local_hour: float, dt_s: float) -> int | None:
    """The departure slot whose hour falls within the step ``(t, t + dt]`` [local h], if
    any (steps are at most an hour, so one at most)."""
    if dt_s > 3600.0:
        raise ValueError(f"EV departures need steps of at most an hour, got {dt_s:g} s")
    start, end = math.floor(local_hour), math.floor(local_hour + dt_s / 3600.0)
    return int(end) % SLOTS if end > start else None


def charge_by_deadline(
    owed_kwh, plugged, sessions, local_hour, session_energy_kwh, charger_power_kw, chargers,
    dt_s, limit_kw, order,
):  # fmt: skip
    """Charge sessions grouped by departure hour for one step; vehicles leave at their hour.

    Every plugged vehicle draws ``charger_power_kw`` until its session is done (all the
    plugged vehicles share the district's chargers when they are more), which is the
    uncontrolled charging. A limit (``limit_kw``) on the district's power hands it out
    earliest departure first, each group at most its uncontrolled power. Vehicles
    leaving at the end of the step take their energy still owed with them (unserved).
    Energy is conserved: arrived = delivered + owed + unserved.

    Parameters
    ----------
    owed_kwh : array (district, slot) [kWh], energy owed per departure hour (local).
    plugged : array (district, slot) [1], vehicles plugged in per departure hour.
    sessions : array (district,) [1], vehicles plugging in during the step.
    local_hour : float [h], local clock time at the start of the step (a host number).
    session_energy_kwh, charger_power_kw : float [kWh], [kW], per session and charger.
    chargers : array (district,) [1].
    dt_s : float [s], step length (at most an hour).
    limit_kw : array (district,) [kW], cap on each district's charging power (``inf``: none).
    order : array (slot,) of int, ``DEPARTURE_ORDER`` of the local hour, on the backend
        (uploaded once by the caller).

    Returns
    -------
    owed_kwh, plugged : the new arrays.
    power_kw : array (district,) [kW], mean charging power over the step.
    unserved_kwh : array (district,) [kWh], energy owed to the vehicles that left.
    """
    xp = gpu.array_namespace(owed_kwh, plugged, sessions, chargers)
    dt_h = dt_s / 3600.0
    slot = int(DEPARTURE_HOUR[int(local_hour) % SLOTS])
    arriving = xp.zeros_like(owed_kwh)
    arriving[:, slot] = sessions
    owed = owed_kwh + arriving * session_energy_kwh
    plugged = plugged + arriving
    total = plugged.sum(axis=1)
    share = xp.minimum(1.0, chargers / xp.maximum(total, 1e-300))  # 0 chargers: 0 power
    uncontrolled = xp.minimum(owed, plugged * (share * (charger_power_kw * dt_h))[:, None])
    first = uncontrolled[:, order]
    before = xp.cumsum(first, axis=1) - first  # energy of the earlier departures
    allowed = xp.minimum(uncontrolled.sum(axis=1), limit_kw * dt_h)
    delivered = xp.empty_like(owed)
    delivered[:, order] = xp.clip(allowed[:, None] - before, 0.0, first)
    owed = owed - delivered
    unserved = xp.zeros(owed.shape[0], dtype=xp.float64)
    gone = departing(local_hour, dt_s)
    if gone is not None:
        unserved = owed[:, gone].copy()
        owed[:, gone] = 0.0
        plugged[:, gone] = 0.0
    return owed, plugged, delivered.sum(axis=1) / dt_h, unserved
