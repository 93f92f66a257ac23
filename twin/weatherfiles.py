"""Weather and climatology files: read, validated, into :mod:`sim.weather` objects.

:mod:`sim.weather` holds the generator and the interpolator, on arrays; reading files,
with errors that name the file, the column and the row, is the twin's job.
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim import solar, variables
from sim.weather import (
    SERIES,
    Climatology,
    Weather,
    as_climatology,
    local_hour,
    modelled_mixing_height,
)

_CSV_REQUIRED = ("air_temperature", "wind_speed", "wind_from_direction", "relative_humidity",
                 "cloud_fraction")  # fmt: skip
MAX_CSV_BYTES = 256 << 20
_CSV_RANGES = {
    "air_temperature": (-80.0, 70.0), "wind_speed": (0.0, 100.0),
    "wind_from_direction": (0.0, 360.0), "relative_humidity": (0.0, 1.0),
    "cloud_fraction": (0.0, 1.0), "mixing_height": (0.0, 10000.0),
    # Pyranometers read slightly negative at night; such values are clipped to 0.
    "ghi": (-20.0, 2000.0), "dni": (-20.0, 2000.0), "dhi": (-20.0, 2000.0),
}  # fmt: skip


def load_climatology(path: str | Path) -> Climatology:
    """Read and validate a climatology TOML file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as err:
        raise ValueError(f"climatology file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"climatology file {path} is not valid TOML: {err}") from err
    return Climatology.from_mapping(data, origin=str(path))


def read_weather_csv(path: str | Path, climatology: Climatology | Mapping[str, Any]) -> Weather:
    """Forcing from a CSV file with a ``time`` column and columns named as in docs/variables.md.

    ``time`` holds ISO 8601 times with an offset (``2024-01-01T00:00+09:00`` or ``...Z``),
    strictly increasing with a constant step. Required columns: ``air_temperature``
    [degC], ``wind_speed`` [m s-1], ``wind_from_direction`` [degree], ``relative_humidity``
    [1, fraction], ``cloud_fraction`` [1]. Optional: ``mixing_height`` [m] (else modelled
    from the climatology), and ``ghi``, ``dni``, ``dhi`` [W m-2] together (else from the
    clear sky and the cloud fraction). Missing columns, empty cells, values out of range and
    gaps in time raise :class:`ValueError` naming the file, column and row.
    """
    clim = as_climatology(climatology)
    path = Path(path)
    if not path.exists():
        raise ValueError(f"weather file {path} does not exist")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise ValueError(f"weather file {path} is not a regular file")
    if path.stat().st_size > MAX_CSV_BYTES:
        raise ValueError(
            f"weather file {path} is larger than {MAX_CSV_BYTES >> 20} MiB "
            "(ten years of 10-minute rows take about 50 MiB)"
        )
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: Excel's BOM
            reader = csv.DictReader(fh)
            header = [name.strip() for name in reader.fieldnames or []]
            reader.fieldnames = header
            rows = list(reader)
    except OSError as err:
        raise ValueError(f"weather file {path}: cannot read it ({err.strerror or err})") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"weather file {path}: not UTF-8 text ({err.reason})") from err
    except csv.Error as err:
        raise ValueError(f"weather file {path}: not a CSV file ({err})") from err
    missing = [c for c in ("time", *_CSV_REQUIRED) if c not in header]
    if missing:
        raise ValueError(f"weather file {path}: missing column(s) {', '.join(missing)}")
    irradiance = [c for c in ("ghi", "dni", "dhi") if c in header]
    if irradiance and len(irradiance) != 3:
        raise ValueError(f"weather file {path}: give all of ghi, dni, dhi or none of them")
    if len(rows) < 2:
        raise ValueError(f"weather file {path}: need at least 2 rows")
    times = np.array([_csv_time(r["time"], path, i) for i, r in enumerate(rows, start=2)])
    seconds = solar.unix_seconds(times)
    steps = np.diff(seconds)
    bad = np.flatnonzero(steps != steps[0]) if steps[0] > 0 else np.array([0])
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"weather file {path}: gap or irregular step in column time between rows {i + 2} "
            f"({rows[i]['time']!r}) and {i + 3} ({rows[i + 1]['time']!r}); the step must be "
            f"constant and positive ({steps[0]:g} s at the start)"
        )
    series = {c: _csv_column(rows, c, path) for c in SERIES if c in header}
    for k in irradiance:
        series[k] = np.maximum(series[k], 0.0)
    if "mixing_height" not in series:
        hours = local_hour(times, clim.utc_offset_hours)
        series["mixing_height"] = modelled_mixing_height(clim, solar.day_of_year(times), hours)
    for k in ("ghi", "dni", "dhi"):
        series.setdefault(k, np.zeros(seconds.size))
    weather = Weather(times, series, clim, irradiance_from_clouds=not irradiance)
    if not irradiance:
        forced = weather.at(times)
        for k in ("ghi", "dni", "dhi"):
            weather.series[k] = forced[k]
    return weather


def _csv_time(text, path, row):
    try:
        t = _dt.datetime.fromisoformat((text or "").strip())
    except ValueError as err:
        raise ValueError(
            f"weather file {path}: column time, row {row}: {text!r} is not ISO 8601"
        ) from err
    if t.utcoffset() is None:
        raise ValueError(
            f"weather file {path}: column time, row {row}: {text!r} has no timezone; "
            "write e.g. 2024-01-01T00:00+09:00 or 2024-01-01T00:00Z"
        )
    try:
        return np.datetime64(t.astimezone(_dt.UTC).replace(tzinfo=None), "s")
    except OverflowError:
        raise ValueError(
            f"weather file {path}: column time, row {row}: {text!r} is out of range"
        ) from None


def _csv_column(rows, name, path):
    lo, hi = _CSV_RANGES[name]
    out = np.empty(len(rows))
    for i, r in enumerate(rows):
        text = (r.get(name) or "").strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(
                f"weather file {path}: column {name}, row {i + 2}: missing or non-numeric "
                f"value {text!r} (gaps are not filled; interpolate the file first)"
            )
        if not lo <= value <= hi:
            raise ValueError(
                f"weather file {path}: column {name}, row {i + 2}: {value:g} outside "
                f"[{lo:g}, {hi:g}] {variables.VARIABLES[name]['units']}"
            )
        out[i] = value
    return out
