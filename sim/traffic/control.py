"""Signal control modes: fixed-time plans, phases a controller selects, actuated phases.

Every signalized node runs in one of three modes (``signal_mode`` in the state):

* ``fixed_time`` (0): its plan (:mod:`sim.traffic.signals`), driven by the clock;
* ``phase_select`` (1): a controller names the phase it wants green
  (``signal_command``); the node keeps the current green until the named phase
  differs and the minimum green has passed, then shows amber and all-red of the
  ending phase and gives green to the phase named at the end of the all-red;
* ``actuated`` (2): the model's own reference controller, as the ``actuated`` type of
  SUMO and the HCM's fully actuated phase: phases in order, each held for its minimum
  green, extended while vehicles keep crossing the node's detectors at gaps no longer
  than the passage time (gap-out) and ended at the maximum green (max-out).

The two adaptive modes share one state machine over (signal,) arrays: the phase shown
(``signal_phase``), its interval (``signal_interval``: 0 green, 1 amber, 2 all-red), the
time in that interval and since the phase's green began. :func:`advance` moves it
through one sub-step exactly: a sub-step is cut into pieces at every interval end, so
ambers, all-reds and minimum greens last what they are set to whatever the sub-step;
the number of pieces is fixed on the host from the shortest minimum green (every
phase change takes at least that long), so there is no data-dependent loop and no
host synchronisation. Discharge follows the effective-green convention of the plans:
an approach discharges from ``max(lost - amber - all_red, 0)`` after its green begins
until ``max(amber + all_red - lost, 0)`` into the clearance, so that a phase of the
same green, amber and all-red discharges exactly as long as under a fixed-time plan.

Actuated detection. The node's detectors count the vehicles discharged from each
approach (stop-line detectors, as SUMO places them for its actuated type). Within a
sub-step vehicles cross at a constant rate, so the cumulative count is piecewise
linear and the time since the last whole vehicle crossed is known exactly
(:func:`measure`, Newell's cumulative curves); the phase gaps out when it exceeds the
passage time. The green end is set at the start of each sub-step from the gap so far
and the last sub-step's rate (the controller sees detections with a one-sub-step lag).

References
----------
Transportation Research Board (2010). Highway Capacity Manual 2010, ch. 31 (actuated
control: minimum green, passage time, maximum green, gap-out and max-out).
Krajzewicz, D., Erdmann, J., Behrisch, M., Bieker, L. (2012). Recent development and
applications of SUMO. Int. J. on Advances in Systems and Measurements 5(3-4), 128-138
(``actuated`` traffic lights: ``minDur``, ``maxDur``, ``max-gap``).
Newell, G. F. (1993). A simplified theory of kinematic waves in highway traffic, part I.
Transportation Research Part B 27(4), 281-287.
"""

from __future__ import annotations

import math

import gpu
from sim.traffic import signals

MODES = ("fixed_time", "phase_select", "actuated")
FIXED_TIME, PHASE_SELECT, ACTUATED = range(3)
GREEN, AMBER, ALL_RED = range(3)
INTERVALS = ("green", "amber", "all_red")
_EPS_S = 1e-9  # an interval ending within this of a sub-step's end ends with it
_TINY = 1e-300

# controller state: (signal,) unless said; ``signal_command`` -1 holds the current phase
STATE_DOCS = {
    "signal_mode": ("int64", "1", "control mode: 0 fixed_time, 1 phase_select, 2 actuated"),
    "signal_phase": ("int64", "1", "phase shown (green or clearing), adaptive modes"),
    "signal_interval": ("int64", "1", "interval shown: 0 green, 1 amber, 2 all-red"),
    "signal_interval_s": ("float64", "s", "time in the interval shown"),
    "signal_phase_time_s": ("float64", "s", "time since the shown phase's green began"),
    "signal_command": ("int64", "1", "phase a controller asks for (-1: none)"),
    "signal_passage_s": ("float64", "s", "actuated passage time (maximum gap)"),
    "signal_gap_s": ("float64", "s", "time since a vehicle last crossed the detectors"),
    "signal_carry": ("float64", "1", "fraction of a vehicle counted since the last one"),
    "signal_rate": ("float64", "s-1", "detector rate of the green phase, last sub-step"),
}
TIMING_KEYS = ("signal_min_green_s", "signal_max_green_s")  # (signal, phase)


