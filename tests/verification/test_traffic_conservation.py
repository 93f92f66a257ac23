"""Vehicle conservation and state invariants of the traffic model on a random network."""

from __future__ import annotations

import numpy as np
import pytest

from sim.traffic import Demand, Network, TrafficModel, daily_profile
from sim.traffic.synthetic import random_od


def random_network(rng: np.random.Generator, n_side: int = 7) -> Network:
    """A jittered lattice thinned to a random connected subgraph, two-way links with
    random lengths, lanes, speeds and capacities, signals on random nodes."""
    ids = np.arange(n_side * n_side).reshape(n_side, n_side)
    edges = np.concatenate(
        [
            np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], axis=1),
            np.stack([ids[:-1, :].ravel(), ids[1:, :].ravel()], axis=1),
        ]
    )
    # random spanning tree (Kruskal on random weights) plus a third of the other edges
    parent = list(range(ids.size))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    keep = []
    for e in rng.permutation(len(edges)):
        a, b = root(edges[e, 0]), root(edges[e, 1])
        if a != b:
            parent[a] = b
            keep.append(e)
        elif rng.random() < 0.33:
            keep.append(e)
    a, b = edges[keep].T
    frm, to = np.concatenate([a, b]), np.concatenate([b, a])
    m = frm.size
    x = (ids % n_side).ravel() * 400.0 + rng.uniform(-80, 80, ids.size)
    y = (ids // n_side).ravel() * 400.0 + rng.uniform(-80, 80, ids.size)
    straight = np.hypot(x[to] - x[frm], y[to] - y[frm])
    speed = rng.uniform(8.0, 25.0, m)
    jam = rng.uniform(0.12, 0.2, m)
    return Network.from_arrays(
        x,
        y,
        (rng.random(ids.size) < 0.4).astype(int),
        frm,
        to,
        straight * rng.uniform(1.0, 1.3, m),
        rng.integers(1, 4, m),
        speed,
        rng.uniform(0.3, 0.6, m) * np.minimum(1.0, 0.8 * speed * jam / 0.6),
        jam,
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_vehicles_are_conserved_at_every_step(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng)
    zones = rng.choice(net.n_nodes, 8, replace=False)
    # heavy demand (peaks near 6,000 veh/h) so that queues, spill-back and origin
    # queues all occur
    demand = Demand(zones, random_od(8, 3000.0, rng), daily_profile)
    model = TrafficModel(net, demand, dt_max_s=5.0, route_interval_s=120.0)
    state = model.init({}, np)
    jam = net.link_jam_density[model.cells.link] * model.cells.length[:-1]
    congested = False
    for k in range(90):
        forcing = {"time_of_day_s": 6.5 * 3600 + 60.0 * k}
        state = model.step(state, forcing, 60.0)
        c = model.counters(state)
        # round-off only (observed below 3e-15 of the vehicles generated)
        tol = 1e-12 * max(1.0, c["generated"])
        assert abs(c["entered"] - c["exited"] - c["in_network"]) <= tol
        assert abs(c["generated"] - c["entered"] - c["waiting"]) <= tol
        cells = state["vehicles"][:-1]
        assert cells.min() >= -tol
        assert np.all(cells <= jam * (1 + 1e-12))
        assert state["link_dest"].min() >= -tol and state["origin_queue"].min() >= -tol
        congested |= bool(np.any(model.outputs(state)["queue_length"] > 0))
    assert congested and c["exited"] > 0
    # ages travel with the vehicles: completed trip time never exceeds the total time
    assert c["trip_time_s"] <= c["vehicle_time_s"] + c["waiting_time_s"] + tol
    # vehicle counts agree between the cell and the per-destination bookkeeping
    per_link = np.add.reduceat(state["vehicles"][:-1], model.cells.first[:-1])
    np.testing.assert_allclose(per_link, state["link_dest"][:, :-1].sum(axis=0), atol=1e-9)
