"""Traffic signals: phases as sets of approaches, fixed-time plans and their green fractions.

Phases. A signalized node's approaches (the links ending at it) are served in phases,
each a set of approaches that may discharge together. By default a node has two:
phase 0 serves the approaches pointing mostly north-south, phase 1 those pointing
mostly east-west (:func:`approach_phase`). A node may declare other phases
(:func:`phase_table`): every approach must be in at least one phase, and no phase may
hold two approaches on crossing axes (one north-south, one east-west by the same rule),
the conflict the default split avoids. Movements are not modelled below the link
level, so a phase serves whole approaches; a phase with no approach (a pedestrian
phase) is allowed.

Fixed-time plans. A phase has a green, an amber and an all-red interval; the cycle is
their sum over the node's phases and the offset shifts the whole cycle. Following the
effective-green convention of the Highway Capacity Manual, an approach discharges at
saturation flow during the first ``green + amber + all_red - lost_time`` seconds of
each of its phases and not at all otherwise. The loading step asks for the fraction of
each sub-step an approach may discharge, which makes the discharge over a cycle exact
whatever the sub-step. Plans live in the model state as arrays over signalized nodes
(``signal_green_s``, ``signal_amber_s``, ``signal_all_red_s`` of shape (signal,
phase), ``signal_offset_s`` of shape (signal,)), so services can change them between
steps; phases a node does not have are zero-length. Other control modes are in
:mod:`sim.traffic.control`.

References
----------
Webster, F. V. (1958). Traffic signal settings. Road Research Technical Paper 39,
HMSO, London.
Transportation Research Board (2010). Highway Capacity Manual 2010, ch. 18
(effective green and lost time) and ch. 31 (signal timing, phases and rings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

import gpu
from sim.traffic.network import Network, format_indices

PHASES = 2  # the default: north-south and east-west
PLAN_KEYS = ("signal_green_s", "signal_amber_s", "signal_all_red_s", "signal_offset_s")
_AXIS = ("north-south", "east-west")


def approach_phase(network: Network) -> np.ndarray:
    """Phase serving each link at its downstream node: 0 north-south, 1 east-west."""
    dx = network.node_x[network.to_node] - network.node_x[network.from_node]
    dy = network.node_y[network.to_node] - network.node_y[network.from_node]
    return np.where(np.abs(dy) >= np.abs(dx), 0, 1).astype(np.int64)


@dataclass(frozen=True, eq=False)
class PhaseTable:
    """Which phases serve each approach (host NumPy).

    Attributes
    ----------
    n_phases : (signal,) phases of each signalized node.
    serve : (approach, S) phases serving each approach, padded with -1 (column 0 is
        always a phase: every approach is served).
    entry_approach, entry_row, entry_phase : (entry,) one row per (approach, phase)
        pair: the approach, its signal and the phase.
    """

    n_phases: np.ndarray
    serve: np.ndarray
    entry_approach: np.ndarray
    entry_row: np.ndarray
    entry_phase: np.ndarray

    @property
    def width(self) -> int:
        """Phases of the node with the most (the ``phase`` dimension)."""
        return int(self.n_phases.max(initial=PHASES))


def phase_table(
    network: Network,
    signal_nodes: np.ndarray,
    approach_links: np.ndarray,
    phases: Mapping[int, Sequence[Sequence[int]]] | None = None,
) -> PhaseTable:
    """The phases of every signalized node: the default two, or the declared sets.

    Parameters
    ----------
    network : the road network.
    signal_nodes : (signal,) signalized nodes, ascending.
    approach_links : (approach,) links ending at a signalized node, ascending.
    phases : ``{node: [[link, ...], ...]}``, the phases of some nodes as sets of their
        approach links; other nodes keep the default two.

    Raises
    ------
    ValueError
        Naming the node, the phase and the link: a node that is not signalized, a link
        that does not end at the node, an approach in no phase, or two approaches of
        one phase on crossing axes.
    """
    axis = approach_phase(network)
    row_of = np.full(network.n_nodes, -1)
    row_of[signal_nodes] = np.arange(signal_nodes.size)
    approach_of = np.full(network.n_links, -1)
    approach_of[approach_links] = np.arange(approach_links.size)
    n_phases = np.full(signal_nodes.size, PHASES, dtype=np.int64)
    sets: dict[int, list[list[int]]] = {}
    for node, node_phases in (phases or {}).items():
        node = int(node)
        where = f"signal_phases: node {node}"
        if not (0 <= node < network.n_nodes) or row_of[node] < 0:
            raise ValueError(f"{where}: is not a signalized node")
        if len(node_phases) == 0:
            raise ValueError(f"{where}: needs at least one phase")
        mine = np.flatnonzero(network.to_node == node)
        node_sets = []
        for p, links in enumerate(node_phases):
            links = sorted({int(j) for j in links})
            stray = [j for j in links if j not in set(mine.tolist())]
            if stray:
                raise ValueError(
                    f"{where}, phase {p}: link {stray[0]} does not end at node {node} "
                    f"(its approaches: {format_indices(mine, limit=12)})"
                )
            crossing = [j for j in links if axis[j] != axis[links[0]]] if links else []
            if crossing:
                a, b = links[0], crossing[0]
                raise ValueError(
                    f"{where}, phase {p}: links {a} ({_AXIS[axis[a]]}) and {b} "
                    f"({_AXIS[axis[b]]}) conflict: approaches on crossing axes cannot "
                    "share a phase"
                )
            node_sets.append(links)
        served = set().union(*map(set, node_sets))
        unserved = [j for j in mine.tolist() if j not in served]
        if unserved:
            raise ValueError(
                f"{where}: approach link {unserved[0]} is in no phase; every link ending "
                "at the node must be served"
            )
        sets[node] = node_sets
        n_phases[row_of[node]] = len(node_sets)
    pairs = []  # (approach, phase)
    for a, link in enumerate(approach_links):
        node = int(network.to_node[link])
        if node in sets:
            pairs += [(a, p) for p, links in enumerate(sets[node]) if link in links]
        else:
            pairs.append((a, int(axis[link])))
    pairs_arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    per = np.bincount(pairs_arr[:, 0], minlength=approach_links.size)
    serve = np.full((approach_links.size, max(1, int(per.max(initial=1)))), -1, np.int64)
    slot = np.arange(len(pairs_arr)) - np.repeat(np.cumsum(per) - per, per)
    serve[pairs_arr[:, 0], slot] = pairs_arr[:, 1]
    entry_row = row_of[network.to_node[approach_links[pairs_arr[:, 0]]]]
    return PhaseTable(n_phases, serve, pairs_arr[:, 0], entry_row, pairs_arr[:, 1])


def plan_arrays(
    n_signals: int, green_s, amber_s, all_red_s, offset_s, n_phases: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Validated plan arrays broadcast to ``n_signals`` nodes (host NumPy, float64).

    Per-phase values broadcast to (signal, phase) with ``phase`` the most phases of any
    node (``n_phases``, default two everywhere); phases a node does not have get zero
    time.
    """
    n_phases = np.full(n_signals, PHASES) if n_phases is None else np.asarray(n_phases)
    width = int(n_phases.max(initial=PHASES))
    plan = {}
    for key, value, shape in (
        ("signal_green_s", green_s, (n_signals, width)),
        ("signal_amber_s", amber_s, (n_signals, width)),
        ("signal_all_red_s", all_red_s, (n_signals, width)),
        ("signal_offset_s", offset_s, (n_signals,)),
    ):
        a = np.asarray(value, dtype=np.float64)
        try:
            a = np.broadcast_to(a, shape).copy()
        except ValueError:
            raise ValueError(
                f"{key.removeprefix('signal_')}: shape {a.shape} does not broadcast to {shape} "
                "(per signal node, and per phase)"
            ) from None
        if not np.all(np.isfinite(a)) or (key != "signal_offset_s" and np.any(a < 0)):
            raise ValueError(f"{key.removeprefix('signal_')}: must be finite and >= 0 [s]")
        if a.ndim == 2:
            a[np.arange(width)[None, :] >= n_phases[:, None]] = 0.0
        plan[key] = a
    cycle = (plan["signal_green_s"] + plan["signal_amber_s"] + plan["signal_all_red_s"]).sum(1)
    if np.any(cycle <= 0):
        bad = np.flatnonzero(cycle <= 0)[0]
        raise ValueError(f"signal plan: signal {bad} has a cycle of {cycle[bad]} s; must be > 0")
    return plan


