"""Seeded procedural generator: a dataset manifest's anchors -> a plausible city.

Every field is a function of world coordinates (metres) evaluated at cell centres,
so the same city is drawn at any resolution; buildings and roads live on fixed
world lattices and do not depend on the resolution at all. Random draws come from
``numpy.random.SeedSequence(seed)`` children, one per component, in a fixed order:
same arguments, identical arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyproj import Transformer

from twin.catalog import Manifest

LAND_USE = ("water", "forest", "cropland", "residential", "commercial", "industrial", "airport")
BUILDING_USE = ("residential", "commercial", "industrial", "public")
ROAD_CLASS = ("local", "arterial", "ring")
SENSOR_KINDS = ("air", "loop", "meter")
WATER, FOREST, CROPLAND, RESIDENTIAL, COMMERCIAL, INDUSTRIAL, AIRPORT = range(7)

_NOISE_OCTAVES_M = (4000.0, 2000.0, 1000.0, 500.0)


@dataclass(frozen=True)
class _Fields:
    """The manifest's anchors projected to metres, plus seeded noise lattices."""

    m: Manifest
    districts: np.ndarray  # (n, 2) x, y
    mountains: np.ndarray  # (n, 4) x, y, peak, radius
    centres: np.ndarray  # (n, 4) x, y, weight, radius
    industrial: np.ndarray  # (n, 4) x, y, a, b
    rivers: list[tuple[np.ndarray, float]]  # (segments (k, 4), width)
    airport: tuple[float, float] | None
    noise: list[np.ndarray]  # one lattice per octave

    def value_noise(self, x, y, octaves=_NOISE_OCTAVES_M) -> np.ndarray:
        """Smooth fractal noise in about [-1, 1] at points (x, y) [m]."""
        xmin, ymin = self.m.bounds_m[:2]
        total = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y)))
        for amp, (spacing, lattice) in enumerate(zip(_NOISE_OCTAVES_M, self.noise, strict=True)):
            if spacing not in octaves:
                continue
            fx, fy = (x - xmin) / spacing, (y - ymin) / spacing
            i, j = np.floor(fx).astype(np.intp), np.floor(fy).astype(np.intp)
            tx, ty = _smooth(fx - i), _smooth(fy - j)
            i, j = np.clip(i, 0, lattice.shape[1] - 2), np.clip(j, 0, lattice.shape[0] - 2)
            top = lattice[j, i] * (1 - tx) + lattice[j, i + 1] * tx
            bottom = lattice[j + 1, i] * (1 - tx) + lattice[j + 1, i + 1] * tx
            total += 0.5**amp * (top * (1 - ty) + bottom * ty)
        return total

    def elevation(self, x, y) -> np.ndarray:
        """Terrain height [m]: Gaussian massifs, rolling hills, river valleys."""
        base = self.m.base_elevation_m
        z = base + 18.0 * (self.value_noise(x, y) + 0.6)
        for mx, my, peak, radius in self.mountains:
            r2 = ((x - mx) ** 2 + (y - my) ** 2) / radius**2
            ridges = 1.0 + 0.15 * self.value_noise(x, y, octaves=(1000.0, 500.0))
            z = z + (peak - base) * np.exp(-r2) * ridges
        valley = np.exp(-((self.river_distance(x, y) / 600.0) ** 2))
        return np.maximum(z - valley * (z - base + 5.0).clip(0, 30), 2.0)

    def river_distance(self, x, y) -> np.ndarray:
        """Distance [m] to the nearest river bank (0 inside a river)."""
        best = np.full(np.broadcast_shapes(np.shape(x), np.shape(y)), np.inf)
        for segments, width in self.rivers:
            for x0, y0, x1, y1 in segments:
                dx, dy = x1 - x0, y1 - y0
                t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0, 1)
                d = np.hypot(x - (x0 + t * dx), y - (y0 + t * dy)) - width / 2
                np.minimum(best, d, out=best)
        return np.maximum(best, 0.0)

    def urban(self, x, y, elevation) -> np.ndarray:
        """Urban intensity in [0, 1]: Gaussian centres, noise, none on steep high ground."""
        u = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y)))
        for cx, cy, weight, radius in self.centres:
            np.maximum(u, weight * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / radius**2), out=u)
        u *= 1.0 + 0.3 * self.value_noise(x, y, octaves=(1000.0, 500.0))
        height_above = elevation - self.m.base_elevation_m
        return np.clip(u * np.clip((90.0 - height_above) / 60.0, 0, 1), 0, 1)

    def land_use(self, x, y, elevation, urban, water_margin_m) -> np.ndarray:
        """Land-use class index (``LAND_USE``) at points."""
        lu = np.full(urban.shape, CROPLAND, dtype=np.int8)
        green = self.value_noise(x + 7777.0, y - 3333.0)
        lu[(elevation - self.m.base_elevation_m > 45) | ((green > 0.45) & (urban < 0.3))] = FOREST
        lu[urban > 0.22] = RESIDENTIAL
        lu[urban > 0.72] = COMMERCIAL
        for cx, cy, a, b in self.industrial:
            lu[((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1] = INDUSTRIAL
        lu[self.in_airport(x, y)] = AIRPORT
        lu[self.river_distance(x, y) <= water_margin_m] = WATER
        return lu

    def in_airport(self, x, y) -> np.ndarray:
        if self.airport is None:
            return np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y)), dtype=bool)
        ax, ay = self.airport
        a = self.m.airport
        theta = np.deg2rad(a.bearing_deg)  # bearing clockwise from north
        along = (x - ax) * np.sin(theta) + (y - ay) * np.cos(theta)
        across = (x - ax) * np.cos(theta) - (y - ay) * np.sin(theta)
        return (np.abs(along) <= a.length_m / 2) & (np.abs(across) <= a.width_m / 2)

    def district(self, x, y) -> np.ndarray:
        """District index of the nearest district centroid."""
        best = np.full(np.broadcast_shapes(np.shape(x), np.shape(y)), np.inf)
        index = np.zeros(best.shape, dtype=np.int8)
        for k, (dx, dy) in enumerate(self.districts):
            d = np.hypot(x - dx, y - dy)
            closer = d < best
            best[closer], index[closer] = d[closer], k
        return index


