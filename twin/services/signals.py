"""Built-in signal-control services: reference baselines from the literature.

- ``fixed_time``: the city's fixed-time plans, untouched (the baseline of every signal
  service; it decides nothing).
- ``max_pressure``: at each decision every controlled signal shows the phase with the
  largest pressure, the sum over its movements of the saturation flow times the queue
  upstream minus the queue downstream (Varaiya 2013), with equal turning shares since
  detectors do not see turns.
- ``longest_queue``: the phase that serves the longest single approach queue (the
  greedy longest-queue-first rule, Wunderlich et al. 2008).

Both read queues from the detectors only (the approach cameras of ``[sensors]``);
a link without a reading counts as empty. Queues [m] become vehicles through the
link's lanes and jam density, which are map data (``/roads``), not model state.

References
----------
Varaiya, P. (2013). Max pressure control of a network of signalized intersections.
    Transportation Research Part C 36, 177-195. doi:10.1016/j.trc.2013.08.014
Wunderlich, R., Liu, C., Elhanany, I., Urbanik, T. (2008). A novel signal-scheduling
    algorithm with quality-of-service provisioning for an isolated intersection. IEEE
    Transactions on Intelligent Transportation Systems 9(3), 536-547.
    doi:10.1109/TITS.2008.928266
"""

from __future__ import annotations

import numpy as np

from twin.services.actions import SignalPhase
from twin.services.base import Context, builtin
from twin.services.sensors import Observation


@builtin
class FixedTime:
    """The fixed-time plans of the scenario (``[traffic] signal_cycle_s``): no actions."""

    name = "fixed_time"

    def __init__(self, every: float = 3600.0):
        self.every = every

    def decide(self, observation: Observation) -> list:
        return []


class _PhaseChooser:
    """Shared machinery: the controlled nodes, queues in vehicles, phase commands sent
    only when the choice changes."""

    def __init__(self, every: float = 60.0, nodes=None):
        self.every = every
        self.nodes = None if nodes is None else [int(n) for n in nodes]
        self.shown: dict[int, int] = {}

    def reset(self, context: Context) -> None:
        layout, roads = context.signals, context.city["roads"]
        chosen = layout.nodes if self.nodes is None else np.asarray(self.nodes)
        unknown = sorted(set(chosen.tolist()) - set(layout.nodes.tolist()))
        if unknown:
            raise ValueError(f"{self.name}: nodes {unknown[:5]} are not signalized")
        rows = {int(n): r for r, n in enumerate(layout.nodes)}
        self.controlled = [(int(n), layout.phases[rows[int(n)]]) for n in chosen]
        self.movements = layout.movements
        # vehicles per metre of queue: lanes at jam density (map data)
        self.per_m = roads["lanes"].values * roads["jam_density"].values
        self.capacity = roads["lanes"].values * roads["capacity"].values
        self.shown = {}

    def queues(self, obs: Observation) -> np.ndarray:
        """Vehicles queued on each link, from the detectors (0 where none reads)."""
        q = np.zeros(self.per_m.size)
        link, queue = obs.detectors.sites["link"], obs.detectors["queue"]
        seen = np.isfinite(queue)
        q[link[seen]] = queue[seen] * self.per_m[link[seen]]
        return q

    def decide(self, obs: Observation) -> list:
        return self.choose(self.queues(obs))

    def choose(self, q: np.ndarray) -> list:
        """The phase commands for queues ``q`` [veh] per link (changes only)."""
        actions = []
        for node, phases in self.controlled:
            scores = [self.score(q, links) for links in phases]
            best = int(np.argmax(scores))
            current = self.shown.get(node)
            if current is not None and scores[current] >= scores[best]:
                continue  # a tie keeps the phase shown (no needless clearance)
            if current != best:
                self.shown[node] = best
                actions.append(SignalPhase(node, best))
        return actions

    def state(self) -> dict:
        return {"shown": {str(k): v for k, v in self.shown.items()}}

    def restore(self, state: dict) -> None:
        self.shown = {int(k): v for k, v in state["shown"].items()}


@builtin
class MaxPressure(_PhaseChooser):
    """Max-pressure control (Varaiya 2013) of every signal, or of ``nodes``."""

    name = "max_pressure"

    def score(self, q: np.ndarray, links) -> float:
        pressure = 0.0
        for i in links:
            downstream = self.movements.get(i, ())
            # equal turning shares: the mean queue of the links it may enter
            below = float(np.mean(q[list(downstream)])) if downstream else 0.0
            pressure += self.capacity[i] * (q[i] - below)
        return pressure


@builtin
class LongestQueue(_PhaseChooser):
    """Longest queue first (Wunderlich et al. 2008) at every signal, or at ``nodes``."""

    name = "longest_queue"

    def score(self, q: np.ndarray, links) -> float:
        return float(max((q[i] for i in links), default=0.0))
