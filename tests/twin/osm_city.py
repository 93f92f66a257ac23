"""A small OpenStreetMap extract with known contents, written with pyosmium in the test.

Design coordinates are metres east and north of a UTM 52N (EPSG:32652) origin chosen on a
multiple of 50 m, so 50 m cells have their edges on round numbers: road nodes sit 10 m off
them, polygon edges lie on them, 25 m from the nearest cell centres (no ties).

Roads (junctions A..I on a 400 m grid, plus a roundabout, a spur and a joined stub)::

    G ===W3 oneway===> H ===W3===> I          W1 primary lanes=4 maxspeed=60, signal S
    |W4                ^W5 (-1)    |W6          10 m before B (snaps to B)
    D -----W2-------- E(sig) -M(sig)- F --W8 oneway--> J (dead end: dropped)
    |W4                |W5         |W6        W7 primary C-R1, roundabout R1-R2-R3-R4
    A ====W1====S B ====W1==== C --W7-- (R)   A-K 10 m (joined), K-L residential
    K
    |W11
    L
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pyproj import Transformer

ORIGIN = (400_000.0, 3_890_000.0)  # EPSG:32652, about 35.14 N, 127.90 E
CRS = "EPSG:32652"

NODES = {  # id: (x, y) design metres
    1: (10, 10),  # A
    2: (410, 10),  # B
    3: (810, 10),  # C
    4: (10, 410),  # D
    5: (410, 410),  # E (signal)
    6: (810, 410),  # F
    7: (10, 810),  # G
    8: (410, 810),  # H
    9: (810, 810),  # I
    10: (400, 10),  # S, signal 10 m before B
    11: (610, 410),  # M, mid-block signal on W2
    12: (1210, 410),  # J, dead end of a one-way spur
    13: (10, 0),  # K, 10 m from A: joined with it
    14: (10, -390),  # L
    21: (980, 10),  # R1 roundabout (west), R2 south, R3 east, R4 north
    22: (1010, -20),
    23: (1040, 10),
    24: (1010, 40),
    30: (2000, 2000),  # a traffic signal on no road
}
SIGNALS = (5, 10, 11, 30)
WAYS = {  # id: (node ids, tags)
    101: ([1, 10, 2, 3], {"highway": "primary", "lanes": "4", "maxspeed": "60"}),
    102: ([4, 5, 11, 6], {"highway": "residential"}),
    103: ([7, 8, 9], {"highway": "secondary", "oneway": "yes", "lanes": "2", "maxspeed": "30 mph"}),
    104: (
        [1, 4, 7],
        {"highway": "tertiary", "lanes:forward": "2", "lanes:backward": "1", "maxspeed": "40"},
    ),
    105: ([2, 5, 8], {"highway": "residential", "oneway": "-1"}),
    106: ([3, 6, 9], {"highway": "unclassified", "lanes": "abc", "maxspeed": "fast"}),
    107: ([3, 21], {"highway": "primary"}),
    108: ([21, 22, 23, 24, 21], {"highway": "tertiary", "junction": "roundabout"}),
    109: ([6, 12], {"highway": "residential", "oneway": "yes"}),
    110: ([4, 5], {"highway": "footway"}),
    111: ([1, 13], {"highway": "residential"}),
    112: ([13, 14], {"highway": "residential"}),
}


def box(x0, y0, x1, y1):
    """Corner points of an axis-aligned rectangle, closed, counter-clockwise."""
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


POLYGONS = {  # way id: (ring, tags); closed ways become areas
    201: (box(200, 200, 210, 210), {"building": "house", "height": "9"}),
    202: (box(250, 250, 270, 280), {"building": "apartments", "building:levels": "4"}),
    203: (box(490, 190, 510, 210), {"building": "yes"}),
    205: (box(900, 600, 910, 610), {"building": "yes", "height": "-5", "building:levels": "1e9"}),
    206: (box(3000, 0, 3010, 10), {"building": "yes"}),  # outside the grid
    301: (box(100, 500, 300, 700), {"natural": "water"}),
    302: (box(450, 100, 550, 300), {"landuse": "commercial"}),
    303: (box(700, 600, 800, 700), {"leisure": "park"}),
    304: (box(0, 0, 400, 400), {"landuse": "residential"}),
}
# a multipolygon building with a hole: outer 40 x 40 m, inner 10 x 10 m
MULTIPOLYGON = {
    "outer": box(320, 520, 360, 560),
    "inner": box(335, 535, 345, 545),
    "tags": {"type": "multipolygon", "building": "office", "height": "20"},
}
RIVER = ([(610, -390), (610, 810)], {"waterway": "river"})


def to_lonlat(x, y):
    """Design metres to lon/lat degrees."""
    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    return t.transform(ORIGIN[0] + np.asarray(x, float), ORIGIN[1] + np.asarray(y, float))


def write(path: Path, *, ways=WAYS, polygons=POLYGONS, multipolygon=True, river=True) -> Path:
    """Write the extract (``.osm.pbf`` or ``.osm`` by suffix) and return its path."""
    import osmium
    from osmium.osm.mutable import Node, Relation, Way

    points = dict(NODES)
    next_id = 1000
    rings = {}
    for wid, (ring, _) in polygons.items():
        ids = []
        for xy in ring[:-1]:
            points[next_id] = xy
            ids.append(next_id)
            next_id += 1
        rings[wid] = [*ids, ids[0]]
    mp_rings = {}
    for key in ("outer", "inner"):
        ids = []
        for xy in MULTIPOLYGON[key][:-1]:
            points[next_id] = xy
            ids.append(next_id)
            next_id += 1
        mp_rings[key] = [*ids, ids[0]]
    river_ids = []
    for xy in RIVER[0]:
        points[next_id] = xy
        river_ids.append(next_id)
        next_id += 1

    writer = osmium.SimpleWriter(str(path), overwrite=True)
    for nid in sorted(points):
        lon, lat = to_lonlat(*points[nid])
        tags = {"highway": "traffic_signals"} if nid in SIGNALS else {}
        writer.add_node(Node(id=nid, location=(float(lon), float(lat)), tags=tags))
    all_ways = {wid: (nodes, tags) for wid, (nodes, tags) in ways.items()}
    all_ways |= {wid: (rings[wid], tags) for wid, (_, tags) in polygons.items()}
    if multipolygon:
        all_ways |= {401: (mp_rings["outer"], {}), 402: (mp_rings["inner"], {})}
    if river:
        all_ways[501] = (river_ids, RIVER[1])
    for wid in sorted(all_ways):  # readers (the area assembler) expect ids in order
        writer.add_way(Way(id=wid, nodes=all_ways[wid][0], tags=all_ways[wid][1]))
    if multipolygon:
        members = [("w", 401, "outer"), ("w", 402, "inner")]
        writer.add_relation(Relation(id=601, members=members, tags=MULTIPOLYGON["tags"]))
    writer.close()
    return path


def write_grid_city(
    path: Path,
    blocks: int = 6,
    block_m: float = 300.0,
    per_block: int = 4,
    nonsense_every: int = 0,
    jitter_m: float = 0.0,
) -> dict[str, int]:
    """A synthetic grid city streamed to ``path``; returns the counts of what it wrote.

    ``blocks`` x ``blocks`` blocks of ``block_m``; every fifth street is a primary
    (``lanes=4``, 60 km/h; signals where two cross), the others residential, alternately
    one-way in opposite directions (``oneway=yes`` / ``-1``) so the grid stays strongly
    connected. Each block holds ``per_block`` buildings (house with ``height``, apartments
    with ``building:levels``, ``building=yes`` without either, in turn) and one land-use
    polygon (residential, commercial, a park or water in turn); every tenth block also a
    multipolygon office with a courtyard. With ``nonsense_every = k``, every k-th street
    has ``lanes=abc maxspeed=fast`` and every k-th building ``height=-5
    building:levels=1e9``: the returned counts say how many. ``jitter_m`` moves every
    building and land-use corner by up to that much (seeded), so coordinates compress like
    surveyed ones. Objects are written as they are made (nothing but one block is held);
    node ids follow from block numbers.
    """
    import osmium
    from osmium.osm.mutable import Node, Relation, Way

    n = blocks + 1
    setback, way_blocks = 20.0, 5
    rings_per_block = per_block + 3  # buildings, land use, courtyard outer and inner
    counts = dict.fromkeys(("nodes", "ways", "relations", "buildings"), 0)
    counts |= {"bad_roads": 0, "bad_buildings": 0}
    lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform
    per_row = -(-per_block // 2)  # buildings face the streets on the south and north sides
    lots = np.linspace(setback, block_m - setback, per_row + 1)
    width = min(lots[1] - lots[0] - 4.0, 40.0)
    depth = min(width, (block_m - 2 * setback - 40.0) / 2 - 5.0)
    writer = osmium.SimpleWriter(str(path), overwrite=True)

    def first_node(block: int) -> int:
        return n * n + 1 + block * rings_per_block * 4

    def block_rings(block: int) -> list:
        x0, y0 = 10 + (block % blocks) * block_m, 10 + (block // blocks) * block_m
        rings = []
        for k in range(per_block):
            bx = x0 + lots[k // 2]
            by = y0 + setback if k % 2 == 0 else y0 + block_m - setback - depth
            rings.append(box(bx, by, bx + width, by + depth))
        rings.append(box(x0 + 5, y0 + 5, x0 + block_m - 5, y0 + block_m - 5))
        if block % 10 == 0:  # an office with a courtyard in the middle of the block
            xc, yc = x0 + block_m / 2 - 20, y0 + block_m / 2 - 15
            rings.append(box(xc, yc, xc + 40, yc + 30))
            rings.append(box(xc + 15, yc + 10, xc + 25, yc + 20))
        return rings

    def nodes(xy: np.ndarray, first_id: int, signal=None) -> None:
        lon, lat = lonlat(ORIGIN[0] + xy[:, 0], ORIGIN[1] + xy[:, 1])
        for k in range(len(xy)):
            tags = {"highway": "traffic_signals"} if signal is not None and signal[k] else {}
            writer.add_node(Node(id=first_id + k, location=(lon[k], lat[k]), tags=tags))
        counts["nodes"] += len(xy)

    jj, ii = np.divmod(np.arange(n * n), n)
    xy = np.column_stack([10 + ii * block_m, 10 + jj * block_m]).astype(np.float64)
    nodes(xy, 1, signal=(ii % 5 == 0) & (jj % 5 == 0))
    rng = np.random.default_rng(0)
    for b in range(blocks * blocks):
        corners = np.array([ring[:-1] for ring in block_rings(b)], dtype=np.float64)
        corners = corners.reshape(-1, 2) + rng.uniform(-jitter_m, jitter_m, (corners.size // 2, 2))
        nodes(corners, first_node(b))

    def way(wid, refs, tags):
        writer.add_way(Way(id=wid, nodes=[int(r) for r in refs], tags=tags))
        counts["ways"] += 1

    wid = 1
    for horizontal in (True, False):
        for line in range(n):
            for start in range(0, blocks, way_blocks):
                pos = np.arange(start, min(start + way_blocks, blocks) + 1)
                refs = (1 + line * n + pos) if horizontal else (1 + pos * n + line)
                if line % 5 == 0:
                    tags = {"highway": "primary", "lanes": "4", "maxspeed": "60"}
                elif line % 2:
                    tags = {"highway": "residential", "oneway": "yes" if line % 4 == 1 else "-1"}
                else:
                    tags = {"highway": "residential"}
                if nonsense_every and wid % nonsense_every == 0:
                    tags |= {"lanes": "abc", "maxspeed": "fast"}
                    counts["bad_roads"] += 1
                way(wid, refs, tags)
                wid += 1
    uses = (
        {"landuse": "residential"},
        {"landuse": "commercial"},
        {"leisure": "park"},
        {"landuse": "residential"},
        {"natural": "water"},
    )
    kinds = (
        {"building": "house", "height": "9"},
        {"building": "apartments", "building:levels": "6"},
        {"building": "yes"},
    )
    courtyards = []
    for b in range(blocks * blocks):
        ids = first_node(b) + 4 * np.arange(rings_per_block)
        for k in range(per_block):
            tags = dict(kinds[(b + k) % 3])
            if nonsense_every and counts["buildings"] % nonsense_every == 0:
                tags |= {"height": "-5", "building:levels": "1e9"}
                counts["bad_buildings"] += 1
            way(wid, [*range(ids[k], ids[k] + 4), ids[k]], tags)
            wid += 1
            counts["buildings"] += 1
        way(wid, [*range(ids[per_block], ids[per_block] + 4), ids[per_block]], uses[b % 5])
        wid += 1
        if b % 10 == 0:
            for ring in (per_block + 1, per_block + 2):
                way(wid, [*range(ids[ring], ids[ring] + 4), ids[ring]], {})
                wid += 1
            courtyards.append(wid - 2)
    for rid, outer in enumerate(courtyards, start=1):
        members = [("w", outer, "outer"), ("w", outer + 1, "inner")]
        tags = {"type": "multipolygon", "building": "office", "height": "20"}
        writer.add_relation(Relation(id=rid, members=members, tags=tags))
        counts["relations"] += 1
        counts["buildings"] += 1
    writer.close()
    return counts
