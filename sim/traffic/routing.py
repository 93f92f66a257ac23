"""Reactive route choice: shortest travel times to each destination and next-link fractions.

Every few minutes the model recomputes, from the current link travel times, the
shortest time from every node to every destination zone, and from it the best next
link at each node for each destination. Route fractions move part of the way towards
that all-or-nothing choice, like the dynamic user optimum of reactive assignment
(UXsim's ``duo_update_weight``); the gradual step damps route flapping.

Shortest times come from a vectorised Bellman-Ford iteration over all destinations at
once, ``d <- min over out-links j of (c_j + d[to_j])``, written with ``xp`` so it runs
where the state lives. Starting from the previous solution it usually needs only a
few sweeps; for positive link costs the equation has a unique solution, so the
iteration converges from any start. Convergence is tested first after ``first_check``
sweeps and then every ``check_every``, not after each sweep: the test reads a device
value on the host (on a GPU it waits for the queue to drain), and sweeps past the fixed
point change nothing, so the result is the same bit for bit. The traffic model passes the
sweeps the last update took as ``first_check``, so an update usually costs one test.

Route spread. With a spread ``s`` > 0 the next-link choice is a multinomial logit
instead: at each node, for each destination, the out-links that lead strictly closer
to the destination (Dial's efficient links, so no route can cycle) and whose remaining
cost ``c_j + T_dest(to_j)`` is within a band of the best get shares proportional to
``exp(-(c_j + T_dest(to_j) - T_best) / s)`` (:func:`logit_next_links`). Equal-cost
links share equally, where the all-or-nothing choice gives everything to the lowest
slot. It is the expected split of a logit choice over the next link with the shortest
remaining times as its costs (a node-by-node simplification of Dial's STOCH
assignment, which enumerates efficient paths), deterministic, so it needs no random
numbers.

References
----------
Dial, R. B. (1971). A probabilistic multipath traffic assignment model which obviates
path enumeration. Transportation Research 5(2), 83-111.
https://doi.org/10.1016/0041-1647(71)90012-8
Sheffi, Y. (1985). Urban Transportation Networks: Equilibrium Analysis with
Mathematical Programming Methods. Prentice-Hall, ch. 10-11 (logit route choice,
stochastic network loading).
Bellman, R. (1958). On a routing problem. Quarterly of Applied Mathematics 16(1),
87-90. https://doi.org/10.1090/qam/102435
Bertsekas, D. P., Tsitsiklis, J. N. (1991). An analysis of stochastic shortest path
problems. Mathematics of Operations Research 16(3), 580-595.
https://doi.org/10.1287/moor.16.3.580
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.traffic.network import format_indices


@dataclass(frozen=True, eq=False)
class RouteGraph:
    """Static arrays for routing, on one array backend.

    ``out_links`` (k, node) is padded with the dummy link index ``n_links``;
    ``to_node`` has ``n_links + 1`` entries (the dummy's value is unused);
    ``dest_nodes`` (zone,) are the zone nodes.
    """

    out_links: Any
    to_node: Any
    dest_nodes: Any


def shortest_times(
    xp,
    graph: RouteGraph,
    cost,
    start=None,
    max_sweeps: int | None = None,
    first_check: int = 1,
    check_every: int = 4,
    return_sweeps: bool = False,
):
    """Shortest travel time from every node to every destination [s].

    Parameters
    ----------
    xp : array namespace.
    graph : static routing arrays.
    cost : (link + 1,) [s] link costs > 0; the last (dummy) entry is ignored.
    start : (zone, node) previous solution to start from, or None (cold start).
    max_sweeps : safety bound, default ``4 * n_nodes + 4``.
    first_check, check_every : the sweep of the first convergence test and the sweeps
        between later ones (each test is one host synchronisation).
    return_sweeps : also return the number of sweeps made.

    Returns
    -------
    (zone, node) [s]; ``inf`` where the destination cannot be reached (and the sweeps
    made, with ``return_sweeps``).
    """
    n_nodes = graph.out_links.shape[1]
    n_dest = graph.dest_nodes.shape[0]
    costs = slot_cost(xp, graph, cost)
    slot_to = graph.to_node[graph.out_links]
    dest = (xp.arange(n_dest), graph.dest_nodes)
    d = xp.full((n_dest, n_nodes), xp.inf) if start is None else start.copy()
    d[dest] = 0.0
    limit = max_sweeps or 4 * n_nodes + 4
    check = max(1, first_check)
    for sweep in range(1, limit + 1):
        new = (costs[None] + d[:, slot_to]).min(axis=1)
        new[dest] = 0.0
        if sweep >= check or sweep == limit:
            if bool(xp.all(new == d)):
                return (d, sweep) if return_sweeps else d
            check = sweep + check_every
        d = new
    raise RuntimeError("shortest_times: Bellman-Ford did not converge (non-positive costs?)")


def check_zones(network, demand) -> None:
    """A ValueError naming the first zone whose node is not a node of the network."""
    bad = np.flatnonzero(demand.zone_nodes >= network.n_nodes)
    if bad.size:
        raise ValueError(
            f"zone {format_indices(bad)}: zone_nodes={demand.zone_nodes[bad[0]]} is not a "
            f"node of the network (0..{network.n_nodes - 1})"
        )


def check_reachable(graph: RouteGraph, free_flow_time, demand) -> None:
    """A ValueError naming the first OD pair with demand whose destination cannot be
    reached (host NumPy graph; ``free_flow_time`` (link,) [s])."""
    times = shortest_times(np, graph, np.append(free_flow_time, 0.0))
    origin_times = times[:, demand.zone_nodes].T  # (origin, destination)
    bad = np.argwhere((demand.od_veh_per_h > 0) & ~np.isfinite(origin_times))
    if bad.size:
        o, d = bad[0]
        raise ValueError(
            f"demand: destination zone {d} (node {demand.zone_nodes[d]}) cannot be "
            f"reached from origin zone {o} (node {demand.zone_nodes[o]}) but the OD "
            f"matrix asks for {demand.od_veh_per_h[o, d]} veh/h "
            f"({len(bad)} such pair(s))"
        )


def slot_cost(xp, graph: RouteGraph, cost):
    """(k, node) cost of each out-slot, inf on padding."""
    padded = xp.concatenate([cost[:-1], xp.full(1, xp.inf, dtype=cost.dtype)])
    return padded[graph.out_links]


def best_next_links(xp, graph: RouteGraph, cost, times):
    """All-or-nothing next-link choice, (zone, link + 1) of 0/1.

    At every node and for every destination, the out-link minimising
    ``cost_j + times[dest, to_j]`` gets 1 (the lowest slot on ties); nodes that cannot
    reach the destination, and the destination's own node, get none.
    """
    n_links = cost.shape[0] - 1
    n_dest = graph.dest_nodes.shape[0]
    value = slot_cost(xp, graph, cost)[None] + times[:, graph.to_node[graph.out_links]]
    best = xp.argmin(value, axis=1)  # (zone, node), out-slot
    reachable = xp.isfinite(xp.min(value, axis=1))
    reachable[xp.arange(n_dest), graph.dest_nodes] = False
    # one write per (zone, node), of 1 where reachable and 0 elsewhere: no node shares an
    # out-link with another, so the writes never collide (a node without any finite
    # choice may point at the padding slot, the dummy link, and writes 0 there)
    n_nodes = graph.out_links.shape[1]
    link = graph.out_links[best, xp.arange(n_nodes)[None, :]]
    choice = xp.zeros((n_dest, n_links + 1))
    choice[xp.arange(n_dest)[:, None], link] = reachable.astype(choice.dtype)
    return choice


def logit_next_links(xp, graph: RouteGraph, cost, times, spread_s: float, band_s: float):
    """Logit next-link shares, (zone, link + 1), each node's shares summing to 1.

    Parameters
    ----------
    cost : (link + 1,) [s] link costs.
    times : (zone, node) [s] shortest times to each destination (:func:`shortest_times`).
    spread_s : [s] > 0, the logit scale: a link ``spread_s`` seconds worse than the best
        gets ``1/e`` of its share.
    band_s : [s] >= 0, links more than this worse than the best get none.

    Nodes that cannot reach the destination, and the destination's own node, get none.
    """
    n_links = cost.shape[0] - 1
    n_dest = graph.dest_nodes.shape[0]
    ahead = times[:, graph.to_node[graph.out_links]]  # (zone, k, node)
    value = slot_cost(xp, graph, cost)[None] + ahead
    best = xp.min(value, axis=1, keepdims=True)
    finite = xp.isfinite(value)
    excess = xp.where(finite, value - xp.where(xp.isfinite(best), best, 0.0), 0.0)
    efficient = finite & (ahead < times[:, None, :]) & (excess <= band_s)
    weight = xp.where(efficient, xp.exp(-excess / spread_s), 0.0)
    total = weight.sum(axis=1, keepdims=True)
    share = weight / xp.where(total > 0, total, 1.0)
    # padding slots all point at the dummy link and write 0 there, real links are written
    # once (no node shares an out-link with another)
    choice = xp.zeros((n_dest, n_links + 1))
    choice[xp.arange(n_dest)[:, None, None], graph.out_links[None]] = share
    return choice
