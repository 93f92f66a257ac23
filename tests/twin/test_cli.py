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
