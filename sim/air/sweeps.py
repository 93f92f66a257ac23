"""The 1-D operators of an air step and their stability limits (internal).

An advection sweep is flux-limited Lax-Wendroff (MUSCL face values with the
monotonized-central limiter of van Leer 1977; Sweby 1984); a diffusion sweep is
central differences taken with Heun's method (SSP-RK2; Shu & Osher 1988). A
:class:`Sweep` holds one operator's coefficients for one ``dt``; :mod:`sim.air.scheme`
applies pairs of them to the grid block by block. :func:`stable_dt` is the largest
``dt`` that keeps every sweep positivity preserving.

References
----------
van Leer, B. (1977). J. Comput. Phys. 23, 263-275. doi:10.1016/0021-9991(77)90094-8
Sweby, P. K. (1984). SIAM J. Numer. Anal. 21, 995-1011. doi:10.1137/0721062
Shu, C.-W., Osher, S. (1988). J. Comput. Phys. 77, 439-471.
    doi:10.1016/0021-9991(88)90177-5
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from numbers import Real
from typing import Any

BOUNDARIES = ("open", "closed")
SWEEP_ORDERS = ("xy", "yx")
# Relative slack when comparing dt with the stability limit: a caller that passes
# ``dt = max_stable_dt(...)`` or ``T / ceil(T / limit)`` must not be refused for
# the last bit of round-off.
DT_SLACK = 1e-9
COURANT_MAX = 0.99


def is_scalar(a: Any) -> bool:
    """Python/NumPy numbers and 0-d arrays (as opposed to (y, x) grids)."""
    return isinstance(a, Real) or getattr(a, "ndim", None) == 0


def _faces(a: Any, axis: int, xp: Any) -> Any:
    """Face values of a cell field along ``axis``: means inside, edge values outside."""
    if axis == 1:
        inner = 0.5 * (a[:, :-1] + a[:, 1:])
        return xp.concatenate([a[:, :1], inner, a[:, -1:]], axis=1)
    inner = 0.5 * (a[:-1] + a[1:])
    return xp.concatenate([a[:1], inner, a[-1:]], axis=0)


def _lo_hi(f: Any, axis: int) -> tuple[Any, Any]:
    """The faces on the low and high side of every cell, from a face array."""
    return (f[:, :-1], f[:, 1:]) if axis == 1 else (f[:-1], f[1:])


def _pitched(a: Any, axis: int, xp: Any, extra: int) -> Any:
    """Face coefficients laid out like a block's flat window: along x each row is padded
    with ``extra`` zeros to the window's ``nx + 4`` values (rows along y need nothing)."""
    if axis == 0:
        return a
    return xp.concatenate([a, xp.zeros((a.shape[0], extra), dtype=a.dtype)], axis=1)


def _advective_speed(w: Any, axis: int, xp: Any) -> float:
    """Speed s [m s-1] such that ``dt <= dx / s`` keeps an advection sweep positive.

    Under the MC limiter a face value is at most ``(2 - |nu|)`` times its
    upwind cell value, so a cell with one outflow face stays non-negative for
    ``|nu| <= 1`` (``nu (2 - nu) <= 1``) and one with two for ``2 (nu_lo + nu_hi) <= 1``.
    """
    if is_scalar(w):
        return abs(float(w))
    lo, hi = _lo_hi(_faces(w, axis, xp), axis)
    out_lo, out_hi = xp.maximum(-lo, 0), xp.maximum(hi, 0)
    both = (out_lo > 0) & (out_hi > 0)
    return float(xp.max(xp.where(both, 2 * (out_lo + out_hi), xp.maximum(out_lo, out_hi))))


def _diffusive_sum(k: Any, axis: int, xp: Any) -> float:
    """Largest sum [m2 s-1] of face diffusivities around a cell.

    ``dt <= dx**2 / sum`` keeps a forward-Euler diffusion sweep (and so its Heun /
    SSP-RK2 form) positive; :func:`stable_dt` takes half of that, because at the
    positivity limit Heun's stencil has no weight on the nearest neighbours and
    odd and even cells decouple (a point source would spread as a checkerboard).
    At ``delta = K dt / dx**2 <= 1/4`` every weight is positive and the grid-scale
    mode is damped by at least 1/2 per step."""
    if is_scalar(k):
        return 2.0 * float(k)
    lo, hi = _lo_hi(_faces(k, axis, xp), axis)
    return float(xp.max(lo + hi))


def stable_dt(u: Any, v: Any, k: Any, dx: float, xp: Any) -> float:
    """Largest stable step [s] for checked inputs (see ``max_stable_dt``).

    The advective bound keeps a 1 % margin (``COURANT_MAX``): a cell that the exact
    scheme would empty in one step then keeps 1 % of its content, far above the
    round-off that could otherwise leave it at -1e-27 in float32.
    """
    speed = max(_advective_speed(u, 1, xp), _advective_speed(v, 0, xp))
    ksum = max(_diffusive_sum(k, 1, xp), _diffusive_sum(k, 0, xp))
    adv = COURANT_MAX * dx / speed if speed > 0 else math.inf
    return min(adv, dx * dx / (2 * ksum) if ksum > 0 else math.inf)


