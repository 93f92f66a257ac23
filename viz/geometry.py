"""Mesh arrays built with NumPy alone (no per-object loops); :mod:`viz.scene` wraps them.

Faces use VTK's flat cell layout: ``[n, i0, ..., i(n-1), n, ...]``.
"""

from __future__ import annotations

import numpy as np

# Corner offsets of a box (in half-widths) and its five visible quads (no floor),
# each wound counter-clockwise seen from outside so normals point outwards.
_BOX_X = np.array([-1, 1, 1, -1, -1, 1, 1, -1], dtype=np.float32) * 0.5
_BOX_Y = np.array([-1, -1, 1, 1, -1, -1, 1, 1], dtype=np.float32) * 0.5
_BOX_TOP = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)
_BOX_QUADS = np.array([[4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]])
FACES_PER_BOX = len(_BOX_QUADS)


def boxes(x, y, width, depth, base, top) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned boxes as one surface mesh: roof and four walls per box.

    Parameters
    ----------
    x, y : arrays (n,) [m], footprint centres.
    width, depth : arrays (n,) [m], footprint sides along x and along y.
    base, top : arrays (n,) [m], heights of the floor and the roof.

    Returns
    -------
    points : float32 (8 n, 3)
    faces : int64 (25 n,), five quads per box in VTK's flat layout; the cells of box
        ``i`` are ``5 i`` to ``5 i + 4``, so per-box values repeat 5 times as cell data.
    """
    x, y, width, depth, base, top = (
        np.asarray(a, dtype=np.float32)[:, None] for a in (x, y, width, depth, base, top)
    )
    n = x.shape[0]
    points = np.empty((n, 8, 3), dtype=np.float32)
    points[..., 0] = x + _BOX_X * width
    points[..., 1] = y + _BOX_Y * depth
    points[..., 2] = np.where(_BOX_TOP, top, base)
    faces = np.empty((n, FACES_PER_BOX, 5), dtype=np.int64)
    faces[..., 0] = 4
    faces[..., 1:] = _BOX_QUADS + 8 * np.arange(n)[:, None, None]
    return points.reshape(-1, 3), faces.ravel()


def cell_corners(z: np.ndarray) -> np.ndarray:
    """Values at the (ny + 1, nx + 1) corners of a (ny, nx) cell grid: the mean of the
    cells that touch each corner, so a surface through them passes near every centre."""
    z = np.asarray(z, dtype=np.float64)
    padded = np.pad(z, 1, mode="edge")
    return 0.25 * (padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:])


def grid_surface(x_edges, y_edges, z_corners) -> tuple[np.ndarray, np.ndarray]:
    """One quad per grid cell, in row-major (y, x) order so cell data is ``values.ravel()``.

    Parameters
    ----------
    x_edges : array (nx + 1,) [m]; y_edges : array (ny + 1,) [m], ascending.
    z_corners : array (ny + 1, nx + 1) [m], heights at the cell corners.
    """
    nx, ny = len(x_edges) - 1, len(y_edges) - 1
    xx, yy = np.meshgrid(x_edges, y_edges)
    points = np.column_stack([xx.ravel(), yy.ravel(), np.asarray(z_corners).ravel()])
    corner = (np.arange(ny)[:, None] * (nx + 1) + np.arange(nx)[None, :]).ravel()
    faces = np.column_stack(
        [np.full(corner.size, 4), corner, corner + 1, corner + nx + 2, corner + nx + 1]
    )
    return points.astype(np.float32), faces.ravel()


def bilinear(x_centres, y_centres, values, x, y) -> np.ndarray:
    """Bilinear interpolation of a (ny, nx) cell-centred field at points (clamped at edges)."""
    xc, yc = np.asarray(x_centres, float), np.asarray(y_centres, float)
    fx = np.clip(np.interp(x, xc, np.arange(xc.size)), 0, xc.size - 1)
    fy = np.clip(np.interp(y, yc, np.arange(yc.size)), 0, yc.size - 1)
    i0 = np.minimum(fx.astype(np.intp), max(xc.size - 2, 0))
    j0 = np.minimum(fy.astype(np.intp), max(yc.size - 2, 0))
    i1, j1 = np.minimum(i0 + 1, xc.size - 1), np.minimum(j0 + 1, yc.size - 1)
    tx, ty = fx - i0, fy - j0
    v = np.asarray(values, dtype=np.float64)
    south = v[j0, i0] * (1 - tx) + v[j0, i1] * tx
    north = v[j1, i0] * (1 - tx) + v[j1, i1] * tx
    return south * (1 - ty) + north * ty


def directed_segments(x0, y0, x1, y1, offset_m: float) -> np.ndarray:
    """Segments shifted ``offset_m`` to the right of their direction of travel.

    The two directions of a road are separate links; traffic keeps right in Korea,
    so each is drawn on its own side and both stay visible.
    Returns an array (n, 2, 2) of (start, end) x/y points [m].
    """
    dx, dy = np.subtract(x1, x0), np.subtract(y1, y0)
    length = np.hypot(dx, dy)
    length[length == 0] = 1.0
    ox, oy = dy / length * offset_m, -dx / length * offset_m
    return np.stack(
        [np.column_stack([x0 + ox, y0 + oy]), np.column_stack([x1 + ox, y1 + oy])], axis=1
    )


def clip_segments(segments: np.ndarray, width: float, height: float):
    """Clip segments (n, 2, 2) to the rectangle [0, width] x [0, height].

    Liang-Barsky parametric clipping, vectorised. Returns the clipped segments of the
    ones that cross the rectangle and a boolean mask (n,) of which ones those are.

    References
    ----------
    Liang, Y.-D. and Barsky, B. A. (1984). A new concept and method for line clipping.
    ACM Transactions on Graphics 3(1), 1-22. doi:10.1145/357332.357333
    """
    start, d = segments[:, 0], segments[:, 1] - segments[:, 0]
    t0, t1 = np.zeros(len(segments)), np.ones(len(segments))
    keep = np.ones(len(segments), bool)
    for p, q in (
        (-d[:, 0], start[:, 0]),
        (d[:, 0], width - start[:, 0]),
        (-d[:, 1], start[:, 1]),
        (d[:, 1], height - start[:, 1]),
    ):
        parallel = p == 0
        keep &= ~(parallel & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
        t0 = np.where(~parallel & (p < 0), np.maximum(t0, t), t0)
        t1 = np.where(~parallel & (p > 0), np.minimum(t1, t), t1)
    keep &= t0 <= t1
    clipped = np.stack([start + t0[:, None] * d, start + t1[:, None] * d], axis=1)
    return clipped[keep], keep
