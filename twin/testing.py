"""A pytest plugin for service authors: a small city, a short scenario, an evaluation.

Installed with the package (entry point ``pytest11``: ``twin``), so in any project::

    from twin.testing import evaluate

    def test_my_service_cuts_delay():
        assert evaluate(MyService(), hours=2).improves("total_delay", by=0.05)

Fixtures: ``twin_city`` (the shipped ``minicity`` test dataset, downtown Gwangju cut to
8 x 6 km, at 250 m, built once per test session) and ``twin_scenario`` (a two-hour
weekday morning on it, from 07:00 KST, as a :class:`twin.Scenario`).
"""

from __future__ import annotations

from typing import Any

import pytest

from twin.scenario import Scenario

CITY = {"dataset": "minicity", "resolution_m": 250}


def scenario(hours: float = 2.0, start: str = "2026-06-17T07:00:00+09:00", **changes) -> Scenario:
    """The test scenario: ``hours`` of a June weekday on the test city, 60 s steps, hourly
    outputs, demand scaled to the city (40,000 trips a day between 2 km zones)."""
    base: dict[str, Any] = {
        "name": "twin-testing",
        "start": start,
        "duration": f"{hours:g}h",
        "step": "60s",
        "output_interval": "1h" if hours >= 1 else f"{hours:g}h",
        "device": "cpu",
        "city": CITY,
        "traffic": {"trips_per_day": 40000, "zone_size_m": 2000},
    }
    return Scenario.from_dict(base | changes)


def evaluate(service, baseline: Any = "fixed_time", hours: float = 2.0, seeds: int = 3, **changes):
    """:func:`twin.evaluate` of ``service`` on :func:`scenario` (``changes`` go to it)."""
    from twin.evaluation import evaluate as run_evaluation

    return run_evaluation(scenario(hours, **changes), service, baseline, seeds=seeds)


@pytest.fixture(scope="session")
def twin_city():
    """The test city (:data:`CITY`), built once per session."""
    import twin

    return twin.build_city(CITY["dataset"], resolution_m=CITY["resolution_m"])


@pytest.fixture
def twin_scenario(twin_city, tmp_path_factory) -> Scenario:
    """Two hours of a weekday morning on ``twin_city`` (stored once, opened by the run)."""
    path = tmp_path_factory.getbasetemp() / "twin-city.zarr"
    if not path.exists():
        twin_city.save(path)
    return scenario(city={"dataset": CITY["dataset"], "store": str(path)})
