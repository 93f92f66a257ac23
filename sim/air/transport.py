"""Public transport kernel: one advection-diffusion step of a 2-D field, validated.

See :mod:`sim.air.scheme` for the numerical method and its references.
"""

from __future__ import annotations

import math
from typing import Any

import gpu
from sim.air.scheme import AirWorkspace, step_sweeps, transport
from sim.air.sweeps import BOUNDARIES, DT_SLACK, SWEEP_ORDERS, is_scalar, stable_dt


def _namespace(*arrays: Any) -> Any:
    try:
        return gpu.array_namespace(*arrays)
    except TypeError as err:
        raise ValueError(f"unsupported or mixed array types: {err}") from None


def _check_dx(dx: Any) -> float:
    if not is_scalar(dx) or not math.isfinite(float(dx)) or float(dx) <= 0:
        raise ValueError(f"dx must be a positive finite number of metres, got {dx!r}")
    return float(dx)


def _check_field(name: str, a: Any, shape: tuple[int, ...] | None, xp: Any, *, sign: bool) -> Any:
    """A scalar (as float) or an (y, x) array of ``shape``; finite, and >= 0 if ``sign``."""
    if is_scalar(a):
        value = float(a)
        if not math.isfinite(value) or (sign and value < 0):
            allowed = "a finite number >= 0" if sign else "a finite number"
            raise ValueError(f"{name} must be {allowed}, got {value!r}")
        return value
    if not hasattr(a, "shape"):
        raise ValueError(f"{name} must be a number or a (y, x) array, got {type(a).__name__}")
    if _namespace(a) is not xp:
        raise ValueError(f"{name} is a {type(a).__name__}, on another backend than the others")
    if len(a.shape) != 2:
        raise ValueError(f"{name} must be a number or a (y, x) array, got shape {tuple(a.shape)}")
    if shape is not None and tuple(a.shape) != shape:
        raise ValueError(f"{name} has shape {tuple(a.shape)}; expected a number or {shape}")
    if not bool(xp.all(xp.isfinite(a))):
        raise ValueError(f"{name} contains NaN or infinite values")
    if sign and bool(xp.any(a < 0)):
        raise ValueError(f"{name} must be >= 0 everywhere")
    return a


def max_stable_dt(u: Any, v: Any, diffusivity: Any, dx: float) -> float:
    """Largest time step [s] that :func:`advect_diffuse` accepts.

    Parameters
    ----------
    u, v : float or (y, x) array [m s-1]
        Wind towards increasing x (last axis) and increasing y (first axis).
    diffusivity : float or (y, x) array [m2 s-1]
        Horizontal eddy diffusivity, >= 0.
    dx : float [m]
        Cell side.

    Returns
    -------
    float
        The step [s] up to which every sweep of the scheme is positivity preserving
        (and TVD in 1-D) and damps grid-scale noise:
        ``min(0.99 dx / max(|u|, |v|), dx**2 / (4 K))`` for uniform fields, the
        per-cell analogue for grids (half the advective limit where a cell has
        outflow on both sides). ``inf`` when nothing moves.
    """
    dx = _check_dx(dx)
    grids = [a for a in (u, v, diffusivity) if not is_scalar(a) and hasattr(a, "shape")]
    xp = _namespace(*grids)
    shape = tuple(grids[0].shape) if grids else None
    u = _check_field("u", u, shape, xp, sign=False)
    v = _check_field("v", v, shape, xp, sign=False)
    k = _check_field("diffusivity", diffusivity, shape, xp, sign=True)
    return stable_dt(u, v, k, dx, xp)


