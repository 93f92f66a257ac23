"""The ``twin`` command line (typer + rich)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.table import Table

import twin
from twin.console import console, escape, fail, missing_dependency
from twin.errors import InputError
from viz import cli as viz_cli

app = typer.Typer(
    help="Gwangju city twin: build cities, run coupled simulations, inspect results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
city_app = typer.Typer(help="Build and manage cities.", no_args_is_help=True)
app.add_typer(city_app, name="city")


def _version(value: bool) -> None:
    if value:
        console.print(f"twin {twin.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log the twin's own detail (debug lines).")
    ] = False,
) -> None:
    _log_to_console(verbose)


OWN_LOGGERS = ("twin", "sim", "gpu", "viz")  # the twin's packages; libraries log warnings only


def _own_handler(handler: logging.Handler) -> logging.Handler:
    handler.twin_cli = True  # so a later command replaces it rather than adding another
    return handler


def _log_to_console(verbose: bool) -> None:
    """The twin's log on the console (INFO, or DEBUG with -v); other libraries' (Zarr,
    asyncio, numcodecs) only from WARNING up."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "twin_cli", False)]:
        root.removeHandler(old)
        old.close()
    handler = _own_handler(RichHandler(console=console, show_path=False, show_time=False))
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)  # the handlers choose what to show


def _log_to_file(path: Path) -> None:
    """The twin's log, debug lines included, with times, appended to ``path``."""
    try:
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as err:
        raise InputError(f"--log {path}: cannot write the log ({err.strerror or err})") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(_own_handler(handler))


@city_app.command("build")
def city_build(
    name: Annotated[str, typer.Argument(help="Dataset name (e.g. gwangju) or dataset folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Zarr store to write.")],
    resolution: Annotated[
        float, typer.Option("--resolution", "-r", help="Cell size [m], 10-500.")
    ] = 100.0,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Random seed.")] = 0,
) -> None:
    """Build a city from a dataset and save it as a Zarr v3 store."""
    try:
        with console.status(f"Building {name} at {resolution:g} m..."):
            t0 = time.perf_counter()
            city = twin.build_city(name, resolution_m=resolution, seed=seed)
            built = time.perf_counter() - t0
            city.save(output)
    except (InputError, OSError) as err:
        raise fail(err) from None
    console.print(f"Built {city.name} in {built:.1f} s, saved to [bold]{escape(str(output))}[/]")
    _print_summary(city.summary())


@city_app.command("import-osm")
def city_import_osm(
    extract: Annotated[Path, typer.Argument(help="OpenStreetMap extract (.osm.pbf or .osm).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Zarr store to write.")],
    resolution: Annotated[float, typer.Option("--resolution", "-r", help="Cell size [m].")] = 50.0,
    bbox: Annotated[
        str | None, typer.Option(help="Keep only W,S,E,N [degrees], e.g. 126.8,35.1,126.9,35.2.")
    ] = None,
    crs: Annotated[str | None, typer.Option(help="Projected CRS (default: UTM zone).")] = None,
    population: Annotated[
        float | None, typer.Option(help="Residents, spread over residential floor area.")
    ] = None,
    dem: Annotated[Path | None, typer.Option(help="Terrain GeoTIFF [m] (default: flat).")] = None,
    name: Annotated[str | None, typer.Option(help="City name (default: file name).")] = None,
    defaults: Annotated[
        Path | None, typer.Option(help="TOML overriding the per-class defaults table.")
    ] = None,
    join_m: Annotated[
        float, typer.Option(help="Join junctions closer than this along a road [m].")
    ] = 20.0,
    admin_level: Annotated[
        int | None, typer.Option(help="OSM admin_level of the boundaries that make districts.")
    ] = None,
) -> None:
    """Build a city from an OpenStreetMap extract (extra 'geo') and save it."""
    try:
        from twin.importers.osm import import_osm, parse_bbox

        with console.status(f"Importing {escape(str(extract))}..."):
            t0 = time.perf_counter()
            city, report = import_osm(
                extract,
                resolution_m=resolution,
                bbox=parse_bbox(bbox) if bbox else None,
                crs=crs,
                population=population,
                dem=dem,
                name=name,
                defaults=defaults,
                join_m=join_m,
                admin_level=admin_level,
            )
            built = time.perf_counter() - t0
            city.save(output)
    except (ImportError, InputError, OSError) as err:
        raise fail(err) from None
    console.print(f"Imported {city.name} in {built:.1f} s, saved to [bold]{escape(str(output))}[/]")
    _print_summary(city.summary())
    for title, counts in (("repaired or dropped", report.fixes), ("skipped", report.skipped)):
        table = Table(title=title, show_header=False, title_justify="left")
        for what, n in sorted(counts.items()):
            if n:
                table.add_row(f"{n:,}", what)
        if table.row_count:
            console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


