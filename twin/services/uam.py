"""Built-in air-taxi routing service: ``uam_routing``.

At its first decision it asks for noise-aware routes between every vertiport pair: the
weighted-sum scalarisation of the two objectives, route length and the sound energy
people receive under the route (Ehrgott 2005, ch. 3), with noise weight
``noise_weight`` (:mod:`sim.uam.routing`: a weight of 1 makes the mean noise cost of a
metre equal its length cost); a pair whose route would grow by more than
``length_budget`` over its route at the start gets half the weight, and so on, down to
the shortest route. Climbing is weighted by the aircraft's lift-to-drag ratio
(``climb_weight``), the metres of cruise a metre of climb costs in battery energy.
Its baseline is ``shortest_path``: the routes the run starts with (the scenario's
``[uam]`` weights, by default the shortest), which nobody changes.

References
----------
Ehrgott, M. (2005). Multicriteria Optimization, 2nd ed. Springer.
    doi:10.1007/3-540-27659-9
"""

from __future__ import annotations

from sim.uam.flight import Aircraft
from twin.services.actions import UamRoutes
from twin.services.base import Context, builtin
from twin.services.sensors import Observation
from twin.services.signals import FixedTime

# a metre climbed costs the battery what L/D metres of cruise do (sim.uam.flight)
_CLIMB_WEIGHT = Aircraft().lift_to_drag


def _needs_air_taxis(context: Context, name: str) -> None:
    if context.scenario.uam is None:
        raise ValueError(f"{name} needs air taxis: add a [uam] table to the scenario")


@builtin
class ShortestPath(FixedTime):
    """The routes the run starts with, never changed: the baseline of ``uam_routing``."""

    name = "shortest_path"

    def reset(self, context: Context) -> None:
        _needs_air_taxis(context, self.name)


@builtin
class UamRouting:
    """Noise-aware air-taxi routes within a length budget (see the module docstring)."""

    name = "uam_routing"

    def __init__(self, every: float = 3600.0, noise_weight: float = 1.0,
                 length_budget: float = 0.15, climb_weight: float = _CLIMB_WEIGHT):  # fmt: skip
        if not (noise_weight >= 0 and length_budget >= 0 and climb_weight >= 0):
            raise ValueError(
                f"noise_weight ({noise_weight!r}), length_budget ({length_budget!r}) and "
                f"climb_weight ({climb_weight!r}) must be >= 0"
            )
        self.every, self.noise_weight, self.length_budget = every, noise_weight, length_budget
        self.climb_weight = climb_weight
        self.sent = False

    def reset(self, context: Context) -> None:
        _needs_air_taxis(context, self.name)
        self.sent = False

    def decide(self, observation: Observation) -> list:
        if self.sent:
            return []
        self.sent = True
        return [UamRoutes("all", self.noise_weight, self.length_budget, self.climb_weight)]

    def state(self) -> dict:
        return {"sent": self.sent}

    def restore(self, state: dict) -> None:
        self.sent = bool(state["sent"])
