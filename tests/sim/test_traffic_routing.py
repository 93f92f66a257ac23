"""Shortest paths of the reactive route choice against SciPy's Dijkstra."""

from __future__ import annotations

import numpy as np
import pytest

from sim.traffic import routing
from sim.traffic.synthetic import grid_network
from tests.helpers import assert_close

csgraph = pytest.importorskip("scipy.sparse.csgraph")
sparse = pytest.importorskip("scipy.sparse")


def graph_and_costs(seed=0):
    net = grid_network(6, 5, spacing_m=300.0)
    rng = np.random.default_rng(seed)
    cost = rng.uniform(5.0, 60.0, net.n_links)
    dest = np.array([0, 7, 29])
    graph = routing.RouteGraph(
        out_links=net.out_links().T, to_node=np.append(net.to_node, 0), dest_nodes=dest
    )
    return net, graph, np.append(cost, 0.0), dest


def dijkstra_to(net, cost, dest):
    # reversed graph: distance from every node to each destination
    matrix = sparse.csr_matrix((cost[:-1], (net.to_node, net.from_node)), (net.n_nodes,) * 2)
    return csgraph.dijkstra(matrix, indices=dest)


def test_bellman_ford_matches_dijkstra():
    net, graph, cost, dest = graph_and_costs()
    times = routing.shortest_times(np, graph, cost)
    assert_close(times, dijkstra_to(net, cost, dest), rtol=1e-12)  # sums of the same costs


def test_warm_start_converges_to_the_same_solution():
    net, graph, cost, dest = graph_and_costs()
    old = routing.shortest_times(np, graph, cost)
    new_cost = cost * np.random.default_rng(1).uniform(0.5, 3.0, cost.size)
    warm = routing.shortest_times(np, graph, new_cost, start=old)
    assert_close(warm, dijkstra_to(net, new_cost, dest), rtol=1e-12)


def test_best_next_links_follow_shortest_paths():
    net, graph, cost, dest = graph_and_costs()
    times = routing.shortest_times(np, graph, cost)
    choice = routing.best_next_links(np, graph, cost, times)
    assert choice.shape == (dest.size, net.n_links + 1)
    for z, d in enumerate(dest):
        chosen = np.flatnonzero(choice[z, :-1])
        # one next link per node except the destination, each on a shortest path
        assert sorted(net.from_node[chosen]) == sorted(set(range(net.n_nodes)) - {d})
        assert_close(cost[chosen] + times[z, net.to_node[chosen]], times[z, net.from_node[chosen]])