@app.command("info")
def info(path: Annotated[Path, typer.Argument(help="A city or run store.")]) -> None:
    """Print a readable summary of a city store, or of a run store and its city."""
    from twin.ensemble import ensemble_summary
    from twin.store import run_summary

    try:
        city = twin.open_city(path)
        run = run_summary(path)
        ensemble = ensemble_summary(path)
    except InputError as err:
        raise fail(err) from None
    _print_summary(city.summary(), title=str(path))
    for title, lines in (("run", run), ("ensemble", ensemble)):
        if lines:
            table = Table(title=title, show_header=False, title_justify="left")
            table.add_column(style="bold")
            table.add_column()
            for key, value in lines.items():
                table.add_row(key, escape(str(value)))
            console.print(table)


def _print_summary(s: dict, title: str | None = None) -> None:
    table = Table(title=title or s["name"], show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    xmin, ymin, xmax, ymax = s["extent_m"]
    rows = [
        ("city", s["name"]),
        ("CRS", s["crs"]),
        ("resolution", f"{s['resolution_m']:g} m"),
        ("grid", s["grid"]),
        (
            "extent",
            f"x {xmin:,.0f} to {xmax:,.0f} m, y {ymin:,.0f} to {ymax:,.0f} m "
            f"({(xmax - xmin) / 1e3:.1f} x {(ymax - ymin) / 1e3:.1f} km)",
        ),
        ("population", f"{s['population']:,.0f}"),
        ("districts", ", ".join(f"{k} {v:,}" for k, v in s["districts"].items())),
        ("buildings", f"{s['buildings']:,} ({s['floor_area_km2']:.1f} km2 floor area)"),
        (
            "roads",
            f"{s['nodes']:,} nodes ({s['signalized_nodes']:,} signalized), "
            f"{s['links']:,} links, {s['road_km']:,.0f} km of road",
        ),
        ("sensors", ", ".join(f"{v} {k}" for k, v in s["sensors"].items())),
        ("groups", "grid, buildings, roads, districts, sensors"),
        ("schema", str(s["schema_version"])),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@app.command("run")
def run_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run store to write.")],
    device: Annotated[
        str | None, typer.Option("--device", "-d", help="auto, cpu or gpu (default: scenario's).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted run from its last restart (a complete one: no work).",
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a run store already at --output.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar.")
    ] = True,
    profile: Annotated[
        bool,
        typer.Option("--profile", help="Exact per-part GPU times (a device sync per part)."),
    ] = False,
    check_every_step: Annotated[
        bool,
        typer.Option(
            "--check-every-step",
            help="Check for NaN/Inf after every step, not every output (finds the exact step).",
        ),
    ] = False,
    log_file: Annotated[
        Path | None, typer.Option("--log", help="Also write the run's log (debug lines) here.")
    ] = None,
    tiles: Annotated[
        str | None,
        typer.Option(
            "--tiles",
            help="NYxNX: the air model on that many y/x tiles, one Ray worker each (edges on "
            "the store's grid chunks); traffic and energy stay here.",
        ),
    ] = None,
    grid_chunk: Annotated[
        int | None,
        typer.Option("--grid-chunk", help="y/x chunk of the store's grids [cells] (default 512)."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="Ray cluster of --tiles HOST:PORT (default: RAY_ADDRESS or local)."
        ),
    ] = None,
) -> None:
    """Run a scenario: the coupled traffic, air and energy models, streamed to a Zarr store.

    An existing run store at --output is never replaced silently: continue it with
    --resume or replace it with --overwrite.
    """
    from twin.runner import run
    from twin.store import open_run, read_kpis
    from twin.tiles import parse_tiles

    try:
        if log_file is not None:
            _log_to_file(log_file)
        if resume and overwrite:
            raise InputError("--resume and --overwrite exclude each other: continue or replace")
        existing = _existing_run(output)
        if existing and not (resume or overwrite):
            raise InputError(_refusal(output, existing))
        if existing and resume and existing["status"] == "complete":
            open_run(output)  # checks every chunk it exposes: damage is reported, not passed
            console.print(
                f"{escape(str(output))} is complete ({existing['output steps']}); nothing to "
                "do (--overwrite runs it again)"
            )
            _print_kpis(read_kpis(output), title=f"KPIs of {output}")
            return
        result = run(
            scenario,
            output,
            device=device,
            progress=progress,
            resume=resume,
            profile=profile,
            check_every_step=check_every_step,
            tiles=None if tiles is None else parse_tiles(tiles),
            grid_chunk=grid_chunk,
            address=address,
        )
    except (InputError, RuntimeError, OSError) as err:
        raise fail(err) from None
    except KeyboardInterrupt:
        raise _interrupted(scenario, output) from None
    _print_run(result)


def _interrupted(scenario: Path, output: Path) -> typer.Exit:
    """Say what a Ctrl-C left and how to continue; the exit (status 130, as a shell's)."""
    from twin.store import run_summary

    try:
        steps = f"holds {run_summary(output)['output steps']} output steps"
    except (InputError, OSError, ValueError, KeyError):
        steps = "was not created yet"
    hint = (
        f"; continue with: twin run {scenario} -o {output} --resume"
        if steps.startswith("holds")
        else ""
    )
    console.print(f"[yellow]interrupted:[/] {escape(str(output))} {steps}{escape(hint)}")
    return typer.Exit(code=130)


def _existing_run(path: Path) -> dict | None:
    """The status lines of the run store at ``path`` (see :func:`twin.store.run_summary`),
    None when nothing is there; anything else there is refused."""
    from twin.store import RUN_KIND, run_summary, store_kind

    if not path.exists() and not path.is_symlink():
        return None
    kind = store_kind(path)
    if kind != RUN_KIND:
        what = f"a {kind} store" if kind else "not a run store written by this twin"
        raise InputError(
            f"{path} exists and is {what}; choose another --output (or delete it yourself)"
        )
    try:
        return run_summary(path)
    except (OSError, ValueError, KeyError) as err:  # damaged, or half-made by an older twin
        return {"scenario": "", "status": f"unreadable ({err})",
                "output steps": "no output step readable"}  # fmt: skip


def _refusal(path: Path, run: dict) -> str:
    """Why ``twin run`` does not replace the run at ``path``, and what to type instead."""
    complete = run["status"] == "complete"
    what = (
        f"{path} already holds a run (scenario {run['scenario']!r}, status {run['status']}, "
        f"{run['output steps']})"
    )
    if complete:
        return f"{what}; replace it with --overwrite, or choose another --output"
    return (
        f"{what}; continue it with --resume, replace it with --overwrite, or choose another "
        "--output"
    )


def _print_run(result) -> None:
    console.print(f"Wrote [bold]{escape(str(result.store))}[/] in {result.wall_s:.1f} s")
    split = Table(title="Time per part (the writer's parts overlap the loop)", title_justify="left")
    split.add_column("part")
    split.add_column("seconds", justify="right")
    split.add_column("share of wall", justify="right")
    total = result.wall_s or 1.0
    for name, seconds in sorted(result.timings_s.items(), key=lambda kv: -kv[1]):
        split.add_row(name, f"{seconds:.1f}", f"{100 * seconds / total:.0f} %")
    console.print(split)
    _print_kpis(result.kpis)


def _print_kpis(kpis, title: str = "KPIs") -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_column("units")
    from twin.kpi import KPIS

    order = [k for k in KPIS if k in kpis] + [k for k in kpis.data_vars if k not in KPIS]
    for name in order:
        var = kpis[name]
        table.add_row(var.attrs.get("long_name", name), f"{float(var):,.4g}", var.attrs["units"])
    console.print(table)


@app.command("kpi")
def kpi_cmd(path: Annotated[Path, typer.Argument(help="A run store.")]) -> None:
    """Print the KPI table of a finished run (of an ensemble: the summary over members)."""
    from twin.ensemble import ensemble_summary, read_ensemble
    from twin.store import read_kpis

    try:
        if ensemble_summary(path):
            _print_ensemble(read_ensemble(path), path)
            return
        kpis = read_kpis(path)
    except InputError as err:
        raise fail(err) from None
    _print_kpis(kpis, title=f"KPIs of {path}")


@app.command("demo")
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Run store to write.")] = Path(
        "demo.zarr"
    ),
    device: Annotated[str | None, typer.Option("--device", "-d", help="auto, cpu or gpu.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Run again over an existing demo store.")
    ] = False,
) -> None:
    """The main job: a June weekday in Gwangju at 100 m, 24 simulated hours (an existing
    demo store is continued or, when complete, shown again)."""
    from twin.scenario import builtin_scenario

    # the demo's own store: an interrupted demo continues, a complete one is shown again
    run_cmd(
        builtin_scenario("june_weekday"),
        output=output,
        device=device,
        resume=not overwrite and output.exists(),  # a first demo starts without a warning
        overwrite=overwrite,
    )
    picture = output.with_suffix(".png")
    try:
        import viz

        with console.status(f"Rendering {picture} (PM2.5 at 08:00, the morning peak)..."):
            viz.render(output, picture, time="08:00", var="pm25", size=(1600, 1000))
    except ImportError as err:
        console.print(f"No picture: {escape(missing_dependency(err, 'the picture'))}")
        return
    except (InputError, RuntimeError) as err:
        console.print(f"[yellow]No picture:[/] {err}", soft_wrap=True)
        return
    console.print(f"Rendered [bold]{escape(str(picture))}[/]")


