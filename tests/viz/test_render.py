"""Off-screen pictures, checked as pictures: size, content, colours where the data says.

Colour checks compare pixels with the colour map's own colours. A translucent grid layer
(opacity ``GRID_LAYER_OPACITY``, drawn without lighting) over the terrain must give
``a * layer + (1 - a) * terrain`` exactly, up to 8-bit rounding of the three colours
(3 levels of 255): the terrain pixel comes from the same view rendered without the layer.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import imageio.v3 as iio
import matplotlib
import numpy as np
import pytest

import twin
import viz
from tests.helpers import requires_pyvista
from viz import headless
from viz.scene import GRID_LAYER_OPACITY

pytestmark = requires_pyvista
requires_ffmpeg = pytest.mark.skipif(
    importlib.util.find_spec("imageio_ffmpeg") is None, reason="MP4 needs imageio-ffmpeg"
)
SIZE = (400, 300)
ROUNDING = 3.0  # 8-bit levels: rounding of layer, terrain and blended colours


def pixel(scene, x, y, z=0.0) -> tuple[int, int]:
    """(row, column) of the image pixel showing scene point (x, y, z)."""
    from vtkmodules.vtkRenderingCore import vtkCoordinate

    coord = vtkCoordinate()
    coord.SetCoordinateSystemToWorld()
    coord.SetValue(x, y, z)
    dx, dy = coord.GetComputedDoubleDisplayValue(scene.renderer)
    return round(scene.plotter.window_size[1] - 1 - dy), round(dx)


def shoot(scene) -> np.ndarray:
    return np.asarray(scene.plotter.screenshot(return_img=True))


def corner_pixels(store, var, **kwargs):
    """Image with ``var`` and without, and the pixels of the NE and SE grid corners."""
    images, where = {}, None
    for layer in (var, "land_use"):
        s = viz.scene(store, var=layer, camera="top", size=SIZE, **kwargs)
        w, h = s.frame.size
        where = {"ne": pixel(s, w - 400, h - 400), "se": pixel(s, w - 400, 400)}
        images[layer] = shoot(s)
        s.plotter.close()
    return images[var], images["land_use"], where


def colinear_fraction(image, rgb, degrees=5.0) -> float:
    """Share of pixels whose colour is ``rgb`` under some brightness (lit or shaded)."""
    p = image.reshape(-1, 3).astype(float)
    c = np.asarray(rgb, dtype=float)
    cos = p @ c / (np.linalg.norm(p, axis=1) * np.linalg.norm(c) + 1e-9)
    return float((cos > np.cos(np.deg2rad(degrees))).mean())


def cmap_rgb(name, at) -> np.ndarray:
    return np.array(matplotlib.colormaps[name](at)[:3]) * 255


def test_import_viz_loads_no_heavy_module():
    code = (
        "import sys, viz, viz.cli; "
        "print(sorted(m for m in ('pyvista', 'vtkmodules', 'matplotlib', 'imageio', "
        "'trame_vtk') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_headless_probe_names_the_packages(monkeypatch):
    assert "RenderWindow" in headless.ensure_offscreen()
    monkeypatch.setattr(headless, "_result", None)
    monkeypatch.setattr(headless, "_PROBE", "import os, signal; os.kill(os.getpid(), 11)")
    with pytest.raises(headless.HeadlessRenderError) as err:
        headless.ensure_offscreen()
    message = str(err.value)
    assert "SIGSEGV" in message
    assert "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri" in message
    # the failure is cached: a second call does not probe again
    monkeypatch.setattr(headless, "_PROBE", "raise SystemExit(0)")
    with pytest.raises(headless.HeadlessRenderError):
        headless.ensure_offscreen()


def test_city_png_size_and_content(city, tmp_path):
    out = tmp_path / "city.png"
    image = viz.render(city, out, size=SIZE)
    assert image.shape == (SIZE[1], SIZE[0], 3) and image.dtype == np.uint8
    assert image.std() > 20  # a blank or one-colour frame has ~0
    assert np.array_equal(iio.imread(out)[..., :3], image)


def test_camera_presets_differ(city):
    images = [viz.render(city, camera=c, size=SIZE) for c in ("oblique", "top", "street:sangmu")]
    for image in images:
        assert image.std() > 20
    for a, b in ((0, 1), (1, 2), (0, 2)):
        assert np.abs(images[a].astype(int) - images[b]).mean() > 10


@pytest.mark.parametrize(
    ("camera", "match"), [("sideways", "expected one of"), ("street:atlantis", "no place")]
)
def test_bad_camera(city, camera, match):
    with pytest.raises(twin.InputError, match=match):
        viz.render(city, camera=camera, size=SIZE)


def test_city_lit_by_the_sun_at_a_given_time(city_store):
    day = viz.render(city_store, time="2026-06-17T12:00+09:00", size=SIZE)
    night = viz.render(city_store, time="2026-06-17T23:00+09:00", size=SIZE)
    assert day.mean() > night.mean() + 10  # the sun is down at night: only sky light
    with pytest.raises(twin.InputError, match="no clock"):
        viz.render(city_store, time="08:00", size=SIZE)


def test_air_plume_uses_the_high_end_of_the_colormap(run_store):
    image, plain, at = corner_pixels(run_store, "pm25", time="08:00")
    a = GRID_LAYER_OPACITY
    for corner, end in (("ne", 1.0), ("se", 0.0)):  # plume in the NE, background in the SE
        expected = a * cmap_rgb("YlOrRd", end) + (1 - a) * plain[at[corner]]
        assert np.abs(image[at[corner]] - expected).max() <= ROUNDING, corner


def test_roads_slow_in_the_west(run_store):
    s = viz.scene(run_store, var="speed", camera="top", size=(600, 400), time="08:00")
    image = shoot(s)
    mid = pixel(s, s.frame.size[0] / 2, 0)[1]
    s.plotter.close()
    slow = cmap_rgb("RdYlGn", 0.0)  # 20 % of the local 40 km/h: the bottom of the range
    near = np.abs(image.astype(float) - slow).max(axis=2) <= ROUNDING
    west, east = near[:, :mid].sum(), near[:, mid:].sum()
    assert west > 200 and east < west / 20, (west, east)


def test_buildings_coloured_by_load(run_store):
    # Street views: downtown lies east of the grid's middle (400 kW), Songjeong west (5 kW).
    # Roofs and walls are lit, so compare hues: colours along the colour map's end colours.
    high, low = cmap_rgb("viridis", 1.0), cmap_rgb("viridis", 0.0)
    for place, ends in (("downtown", (high, low)), ("songjeong", (low, high))):
        image = viz.render(
            run_store, var="electric_load", camera=f"street:{place}", time="08:00", size=SIZE
        )
        assert colinear_fraction(image, ends[0]) > 0.2, place
        assert colinear_fraction(image, ends[1]) < 0.01, place


def test_comparison_of_a_run_with_itself_is_zero(run_store, other_run_store, tmp_path):
    image, max_abs = viz.compare(
        run_store, run_store, tmp_path / "d.png", var="pm25", time="08:00", camera="top", size=SIZE
    )
    assert max_abs == 0.0
    plain = viz.render(run_store, time="08:00", var="land_use", camera="top", size=SIZE)
    s = viz.scene(run_store, camera="top", size=SIZE)
    w, h = s.frame.size
    ne, se = pixel(s, w - 400, h - 400), pixel(s, w - 400, 400)
    s.plotter.close()
    white = np.array(matplotlib.colormaps["RdBu_r"](128 / 255)[:3]) * 255  # the middle colour
    a = GRID_LAYER_OPACITY
    for at in (ne, se):
        assert np.abs(image[at] - (a * white + (1 - a) * plain[at])).max() <= ROUNDING
    # the doubled run differs: its plume corner shows the top of the diverging map
    diff, max_abs = viz.compare(
        run_store, other_run_store, var="pm25", time="08:00", camera="top", size=SIZE
    )
    assert max_abs == pytest.approx(102.0, rel=1e-6)  # plume peak 12 + 30 * 3, 2x - 1x
    top = cmap_rgb("RdBu_r", 1.0)
    assert np.abs(diff[ne] - (a * top + (1 - a) * plain[ne])).max() <= ROUNDING


def test_side_by_side_panels(run_store, other_run_store):
    """A run beside itself: the same picture twice; beside the doubled run: not."""
    same, max_abs = viz.compare(
        run_store, run_store, var="pm25", camera="top", size=(800, 300), side_by_side=True
    )
    assert max_abs == 0.0 and same.shape == (300, 800, 3) and same.std() > 20
    other, _ = viz.compare(
        run_store, other_run_store, var="pm25", camera="top", size=(800, 300), side_by_side=True
    )

    def changed(image):
        # Between the caption (top) and the shared colour bar (bottom, left panel only).
        # Lines rasterise a pixel apart at another viewport offset, so count pixels that
        # change by more than 30 levels instead of asking for bitwise equal panels.
        left, right = image[30:-45, :400].astype(int), image[30:-45, 400:]
        return float((np.abs(left - right).max(axis=2) > 30).mean())

    assert changed(same) < 0.01  # measured 0.3 %
    assert changed(other) > 5 * changed(same)


def test_animation_gif(run_store, tmp_path):
    out = tmp_path / "rush.gif"
    frames = viz.animate(
        run_store, out, start="06:00", end="09:00", var="pm25", camera="top", size=SIZE
    )
    assert frames.shape == (4, SIZE[1], SIZE[0], 3)
    back = iio.imread(out, index=None)
    assert back.shape[:3] == (4, SIZE[1], SIZE[0])
    # the clock changes every frame; the plume grows towards the top of the colour map
    assert all(not np.array_equal(frames[i], frames[i + 1]) for i in range(3))
    s = viz.scene(run_store, camera="top", size=SIZE)
    w, h = s.frame.size
    ne = pixel(s, w - 400, h - 400)
    s.plotter.close()
    top = cmap_rgb("YlOrRd", 1.0)
    distance = [np.abs(f[ne].astype(float) - top).sum() for f in frames]
    assert distance[-1] < distance[0]
    with pytest.raises(twin.InputError, match=r"\.gif or \.mp4"):
        viz.animate(run_store, tmp_path / "rush.avi", size=SIZE)


@requires_ffmpeg
def test_animation_mp4(run_store, tmp_path):
    out = tmp_path / "rush.mp4"
    viz.animate(run_store, out, start="07:00", end="08:00", var="speed", size=(320, 240))
    assert iio.imread(out, plugin="FFMPEG", index=None).shape == (2, 240, 320, 3)
    with pytest.raises(twin.InputError, match="even width and height"):
        viz.animate(run_store, out, size=(321, 240))


def test_html_export_is_self_contained(run_store, tmp_path):
    out = viz.export_html(run_store, tmp_path / "scene.html", var="pm25", size=SIZE)
    text = out.read_text(encoding="utf-8")
    assert "OfflineLocalView" in text and len(text) > 100_000
    for remote in ('src="http', "src='http", 'href="http', "@import url(http"):
        assert remote not in text, remote
