"""``from_policy``: a trained policy as a service, scored like any other.

A policy is a callable from an environment's observation vector to its action
(:mod:`twin.envs`). :func:`from_policy` wraps it as a :class:`~twin.services.Service`:
at reset it builds the env's features on the run's city (the same
:class:`twin.envs.features.SignalFeatures`, so the policy sees in the city what it saw
in training), and at each decision it turns the observation into the vector, the
policy's answer into :class:`~twin.services.SignalPhase` commands, and sends those that
change what it asked for last. Run it with :func:`twin.run` or score it with
:func:`twin.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twin.services.base import Context
from twin.services.sensors import Observation


class PolicyService:
    """A signal policy as a service (see :func:`from_policy`)."""

    def __init__(self, policy: Callable[[Any], Any], *, name: str, every: float, nodes=None):
        self.policy, self.name, self.every, self.nodes = policy, name, every, nodes
        self.features = None
        self.sent: dict[int, int] = {}

    def reset(self, context: Context) -> None:
        from twin.envs.features import SignalFeatures

        self.features = SignalFeatures(context, self.nodes, float(self.every))
        self.sent = {}
        if callable(getattr(self.policy, "reset", None)):
            self.policy.reset()

    def decide(self, observation: Observation) -> list:
        vector = self.features.observe(observation.detectors, observation.signals)
        commands = self.features.commands(self.policy(vector.reshape(-1)))
        changed = [c for c in commands if self.sent.get(c.node) != c.phase]
        self.sent |= {c.node: c.phase for c in changed}
        return changed


def from_policy(policy: Callable[[Any], Any], *, name: str = "policy", every: float = 60.0,
                nodes=None) -> PolicyService:  # fmt: skip
    """A service that runs ``policy`` (observation vector -> phase per node) every
    ``every`` seconds at ``nodes`` (default: every signalized node), as trained in a
    :class:`twin.envs.SignalEnv` with ``delta_s=every`` and the same ``nodes``.

    A policy with a ``reset()`` method is reset at the start of each run.
    """
    return PolicyService(policy, name=name, every=every, nodes=nodes)
