"""Car-road ways to the twin's ``/roads``: junctions, directed links, signals, one network.

1. Ways are cut at every node they share with another way (or visit twice), at their ends,
   and where a stretch runs out of the extract or the ``--bbox``. A closed way (a
   roundabout, a loop) is also cut at its middle vertex, so no link starts where it ends.
2. ``highway=traffic_signals`` on a junction signalizes it; on an inner node of a way it
   signalizes the nearest junction along that way within ``snap_m`` (SUMO's
   ``tls.guess-signals.dist``, 25 m: OSM puts signals on the stop lines of the approaches),
   else it stands alone as a signalized node (a mid-block crossing).
3. Junctions closer than ``join_m`` along a road are joined into one node at their mean
   position (SUMO's ``junctions.join``): the four nodes where two divided roads cross
   become one, and no link is shorter than ``join_m``, which keeps the traffic model's
   stable sub-step (the shortest link's free-flow time) above a second or so.
4. Each piece becomes one link per direction of travel (``oneway`` = yes, -1, or both
   ways); its length is the length of the way between the two nodes.
5. Only the largest strongly connected component is kept, so that every origin reaches
   every destination; what is dropped is counted.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from twin.citygen import ROAD_CLASS
from twin.errors import InputError
from twin.importers.osm_read import Roads
from twin.importers.osm_tags import Defaults

SNAP_M = 25.0


def _components(n: int, a: np.ndarray, b: np.ndarray, strong: bool) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=strong, connection="strong")[1]


def _edges(split: np.ndarray, piece: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive cut vertices of the same piece: the (start, end) vertex of each edge."""
    s = np.flatnonzero(split)
    same = piece[s[:-1]] == piece[s[1:]]
    return s[:-1][same], s[1:][same]


def _snap_signals(sig, junction, piece, cum, snap_m):
    """Vertex of the junction each inner-node signal belongs to (-1: none within snap_m)."""
    j = np.flatnonzero(junction)
    target = np.full(sig.size, -1, dtype=np.int64)
    if j.size == 0:
        return target
    at = np.searchsorted(j, sig)
    best = np.full(sig.size, np.inf)
    for cand in (j[np.maximum(at - 1, 0)], j[np.minimum(at, j.size - 1)]):
        d = np.abs(cum[cand] - cum[sig])
        ok = (piece[cand] == piece[sig]) & (d <= snap_m) & (d < best)
        best[ok], target[ok] = d[ok], cand[ok]
    return target


