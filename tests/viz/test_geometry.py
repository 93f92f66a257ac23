"""Mesh arrays: layout, orientation and interpolation, checked exactly (no GL needed)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import assert_close
from viz import geometry
from viz.scene import nice_length


def _quads(points, faces):
    cells = faces.reshape(-1, 5)
    assert (cells[:, 0] == 4).all()
    return points[cells[:, 1:]]  # (n_cells, 4, 3)


def test_boxes_layout_and_outward_faces():
    rng = np.random.default_rng(0)
    n = 50
    x, y = rng.uniform(-1e3, 1e3, (2, n))
    width, depth, height = rng.uniform(5, 60, (3, n))
    base = rng.uniform(0, 100, n)
    points, faces = geometry.boxes(x, y, width, depth, base, base + height)
    assert points.shape == (8 * n, 3) and points.dtype == np.float32
    assert faces.shape == (5 * 5 * n,)
    quads = _quads(points, faces).reshape(n, geometry.FACES_PER_BOX, 4, 3).astype(np.float64)
    # roof first, at the top height; every quad's normal points away from its box centre
    # float32 points: rtol 1e-6 covers coordinates up to ~1e3 m
    assert_close(quads[:, 0, :, 2], np.repeat((base + height)[:, None], 4, 1), rtol=1e-6)
    normal = np.cross(quads[:, :, 1] - quads[:, :, 0], quads[:, :, 2] - quads[:, :, 0])
    centre = np.stack([x, y, base + height / 2], axis=1)[:, None, :]
    outward = np.einsum("bfk,bfk->bf", normal, quads.mean(axis=2) - centre)
    assert (outward > 0).all()
    # footprint extents
    xs = points.reshape(n, 8, 3)[..., 0]
    assert_close(xs.max(1) - xs.min(1), width, rtol=1e-4)  # float32 at 1e3 m: ~1e-4 m


def test_grid_surface_is_row_major():
    x_edges, y_edges = np.array([0.0, 1, 2, 3]), np.array([10.0, 12, 14])
    z = np.arange(12.0).reshape(3, 4)
    points, faces = geometry.grid_surface(x_edges, y_edges, z)
    centroids = _quads(points, faces).mean(axis=1)
    xc, yc = np.meshgrid([0.5, 1.5, 2.5], [11.0, 13.0])
    assert_close(centroids[:, 0], xc.ravel())
    assert_close(centroids[:, 1], yc.ravel())


def test_cell_corners_and_bilinear_reproduce_linear_fields():
    xc, yc = np.arange(5) * 100.0 + 50, np.arange(4) * 100.0 + 50
    field = 2.0 * xc[None, :] + 3.0 * yc[:, None]
    corners = geometry.cell_corners(field)
    assert corners.shape == (5, 6)
    xe, ye = np.arange(6) * 100.0, np.arange(5) * 100.0
    inner = 2.0 * xe[None, 1:-1] + 3.0 * ye[1:-1, None]
    assert_close(corners[1:-1, 1:-1], inner)
    px, py = np.array([50.0, 123.0, 377.0]), np.array([50.0, 260.0, 333.0])
    assert_close(geometry.bilinear(xc, yc, field, px, py), 2 * px + 3 * py)
    assert_close(geometry.cell_corners(np.full((3, 2), 7.0)), np.full((4, 3), 7.0))


def test_directed_segments_keep_right():
    seg = geometry.directed_segments(
        np.array([0.0, 0.0]),
        np.array([0.0, 0.0]),
        np.array([0.0, 0.0]),
        np.array([10.0, -10.0]),
        2.0,
    )
    assert_close(seg[0, :, 0], [2.0, 2.0])  # heading north: shifted east
    assert_close(seg[1, :, 0], [-2.0, -2.0])  # heading south: shifted west


@pytest.mark.parametrize(
    ("target", "expected"), [(7200.0, 5000.0), (1999.0, 1000.0), (250.0, 200.0)]
)
def test_scale_bar_length(target, expected):
    assert nice_length(target) == expected
