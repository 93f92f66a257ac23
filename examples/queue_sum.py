"""A user's own signal service, written against the public API only.

``QueueSum`` gives green to the phase with the most vehicles queued on all its approaches
together (the longest-queue rule counts only the worst approach), and keeps a phase for
at least ``hold_s`` so a busy corner is not cleared for nothing. Queues come from the
detectors the observation carries (metres of queue), turned into vehicles with the
lanes and jam density of the city's roads (map data).
"""

from __future__ import annotations

import numpy as np

from twin.services import SignalPhase


class QueueSum:
    name = "queue_sum"

    def __init__(self, every: float = 60.0, hold_s: float = 60.0):
        self.every = every
        self.hold_s = hold_s

    def reset(self, context) -> None:
        roads = context.city["roads"]
        self.per_m = roads["lanes"].values * roads["jam_density"].values
        self.signals = list(
            zip(context.signals.nodes.tolist(), context.signals.phases, strict=True)
        )
        self.shown: dict[int, tuple[int, float]] = {}  # node -> (phase, since [s])

    def decide(self, observation) -> list:
        t = observation.time.timestamp()
        queued = np.zeros(self.per_m.size)
        det = observation.detectors
        seen = np.isfinite(det["queue"])
        links = det.sites["link"][seen]
        queued[links] = det["queue"][seen] * self.per_m[links]
        actions = []
        for node, phases in self.signals:
            best = int(np.argmax([queued[list(p)].sum() for p in phases]))
            phase, since = self.shown.get(node, (None, -np.inf))
            if best != phase and t - since >= self.hold_s:
                self.shown[node] = (best, t)
                actions.append(SignalPhase(node, best))
        return actions
