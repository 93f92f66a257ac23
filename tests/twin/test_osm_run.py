"""An imported city runs through `twin run` and `twin render` draws it."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import twin
import twin.store
from tests.helpers import requires_geo, requires_pyvista
from tests.twin import osm_city
from twin.cli import app

pytestmark = requires_geo
runner = CliRunner()

# a store path relative to the scenario file; the climatology comes from `dataset`
SCENARIO = """name = "imported-hour"
start = 2026-06-17T07:00:00+09:00
duration = "1h"
step = "60s"
output_interval = "30min"
device = "cpu"

[city]
store = "grid.zarr"
dataset = "gwangju"

[traffic]
trips_per_day = 20000
zone_size_m = 1000
"""


def _ok(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def run_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imported")
    extract = folder / "grid.osm.pbf"
    osm_city.write_grid_city(extract, blocks=6)  # 1.8 km square, 148 buildings
    _ok("city", "import-osm", extract, "-o", folder / "grid.zarr", "--population", 5000)
    (folder / "s.toml").write_text(SCENARIO)
    _ok("run", folder / "s.toml", "-o", folder / "run.zarr", "--no-progress")
    return folder


def test_one_hour_run_on_an_imported_city(run_store):
    city = twin.open_city(run_store / "grid.zarr")
    assert city.summary()["links"] == 144 and city.summary()["population"] == 5000
    kpis = twin.store.read_kpis(run_store / "run.zarr")
    assert float(kpis["completed_trips"]) > 0 and float(kpis["vehicle_hours_travelled"]) > 0
    assert np.isfinite(float(kpis["pm25_exposure"])) and float(kpis["energy_use"]) > 0
    tree = twin.store.open_run(run_store / "run.zarr")
    sizes = tree["state/traffic"].sizes
    assert sizes["time"] == 2 and sizes["link"] == 144


def test_no_population_is_a_clear_run_error(run_store, tmp_path):
    _ok("city", "import-osm", run_store / "grid.osm.pbf", "-o", tmp_path / "grid.zarr")
    (tmp_path / "s.toml").write_text(SCENARIO)
    result = runner.invoke(app, ["run", str(tmp_path / "s.toml"), "-o", str(tmp_path / "r.zarr")])
    assert result.exit_code == 2 and "--population" in result.output, result.output


@requires_pyvista
def test_render_draws_the_imported_city(run_store):
    import imageio.v3 as iio

    from viz.scene import LAND_USE_RGB

    city_png, run_png = run_store / "city.png", run_store / "pm25.png"
    _ok("render", run_store / "grid.zarr", "-o", city_png, "--camera", "top", "--size", "400x400")
    _ok("render", run_store / "run.zarr", "-o", run_png, "--var", "pm25", "--size", "400x300")
    img = iio.imread(city_png)[..., :3].astype(int)
    assert img.shape == (400, 400, 3) and img.std() > 10  # not blank
    # every fifth block is water: its colour shows from above (lit, so within 40 levels)
    water = np.array([int(LAND_USE_RGB["water"][i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(img - water).max(axis=-1) < 40).mean() > 0.01
    assert iio.imread(run_png).shape[:2] == (300, 400)
