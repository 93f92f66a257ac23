"""The service protocol, what a service learns of the city at the start, and the built-ins.

A service is any object with ``name``, ``every`` (its decision interval: seconds or a
timedelta, a whole multiple of the coupling step) and ``decide(observation) -> list of
actions``; optionally ``reset(context)``, called once at the start of a run (and again
on resume), and, for a service that keeps state between decisions, ``state() -> dict``
(JSON-serialisable) and ``restore(dict)``, which the run saves with its restart points
so that a resumed run decides as an uninterrupted one would.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import numpy as np

from twin.city import City
from twin.errors import InputError
from twin.scenario import Scenario, ServiceSpec
from twin.services.sensors import Observation


class Service(Protocol):
    """What the run needs of a service (see the module docstring)."""

    name: str
    every: float | timedelta

    def decide(self, observation: Observation) -> list: ...


@dataclass(frozen=True)
class SignalLayout:
    """The signal controllers' configuration (public: it is the city's, not the model's).

    Attributes
    ----------
    nodes : (signal,) signalized node indices.
    phases : per signalized node, a tuple of phases, each a tuple of the approach links it
        serves.
    movements : per approach link, the out-links vehicles may turn into at its node.
    """

    nodes: np.ndarray
    phases: tuple[tuple[tuple[int, ...], ...], ...]
    movements: dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class Context:
    """What ``reset`` gets: the city (maps, sensor sites), the scenario, the signals."""

    city: City
    scenario: Scenario
    signals: SignalLayout


BUILTINS: dict[str, Callable[..., Service]] = {}


def builtin(cls):
    """Register a built-in service class under its ``name``."""
    BUILTINS[cls.name] = cls
    return cls


def from_spec(spec: ServiceSpec, index: int) -> Service:
    """A built-in service from a scenario's ``[[services]]`` table."""
    where = f"services[{index}]"
    if spec.name not in BUILTINS:
        raise InputError(
            f"{where}.name: {spec.name!r} is not a built-in service; built-ins: "
            f"{', '.join(sorted(BUILTINS))}"
        )
    cls = BUILTINS[spec.name]
    allowed = [p for p in inspect.signature(cls).parameters if p != "self"]
    unknown = sorted(set(spec.params) - set(allowed))
    if unknown:
        raise InputError(
            f"{where}: unknown parameter(s) {unknown} for service {spec.name!r}; its "
            f"parameters: {', '.join(allowed) or 'none'}"
        )
    try:
        service = cls(**spec.params)
    except (TypeError, ValueError) as err:
        raise InputError(f"{where} ({spec.name}): {err}") from None
    if spec.every is not None:
        service.every = spec.every
    return service


def every_seconds(service: Any, step_s: float) -> float:
    """The decision interval of ``service`` [s], checked: a whole multiple of the step."""
    every = getattr(service, "every", None)
    seconds = every.total_seconds() if isinstance(every, timedelta) else every
    name = getattr(service, "name", type(service).__name__)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise InputError(f"service {name!r}: every={every!r} must be a positive duration")
    if seconds % step_s:
        raise InputError(
            f"service {name!r}: every={seconds:g} s must be a whole multiple of the coupling "
            f"step ({step_s:g} s)"
        )
    return float(seconds)
