"""AI city services: plug a service into the twin, observe its sensors, act, be scored.

A service (:class:`Service`) decides every ``every`` seconds on an :class:`Observation`
(sensor readings with seeded noise, never model state) and returns typed actions
(:mod:`twin.services.actions`); :func:`twin.run` applies the valid ones between coupling
steps and records them in ``/services/<name>`` of the run store, and
:func:`twin.evaluate` scores a service against a baseline over seeds. Built-ins
(:data:`BUILTINS`) are reference baselines from the literature.
"""

from twin.services import air, energy, signals, uam  # noqa: F401  (registers the built-ins)
from twin.services.actions import (
    Alert,
    ChargingLimit,
    Rejected,
    SetpointOffset,
    SignalPhase,
    SignalPlan,
    UamRoutes,
)
from twin.services.base import BUILTINS, Context, Service, SignalLayout
from twin.services.policy import from_policy
from twin.services.sensors import Observation, Readings

__all__ = [
    "BUILTINS",
    "Alert",
    "ChargingLimit",
    "Context",
    "Observation",
    "Readings",
    "Rejected",
    "Service",
    "SetpointOffset",
    "SignalLayout",
    "SignalPhase",
    "SignalPlan",
    "UamRoutes",
    "from_policy",
]
