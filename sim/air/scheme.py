"""The numerical scheme behind :func:`sim.air.advect_diffuse` (internal).

A step is, per axis, a flux-limited Lax-Wendroff advection sweep (MUSCL face values
with the monotonized-central (MC) limiter of van Leer 1977; Sweby 1984) followed
by a central diffusion sweep taken with Heun's method (SSP-RK2; Shu & Osher 1988),
the two axes one after the other (Lie splitting; Strang 1968). With a uniform wind
and diffusivity all four 1-D operators commute, so the step is second order in
space and time; callers with winds that vary in space alternate ``sweep_order``
between steps (Strang-type symmetrisation), as :class:`sim.air.AirModel` does.
Every sweep is positivity preserving below :func:`stable_dt`.

Performance (NumPy): sweeps walk the grid in blocks of rows small enough
(``AirWorkspace.block_cells``) that every temporary stays in the CPU's L2 cache;
an axis' two sweeps are interleaved block by block so the intermediate rows are
read back from cache; all ufuncs write into preallocated buffers (``out=``);
float32 data stays float32; nothing is padded with ``np.pad``. On CuPy a block is
the whole grid.

References
----------
van Leer, B. (1977). Towards the ultimate conservative difference scheme III.
    Upstream-centered finite-difference schemes for ideal compressible flow.
    J. Comput. Phys. 23, 263-275. doi:10.1016/0021-9991(77)90094-8
Sweby, P. K. (1984). High resolution schemes using flux limiters for hyperbolic
    conservation laws. SIAM J. Numer. Anal. 21, 995-1011. doi:10.1137/0721062
Shu, C.-W., Osher, S. (1988). Efficient implementation of essentially
    non-oscillatory shock-capturing schemes. J. Comput. Phys. 77, 439-471.
    doi:10.1016/0021-9991(88)90177-5
Strang, G. (1968). On the construction and comparison of difference schemes.
    SIAM J. Numer. Anal. 5, 506-517. doi:10.1137/0705041
Hundsdorfer, W., Verwer, J. G. (2003). Numerical Solution of Time-Dependent
    Advection-Diffusion-Reaction Equations. Springer. doi:10.1007/978-3-662-09017-6
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from numbers import Real
from typing import Any, ClassVar

import gpu

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
    ``exchange``: optional cell arrays ``(scale, add)`` applied after an advection
    update, ``c <- c * scale + add`` (see :func:`with_exchange`).
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


def advection_sweep(w: Any, dt: float, dx: float, axis: int, dtype: Any, xp: Any) -> Sweep | None:
    """Flux-limited Lax-Wendroff advection along ``axis`` (None when the wind is 0).

    Upwind face values are ``c_up +- (1 - |nu|) h_up`` with ``nu = w_f dt / dx`` and
    ``h`` the MC-limited half-slope: the factor ``(1 - |nu|)`` makes the sweep second
    order in time as well as space for smooth fields (Sweby 1984).
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
    if bool(xp.any(nu > 0)):
        pos = xp.maximum(nu, 0)
        terms += [(pos, "c_lo"), (pos * (1 - pos), "h_lo")]
    if bool(xp.any(nu < 0)):
        neg = xp.minimum(nu, 0)
        terms += [(neg, "c_hi"), (-neg * (1 + neg), "h_hi")]
    if not terms:
        return None
    lo, hi = (nu[:, :1], nu[:, -1:]) if axis == 1 else (nu[:1], nu[-1:])
    return Sweep(axis, "advect", tuple(terms), lo > 0, hi < 0)


def with_exchange(sweep: Sweep, w: Any, dt: float, dx: float, background: float, dtype: Any,
                  xp: Any) -> Sweep:
    """``sweep`` plus the vertical exchange that a non-divergence-free wind implies.

    In flux form a uniform field thins where the wind diverges and piles up where it
    converges: the cell's air volume changes by ``D = nu_hi - nu_lo`` of itself. A
    2-D layer wind slowed over buildings is balanced by vertical motion, so after
    the update the cell trades that air with the air above the layer: where ``D > 0``
    air at ``background`` comes down, ``c <- c + D background``; where ``D < 0`` the
    surplus leaves through the top at the cell's concentration, ``c <- c / (1 - D)``.
    Both keep ``c >= 0`` and leave a uniform background exactly unchanged.
    """
    if is_scalar(w):
        return sweep
    nu = _faces(xp.asarray(w, dtype=dtype), sweep.axis, xp) * dtype.type(dt / dx)
    lo, hi = _lo_hi(nu, sweep.axis)
    d = hi - lo
    scale = 1 / (1 + xp.maximum(-d, 0))
    add = xp.maximum(d, 0) * dtype.type(background)
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
    zero = xp.zeros_like(faces[_sl(axis, None, 1)])
    padded = xp.concatenate([zero, faces, zero], axis=axis)
    return Sweep(axis, "diffuse", delta=padded, delta_m1=padded - 1, neg_half=padded * -0.5)


