"""The service's tests, as its author would write them in their own repository: the
fixtures and ``evaluate`` come from the twin's pytest plugin (there is no conftest here).

``twin.testing.evaluate`` runs the service and the fixed-time baseline on the same seeds
(demand draw, weather, sensor noise) and ``improves`` asks the whole 95 % interval of the
paired difference to show the improvement."""

import pytest
from queue_sum import QueueSum

from twin.gridcity import grid_city
from twin.testing import evaluate


def test_queue_sum_runs_on_the_plugin_city(twin_scenario, tmp_path):
    """Two hours on the plugin's test city: the service acts and never fails."""
    import twin

    result = twin.run(twin_scenario, tmp_path / "run.zarr", services=[QueueSum()], progress=False)
    assert int(result.kpis["failed_services"]) == 0
    actions = result.open()["services/queue_sum"]
    assert actions.sizes["action"] > 0


@pytest.fixture(scope="module")
def busy_grid(tmp_path_factory):
    """RESCO's grid4x4 geometry (16 signals), 200,000 trips a day through it."""
    path = tmp_path_factory.mktemp("grid") / "grid4x4.zarr"
    grid_city().save(path)
    return {
        "city": {"store": str(path)},
        "step": "20s",
        "traffic": {"trips_per_day": 200_000, "zone_size_m": 200, "demand_noise": "poisson"},
    }


def test_queue_sum_cuts_delay_on_a_busy_grid(busy_grid):
    result = evaluate(QueueSum(every=20, hold_s=20), hours=1, seeds=3, **busy_grid)
    assert result.improves("total_delay", by=0.05), result
