"""Pictures of a city or a run: PNG, animations, comparisons and offline HTML.

Every function takes a :class:`viz.source.Source`, a store path or a
:class:`twin.City`, renders off screen and returns the image as an array
(height, width, 3) of uint8 besides writing the file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from twin.errors import InputError
from viz.headless import ensure_offscreen
from viz.layers import Layer, finite_range
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


def _layer(source: Source, var: str | None, steps) -> Layer | None:
    return None if var is None else Layer.of(source.variable(var), steps)


def _step(source: Source, time: str | None) -> int | None:
    return None if source.run is None else source.time_index(time)


def scene(source, *, time=None, var=None, camera="oblique", size=DEFAULT_SIZE) -> CityScene:
    """The scene of ``source`` at ``time`` with ``var`` as a state layer.

    A run shows its output step nearest ``time`` (default: the last); a city has no
    clock, so ``time`` (ISO 8601 with an offset) only sets the sun.
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
    var : any drawable variable of the store (``Source.variables``), or ``None``.
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
    """Compare two stores at the same time and camera: ``B - A`` or two panels.

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
    sa, sb = _step(a, time), _step(b, time)
    diff = Layer.difference(va, vb, sa, sb)
    max_abs = float(np.nanmax(np.abs(diff.values(None)), initial=0.0))
    if not side_by_side:
        s = CityScene(a, plotter(size), diff, camera, sa)
        s.plotter.add_text(
            f"B - A: {b.label} - {a.label}", position="upper_right", font_size=10, color="black"
        )
        return _shoot(s.plotter, output), max_abs
    clim = finite_range([va.values(sa), vb.values(sb)])
    p = plotter(size, shape=(1, 2))
    for col, (src, v, step, tag) in enumerate(((a, va, sa, "A"), (b, vb, sb, "B"))):
        p.subplot(0, col)
        CityScene(src, p, Layer.of(v, [step], clim=clim), camera, step)
        p.add_text(f"{tag}: {src.label}", position="upper_right", font_size=10, color="black")
    p.link_views()
    return _shoot(p, output), max_abs


def export_html(source, output, *, time=None, var=None, camera="oblique", size=DEFAULT_SIZE):
    """Write a self-contained HTML page (vtk.js, no network) of the scene.

    The page embeds the geometry and the vtk.js viewer of ``trame-vtk``; it opens
    from disk in any WebGL browser. Text overlays (clock, labels) stay in the PNG
    pictures: vtk.js scenes carry geometry, colours, lights and the camera.
    """
    output = Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"output {output}: HTML export writes a .html file")
    s = scene(source, time=time, var=var, camera=camera, size=size)
    from viz.webexport import write_html

    s.plotter.render()
    output.parent.mkdir(parents=True, exist_ok=True)
    write_html(s.plotter, output)
    s.plotter.close()
    return output
