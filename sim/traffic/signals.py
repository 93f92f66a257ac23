"""Fixed-time traffic signals: two-phase plans, approach phases and green fractions.

Each signalized node runs a two-phase plan: phase 0 serves the approaches that point
mostly north-south, phase 1 those that point mostly east-west. A phase has a green,
an amber and an all-red interval; the cycle is the sum over both phases and the
offset shifts the whole cycle. Following the effective-green convention of the
Highway Capacity Manual, an approach discharges at saturation flow during the first
``green + amber + all_red - lost_time`` seconds of its phase and not at all
otherwise. The loading step asks for the fraction of each sub-step an approach may
discharge, which makes the discharge over a cycle exact whatever the sub-step.

Plans live in the model state as arrays over signalized nodes (``signal_green_s``,
``signal_amber_s``, ``signal_all_red_s`` of shape (signal, 2), ``signal_offset_s`` of
shape (signal,)), so services can change them between steps.

References
----------
Webster, F. V. (1958). Traffic signal settings. Road Research Technical Paper 39,
HMSO, London.
Transportation Research Board (2010). Highway Capacity Manual 2010, ch. 18
(effective green and lost time).
"""

from __future__ import annotations

import numpy as np

from sim.traffic.network import Network

PHASES = 2
PLAN_KEYS = ("signal_green_s", "signal_amber_s", "signal_all_red_s", "signal_offset_s")


def approach_phase(network: Network) -> np.ndarray:
    """Phase serving each link at its downstream node: 0 north-south, 1 east-west."""
    dx = network.node_x[network.to_node] - network.node_x[network.from_node]
    dy = network.node_y[network.to_node] - network.node_y[network.from_node]
    return np.where(np.abs(dy) >= np.abs(dx), 0, 1).astype(np.int64)


def plan_arrays(n_signals: int, green_s, amber_s, all_red_s, offset_s) -> dict[str, np.ndarray]:
    """Validated plan arrays broadcast to ``n_signals`` nodes (host NumPy, float64)."""
    plan = {}
    for key, value, shape in (
        ("signal_green_s", green_s, (n_signals, PHASES)),
        ("signal_amber_s", amber_s, (n_signals, PHASES)),
        ("signal_all_red_s", all_red_s, (n_signals, PHASES)),
        ("signal_offset_s", offset_s, (n_signals,)),
    ):
        a = np.asarray(value, dtype=np.float64)
        try:
            a = np.broadcast_to(a, shape).copy()
        except ValueError:
            raise ValueError(
                f"{key.removeprefix('signal_')}: shape {a.shape} does not broadcast to {shape} "
                "(per signal node, and per phase where there are two)"
            ) from None
        if not np.all(np.isfinite(a)) or (key != "signal_offset_s" and np.any(a < 0)):
            raise ValueError(f"{key.removeprefix('signal_')}: must be finite and >= 0 [s]")
        plan[key] = a
    cycle = (plan["signal_green_s"] + plan["signal_amber_s"] + plan["signal_all_red_s"]).sum(1)
    if np.any(cycle <= 0):
        bad = np.flatnonzero(cycle <= 0)[0]
        raise ValueError(f"signal plan: signal {bad} has a cycle of {cycle[bad]} s; must be > 0")
    return plan


def effective_green(plan, lost_time_s: float, xp=np):
    """(signal, 2) [s] discharge time of each phase per cycle, and (signal,) cycle [s]."""
    phase_s = plan["signal_green_s"] + plan["signal_amber_s"] + plan["signal_all_red_s"]
    return xp.maximum(phase_s - lost_time_s, 0.0), phase_s.sum(axis=1)


def green_fraction(xp, plan, row, phase, lost_time_s: float, t0_s, h_s: float):
    """Fraction of each interval ``[t0_s, t0_s + h_s)`` during which each approach may
    discharge.

    Parameters
    ----------
    xp : array namespace of the plan arrays.
    plan : mapping with the four ``signal_*`` arrays.
    row : (approach,) int, the signal (row of the plan) of each approach.
    phase : (approach,) int, 0 or 1.
    lost_time_s : [s] lost time per phase.
    t0_s : (interval,) [s] interval starts on the model clock (host array).
    h_s : [s] interval length.

    Returns
    -------
    (interval, approach) in [0, 1].
    """
    green, cycle = effective_green(plan, lost_time_s, xp)
    phase_s = plan["signal_green_s"] + plan["signal_amber_s"] + plan["signal_all_red_s"]
    # phase 1 starts when phase 0 (green, amber, all-red) has ended
    start = plan["signal_offset_s"][row] + phase_s[row, 0] * phase
    open_s = green[row, phase]
    c = cycle[row]

    def open_time(t):
        # seconds of discharge window in [start, t), periodic with the cycle
        u = xp.asarray(t)[:, None] - start
        return xp.floor(u / c) * open_s + xp.minimum(u - xp.floor(u / c) * c, open_s)

    return (open_time(t0_s + h_s) - open_time(t0_s)) / h_s


def signal_delay(plan, lost_time_s: float, xp=np):
    """(signal, 2) [s] mean delay of random arrivals at each phase, at low flow.

    Webster's (1958) uniform-delay term ``C (1 - g/C)^2 / 2`` with flow ratio 0: the
    wait a vehicle expects at a fixed-time signal before any queue forms.
    """
    green, cycle = effective_green(plan, lost_time_s, xp)
    return 0.5 * cycle[:, None] * (1.0 - green / cycle[:, None]) ** 2
