"""``twin render`` and ``twin plot``: typer command functions (registered by ``twin.cli``).

Importing this module loads no pyvista, imageio or matplotlib: they load when a command
runs. Bad input exits with status 2 and one ``error:`` line, as the other twin commands.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

import viz
from twin.console import console, escape, fail, missing_dependency
from twin.errors import InputError
from viz import plots
from viz.headless import HeadlessRenderError
from viz.source import Source, parse_size

LOCAL_TIME_HELP = (
    "HH:MM, or a date and time without an offset ('2026-06-17 08:00'), is the city's local "
    "time (the run's UTC offset, +09:00 in Gwangju); ISO 8601 with an offset "
    "(2026-06-17T08:00+09:00) is taken as given."
)
MemberOption = Annotated[
    int | None, typer.Option("--member", help="Member of an ensemble store (twin sweep) to draw.")
]


def render(
    path: Annotated[Path, typer.Argument(help="A city store or a run store.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Picture to write: .png, or .gif/.mp4 with --animate."),
    ] = None,
    time: Annotated[
        str | None,
        typer.Option(
            "--time",
            help=LOCAL_TIME_HELP + " Default: the run's last output. For a city store "
            "(no clock) it sets the sun and needs its offset.",
        ),
    ] = None,
    var: Annotated[
        str | None,
        typer.Option(
            "--var",
            help="Variable to colour by (pm25, speed, electric_load, ...); default for a "
            "run: pm25 (else the first of no2, nox, speed, electric_load, net_load it has); "
            "land_use: no state layer.",
        ),
    ] = None,
    camera: Annotated[
        str, typer.Option("--camera", help="oblique, top, street or street:<place>.")
    ] = "oblique",
    size: Annotated[
        str, typer.Option("--size", help="Picture size WIDTHxHEIGHT in pixels.")
    ] = "1600x1000",
    animate: Annotated[
        bool, typer.Option("--animate", help="Animate the output steps from --from to --to.")
    ] = False,
    from_: Annotated[
        str | None, typer.Option("--from", help="First time of the animation (HH:MM).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last time of the animation (HH:MM).")
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare", help="Second store B: draw B - A of --var at the same clock time."
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the 3D scene as a self-contained HTML page."),
    ] = None,
    side_by_side: Annotated[
        bool,
        typer.Option("--side-by-side", help="With --compare: two panels instead of B - A."),
    ] = False,
    member: MemberOption = None,
) -> None:
    """Render a city or a run in 3D, off screen: PNG, GIF/MP4 animation, comparison, HTML."""
    try:
        if output is None and html is None:
            raise InputError("nothing to write: give --output/-o PATH and/or --html PATH")
        if animate and compare is not None:
            raise InputError("--animate and --compare cannot be combined")
        if (from_ or to) and not animate:
            raise InputError("--from/--to select the frames of --animate")
        if side_by_side and compare is None:
            raise InputError("--side-by-side needs --compare B.zarr")
        if output is None and (animate or compare is not None):
            raise InputError("--animate and --compare write to --output/-o")
        pixels = parse_size(size)
        source = Source.open(path, member=member)
        if var is None and source.default_variable() is not None:
            var = source.default_variable()
            console.print(
                f"Colouring by {var} (the default; --var NAME to choose, --var land_use for none)"
            )
        if output is not None:
            if animate:
                frames = viz.animate(
                    source, output, start=from_, end=to, var=var, camera=camera, size=pixels
                )
                what = f"{len(frames)} frames"
            elif compare is not None:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", viz.ComparisonWarning)
                    _, max_abs = viz.compare(
                        source,
                        Source.open(compare, member=member),
                        output,
                        var=var,
                        time=time,
                        camera=camera,
                        size=pixels,
                        side_by_side=side_by_side,
                    )
                for w in caught:
                    console.print(f"[yellow]warning:[/] {escape(str(w.message))}")
                units = source.variable(var).units
                what = f"max |B - A| of {var} = {max_abs:.4g} {units}".rstrip()
            else:
                viz.render(source, output, time=time, var=var, camera=camera, size=pixels)
                what = f"{pixels[0]}x{pixels[1]}"
            console.print(f"Wrote [bold]{escape(str(output))}[/] ({what})")
        if html is not None:
            viz.export_html(source, html, time=time, var=var, camera=camera, size=pixels)
            console.print(f"Wrote [bold]{escape(str(html))}[/] (offline vtk.js scene)")
    except ImportError as err:
        raise fail(missing_dependency(err, "twin render")) from None
    except (InputError, HeadlessRenderError) as err:
        raise fail(err) from None


def plot(
    path: Annotated[Path, typer.Argument(help="A run store (or a city store for --var).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Figure to write (.png, .svg or .pdf).")
    ],
    kpi: Annotated[
        bool, typer.Option("--kpi", help="KPIs and the run's city-wide time series.")
    ] = False,
    var: Annotated[
        str | None, typer.Option("--var", help="Map of one variable (grid, buildings, links).")
    ] = None,
    time: Annotated[
        str | None,
        typer.Option("--time", help=LOCAL_TIME_HELP + " For --var; default: the last output."),
    ] = None,
    member: MemberOption = None,
) -> None:
    """Flat matplotlib figures: KPIs over time, or a map of one variable."""
    try:
        if kpi == (var is not None):
            raise InputError("give exactly one of --kpi or --var NAME")
        source = Source.open(path, member=member)
        if kpi:
            plots.plot_kpis(source, output)
        else:
            plots.plot_map(source, output, var, time)
    except ImportError as err:
        raise fail(missing_dependency(err, "twin plot")) from None
    except InputError as err:
        raise fail(err) from None
    console.print(f"Wrote [bold]{escape(str(output))}[/]")