@app.command("sweep")
def sweep_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            "-p",
            help="FIELD=V1,V2,... or FIELD=A..B (whole numbers), e.g. weather.seed=0..7; "
            "repeat for a product.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Ensemble store to write.")],
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster HOST:PORT (default: RAY_ADDRESS or local)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Members in flight at once.")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", "-d", help="auto, cpu or gpu.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a store holding another ensemble.")
    ] = False,
) -> None:
    """Run a sweep of a scenario as Ray tasks into ONE store (a member dimension); a
    re-run on the same store skips the complete members."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from twin.ensemble import parse_param

    try:
        sweep = dict(parse_param(p) for p in param)
        from twin.distributed import run_ensemble

        with Progress(
            TextColumn("[bold]members"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"), console=console,
        ) as bar:  # fmt: skip
            task = bar.add_task("members", total=None, last="")

            def advance(result, done, total):
                bar.update(task, completed=done, total=total,
                           last=f"member {result.index} {result.status}")  # fmt: skip

            table = run_ensemble(scenario, sweep, output, address=address, workers=workers,
                                 device=device, overwrite=overwrite, on_member=advance)  # fmt: skip
    except (InputError, RuntimeError, OSError) as err:
        raise fail(err) from None
    _print_ensemble(table, output)


def _print_ensemble(table, output: Path) -> None:
    from twin.ensemble import kpi_summary

    status = list(table["status"].values)
    console.print(
        f"Wrote [bold]{escape(str(output))}[/]: {status.count('complete')} of {len(status)} "
        f"members complete, {status.count('failed')} failed"
    )
    summary = Table(title="KPIs over the complete members", title_justify="left")
    for col in ("KPI", "units", "mean", "min", "max", "spread (sd)"):
        summary.add_column(col, justify="left" if col in ("KPI", "units") else "right")
    for name, v in kpi_summary(table).items():
        summary.add_row(name, table[name].attrs.get("units", ""),
                        *(f"{v[s]:,.4g}" for s in ("mean", "min", "max", "spread")))  # fmt: skip
    console.print(summary)
    for i in (i for i, s in enumerate(status) if s == "failed"):
        console.print(f"[red]member {i} failed:[/] {escape(str(table['error'].values[i]))}")


@app.command("evaluate")
def evaluate_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    service: Annotated[str, typer.Option("--service", "-s", help="Built-in service to score.")],
    baseline: Annotated[
        str, typer.Option("--baseline", "-b", help="Built-in service to compare with.")
    ] = "fixed_time",
    seeds: Annotated[int, typer.Option("--seeds", "-n", help="Seeds (runs per arm).")] = 5,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder for the run stores.")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", "-d", help="auto, cpu or gpu.")] = None,
    var: Annotated[
        str, typer.Option("--var", help="Variable of the comparison picture (with -o).")
    ] = "speed",
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="Run the seeds as Ray ensemble members: HOST:PORT, auto or local."
        ),
    ] = None,
) -> None:
    """Score a service against a baseline over seeds: KPI means, paired differences, 95 % CIs."""
    from twin.evaluation import evaluate

    try:
        with console.status(f"Evaluating {service} against {baseline} over {seeds} seed(s)..."):
            ev = evaluate(scenario, service, baseline, seeds=seeds, store_dir=output,
                          device=device, address=address)  # fmt: skip
    except (InputError, RuntimeError, OSError) as err:
        raise fail(err) from None
    _print_evaluation(ev)
    if output is not None and ev.stores:
        _compare_picture(ev, output, var)
    elif ev.ensemble is not None:
        console.print(f"Ensemble store [bold]{escape(str(ev.ensemble))}[/] (arm, seed members)")


def _print_evaluation(ev) -> None:
    from twin.kpi import KPIS

    n = ev.members.sizes["seed"]
    table = Table(
        title=f"{ev.service} against {ev.baseline}, {n} seed(s), paired (95 % CI: t, {n - 1} df)",
        title_justify="left",
    )
    for col in ("KPI", "units", ev.baseline, ev.service, "difference", "95 % CI", "relative",
                "ratio", "better"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("KPI", "units", "better") else "right")
    for name, var in ev.table.data_vars.items():
        v = {s: float(var.sel(stat=s)) for s in var["stat"].values}
        better = KPIS[name].better if name in KPIS else ""
        table.add_row(
            name,
            var.attrs.get("units", ""),
            f"{v['baseline']:,.4g}",
            f"{v['service']:,.4g}",
            f"{v['difference']:+,.4g}",
            f"{v['ci_low']:+,.3g} to {v['ci_high']:+,.3g}",
            f"{100 * v['relative']:+.1f} %",
            f"{v['ratio']:.3f}",
            better,
        )
    console.print(table)


def _compare_picture(ev, output: Path, var: str) -> None:
    picture = output / f"{ev.service}-vs-{ev.baseline}.png"
    try:
        import viz

        viz.compare(ev.stores["baseline"][0], ev.stores["service"][0], picture, var=var)
    except ImportError as err:
        console.print(f"No picture: {escape(missing_dependency(err, 'the picture'))}")
        return
    except (InputError, RuntimeError) as err:
        console.print(f"[yellow]No picture:[/] {escape(str(err))}", soft_wrap=True)
        return
    console.print(
        f"Stores in [bold]{escape(str(output))}[/]; picture [bold]{escape(str(picture))}[/]"
    )


app.command("render")(viz_cli.render)
app.command("plot")(viz_cli.plot)


if __name__ == "__main__":
    app()
