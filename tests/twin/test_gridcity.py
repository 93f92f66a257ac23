"""The synthetic signalized grid (twin.gridcity): geometry, zones, errors, a run."""

import numpy as np
import pytest

from sim.traffic import Network
from twin.errors import InputError
from twin.gridcity import grid_city
from twin.models import traffic_zones
from twin.scenario import Scenario


def _network(city):
    r = city["roads"]
    return Network.from_arrays(
        *(r[k].values for k in ("x", "y", "signalized", "from_node", "to_node", "length")),
        *(r[k].values for k in ("lanes", "free_speed", "capacity", "jam_density")),
    )


@pytest.mark.parametrize("n", [2, 4, 5])
def test_grid_geometry_is_resco_like(n):
    city = grid_city(n=n)
    r = city["roads"]
    signals = np.flatnonzero(r["signalized"].values)
    assert signals.size == n * n
    # every intersection has four approaches and four exits; fringe nodes one of each
    into = np.bincount(r["to_node"].values, minlength=r.sizes["node"])
    out = np.bincount(r["from_node"].values, minlength=r.sizes["node"])
    assert (into[signals] == 4).all() and (out[signals] == 4).all()
    assert (into[n * n :] == 1).all() and (out[n * n :] == 1).all()
    # two directed links per road: 2 n (n - 1) inner roads, 4 n fringe roads
    assert r.sizes["link"] == 2 * (2 * n * (n - 1) + 4 * n)
    assert np.allclose(r["length"].values, 300.0)
    # every approach of every signal has a loop detector
    s = city["sensors"]
    loops = s["target"].values[s["kind"].values == "loop"]
    assert sorted(loops) == sorted(np.flatnonzero(np.isin(r["to_node"].values, signals)))


def test_every_fringe_node_is_a_traffic_zone():
    city = grid_city()
    nodes, people, _, _ = traffic_zones(city, _network(city), zone_size_m=200)
    assert sorted(nodes) == list(range(16, 32)) and np.allclose(people, 1000)


@pytest.mark.parametrize(
    ("field", "value"), [("n", 1), ("spacing_m", 10.0), ("lanes", 0), ("resolution_m", 400.0)]
)
def test_bad_parameters_name_the_field(field, value):
    with pytest.raises(InputError, match=f"{field} = "):
        grid_city(**{field: value})


def test_a_morning_on_the_grid_moves_traffic_through_it(tmp_path):
    import twin

    grid_city().save(tmp_path / "g.zarr")
    sc = Scenario.from_dict(
        {
            "name": "grid",
            "city": {"store": str(tmp_path / "g.zarr")},
            "start": "2026-10-16T07:00:00+09:00",
            "duration": "1h",
            "step": "20s",
            "output_interval": "30min",
            "device": "cpu",
            "traffic": {"trips_per_day": 100_000, "zone_size_m": 200},
        }
    )
    k = twin.run(sc, tmp_path / "run.zarr", progress=False).kpis
    assert float(k["completed_trips"]) > 1000
    # a 900 m through trip at 50 km/h takes 65 s free; signals add delay, not an order more
    assert 1.0 < float(k["mean_trip_time"]) < 10.0
