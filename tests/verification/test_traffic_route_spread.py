"""Logit route spread on routes of exactly equal cost, and spread 0 as the old choice.

Between opposite corners of a square of four links there are two routes of exactly the
same length: the all-or-nothing choice sends everybody along the lowest-numbered link,
the logit split (Dial 1971) shares them equally at any spread.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.traffic import Demand, TrafficModel, flat_profile, routing
from sim.traffic.synthetic import grid_network
from tests.helpers import assert_close


def split(model, origin, steps=40):
    """Vehicles that left the origin on each of its out-links over ``steps`` minutes."""
    state = model.init({}, np)
    out_links = np.flatnonzero(model.network.from_node == origin)
    passed = np.zeros(out_links.size)
    for k in range(steps):
        state = model.step(state, {"time_of_day_s": 60.0 * k}, 60.0)
        passed += model.outputs(state)["flow"][out_links] * 60.0
    return passed, state


@pytest.mark.parametrize("spread_s", [0.5, 10.0, 120.0])
def test_two_equal_routes_share_half_and_half(spread_s):
    # a 2 x 2 square, corner 0 to corner 3, heavy enough to queue at the merge
    net = grid_network(2, 2, spacing_m=500.0, signalized=False)
    model = TrafficModel(
        net, Demand([0, 3], [[0, 3000.0], [0, 0]], flat_profile), route_spread_s=spread_s
    )
    passed, _ = split(model, 0)
    assert passed.size == 2 and passed.sum() > 1000
    # the two routes are mirror images: equal shares at every step, round-off only
    assert_close(passed[0], passed[1], rtol=1e-9)


@pytest.mark.parametrize("spread_s", [1.0, 30.0])
def test_equal_routes_through_signals_split_within_one_percent(spread_s):
    # 4 x 4 lattice, interior node 5 to interior node 10: the two shortest routes turn
    # at signalized nodes 6 and 9, reached on different phases (east-west and
    # north-south), so their delays are equal only over a cycle; routes react to
    # queues every 5 min. The bound: 50/50 within 1 %
    net = grid_network(4, 4, spacing_m=500.0)
    model = TrafficModel(
        net, Demand([5, 10], [[0, 1500.0], [0, 0]], flat_profile), route_spread_s=spread_s
    )
    passed, _ = split(model, 5, steps=60)
    towards = net.to_node[net.from_node == 5]
    east, north = passed[towards == 6][0], passed[towards == 9][0]
    assert east + north > 0.99 * passed.sum()  # the detours get (almost) nothing
    assert abs(east / (east + north) - 0.5) < 0.01


def test_spread_zero_is_the_all_or_nothing_choice_bit_for_bit():
    net = grid_network(2, 2, spacing_m=500.0, signalized=False)
    demand = Demand([0, 3], [[0, 3000.0], [0, 0]], flat_profile)
    passed, state = split(TrafficModel(net, demand, route_spread_s=0.0), 0)
    old, old_state = split(TrafficModel(net, demand), 0)
    np.testing.assert_array_equal(passed, old)
    for key in state:
        np.testing.assert_array_equal(np.asarray(state[key]), np.asarray(old_state[key]))
    assert passed[1] == 0.0  # everybody on the lowest-numbered link


def test_logit_shares_match_the_formula():
    # a node with three ways on, costs 0, 5 and 40 s above the best: with spread 10 s
    # and band 30 s the shares are exp(0), exp(-0.5), 0 normalised
    net = grid_network(3, 3, spacing_m=300.0, signalized=False)
    graph = routing.RouteGraph(net.out_links().T, np.append(net.to_node, 0), np.array([8]))
    cost = np.append(np.full(net.n_links, 20.0), 0.0)
    times = routing.shortest_times(np, graph, cost)
    shares = routing.logit_next_links(np, graph, cost, times, 10.0, 30.0)
    # at node 0 both out-links (to 1 and to 3) lead 40 s closer to node 8: equal shares
    out0 = np.flatnonzero(net.from_node == 0)
    assert_close(shares[0, out0], [0.5, 0.5], rtol=1e-12)
    # node 4 (centre): to 5 and 7 are efficient and equal, to 1 and 3 lead away (none)
    out4 = np.flatnonzero(net.from_node == 4)
    expected = np.where(np.isin(net.to_node[out4], [5, 7]), 0.5, 0.0)
    assert_close(shares[0, out4], expected, rtol=1e-12)
    # make the link 4 -> 5 5 s dearer: shares exp(-0.5) : 1
    link45 = out4[net.to_node[out4] == 5][0]
    cost[link45] += 5.0
    times = routing.shortest_times(np, graph, cost)
    shares = routing.logit_next_links(np, graph, cost, times, 10.0, 30.0)
    p5 = np.exp(-0.5) / (1 + np.exp(-0.5))
    assert_close(shares[0, link45], p5, rtol=1e-12)
    assert_close(shares[0, out4].sum(), 1.0, rtol=1e-12)
    # beyond the band: +40 s gets nothing
    cost[link45] += 35.0
    times = routing.shortest_times(np, graph, cost)
    shares = routing.logit_next_links(np, graph, cost, times, 10.0, 30.0)
    assert shares[0, link45] == 0.0
    assert_close(shares[0, out4].sum(), 1.0, rtol=1e-12)
