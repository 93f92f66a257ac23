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
from tests.viz.conftest import make_run
from viz import headless, pictures
from viz.scene import GRID_LAYER_OPACITY, LABEL_LIFT_M, sensor_size_m

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


def _walk(node):
    yield node
    for child in node.get("dependencies", []):
        yield from _walk(child)


def test_html_colour_bar_states_the_range_of_its_colours(run_store, tmp_path):
    """The issue's case: a bar of 0-250 over colours of 13.7-15.4. Read the exported
    vtk.js scene: the range each scalar-coloured mapper uses, and the bar's."""
    from viz.webexport import OVERLAY_ID, read_scene

    out = viz.export_html(run_store, tmp_path / "s.html", var="pm25", time="08:00", size=SIZE)
    nodes = list(_walk(read_scene(out)))
    mapped = [  # colorMode 1: scalars through the lookup table (not direct RGB)
        n for n in nodes
        if n["type"] == "vtkMapper" and n["properties"]["scalarVisibility"]
        and n["properties"]["colorMode"] == 1
    ]  # fmt: skip
    bars = [n for n in nodes if n["type"] == "vtkScalarBarActor"]
    assert len(mapped) == 1 and len(bars) == 1
    bar_lut = next(d for d in bars[0]["dependencies"] if d["type"] == "vtkLookupTable")
    mapper_lut = next(d for d in mapped[0]["dependencies"] if d["type"] == "vtkLookupTable")
    # background 12 to the top of the CAI band of the city cells' maximum (66.6): 75
    assert mapped[0]["properties"]["scalarRange"] == [12.0, 75.0]
    assert bar_lut["properties"]["mappingRange"] == [12.0, 75.0]
    assert mapper_lut["properties"]["mappingRange"] == [12.0, 75.0]
    assert bars[0]["properties"]["axisLabel"] == "pm25 [µg/m³]"
    # the page's overlay: the clock and the legend's note, as on the PNG
    text = out.read_text(encoding="utf-8")
    overlay = text[text.index(OVERLAY_ID) :][:2000]
    assert "2026-06-17 08:00 UTC+09:00" in overlay
    assert "12 µg/m³ (regional background) to 75 (top of the CAI &#x27;unhealthy&#x27;" in overlay


def test_html_scene_has_district_names_on_the_ground(run_store, city):
    s = viz.scene(run_store, var="pm25", size=SIZE)
    s.ground_text()
    texts = [m for k, m in s.meshes.items() if k.startswith("ground_text_")]
    s.plotter.close()
    n = city["districts"].sizes["district"]
    assert len(texts) == n + 2  # and N, the scale's length
    for mesh in texts[:n]:  # flat, above the layer and the terrain all under the name
        x0, x1, y0, y1, z0, z1 = mesh.bounds
        gx, gy = np.meshgrid(np.linspace(x0, x1, 9), np.linspace(y0, y1, 3))
        ground = s.frame.ground(gx.ravel(), gy.ravel())
        assert z1 - z0 < 1e-3 and (z0 - ground >= LABEL_LIFT_M - 1e-3).all()
        assert (z0 - ground).min() == pytest.approx(LABEL_LIFT_M, abs=1.0)


def test_labels_sit_on_the_ground(run_store):
    s = viz.scene(run_store, size=SIZE)
    _, points = s._district_points()
    s.plotter.close()
    lift = points[:, 2] - s.frame.ground(points[:, 0], points[:, 1])
    np.testing.assert_allclose(lift, LABEL_LIFT_M)


def test_run_without_var_is_coloured_by_pm25(run_store, city_store):
    default = viz.render(run_store, time="08:00", camera="top", size=SIZE)
    pm25 = viz.render(run_store, time="08:00", var="pm25", camera="top", size=SIZE)
    plain = viz.render(run_store, time="08:00", var="land_use", camera="top", size=SIZE)
    assert np.array_equal(default, pm25)
    assert np.abs(default.astype(int) - plain).mean() > 5
    assert viz.Source.open(city_store).default_variable() is None  # a city: land use
    s = viz.scene(run_store, time="08:00", size=(800, 500))  # the PNG states the range too
    assert "pm25 [µg/m³]: colours: 12 µg/m³ (regional background) to 75" in s.clock_text
    assert s.layer.clim == (12.0, 75.0)
    s.plotter.close()


