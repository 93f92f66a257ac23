"""The `twin` command line, as a user types it."""

from __future__ import annotations

from typer.testing import CliRunner

import twin
from twin.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and twin.__version__ in result.output


def test_build_then_info(tmp_path):
    store = tmp_path / "g.zarr"
    result = runner.invoke(
        app, ["city", "build", "gwangju", "--resolution", "500", "-o", str(store)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["info", str(store)])
    assert result.exit_code == 0, result.output
    for text in ("EPSG:5186", "500 m", "48 x 72", "1,415,000", "Gwangsan-gu", "signalized"):
        assert text in result.output, text


def test_errors_are_messages_not_tracebacks(tmp_path):
    result = runner.invoke(app, ["info", str(tmp_path / "nothing.zarr")])
    assert result.exit_code == 2 and "no such file" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["city", "build", "gwangju", "-r", "5", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "out of range" in result.output


def test_run_kpi_info(tmp_path):
    from tests.twin.test_runner import scenario

    sc = tmp_path / "s.toml"
    sc.write_text(scenario(duration="2h", output_interval="1h").to_toml())
    store = tmp_path / "r.zarr"
    result = runner.invoke(app, ["run", str(sc), "-o", str(store), "--no-progress", "-d", "cpu"])
    assert result.exit_code == 0, result.output
    for text in ("Time per part", "traffic", "vehicle-hours travelled", "ug m-3"):
        assert text in result.output, text
    result = runner.invoke(app, ["kpi", str(store)])
    assert result.exit_code == 0 and "population-weighted mean PM2.5" in result.output
    result = runner.invoke(app, ["info", str(store)])
    assert result.exit_code == 0 and "2 of 2 complete" in result.output


def test_run_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('start = 2026-06-17T00:00:00\nduration = "1h"\n')
    result = runner.invoke(app, ["run", str(bad), "-o", str(tmp_path / "x.zarr")])
    assert (
        result.exit_code == 2 and "timezone" in result.output and "Traceback" not in result.output
    )
    result = runner.invoke(app, ["kpi", str(tmp_path)])
    assert result.exit_code == 2 and "not a Zarr v3 store" in result.output
