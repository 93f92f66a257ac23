"""Tiled air runs: the air model split into ``y/x`` tiles, one worker per tile.

``twin.run(scenario, store, tiles=(ny, nx))`` (``twin run --tiles 2x2``) splits the air
grid into ``ny`` x ``nx`` tiles whose edges are edges of the run store's grid chunks
(:data:`twin.store.GRID_CHUNK` cells, or the run's ``grid_chunk``), so no two workers
ever write one chunk. Each tile lives on its own worker (a Ray actor,
:class:`twin.distributed.TileGroup`, on its own device where the cluster has GPUs)
with :data:`HALO` cells of its neighbours around it. Before every transport sub-step
the workers trade those halo cells (edges and corners) directly with one another;
a sub-step reads 4 cells beyond each cell along each axis (flux-limited Lax-Wendroff
then Heun diffusion, 2 cells each), so a tile's own cells are then exactly what the
whole grid would compute, and a tiled run equals the single-process run (bit for bit
on NumPy, float32 and float64 alike: every operation of the scheme is elementwise on
the same operands).

Traffic, energy, the KPIs and services stay on the driver, one worker. After every
coupling step the driver gathers the tiles' concentrations (for the exposure KPIs,
the air monitors and the restart states), and at each output step every worker writes
its own region of ``/state/air``. The gather is a host transfer per coupling step:
the tiled path is for grids too large for one device or worker, not for small ones.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import gpu
from twin.errors import InputError

HALO = 4  # cells of the neighbours a tile holds each side: one sub-step's reach
AIR = "air"
_ALL = slice(None)


@dataclass(frozen=True)
class Tile:
    """One tile: its index ``(j, i)`` (row, column of tiles), its own cells
    ``rows`` x ``cols`` (global, half-open) and the window it holds (its cells and the
    halo cells of the neighbours it has, global ``window_rows`` x ``window_cols``)."""

    index: tuple[int, int]
    rows: tuple[int, int]
    cols: tuple[int, int]
    window_rows: tuple[int, int]
    window_cols: tuple[int, int]
    neighbours: tuple[tuple[int, int], ...]  # offsets (dj, di) of the tiles around it

    @property
    def window(self) -> tuple[slice, slice]:
        """The window as global slices."""
        return slice(*self.window_rows), slice(*self.window_cols)

    @property
    def own(self) -> tuple[slice, slice]:
        """The tile's own cells, as slices of its window."""
        y0, x0 = self.rows[0] - self.window_rows[0], self.cols[0] - self.window_cols[0]
        return (slice(y0, y0 + self.rows[1] - self.rows[0]),
                slice(x0, x0 + self.cols[1] - self.cols[0]))  # fmt: skip

    def sent(self, offset: tuple[int, int]) -> tuple[slice, slice]:
        """The cells of its own that the neighbour at ``offset`` holds as halo (slices
        of the window): the ``HALO`` rows/columns on that side, all of them along an
        axis where the offset is 0."""
        return tuple(_side(own, d, inside=True) for own, d in zip(self.own, offset, strict=True))

    def received(self, offset: tuple[int, int]) -> tuple[slice, slice]:
        """Where the cells from the neighbour at ``offset`` go (slices of the window)."""
        return tuple(_side(own, d, inside=False) for own, d in zip(self.own, offset, strict=True))


def _side(own: slice, d: int, inside: bool) -> slice:
    """Along one axis: the whole own range (``d == 0``), or the ``HALO`` cells at its
    low (``d < 0``) or high end, inside it or just beyond it."""
    if d == 0:
        return own
    if d < 0:
        return slice(own.start, own.start + HALO) if inside else slice(own.start - HALO, own.start)
    return slice(own.stop - HALO, own.stop) if inside else slice(own.stop, own.stop + HALO)


