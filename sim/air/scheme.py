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
read back from cache (along x the second sweep runs on the first one's window,
updated in place); a block's window is swept as one flat, contiguous array (along
x its rows are laid end to end with their ghost cells); all ufuncs write into
preallocated buffers (``out=``); float32 data stays float32; nothing is padded
with ``np.pad``. On CuPy a block is the whole grid.

Every array carries a leading batch axis (species): a field is ``(batch, ny, nx)``,
a window ``(batch, rows, pitch)``, its flat form ``(batch, size)``; coefficients are
shared by the batch and broadcast over it, so one operation serves every species.

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

from typing import Any, ClassVar

import gpu
from sim.air.sweeps import (
    Sweep,
    advection_sweep,
    diffusion_sweep,
    with_exchange,
)


class _BlockBuffers:
    """Flat temporaries for one block of rows (``(batch, size)``, flat along the last
    axis), viewed per window length and stride."""

    # Length of each buffer's view below a window's: jumps one stride fewer, half-slopes
    # and their bounds two, face fluxes three.
    _LESS: ClassVar[dict[str, int]] = {
        "win": 0, "d": 1, "e": 1, "h": 2, "lo": 2, "hi": 2, "g": 3, "t": 3
    }

    def __init__(self, batch: int, size: int, dtype: Any, xp: Any):
        self._flat = {n: xp.empty((batch, size), dtype=dtype) for n in self._LESS}
        # NumPy's SIMD minimum/maximum take twice as long against a scalar as
        # against an array; on a GPU the scalar saves reading one.
        self._zero = xp.zeros(size, dtype=dtype) if xp.__name__ == "numpy" else None
        self._views: dict[tuple[int, int, int], dict[str, Any]] = {}

    def views(self, size: int, stride: int, pitch: int) -> dict[str, Any]:
        """Views for a flat window of ``size`` values whose neighbours along the sweep
        are ``stride`` apart and whose rows are ``pitch`` long (``pitch != stride``:
        along x, rows of ``nx + 4``), made once: the buffers by name, their shifted
        slices, and ``w``: the slices of the ``win`` buffer as a window."""
        key = (size, stride, pitch)
        if key in self._views:
            return self._views[key]
        s, n = stride, size - 3 * stride
        v = {name: self._flat[name][:, : size - k * s] for name, k in self._LESS.items()}
        v["s"] = s
        v["zero"] = 0 if self._zero is None else self._zero[: size - 2 * s]
        d, e, h, g = v["d"], v["e"], v["h"], v["g"]
        # Jumps below, at and above each face; the half-slopes of its two cells.
        v["d3"] = (d[:, :n], d[:, s : s + n], d[:, 2 * s :])
        v["e3"] = (e[:, :n], e[:, s : s + n], e[:, 2 * s :])
        v["a"], v["c"], v["h_lo"], v["h_hi"] = d[:, :-s], d[:, s:], h[:, :n], h[:, s:]
        batch = g.shape[0]
        if pitch == stride:  # along y the faces are whole rows
            g2 = g.reshape(batch, -1, pitch)
            v["g_hi"], v["g_lo"], v["edges"] = g2[:, 1:], g2[:, :-1], (g2[:, 0], g2[:, -1])
        else:  # along x each row's last 3 values lie beyond its faces
            g2 = self._flat["g"][:, :size].reshape(batch, -1, pitch)
            v["g_hi"], v["g_lo"] = g[:, 1:], g[:, :-1]
            v["edges"] = (g2[:, :, 0], g2[:, :, pitch - 4])
        v["w"] = _window_slices(v["win"], s, n, pitch)
        self._views[key] = v
        return v


def _window_slices(flat: Any, s: int, n: int, pitch: int) -> tuple[Any, ...]:
    """A flat window's cells above and below each jump, below and above each face, and
    the cells a sweep updates (flat along x, rows along y)."""
    cells = flat[:, 2:-2] if pitch != s else flat.reshape(flat.shape[0], -1, pitch)[:, 2:-2]
    return flat[:, s:], flat[:, :-s], flat[:, s : s + n], flat[:, 2 * s : 2 * s + n], cells


