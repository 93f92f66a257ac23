"""Kinematic-wave network loading: the destination-based cell transmission model.

Links are cut into cells no shorter than the distance a free-flowing vehicle (or a
backward wave) covers in one sub-step, so the explicit Godunov scheme of the cell
transmission model is stable; a link shorter than that limits the sub-step. Each
sub-step, every cell sends ``min(v_f k, Q)`` and receives ``min(Q, w (k_j - k))``
(triangular diagram, Daganzo 1994), flows between cells of a link are
``min(send, receive)``, and flows between links go through the node model below.
All cells and links are updated at once with ``xp``.

Node model (Daganzo 1995 for the destination split, Jin & Zhang 2003 for merges):
vehicles are tracked per destination at the link level. An in-link's sending flow is
split over destinations by the link's composition and sent towards the out-links
given by the route fractions. An out-link whose demand exceeds its receiving flow
admits every movement in proportion to its demand (the demand-proportional merge
rule), and the vehicles of one destination leave an in-link at the most restrictive
ratio among the out-links they use. Vehicles for different destinations do not block
each other (no FIFO spill-over across turning movements, as on approaches with turn
pockets). Vehicles are never created or lost: every movement is at most its demand
and every out-link receives at most its supply. Of the requirements of Tampere et al.
(2011) this meets conservation, non-negativity and the demand and supply
constraints; it relaxes FIFO as said, and it does not hand supply left unused by a
movement held back elsewhere to the other movements within the same sub-step.
Origins are point queues at the zone nodes that merge like in-links with the
capacity of the node's out-links; vehicles for a zone leave the network at its node.
With ``exit_before_signal`` they leave before its junction, so they do not wait for
its signal: on an approach to a signalized zone node they leave at their share of the
link's sending flow whatever the green.

Each link also carries the summed age of its vehicles, moved with them, so that the
trip time of each arriving vehicle is known (mixed per node per sub-step), and the
free-flow time of the distance driven is accumulated for the delay.

References
----------
Daganzo, C. F. (1994). The cell transmission model: a dynamic representation of
highway traffic consistent with the hydrodynamic theory. Transportation Research
Part B 28(4), 269-287. https://doi.org/10.1016/0191-2615(94)90002-7
Daganzo, C. F. (1995). The cell transmission model, part II: network traffic.
Transportation Research Part B 29(2), 79-93. https://doi.org/10.1016/0191-2615(94)00022-R
Jin, W.-L., Zhang, H. M. (2003). On the distribution schemes for determining flows
through a merge. Transportation Research Part B 37(6), 521-540.
https://doi.org/10.1016/S0191-2615(02)00026-7
Tampere, C. M. J., Corthout, R., Cattrysse, D., Immers, L. H. (2011). A generic class
of first order node models for dynamic macroscopic simulation of traffic flows.
Transportation Research Part B 45(1), 289-309. https://doi.org/10.1016/j.trb.2010.06.004
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import gpu
from sim.traffic.network import Network

_TINY = 1e-300  # guards divisions by an empty link or queue


@dataclass(frozen=True, eq=False)
class Cells:
    """How links are cut into cells (host NumPy).

    Cells of a link are contiguous, upstream first; one dummy cell (index ``n_cells``)
    and one dummy link (index ``n_links``) close the arrays, so padded node tables can
    point at them and read zeros.
    """

    per_link: np.ndarray  # (link,) number of cells
    first: np.ndarray  # (link + 1,) first cell of each link (dummy -> dummy cell)
    last: np.ndarray  # (link + 1,) last cell of each link
    length: np.ndarray  # (cell + 1,) [m]
    link: np.ndarray  # (cell,) link of each cell
    dt_max_s: float  # largest stable sub-step for this cutting [s]

    @property
    def n_cells(self) -> int:
        return self.link.shape[0]


def cut_cells(network: Network, dt_s: float) -> Cells:
    """Cut every link into the most cells that keep sub-step ``dt_s`` stable.

    A link gets ``floor(length / (c dt))`` cells (at least one), ``c`` the larger of its
    free speed and wave speed, so ``c dt / cell_length <= 1``. If a link is shorter than
    ``c dt`` the stable sub-step shrinks to ``length / c`` and is returned as
    ``dt_max_s``.
    """
    signal = np.maximum(network.free_speed, network.wave_speed)
    dt = min(float(dt_s), float(np.min(network.length / signal)))
    # the tolerance keeps a link of exactly c*dt at one cell despite round-off
    per_link = np.maximum(1, np.floor(network.length / (signal * dt) * (1 + 1e-12))).astype(int)
    link = np.repeat(np.arange(network.n_links), per_link)
    ends = np.cumsum(per_link)
    n_cells = int(ends[-1])
    first = np.append(ends - per_link, n_cells)
    last = np.append(ends - 1, n_cells)
    length = np.append((network.length / per_link)[link], 1.0)
    return Cells(per_link, first, last, length, link, dt)


@dataclass(frozen=True, eq=False)
class Static:
    """Per-second constants and index tables on one backend (``xp`` arrays).

    Node tables are stored slot-major, (k, node), so that sums over a node's links
    run over contiguous rows of the destination-major ``(zone, link + 1)`` arrays.
    """

    cell_speed: Any  # (cell + 1,) v_f / cell length [s-1]
    cell_wave: Any  # (cell + 1,) w / cell length [s-1]
    cell_capacity: Any  # (cell + 1,) [veh s-1]
    cell_jam: Any  # (cell + 1,) vehicles at jam density [veh]
    cell_free_time: Any  # (cell + 1,) cell length / v_f [s]; 0 for the dummy
    first: Any  # (link + 1,)
    last: Any  # (link + 1,)
    node_sources: Any  # (k_in + 1, node) in-links padded with the dummy link, then the
    # node's origin as column link + 1 + zone of the sending table (dummy link if none)
    out_links: Any  # (k_out, node)
    from_node: Any  # (link + 1,)
    to_node: Any  # (link + 1,)
    zone_nodes: Any  # (zone,)
    zone_index: Any  # (zone,) 0..zone-1
    entry_capacity: Any  # (zone,) [veh s-1] capacity of the zone node's out-links
    exit_zone: Any  # (exit,) zone of each (zone, signalized approach to its node) pair
    exit_link: Any  # (exit,) the approach
    exit_last: Any  # (exit,) its last cell
    n_exits: int  # host count (0: no zone node is signalized)


def build_static(
    xp, network: Network, cells: Cells, zone_nodes: np.ndarray, exit_before_signal: bool = False
) -> Static:
    """The constants of :func:`substep` on backend ``xp``; with ``exit_before_signal``,
    vehicles reaching their zone's node leave before its signal (see the module
    docstring), otherwise they wait for the green like the others (the older model)."""
    link = cells.link
    length = cells.length[:-1]
    pad = np.append

    def dev(a, dtype=np.float64):
        return xp.asarray(np.ascontiguousarray(a), dtype=dtype)

    in_links = network.in_links().T
    origin = np.full(network.n_nodes, network.n_links)
    origin[zone_nodes] = network.n_links + 1 + np.arange(zone_nodes.size)
    entry = np.bincount(
        network.from_node, weights=network.link_capacity, minlength=network.n_nodes
    )[zone_nodes]
    exit_zone, exit_link = np.nonzero(
        (network.to_node[None, :] == zone_nodes[:, None])
        & (network.signalized[network.to_node] == 1)
        & exit_before_signal
    )
    return Static(
        cell_speed=dev(pad(network.free_speed[link] / length, 0.0)),
        cell_wave=dev(pad(network.wave_speed[link] / length, 0.0)),
        cell_capacity=dev(pad(network.link_capacity[link], 0.0)),
        cell_jam=dev(pad(network.link_jam_density[link] * length, 0.0)),
        cell_free_time=dev(pad(length / network.free_speed[link], 0.0)),
        first=dev(cells.first, np.int64),
        last=dev(cells.last, np.int64),
        node_sources=dev(np.vstack([in_links, origin]), np.int64),
        out_links=dev(network.out_links().T, np.int64),
        from_node=dev(pad(network.from_node, 0), np.int64),
        to_node=dev(pad(network.to_node, 0), np.int64),
        zone_nodes=dev(zone_nodes, np.int64),
        zone_index=dev(np.arange(zone_nodes.size), np.int64),
        entry_capacity=dev(entry),
        exit_zone=dev(exit_zone, np.int64),
        exit_link=dev(exit_link, np.int64),
        exit_last=dev(cells.last[exit_link], np.int64),
        n_exits=int(exit_link.size),
    )


@dataclass(frozen=True, eq=False)
class StepConstants:
    """Cell constants for one sub-step length ``h_s`` [s] (built once per length)."""

    h_s: float
    speed: Any  # v_f h / dx, Courant number of each cell
    wave: Any  # w h / dx
    capacity: Any  # [veh per sub-step]
    entry: Any  # (zone,) [veh per sub-step]


def step_constants(a: Static, h_s: float) -> StepConstants:
    return StepConstants(
        h_s, a.cell_speed * h_s, a.cell_wave * h_s, a.cell_capacity * h_s, a.entry_capacity * h_s
    )


def workspace(xp, n_cells: int, n_links: int, n_zones: int) -> dict:
    """Scratch buffers for :func:`substep`, reused so that large temporaries are not
    reallocated (and page-faulted) every sub-step."""
    cell = {k: xp.zeros(n_cells + 1) for k in ("send", "recv", "flow", "inflow")}
    dest = {k: xp.zeros((n_zones, n_links + 1)) for k in ("demand", "out", "in")}
    return cell | dest | {"sending": xp.zeros((n_zones, n_links + 1 + n_zones))}


def _fraction(xp, part, whole):
    """``part / whole`` clipped to [0, 1] (elementwise, for fused kernels): round-off may
    leave a link holding -1e-17 vehicles while its last cell still sends 1e-17; the
    share must stay a fraction."""
    return xp.minimum(xp.maximum(part / xp.maximum(whole, _TINY), 0.0), 1.0)


@gpu.fuse
def _share(xp, part, whole):
    return _fraction(xp, part, whole)


@gpu.fuse
def _scaled_share(xp, scale, part, whole):
    """``scale * _fraction(part, whole)``."""
    return scale * _fraction(xp, part, whole)


@gpu.fuse
def _green_share(xp, send, green, whole):
    return _fraction(xp, send * green, whole)


@gpu.fuse
def _send_receive(xp, n, speed, capacity, jam, wave):
    """Cell sending and receiving flows [veh per sub-step] (triangular diagram)."""
    send = xp.minimum(n * speed, capacity)
    recv = xp.maximum(xp.minimum((jam - n) * wave, capacity), 0.0)
    return send, recv


@gpu.fuse
def _moved(xp, n, inflow, outflow):
    return n + inflow - outflow


@gpu.fuse
def _shortfall(xp, supply, demand):
    """``1 - ratio``, ratio the share of its demand an out-link admits (1 if not short)."""
    return 1.0 - xp.where(demand > supply, supply / xp.maximum(demand, _TINY), 1.0)


@gpu.fuse
def _mean_age(xp, node_age, arrived):
    return node_age / xp.maximum(arrived, _TINY)


@gpu.fuse
def _still(xp, on_link, link_in, link_out, waiting, origin_moved):
    """Vehicles on each link and waiting at each origin at the end of the sub-step."""
    return on_link + link_in - link_out, waiting - origin_moved


@gpu.fuse
def _ages(xp, age, mean_in, link_in, age_out, on_link_now, origin_age, waiting_now,
          origin_age_out, h_s):  # fmt: skip
    """Summed vehicle ages [veh s] of links and origin queues after the sub-step."""
    link = age + (mean_in * link_in - age_out + on_link_now * h_s)
    origin = origin_age + (waiting_now * h_s - origin_age_out)
    return link, origin


@gpu.fuse
def _counters(xp, entered, exited, trip_time, vehicle_time, waiting_time, acc_link_time,
              moved, exits, trips, on_link_total, waiting_total, on_link_now, h_s):  # fmt: skip
    """The network counters and the link time accumulator after the sub-step."""
    return (
        entered + moved,
        exited + exits,
        trip_time + trips,
        vehicle_time + on_link_total * h_s,
        waiting_time + waiting_total * h_s,
        acc_link_time + on_link_now * h_s,
    )


def substep(xp, a: Static, c: StepConstants, st: dict, w: dict, green, uses) -> None:
    """Advance the loading state by one sub-step of ``c.h_s`` seconds, in place.

    Parameters
    ----------
    xp : array namespace.
    a : static arrays.
    c : constants for this sub-step length (at most the stable step of the cutting).
    st : state arrays (see ``TrafficModel.init``); entries are updated in place or
        replaced. Per-destination arrays are destination-major: ``link_dest`` and
        ``route`` (zone, link + 1), ``origin_queue`` (destination, origin).
    w : scratch buffers from :func:`workspace`.
    green : (link + 1,) fraction of the sub-step each link may discharge (signals).
    uses : (zone, k_out, node) 0/1 float, 1 where the route fractions send vehicles
        for the zone onto that out-slot (the movements that can restrict them).

    Notes
    -----
    Elementwise chains run as fused kernels (:func:`gpu.fuse`, one launch each on CuPy,
    the same operations in the same order on NumPy). Origins are extra columns of the
    per-destination sending table (``w["sending"]``, links then zones) behind one more
    slot of the node tables, so a node's demand, its origin included, is one gather and
    one sum; the sum adds the origin last, as a separate add would.
    """
    h_s = c.h_s
    n_links = a.to_node.shape[0]  # links + the dummy
    send, recv = _send_receive(st["vehicles"], c.speed, c.capacity, a.cell_jam, c.wave)

    # link ends: per-destination sending, node demand and out-link supply ratios
    link_dest = st["link_dest"]  # (zone, link + 1)
    on_link = link_dest.sum(axis=0)
    sending = w["sending"]  # (zone, link + 1 + zone): in-links, then origins
    by_dest = xp.multiply(
        link_dest, _green_share(send[a.last], green, on_link), out=sending[:, :n_links]
    )
    if a.n_exits:  # vehicles at their destination leave before the signal
        z, j = a.exit_zone, a.exit_link
        by_dest[z, j] = _scaled_share(link_dest[z, j], send[a.exit_last], on_link[j])
    queue = st["origin_queue"]  # (destination, origin)
    waiting = queue.sum(axis=0)
    origin_send = xp.multiply(queue, _share(c.entry, waiting), out=sending[:, n_links:])
    node_demand = xp.take(sending, a.node_sources, axis=1).sum(axis=1)  # (zone, node)
    route = st["route"]
    demand = xp.multiply(
        xp.take(node_demand, a.from_node, axis=1, out=w["demand"]), route, out=w["demand"]
    )
    link_demand = demand.sum(axis=0)
    supply = recv[a.first]
    if xp.__name__ == "numpy" and not (link_demand > supply).any():
        # no out-link is short of space: every movement gets its full demand. Checked
        # on the host only, where it is free; on a GPU it would stall the queue.
        out_dest, in_dest, arrive, origin_out = by_dest, demand, node_demand, origin_send
    else:
        # limit = min of the ratios over the out-slots each zone's vehicles use, as
        # 1 - max(uses * (1 - ratio)) with ``uses`` 0/1: two passes instead of three
        limit = 1.0 - (uses * _shortfall(supply, link_demand)[a.out_links]).max(axis=1)
        # every in-link of a node passes the same share of its vehicles for each zone
        out_dest = xp.multiply(
            xp.take(limit, a.to_node, axis=1, out=w["out"]), by_dest, out=w["out"]
        )
        in_dest = xp.multiply(xp.take(limit, a.from_node, axis=1, out=w["in"]), demand, out=w["in"])
        arrive = node_demand * limit
        origin_out = origin_send * limit[:, a.zone_nodes]
    exits = arrive[a.zone_index, a.zone_nodes]  # vehicles reaching their own zone
    link_out = out_dest.sum(axis=0)
    link_in = in_dest.sum(axis=0)
    link_dest += in_dest
    link_dest -= out_dest
    queue -= origin_out
    origin_moved = origin_out.sum(axis=0)

    # cells: interior faces, then the link ends from the node model
    flow = w["flow"]
    xp.minimum(send[:-1], recv[1:], out=flow[:-1])
    flow[a.last] = link_out
    inflow = w["inflow"]
    inflow[1:] = flow[:-1]
    inflow[a.first] = link_in
    st["vehicles"] = _moved(st["vehicles"], inflow, flow)

    # vehicle ages, moved with the vehicles and mixed at nodes
    age_out = _scaled_share(st["link_age"], link_out, on_link)
    origin_age_out = _scaled_share(st["origin_age"], origin_moved, waiting)
    leaving = xp.concatenate([age_out, origin_age_out])
    mean_age = _mean_age(leaving[a.node_sources].sum(axis=0), arrive.sum(axis=0))
    on_link_now, waiting_now = _still(on_link, link_in, link_out, waiting, origin_moved)
    st["link_age"], st["origin_age"] = _ages(
        st["link_age"], mean_age[a.from_node], link_in, age_out, on_link_now,
        st["origin_age"], waiting_now, origin_age_out, h_s,
    )  # fmt: skip

    # no BLAS (dot) here: OpenBLAS threads spin between calls and steal the other core
    names = ("entered", "exited", "trip_time_s", "vehicle_time_s", "waiting_time_s",
             "acc_link_time_s")  # fmt: skip
    totals = _counters(
        *(st[k] for k in names), origin_moved.sum(), exits.sum(),
        (mean_age[a.zone_nodes] * exits).sum(), on_link_now.sum(), waiting_now.sum(),
        on_link_now, h_s,
    )  # fmt: skip
    st |= dict(zip(names, totals, strict=True))
    st["acc_cell_flow"] += flow
    st["acc_link_out"] += link_out
    st["acc_zone_arrivals"] += exits


def queue_length(xp, st: dict, a: Static, cell_link, cell_length, cell_critical):
    """(link,) [m] contiguous length above critical density from each link's downstream
    end; ``cell_link``, ``cell_length`` and ``cell_critical`` [veh] are per real cell."""
    n = st["vehicles"][:-1]
    free = (n <= cell_critical * (1 + 1e-9)).astype(xp.int64)
    # cells of a link from c to its end are all congested iff no free cell lies there
    free_after = xp.cumsum(free[::-1])[::-1]  # free cells in [c, end of the network)
    last = a.last[:-1]
    tail = xp.concatenate([free_after[1:], xp.zeros(1, dtype=xp.int64)])
    free_to_link_end = free_after - tail[last][cell_link]
    queued = (free_to_link_end == 0).astype(xp.float64) * cell_length
    total = xp.cumsum(queued)
    first = a.first[:-1]
    return total[last] - total[first] + queued[first]