def advect_diffuse(
    c: Any,
    u: Any,
    v: Any,
    diffusivity: Any,
    dx: float,
    dt: float,
    *,
    boundary: str = "open",
    inflow: float | None = None,
    sweep_order: str = "xy",
    work: AirWorkspace | None = None,
    out: Any = None,
) -> Any:
    """Advance a concentration field by one explicit advection-diffusion step.

    Solves ``dc/dt + d(u c)/dx + d(v c)/dy = d/dx(K dc/dx) + d/dy(K dc/dy)`` in flux
    form on a square grid: per axis, MUSCL / flux-limited Lax-Wendroff advection
    with the monotonized-central (MC) limiter, then central diffusion taken with
    Heun's method (see :mod:`sim.air.scheme`). Mass is conserved to round-off (only
    boundary fluxes change it), the result is non-negative for a non-negative
    ``c``, and the error is second order in ``dx`` and ``dt`` for smooth fields
    (alternate ``sweep_order`` between steps when the wind varies in space).

    Parameters
    ----------
    c : (y, x) float32 or float64 array
        Concentration [any unit, e.g. ug m-3]; row 0 is the southern edge. Not mutated
        (unless passed as ``out``).
    u, v : float or (y, x) array [m s-1]
        Wind carrying mass towards increasing x (last axis) and increasing y (first
        axis). Grid values are cell-centred; face values are neighbour means.
    diffusivity : float or (y, x) array [m2 s-1]
        Horizontal eddy diffusivity K, >= 0.
    dx : float [m]
        Cell side.
    dt : float [s]
        Time step, at most :func:`max_stable_dt` (larger is an error: sub-step instead).
    boundary : {"open", "closed"}, keyword-only
        ``open``: ghost cells continue the edge value (zero gradient), so outflow
        leaves freely and inflow brings in the edge value (or ``inflow``), with no
        diffusive flux through the edge. ``closed``: no flux through the edges.
    inflow : float, optional, keyword-only
        Concentration of the air that the wind brings in through open edges
        (e.g. a regional background); default: zero gradient.
    sweep_order : {"xy", "yx"}, keyword-only
        Sweep order; alternate it between steps when the wind varies in space.
    work : AirWorkspace, optional, keyword-only
        Buffers to reuse across calls (same shape, dtype, namespace).
    out : array, optional, keyword-only
        Where to write the result (same shape and dtype); may be ``c`` itself.

    Returns
    -------
    array
        The concentration after ``dt``, same shape, dtype and namespace as ``c``.

    Raises
    ------
    ValueError
        Bad shapes or dtypes, NaN/inf in the wind, negative ``diffusivity``, ``dx``
        or ``dt``, a ``dt`` above the stability limit, unknown keywords' values.

    References
    ----------
    van Leer (1977), doi:10.1016/0021-9991(77)90094-8; Sweby (1984),
    doi:10.1137/0721062; Hundsdorfer & Verwer (2003), ch. III,
    doi:10.1007/978-3-662-09017-6.
    """
    if not hasattr(c, "shape") or len(c.shape) != 2:
        raise ValueError(f"c must be a (y, x) array, got {type(c).__name__}")
    xp = _namespace(c)
    dtype = xp.dtype(c.dtype)
    if dtype not in (xp.dtype(xp.float32), xp.dtype(xp.float64)):
        raise ValueError(f"c must be float32 or float64, got {dtype}")
    shape = tuple(c.shape)
    if 0 in shape:
        raise ValueError(f"c must have at least one cell, got shape {shape}")
    if not bool(xp.all(xp.isfinite(c))):
        raise ValueError("c holds NaN or infinite values")
    u = _check_field("u", u, shape, xp, sign=False)
    v = _check_field("v", v, shape, xp, sign=False)
    k = _check_field("diffusivity", diffusivity, shape, xp, sign=True)
    dx = _check_dx(dx)
    if not is_scalar(dt) or not math.isfinite(float(dt)) or float(dt) < 0:
        raise ValueError(f"dt must be a finite number of seconds >= 0, got {dt!r}")
    dt = float(dt)
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary={boundary!r}; expected one of {BOUNDARIES}")
    if sweep_order not in SWEEP_ORDERS:
        raise ValueError(f"sweep_order={sweep_order!r}; expected one of {SWEEP_ORDERS}")
    if inflow is not None:
        if not is_scalar(inflow) or not math.isfinite(float(inflow)) or float(inflow) < 0:
            raise ValueError(f"inflow must be a finite concentration >= 0, got {inflow!r}")
        inflow = float(inflow)
    limit = stable_dt(u, v, k, dx, xp)
    if dt > limit * (1 + DT_SLACK):
        raise ValueError(
            f"dt={dt:.9g} s exceeds the stability limit {limit:.9g} s for this wind, diffusivity "
            f"and dx; take several steps of at most max_stable_dt(u, v, diffusivity, dx)"
        )
    if work is None:
        work = AirWorkspace(shape, dtype, xp)
    elif not work.matches(c):
        raise ValueError("work was made for another shape, dtype or backend than c")
    if out is None:
        out = xp.empty_like(c)
    elif (
        not hasattr(out, "shape")
        or tuple(out.shape) != shape
        or out.dtype != dtype
        or _namespace(out) is not xp
    ):
        raise ValueError("out must have the shape, dtype and backend of c")
    pairs = step_sweeps(u, v, k, dt, dx, dtype, xp, sweep_order) if dt > 0 else ()
    transport(c[None], pairs, work, out[None], boundary=boundary, inflow=inflow)
    return out
