"""Pictures of a city or a run: PNG, animations, comparisons and offline HTML.

Every function takes a :class:`viz.source.Source`, a store path or a
:class:`twin.City`, renders off screen and returns the image as an array
(height, width, 3) of uint8 besides writing the file.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np

from twin.errors import InputError
from viz.headless import ensure_offscreen
from viz.layers import Layer, span_note
from viz.scene import CityScene
from viz.source import Source, check_size

DEFAULT_SIZE = (1600, 1000)
BACKGROUND = ("#dfe9f3", "#ffffff")  # sky gradient, top to bottom
_ANIMATION_SUFFIXES = (".gif", ".mp4")


def plotter(size=DEFAULT_SIZE, shape=(1, 1)):
    """An off-screen ``pyvista.Plotter`` with no default lights (each scene sets the sun)."""
    size = check_size(size)
    ensure_offscreen()
    import pyvista as pv

    p = pv.Plotter(
        off_screen=True, window_size=list(size), shape=shape, lighting="none", border=False
    )
    for i in range(shape[0]):
        for j in range(shape[1]):
            p.subplot(i, j)
            p.set_background(BACKGROUND[1], top=BACKGROUND[0])
    p.subplot(0, 0)
    return p


class ComparisonWarning(UserWarning):
    """A comparison that may mislead: A and B at different dates or times of day."""


def _layer(source: Source, var: str | None, steps, clim=None) -> Layer | None:
    """The state layer of ``var`` (``None``: the run's default variable, see
    :meth:`Source.default_variable`; ``"land_use"``: none)."""
    v = source.layer_variable(var)
    if v is None:
        return None
    return Layer.of(v, steps, clim=clim, background=source.background(v.name))


def _step(source: Source, time: str | None) -> int | None:
    return None if source.run is None else source.time_index(time)


def scene(source, *, time=None, var=None, camera="oblique", size=DEFAULT_SIZE) -> CityScene:
    """The scene of ``source`` at ``time`` with ``var`` as a state layer.

    A run shows its output step nearest ``time`` (default: the last); a city has no
    clock, so ``time`` (ISO 8601 with an offset) only sets the sun. Without ``var`` a
    run is coloured by its default variable (PM2.5 where the run has air,
    :data:`viz.source.DEFAULT_VARIABLES`); ``var="land_use"`` draws no state layer.
    """
    source = Source.of(source)
    step = _step(source, time)
    when = source.parse_local(time) if source.run is None and time is not None else None
    layer = _layer(source, var, [step])
    return CityScene(source, plotter(size), layer, camera, step, when)


def render(source, output=None, *, time=None, var=None, camera="oblique", size=DEFAULT_SIZE):
    """Render one picture; write a PNG to ``output`` when given.

    Parameters
    ----------
    source : store path, :class:`Source` or :class:`twin.City`.
    output : PNG path, or ``None`` to only return the image.
    time : ``HH:MM`` (run local time) or ISO 8601; default the run's last output step.
    var : any drawable variable of the store (``Source.variables``); ``None``: the run's
        default (:meth:`Source.default_variable`); ``"land_use"``: no state layer.
    camera : ``oblique``, ``top``, ``street`` or ``street:<place>``.
    size : (width, height) [px].

    Returns
    -------
    numpy.ndarray (height, width, 3) uint8
    """
    output = _png(output)
    return _shoot(scene(source, time=time, var=var, camera=camera, size=size).plotter, output)


def _png(output) -> Path | None:
    if output is None:
        return None
    output = Path(output)
    if output.suffix.lower() != ".png":
        raise InputError(f"output {output}: pictures are written as .png")
    return output


def _shoot(p, output: Path | None) -> np.ndarray:
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
    image = p.screenshot(filename=str(output) if output else None, return_img=True)
    p.close()
    return np.asarray(image)


def animate(
    source,
    output,
    *,
    start=None,
    end=None,
    var=None,
    camera="oblique",
    size=DEFAULT_SIZE,
    fps: float = 4.0,
):
    """Animate the output steps from ``start`` to ``end`` to a GIF (or MP4) with a clock.

    Colour limits span the whole range, so colours compare across frames. MP4 needs
    the ``imageio-ffmpeg`` package. Returns the frames (n, height, width, 3) uint8.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in _ANIMATION_SUFFIXES:
        raise InputError(f"output {output}: animations are written as .gif or .mp4")
    if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise InputError("writing MP4 needs the imageio-ffmpeg package; write a .gif instead")
    size = check_size(size)
    if suffix == ".mp4" and (size[0] % 2 or size[1] % 2):
        raise InputError(f"size {size[0]}x{size[1]}: MP4 (H.264) needs an even width and height")
    if not fps > 0:
        raise InputError(f"fps={fps!r} must be positive")
    source = Source.of(source)
    steps = source.time_range(start, end)
    layer = _layer(source, var, steps)
    s = CityScene(source, plotter(size), layer, camera, int(steps[0]))
    frames = []
    for step in steps:
        s.set_step(int(step))
        s.plotter.render()
        frames.append(np.asarray(s.plotter.screenshot(return_img=True)))
    s.plotter.close()
    frames = np.stack(frames)
    import imageio.v3 as iio

    output.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        iio.imwrite(output, frames, duration=1000.0 / fps, loop=0)
    else:
        # H.264 in yuv420p needs even sizes; 2 (not the default 16) keeps the picture size
        iio.imwrite(output, frames, fps=fps, codec="libx264", plugin="FFMPEG", macro_block_size=2)
    return frames