class _BlockBuffers:
    """Temporaries for one block of rows (flat buffers, viewed per window shape)."""

    _LESS: ClassVar[dict[str, int]] = {
        "win": 0, "d": 1, "e": 1, "h": 2, "lo": 2, "hi": 2, "g": 3, "t": 3
    }

    def __init__(self, size: int, dtype: Any, xp: Any):
        self._flat = {n: xp.empty(size, dtype=dtype) for n in self._LESS}
        self._views: dict[tuple[tuple[int, int], int], dict[str, Any]] = {}

    def views(self, shape: tuple[int, int], axis: int) -> dict[str, Any]:
        """Views for a window of ``shape`` swept along ``axis``: cells ``win``, jumps
        ``d``/``e`` (one fewer along the axis), half-slopes ``h`` and bounds ``lo``/``hi`` (two
        fewer) and face fluxes ``g``/``t`` (three fewer)."""
        key = (shape, axis)
        if key not in self._views:
            views = {}
            for name, k in self._LESS.items():
                s = (shape[0], shape[1] - k) if axis == 1 else (shape[0] - k, shape[1])
                views[name] = self._flat[name][: s[0] * s[1]].reshape(s)
            self._views[key] = views
        return self._views[key]


class AirWorkspace:
    """Preallocated buffers for :func:`advect_diffuse` on one grid shape and dtype.

    Parameters
    ----------
    shape : (ny, nx)
    dtype : float32 or float64
    xp : array namespace (numpy or cupy)
    block_cells : int, optional
        Cells per block of rows. Default: 32768 on NumPy (a block's ~8 temporaries
        stay in a 2 MB L2 cache; measured fastest from 512^2 to 4096^2), the whole
        grid on CuPy (one kernel launch per operation).
    """

    def __init__(self, shape: tuple[int, int], dtype: Any, xp: Any, block_cells: int | None = None):
        ny, nx = (int(n) for n in shape)
        if ny < 1 or nx < 1:
            raise ValueError(f"shape must be (ny, nx) with ny, nx >= 1, got {shape!r}")
        if block_cells is None:
            block_cells = 32768 if xp.__name__ == "numpy" else ny * nx
        self.shape, self.dtype, self.xp = (ny, nx), xp.dtype(dtype), xp
        if self.dtype not in (xp.dtype(xp.float32), xp.dtype(xp.float64)):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.rows = max(1, min(ny, int(block_cells) // nx))
        # A block's window along the sweep axis holds 2 halo cells each side.
        # _pair's lagged second sweep takes up to 2 more rows.
        size = (self.rows + 6) * (nx + 4)
        self.bufs = _BlockBuffers(size, self.dtype, xp)
        self.mid = xp.empty((ny, nx), dtype=self.dtype)

    def matches(self, c: Any) -> bool:
        """Whether ``c`` has this workspace's shape, dtype and backend."""
        return (
            tuple(c.shape) == self.shape
            and c.dtype == self.dtype
            and gpu.array_namespace(c) is self.xp
        )


@functools.cache
def _sl(axis: int, start: int | None, stop: int | None) -> tuple[slice, ...]:
    return (slice(None), slice(start, stop)) if axis == 1 else (slice(start, stop),)


def _rows(coef: Any, rows: slice) -> Any:
    return coef if type(coef) is float else coef[rows]


def _advective_fluxes(win: Any, sweep: Sweep, rows: slice, b: dict[str, Any], xp: Any) -> Any:
    """Face fluxes of a window with 2 halo cells each side (``m`` cells, ``m - 3`` faces
    between cells 1..m-2); every face needs the half-slopes of both its cells."""
    ax = sweep.axis
    d, h, lo, hi, g, t = b["d"], b["h"], b["lo"], b["hi"], b["g"], b["t"]
    xp.subtract(win[_sl(ax, 1, None)], win[_sl(ax, None, -1)], out=d)
    a, c = d[_sl(ax, None, -1)], d[_sl(ax, 1, None)]
    # MC half-slope minmod(a, c, (a + c) / 4) as a clip of the central value to
    # [min(0, max(a, c)), max(0, min(a, c))]: only min/max, so the bound
    # |h| <= min(|a|, |c|) that positivity rests on holds exactly in floating point
    # (a product form such as van Leer's ac / (a + c) loses it to gradual underflow).
    xp.maximum(a, c, out=lo)
    xp.minimum(lo, 0, out=lo)
    xp.minimum(a, c, out=hi)
    xp.maximum(hi, 0, out=hi)
    xp.add(a, c, out=h)
    xp.multiply(h, 0.25, out=h)
    xp.minimum(h, hi, out=h)
    xp.maximum(h, lo, out=h)
    operands = {
        "c_lo": win[_sl(ax, 1, -2)],
        "c_hi": win[_sl(ax, 2, -1)],
        "h_lo": h[_sl(ax, None, -1)],
        "h_hi": h[_sl(ax, 1, None)],
    }
    for i, (coef, name) in enumerate(sweep.terms):
        xp.multiply(operands[name], _rows(coef, rows), out=t if i else g)
        if i:
            xp.add(g, t, out=g)
    return g


def _diffusive_fluxes(win: Any, sweep: Sweep, rows: slice, b: dict[str, Any], xp: Any) -> Any:
    """Heun (SSP-RK2) diffusive face fluxes: with ``e = delta * jump`` at the faces,
    ``g = (delta - 1) e - (delta / 2) (e_below + e_above)``."""
    ax = sweep.axis
    d, e, g, t = b["d"], b["e"], b["g"], b["t"]
    xp.subtract(win[_sl(ax, 1, None)], win[_sl(ax, None, -1)], out=d)
    mid, outer = _sl(ax, 1, -1), (_sl(ax, None, -2), _sl(ax, 2, None))
    if type(sweep.delta) is float:
        dl = sweep.delta
        xp.add(d[outer[0]], d[outer[1]], out=t)
        xp.multiply(t, -0.5 * dl * dl, out=g)
        xp.multiply(d[mid], dl * dl - dl, out=t)
    else:
        xp.multiply(d, _rows(sweep.delta, rows), out=e)
        xp.add(e[outer[0]], e[outer[1]], out=t)
        xp.multiply(t, _rows(sweep.neg_half, rows)[mid], out=g)
        xp.multiply(e[mid], _rows(sweep.delta_m1, rows)[mid], out=t)
    xp.add(g, t, out=g)
    return g


def _fill_ghosts(region: Any, edge: Any, enters: Any, inflow: float | None, xp: Any) -> None:
    """Ghost cells hold the edge value (zero gradient), or ``inflow`` where the wind
    blows into the domain and an inflow concentration is given."""
    region[...] = edge
    if inflow is None or enters is False:
        return
    if enters is True:
        region[...] = inflow
    else:
        xp.copyto(region, xp.asarray(inflow, dtype=region.dtype), where=enters)


def _window(src: Any, sweep: Sweep, r0: int, r1: int, bufs: _BlockBuffers, inflow, xp) -> tuple:
    """Cells of rows ``r0:r1`` plus 2 halo cells each side along the sweep axis, with
    ghost cells beyond the domain edges; its buffers; the coefficient rows of its faces."""
    ny, nx = src.shape
    if inflow is not None and sweep.kind != "advect":
        inflow = None
    if sweep.axis == 1:
        b = bufs.views((r1 - r0, nx + 4), 1)
        win, rows = b["win"], slice(r0, r1)
        win[:, 2:-2] = src[rows]
        enters = [m if isinstance(m, bool) else m[rows] for m in (sweep.inflow_lo, sweep.inflow_hi)]
        _fill_ghosts(win[:, :2], src[rows, :1], enters[0], inflow, xp)
        _fill_ghosts(win[:, -2:], src[rows, -1:], enters[1], inflow, xp)
        return win, b, rows
    lo, hi = r0 - 2, r1 + 2
    # Advective coefficients live on the block's own faces, diffusive ones on the
    # window's jumps (one more face each side), see diffusion_sweep.
    rows = slice(r0, r1 + 1) if sweep.kind == "advect" else slice(r0, r1 + 3)
    if lo >= 0 and hi <= ny:
        win = src[lo:hi]
        return win, bufs.views(tuple(win.shape), 0), rows
    b = bufs.views((r1 - r0 + 4, nx), 0)
    win = b["win"]
    a, z = max(lo, 0), min(hi, ny)
    win[a - lo : z - lo] = src[a:z]
    if lo < 0:
        _fill_ghosts(win[:-lo], src[:1], sweep.inflow_lo, inflow, xp)
    if hi > ny:
        _fill_ghosts(win[ny - lo :], src[-1:], sweep.inflow_hi, inflow, xp)
    return win, b, rows


def _block(src: Any, dst: Any, sweep: Sweep, r0: int, r1: int, work: AirWorkspace,
           boundary: str, inflow: float | None) -> None:
    """Apply one 1-D operator to rows ``r0:r1``: ``src`` -> ``dst`` (another array)."""
    xp, ax, ny = work.xp, sweep.axis, work.shape[0]
    win, b, rows = _window(src, sweep, r0, r1, work.bufs, inflow, xp)
    fluxes = _advective_fluxes if sweep.kind == "advect" else _diffusive_fluxes
    g = fluxes(win, sweep, rows, b, xp)
    # Diffusion never crosses the domain edge ("open" means zero gradient there).
    if boundary == "closed" or sweep.kind == "diffuse":
        if ax == 1:
            g[:, 0] = 0
            g[:, -1] = 0
        else:
            if r0 == 0:
                g[0] = 0
            if r1 == ny:
                g[-1] = 0
    out = dst[r0:r1]
    xp.subtract(win[_sl(ax, 2, -2)], g[_sl(ax, 1, None)], out=out)
    xp.add(out, g[_sl(ax, None, -1)], out=out)
    if sweep.exchange is not None:
        scale, add = sweep.exchange
        xp.multiply(out, scale[r0:r1], out=out)
        xp.add(out, add[r0:r1], out=out)


def _pair(src: Any, dst: Any, first: Sweep, second: Sweep | None, work: AirWorkspace,
          boundary: str, inflow: float | None) -> None:
    """``first`` (src -> work.mid) then ``second`` (mid -> dst; None: a copy), block by
    block, so that mid rows are read back while still in cache. ``second`` lags 2 rows
    along y (its window needs 2 rows of ``first``'s output beyond its block), which
    also lets ``dst`` be ``src``: a block never overwrites rows ``first`` still reads."""
    ny, mid = work.shape[0], work.mid
    lag = 2 if first.axis == 0 else 0
    done = 0
    for r0 in range(0, ny, work.rows):
        r1 = min(r0 + work.rows, ny)
        _block(src, mid, first, r0, r1, work, boundary, inflow)
        upto = ny if r1 == ny else max(r1 - lag, 0)
        if upto > done:
            if second is None:
                dst[done:upto] = mid[done:upto]
            else:
                _block(mid, dst, second, done, upto, work, boundary, inflow)
            done = upto


def step_sweeps(u: Any, v: Any, k: Any, dt: float, dx: float, dtype: Any, xp: Any,
                sweep_order: str = "xy", exchange: float | None = None
                ) -> tuple[tuple[Sweep, Sweep | None], ...]:
    """The 1-D operators of one step: per axis, advection then diffusion (when nonzero).
    ``exchange``: background concentration for :func:`with_exchange` (None: pure
    flux form)."""
    wind = {1: u, 0: v}
    pairs = []
    for axis in (1, 0) if sweep_order == "xy" else (0, 1):
        adv = advection_sweep(wind[axis], dt, dx, axis, dtype, xp)
        if adv is not None and exchange is not None:
            adv = with_exchange(adv, wind[axis], dt, dx, exchange, dtype, xp)
        ops = [op for op in (adv, diffusion_sweep(k, dt, dx, axis, dtype, xp)) if op]
        if ops:
            pairs.append((ops[0], ops[1] if len(ops) > 1 else None))
    return tuple(pairs)


def transport(c: Any, pairs: tuple[tuple[Sweep, Sweep | None], ...], work: AirWorkspace,
              out: Any, *, boundary: str = "open", inflow: float | None = None) -> Any:
    """Apply prepared sweeps (no validation): ``c`` -> ``out``; ``out`` may be ``c``."""
    src = c
    for first, second in pairs:
        _pair(src, out, first, second, work, boundary, inflow)
        src = out
    if src is not out:
        out[...] = c
    return out


