"""Tariff and grid carbon-intensity files of a scenario (``[energy] tariff_csv``,
``carbon_csv``): read and checked, with errors that name the file, row and column.

The defaults need no file: the KEPCO time-of-use tariff (``sim.energy.grid.TOU_PRICE``)
and the GIR national emission factor (``sim.energy.grid.CO2_T_PER_MWH``), both with
their sources in :mod:`sim.energy.grid`.

Formats (comma-separated, one header row, ``#`` comment lines allowed):

- tariff: columns ``hour`` (local hour 0..23) and ``price_krw_per_kwh``, 24 rows (the
  same every month), or with a ``month`` column (1..12), 288 rows, one per month and
  hour;
- carbon intensity: columns ``hour`` (0..23) and ``co2_t_per_mwh``, 24 rows.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from twin.errors import InputError


def _rows(path: Path, columns: tuple[str, ...], optional: tuple[str, ...] = ()):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
    except OSError as err:
        raise InputError(f"{path}: cannot read the file ({err})") from None
    reader = csv.DictReader(lines)
    header = [h.strip() for h in reader.fieldnames or ()]
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(
            f"{path}: lacks column(s) {', '.join(missing)}; expected "
            f"{', '.join((*columns, *optional))}"
        )
    reader.fieldnames = header
    return header, list(reader)


def _number(path: Path, row: int, column: str, text: str | None, lo: float, hi: float) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InputError(f"{path}: row {row}, column {column!r}: {text!r} is not a number in "
                         f"[{lo:g}, {hi:g}]")  # fmt: skip
    return value


def _whole(path, row, column, text, lo, hi) -> int:
    value = _number(path, row, column, text, lo, hi)
    if value != int(value):
        raise InputError(f"{path}: row {row}, column {column!r}: {text!r} is not a whole number")
    return int(value)


def read_tariff(path: str | Path) -> np.ndarray:
    """The (12 months, 24 local hours) energy price [KRW kWh-1] of a tariff CSV."""
    path = Path(path)
    header, rows = _rows(path, ("hour", "price_krw_per_kwh"), ("month",))
    monthly = "month" in header
    table = np.full((12, 24), np.nan)
    for i, r in enumerate(rows, start=2):
        hour = _whole(path, i, "hour", r["hour"], 0, 23)
        price = _number(path, i, "price_krw_per_kwh", r["price_krw_per_kwh"], 0.0, 1e5)
        months = [_whole(path, i, "month", r["month"], 1, 12) - 1] if monthly else range(12)
        for m in months:
            if not np.isnan(table[m, hour]):
                raise InputError(f"{path}: row {i}: hour {hour} appears twice"
                                 + (f" for month {m + 1}" if monthly else ""))  # fmt: skip
            table[m, hour] = price
    if np.isnan(table).any():
        need = "every month (1..12) and hour (0..23)" if monthly else "every hour 0..23"
        raise InputError(f"{path}: the tariff must give a price for {need}")
    return table


def read_carbon(path: str | Path) -> np.ndarray:
    """The grid carbon intensity per local hour (24,) [t MWh-1] of a CSV."""
    path = Path(path)
    _, rows = _rows(path, ("hour", "co2_t_per_mwh"))
    values = np.full(24, np.nan)
    for i, r in enumerate(rows, start=2):
        hour = _whole(path, i, "hour", r["hour"], 0, 23)
        if not np.isnan(values[hour]):
            raise InputError(f"{path}: row {i}: hour {hour} appears twice")
        values[hour] = _number(path, i, "co2_t_per_mwh", r["co2_t_per_mwh"], 0.0, 10.0)
    if np.isnan(values).any():
        raise InputError(f"{path}: the carbon intensity must be given for every hour 0..23")
    return values


def scenario_tables(energy) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The tariff (12, 24) [KRW kWh-1] and hourly carbon intensity (24,) [t MWh-1] of a
    scenario's ``[energy]`` settings; ``None`` where the model's default applies."""
    return (
        None if energy.tariff_csv is None else read_tariff(energy.tariff_csv),
        None if energy.carbon_csv is None else read_carbon(energy.carbon_csv),
    )


def tariff(energy) -> np.ndarray:
    """The (12, 24) tariff [KRW kWh-1] a run with these ``[energy]`` settings uses (public
    information a service may plan with)."""
    from sim.energy.grid import TOU_PRICE

    table = scenario_tables(energy)[0]
    return TOU_PRICE.copy() if table is None else table
