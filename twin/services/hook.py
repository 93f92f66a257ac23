"""The service hook of the run loop: observe, decide, check and apply, record.

Before each coupling step the hook asks every service whose decision is due for its
actions on what the sensors show (:func:`twin.services.sensors.observe`), checks and
applies them (:mod:`twin.services.actions`), and records every action applied, every
rejection (with the reason) and, if asked, the observations. A service that raises is
stopped: its traceback is recorded, the targets it commanded go back to their baseline
behaviour and the run goes on. Its records reach the run store at each output step
(``/services/<name>``); its state and the hook's own (last commands, failures) are
saved with each restart point.
"""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.coupling import Coupler
from twin.errors import InputError
from twin.services import actions
from twin.services.base import Context, SignalLayout, every_seconds
from twin.services.sensors import Noise, Observation, observe

log = logging.getLogger(__name__)
_RECORD_FIELDS = ("time_s", "kind", "target", "value")


@dataclass
class _Slot:
    """One service in a run."""

    service: Any
    name: str
    steps: int  # coupling steps between decisions
    record_observations: bool = False
    failed: str = ""  # the traceback, once it raised
    commanded: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> target -> value
    actions: list[dict] = field(default_factory=list)  # rows not yet in the store
    rejections: list[dict] = field(default_factory=list)
    observations: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"actions": 0, "rejections": 0})


def signal_layout(coupler: Coupler) -> SignalLayout:
    """The signals' nodes, phases (approach links per phase) and movements."""
    return traffic_layout(coupler.exchange.models["traffic"])


def traffic_layout(traffic) -> SignalLayout:
    """:func:`signal_layout` of a traffic model."""
    net, table = traffic.network, traffic.phases
    link = traffic.approach_links[table.entry_approach]
    phases = tuple(
        tuple(
            tuple(int(j) for j in link[(table.entry_row == r) & (table.entry_phase == p)])
            for p in range(int(table.n_phases[r]))
        )
        for r in range(traffic.signal_nodes.size)
    )
    movements = {
        int(link): tuple(int(j) for j in np.flatnonzero(net.from_node == net.to_node[link]))
        for link in traffic.approach_links
    }
    return SignalLayout(traffic.signal_nodes.copy(), phases, movements)