def test_street_view_says_where_the_camera_stands(run_store):
    s = viz.scene(run_store, camera="street:downtown", size=SIZE)
    text = "\n".join(s.caption_lines)
    s.plotter.close()
    assert "street view of Downtown" in text
    assert "camera 900 m south, 160 m up, looking north" in text
    top = viz.scene(run_store, camera="top", size=SIZE)
    assert "camera" not in top.clock_text
    top.plotter.close()


def test_sensor_glyphs_scale_with_the_city(city):
    assert sensor_size_m("air", 36_000.0) == 150.0  # Gwangju: as before
    assert sensor_size_m("air", 2_000.0) == pytest.approx(16.0)  # a 2 km city
    small = twin.build_city("minicity", resolution_m=250)
    for c, span in ((city, 35_500.0), (small, None)):
        s = viz.scene(c, camera="top", size=SIZE)
        span = span or max(s.frame.size)
        one = s.meshes["sensors_air"].points[: s.pv.Sphere().n_points]  # the first glyph
        s.plotter.close()
        height = one[:, 2].max() - one[:, 2].min()
        assert height == pytest.approx(sensor_size_m("air", span), rel=0.02)


def test_roads_are_drawn_only_over_the_grid(run_store):
    s = viz.scene(run_store, var="speed", camera="top", size=SIZE)
    points = np.asarray(s.meshes["roads"].points)
    values = s.meshes["roads"].cell_data["value"]
    w, h = s.frame.size
    s.plotter.close()
    assert points[:, 0].min() >= -1e-3 and points[:, 0].max() <= w + 1e-3
    assert points[:, 1].min() >= -1e-3 and points[:, 1].max() <= h + 1e-3
    assert values.size == points.shape[0] // 2  # one value per drawn link


def test_compare_at_a_shared_clock_time(run_store, city, tmp_path):
    """A 3-step run (06:00-08:00) against the 5-step base: without --time both show
    08:00, the last time they share, not their own last steps (10:00 and 08:00)."""
    short = make_run(tmp_path / "short.zarr", city, scale=2.0, completed=3)
    _, max_abs = viz.compare(run_store, short, var="pm25", camera="top", size=SIZE)
    assert max_abs == pytest.approx(102.0, rel=1e-6)  # 2x - 1x of 12 + 30 * 3 at 08:00
    a, b = viz.Source.open(run_store), viz.Source.open(short)
    assert pictures.shared_steps(a, b, None) == (2, 2)


def test_compare_warns_when_days_or_times_differ(run_store, city, tmp_path):
    winter = make_run(tmp_path / "winter.zarr", city, start="2026-01-15T05:00:00+09:00")
    with pytest.warns(viz.ComparisonWarning, match="different days"):
        _, max_abs = viz.compare(run_store, winter, var="pm25", camera="top", size=SIZE)
    assert max_abs == 0.0  # the same clock time (10:00) on both days: same fake plume
    late = make_run(tmp_path / "late.zarr", city, start="2026-06-17T05:30:00+09:00")
    with pytest.warns(viz.ComparisonWarning, match="differ in time of day"):
        viz.compare(run_store, late, var="pm25", time="08:00", camera="top", size=SIZE)
    with pytest.raises(twin.InputError, match="share no output clock time"):
        viz.compare(run_store, late, var="pm25", camera="top", size=SIZE)


def test_side_by_side_captions_stay_in_their_panels(run_store, other_run_store):
    image, _ = viz.compare(
        run_store, other_run_store, var="pm25", camera="top", size=(800, 300), side_by_side=True
    )
    # Captions and clocks are one block at each panel's top left; the sky there is a
    # light gradient, text is dark. Nothing dark may sit at the right end of a panel's
    # caption rows, where the old upper-right captions collided with the clock.
    dark = image[:45].max(axis=2) < 100
    assert dark[:, 5:200].any() and dark[:, 405:600].any()  # both captions drawn
    assert not dark[:, 330:400].any() and not dark[:, 730:800].any()
