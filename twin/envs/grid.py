"""The signalized grid test bed as an env scenario: :func:`grid_scenario`.

The city is :func:`twin.gridcity.grid_city` (RESCO's ``grid4x4`` geometry by default);
this module only saves it and wraps it in a short morning scenario with what learning
needs: the seed drawing the demand (hourly Poisson draws). The envs make the detectors
report at every decision (:func:`twin.envs.signal.env_scenario`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twin.city import City
from twin.gridcity import grid_city
from twin.scenario import Scenario


def grid_scenario(
    store: str | Path,
    hours: float = 1.0,
    *,
    step: str = "20s",
    start: str = "2026-06-17T07:00:00+09:00",
    trips_per_day: float = 120_000.0,
    city: City | None = None,
    **changes: Any,
) -> Scenario:
    """A scenario on the grid city, saved at ``store`` (a Zarr city store).

    ``hours`` of a June weekday from ``start`` at ``step`` coupling steps; every fringe
    node a traffic zone (``zone_size_m = 200``), ``trips_per_day`` between them drawn
    hourly (``demand_noise = "poisson"``: the seed changes the demand). ``city``
    (default :func:`twin.gridcity.grid_city`) is saved at ``store`` unless a city store
    is there already; ``changes`` replace top-level scenario fields (a ``traffic`` table
    replaces the whole ``[traffic]`` table).
    """
    store = Path(store)
    if not store.exists():
        (grid_city() if city is None else city).save(store)
    duration_s = round(hours * 3600)
    base: dict[str, Any] = {
        "name": f"grid-{hours:g}h",
        "start": start,
        "duration": f"{duration_s}s",
        "step": step,
        "output_interval": "3600s" if duration_s % 3600 == 0 else f"{duration_s}s",
        "device": "cpu",
        "city": {"store": str(store)},
        "traffic": {
            "trips_per_day": trips_per_day,
            "zone_size_m": 200.0,
            "demand_noise": "poisson",
        },
    }
    return Scenario.from_dict(base | changes)