class AirWorkspace:
    """Preallocated buffers for :func:`advect_diffuse` on one grid shape and dtype.

    Parameters
    ----------
    shape : (ny, nx), or (batch, ny, nx) for a batch of fields swept together (the
        species of :class:`sim.air.AirModel`)
    dtype : float32 or float64
    xp : array namespace (numpy or cupy)
    block_cells : int, optional
        Cells per block of rows, the whole batch counted. Default: 32768 on NumPy (a
        block's ~8 temporaries stay in a 2 MB L2 cache; measured fastest from 512^2 to
        4096^2), the whole grid on CuPy (one kernel launch per operation).
    """

    def __init__(self, shape: tuple[int, ...], dtype: Any, xp: Any, block_cells: int | None = None):
        dims = tuple(int(n) for n in shape)
        if len(dims) not in (2, 3) or min(dims) < 1:
            raise ValueError(f"shape must be (ny, nx) or (batch, ny, nx), each >= 1, got {shape!r}")
        batch, ny, nx = (1, *dims) if len(dims) == 2 else dims
        if block_cells is None:
            block_cells = 32768 if xp.__name__ == "numpy" else batch * ny * nx
        self.batch, self.shape, self.dtype, self.xp = batch, (ny, nx), xp.dtype(dtype), xp
        if self.dtype not in (xp.dtype(xp.float32), xp.dtype(xp.float64)):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.rows = max(1, min(ny, int(block_cells) // (nx * batch)))
        # A block's window along the sweep axis holds 2 halo cells each side.
        # _pair's lagged second sweep takes up to 2 more rows.
        size = (self.rows + 6) * (nx + 4)
        self.bufs = _BlockBuffers(batch, size, self.dtype, xp)
        self.mid = xp.empty((batch, ny, nx), dtype=self.dtype)

    def matches(self, c: Any) -> bool:
        """Whether ``c`` ((ny, nx) for a batch of 1, else (batch, ny, nx)) has this
        workspace's shape, dtype and backend."""
        shape = tuple(c.shape)
        return (
            shape[-2:] == self.shape
            and (shape[:-2] == (self.batch,) or (len(shape) == 2 and self.batch == 1))
            and c.dtype == self.dtype
            and gpu.array_namespace(c) is self.xp
        )


def _coef(coef: Any, r0: int, r1: int, size: int) -> Any:
    """A scalar coefficient, or rows ``r0:r1`` of a pitched one as ``size`` flat values."""
    return coef if type(coef) is float else coef[r0:r1].reshape(-1)[:size]


def _advective_fluxes(w: tuple, sweep: Sweep, r0: int, r1: int, b: dict[str, Any],
                      xp: Any) -> None:
    """Face fluxes ``b["g"]`` of a window with 2 halo cells each side (slices ``w``, see
    :func:`_window_slices`); every face needs the half-slopes of both its cells.
    Coefficient rows ``r0:r1`` (see :func:`_coef`)."""
    h, lo, hi, g, t, zero, a, c = (b[k] for k in ("h", "lo", "hi", "g", "t", "zero", "a", "c"))
    xp.subtract(w[0], w[1], out=b["d"])
    # MC half-slope minmod(a, c, (a + c) / 4) as a clip of the central value to
    # [min(0, max(a, c)), max(0, min(a, c))]: only min/max, so the bound
    # |h| <= min(|a|, |c|) that positivity rests on holds exactly in floating point
    # (a product form such as van Leer's ac / (a + c) loses it to gradual underflow).
    # a + c as max(a, c) + min(a, c): the same sum, but an in-place add. (min, max
    # rather than NumPy's clip: 4x faster on a block; the fused kernel clips.)
    xp.maximum(a, c, out=h)
    xp.minimum(h, zero, out=lo)
    xp.minimum(a, c, out=hi)
    xp.add(h, hi, out=h)
    xp.maximum(hi, zero, out=hi)
    xp.multiply(h, 0.25, out=h)
    xp.minimum(h, hi, out=h)
    xp.maximum(h, lo, out=h)
    operands = {"c_lo": w[2], "c_hi": w[3], "h_lo": b["h_lo"], "h_hi": b["h_hi"]}
    n = g.shape[1]
    for i, (coef, name) in enumerate(sweep.terms):
        xp.multiply(operands[name], _coef(coef, r0, r1, n), out=t if i else g)
        if i:
            xp.add(g, t, out=g)


def _diffusive_fluxes(w: tuple, sweep: Sweep, r0: int, r1: int, b: dict[str, Any],
                      xp: Any) -> None:
    """Heun (SSP-RK2) diffusive face fluxes ``b["g"]``: with ``e = delta * jump`` at the
    faces, ``g = (delta - 1) e - (delta / 2) (e_below + e_above)``."""
    d, g, t = b["d"], b["g"], b["t"]
    xp.subtract(w[0], w[1], out=d)
    if type(sweep.delta) is float:
        dl = sweep.delta
        below, mid, above = b["d3"]
        xp.add(below, above, out=t)
        xp.multiply(t, -0.5 * dl * dl, out=t)
        xp.multiply(mid, dl * dl - dl, out=g)
    else:
        m, n, s = d.shape[1], g.shape[1], b["s"]
        xp.multiply(d, _coef(sweep.delta, r0, r1, m), out=b["e"])
        below, mid, above = b["e3"]
        xp.add(below, above, out=t)
        xp.multiply(t, _coef(sweep.neg_half, r0, r1, m)[s : s + n], out=t)
        xp.multiply(mid, _coef(sweep.delta_m1, r0, r1, m)[s : s + n], out=g)
    xp.add(g, t, out=g)


def _fill_ghosts(region: Any, edge: Any, enters: Any, inflow: Any, xp: Any) -> None:
    """Ghost cells hold the edge value (zero gradient), or ``inflow`` (a number, or one
    per batch member as a (batch, 1, 1) array) where the wind blows into the domain and
    an inflow concentration is given."""
    if inflow is not None and enters is True:
        region[...] = inflow
        return
    region[...] = edge
    if inflow is None or enters is False:
        return
    if not hasattr(inflow, "dtype"):
        inflow = xp.asarray(inflow, dtype=region.dtype)
    xp.copyto(region, inflow, where=enters)


def _x_window(src: Any, sweep: Sweep, r0: int, r1: int, work: AirWorkspace, inflow) -> Any:
    """Rows ``r0:r1`` with 2 ghost cells each side along x, in the ``win`` buffer as
    rows of ``nx + 4``."""
    nx, batch = work.shape[1], work.batch
    win = work.bufs.views((r1 - r0) * (nx + 4), 1, nx + 4)["win"].reshape(batch, -1, nx + 4)
    rows = slice(r0, r1)
    win[:, :, 2:-2] = src[:, rows]
    if inflow is not None and sweep.kind != "advect":
        inflow = None
    enters = [m if isinstance(m, bool) else m[rows] for m in (sweep.inflow_lo, sweep.inflow_hi)]
    _fill_ghosts(win[:, :, :2], src[:, rows, :1], enters[0], inflow, work.xp)
    _fill_ghosts(win[:, :, -2:], src[:, rows, -1:], enters[1], inflow, work.xp)
    return win


def _y_window(src: Any, sweep: Sweep, r0: int, r1: int, work: AirWorkspace, inflow) -> Any:
    """Rows ``r0 - 2:r1 + 2``, ghost rows beyond the domain edges (a view of ``src``
    inside it)."""
    ny, nx = work.shape
    lo, hi = r0 - 2, r1 + 2
    if lo >= 0 and hi <= ny:
        return src[:, lo:hi]
    if inflow is not None and sweep.kind != "advect":
        inflow = None
    win = work.bufs.views((hi - lo) * nx, nx, nx)["win"].reshape(work.batch, -1, nx)
    a, z = max(lo, 0), min(hi, ny)
    win[:, a - lo : z - lo] = src[:, a:z]
    if lo < 0:
        _fill_ghosts(win[:, :-lo], src[:, :1], sweep.inflow_lo, inflow, work.xp)
    if hi > ny:
        _fill_ghosts(win[:, ny - lo :], src[:, -1:], sweep.inflow_hi, inflow, work.xp)
    return win


def _apply(win: Any, out: Any, sweep: Sweep, r0: int, r1: int, work: AirWorkspace,
           boundary: str) -> None:
    """One 1-D operator on rows ``r0:r1`` from their window ((batch, rows, pitch), halo
    included) into ``out`` (those rows; None: along x, into the window itself).

    The window is swept as one flat array, so every operation runs on contiguous
    memory: along y neighbours are a row apart; along x they are 1 apart and the
    values computed across the ghost cells between two rows are never used."""
    xp, ny, nx = work.xp, *work.shape
    ax = sweep.axis
    s = 1 if ax == 1 else nx
    b = work.bufs.views(win.shape[1] * win.shape[2], s, win.shape[2])
    # Along x the window is always the ``win`` buffer, along y mostly a view of src.
    w = b["w"] if ax == 1 else _window_slices(win.reshape(work.batch, -1), s, b["g"].shape[1], s)
    # Coefficient rows: along x the block's own, along y one more face (advection) or
    # three more jumps (diffusion, see diffusion_sweep).
    if sweep.kind == "advect":
        _advective_fluxes(w, sweep, r0, r1 + (ax == 0), b, xp)
    else:
        _diffusive_fluxes(w, sweep, r0, r1 + 3 * (ax == 0), b, xp)
    # Diffusion never crosses the domain edge ("open" means zero gradient there).
    if boundary == "closed" or sweep.kind == "diffuse":
        lo_edge, hi_edge = b["edges"]
        if ax == 1 or r0 == 0:
            lo_edge[...] = 0
        if ax == 1 or r1 == ny:
            hi_edge[...] = 0
    # Along x the window is updated in place (in-place ufuncs run faster), flat too
    # (ghost cells get values never used), and then copied to ``out``.
    cells = w[4]
    res = cells if ax == 1 else out
    xp.subtract(cells, b["g_hi"], out=res)
    xp.add(res, b["g_lo"], out=res)
    if sweep.exchange is not None:
        scale, add = sweep.exchange
        res = win[:, :, 2:-2] if ax == 1 else out
        xp.multiply(res, scale[r0:r1], out=res)
        xp.add(res, add[:, r0:r1], out=res)
    if ax == 1 and out is not None:
        out[...] = win[:, :, 2:-2]


def _pair(src: Any, dst: Any, first: Sweep, second: Sweep | None, work: AirWorkspace,
          boundary: str, inflow: float | None) -> None:
    """``first`` then ``second`` (None: skipped), ``src`` -> ``dst``, block by block.

    Along x a block's rows need nothing beyond themselves: ``first`` updates the
    window in place, its ghost cells are refilled and ``second`` runs on it. Along y
    ``first`` writes ``work.mid`` and ``second`` lags 2 rows (its window needs 2 rows
    of ``first``'s output beyond its block), so that mid rows are read back while
    still in cache; the lag also lets ``dst`` be ``src``: a block never overwrites
    rows ``first`` still reads."""
    ny, step = work.shape[0], work.rows
    if first.axis == 1:
        for r0 in range(0, ny, step):
            r1 = min(r0 + step, ny)
            win = _x_window(src, first, r0, r1, work, inflow)
            if second is None:
                _apply(win, dst[:, r0:r1], first, r0, r1, work, boundary)
                continue
            _apply(win, None, first, r0, r1, work, boundary)
            win[:, :, :2] = win[:, :, 2:3]  # the ghost cells of a diffusion sweep
            win[:, :, -2:] = win[:, :, -3:-2]
            _apply(win, dst[:, r0:r1], second, r0, r1, work, boundary)
        return
    mid, done = work.mid, 0
    for r0 in range(0, ny, step):
        r1 = min(r0 + step, ny)
        _apply(_y_window(src, first, r0, r1, work, inflow), mid[:, r0:r1], first, r0, r1, work,
               boundary)
        upto = ny if r1 == ny else max(r1 - 2, 0)
        if upto > done:
            if second is None:
                dst[:, done:upto] = mid[:, done:upto]
            else:
                win = _y_window(mid, second, done, upto, work, inflow)
                _apply(win, dst[:, done:upto], second, done, upto, work, boundary)
            done = upto


def step_sweeps(u: Any, v: Any, k: Any, dt: float, dx: float, dtype: Any, xp: Any,
                sweep_order: str = "xy", exchange: Any = None,
                known: dict[int, tuple[int, bool]] | None = None,
                ) -> tuple[tuple[Sweep, Sweep | None], ...]:
    """The 1-D operators of one step: per axis, advection then diffusion (when nonzero).
    ``exchange``: background concentration for :func:`with_exchange`, a number or one
    per batch member as a (batch, 1, 1) array (None: pure flux form). ``known``: per
    axis (1 x, 0 y), the wind's sign and whether it varies along the axis, when the
    caller knows them (no reads of the fields on the host). The operators of the other
    ``sweep_order`` are the same pairs reversed."""
    wind = {1: u, 0: v}
    pairs = []
    for axis in (1, 0) if sweep_order == "xy" else (0, 1):
        sign, varies = known[axis] if known else (None, None)
        adv = advection_sweep(wind[axis], dt, dx, axis, dtype, xp, sign)
        if adv is not None and exchange is not None:
            adv = with_exchange(adv, wind[axis], dt, dx, exchange, dtype, xp, varies)
        ops = [op for op in (adv, diffusion_sweep(k, dt, dx, axis, dtype, xp)) if op]
        if ops:
            pairs.append((ops[0], ops[1] if len(ops) > 1 else None))
    return tuple(pairs)


def transport(c: Any, pairs: tuple[tuple[Sweep, Sweep | None], ...], work: AirWorkspace,
              out: Any, *, boundary: str = "open", inflow: Any = None) -> Any:
    """Apply prepared sweeps (no validation): ``c`` -> ``out`` (both (batch, ny, nx));
    ``out`` may be ``c``. ``inflow``: None, a number or a (batch, 1, 1) array."""
    src = c
    for first, second in pairs:
        _pair(src, out, first, second, work, boundary, inflow)
        src = out
    if src is not out:
        out[...] = c
    return out


