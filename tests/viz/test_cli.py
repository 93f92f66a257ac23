"""``twin render`` / ``twin plot`` through typer, registered as twin.cli registers them."""

from __future__ import annotations

import imageio.v3 as iio
import pytest
import typer
from typer.testing import CliRunner

import viz.cli
from tests.helpers import requires_pyvista
from tests.viz.conftest import make_run

pytestmark = requires_pyvista


@pytest.fixture(scope="module")
def app():
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("render")(viz.cli.render)
    app.command("plot")(viz.cli.plot)
    return app


def invoke(app, *args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_render_png(app, city_store, tmp_path):
    out = tmp_path / "city.png"
    code, text = invoke(app, "render", city_store, "-o", out, "--size", "320x200")
    assert code == 0, text
    assert "Wrote" in text and iio.imread(out).shape[:2] == (200, 320)


def test_render_run_layer_animation_comparison_html(app, run_store, other_run_store, tmp_path):
    png, gif, diff, html = (tmp_path / n for n in ("a.png", "rush.gif", "d.png", "s.html"))
    opts = ("--size", "320x200", "--camera", "top")
    code, text = invoke(
        app, "render", run_store, "-o", png, "--var", "pm25", "--time", "08:00", *opts
    )
    assert code == 0, text
    code, text = invoke(
        app, "render", run_store, "--animate", "--from", "06:00", "--to", "08:00", "-o", gif, *opts
    )
    assert code == 0, text
    assert "3 frames" in text and iio.imread(gif, index=None).shape[0] == 3
    code, text = invoke(
        app, "render", run_store, "--compare", other_run_store, "--var", "pm25", "-o", diff, *opts
    )
    assert code == 0, text
    assert "max |B - A| of pm25 = 162 µg/m³" in text  # peak at 10:00: 12 + 30 * 5, 2x - 1x
    code, text = invoke(app, "render", run_store, "--html", html, "--size", "320x200")
    assert code == 0, text
    assert html.stat().st_size > 100_000
    assert "Colouring by pm25 (the default" in text  # no --var: the run's default, said


def test_render_compare_warns_on_different_days(app, run_store, city, tmp_path):
    winter = make_run(tmp_path / "winter.zarr", city, start="2026-01-15T05:00:00+09:00")
    out = tmp_path / "d.png"
    code, text = invoke(
        app, "render", run_store, "--compare", winter, "-o", out, "--size", "320x200",
        "--side-by-side",
    )  # fmt: skip
    assert code == 0, text
    assert "Colouring by pm25" in text  # a comparison has the same default variable
    assert "warning:" in text and "2026-06-17" in text and "2026-01-15" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--var", "pm10", "-o", "x.png"), "available: "),
        (("--size", "big", "-o", "x.png"), "WIDTHxHEIGHT"),
        (("--time", "25:00", "-o", "x.png"), "not a clock time"),
        (("--time", "23:00", "-o", "x.png"), "outside the run's completed outputs"),
        (("--camera", "sideways", "-o", "x.png"), "expected one of oblique, top, street"),
        (("-o", "x.jpg"), ".png"),
        ((), "nothing to write"),
        (("--compare", "B.zarr", "--html", "x.html"), "write to --output"),
        (("--from", "06:00", "-o", "x.png"), "--animate"),
    ],
)
def test_render_bad_input(app, run_store, tmp_path, args, message):
    args = [tmp_path / a if a.startswith("x.") else a for a in args]
    code, text = invoke(app, "render", run_store, "--size", "64x48", *args)
    assert code == 2, text
    assert "error:" in text and message in text


def test_render_missing_store(app, tmp_path):
    code, text = invoke(app, "render", tmp_path / "none.zarr", "-o", tmp_path / "x.png")
    assert code == 2 and "no such file" in text


def test_plot(app, run_store, tmp_path):
    code, text = invoke(app, "plot", run_store, "--kpi", "-o", tmp_path / "k.png")
    assert code == 0, text
    code, text = invoke(
        app, "plot", run_store, "--var", "speed", "--time", "08:00", "-o", tmp_path / "m.png"
    )
    assert code == 0, text
    code, text = invoke(app, "plot", run_store, "-o", tmp_path / "n.png")
    assert code == 2 and "exactly one of --kpi or --var" in text