def phase_lengths(plan, xp=np):
    """(signal, phase) [s] green + amber + all-red of each phase."""
    return _sum3(plan["signal_green_s"], plan["signal_amber_s"], plan["signal_all_red_s"])


@gpu.fuse
def _sum3(xp, a, b, c):
    return a + b + c


@gpu.fuse
def _discharge_time(xp, phase_s, lost_time_s):
    return xp.maximum(phase_s - lost_time_s, 0.0)


def phase_starts(phase_s, xp=np):
    """(signal, phase) [s] start of each phase within the cycle (exclusive cumsum)."""
    return xp.concatenate(
        [xp.zeros_like(phase_s[:, :1]), xp.cumsum(phase_s, axis=1)[:, :-1]], axis=1
    )


def effective_green(plan, lost_time_s: float, xp=np):
    """(signal, phase) [s] discharge time of each phase per cycle, and (signal,) cycle [s]."""
    phase_s = phase_lengths(plan, xp)
    return _discharge_time(phase_s, lost_time_s), phase_s.sum(axis=1)


def served_sum(values, row, serve, valid):
    """(approach,) sum of ``values`` (signal, phase) over the phases serving each approach.

    ``serve`` (approach, S) phases (padding any index), ``valid`` (approach, S) 0/1 or
    None when S is 1 (the default, one phase per approach).
    """
    total = values[row, serve[:, 0]]
    for s in range(1, serve.shape[1]):
        total = total + values[row, serve[:, s]] * valid[:, s]
    return total


