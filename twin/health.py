"""The health check: stop a run at the first NaN or Inf, saying where and when.

It runs on the host copies of the outputs and states that the writer gets, once per
output interval, so the time loop never reads device values to check them; with
``check_every_step`` the runner also checks the device arrays after every step
(a debugging mode: on a GPU each check waits for the queue to drain).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

import gpu
from twin.errors import ModelHealthError


def check(
    arrays: Mapping[str, Mapping[str, Any]],
    dims: Mapping[str, Mapping[str, tuple[str, ...]]],
    when: str,
    grid: xr.Dataset,
    what: str = "output",
    infinite: Mapping[str, set[str]] | None = None,
) -> None:
    """Raise :class:`ModelHealthError` at the first non-finite value (``-inf`` allowed:
    running peaks start there).

    Parameters
    ----------
    arrays : ``{model: {name: array}}`` (host or device).
    dims : ``{model: {name: dims}}`` for the message's place.
    infinite : ``{model: names}`` whose values may be +/-inf (only NaN is flagged).
    when : when, for the message (e.g. ``"at simulated time 2026-06-17 03:08:00+0900"``).
    grid : the city grid (for the coordinates of a grid cell).
    what : ``"output"`` or ``"state"``.
    """
    for model, values in arrays.items():
        for name, a in values.items():
            if getattr(a, "dtype", None) is None or a.dtype.kind != "f":
                continue
            xp = gpu.array_namespace(a)
            inf_ok = name in (infinite or {}).get(model, ())
            if bool((~xp.isnan(a) & (inf_ok | (a != xp.inf))).all()):
                continue
            host = gpu.to_host(a)
            bad = np.isnan(host) | (~inf_ok & (host == np.inf))
            index = tuple(int(v) for v in np.argwhere(bad)[0])
            place = _where(dims.get(model, {}).get(name, ()), index, grid)
            raise ModelHealthError(
                f"{model} model: non-finite {what} {name} at {place} {when}; outputs before "
                "it are in the store"
            )


def _where(dims: tuple[str, ...], index: tuple[int, ...], grid: xr.Dataset) -> str:
    if not index:
        return "(a scalar)"
    if dims == ("y", "x"):
        iy, ix = index
        return (
            f"cell (y={iy}, x={ix}) at {grid['x'].values[ix]:.0f} E, {grid['y'].values[iy]:.0f} N m"
        )
    if dims:
        return f"{dims[0]} {index[0]}"
    return f"index {index}"
