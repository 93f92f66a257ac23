"""Air taxis in pictures (viz/uam.py): routes as tubes, aircraft, the noise layer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import viz
from tests.helpers import requires_pyvista
from tests.twin.test_runner import scenario
from tests.viz.test_render import pixel, shoot
from twin.runner import run
from viz.layers import NOISE_FLOOR_DB
from viz.uam import AIRCRAFT_RGB, ROUTE_RGB

pytestmark = requires_pyvista
SIZE = (600, 450)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("uam") / "uam.zarr"
    sc = scenario(start="2026-06-17T07:00:00+09:00", duration="1h", step="120s",
                  output_interval="30min", uam={"flights_per_day": 600})  # fmt: skip
    run(sc, path, progress=False)
    return path


def _rgb(hex_colour):
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)


def test_routes_are_tubes_in_their_colour_over_the_city(store):
    s = viz.scene(store, camera="top", size=SIZE)
    assert s.uam is not None and "uam_routes" in s.meshes
    routes = s.uam.routes(s.uam.uam.sizes["time"] - 1)
    assert routes and all(p.shape[1] == 3 for p in routes)
    image = shoot(s)
    # the middle of a route's longest leg shows the route colour (lit: same hue, any shade)
    legs = [(np.linalg.norm(b - a), (a + b) / 2) for p in routes for a, b in itertools.pairwise(p)]
    mid = max(legs, key=lambda leg: leg[0])[1]
    row, col = pixel(s, *mid)
    seen = image[row, col].astype(float)
    want = _rgb(ROUTE_RGB)
    assert np.argmax(seen) == np.argmax(want) and np.argmin(seen) == np.argmin(want), seen
    s.plotter.close()


def test_aircraft_and_the_noise_layer_show(store):
    s = viz.scene(store, var="noise_lden", camera="top", size=SIZE)
    assert s.layer.kind == "grid" and s.layer.clim == (NOISE_FLOOR_DB, s.layer.clim[1])
    assert s.layer.clim[1] > 55.0
    # cells quieter than the floor are not coloured (NaN, drawn transparent), the rest are
    drawn = s.meshes["overlay"].cell_data["value"]
    quiet = s.layer.values(s.uam.uam.sizes["time"] - 1).ravel() < NOISE_FLOOR_DB
    assert quiet.any() and (~quiet).any()
    assert np.isnan(drawn[quiet]).all() and np.isfinite(drawn[~quiet]).all()
    # a legend names the five colours in black text
    legend = s.renderer.legend
    assert legend.GetNumberOfEntries() == 2 + len(AIRCRAFT_RGB)
    assert legend.GetEntryString(0) == "air-taxi route"
    assert legend.GetEntryTextProperty().GetColor() == (0.0, 0.0, 0.0)
    drawn = [k for k in s.meshes if k.startswith("uam_aircraft_")]
    assert drawn and all(k.split("_")[-1] in AIRCRAFT_RGB for k in drawn)
    image = shoot(s)
    assert image.shape == (SIZE[1], SIZE[0], 3) and image.std() > 10
    s.plotter.close()
