"""Tiled air runs (twin.tiles): chunk-aligned tiles, halos, and Ray workers whose
result equals the untiled model and run.

The reference is the untiled computation itself: every operation of the air scheme is
elementwise on the same operands, so with halos that cover a sub-step's reach the
tiles reproduce it bit for bit (no tolerance), float32 and float64 alike.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import twin
from sim.air import AirModel
from twin import InputError
from twin.testing import scenario as small_scenario
from twin.tiles import HALO, TiledAir, layout, parse_tiles


def test_layout_edges_are_chunk_edges():
    tiles = layout((1030, 2048), (2, 3), 512)
    rows = sorted({t.rows for t in tiles})
    cols = sorted({t.cols for t in tiles})
    assert rows == [(0, 512), (512, 1030)]
    assert cols == [(0, 512), (512, 1536), (1536, 2048)]
    for t in tiles:  # every edge inside the grid is a chunk edge: no chunk has 2 writers
        assert all(e % 512 == 0 for e in (*t.rows, *t.cols) if e not in (1030, 2048))
        assert t.window_rows == (max(t.rows[0] - HALO, 0), min(t.rows[1] + HALO, 1030))
    corner = next(t for t in tiles if t.index == (0, 0))
    assert corner.neighbours == ((0, 1), (1, 0), (1, 1))
    middle = next(t for t in tiles if t.index == (1, 1))
    assert len(middle.neighbours) == 5
    # what a tile sends its neighbour lands in that neighbour's halo, cell for cell
    a, b = corner, next(t for t in tiles if t.index == (1, 1))
    (ry, rx), (wy, wx) = a.sent((1, 1)), b.received((-1, -1))
    assert (a.window_rows[0] + ry.start, a.window_cols[0] + rx.start) == (
        b.window_rows[0] + wy.start, b.window_cols[0] + wx.start)  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "tiles", "chunk", "message"),
    [
        ((300, 300), (2, 2), 512, "2 tiles along y need at least 2 grid chunks of 512"),
        ((1024, 600), (1, 3), 512, "use at most 2 tiles along x"),
        ((1026, 64), (3, 1), 512, "fewer than its halo"),
        ((64, 64), (0, 1), 16, "each >= 1"),
    ],
)
def test_layout_refuses_tiles_that_split_a_chunk(shape, tiles, chunk, message):
    with pytest.raises(InputError, match=message):
        layout(shape, tiles, chunk)


def test_parse_tiles():
    assert parse_tiles("2x3") == (2, 3)
    with pytest.raises(InputError, match="NYxNX"):
        parse_tiles("2by2")


ray = pytest.importorskip("ray")
from twin.distributed import TileGroup  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")  # one pytest worker runs every Ray test


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tiled_air_model_equals_whole_grid(cluster, dtype):
    """2 x 2 tiles of a 40 x 52 grid (chunks of 16: tiles of 16/24 x 16/36), buildings
    slowing an oblique wind (so the exchange with the layer above acts), emissions, 5
    steps of 10 sub-steps: equal to the whole grid, bitwise."""
    rng = np.random.default_rng(4)
    shape = (40, 52)
    model = AirModel(100.0, dtype=dtype)
    state = model.init({"building_height": rng.uniform(0, 60, shape)}, np)
    forcing = {"wind_speed": 4.0, "wind_from_direction": 230.0, "mixing_height": 600.0}
    forcing |= {f"emission_{s}": rng.uniform(0, 2e-6, shape) for s in model.species}
    tiles = layout(shape, (2, 2), 16)
    tiled = TiledAir(model, tiles, lambda ts, m, s: TileGroup(ts, m, s, device="cpu",
                                                           address=cluster["address"]))
    whole, parts = state, state
    try:
        for _ in range(5):
            whole = model.step(whole, forcing, 300.0)
            parts = tiled.step(parts, forcing, 300.0)
    finally:
        tiled.close()
    assert model.substeps(state, forcing, 300.0) >= 4
    for s in model.species:
        assert parts[s].dtype == np.dtype(dtype)
        assert np.array_equal(parts[s], whole[s]), s
    assert not np.allclose(whole["pm25"], state["pm25"])  # something happened


def test_tiled_run_equals_single_run(cluster, tmp_path):
    """``twin.run(..., tiles=(2, 2))`` on the test city (24 x 32 cells, chunks of 12):
    the store and the KPIs equal the untiled run's, bitwise; each tile wrote its region."""
    sc = small_scenario(hours=1, step="120s")
    single = twin.run(sc, tmp_path / "one.zarr", progress=False, grid_chunk=12)
    tiled = twin.run(sc, tmp_path / "tiles.zarr", progress=False, grid_chunk=12, tiles=(2, 2),
                     address=cluster["address"])  # fmt: skip
    a, b = zarr.open_group(single.store, mode="r"), zarr.open_group(tiled.store, mode="r")
    for group in ("state/air", "state/traffic", "state/energy"):
        for name, arr in a[group].arrays():
            assert arr[...].tobytes() == b[f"{group}/{name}"][...].tobytes(), (group, name)
    assert b["state/air/pm25"].chunks == (1, 12, 12)
    assert single.kpis.equals(tiled.kpis)
    assert b.attrs["completed_outputs"] == sc.n_outputs


def test_tiled_run_refuses_misaligned_tiles(tmp_path):
    sc = small_scenario(hours=1, step="120s")
    with pytest.raises(InputError, match="tiles along x need at least 3 grid chunks of 512"):
        twin.run(sc, tmp_path / "t.zarr", progress=False, tiles=(1, 3))
    assert not (tmp_path / "t.zarr").exists()


def test_cli_run_tiles_bad_input(tmp_path):
    from typer.testing import CliRunner

    from twin.cli import app

    toml = tmp_path / "s.toml"
    toml.write_text(small_scenario(hours=1, step="120s").to_toml(), encoding="utf-8")
    cli = CliRunner()
    for tiles, text in (("2by2", "NYxNX"), ("1x3", "grid chunks of 512")):
        result = cli.invoke(app, ["run", str(toml), "-o", str(tmp_path / "r.zarr"),
                                  "--tiles", tiles, "--no-progress"])  # fmt: skip
        assert result.exit_code != 0 and text in result.output, result.output
        assert "Traceback" not in result.output
