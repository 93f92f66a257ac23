"""The protocol every model of the coupled twin follows, and its one snapshot path.

A model is an object with

- ``OUTPUTS``: ``{name: {"dims": (...), "units": ..., "long_name": ..., ...}}``, the
  variables :meth:`outputs` returns, dims without ``time`` (see
  :func:`sim.variables.outputs_for`);
- ``STATE``: ``{name: Var}``, every entry of the state dict (dims, dtype, units, whether
  restarts save it, whether it lives on the host);
- ``init(inputs, xp) -> state``: the start state from the city's arrays, on backend
  ``xp``; it may derive constants (geometry, index tables) and keep them on the model,
  which then serves that one city, but everything that changes in time is in the state;
- ``step(state, forcing, dt) -> state``: a new state after ``dt`` seconds (``state`` is
  not modified);
- ``outputs(state) -> {name: array}``: as declared in ``OUTPUTS``.

Rules of the time loop (docs/architecture.md, 'The coupled step'): ``step`` and ``outputs`` do
not synchronise with the host (no ``bool()``, ``float()``, ``int()``, ``.item()`` of
device values, no data-sized results such as ``nonzero``) and do not re-upload constant
tables; forcing is validated once at the boundary, not every step. State entries with
``Var.host`` are NumPy values the host keeps (clocks, counters of whole hours), updated
from Python numbers and never mixed into device operations.

This module imports only NumPy and :mod:`gpu`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

import gpu


@dataclass(frozen=True)
class Var:
    """One entry of a model's state.

    Attributes
    ----------
    dims : dimension names, one per axis (``()`` for a scalar); the same name means the
        same length across a model's state.
    dtype : NumPy dtype name (``"float64"``, ``"float32"``, ``"int64"``).
    units : UDUNITS string (``"1"`` for counts and fractions).
    long_name : what it is.
    restart : saved in restart snapshots; False for what ``init`` rebuilds from the
        inputs (constants) or each step overwrites before reading (scratch sums).
    host : kept on the host as a NumPy array, also when the model runs on a GPU.
    infinite : +/-inf are legitimate values (e.g. "no limit"); the health check then
        flags only NaN.
    """

    dims: tuple[str, ...]
    dtype: str
    units: str
    long_name: str
    restart: bool = True
    host: bool = False
    infinite: bool = False


class Model(Protocol):
    """What the runner needs of a model (see the module docstring)."""

    OUTPUTS: Mapping[str, Mapping[str, Any]]
    STATE: Mapping[str, Var]

    def init(self, inputs: Mapping[str, Any], xp: Any) -> dict[str, Any]: ...

    def step(self, state: Mapping[str, Any], forcing: Mapping[str, Any], dt: float) -> dict: ...

    def outputs(self, state: Mapping[str, Any]) -> dict[str, Any]: ...


def restart_vars(model: Model) -> dict[str, Var]:
    """The state entries that restart snapshots hold."""
    return {name: var for name, var in model.STATE.items() if var.restart}


def snapshot(model: Model, state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Host copies of the restart entries of ``state`` (a sync: call between intervals)."""
    return {
        name: np.array(gpu.to_host(state[name]), dtype=var.dtype, copy=True)
        for name, var in restart_vars(model).items()
    }


def restore(model: Model, inputs: Mapping[str, Any], arrays: Mapping[str, Any], xp: Any) -> dict:
    """A state from :func:`snapshot` output, bit for bit: ``init`` rebuilds the constants,
    the snapshot replaces every restart entry (device entries uploaded, host ones copied).

    Raises
    ------
    ValueError
        If ``arrays`` lacks a restart entry or one has the wrong shape or dtype.
    """
    state = model.init(inputs, xp)
    for name, var in restart_vars(model).items():
        if name not in arrays:
            raise ValueError(f"restart snapshot lacks state variable {name!r}")
        value = np.asarray(arrays[name])
        expected = np.shape(state[name])
        if value.shape != expected or value.dtype != np.dtype(var.dtype):
            raise ValueError(
                f"restart snapshot of {name!r} has shape {value.shape} and dtype {value.dtype}; "
                f"the model expects {expected} and {var.dtype}"
            )
        state[name] = value.copy() if var.host else xp.asarray(value).copy()
    return state


def sizes(model: Model, state: Mapping[str, Any]) -> dict[str, int]:
    """Length of every dimension of the state; :class:`ValueError` where entries disagree
    with each other or with ``STATE`` (name, number of axes, dtype, host or device)."""
    found: dict[str, int] = {}
    missing = sorted(set(model.STATE) - set(state))
    extra = sorted(set(state) - set(model.STATE))
    if missing or extra:
        raise ValueError(f"state keys differ from STATE: missing {missing}, undeclared {extra}")
    for name, var in model.STATE.items():
        value = state[name]
        shape = tuple(np.shape(value))
        if len(shape) != len(var.dims):
            raise ValueError(f"state {name!r} has shape {shape}; STATE declares dims {var.dims}")
        if np.dtype(value.dtype) != np.dtype(var.dtype):
            raise ValueError(f"state {name!r} has dtype {value.dtype}; STATE says {var.dtype}")
        on_host = type(value) is np.ndarray
        if var.host and not on_host:
            raise ValueError(f"state {name!r} is declared host but is a {type(value).__name__}")
        for dim, n in zip(var.dims, shape, strict=True):
            if found.setdefault(dim, n) != n:
                raise ValueError(
                    f"dimension {dim!r} is {found[dim]} long elsewhere, {n} in {name!r}"
                )
    return found
