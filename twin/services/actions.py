"""What a service may do to the city: typed actions, checked, applied between steps.

Each action is a frozen dataclass. :func:`apply` checks it against the running city
and applies it to the model it commands, or raises :class:`Rejected` with a message
naming the action and the allowed values; the service hook records the rejection and
the city keeps the last valid command. :func:`release` hands a target back to its
baseline behaviour (fixed-time plans, no charging limit, no setpoint offset, the air
taxis' routes of the run's start), for a service that stopped.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import gpu
from sim.traffic import control
from twin.coupling import Coupler


class Rejected(ValueError):
    """An action the city cannot take; the message says why and what is allowed."""


@dataclass(frozen=True)
class SignalPhase:
    """Show ``phase`` (an index into the node's phases) at signalized ``node`` next; the
    traffic model inserts amber and all-red and keeps the minimum green."""

    node: int
    phase: int


@dataclass(frozen=True)
class SignalPlan:
    """Run a fixed-time plan at signalized ``node``: green per phase [s] and offset [s]."""

    node: int
    green_s: tuple[float, ...]
    offset_s: float = 0.0


@dataclass(frozen=True)
class ChargingLimit:
    """Cap the EV charging power of a district (index or name) at ``kw`` [kW]; ``inf``
    lifts the cap."""

    target: int | str
    kw: float


@dataclass(frozen=True)
class SetpointOffset:
    """Move both HVAC setpoints of a building (index) or of every building of a district
    (name) by ``delta_degC`` [K], within the comfort bounds."""

    target: int | str
    delta_degC: float


@dataclass(frozen=True)
class Alert:
    """Warn the people of ``area`` (a district name, or ``"city"``) at ``level`` for the
    next hour (``twin.kpi.ALERT_HOURS``); reissue it to keep the alert on."""

    area: str
    level: str
    message: str = ""


@dataclass(frozen=True)
class UamRoutes:
    """Fly air taxis between ``target`` vertiport pairs (``"all"``) on routes of noise
    weight ``noise_weight`` and climb weight ``climb_weight`` (:mod:`sim.uam.routing`),
    within ``length_budget`` (a fraction) of their length at the start; flights already
    boarded keep their routes."""

    target: str
    noise_weight: float
    length_budget: float
    climb_weight: float = 0.0


ACTIONS = (SignalPhase, SignalPlan, ChargingLimit, SetpointOffset, Alert, UamRoutes)
ALERT_LEVELS = ("watch", "warning", "emergency")


def describe(action: Any) -> dict[str, str]:
    """``kind``, ``target`` and ``value`` of an action as text, for the run store."""
    fields = asdict(action)
    key = next(iter(fields))  # node, target or area
    target = fields.pop(key)
    return {"kind": type(action).__name__, "target": str(target), "value": json.dumps(fields)}


def apply(coupler: Coupler, action: Any) -> None:
    """Check ``action`` against the running city and apply it; :class:`Rejected` if it
    is invalid (the city is unchanged then)."""
    if not isinstance(action, ACTIONS):
        allowed = ", ".join(a.__name__ for a in ACTIONS)
        raise Rejected(f"{action!r} is not an action; allowed: {allowed}")
    try:
        _APPLY[type(action)](coupler, action)
    except Rejected:
        raise
    except (ValueError, TypeError) as err:  # the model's own checks
        raise Rejected(f"{type(action).__name__}: {err}") from None


def release(coupler: Coupler, kind: type, target: Any) -> None:
    """Hand ``target`` (as an action of ``kind`` named it) back to its baseline behaviour:
    the fixed-time plan, no charging limit, no setpoint offset (alerts need nothing)."""
    if kind is SignalPhase:
        node = _signal_node(coupler, target)
        coupler.apply("traffic", lambda m, s: m.set_control(s, node, "fixed_time"))
    elif kind is SignalPlan:
        node = _signal_node(coupler, target)
        coupler.apply("traffic", lambda m, s: _default_plan(m, s, node))
    elif kind is ChargingLimit:
        row = _district(coupler, target)
        coupler.apply("energy", lambda m, s: m.set_ev_limit(s, row, math.inf))
    elif kind is SetpointOffset:
        rows = _buildings(coupler, target)
        coupler.apply("energy", lambda m, s: m.set_setpoint_offset(s, rows, 0.0))
    elif kind is UamRoutes:
        coupler.apply("uam", lambda m, s: m.first_routes(s))


# ----------------------------------------------------------------------------- traffic
def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _signal_node(coupler: Coupler, node: Any) -> int:
    traffic = coupler.exchange.models["traffic"]
    nodes = traffic.signal_nodes
    if not _is_int(node) or node not in nodes:
        shown = ", ".join(str(n) for n in nodes[:8]) + (", ..." if nodes.size > 8 else "")
        raise Rejected(f"node {node!r} is not a signalized node; signalized nodes: {shown}")
    return int(node)


def _signal_plan(coupler: Coupler, a: SignalPlan) -> None:
    node = _signal_node(coupler, a.node)
    try:
        green = np.asarray(a.green_s, dtype=float)
    except (TypeError, ValueError):
        green = np.full(1, np.nan)
    traffic = coupler.exchange.models["traffic"]
    phases = int(traffic.phases.n_phases[np.flatnonzero(traffic.signal_nodes == node)[0]])
    if green.shape != (phases,) or not np.all(np.isfinite(green)) or np.any(green < 0):
        raise Rejected(
            f"SignalPlan: green_s={a.green_s!r} must be {phases} finite green times >= 0 [s], "
            f"one per phase of node {node}"
        )
    offset = float(a.offset_s)
    if not math.isfinite(offset):
        raise Rejected(f"SignalPlan: offset_s={a.offset_s!r} must be finite seconds")
    coupler.apply(
        "traffic", lambda m, s: m.set_signal_plan(s, node, green_s=green, offset_s=offset)
    )


def _signal_phase(coupler: Coupler, a: SignalPhase) -> None:
    """The node joins ``phase_select`` control at its first phase command (the model
    then inserts amber and all-red and keeps the minimum green)."""
    node = _signal_node(coupler, a.node)
    traffic = coupler.exchange.models["traffic"]
    n = int(traffic.phases.n_phases[np.flatnonzero(traffic.signal_nodes == node)[0]])
    if not _is_int(a.phase) or not 0 <= a.phase < n:
        raise Rejected(f"SignalPhase: phase {a.phase!r} of node {node}: its phases are 0..{n - 1}")
    coupler.apply("traffic", lambda m, s: command_phases(m, s, node, int(a.phase)))


def command_phases(model, state, nodes, phases):
    """A new traffic state in which signalized ``nodes`` (int or array) ask for ``phases``
    (the model's checks apply): each node not yet under ``phase_select`` joins it first.
    The path of every :class:`SignalPhase`, also for the learning environments."""
    nodes = np.atleast_1d(np.asarray(nodes))
    rows = np.searchsorted(model.signal_nodes, nodes)
    joining = nodes[np.asarray(gpu.to_host(state["signal_mode"]))[rows] != control.PHASE_SELECT]
    if joining.size:
        state = model.set_control(state, joining, "phase_select")
    return model.set_phase(state, nodes, np.broadcast_to(np.asarray(phases), nodes.shape))


def _default_plan(model, state, node: int):
    row = int(np.flatnonzero(model.signal_nodes == node)[0])
    plan = {k: v[row] for k, v in model.default_plan.items()}
    return model.set_signal_plan(
        state,
        node,
        green_s=plan["signal_green_s"],
        amber_s=plan["signal_amber_s"],
        all_red_s=plan["signal_all_red_s"],
        offset_s=plan["signal_offset_s"],
    )


# ------------------------------------------------------------------------------ energy
def _district(coupler: Coupler, target: Any) -> int:
    names = [str(n) for n in coupler.city["districts"]["name"].values]
    if isinstance(target, str) and target in names:
        return names.index(target)
    if _is_int(target) and 0 <= target < len(names):
        return int(target)
    raise Rejected(
        f"target {target!r} is not a district; districts: {', '.join(names)} "
        f"(or their indices 0..{len(names) - 1})"
    )


def _buildings(coupler: Coupler, target: Any) -> np.ndarray:
    district = coupler.city["buildings"]["district"].values
    if isinstance(target, str):
        return np.flatnonzero(district == _district(coupler, target))
    if _is_int(target) and 0 <= target < district.size:
        return np.asarray([int(target)])
    raise Rejected(
        f"target {target!r} is not a building index (0..{district.size - 1}) or a district name"
    )


def _charging_limit(coupler: Coupler, a: ChargingLimit) -> None:
    row = _district(coupler, a.target)
    coupler.apply("energy", lambda m, s: m.set_ev_limit(s, row, a.kw))


def _setpoint_offset(coupler: Coupler, a: SetpointOffset) -> None:
    rows = _buildings(coupler, a.target)
    coupler.apply("energy", lambda m, s: m.set_setpoint_offset(s, rows, a.delta_degC))


def _alert(coupler: Coupler, a: Alert) -> None:
    """Warn ``area`` for the next hour (``twin.kpi.ALERT_HOURS``; reissue to extend): the
    KPI model scores the warned person-hours against the true PM2.5."""
    names = [str(n) for n in coupler.city["districts"]["name"].values]
    areas = ["city", *names]
    if a.area not in areas:
        raise Rejected(f"Alert: area {a.area!r} is not one of {', '.join(areas)}")
    if a.level not in ALERT_LEVELS:
        raise Rejected(f"Alert: level {a.level!r} is not one of {', '.join(ALERT_LEVELS)}")
    rows = np.arange(len(names)) if a.area == "city" else np.asarray([names.index(a.area)])
    coupler.apply("kpi", lambda m, s: m.set_alert(s, rows))


# --------------------------------------------------------------------------------- UAM
def _uam_routes(coupler: Coupler, a: UamRoutes) -> None:
    if "uam" not in coupler.exchange.models:
        raise Rejected("UamRoutes: this run has no air taxis (the scenario has no [uam] table)")
    if a.target != "all":
        raise Rejected(f"UamRoutes: target {a.target!r}: only 'all' (every vertiport pair)")
    coupler.apply(
        "uam",
        lambda m, s: m.reroute(
            s, float(a.noise_weight), float(a.length_budget), float(a.climb_weight)
        ),
    )


_APPLY = {
    SignalPhase: _signal_phase,
    SignalPlan: _signal_plan,
    ChargingLimit: _charging_limit,
    SetpointOffset: _setpoint_offset,
    Alert: _alert,
    UamRoutes: _uam_routes,
}