class ServiceHook:
    """Services of one run (see the module docstring).

    Parameters
    ----------
    coupler : the run's coupler (after ``init`` or ``restore``).
    services : service objects (built-ins from the scenario, or the caller's).
    record_observations : per service, whether the store keeps what it saw.
    """

    def __init__(self, coupler: Coupler, services, record_observations=()):
        self.coupler = coupler
        sc = coupler.scenario
        step_s = sc.step.total_seconds()
        record = list(record_observations) + [False] * len(services)
        names = [getattr(s, "name", None) for s in services]
        for s, name in zip(services, names, strict=True):
            if not isinstance(name, str) or not name or not callable(getattr(s, "decide", None)):
                raise InputError(
                    f"{s!r} is not a service: it needs a str 'name', 'every' and decide(obs)"
                )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InputError(f"services: two services are named {duplicates}; names must differ")
        self.slots = [
            _Slot(s, s.name, round(every_seconds(s, step_s) / step_s), rec)
            for s, rec in zip(services, record, strict=False)
        ]
        self.noise = Noise(sc.sensors)
        self.context = Context(coupler.city, sc, signal_layout(coupler))
        for slot in self.slots:
            self._call(slot, "reset", self.context)

    # ------------------------------------------------------------------ decisions
    def before_step(self, i: int) -> None:
        """Let every service whose decision is due decide, before coupling step ``i``."""
        due = [s for s in self.slots if not s.failed and i % s.steps == 0]
        if not due:
            return
        t_s = i * self.coupler.scenario.step.total_seconds()
        for slot in due:
            obs = observe(self.coupler, self.noise, self._commanded_phases(slot), i)
            if slot.record_observations:
                slot.observations.append(_flatten(obs, t_s))
            decided = self._call(slot, "decide", obs)
            if slot.failed:
                continue
            for action in decided or ():
                self._apply(slot, action, t_s)

    def _call(self, slot: _Slot, method: str, *args):
        fn = getattr(slot.service, method, None)
        if fn is None:
            return None
        try:
            return fn(*args)
        except Exception:  # a service's own error stops it, never the run
            slot.failed = traceback.format_exc()
            log.warning("Service %s failed in %s() and was stopped:\n%s", slot.name, method,
                        slot.failed)  # fmt: skip
            self._release(slot)
            return None

    def _apply(self, slot: _Slot, action, t_s: float) -> None:
        try:
            row = actions.describe(action) if isinstance(action, actions.ACTIONS) else None
            actions.apply(self.coupler, action)
        except actions.Rejected as err:
            row = row or {"kind": type(action).__name__, "target": "", "value": repr(action)}
            slot.rejections.append({"time_s": t_s, **row, "reason": str(err)})
            slot.counts["rejections"] += 1
            if slot.counts["rejections"] <= 3:
                log.warning("Service %s: action rejected: %s", slot.name, err)
            return
        slot.actions.append({"time_s": t_s, **row})
        slot.counts["actions"] += 1
        target = next(iter(vars(action).values()))  # node, target or area, as given
        value = {"target": target, **json.loads(row["value"])}
        slot.commanded.setdefault(row["kind"], {})[row["target"]] = value

    def _release(self, slot: _Slot) -> None:
        kinds = {a.__name__: a for a in actions.ACTIONS}
        for kind, targets in slot.commanded.items():
            for entry in targets.values():
                actions.release(self.coupler, kinds[kind], entry["target"])
        slot.commanded.clear()

    def _commanded_phases(self, slot: _Slot) -> dict[int, int]:
        return {
            int(v["target"]): v["phase"] for v in slot.commanded.get("SignalPhase", {}).values()
        }

    # ------------------------------------------------------------- store, restart
    def take_records(self) -> dict[str, dict[str, list[dict]]]:
        """The rows recorded since the last call, per service (for the writer)."""
        out = {}
        for slot in self.slots:
            out[slot.name] = {
                "actions": slot.actions,
                "rejections": slot.rejections,
                "observations": slot.observations,
            }
            slot.actions, slot.rejections, slot.observations = [], [], []
        return out

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per service: status, counts and the traceback of a failure (store attrs)."""
        return {
            s.name: {
                "status": "failed" if s.failed else "ok",
                "error": s.failed,
                "every_s": s.steps * self.coupler.scenario.step.total_seconds(),
                "class": f"{type(s.service).__module__}.{type(s.service).__qualname__}",
                **s.counts,
            }
            for s in self.slots
        }

    def state(self) -> str:
        """The hook's and the services' state as JSON text (saved with restarts)."""
        return json.dumps(
            {
                s.name: {
                    "failed": s.failed,
                    "commanded": s.commanded,
                    "counts": s.counts,
                    "service": s.service.state() if hasattr(s.service, "state") else None,
                }
                for s in self.slots
            }
        )

    def restore(self, text: str) -> None:
        """Resume from :meth:`state` output."""
        saved = json.loads(text or "{}")
        for slot in self.slots:
            if slot.name not in saved:
                continue
            entry = saved[slot.name]
            slot.failed, slot.commanded = entry["failed"], entry["commanded"]
            slot.counts = entry["counts"]
            if entry["service"] is not None and hasattr(slot.service, "restore"):
                slot.service.restore(entry["service"])


def _flatten(obs: Observation, t_s: float) -> dict:
    """An observation as numbers, for ``record_observations``."""
    row: dict[str, Any] = {"time_s": t_s}
    for kind in ("detectors", "monitors", "meters", "chargers"):
        readings = getattr(obs, kind)
        for quantity, values in readings.values.items():
            row[f"{kind}_{quantity}"] = np.asarray(values, dtype=np.float64)
    return row
