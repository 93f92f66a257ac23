"""3D scenes of the twin with PyVista (the only package that imports pyvista, lazily).

``import viz`` loads neither pyvista, VTK, matplotlib nor imageio: they load when a
picture is made. Rendering is always off screen; :func:`ensure_offscreen` probes the
GL stack once per process and names the Debian packages to install when it fails.

Pictures (:mod:`viz.pictures`): :func:`render` (PNG), :func:`animate` (GIF/MP4 with a
clock), :func:`compare` (B - A, or side by side), :func:`export_html` (offline vtk.js)
and :func:`scene` (the live scene, for scripting). Flat figures (:mod:`viz.plots`):
:func:`plot_kpis`, :func:`plot_map`. Each takes a store path, a :class:`Source` or a
:class:`twin.City`.
"""

from viz.headless import HeadlessRenderError, ensure_offscreen
from viz.pictures import ComparisonWarning, animate, compare, export_html, render, scene
from viz.plots import plot_kpis, plot_map
from viz.source import Source

__all__ = [
    "ComparisonWarning",
    "HeadlessRenderError",
    "Source",
    "animate",
    "compare",
    "ensure_offscreen",
    "export_html",
    "plot_kpis",
    "plot_map",
    "render",
    "scene",
]