@gpu.fuse
def _open_fraction(xp, t, start, cycle, open_s, h_s):
    """Fraction of ``[t, t + h_s)`` inside the discharge window of ``open_s`` seconds
    that starts at ``start`` in every cycle (one fused kernel on CuPy)."""

    def open_time(t):
        # seconds of discharge window in [start, t), periodic with the cycle
        u = t - start
        return xp.floor(u / cycle) * open_s + xp.minimum(u - xp.floor(u / cycle) * cycle, open_s)

    return (open_time(t + h_s) - open_time(t)) / h_s


def green_fraction(xp, plan, row, serve, valid, lost_time_s: float, t0_s, h_s: float):
    """Fraction of each interval ``[t0_s, t0_s + h_s)`` during which each approach may
    discharge under its fixed-time plan.

    Parameters
    ----------
    xp : array namespace of the plan arrays.
    plan : mapping with the four ``signal_*`` arrays.
    row : (approach,) int, the signal (row of the plan) of each approach.
    serve, valid : (approach, S) phases serving each approach (see :func:`served_sum`).
    lost_time_s : [s] lost time per phase.
    t0_s : (interval,) [s] interval starts on the model clock.
    h_s : [s] interval length.

    Returns
    -------
    (interval, approach) in [0, 1].
    """
    green, cycle = effective_green(plan, lost_time_s, xp)
    start_in_cycle = phase_starts(phase_lengths(plan, xp), xp)
    c = cycle[row]
    t = xp.asarray(t0_s)[:, None]

    def open_fraction(phase):
        start = plan["signal_offset_s"][row] + start_in_cycle[row, phase]
        return _open_fraction(t, start, c, green[row, phase], h_s)

    total = open_fraction(serve[:, 0])
    for s in range(1, serve.shape[1]):
        total = total + open_fraction(serve[:, s]) * valid[:, s]
    return total


@gpu.fuse
def signal_delay(xp, green, cycle):
    """[s] mean delay of random arrivals at low flow, for effective green ``green`` and
    ``cycle`` (arrays of the same shape; one kernel on CuPy).

    Webster's (1958) uniform-delay term ``C (1 - g/C)^2 / 2`` with flow ratio 0: the
    wait a vehicle expects at a fixed-time signal before any queue forms.
    """
    return 0.5 * cycle * (1.0 - green / cycle) ** 2
