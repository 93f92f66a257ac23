"""The exported HTML opens in headless Chromium, offline, and draws the scene.

Skipped when no Chromium is installed (CI installs the Debian ``chromium`` package).
Chromium gets no network service worth the name here: every resource must be inline.
"""

from __future__ import annotations

import shutil
import subprocess

import imageio.v3 as iio
import numpy as np
import pytest

import viz
from tests.helpers import requires_pyvista

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
)
pytestmark = [
    requires_pyvista,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium)"),
]
WINDOW = (640, 400)


def screenshot(html, tmp_path):
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-unsafe-swiftshader",  # software WebGL, as on a machine without a GPU
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",  # let the page's scripts finish before the shot
        f"--screenshot={shot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        html.as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "Chromium wrote no screenshot"
    return iio.imread(shot)[..., :3]


def test_html_scene_draws_in_chromium(run_store, tmp_path):
    html = viz.export_html(run_store, tmp_path / "scene.html", var="pm25", size=(400, 300))
    image = screenshot(html, tmp_path)
    assert image.shape == (WINDOW[1], WINDOW[0], 3)
    # The WebGL canvas fills the page; the colour bar is on its right. Look left of it:
    # a blank canvas is one colour, the city is terrain, roads and the plume.
    canvas = image[:, : int(0.75 * WINDOW[0])].reshape(-1, 3)
    colours, counts = np.unique(canvas, axis=0, return_counts=True)
    assert canvas.std() > 15
    assert 1 - counts.max() / counts.sum() > 0.2  # over a fifth is not the background
    assert len(colours) > 200
    # the overlay (clock and legend note) is drawn at the top left, dark on light
    assert (image[:40, :300].max(axis=2) < 80).mean() > 0.01
