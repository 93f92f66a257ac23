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
    out = tmp_path / "kpi.png"
    fig = viz.plot_kpis(run_store, out)
    assert iio.imread(out)[..., :3].std() > 20
    bars = {ax.get_yticklabels()[0].get_text(): ax.patches[0].get_width() for ax in fig.axes[4:]}
    assert bars == {
        "vehicle_hours_travelled": 5210.0,
        "total_delay": 830.0,
        "pm25_exposure": pytest.approx(18.4),
        "energy_use": 412.0,
        "peak_load": 96.0,
    }
    series = fig.axes[3].lines[0].get_ydata()  # net load of all districts [MW]
    assert_close(series, [15.0, 30.0, 45.0, 60.0, 75.0])  # 1000 kW * (1+...+5) * (k+1)


def test_plot_bad_input(run_store, city_store, tmp_path):
    with pytest.raises(twin.InputError, match="no KPIs"):
        viz.plot_kpis(city_store, tmp_path / "k.png")
    with pytest.raises(twin.InputError, match="available: "):
        viz.plot_map(run_store, tmp_path / "m.png", "pm10")
    with pytest.raises(twin.InputError, match=r"\.png, \.svg or \.pdf"):
        viz.plot_map(run_store, tmp_path / "m.gif", "pm25")
