"""Synthetic road networks for tests, benchmarks and demos: lattices with an optional ring.

A lattice of ``n_x`` by ``n_y`` intersections joined by two-way links, optionally with
a faster ring road around it joined to the lattice's outer intersections, shaped like
the arterial grid of a mid-sized city. Also a random OD matrix between chosen zone
nodes.
"""

from __future__ import annotations

import numpy as np

from sim.traffic.network import Network


def grid_network(
    n_x: int,
    n_y: int,
    *,
    spacing_m: float = 500.0,
    lanes: float = 2.0,
    free_speed: float = 20.0,
    capacity: float = 0.8,
    jam_density: float = 0.2,
    signalized: bool = True,
    arterial_every: int | None = None,
    arterial_speed: float = 16.0,
    arterial_lanes: float = 3.0,
    ring_speed: float | None = None,
    ring_lanes: float = 3.0,
    ring_every: int = 4,
) -> Network:
    """A lattice network, all links alike, optionally wrapped by a ring road.

    Parameters
    ----------
    n_x, n_y : intersections along x and y (>= 2).
    spacing_m : [m] distance between neighbouring intersections.
    lanes, free_speed [m s-1], capacity [veh s-1 per lane], jam_density [veh m-1 per
        lane] : lattice link properties (defaults match UXsim's defaults: 20 m s-1,
        0.2 veh m-1 per lane, 1 s reaction time, hence 0.8 veh s-1 per lane).
    signalized : whether interior intersections (degree 4) carry signals.
    arterial_every : if given, every this many rows and columns (from the first) are
        arterials with ``arterial_speed`` [m s-1] and ``arterial_lanes``.
    ring_speed : [m s-1] if given, add a ring road one spacing outside the lattice,
        with ``ring_lanes`` lanes, joined to every ``ring_every``-th boundary node.

    Returns
    -------
    Network, nodes numbered row by row from the south-west corner (then ring nodes).
    """
    if n_x < 2 or n_y < 2:
        raise ValueError(f"n_x, n_y: need at least 2 x 2 intersections, got {n_x} x {n_y}")
    ix, iy = np.meshgrid(np.arange(n_x), np.arange(n_y))
    node_x, node_y = (ix.ravel() * spacing_m, iy.ravel() * spacing_m)
    ids = np.arange(n_x * n_y).reshape(n_y, n_x)
    pairs = [
        np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()]),
        np.stack([ids[:-1, :].ravel(), ids[1:, :].ravel()]),
    ]
    a, b = np.concatenate(pairs, axis=1)
    frm, to = np.concatenate([a, b]), np.concatenate([b, a])
    props = {k: np.full(frm.size, v) for k, v in (("lanes", lanes), ("speed", free_speed))}
    if arterial_every is not None:
        row, col = iy.ravel(), ix.ravel()
        along_row = (row[frm] == row[to]) & (row[frm] % arterial_every == 0)
        along_col = (col[frm] == col[to]) & (col[frm] % arterial_every == 0)
        arterial = along_row | along_col
        props["lanes"] = np.where(arterial, arterial_lanes, props["lanes"])
        props["speed"] = np.where(arterial, arterial_speed, props["speed"])
    signal = np.zeros(node_x.size, dtype=int)
    if signalized:
        interior = ids[1:-1, 1:-1].ravel()
        signal[interior] = 1
    if ring_speed is not None:
        node_x, node_y, frm, to, props, signal = _add_ring(
            ids,
            node_x,
            node_y,
            frm,
            to,
            props,
            signal,
            spacing_m,
            ring_speed,
            ring_lanes,
            ring_every,
        )
    length = np.hypot(node_x[to] - node_x[frm], node_y[to] - node_y[frm])
    return Network.from_arrays(
        node_x,
        node_y,
        signal,
        frm,
        to,
        length,
        props["lanes"],
        props["speed"],
        np.full(frm.size, capacity),
        np.full(frm.size, jam_density),
    )


def _add_ring(ids, node_x, node_y, frm, to, props, signal, spacing, speed, lanes, every):
    """Ring nodes one spacing outside the lattice boundary, joined by two-way links."""
    boundary = np.concatenate(
        [ids[0, :-1], ids[:-1, -1], ids[-1, :0:-1], ids[:0:-1, 0]]
    )  # counter-clockwise from the south-west corner
    cx, cy = node_x.mean(), node_y.mean()
    bx, by = node_x[boundary] - cx, node_y[boundary] - cy
    scale = 1.0 + spacing / np.maximum(np.abs(bx), np.abs(by)).max()
    ring = node_x.size + np.arange(boundary.size)
    node_x = np.concatenate([node_x, cx + bx * scale])
    node_y = np.concatenate([node_y, cy + by * scale])
    around = np.stack([ring, np.roll(ring, -1)])
    spokes = np.stack([boundary[::every], ring[::every]])
    new_a = np.concatenate([around[0], spokes[0]])
    new_b = np.concatenate([around[1], spokes[1]])
    on_ring = np.concatenate([np.ones(around.shape[1], bool), np.zeros(spokes.shape[1], bool)])
    frm = np.concatenate([frm, new_a, new_b])
    to = np.concatenate([to, new_b, new_a])
    ring_link = np.concatenate([on_ring, on_ring])
    props = {
        "lanes": np.concatenate([props["lanes"], np.where(ring_link, lanes, props["lanes"][0])]),
        "speed": np.concatenate([props["speed"], np.where(ring_link, speed, props["speed"][0])]),
    }
    signal = np.concatenate([signal, np.zeros(ring.size, dtype=int)])
    return node_x, node_y, frm, to, props, signal


def random_od(n_zones: int, total_veh_per_h: float, rng: np.random.Generator) -> np.ndarray:
    """A random (zone, zone) OD matrix with zero diagonal summing to ``total_veh_per_h``."""
    od = rng.uniform(0.0, 1.0, (n_zones, n_zones))
    np.fill_diagonal(od, 0.0)
    return od / od.sum() * total_veh_per_h