def parse_tiles(text: str) -> tuple[int, int]:
    """``"2x2"`` (tiles along y, then x) as ``(2, 2)``."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m:
        raise InputError(f"--tiles {text!r}: expected NYxNX, e.g. 2x2 (tiles along y, then x)")
    return int(m[1]), int(m[2])


def _bounds(n: int, parts: int, chunk: int, axis: str) -> list[int]:
    """Tile edges along one axis: multiples of ``chunk``, as even as they can be."""
    chunks = math.ceil(n / chunk)
    if parts > chunks:
        raise InputError(
            f"tiles: {parts} tiles along {axis} need at least {parts} grid chunks of {chunk} "
            f"cells, but the grid has {n} cells along {axis} ({chunks} chunk"
            f"{'s' * (chunks != 1)}): use at most {chunks} tiles along {axis}, a finer grid, "
            "or a smaller grid_chunk"
        )
    edges = [0, *(chunk * round(n * j / parts / chunk) for j in range(1, parts)), n]
    for j in range(1, parts):  # rounding may merge two edges: keep every tile >= 1 chunk
        edges[j] = min(max(edges[j], edges[j - 1] + chunk), n - (parts - j) * chunk)
    small = [b - a for a, b in itertools.pairwise(edges) if b - a < HALO]
    if small:
        raise InputError(
            f"tiles: a tile along {axis} would have {small[0]} cells, fewer than its halo "
            f"({HALO}); use fewer tiles along {axis} or a larger grid_chunk"
        )
    return edges


def layout(shape: tuple[int, int], tiles: tuple[int, int], chunk: int) -> list[Tile]:
    """The tiles of a ``shape`` (ny, nx) grid split ``tiles`` (ty, tx) ways, every edge
    between two tiles an edge of the store's ``chunk`` x ``chunk`` grid chunks.

    Raises
    ------
    InputError
        If a tile count is not a whole number >= 1, or the grid has fewer chunks than
        tiles along an axis (two tiles would share a chunk), or a tile would be thinner
        than its halo.
    """
    if len(tiles) != 2 or any(isinstance(t, bool) or not isinstance(t, int) or t < 1
                              for t in tiles):  # fmt: skip
        raise InputError(f"tiles={tiles!r}: expected (tiles along y, tiles along x), each >= 1")
    rows = _bounds(shape[0], tiles[0], chunk, "y")
    cols = _bounds(shape[1], tiles[1], chunk, "x")
    out = []
    for j in range(tiles[0]):
        for i in range(tiles[1]):
            offsets = tuple(
                (dj, di)
                for dj in (-1, 0, 1)
                for di in (-1, 0, 1)
                if (dj or di) and 0 <= j + dj < tiles[0] and 0 <= i + di < tiles[1]
            )
            y0, y1, x0, x1 = rows[j], rows[j + 1], cols[i], cols[i + 1]
            out.append(Tile(
                (j, i), (y0, y1), (x0, x1),
                (max(y0 - HALO, 0), min(y1 + HALO, shape[0])),
                (max(x0 - HALO, 0), min(x1 + HALO, shape[1])),
                offsets,
            ))  # fmt: skip
    return out


class AirTile:
    """The air model on one tile (what a tile's worker holds).

    Parameters
    ----------
    model : the run's :class:`sim.air.AirModel` (a copy).
    tile : the tile.
    state : the tile's window of the model state (host arrays; the whole grid's
        ``face_factor_max`` and ``factor_varies``, so every tile plans the same
        sub-steps as the whole grid would).
    device : its backend (``"cpu"``, ``"gpu"``, ``"auto"``).
    """

    def __init__(self, model: Any, tile: Tile, state: Mapping[str, Any], device: str):
        self.model, self.tile = model, tile
        self.xp = gpu.select(device).xp
        self.state = {
            k: v if model.STATE[k].host else self.xp.asarray(v) for k, v in state.items()
        }

    def step(self, forcing: Mapping[str, Any], dt: float, exchange) -> np.ndarray:
        """One air step; ``exchange({offset: cells})`` hands the cells each neighbour
        needs to the workers and returns ``{offset: cells}`` from them. Returns the
        tile's own concentrations (species, rows, cols) on the host."""
        xp, tile = self.xp, self.tile

        def halo(c: Any, i: int) -> None:
            # copies: the cells must not change while the neighbours read them
            got = exchange({d: np.array(gpu.to_host(c[(_ALL, *tile.sent(d))]))
                            for d in tile.neighbours})  # fmt: skip
            for d, cells in got.items():
                c[(_ALL, *tile.received(d))] = xp.asarray(cells)

        forcing = {k: xp.asarray(v) if k.startswith("emission_") else v
                   for k, v in forcing.items()}  # fmt: skip
        self.state = self.model.step(self.state, forcing, dt, halo=halo)
        return gpu.to_host(xp.stack([self.state[s][tile.own] for s in self.model.species]))

    def outputs(self) -> dict[str, np.ndarray]:
        """The tile's own outputs as float32 host arrays (what the store holds)."""
        own = self.tile.own
        return {k: gpu.to_host(v[own]).astype(np.float32)
                for k, v in self.model.outputs(self.state).items()}  # fmt: skip


