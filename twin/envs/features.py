"""What a signal agent sees, does and is paid, from sensor readings only.

:class:`SignalFeatures` turns the detector readings and the signal display of a
:class:`twin.services.Observation` into the observation vector of every controlled
node, its action into :class:`twin.services.SignalPhase` commands, and the readings into
its reward. The environments (:mod:`twin.envs.signal`) and a trained policy run as a
service (:func:`twin.services.from_policy`) use the same object, so a policy sees in
the city exactly what it saw in training.

Observation of a node (as sumo-rl's default, Alegre 2019), ``P + 2 + 2 A`` numbers
for ``P`` phases and ``A`` approaches (the most of any controlled node; unused slots 0):
the phase shown (one-hot), whether it is in green (1) or clearing (0), the time since
its green began over ``[traffic] max_green_s`` (capped at 1), then per approach link the
detector occupancy [1] and the queue over the link's length [1]. Readings are noisy
(``[sensors]``), so these may exceed 1 (they are capped at :attr:`SignalFeatures.READING_CAP`
= 10, which a relative error of at most 1 reaches with odds below 1e-19); a lost reading
counts as 0.

Rewards per node (``reward=``), from the readings of its approaches at the decision:

- ``"diff_waiting_time"`` [veh s]: the fall of the waiting time over the interval,
  ``W(t - delta) - W(t)`` with ``W = Q delta_s``, ``Q`` [veh] the vehicles queued on the
  approaches (queue length times lanes times jam density): sumo-rl's default reward with
  the cameras' queues for its per-vehicle waiting times.
- ``"queue"`` [veh]: ``-Q``.
- ``"pressure"`` [veh]: ``-(Q - Q_out)``, ``Q_out`` queued on the node's exit links
  where a detector reads them (Varaiya 2013; sumo-rl's pressure with queues).
- ``"delay"`` [veh s]: ``-delta_s sum_a n_a (1 - v_a / v_free,a)``, the time lost
  against free flow (SUMO's ``timeLoss`` rate), with ``n_a`` the vehicles on approach
  ``a`` from its occupancy (``occupancy / L_eff`` per lane, over the link) and ``v_a``
  its detector speed.

References
----------
Alegre, L. N. (2019). SUMO-RL. https://github.com/LucasAlegre/sumo-rl
Varaiya, P. (2013). Max pressure control of a network of signalized intersections.
    Transportation Research Part C 36, 177-195. doi:10.1016/j.trc.2013.08.014
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twin.errors import InputError
from twin.services.actions import SignalPhase
from twin.services.base import Context
from twin.services.sensors import Readings

REWARDS = ("diff_waiting_time", "queue", "pressure", "delay")


def _padded(rows: Sequence[Sequence[int]]) -> np.ndarray:
    """Rows of link indices as a (len, widest) table, -1 in unused slots."""
    width = max([len(r) for r in rows] + [1])
    table = np.full((len(rows), width), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    return table


class SignalFeatures:
    """Observations, actions and rewards of controlled signals (module docstring).

    Parameters
    ----------
    context : what a service gets at reset (city, scenario, signal layout).
    nodes : the controlled signalized nodes (default: all, ascending).
    delta_s : [s] time between decisions (for the waiting-time rewards).
    reward : one of :data:`REWARDS`.
    """

    READING_CAP = 10.0

    def __init__(self, context: Context, nodes=None, delta_s: float = 60.0, reward="queue"):
        layout, roads = context.signals, context.city["roads"]
        if reward not in REWARDS:
            raise InputError(f"reward={reward!r} is not one of {REWARDS}")
        signal_nodes = [int(n) for n in layout.nodes]
        chosen = signal_nodes if nodes is None else [int(n) for n in np.atleast_1d(nodes)]
        unknown = sorted(set(chosen) - set(signal_nodes))
        if unknown or not chosen:
            shown = ", ".join(str(n) for n in signal_nodes[:8])
            raise InputError(
                f"nodes={unknown or chosen}: not signalized nodes (those: {shown}, ...)"
            )
        self.nodes = np.asarray(chosen, dtype=np.int64)
        self.rows = np.array([signal_nodes.index(n) for n in chosen])
        self.n_phases = np.array([len(layout.phases[r]) for r in self.rows])
        approaches = [sorted({j for p in layout.phases[r] for j in p}) for r in self.rows]
        net_from = roads["from_node"].values
        exits = [np.flatnonzero(net_from == n).tolist() for n in chosen]
        self.approach, self.exits = _padded(approaches), _padded(exits)
        self.reward_name, self.delta_s = reward, float(delta_s)
        ts = context.scenario.traffic
        self.max_green_s, self.l_eff = ts.max_green_s, ts.effective_vehicle_length_m
        self.length = roads["length"].values.astype(np.float64)
        lanes = roads["lanes"].values.astype(np.float64)
        self.per_m = lanes * roads["jam_density"].values  # vehicles per metre of queue
        self.lanes, self.free_speed = lanes, roads["free_speed"].values.astype(np.float64)
        self.P, self.A = int(self.n_phases.max()), self.approach.shape[1]
        self.n_features = self.P + 2 + 2 * self.A
        self.last_waiting = np.zeros(self.nodes.size)

    # ----------------------------------------------------------------- readings
    def per_link(self, detectors: Readings, quantity: str) -> np.ndarray:
        """(link,) the reading of each link's detector (the last of a link's detectors:
        its approach camera), 0 where none reads."""
        out = np.zeros(self.length.size)
        if quantity not in detectors.values:
            return out
        link, value = detectors.sites["link"], detectors[quantity]
        seen = np.isfinite(value)
        out[link[seen]] = value[seen]
        return out

    def _gather(self, table: np.ndarray, per_link: np.ndarray) -> np.ndarray:
        return np.where(table >= 0, per_link[np.maximum(table, 0)], 0.0)

    def observe(self, detectors: Readings, signals: Readings) -> np.ndarray:
        """(node, n_features) float64 observation of every controlled node."""
        n = self.nodes.size
        phase = signals["phase"][self.rows]
        onehot = np.zeros((n, self.P))
        onehot[np.arange(n), phase] = 1.0
        green = (signals["interval"][self.rows] == 0).astype(float)[:, None]
        time = np.minimum(signals["phase_time"][self.rows] / self.max_green_s, 1.0)[:, None]
        occupancy = self._gather(self.approach, self.per_link(detectors, "occupancy"))
        queue_m = self._gather(self.approach, self.per_link(detectors, "queue"))
        fraction = np.where(self.approach >= 0, queue_m / self.length[self.approach], 0.0)
        readings = np.minimum(np.hstack([occupancy, fraction]), self.READING_CAP)
        return np.hstack([onehot, green, time, readings])

    def link_queues(self, observation: np.ndarray) -> np.ndarray:
        """(link,) vehicles queued on the controlled approaches, back from an observation
        (0 on other links)."""
        fraction = np.asarray(observation, dtype=np.float64).reshape(self.nodes.size, -1)
        fraction = fraction[:, self.P + 2 + self.A :]
        q = np.zeros(self.length.size)
        used = self.approach >= 0
        links = self.approach[used]
        q[links] = fraction[used] * self.length[links] * self.per_m[links]
        return q

    # ------------------------------------------------------------------ rewards
    def reset(self) -> None:
        """Forget the last waiting time (a new episode)."""
        self.last_waiting = np.zeros(self.nodes.size)

    def reward(self, detectors: Readings) -> np.ndarray:
        """(node,) rewards of the readings at a decision (see the module docstring)."""
        q = self.per_link(detectors, "queue") * self.per_m
        queued = self._gather(self.approach, q).sum(axis=1)
        if self.reward_name == "queue":
            return -queued
        if self.reward_name == "pressure":
            return -(queued - self._gather(self.exits, q).sum(axis=1))
        if self.reward_name == "delay":
            a = self.approach
            occ = self._gather(a, self.per_link(detectors, "occupancy"))
            speed = self._gather(a, self.per_link(detectors, "speed"))
            on_link = occ / self.l_eff * self._gather(a, self.lanes * self.length)
            free = self._gather(a, self.free_speed)
            lost = np.where(free > 0, 1.0 - np.minimum(speed / np.where(free > 0, free, 1), 1), 0)
            return -(on_link * lost).sum(axis=1) * self.delta_s
        waiting = queued * self.delta_s
        reward, self.last_waiting = self.last_waiting - waiting, waiting
        return reward

    # ------------------------------------------------------------------ actions
    def commands(self, phases) -> list[SignalPhase]:
        """One :class:`SignalPhase` per controlled node for an action (a phase each)."""
        phases = np.asarray(phases).reshape(-1)
        return [SignalPhase(int(n), int(p)) for n, p in zip(self.nodes, phases, strict=True)]