def compare(
    a,
    b,
    output=None,
    *,
    var: str,
    time=None,
    camera="oblique",
    size=DEFAULT_SIZE,
    side_by_side: bool = False,
):
    """Compare two stores at the same clock time and camera: ``B - A`` or two panels.

    Without ``time`` both show the latest clock time they share (runs of different
    lengths compare at the same time, not at their own last steps); ``HH:MM`` is read
    on each run's own day. A :class:`ComparisonWarning` says when A and B are on
    different dates or their nearest output steps differ in time of day; every panel
    (or the caption of ``B - A``) names its store and clock time.

    Returns
    -------
    image : numpy.ndarray (height, width, 3) uint8
    max_abs_difference : float, the largest ``|B - A|`` of ``var`` [display units]
    """
    output = _png(output)
    a, b = Source.of(a), Source.of(b)
    if var is None:
        raise InputError("a comparison needs a variable (--var), e.g. pm25 or speed")
    va, vb = a.variable(var), b.variable(var)
    sa, sb = shared_steps(a, b, time)
    diff = Layer.difference(va, vb, sa, sb)
    max_abs = float(np.nanmax(np.abs(diff.values(None)), initial=0.0))
    if not side_by_side:
        caption = "\n".join(
            [f"B - A of {var}", _panel_caption("A", a, sa), _panel_caption("B", b, sb)]
        )
        s = CityScene(a, plotter(size), diff, camera, sa, caption=caption)
        return _shoot(s.plotter, output), max_abs
    # one colour range for both panels: the wider of the two, with its note
    layers = [_layer(src, var, [step]) for src, step in ((a, sa), (b, sb))]
    clim = (min(x.clim[0] for x in layers), max(x.clim[1] for x in layers))
    wide = next((x for x in layers if x.clim == clim), None)
    note = wide.note if wide else span_note(clim, va.units)
    p = plotter(size, shape=(1, 2))
    for col, (src, step, tag) in enumerate(((a, sa, "A"), (b, sb, "B"))):
        p.subplot(0, col)
        layer = replace(layers[col], clim=clim, note=note)
        CityScene(src, p, layer, camera, step, caption=f"{tag}: {src.label}")
    p.link_views()
    return _shoot(p, output), max_abs


def _panel_caption(tag: str, source: Source, step: int | None) -> str:
    when = "" if step is None else f" at {source.clock_label(source.times[step])}"
    return f"{tag}: {source.label}{when}"


def shared_steps(a: Source, b: Source, time: str | None) -> tuple[int | None, int | None]:
    """Output steps of ``a`` and ``b`` to compare: nearest ``time`` (``HH:MM`` on each
    run's own day), or the latest clock time both have. Warns
    (:class:`ComparisonWarning`) when the dates or the times of day differ."""
    if a.run is None or b.run is None:
        return (None if a.run is None else a.time_index(time)), (
            None if b.run is None else b.time_index(time)
        )
    if time is None:
        clock_a, clock_b = (_clock_times(s) for s in (a, b))
        common = sorted(set(clock_a) & set(clock_b))
        if not common:
            raise InputError(
                f"{a.label} and {b.label} share no output clock time (A: "
                f"{a.clock_label(a.times[0])} to {a.clock_label(a.times[-1])}; B: "
                f"{b.clock_label(b.times[0])} to {b.clock_label(b.times[-1])}); give --time"
            )
        sa, sb = clock_a[common[-1]], clock_b[common[-1]]
    else:
        sa, sb = a.time_index(time), b.time_index(time)
    ta, tb = a.local(a.times[sa]), b.local(b.times[sb])
    if ta.date() != tb.date():
        warnings.warn(
            f"A ({a.label}) is on {ta:%Y-%m-%d} and B ({b.label}) on {tb:%Y-%m-%d}: the "
            "comparison is at the same clock time on different days (weather, day of the "
            "week and background may differ)",
            ComparisonWarning,
            stacklevel=3,
        )
    if ta.timetz() != tb.timetz():
        warnings.warn(
            f"A shows {a.clock_label(a.times[sa])} and B {b.clock_label(b.times[sb])}: "
            "their output steps differ in time of day",
            ComparisonWarning,
            stacklevel=3,
        )
    return sa, sb


def _clock_times(source: Source) -> dict[timedelta, int]:
    """Output step by local clock time since midnight of the run's first day."""
    day = source.start.replace(hour=0, minute=0, second=0, microsecond=0)
    return {source.local(t) - day: i for i, t in enumerate(source.times)}


def export_html(source, output, *, time=None, var=None, camera="oblique", size=DEFAULT_SIZE):
    """Write a self-contained HTML page (vtk.js, no network) of the scene.

    The page embeds the geometry and the vtk.js viewer of ``trame-vtk``; it opens
    from disk in any WebGL browser. As in the PNG, it shows the colour bar (its range
    the colours' range), the clock and the legend's note (an HTML layer over the
    canvas), and the district names (flat text on the ground).
    """
    output = Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"output {output}: HTML export writes a .html file")
    s = scene(source, time=time, var=var, camera=camera, size=size)
    from viz.webexport import write_html

    s.ground_text()
    s.plotter.render()
    output.parent.mkdir(parents=True, exist_ok=True)
    write_html(s.plotter, output, overlay=s.caption_lines)
    s.plotter.close()
    return output
