"""Air-taxi routes: shortest paths on a 3D occupancy grid over the city, on ``xp``.

The air space is a lattice of route cells (``cell_m`` square, ``dz_m`` tall) from the
lowest ground up to a ceiling. A node is free when it is at least ``clearance_m`` above
every obstacle top (terrain plus buildings) in its own route cell and the 8 around it
and outside every no-fly volume. Moves go to the 24 neighbours that are not straight
above or below (:data:`OFFSETS`), between free nodes; a
move's horizontal track stays inside the 2 x 2 block of route cells shared by the two
nodes' neighbourhoods and its height is never below the lower node, so every point of a
route keeps the clearance, not only its nodes (:func:`route_clearance` measures it on
the city's own grid).

The cost of a move ``a -> b`` of length ``l`` [m] and climb ``dz`` [m] is
``l (w_length + w_noise (n_a + n_b) / 2) + w_climb max(dz, 0)``, with ``n`` the noise
field of :func:`noise_field` (people under the node weighted by the sound energy they
receive per metre flown, normalised to a mean of 1 over free nodes). Cost-to-go fields
are computed for each destination by a vectorised Bellman-Ford wavefront (all nodes
relaxed over all 24 moves per sweep, shifted slices only) until nothing changes: the
fixed point is the exact shortest-path cost on the lattice (Bellman 1958). The sweeps
run on the device; their convergence test reads one value per sweep on the host, so
routing runs at a model's init and at route updates, never inside a coupling step.

References
----------
Bellman, R. (1958). On a routing problem. Quarterly of Applied Mathematics 16, 87-90.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

import gpu

# moves between nodes: to the 8 horizontal neighbours on the same level, one up or one
# down; no purely vertical move (an air taxi climbs and descends wing-borne on the way,
# vertical flight, slow and loud, is for the pads' columns only)
OFFSETS = tuple(o for o in itertools.product((-1, 0, 1), repeat=3) if o[1:] != (0, 0))


@dataclass(frozen=True)
class Weights:
    """Route cost weights: per metre flown, per metre climbed, per metre and unit noise."""

    length: float = 1.0
    climb: float = 0.0
    noise: float = 0.0

    def __post_init__(self):
        for name in ("length", "climb", "noise"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"route weight {name}={value!r} must be finite and >= 0")
        if self.length == 0 and self.climb == 0 and self.noise == 0:
            raise ValueError("route weights are all zero; give length, climb or noise a weight")


@dataclass(frozen=True)
class RouteGrid:
    """The lattice of route cells (host arrays).

    Attributes
    ----------
    x, y : (nx,), (ny,) [m] route-cell centres.
    z : (nz,) [m] level heights above sea level.
    free : (nz, ny, nx) bool, nodes a route may use.
    top : (ny, nx) [m] highest obstacle (terrain + buildings) in each route cell.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    free: np.ndarray
    top: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.free.shape

    @property
    def spacing(self) -> tuple[float, float, float]:
        """(dz, dy, dx) [m]."""

        def step(v):
            return float(v[1] - v[0]) if v.size > 1 else 1.0

        return step(self.z), step(self.y), step(self.x)

    def node(self, x: float, y: float) -> tuple[int, int, int]:
        """The lowest free node above point (x, y) [m]; ValueError if the column is full."""
        ix = int(np.clip(np.rint((x - self.x[0]) / self.spacing[2]), 0, self.x.size - 1))
        iy = int(np.clip(np.rint((y - self.y[0]) / self.spacing[1]), 0, self.y.size - 1))
        column = np.flatnonzero(self.free[:, iy, ix])
        if column.size == 0:
            raise ValueError(
                f"no free air space above ({x:.0f}, {y:.0f}) m up to the ceiling "
                f"({self.z[-1]:.0f} m): obstacles, clearance or a no-fly volume fill it"
            )
        return int(column[0]), iy, ix