@dataclass(frozen=True)
class Sweep:
    """One 1-D operator of a step, with its coefficients for one ``dt`` (internal).

    ``kind="advect"``: ``terms`` are ``(coefficient, operand)`` pairs summing to the
    face flux in concentration units (flux * dt / dx), operands ``c_lo``/``c_hi``
    (the cell below/above the face) and ``h_lo``/``h_hi`` (their half-slopes);
    ``inflow_lo``/``inflow_hi`` say whether the wind enters at the low/high edge
    (bool, or a thin boolean array). ``kind="diffuse"``: ``delta = K dt / dx**2``
    at the faces (float, or arrays ``delta``, ``delta_m1 = delta - 1`` and
    ``neg_half = -delta / 2`` with one extra face beyond each domain edge).
    Coefficient arrays along x have rows of ``nx + 4`` values (:func:`_pitched`).
    ``exchange``: optional cell arrays ``(scale, add)`` applied after an advection
    update, ``c <- c * scale + add`` (see :func:`with_exchange`); ``scale`` is (y, x),
    ``add`` (batch, y, x) (one per batch member, or 1 for all). ``nu``: an advection's
    face Courant numbers (faces along the axis, unpitched), for :func:`with_exchange`.
    """

    axis: int
    kind: str
    terms: tuple[tuple[Any, str], ...] = ()
    inflow_lo: Any = False
    inflow_hi: Any = False
    delta: Any = 0.0
    delta_m1: Any = None
    neg_half: Any = None
    exchange: tuple[Any, Any] | None = None
    nu: Any = None


def advection_sweep(w: Any, dt: float, dx: float, axis: int, dtype: Any, xp: Any,
                    sign: int | None = None) -> Sweep | None:
    """Flux-limited Lax-Wendroff advection along ``axis`` (None when the wind is 0).

    Upwind face values are ``c_up +- (1 - |nu|) h_up`` with ``nu = w_f dt / dx`` and
    ``h`` the MC-limited half-slope: the factor ``(1 - |nu|)`` makes the sweep second
    order in time as well as space for smooth fields (Sweby 1984). ``sign`` (+1, -1 or
    0), when the caller knows it, is the sign of every nonzero face wind of a field
    ``w``; it spares reading the field's signs back to the host.
    """
    lam = dt / dx
    if is_scalar(w):
        nu = float(w) * lam
        if nu > 0:
            return Sweep(axis, "advect", ((nu, "c_lo"), (nu * (1 - nu), "h_lo")), True, False)
        if nu < 0:
            return Sweep(axis, "advect", ((nu, "c_hi"), (-nu * (1 + nu), "h_hi")), False, True)
        return None
    nu = _faces(xp.asarray(w, dtype=dtype), axis, xp) * dtype.type(lam)
    terms = []
    if sign > 0 if sign is not None else bool(xp.any(nu > 0)):
        pos = xp.maximum(nu, 0)
        terms += [(pos, "c_lo"), (pos * (1 - pos), "h_lo")]
    if sign < 0 if sign is not None else bool(xp.any(nu < 0)):
        neg = xp.minimum(nu, 0)
        terms += [(neg, "c_hi"), (-neg * (1 + neg), "h_hi")]
    if not terms:
        return None
    lo, hi = (nu[:, :1], nu[:, -1:]) if axis == 1 else (nu[:1], nu[-1:])
    terms = [(_pitched(coef, axis, xp, 3), name) for coef, name in terms]
    return Sweep(axis, "advect", tuple(terms), lo > 0, hi < 0, nu=nu)


def with_exchange(sweep: Sweep, w: Any, dt: float, dx: float, background: Any, dtype: Any,
                  xp: Any, varies: bool | None = None) -> Sweep:
    """``sweep`` plus the vertical exchange that a non-divergence-free wind implies.

    In flux form a uniform field thins where the wind diverges and piles up where it
    converges: the cell's air volume changes by ``D = nu_hi - nu_lo`` of itself. A
    2-D layer wind slowed over buildings is balanced by vertical motion, so after
    the update the cell trades that air with the air above the layer: where ``D > 0``
    air at ``background`` comes down, ``c <- c + D background``; where ``D < 0`` the
    surplus leaves through the top at the cell's concentration, ``c <- c / (1 - D)``.
    Both keep ``c >= 0`` and leave a uniform background exactly unchanged. ``varies``,
    when the caller knows it, says whether ``w`` varies along the axis at all.
    ``background``: a number, or one per batch member as a (batch, 1, 1) array.
    """
    if is_scalar(w) or varies is False:
        return sweep
    nu = sweep.nu  # the advection's, for the same w, dt and dx
    if nu is None:
        nu = _faces(xp.asarray(w, dtype=dtype), sweep.axis, xp) * dtype.type(dt / dx)
    lo, hi = _lo_hi(nu, sweep.axis)
    d = hi - lo
    if varies is None and not bool(xp.any(d != 0)):  # e.g. a uniform wind factor
        return sweep
    scale = 1 / (1 + xp.maximum(-d, 0))
    if is_scalar(background):
        background = dtype.type(background)
    add = xp.maximum(d, 0)[None] * background
    return replace(sweep, exchange=(scale, add))


def diffusion_sweep(k: Any, dt: float, dx: float, axis: int, dtype: Any, xp: Any) -> Sweep | None:
    """Central diffusion along ``axis``, second order in time (None when K is 0).

    The flux is the forward-Euler flux of ``c + D c / 2``, i.e. one step of
    ``c + D c + D(D c) / 2``: Heun's method (SSP-RK2), positive whenever the
    forward-Euler step is (Shu & Osher 1988).
    """
    dif = dt / dx**2
    if is_scalar(k):
        delta = float(k) * dif
        return Sweep(axis, "diffuse", delta=delta) if delta > 0 else None
    faces = _faces(xp.asarray(k, dtype=dtype), axis, xp) * dtype.type(dif)
    if not bool(xp.any(faces > 0)):
        return None
    # A window's jumps include one ghost face beyond each domain edge (jump 0 there).
    zero = xp.zeros_like(faces[:, :1] if axis == 1 else faces[:1])
    padded = _pitched(xp.concatenate([zero, faces, zero], axis=axis), axis, xp, 1)
    return Sweep(axis, "diffuse", delta=padded, delta_m1=padded - 1, neg_half=padded * -0.5)
