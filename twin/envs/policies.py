"""Reference policies on a signal environment's observation vector.

:class:`MaxPressurePolicy` is the ``max_pressure`` built-in service's rule (Varaiya
2013; :class:`twin.services.signals.MaxPressure`, the same code) fed with the queues an
observation carries, so the baseline a learner must beat runs through the env exactly as
it runs as a service (the tests check their KPIs agree).
"""

from __future__ import annotations

import numpy as np

from twin.envs.features import SignalFeatures
from twin.services.base import Context
from twin.services.signals import MaxPressure


class MaxPressurePolicy:
    """Max pressure on :class:`~twin.envs.features.SignalFeatures` observations.

    Parameters
    ----------
    features : the env's features (``env.features``).
    context : the env's service context (``env.context``).

    A call maps an observation (flat or (node, feature)) to the phase of each controlled
    node; between calls it remembers what it showed (a tie keeps the phase).
    """

    def __init__(self, features: SignalFeatures, context: Context):
        self.features = features
        self.rule = MaxPressure(nodes=features.nodes)
        self.rule.reset(context)

    def reset(self) -> None:
        """Forget the phases shown (a new episode)."""
        self.rule.shown = {}

    def __call__(self, observation) -> np.ndarray:
        self.rule.choose(self.features.link_queues(observation))
        return np.array([self.rule.shown[int(n)] for n in self.features.nodes])