def blocks(a: np.ndarray, k: int, reduce: str = "max") -> np.ndarray:
    """``reduce`` ("max", "mean" or "sum") over k x k blocks of a grid, from cell (0, 0);
    the last blocks of a side that is not a multiple of k have only the cells there."""
    ny, nx = a.shape
    pad = ((0, -ny % k), (0, -nx % k))
    values = np.pad(np.asarray(a, dtype=float), pad, constant_values=np.nan)
    shaped = values.reshape(values.shape[0] // k, k, values.shape[1] // k, k)
    return {"max": np.nanmax, "mean": np.nanmean, "sum": np.nansum}[reduce](shaped, axis=(1, 3))


def _neighbourhood_max(a: np.ndarray) -> np.ndarray:
    """Maximum over each cell and its 8 neighbours."""
    p = np.pad(a, 1, mode="edge")
    ny, nx = a.shape
    return np.max([p[i : i + ny, j : j + nx] for i in range(3) for j in range(3)], axis=0)


def route_grid(
    surface: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    cell_m: float,
    dz_m: float,
    ceiling_m: float,
    clearance_m: float,
    no_fly=(),
) -> RouteGrid:
    """The route lattice over a city grid.

    Parameters
    ----------
    surface : (ny, nx) [m] obstacle top per city cell (elevation + building height).
    x, y : (nx,), (ny,) [m] city cell centres (ascending, equal spacing).
    cell_m : [m] route cell side, rounded to a whole number of city cells.
    dz_m : [m] level spacing; levels start one spacing above the lowest ground.
    ceiling_m : [m] highest level above sea level.
    clearance_m : [m] least height above the obstacles of a node's neighbourhood.
    no_fly : volumes ``(polygon (k, 2) [m], floor_m, ceiling_m)`` routes may not enter
        (heights above sea level; a route node inside the polygon between them is blocked).
    """
    res = float(x[1] - x[0]) if x.size > 1 else float(cell_m)
    k = max(1, round(cell_m / res))
    top = blocks(surface, k)
    ny, nx = top.shape
    rx = x[0] + res * (k - 1) / 2 + res * k * np.arange(nx)
    ry = y[0] + res * (k - 1) / 2 + res * k * np.arange(ny)
    base = math.floor(float(surface.min()) / dz_m) * dz_m
    z = base + dz_m * np.arange(1, int((ceiling_m - base) // dz_m) + 1)
    if z.size == 0:
        raise ValueError(f"ceiling {ceiling_m:g} m is below the lowest ground plus {dz_m:g} m")
    free = z[:, None, None] >= _neighbourhood_max(top)[None] + clearance_m
    gx, gy = np.meshgrid(rx, ry)
    for polygon, floor_m, top_m in no_fly:
        inside = inside_polygon(gx, gy, np.asarray(polygon, dtype=float))
        layer = (z >= floor_m) & (z <= top_m)
        free &= ~(layer[:, None, None] & inside[None])
    return RouteGrid(rx, ry, z, free, top)


def inside_polygon(px: np.ndarray, py: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Whether points (px, py) lie inside ``polygon`` ((k, 2) vertices), even-odd rule."""
    inside = np.zeros(np.shape(px), dtype=bool)
    xs, ys = polygon[:, 0], polygon[:, 1]
    for (x0, y0), (x1, y1) in zip(
        zip(xs, ys, strict=True), zip(np.roll(xs, -1), np.roll(ys, -1), strict=True), strict=True
    ):
        crosses = (y0 > py) != (y1 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (px < at)
    return inside


def noise_field(grid: RouteGrid, population: np.ndarray, ground: np.ndarray, xp, radius_m=3000.0):
    """Noise weight of each node: the people of the route cells within ``radius_m``
    weighted by the sound energy one metre of flight above them sends them,
    ``sum_c p_c exp(-k r) / r^2`` (spherical spreading and the air absorption of
    :mod:`sim.uam.noise`), normalised to a mean of 1 over free nodes (0 if nobody lives
    under the air space).

    Parameters
    ----------
    population : (ny, nx) [1] residents per route cell.
    ground : (ny, nx) [m] receiver height per route cell.
    """
    from sim.uam.noise import ABSORPTION_DB_PER_M

    _, dy, dx = grid.spacing
    ny, nx = population.shape
    ry = min(ny - 1, int(radius_m // dy))
    rx = min(nx - 1, int(radius_m // dx))
    oy, ox = np.meshgrid(np.arange(-ry, ry + 1) * dy, np.arange(-rx, rx + 1) * dx, indexing="ij")
    k = ABSORPTION_DB_PER_M * math.log(10) / 10
    pop = xp.asarray(np.pad(population, ((ry, ry), (rx, rx))))
    height = xp.asarray(np.pad(ground, ((ry, ry), (rx, rx)), mode="edge"))
    out = []
    for z in grid.z:
        level = xp.zeros((ny, nx))
        for i, j in zip(*np.nonzero(oy**2 + ox**2 <= radius_m**2), strict=True):
            h = z - height[i : i + ny, j : j + nx]
            r2 = xp.maximum(h * h + (oy[i, j] ** 2 + ox[i, j] ** 2), 1.0)
            level = level + pop[i : i + ny, j : j + nx] * xp.exp(-k * xp.sqrt(r2)) / r2
        out.append(level)
    field = xp.stack(out)
    free = xp.asarray(grid.free)
    mean = float(gpu.to_host(xp.sum(xp.where(free, field, 0.0)) / max(int(grid.free.sum()), 1)))
    return field / mean if mean > 0 else field * 0.0


def move_costs(grid: RouteGrid, weights: Weights, noise, xp):
    """(24, nz, ny, nx) cost of the move from each node along each of :data:`OFFSETS`
    (inf where the node or its neighbour is blocked or off the lattice)."""
    dz, dy, dx = grid.spacing
    free = xp.asarray(np.pad(grid.free, 1))
    noise = xp.pad(noise, 1) if noise is not None else None
    nz, ny, nx = grid.shape
    out = []
    for oz, oy, ox in OFFSETS:
        here = (slice(1, nz + 1), slice(1, ny + 1), slice(1, nx + 1))
        there = (
            slice(1 + oz, nz + 1 + oz),
            slice(1 + oy, ny + 1 + oy),
            slice(1 + ox, nx + 1 + ox),
        )
        length = math.sqrt((oz * dz) ** 2 + (oy * dy) ** 2 + (ox * dx) ** 2)
        cost = xp.full((nz, ny, nx), length * weights.length + weights.climb * max(oz * dz, 0.0))
        if noise is not None and weights.noise > 0:
            cost = cost + length * weights.noise * (noise[here] + noise[there]) / 2
        out.append(xp.where(free[here] & free[there], cost, xp.inf))
    return xp.stack(out)


def _shifted(d, offset, xp):
    """``d`` at each node's neighbour along ``offset`` (inf off the lattice)."""
    p = xp.pad(d, 1, constant_values=xp.inf)
    nz, ny, nx = d.shape
    oz, oy, ox = offset
    return p[1 + oz : nz + 1 + oz, 1 + oy : ny + 1 + oy, 1 + ox : nx + 1 + ox]


def cost_to_go(costs, destination: tuple[int, int, int], xp, max_sweeps: int | None = None):
    """Least cost from every node to ``destination`` (inf where unreachable).

    The Bellman-Ford fixed point of ``d(a) = min_o costs[o, a] + d(a + o)`` (see the
    module docstring), each sweep relaxing all nodes over the 24 moves in turn.
    """
    shape = costs.shape[1:]
    d = xp.full(shape, xp.inf)
    d[destination] = 0.0
    limit = max_sweeps or 4 * sum(shape) + 8
    for _ in range(limit):
        before = d
        for o, offset in enumerate(OFFSETS):
            d = xp.minimum(d, costs[o] + _shifted(d, offset, xp))
        if bool(xp.all(d == before)):
            return d
    raise RuntimeError(f"route costs did not converge in {limit} sweeps")


def extract_path(d: np.ndarray, costs: np.ndarray, origin: tuple[int, int, int]) -> list:
    """Nodes of a least-cost path from ``origin`` down the cost-to-go ``d`` (host
    arrays): at each node the move whose cost plus the rest equals the node's cost."""
    if not np.isfinite(d[origin]):
        raise ValueError(f"node {origin} has no route to the destination")
    nz, ny, nx = d.shape
    path, node = [origin], origin
    while d[node] > 0:
        best, best_value = None, np.inf
        for o, (oz, oy, ox) in enumerate(OFFSETS):
            nb = (node[0] + oz, node[1] + oy, node[2] + ox)
            if not (0 <= nb[0] < nz and 0 <= nb[1] < ny and 0 <= nb[2] < nx):
                continue
            value = costs[(o, *node)] + d[nb]
            if value < best_value:
                best, best_value = nb, value
        node = best
        path.append(node)
    return path


def path_points(grid: RouteGrid, path: list) -> np.ndarray:
    """(k, 3) [m] x, y, z of a node path, keeping only the nodes where it turns."""
    idx = np.asarray(path)
    keep = np.ones(len(idx), dtype=bool)
    if len(idx) > 2:
        step = np.diff(idx, axis=0)
        keep[1:-1] = np.any(step[1:] != step[:-1], axis=1)
    idx = idx[keep]
    return np.column_stack([grid.x[idx[:, 2]], grid.y[idx[:, 1]], grid.z[idx[:, 0]]])


def polyline_length(points: np.ndarray) -> float:
    """[m] length of a polyline ((k, 3) points)."""
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def route_clearance(points: np.ndarray, surface: np.ndarray, x: np.ndarray, y: np.ndarray,
                    sample_m: float = 5.0) -> float:  # fmt: skip
    """[m] least height of a polyline above the obstacle top of the city cell under it,
    sampled every ``sample_m`` along it (inf for a polyline outside the grid)."""
    res = float(x[1] - x[0]) if x.size > 1 else 1.0
    lowest = np.inf
    for p, q in itertools.pairwise(points):
        n = max(2, math.ceil(np.linalg.norm(q - p) / sample_m) + 1)
        s = p + np.linspace(0.0, 1.0, n)[:, None] * (q - p)
        ix = np.clip(np.floor((s[:, 0] - x[0]) / res + 0.5).astype(int), 0, x.size - 1)
        iy = np.clip(np.floor((s[:, 1] - y[0]) / res + 0.5).astype(int), 0, y.size - 1)
        lowest = min(lowest, float((s[:, 2] - surface[iy, ix]).min()))
    return lowest


def pad_to_pad(grid: RouteGrid, pads: np.ndarray, pairs, weights: Weights, noise, xp) -> dict:
    """Routes ``{(o, d): (k, 3) points}`` between vertiport pads ((V, 3) [m]): straight up
    from pad ``o`` to the lowest free node above it, the least-cost lattice path, straight
    down to pad ``d`` (the pads' columns are their approach and departure surfaces)."""
    nodes = [grid.node(px, py) for px, py, _ in pads]
    costs = move_costs(grid, weights, noise, xp)
    host_costs = gpu.to_host(costs)
    out = {}
    for d in sorted({d for _, d in pairs}):
        togo = gpu.to_host(cost_to_go(costs, nodes[d], xp))
        for o in (o for o, dd in pairs if dd == d):
            cruise = path_points(grid, extract_path(togo, host_costs, nodes[o]))
            po, pd = pads[o], pads[d]
            points = np.vstack(
                [po, [po[0], po[1], cruise[0, 2]], cruise, [pd[0], pd[1], cruise[-1, 2]], pd]
            )
            keep = np.r_[True, np.any(np.diff(points, axis=0) != 0, axis=1)]
            out[(o, d)] = points[keep]
    return out