def pieces(h_s: float, min_green_s: float) -> int:
    """Pieces a sub-step of ``h_s`` can hold: an ending green, amber and all-red, then
    three more per minimum green that fits, and the last piece."""
    return 3 * math.floor(h_s / min_green_s * (1 + 1e-12)) + 4


def _take(xp, values, phase):
    """(signal,) entry of (signal, phase) ``values`` at each signal's ``phase``."""
    return xp.take_along_axis(values, phase[:, None], axis=1)[:, 0]


def timing_table(xp, st: dict, lost_s: float):
    """(5, signal, 3 * phase) per (phase, interval) of every signal: the interval's
    length (amber, all-red; the green's is decided as it runs), the start and end of
    its discharge window in interval time [s], and the phase's minimum and maximum
    green [s]. Built once per step: the plan does not change within one."""
    amber, all_red = st["signal_amber_s"], st["signal_all_red_s"]
    lo = st["signal_min_green_s"]
    hi = xp.maximum(st["signal_max_green_s"], lo)
    clear = xp.maximum(amber + all_red - lost_s, 0.0)
    zero = xp.zeros_like(amber)

    def per_interval(green, amb, red):
        return xp.stack([green, amb, red], axis=2).reshape(amber.shape[0], -1)

    return xp.stack(
        [
            per_interval(zero, amber, all_red),
            per_interval(xp.maximum(lost_s - amber - all_red, 0.0), zero, zero),
            per_interval(zero + xp.inf, xp.minimum(clear, amber), xp.maximum(clear - amber, 0.0)),
            per_interval(lo, lo, lo),
            per_interval(hi, hi, hi),
        ]
    )


def advance(xp, st: dict, table, n_phases, h_s: float, k: int):
    """Move the adaptive controllers through a sub-step of ``h_s`` seconds, in place.

    Parameters
    ----------
    xp : array namespace.
    st : the model state (controller entries updated in place).
    table : :func:`timing_table` of the step.
    n_phases : (signal,) phases of each node.
    h_s : [s] sub-step.
    k : pieces to resolve (:func:`pieces`).

    Returns
    -------
    (signal, phase) [s] discharge time of each phase in the sub-step (meaningful for
    the nodes in an adaptive mode).
    """
    mode, phase = st["signal_mode"], st["signal_phase"]
    interval, e = st["signal_interval"], st["signal_interval_s"]
    select, actuated = mode == PHASE_SELECT, mode == ACTUATED
    adaptive = select | actuated
    command = st["signal_command"]
    passage = st["signal_passage_s"]
    inf = xp.inf
    # green end of an actuated phase in interval time, from the gap so far and the last
    # rate: a vehicle expected before the gap runs out extends the green, for good if
    # vehicles keep coming at gaps within the passage time
    rate = st["signal_rate"]
    go = xp.maximum(passage - st["signal_gap_s"], 0.0)
    headway = 1.0 / xp.maximum(rate, _TINY)
    next_vehicle = xp.where(rate > 0, (1.0 - st["signal_carry"]) * headway, inf)
    extended = xp.where(headway > passage, next_vehicle + passage, inf)
    gap_end = e + xp.where(next_vehicle < go, extended, go)
    n_signals, width = st["signal_min_green_s"].shape
    rows = xp.arange(n_signals)
    p_index = xp.arange(width)[None, :]
    opened = xp.zeros((n_signals, width))
    used = xp.zeros_like(e)
    started = xp.zeros_like(select)
    since_green = st["signal_phase_time_s"]
    for _ in range(k):
        values = table[:, rows, phase * 3 + interval]
        min_g, max_g = values[3], values[4]
        hold = xp.maximum(min_g, e)  # green ends no earlier than the minimum green
        green_len = xp.where(
            select,
            xp.where((command >= 0) & (command != phase), hold, inf),
            xp.where(actuated, xp.minimum(xp.maximum(min_g, gap_end), max_g), inf),
        )
        left = h_s - used
        dur = xp.maximum(xp.where(interval == GREEN, green_len, values[0]) - e, 0.0)
        take = xp.minimum(left, dur)
        # discharge in the piece: [e, e + take) within the interval's window
        window = xp.maximum(xp.minimum(e + take, values[2]) - xp.maximum(e, values[1]), 0.0)
        opened = opened + window[:, None] * (p_index == phase[:, None])
        used = used + take
        done = (dur <= left + _EPS_S) & adaptive
        to_green = done & (interval == ALL_RED)
        # a controller's phase, or the next one (actuated; phase_select without a command
        # yet, when a node joins that mode in a clearance)
        following = xp.where(select & (command >= 0), command, (phase + 1) % n_phases)
        phase = xp.where(to_green, following, phase)
        interval = xp.where(done, (interval + 1) % 3, interval)
        e = xp.where(done, 0.0, e + take)
        since_green = xp.where(to_green, 0.0, since_green + take)
        gap_end = xp.where(to_green, passage, gap_end)
        started = started | to_green
    for key in ("signal_gap_s", "signal_carry", "signal_rate"):
        st[key] = xp.where(started, 0.0, st[key])
    st["signal_phase"], st["signal_interval"], st["signal_interval_s"] = phase, interval, e
    st["signal_phase_time_s"] = since_green
    return opened