def _smooth(t):
    return t * t * (3 - 2 * t)


def _fields(m: Manifest, noise_rng: np.random.Generator) -> _Fields:
    to_xy = Transformer.from_crs("EPSG:4326", m.crs, always_xy=True).transform

    def xy(places):
        return np.array([to_xy(p.lon, p.lat) for p in places]).reshape(-1, 2)

    xmin, ymin, xmax, ymax = m.bounds_m
    noise = [
        noise_rng.uniform(-1, 1, size=(int((ymax - ymin) // s) + 3, int((xmax - xmin) // s) + 3))
        for s in _NOISE_OCTAVES_M
    ]
    rivers = []
    for r in m.rivers:
        pts = np.array([to_xy(lon, lat) for lat, lon in r.path])
        rivers.append((np.hstack([pts[:-1], pts[1:]]), r.width_m))
    return _Fields(
        m=m,
        districts=xy(m.districts),
        mountains=np.column_stack(
            [xy(m.mountains), [(v.peak_m, v.radius_m) for v in m.mountains]]
        ).reshape(-1, 4),
        centres=np.column_stack(
            [xy(m.centres), [(c.weight, c.radius_m) for c in m.centres]]
        ).reshape(-1, 4),
        industrial=np.column_stack(
            [xy(m.industrial), [c.semi_axes_m for c in m.industrial]]
        ).reshape(-1, 4),
        rivers=rivers,
        airport=tuple(xy([m.airport])[0]) if m.airport else None,
        noise=noise,
    )


def generate(m: Manifest, resolution_m: float, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Generate every group of a city as plain arrays.

    Parameters
    ----------
    m : a validated manifest.
    resolution_m : grid cell size [m].
    seed : random seed; the same (manifest, resolution, seed) gives identical arrays.

    Returns
    -------
    dict
        ``{"grid": {...}, "buildings": {...}, "roads": {...}, "districts": {...},
        "sensors": {...}}`` of NumPy arrays named as in docs/variables.md; ``grid`` also
        holds the cell-centre coordinates ``x`` and ``y``.
    """
    noise_rng, lot_rng, sensor_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    f = _fields(m, noise_rng)
    grid = _grid(f, resolution_m)
    buildings = _buildings(f, lot_rng)
    grid["building_height"] = rasterize_heights(buildings, grid["x"], grid["y"], resolution_m)
    roads = _roads(f)
    districts = {
        "name": np.array([d.name for d in m.districts], dtype=object),
        "population": np.array([d.population for d in m.districts], dtype=np.int64),
        "area": np.bincount(grid["district"].ravel(), minlength=len(m.districts)).astype(np.float64)
        * resolution_m**2,
    }
    sensors = _sensors(f, buildings, roads, sensor_rng)
    return {
        "grid": grid,
        "buildings": buildings,
        "roads": roads,
        "districts": districts,
        "sensors": sensors,
    }


def _grid(f: _Fields, res: float) -> dict[str, np.ndarray]:
    xmin, ymin, xmax, ymax = f.m.bounds_m
    nx, ny = max(round((xmax - xmin) / res), 1), max(round((ymax - ymin) / res), 1)
    x = xmin + (np.arange(nx) + 0.5) * res
    y = ymin + (np.arange(ny) + 0.5) * res
    gx, gy = np.meshgrid(x, y)  # (ny, nx), row 0 is the southern edge
    elevation = f.elevation(gx, gy)
    urban = f.urban(gx, gy, elevation)
    # a river narrower than a cell still shows as a connected line of water cells
    lu = f.land_use(gx, gy, elevation, urban, water_margin_m=res / 2)
    district = f.district(gx, gy)
    weight = urban * ((lu == RESIDENTIAL) + 0.3 * (lu == COMMERCIAL))
    population = np.zeros_like(weight)
    for k, d in enumerate(f.m.districts):
        inside = district == k
        w = np.where(inside, weight, 0.0)
        if w.sum() <= 0:  # a coarse grid may miss a district's housing: spread evenly
            w = inside * 1.0
        if w.sum() > 0:
            population += d.population * w / w.sum()
    return {
        "x": x,
        "y": y,
        "elevation": elevation.astype(np.float32),
        "land_use": lu,
        "population": population.astype(np.float32),
        "district": district,
    }


def _buildings(f: _Fields, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Buildings on a jittered world lattice of lots: use, footprint and height."""
    xmin, ymin, xmax, ymax = f.m.bounds_m
    s = f.m.lot_spacing_m
    nx, ny = int((xmax - xmin) // s), int((ymax - ymin) // s)
    n = nx * ny
    jx, jy, keep, pub, apt, floors_u, wu, du = rng.uniform(size=(8, n))
    i, j = np.arange(n) % nx, np.arange(n) // nx
    x = xmin + (i + 0.5 + 0.3 * (jx - 0.5)) * s
    y = ymin + (j + 0.5 + 0.3 * (jy - 0.5)) * s
    elevation = f.elevation(x, y)
    urban = f.urban(x, y, elevation)
    lu = f.land_use(x, y, elevation, urban, water_margin_m=30.0)
    chance = np.select(
        [lu == RESIDENTIAL, lu == COMMERCIAL, lu == INDUSTRIAL], [0.2 + 0.6 * urban, 0.55, 0.55], 0
    )
    sel = keep < chance
    x, y, lu, urban = x[sel], y[sel], lu[sel], urban[sel]
    pub, apt, floors_u, wu, du = pub[sel], apt[sel], floors_u[sel], wu[sel], du[sel]

    use = np.select([lu == COMMERCIAL, lu == INDUSTRIAL], [1, 2], 0).astype(np.int8)
    use[(use == 0) & (pub < 0.04)] = 3
    tower = (use == 0) & (apt < np.clip(0.4 * urban - 0.1, 0.02, 0.25))
    # per use: floors, storey height [m], footprint ranges [m] (width, depth)
    floors = np.select(
        [tower, use == 0, use == 1, use == 2],
        [
            10 + np.floor(floors_u * 11),
            1 + np.floor(floors_u * 4),
            2 + np.floor(floors_u**3 * (4 + 24 * urban)),
            1 + np.floor(floors_u * 2),
        ],
        3 + np.floor(floors_u * 3),
    )
    storey = np.select([use == 0, use == 2], [2.9, 7.0], 4.0)
    w_lo, w_hi, d_lo, d_hi = (
        np.select([tower, use == 0, use == 1, use == 2], v, dflt)
        for v, dflt in zip(
            ([40, 10, 15, 30], [52, 20, 35, 55], [14, 10, 15, 30], [18, 20, 35, 55]),
            (30, 50, 30, 50),
            strict=True,
        )
    )
    width = np.minimum(w_lo + wu * (w_hi - w_lo), 0.9 * s)  # stay inside the lot
    depth = np.minimum(d_lo + du * (d_hi - d_lo), 0.9 * s)
    height = floors * storey
    return {
        "x": x,
        "y": y,
        "width": width.astype(np.float32),
        "depth": depth.astype(np.float32),
        "height": height.astype(np.float32),
        "use": use,
        "floor_area": (width * depth * floors).astype(np.float32),
        "district": f.district(x, y),
    }


def rasterize_heights(b, x, y, res) -> np.ndarray:
    """Tallest building footprint touching each cell [m] (0 where none)."""
    grid = np.zeros((y.size, x.size), dtype=np.float32)
    x0, y0 = x[0] - res / 2, y[0] - res / 2
    ix0 = np.floor((b["x"] - b["width"] / 2 - x0) / res).astype(np.intp)
    ix1 = np.floor((b["x"] + b["width"] / 2 - x0) / res).astype(np.intp)
    iy0 = np.floor((b["y"] - b["depth"] / 2 - y0) / res).astype(np.intp)
    iy1 = np.floor((b["y"] + b["depth"] / 2 - y0) / res).astype(np.intp)
    span = int(max((ix1 - ix0).max(initial=0), (iy1 - iy0).max(initial=0)))
    for dj in range(span + 1):
        for di in range(span + 1):
            ix, iy = ix0 + di, iy0 + dj
            ok = (ix <= ix1) & (iy <= iy1) & (ix >= 0) & (iy >= 0) & (ix < x.size) & (iy < y.size)
            np.maximum.at(grid, (iy[ok], ix[ok]), b["height"][ok])
    return grid


def _roads(f: _Fields) -> dict[str, np.ndarray]:
    """Street lattice with arterials every k-th line, plus a ring expressway."""
    r = f.m.roads
    xmin, ymin, xmax, ymax = f.m.bounds_m
    s = r.spacing_m
    nx, ny = int((xmax - xmin) // s), int((ymax - ymin) // s)
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny))
    ii, jj = ii.ravel(), jj.ravel()
    lx, ly = xmin + (ii + 0.5) * s, ymin + (jj + 0.5) * s
    elev = f.elevation(lx, ly)
    urban = f.urban(lx, ly, elev)
    lu = f.land_use(lx, ly, elev, urban, water_margin_m=0.0)
    art_i, art_j = ii % r.arterial_every == 0, jj % r.arterial_every == 0
    buildable = (lu != WATER) & (lu != AIRPORT)
    low = elev - f.m.base_elevation_m < 80
    keep = buildable & (
        ((urban > 0.12) & (lu != FOREST)) | ((art_i | art_j) & (urban > 0.03) & low)
    )
    node_id = np.full(nx * ny, -1)
    node_id[keep] = np.arange(keep.sum())
    nodes_x, nodes_y = lx[keep], ly[keep]

    edges, classes = [], []
    for di, dj, on_arterial in ((1, 0, art_j), (0, 1, art_i)):
        a = np.flatnonzero(keep & (ii + di < nx) & (jj + dj < ny))
        b = a + di + dj * nx
        ok = keep[b]
        a, b, art = a[ok], b[ok], on_arterial[a[ok]]
        crossing = _crosses(f, lx[a], ly[a], lx[b], ly[b])
        ok = ~crossing["airport"] & (art | ~crossing["water"])  # only arterials bridge rivers
        edges.append(np.column_stack([node_id[a[ok]], node_id[b[ok]]]))
        classes.append(np.where(art[ok], 1, 0))

    # ring road: nodes on an ellipse, consecutive links, interchanges to the nearest street node
    to_xy = Transformer.from_crs("EPSG:4326", f.m.crs, always_xy=True).transform
    cx, cy = to_xy(r.ring_centre_lon, r.ring_centre_lat)
    a_m, b_m = r.ring_semi_axes_m
    perimeter = np.pi * (3 * (a_m + b_m) - np.sqrt((3 * a_m + b_m) * (a_m + 3 * b_m)))
    n_ring = max(int(perimeter // r.ring_node_spacing_m), 3)
    t = 2 * np.pi * np.arange(n_ring) / n_ring
    rx, ry = cx + a_m * np.cos(t), cy + b_m * np.sin(t)
    ring_ids = nodes_x.size + np.arange(n_ring)
    edges.append(np.column_stack([ring_ids, np.roll(ring_ids, -1)]))
    classes.append(np.full(n_ring, 2))
    d = np.hypot(rx[:, None] - nodes_x[None, :], ry[:, None] - nodes_y[None, :])
    nearest = d.argmin(axis=1)
    near = d[np.arange(n_ring), nearest] <= 0.75 * s
    edges.append(np.column_stack([ring_ids[near], nearest[near]]))
    classes.append(np.full(near.sum(), 1))

    node_x, node_y = np.concatenate([nodes_x, rx]), np.concatenate([nodes_y, ry])
    edges, classes = np.concatenate(edges), np.concatenate(classes)
    ring_node = np.arange(node_x.size) >= nodes_x.size

    # keep the largest connected piece, so every node can reach every other
    label = _components(node_x.size, edges)
    main = label == np.bincount(label).argmax()
    new_id = np.cumsum(main) - 1
    edge_ok = main[edges[:, 0]]
    edges, classes = new_id[edges[edge_ok]], classes[edge_ok]
    node_x, node_y, ring_node = node_x[main], node_y[main], ring_node[main]

    degree = np.bincount(edges.ravel(), minlength=node_x.size)
    frm = np.concatenate([edges[:, 0], edges[:, 1]])
    to = np.concatenate([edges[:, 1], edges[:, 0]])
    cls = np.concatenate([classes, classes]).astype(np.int8)
    params = np.array(
        [
            [c.lanes, c.free_speed_kmh / 3.6, c.capacity_vph / 3600.0, c.jam_density_vpkm / 1000.0]
            for c in (r.local, r.arterial, r.ring)
        ]
    )[cls]
    return {
        "x": node_x,
        "y": node_y,
        "signalized": ((degree >= 3) & ~ring_node).astype(np.int8),
        "from_node": frm.astype(np.int32),
        "to_node": to.astype(np.int32),
        "length": np.hypot(node_x[to] - node_x[frm], node_y[to] - node_y[frm]).astype(np.float32),
        "lanes": params[:, 0].astype(np.int8),
        "free_speed": params[:, 1].astype(np.float32),
        "capacity": params[:, 2].astype(np.float32),
        "jam_density": params[:, 3].astype(np.float32),
        "road_class": cls,
    }


def _crosses(f: _Fields, x0, y0, x1, y1, samples: int = 16) -> dict[str, np.ndarray]:
    """Whether straight segments cross water or the airfield (sampled every ~40 m)."""
    t = np.linspace(0, 1, samples)[:, None]
    x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    return {
        "water": (f.river_distance(x, y) <= 0).any(axis=0),
        "airport": f.in_airport(x, y).any(axis=0),
    }


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected-component label (smallest node index) of each node, undirected."""
    label = np.arange(n)
    while True:
        new = label.copy()
        np.minimum.at(new, edges[:, 0], label[edges[:, 1]])
        np.minimum.at(new, edges[:, 1], label[edges[:, 0]])
        new = new[new]  # pointer jumping: halves the number of sweeps
        if np.array_equal(new, label):
            return label
        label = new


def _sensors(f: _Fields, buildings, roads, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Air monitors at the manifest's sites, loop detectors on arterials, smart meters."""
    s = f.m.sensors
    to_xy = Transformer.from_crs("EPSG:4326", f.m.crs, always_xy=True).transform
    air = np.array([to_xy(p.lon, p.lat) for p in s.air]).reshape(-1, 2)
    arterial = np.flatnonzero(roads["road_class"] == 1)
    loops = np.sort(rng.choice(arterial, size=min(s.loop_detectors, arterial.size), replace=False))
    n_b = buildings["x"].size
    meters = np.sort(rng.choice(n_b, size=min(s.smart_meters, n_b), replace=False))
    fx, tx = roads["x"][roads["from_node"][loops]], roads["x"][roads["to_node"][loops]]
    fy, ty = roads["y"][roads["from_node"][loops]], roads["y"][roads["to_node"][loops]]
    kinds = ["air"] * len(air) + ["loop"] * loops.size + ["meter"] * meters.size
    return {
        "kind": np.array(kinds, dtype=object),
        "name": np.array(
            [p.name for p in s.air] + [f"loop-{i}" for i in loops] + [f"meter-{i}" for i in meters],
            dtype=object,
        ),
        "x": np.concatenate([air[:, 0], (fx + tx) / 2, buildings["x"][meters]]),
        "y": np.concatenate([air[:, 1], (fy + ty) / 2, buildings["y"][meters]]),
        "target": np.concatenate([np.full(len(air), -1), loops, meters]).astype(np.int64),
    }