class TiledAir:
    """The air model of a run, stepped on tiles by a group of workers (the runner's
    model protocol: ``init``, ``step``, ``outputs``, ``OUTPUTS``, ``STATE``).

    The driver keeps the whole grid's state, gathered after every step, so the KPIs,
    sensors, health checks and restarts see what an untiled run would; the workers
    hold the authoritative tiles and get the state again whenever the one passed to
    :meth:`step` is not the one the last step returned (after ``init`` or a restart).

    Parameters
    ----------
    model : the run's :class:`sim.air.AirModel`.
    tiles : the tiles (:func:`layout`).
    group : a factory ``group(tiles, model, states)`` of the workers
        (:class:`twin.distributed.TileGroup`: ``step``, ``load(states)``, ``write``,
        ``close``).
    """

    name = AIR  # the component it stands for

    def __init__(self, model: Any, tiles: Sequence[Tile], group):
        self.model, self.tiles, self._group_factory = model, list(tiles), group
        self.OUTPUTS, self.STATE = model.OUTPUTS, model.STATE
        self.group = None
        self._last: dict[str, Any] | None = None

    def init(self, inputs: Mapping[str, Any], xp: Any) -> dict[str, Any]:
        return self.model.init(inputs, xp)

    def outputs(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return self.model.outputs(state)

    def _windows(self, state: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Each tile's window of ``state`` (host arrays)."""
        return [
            {k: np.asarray(v) if self.STATE[k].host else gpu.to_host(v[t.window])
             for k, v in state.items()}
            for t in self.tiles
        ]  # fmt: skip

    def step(self, state: Mapping[str, Any], forcing: Mapping[str, Any], dt: float) -> dict:
        if state is not self._last:  # the workers' tiles are not this state: send it
            if self.group is None:
                self.group = self._group_factory(self.tiles, self.model, self._windows(state))
            else:
                self.group.load(self._windows(state))
        forcings = [
            {k: gpu.to_host(v[t.window]) if k.startswith("emission_") else v
             for k, v in forcing.items()}
            for t in self.tiles
        ]  # fmt: skip
        parts = self.group.step(forcings, dt)
        first = state[self.model.species[0]]
        xp = gpu.array_namespace(first)
        whole = np.empty((len(self.model.species), *first.shape), dtype=first.dtype)
        for t, part in zip(self.tiles, parts, strict=True):
            whole[:, slice(*t.rows), slice(*t.cols)] = part
        whole = xp.asarray(whole)
        new = {k: state[k] for k in self.STATE if k not in self.model.species}
        new |= {s: whole[i] for i, s in enumerate(self.model.species)}
        new["mixing_height"] = np.asarray(float(forcing["mixing_height"]))
        self._last = new
        return new

    def write(self, store: Path, k: int) -> None:
        """Every worker writes output step ``k`` of its own region of ``/state/air``."""
        self.group.write(str(store), f"state/{AIR}", k)

    def close(self) -> None:
        """Stop the workers (a later step starts new ones)."""
        if self.group is not None:
            self.group.close()
            self.group = None


def tile_air(coupler: Any, tiles: tuple[int, int], chunk: int, *, address: str | None,
             device: str) -> TiledAir:
    """Replace the air model of ``coupler`` by its tiled form (workers on Ray at
    ``address``, see :func:`twin.distributed.connect`, on ``device``)."""
    from twin.distributed import TileGroup

    component = next((c for c in coupler.components if c.name == AIR), None)
    if component is None:
        raise InputError("tiles: the run has no air model to tile")
    shape = tuple(coupler.city.grid.sizes[d] for d in ("y", "x"))
    tiled = TiledAir(
        component.model,
        layout(shape, tiles, chunk),
        lambda ts, model, states: TileGroup(ts, model, states, device=device, address=address),
    )
    component.model = tiled
    coupler.exchange.models[AIR] = tiled
    return tiled
