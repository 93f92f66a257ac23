"""Flat matplotlib figures: KPIs and maps, checked on the saved pixels."""

from __future__ import annotations

import imageio.v3 as iio
import matplotlib
import numpy as np
import pytest

import twin
import viz
from tests.helpers import assert_close
from tests.viz.conftest import BACKGROUND_PM25


def rgb_at(image, fig, x, y) -> np.ndarray:
    """The saved pixel at data point (x, y) of the figure's first axes."""
    px, py = fig.axes[0].transData.transform((x, y))
    return image[round(fig.bbox.height - py), round(px), :3].astype(float)


def test_map_puts_the_plume_at_the_top_of_the_colour_map(run_store, city, tmp_path):
    out = tmp_path / "pm25.png"
    fig = viz.plot_map(run_store, out, "pm25", "08:00")
    image = iio.imread(out)
    assert image.shape[:2] == (700, 1000)
    g = city.grid
    cmap = matplotlib.colormaps["YlOrRd"]
    top, bottom = (np.array(cmap(v)[:3]) * 255 for v in (1.0, 0.0))
    # NE cell holds the maximum, SW cell the background (the minimum); a cell is 500 m,
    # so sampling its centre is far from any edge. 2 levels: 8-bit rounding of the PNG.
    x, y = g["x"].values / 1000, g["y"].values / 1000
    assert np.abs(rgb_at(image, fig, x[-1], y[-1]) - top).max() <= 2
    assert np.abs(rgb_at(image, fig, x[0], y[0]) - bottom).max() <= 2
    assert fig.axes[1].get_ylabel() == "pm25 [µg/m³]"
    # From the background to the top of the Korean CAI band holding the city cells'
    # maximum: 3 cells (1.5 km) in from each edge the plume is 12 + 90 exp(-0.5) = 66.6,
    # in the 'unhealthy' band (36-75); the corner's 102 is clipped to the top colour.
    lo, hi = fig.axes[0].collections[0].get_clim()
    assert lo == pytest.approx(BACKGROUND_PM25) and hi == pytest.approx(75.0)
    assert "75 (top of the CAI 'unhealthy' band)" in fig.axes[0].get_title()


@pytest.mark.parametrize("var", ["speed", "electric_load", "net_load", "height"])
def test_maps_of_each_kind(run_store, tmp_path, var):
    out = tmp_path / f"{var}.png"
    viz.plot_map(run_store, out, var, "08:00")
    assert iio.imread(out)[..., :3].std() > 20


def test_kpis(run_store, tmp_path):
    """One table of every KPI (no single-bar panels) beside the city-wide series."""
    out = tmp_path / "kpi.png"
    fig = viz.plot_kpis(run_store, out)
    image = iio.imread(out)[..., :3]
    assert image.std() > 20
    assert not any(ax.patches for ax in fig.axes)  # no bar charts
    table = fig.axes[-1].tables[0]
    cells = {(r, c): cell.get_text().get_text() for (r, c), cell in table.get_celld().items()}
    rows = {cells[r, 0]: (cells[r, 1], cells[r, 2]) for r in range(1, 1 + max(r for r, _ in cells))}
    assert rows["vehicle_hours_travelled"] == ("5,210", "h")  # no long_name in the fixture
    assert rows["pm25_exposure"] == ("18.4", "µg/m³")
    assert rows["peak_load"] == ("96", "MW")
    # the table's cells are drawn: its rows cover the right half of the picture
    right = image[:, image.shape[1] // 2 :]
    assert (right.max(axis=2) < 60).mean() > 0.01  # grid lines and text
    series = fig.axes[3].lines[0].get_ydata()  # net load of all districts [MW]
    assert_close(series, [15.0, 30.0, 45.0, 60.0, 75.0])  # 1000 kW * (1+...+5) * (k+1)
    exposure = fig.axes[0]  # PM2.5 on the scale of the 35 ug m-3 standard, not stretched
    assert exposure.get_ylim()[0] == 0 and exposure.get_ylim()[1] >= 35


def test_plot_bad_input(run_store, city_store, tmp_path):
    with pytest.raises(twin.InputError, match="no KPIs"):
        viz.plot_kpis(city_store, tmp_path / "k.png")
    with pytest.raises(twin.InputError, match="available: "):
        viz.plot_map(run_store, tmp_path / "m.png", "pm10")
    with pytest.raises(twin.InputError, match=r"\.png, \.svg or \.pdf"):
        viz.plot_map(run_store, tmp_path / "m.gif", "pm25")
