"""Built-in signal-control services: reference baselines from the literature.

- ``fixed_time``: the city's fixed-time plans, untouched (the baseline of every signal
  service; it decides nothing).
"""

from __future__ import annotations

from twin.services.base import builtin
from twin.services.sensors import Observation


@builtin
class FixedTime:
    """The fixed-time plans of the scenario (``[traffic] signal_cycle_s``): no actions."""

    name = "fixed_time"

    def __init__(self, every: float = 3600.0):
        self.every = every

    def decide(self, observation: Observation) -> list:
        return []
