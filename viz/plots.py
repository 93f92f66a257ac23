"""Flat pictures with matplotlib: KPIs and their time series, and maps of one variable.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot), so nothing
global changes and no display is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.errors import InputError
from twin.kpi import PM25_STANDARD_UGM3
from viz.layers import Layer
from viz.source import DISPLAY_UNITS, Source

DPI = 100
PM25_EXPOSURE = "PM2.5 exposure, population-weighted [µg/m³]"


def _series(source: Source) -> list[tuple[str, np.ndarray]]:
    """City-wide time series of the run's state, one per model present: (label, values)."""
    out = []
    names = source.variables
    if "pm25" in names:
        pm = np.asarray(names["pm25"].data.values, dtype=np.float64)
        weight = np.asarray(source.city.grid["population"].values, dtype=np.float64)
        weight = weight if weight.sum() > 0 else np.ones_like(weight)
        exposure = (pm * weight).sum(axis=(1, 2)) / weight.sum()
        out.append((PM25_EXPOSURE, exposure))
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


def _kpis(source: Source) -> list[tuple[str, str, str, str]]:
    """KPI rows (model, description, value, units), grouped by owning model."""
    if source.run is None or "kpi" not in source.run.children:
        return []
    ds = source.run["kpi"].to_dataset()
    rows = []
    for name, da in ds.data_vars.items():
        if da.ndim == 0 and da.dtype.kind in "iuf":
            units = str(da.attrs.get("units", ""))
            factor, label = DISPLAY_UNITS.get(units, (1.0, units))
            value = float(da.values) * factor
            shown = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
            what = f"{da.attrs['long_name']} ({name})" if "long_name" in da.attrs else str(name)
            rows.append((str(da.attrs.get("model", "")), what, shown, label))
    order = list(dict.fromkeys(model for model, *_ in rows))
    return sorted(rows, key=lambda row: order.index(row[0]))


def plot_kpis(source, output) -> object:
    """The run's KPIs as one table (grouped by model, with units) beside its city-wide
    time series.

    Returns the saved :class:`matplotlib.figure.Figure`; its last axes holds the table.
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
    groups = len({model for model, *_ in kpis})
    height = max(1.0 + 1.6 * len(series), 1.0 + 0.26 * (len(kpis) + groups))
    fig = Figure(figsize=(15 if kpis and series else 8, height), dpi=DPI, layout="constrained")
    cols = 2 if kpis and series else 1
    grid = fig.add_gridspec(max(len(series), 1), cols, width_ratios=[1, 1.5][:cols])
    times = [source.local(t).replace(tzinfo=None) for t in source.times]
    for i, (label, values) in enumerate(series):
        ax = fig.add_subplot(grid[i, 0])
        ax.plot(times, values, marker="o", ms=3)
        ax.set_title(label, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
        if label == PM25_EXPOSURE:  # on the scale of the standard, not stretched
            ax.set_ylim(0, max(PM25_STANDARD_UGM3, float(np.nanmax(values))) * 1.1)
            ax.axhline(PM25_STANDARD_UGM3, color="#c0392b", ls="--", lw=1)
            ax.annotate(
                f"Korean 24-h standard {PM25_STANDARD_UGM3:g} µg/m³",
                (0.01, PM25_STANDARD_UGM3),
                xycoords=("axes fraction", "data"),
                xytext=(0, -10),
                textcoords="offset points",
                fontsize=8,
                color="#c0392b",
            )
    if series:
        ax.set_xlabel(f"local time (UTC{source.start:%z})")
    if kpis:
        _kpi_table(fig.add_subplot(grid[:, -1]), kpis)
    fig.suptitle(f"{source.label}: key performance indicators", fontsize=11)
    return _save(fig, output)


def _kpi_table(ax, kpis) -> None:
    """KPI rows as a table on ``ax``: a header row per model, then its KPIs."""
    cells, colours, model = [], [], None
    for row in kpis:
        if row[0] != model:
            model = row[0]
            cells.append([model or "other", "", ""])
            colours.append(["#dde5f0"] * 3)
        cells.append(list(row[1:]))
        colours.append(["white"] * 3)
    ax.axis("off")
    table = ax.table(
        cells,
        cellColours=colours,
        colLabels=["KPI", "value", "units"],
        colWidths=[0.78, 0.13, 0.09],
        cellLoc="left",
        loc="upper center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 1.25)
    for (r, c), cell in table.get_celld().items():
        if c == 1 and r > 0:
            cell.set_text_props(ha="right")
        if r == 0 or colours[r - 1][0] != "white":
            cell.set_text_props(weight="bold")


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
    layer = Layer.of(v, [step], background=source.background(v.name))
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
    ax.set_title(f"{source.label}: {v.name}{when}\n{layer.note}", fontsize=10)
    return _save(fig, output)


def _save(fig, output) -> object:
    output = Path(output)
    if output.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"output {output}: plots are written as .png, .svg or .pdf")
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=DPI)
    return fig
