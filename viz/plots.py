"""Flat pictures with matplotlib: KPIs and their time series, and maps of one variable.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot), so nothing
global changes and no display is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.errors import InputError
from viz.layers import Layer
from viz.source import DISPLAY_UNITS, Source

DPI = 100


def _series(source: Source) -> list[tuple[str, np.ndarray]]:
    """City-wide time series of the run's state, one per model present: (label, values)."""
    out = []
    names = source.variables
    if "pm25" in names:
        pm = np.asarray(names["pm25"].data.values, dtype=np.float64)
        weight = np.asarray(source.city.grid["population"].values, dtype=np.float64)
        weight = weight if weight.sum() > 0 else np.ones_like(weight)
        exposure = (pm * weight).sum(axis=(1, 2)) / weight.sum()
        out.append(("PM2.5 exposure, population-weighted [µg/m³]", exposure))
    length = np.asarray(source.city["roads"]["length"].values, dtype=np.float64)
    if "density" in names:
        density = np.asarray(names["density"].data.values, dtype=np.float64)
        out.append(("vehicles on the network [veh]", (density * length).sum(axis=1)))
    if "speed" in names:
        speed = np.asarray(names["speed"].data.values, dtype=np.float64) * 3.6
        out.append(("mean speed, length-weighted [km/h]", (speed * length).sum(1) / length.sum()))
    if "net_load" in names:
        load = np.asarray(names["net_load"].data.values, dtype=np.float64)
        out.append(("net electric load, all districts [MW]", load.sum(axis=1) / 1000.0))
    return out


def _kpis(source: Source) -> list[tuple[str, float, str]]:
    if source.run is None or "kpi" not in source.run.children:
        return []
    ds = source.run["kpi"].to_dataset()
    rows = []
    for name, da in ds.data_vars.items():
        if da.ndim == 0 and da.dtype.kind in "iuf":
            units = str(da.attrs.get("units", ""))
            factor, label = DISPLAY_UNITS.get(units, (1.0, units))
            rows.append((str(name), float(da.values) * factor, label))
    return rows


def plot_kpis(source, output) -> object:
    """KPI values (one bar each, with units) beside the run's city-wide time series.

    Returns the saved :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    source = Source.of(source)
    if source.run is None:
        raise InputError(f"{source.label}: a city store has no KPIs; give a run store")
    kpis = _kpis(source)
    series = _series(source) if source.times.size else []
    if not kpis and not series:
        raise InputError(f"{source.label}: the run has no KPIs and no completed output step yet")
    rows = max(len(kpis), len(series), 1)
    fig = Figure(figsize=(12, 1.0 + 1.3 * rows), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(rows, 2 if kpis and series else 1, width_ratios=None)
    times = [source.local(t).replace(tzinfo=None) for t in source.times]
    for i, (label, values) in enumerate(series):
        ax = fig.add_subplot(grid[i, 0])
        ax.plot(times, values, marker="o", ms=3)
        ax.set_title(label, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    if series:
        ax.set_xlabel(f"local time (UTC{source.start:%z})")
    for i, (name, value, units) in enumerate(kpis):
        ax = fig.add_subplot(grid[i, -1])
        ax.barh([0], [value], color="#4c72b0")
        ax.set_xlim(min(0.0, 1.4 * value), max(0.0, 1.4 * value) or 1.0)  # room for the label
        ax.set_yticks([0], [name])
        shown = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
        ax.bar_label(ax.containers[0], [f"{shown} {units}".strip()], padding=3)
    fig.suptitle(f"{source.label}: key performance indicators", fontsize=11)
    return _save(fig, output)


def plot_map(source, output, var: str, time: str | None = None) -> object:
    """A north-up map of ``var`` at ``time``: a grid or district field as cells,
    buildings as points, links as lines, all in display units with a colour bar.

    Returns the saved :class:`matplotlib.figure.Figure`; its first axes has data
    coordinates in kilometres of the city CRS.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    source = Source.of(source)
    v = source.variable(var)
    step = source.time_index(time) if v.timed else None
    layer = Layer.of(v, [step])
    values = layer.values(step)
    city = source.city
    fig = Figure(figsize=(10, 7), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    style = {"cmap": layer.cmap, "vmin": layer.clim[0], "vmax": layer.clim[1]}
    if v.kind in ("grid", "district"):
        g = city.grid
        if v.kind == "district":
            values = values[np.asarray(g["district"].values)]
        res = city.resolution_m
        xe = np.append(g["x"].values - res / 2, g["x"].values[-1] + res / 2) / 1000
        ye = np.append(g["y"].values - res / 2, g["y"].values[-1] + res / 2) / 1000
        art = ax.pcolormesh(xe, ye, values, **style)
    elif v.kind == "building":
        b = city["buildings"]
        art = ax.scatter(b["x"].values / 1000, b["y"].values / 1000, c=values, s=2, **style)
    else:
        r = city["roads"]
        x, y = r["x"].values / 1000, r["y"].values / 1000
        frm, to = r["from_node"].values, r["to_node"].values
        segments = np.stack([np.column_stack([x[frm], y[frm]]), np.column_stack([x[to], y[to]])], 1)
        art = LineCollection(segments, array=values, linewidths=1.5, cmap=layer.cmap)
        art.set_clim(*layer.clim)
        ax.add_collection(art)
        ax.autoscale()
    fig.colorbar(art, ax=ax, label=layer.title, shrink=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel(f"easting [km, {city.crs}]")
    ax.set_ylabel(f"northing [km, {city.crs}]")
    when = f" at {source.clock_label(source.times[step])}" if step is not None else ""
    ax.set_title(f"{source.label}: {v.name}{when}")
    return _save(fig, output)


def _save(fig, output) -> object:
    output = Path(output)
    if output.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"output {output}: plots are written as .png, .svg or .pdf")
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=DPI)
    return fig