def build_network(
    roads: Roads,
    x: np.ndarray,
    y: np.ndarray,
    defaults: Defaults,
    join_m: float,
    fixes: Counter,
    stats: dict,
    snap_m: float = SNAP_M,
) -> dict[str, np.ndarray]:
    """The ``/roads`` arrays from the car-road ways; ``x``, ``y`` [m] per vertex (NaN: cut).

    Counts what it drops or guesses in ``fixes`` and sizes in ``stats``.
    """
    n_way = roads.way_id.size
    way_of = np.repeat(np.arange(n_way), np.diff(roads.start))
    seg = np.isfinite(x[:-1]) & np.isfinite(x[1:]) & (way_of[:-1] == way_of[1:])
    before, after = np.append(False, seg), np.append(seg, False)
    on_road = before | after
    piece = np.cumsum(after & ~before) - 1
    cum = np.append(0.0, np.cumsum(np.where(seg, np.hypot(np.diff(x), np.diff(y)), 0.0)))
    if not on_road.any():
        raise InputError(
            "no road segment has both its nodes in the extract (and inside --bbox, if given)"
        )

    ids, inverse = np.unique(roads.node_id[on_road], return_inverse=True)
    where = np.full(x.size, -1, dtype=np.int64)
    where[on_road] = inverse
    count = np.bincount(inverse, minlength=ids.size)
    k = np.flatnonzero(seg)
    degree = np.bincount(np.concatenate([where[k], where[k + 1]]), minlength=ids.size)
    split = on_road & ((count[where] >= 2) | (before != after))
    junction = on_road & (degree[where] >= 3)

    # signals: on a junction, snapped to one along the way, or a mid-block signal
    is_signal = np.isin(roads.node_id, roads.signals)
    sig = np.flatnonzero(is_signal & on_road & ~junction)
    target = _snap_signals(sig, junction, piece, cum, snap_m)
    split[sig[target < 0]] = True
    signal_ids = np.concatenate(
        [
            roads.node_id[is_signal & junction],
            roads.node_id[target[target >= 0]],
            roads.node_id[sig[target < 0]],
        ]
    )
    fixes["traffic signals moved to the junction along their way (within 25 m)"] += int(
        (target >= 0).sum()
    )
    fixes["traffic signals off any kept road, ignored"] += int(
        np.setdiff1d(roads.signals, roads.node_id[on_road]).size
    )

    a, b = _edges(split, piece)
    loop = (roads.node_id[a] == roads.node_id[b]) & (b - a >= 2)
    if loop.any():  # closed ways: cut at the middle vertex too
        split[(a[loop] + b[loop]) // 2] = True
        a, b = _edges(split, piece)
    length = cum[b] - cum[a]
    keep = roads.node_id[a] != roads.node_id[b]
    a, b, length = a[keep], b[keep], length[keep]

    node_ids, end_index = np.unique(roads.node_id[np.concatenate([a, b])], return_inverse=True)
    na, nb = end_index[: a.size], end_index[a.size :]
    first = np.empty(node_ids.size, dtype=np.int64)
    first[end_index] = np.concatenate([a, b])
    nx_, ny_ = x[first], y[first]
    stats["junctions before joining"] = int(node_ids.size)

    # join junctions linked by pieces shorter than join_m
    short = length < join_m
    label = _components(node_ids.size, na[short], nb[short], strong=False)
    _, label = np.unique(label, return_inverse=True)
    n_nodes = int(label.max()) + 1
    size = np.bincount(label, minlength=n_nodes)
    node_x = np.bincount(label, weights=nx_, minlength=n_nodes) / size
    node_y = np.bincount(label, weights=ny_, minlength=n_nodes) / size
    osm_node = np.full(n_nodes, np.iinfo(np.int64).max)
    np.minimum.at(osm_node, label, node_ids)
    signalized = np.zeros(n_nodes, dtype=bool)
    signalized[label[np.isin(node_ids, signal_ids)]] = True
    fixes["junction nodes joined into a neighbour closer than join_m"] += int(
        node_ids.size - n_nodes
    )
    ea, eb = label[na], label[nb]
    inner = ea == eb
    fixes["road pieces inside joined junctions, dropped"] += int(inner.sum())
    ea, eb, length, way = ea[~inner], eb[~inner], length[~inner], way_of[a[~inner]]

    # one link per direction of travel
    d = roads.direction[way]
    fwd, bwd = d >= 0, d <= 0
    frm = np.concatenate([ea[fwd], eb[bwd]])
    to = np.concatenate([eb[fwd], ea[bwd]])
    link_way = np.concatenate([way[fwd], way[bwd]])
    side = np.concatenate([np.zeros(fwd.sum(), np.int64), np.ones(bwd.sum(), np.int64)])
    link_length = np.concatenate([length[fwd], length[bwd]])

    # the largest strongly connected component
    comp = _components(n_nodes, frm, to, strong=True)
    main = comp == np.bincount(comp).argmax()
    keep = main[frm] & main[to]
    fixes["road nodes outside the largest strongly connected network, dropped"] += int(
        (~main).sum()
    )
    fixes["links outside the largest strongly connected network, dropped"] += int((~keep).sum())
    if not keep.any():
        raise InputError("the roads do not form a network: no two junctions are connected")
    new_id = np.cumsum(main) - 1
    frm, to, link_way, side = new_id[frm[keep]], new_id[to[keep]], link_way[keep], side[keep]
    link_length = link_length[keep]

    cls = [defaults.highway[name] for name in defaults.highway]
    highway = roads.highway[link_way]
    capacity = np.array([c.capacity_vph / 3600.0 for c in cls])[highway]
    jam = np.array([c.jam_density_vpkm / 1000.0 for c in cls])[highway]
    road_class = np.array([ROAD_CLASS.index(c.road_class) for c in cls], dtype=np.int8)
    speed = roads.speed_mps[link_way, side]
    # a triangular diagram needs capacity < v k_jam; at most half of it keeps the backward
    # wave no faster than free flow (slow streets, e.g. maxspeed=10, get less capacity)
    limit = 0.5 * speed * jam
    fixes["link capacities lowered to half of free speed x jam density"] += int(
        (capacity > limit).sum()
    )
    stats.update(nodes=int(main.sum()), links=int(keep.sum()))
    return {
        "x": node_x[main],
        "y": node_y[main],
        "signalized": signalized[main].astype(np.int8),
        "osm_node": osm_node[main],
        "from_node": frm.astype(np.int32),
        "to_node": to.astype(np.int32),
        "length": link_length.astype(np.float32),
        "lanes": roads.lanes[link_way, side].astype(np.int8),
        "free_speed": speed.astype(np.float32),
        "capacity": np.minimum(capacity, limit).astype(np.float32),
        "jam_density": jam.astype(np.float32),
        "road_class": road_class[highway],
        "source": roads.source[link_way, side].astype(np.int8),
        "osm_way": roads.way_id[link_way],
    }