def measure(xp, st: dict, crossed, entry_flat, h_s: float) -> None:
    """Update the actuated gap timers after a sub-step, in place.

    Parameters
    ----------
    crossed : (entry,) vehicles that crossed the detector of the approach of each
        (approach, phase) entry during the sub-step.
    entry_flat : (entry,) ``signal * n_phase + phase`` of each entry.
    h_s : [s] sub-step.
    """
    n_signals, width = st["signal_min_green_s"].shape
    per_phase = gpu.bincount(entry_flat, crossed, n_signals * width).reshape(n_signals, width)
    green = (st["signal_mode"] == ACTUATED) & (st["signal_interval"] == GREEN)
    m = _take(xp, per_phase, st["signal_phase"])
    span = xp.minimum(st["signal_phase_time_s"], h_s)  # green part of the sub-step
    rate = m / xp.maximum(span, _TINY)
    total = st["signal_carry"] + m
    whole = xp.floor(total)
    frac = total - whole
    gap = xp.where(whole >= 1.0, frac / xp.maximum(rate, _TINY), st["signal_gap_s"] + span)
    st["signal_gap_s"] = xp.where(green, gap, st["signal_gap_s"])
    st["signal_carry"] = xp.where(green, frac, st["signal_carry"])
    st["signal_rate"] = xp.where(green, rate, st["signal_rate"])


def fixed_display(xp, plan, clock_s: float):
    """What fixed-time plans show at ``clock_s``: (signal,) phase, interval, time in the
    interval [s] and time since the phase's green began [s]."""
    phase_s = signals.phase_lengths(plan, xp)
    cycle = phase_s.sum(axis=1)
    start = signals.phase_starts(phase_s, xp)
    u = _cycle_time(clock_s, plan["signal_offset_s"], cycle)[:, None]
    phase = xp.argmax(_inside(u, start, phase_s).astype(xp.int8), axis=1)
    t = _take(xp, u - start, phase)
    green = _take(xp, plan["signal_green_s"], phase)
    amber = _take(xp, plan["signal_amber_s"], phase)
    interval, in_interval = _interval(t, green, amber)
    return phase, interval, in_interval, t


@gpu.fuse
def _cycle_time(xp, clock_s, offset_s, cycle):
    return xp.remainder(clock_s - offset_s, cycle)


@gpu.fuse
def _inside(xp, u, start, phase_s):
    """Where ``u`` lies in the phase."""
    return (u >= start) & (u < start + phase_s)


@gpu.fuse
def _interval(xp, t, green, amber):
    """The interval shown ``t`` [s] into a phase, and the time into it [s]."""
    interval = xp.where(t < green, GREEN, xp.where(t < green + amber, AMBER, ALL_RED))
    in_interval = t - xp.where(
        interval == GREEN, 0.0, green + xp.where(interval == ALL_RED, amber, 0.0)
    )
    return interval, in_interval
