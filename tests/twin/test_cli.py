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


def test_run_never_replaces_a_store_silently(tmp_path):
    """Issue 11 item 2: an existing run is refused with what it holds; --resume of a
    complete run exits 0 without work; --overwrite replaces; other stores are refused."""
    from tests.twin.test_runner import scenario
    from twin.store import RunStore

    sc = tmp_path / "s.toml"
    sc.write_text(scenario(duration="2h", output_interval="1h").to_toml())
    store = tmp_path / "r.zarr"
    args = ["run", str(sc), "-o", str(store), "--no-progress", "-d", "cpu"]
    assert runner.invoke(app, args).exit_code == 0
    meta = (store / "zarr.json").read_bytes()

    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    for text in ("already holds a run", "'mini'", "status complete", "2 of 2 complete",
                 "--overwrite"):  # fmt: skip
        assert text in result.output, text
    assert "--resume" not in result.output  # nothing to continue
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0 and "is complete (2 of 2 complete); nothing to do" in result.output
    assert "population-weighted mean PM2.5" in result.output  # the stored KPIs
    assert (store / "zarr.json").read_bytes() == meta  # no work, not even a timestamp

    RunStore(store).update_attrs(status="interrupted", completed_outputs=1, restart_outputs=1)
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "status interrupted" in result.output
    assert "1 of 2 complete" in result.output and "continue it with --resume" in result.output
    assert runner.invoke(app, [*args, "--resume", "--overwrite"]).exit_code == 2

    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert RunStore(store).attrs["status"] == "complete"

    city = tmp_path / "c.zarr"
    build = runner.invoke(app, ["city", "build", "minicity", "-r", "250", "-o", str(city)])
    assert build.exit_code == 0
    for extra in ([], ["--overwrite"], ["--resume"]):
        result = runner.invoke(app, ["run", str(sc), "-o", str(city), "--no-progress", *extra])
        assert result.exit_code == 2 and "is a city store" in result.output, result.output
    assert (city / "grid" / "zarr.json").is_file()


def test_messages_keep_the_install_hint(tmp_path, monkeypatch):
    """Issue 11 item 6: '[viz]' is not eaten as rich markup; a missing matplotlib says
    which extra installs it."""
    import twin.cli
    import viz
    import viz.cli

    def no_module(name):
        def raiser(*args, **kwargs):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        return raiser

    monkeypatch.setattr(twin.cli, "run_cmd", lambda *args, **kwargs: None)
    monkeypatch.setattr(viz, "render", no_module("pyvista"))
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "demo.zarr")])
    assert result.exit_code == 0, result.output
    assert "needs pyvista, from the 'viz' extra: pip install 'gwangju-twin[viz]'" in result.output

    monkeypatch.setattr(viz.cli.Source, "open", staticmethod(lambda path, **_: None))
    monkeypatch.setattr(viz.cli.plots, "plot_kpis", no_module("matplotlib"))
    result = runner.invoke(app, ["plot", str(tmp_path), "--kpi", "-o", str(tmp_path / "k.png")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (
        "twin plot needs matplotlib, from the 'viz' extra: pip install 'gwangju-twin[viz]'"
        in result.output
    )


def test_naive_start_says_add_an_offset(tmp_path):
    bad = tmp_path / "naive.toml"
    bad.write_text('start = 2026-06-17T08:00:00\nduration = "1h"\n')
    result = runner.invoke(app, ["run", str(bad), "-o", str(tmp_path / "x.zarr")])
    assert result.exit_code == 2 and "add an offset such as +09:00" in result.output
    assert "datetime.datetime" not in result.output and "2026-06-17T08:00:00" in result.output


def test_render_time_help_agrees_with_what_is_accepted():
    """Issue 11 item 5: the help says a naive --time is the city's local time, and it is."""
    import xarray as xr

    from viz.source import Source

    result = runner.invoke(app, ["render", "--help"])
    assert "without an offset" in result.output and "city's local" in result.output
    run = xr.DataTree()
    run.attrs = {"scenario": "start = 2026-06-17T00:00:00+09:00\n", "utc_offset_hours": 9.0}
    source = Source(city=None, run=run)
    for text in ("08:00", "2026-06-17 08:00", "2026-06-17T08:00", "2026-06-16T23:00Z"):
        t = source.parse_local(text)
        assert (t.hour, t.utcoffset().total_seconds()) in ((8, 9 * 3600), (23, 0)), text
        assert source.parse_time(text) == source.parse_time("2026-06-17T08:00+09:00"), text


def test_demo_continues_only_a_store_that_exists(tmp_path, monkeypatch):
    """A first demo starts plainly (no 'no run store' warning); a later one continues."""
    import twin.cli
    import viz

    calls = []
    monkeypatch.setattr(twin.cli, "run_cmd", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(viz, "render", lambda *args, **kwargs: None)
    store = tmp_path / "demo.zarr"
    assert runner.invoke(app, ["demo", "-o", str(store)]).exit_code == 0
    store.mkdir()
    assert runner.invoke(app, ["demo", "-o", str(store)]).exit_code == 0
    assert runner.invoke(app, ["demo", "-o", str(store), "--overwrite"]).exit_code == 0
    assert [c["resume"] for c in calls] == [False, True, False]
