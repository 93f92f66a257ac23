"""The air-quality model: a well-mixed surface layer over the city grid.

Each species' near-surface concentration ``c`` [ug m-3] in a layer of height
``mixing_height`` ``h`` obeys

    dc/dt + div(w c) = div(K grad c) + E / (dx**2 h) - (v_d / h + lambda) c

with ``w`` the wind (uniform from the weather, slowed over tall dense buildings),
``K`` the eddy diffusivity, ``E`` the emission per cell, ``v_d`` the dry
deposition velocity and ``lambda`` a first-order chemical loss rate. Transport is
:func:`sim.air.advect_diffuse`'s scheme, sub-stepped under its stability limit;
sources and sinks are integrated exactly over each sub-step (Lie splitting).

References
----------
Seinfeld, J. H., Pandis, S. N. (2016). Atmospheric Chemistry and Physics, 3rd ed.
    Wiley. ISBN 978-1-118-94740-1. (Box models with entrainment, ch. 25; dry
    deposition velocities, ch. 19; NO2 + OH, ch. 6.)
Macdonald, R. W. (2000). Modelling the mean velocity profile in the urban canopy
    layer. Boundary-Layer Meteorol. 97, 25-45. doi:10.1023/A:1002785830512
US EPA (2017). Guideline on Air Quality Models, 40 CFR Part 51 Appendix W,
    section 4.2.3.4 (ambient ratio method for NO2/NOx).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

import gpu
from sim import variables
from sim.air.fused import FusedLoop, fused_params
from sim.air.scheme import AirWorkspace, step_sweeps, transport
from sim.air.sweeps import BOUNDARIES, stable_dt
from sim.protocol import Var

# Per-species defaults: dry deposition velocity [m s-1] (fine particles ~0.1 cm/s,
# NO2 0.1-0.5 cm/s, NO ~0: Seinfeld & Pandis ch. 19), first-order loss [s-1]
# (NO2 + OH with k = 1e-11 cm3 s-1 and a 24 h mean [OH] = 1e6 cm-3, ch. 6; PM2.5
# treated as inert on city time scales) and regional background [ug m-3]
# (twin.scenario's defaults for Gwangju).
SPECIES_DEFAULTS: Mapping[str, Mapping[str, float]] = {
    "pm25": {"deposition_velocity_mps": 1e-3, "decay_rate_per_s": 0.0, "background_ugm3": 12.0},
    "nox": {"deposition_velocity_mps": 1e-3, "decay_rate_per_s": 1e-5, "background_ugm3": 15.0},
}
_KG_TO_UG = 1e9


def _per_species(
    name: str, given: Mapping[str, float] | None, species: tuple[str, ...], key: str
) -> dict[str, float]:
    given = dict(given or {})
    unknown = sorted(set(given) - set(species))
    if unknown:
        raise ValueError(f"{name} names species not modelled: {unknown}; species are {species}")
    out = {}
    for s in species:
        value = float(given.get(s, SPECIES_DEFAULTS[s][key]))
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}[{s!r}] must be a finite number >= 0, got {value!r}")
        out[s] = value
    return out


def _number(name: str, value: Any, *, positive: bool = False, allow_negative: bool = False):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or (positive and x <= 0) or (not allow_negative and x < 0):
        what = "> 0" if positive else ("finite" if allow_negative else ">= 0")
        raise ValueError(f"{name} must be a finite number {what}, got {value!r}")
    return x


def _grid(name: str, a: Any, shape: tuple[int, int] | None, xp: Any, init: bool = False) -> Any:
    """A finite, non-negative (y, x) array on ``xp``.

    Values are always checked at ``init``; in a step only where that is free, for host
    (NumPy) arrays, which come from the caller: device arrays come from the coupled
    models and are trusted, as reading them back would stall the GPU every step.
    """
    if not hasattr(a, "shape") or len(a.shape) != 2:
        raise ValueError(f"{name} must be a (y, x) array, got {type(a).__name__}")
    if shape is not None and tuple(a.shape) != shape:
        raise ValueError(f"{name} has shape {tuple(a.shape)}; expected {shape}")
    if init:
        a = xp.asarray(a)
        bad = not bool(xp.all(xp.isfinite(a))) or bool(xp.any(a < 0))
    else:
        bad = type(a) is np.ndarray and not (np.all(np.isfinite(a)) and np.all(a >= 0))
    if bad:
        raise ValueError(f"{name} must be finite and >= 0 everywhere")
    return xp.asarray(a)


def _face_maxima(factor: np.ndarray) -> np.ndarray:
    """(axis, side) largest face value of a cell field [1]: axis 0 along y, 1 along x;
    side 0 the faces on each cell's high side (the outflow faces of a positive wind),
    side 1 those on its low side (of a negative wind). Face values are the means of the
    two cells, the edge cell's value at the domain edges (as the sweeps take them)."""
    out = np.empty((2, 2))
    for axis in (0, 1):
        a = np.moveaxis(factor, axis, 0)
        faces = np.concatenate([a[:1], 0.5 * (a[:-1] + a[1:]), a[-1:]])
        out[axis] = faces[1:].max(), faces[:-1].max()
    return out


def _neighbourhood_mean(a: Any, xp: Any) -> Any:
    """3 x 3 mean with edge cells repeated outside the grid."""
    ny, nx = a.shape
    p = xp.concatenate([a[:1], a, a[-1:]], axis=0)
    p = xp.concatenate([p[:, :1], p, p[:, -1:]], axis=1)
    return sum(p[i : i + ny, j : j + nx] for i in range(3) for j in range(3)) / 9.0


class AirModel:
    """Pollutant transport, emission, deposition and decay on the city grid.

    Parameters
    ----------
    dx_m : float [m]
        Cell side of the city grid.
    species : tuple of str
        Modelled species, from ``("pm25", "nox")``.
    background_ugm3 : mapping species -> float [ug m-3], optional
        Regional background: the initial field (unless given to :meth:`init`), the
        concentration the wind brings in through open edges, and that of the air
        entrained when the mixing height rises. Defaults in ``SPECIES_DEFAULTS``; a
        step's forcing ``background_<species>`` replaces it for that step (a
        time-varying regional background).
    deposition_velocity_mps : mapping species -> float [m s-1], optional
        Dry deposition velocity ``v_d``; the loss rate is ``v_d / mixing_height``.
    decay_rate_per_s : mapping species -> float [s-1], optional
        First-order chemical loss rate.
    eddy_diffusivity_m2ps : float [m2 s-1]
        Horizontal eddy diffusivity K (default 10, the order of horizontal
        turbulent diffusion at 100 m scales in a daytime urban boundary layer).
    roughness_factor_per_m : float [m-1]
        Building roughness factor ``r``: the transport wind over a cell is the
        weather wind times ``exp(-r H)``, ``H`` the 3 x 3 neighbourhood mean of
        ``building_height``, so tall *dense* blocks slow it more than a lone tower
        (an exponential canopy attenuation after Macdonald 2000). Default 0.02:
        a block of 30 m buildings keeps 55 % of the wind speed.
    no2_nox_ratio : float [1]
        NO2 / NOx mass ratio (NOx as NO2) used to derive ``no2`` (the ambient ratio
        method of US EPA Appendix W; default 0.5, its lower bound).
    boundary : {"open", "closed"}
        ``open``: background inflow, free outflow. ``closed``: no flux through
        the edges (for budgets and tests).
    dtype : {"float32", "float64"}
        Precision of the concentration fields.

    Notes
    -----
    State (``STATE``): the concentration grids (y, x) by species, the ``wind_factor``
    (y, x) and its host-side face maxima, and the last ``mixing_height`` [m] (a host
    value, NaN before the first step); the restart entries resume a run bit for bit.
    The species keep one (y, x) entry each (the store's layout), but a step works on
    them as one (species, y, x) array: it stacks them (one copy), sets up the sweeps
    and sources once for all of them, and returns views of the new stacked array.
    Emissions are kg s-1 per cell, i.e. ``1e9 E / (dx**2 h)`` ug m-3 s-1 in the layer.
    When the mixing height rises from ``h0`` to ``h``, the layer entrains air at the
    background concentration,
    ``c <- (c h0 + c_bg (h - h0)) / h``; when it falls, concentrations are unchanged
    (the air above the new top is left behind as a residual layer).

    Each step is split into ``n = ceil(dt / max_stable_dt)`` equal sub-steps of
    transport (alternating the sweep order) followed by the exact integral of the
    sources and sinks. The wind slowed over buildings is not divergence-free: every
    advection sweep trades the air it piles up or thins out with the layer above
    (at background, :func:`sim.air.sweeps.with_exchange`), so a uniform background
    stays uniform; with ``boundary="closed"`` and no buildings, transport conserves
    mass to round-off.

    On CuPy a sub-step is one launch of a fused kernel (:func:`gpu.fused_air_substep`,
    :mod:`sim.air.fused`) doing exactly the array code's operations, and the sub-steps
    of a step are replayed from a CUDA graph; elsewhere the array code runs.
    """

    OUTPUTS = variables.outputs_for("pm25", "nox", "no2")

    def __init__(
        self,
        dx_m: float,
        species: tuple[str, ...] = ("pm25", "nox"),
        *,
        background_ugm3: Mapping[str, float] | None = None,
        deposition_velocity_mps: Mapping[str, float] | None = None,
        decay_rate_per_s: Mapping[str, float] | None = None,
        eddy_diffusivity_m2ps: float = 10.0,
        roughness_factor_per_m: float = 0.02,
        no2_nox_ratio: float = 0.5,
        boundary: str = "open",
        dtype: str = "float32",
    ):
        self.dx_m = _number("dx_m", dx_m, positive=True)
        species = tuple(species) if not isinstance(species, str) else (species,)
        if not species or len(set(species)) != len(species):
            raise ValueError(f"species must be distinct names, got {species!r}")
        bad = [s for s in species if s not in SPECIES_DEFAULTS]
        if bad:
            raise ValueError(f"species {bad} not modelled; choose from {tuple(SPECIES_DEFAULTS)}")
        self.species = species
        self.background = _per_species(
            "background_ugm3", background_ugm3, species, "background_ugm3"
        )
        self.deposition = _per_species(
            "deposition_velocity_mps", deposition_velocity_mps, species, "deposition_velocity_mps"
        )
        self.decay = _per_species("decay_rate_per_s", decay_rate_per_s, species, "decay_rate_per_s")
        self.diffusivity = _number("eddy_diffusivity_m2ps", eddy_diffusivity_m2ps)
        self.roughness = _number("roughness_factor_per_m", roughness_factor_per_m)
        self.no2_nox_ratio = _number("no2_nox_ratio", no2_nox_ratio)
        if self.no2_nox_ratio > 1:
            raise ValueError(f"no2_nox_ratio must be in [0, 1], got {no2_nox_ratio!r}")
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary={boundary!r}; expected one of {BOUNDARIES}")
        self.boundary = boundary
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype={dtype!r}; expected 'float32' or 'float64'")
        self.dtype = dtype
        derived = ("no2",) if "nox" in species else ()
        self.OUTPUTS = variables.outputs_for(*species, *derived)
        grid = ("y", "x")
        self.STATE = {
            **{s: Var(grid, dtype, "ug m-3", f"{s} concentration") for s in species},
            "wind_factor": Var(grid, dtype, "1", "wind over the weather wind", restart=False),
            # host constants of the wind factor, so that a step decides its sweeps and
            # sub-steps without reading the field back (see _face_maxima)
            "face_factor_max": Var(
                ("axis", "side"), "float64", "1", "largest face wind factor", False, True
            ),
            "factor_varies": Var(("axis",), "bool", "1", "wind factor not uniform", False, True),
            "mixing_height": Var((), "float64", "m", "mixing height of the last step", host=True),
        }
        self._work: AirWorkspace | None = None
        self._tables: dict[tuple[str, str], Any] = {}
        self._fused_loop: FusedLoop | None = None

    # -- protocol ---------------------------------------------------------------
    def init(self, inputs: Mapping[str, Any], xp: Any) -> dict[str, Any]:
        """Initial state from ``building_height`` (y, x) [m] and optional initial
        concentration fields named by species [ug m-3] (default: background)."""
        if "building_height" not in inputs:
            raise ValueError("inputs needs 'building_height' (y, x) [m]")
        heights = _grid("inputs['building_height']", inputs["building_height"], None, xp, True)
        shape = tuple(heights.shape)
        dtype = xp.dtype(self.dtype)
        state: dict[str, Any] = {}
        for s in self.species:
            if s in inputs:
                field = _grid(f"inputs[{s!r}]", inputs[s], shape, xp, True)
                state[s] = xp.asarray(field, dtype=dtype).copy()
            else:
                state[s] = xp.full(shape, self.background[s], dtype=dtype)
        mean = _neighbourhood_mean(xp.asarray(heights, dtype=dtype), xp)
        state["wind_factor"] = xp.exp(mean * dtype.type(-self.roughness)).astype(dtype)
        factor = gpu.to_host(state["wind_factor"])
        state["face_factor_max"] = _face_maxima(factor.astype(np.float64))
        state["factor_varies"] = np.array(
            [bool(np.any(factor != factor[:1])), bool(np.any(factor != factor[:, :1]))]
        )
        state["mixing_height"] = np.asarray(math.nan)
        self._background(xp, dtype)  # the device table, here rather than in a step
        return state

    def step(self, state: Mapping[str, Any], forcing: Mapping[str, Any], dt: float,
             *, halo: Any = None) -> dict:
        """Advance by ``dt`` [s] under ``forcing``: ``wind_speed`` [m s-1],
        ``wind_from_direction`` [degree clockwise from north, where the wind comes
        from], ``mixing_height`` [m], ``emission_<species>`` (y, x) [kg s-1 per
        cell] (missing: none) and ``background_<species>`` [ug m-3], the regional
        background of this step (missing: the model's). Sub-steps keep every
        transport step stable. Returns a new state; ``state`` is not modified.

        ``halo``: for a tile of a larger grid (``state`` holding the tile with halo
        cells, and the whole grid's ``face_factor_max`` and ``factor_varies``), a
        callable ``halo(c, i)`` that overwrites the halo cells of ``c`` (species, y, x)
        in place with the neighbours' values before transport sub-step ``i``; the array
        code runs. A sub-step reads 4 cells beyond a cell along each axis (2 per 1-D
        operator, advection then diffusion), corners included."""
        dt = _number("dt", dt, positive=True)
        for key in ("wind_speed", "wind_from_direction", "mixing_height"):
            if key not in forcing:
                raise ValueError(f"forcing needs {key!r}")
        speed = _number("forcing['wind_speed']", forcing["wind_speed"])
        direction = _number(
            "forcing['wind_from_direction']", forcing["wind_from_direction"], allow_negative=True
        )
        h = _number("forcing['mixing_height']", forcing["mixing_height"], positive=True)
        extra = [
            k
            for k in forcing
            if k.split("_", 1)[0] in ("emission", "background")
            and k.split("_", 1)[1] not in self.species
        ]
        if extra:
            raise ValueError(
                f"forcing has emissions or backgrounds of species not modelled: {extra}"
            )
        background = [
            _number(f"forcing['background_{s}']", forcing[f"background_{s}"])
            if f"background_{s}" in forcing
            else self.background[s]
            for s in self.species
        ]
        missing = [k for k in self.STATE if k not in state]
        if missing:
            raise ValueError(f"state lacks {missing}; make it with init()")
        first = state[self.species[0]]
        xp, shape, dtype = gpu.array_namespace(first), tuple(first.shape), first.dtype
        emissions = {
            s: _grid(f"forcing['emission_{s}']", forcing[f"emission_{s}"], shape, xp)
            for s in self.species
            if f"emission_{s}" in forcing
        }

        wind, known, n = self._plan(state, speed, direction, dt)
        sub, factor = dt / n, state["wind_factor"]

        # Set-up, once per step for every species (host numbers, then device work).
        keeps, scales = self._source_terms(h, sub, dtype)
        kernel = None if halo is not None else gpu.fused_air_substep(xp, dtype)
        fused = None if kernel is None else self._fused(kernel, shape, dtype, xp)
        h0 = float(state["mixing_height"])  # a host value: no sync
        c = xp.stack([state[s] for s in self.species], out=None if fused is None else fused.a)
        if h0 < h:  # NaN before the first step compares False
            c *= dtype.type(h0 / h)
            for i, b in enumerate(background):
                c[i] += dtype.type(b * (1 - h0 / h))
        gain = None
        if emissions:  # the gain of one sub-step [ug m-3]
            gain = xp.empty_like(c) if fused is None else fused.gain
            for i, s in enumerate(self.species):
                if s in emissions:
                    xp.multiply(xp.asarray(emissions[s], dtype=dtype), scales[i], out=gain[i])
                else:
                    gain[i] = 0
        if fused is not None:
            values = fused_params(self, wind, known, sub, keeps, gain is not None, background)
            c = fused.run(values, n, factor)
        else:
            self._transport(c, n, factor, wind, sub, keeps, gain, known, background, xp, halo)
        return {
            **{s: c[i] for i, s in enumerate(self.species)},
            **{k: state[k] for k in ("wind_factor", "face_factor_max", "factor_varies")},
            "mixing_height": np.asarray(h),
        }

    def substeps(self, state: Mapping[str, Any], forcing: Mapping[str, Any], dt: float) -> int:
        """The number of transport sub-steps :meth:`step` takes for ``dt`` [s] under
        ``forcing`` (host numbers only: no device work)."""
        speed = _number("forcing['wind_speed']", forcing["wind_speed"])
        direction = _number("forcing['wind_from_direction']", forcing["wind_from_direction"],
                            allow_negative=True)
        return self._plan(state, speed, direction, _number("dt", dt, positive=True))[2]

    def _plan(self, state, speed: float, direction: float, dt: float):
        """Per axis (1 x, 0 y) the wind towards +/- [m s-1] (0 when calm along it) and
        (its sign, whether the wind factor varies along the axis), and the number of
        sub-steps, all decided on the host."""
        # Wind towards (u east, v north) from the meteorological "from" direction;
        # cos(270 deg) = -1.8e-16 and the like are residue, not a wind to sweep.
        theta = math.radians(direction)
        east, north = -speed * math.sin(theta), -speed * math.cos(theta)
        wind = {1: east if abs(east) > 1e-9 * speed else 0.0,
                0: north if abs(north) > 1e-9 * speed else 0.0}  # fmt: skip
        known = {a: (int(math.copysign(1, wind[a])) if wind[a] else 0,
                     bool(state["factor_varies"][a])) for a in (1, 0)}  # fmt: skip
        # the fastest face wind of each axis, from the host's face maxima of the factor
        fastest = [abs(wind[a]) * state["face_factor_max"][a, int(wind[a] < 0)] for a in (1, 0)]
        limit = stable_dt(*(float(f) for f in fastest), self.diffusivity, self.dx_m, np)
        n = 1 if math.isinf(limit) else max(1, math.ceil(dt / limit))
        return wind, known, n

    def _transport(self, c, n: int, factor, wind, sub: float, keeps, gain, known,
                   background: list[float], xp: Any, halo: Any = None) -> None:
        """The ``n`` sub-steps of the array code on ``c`` (species, y, x), in place: the
        sweeps are set up once (their coefficient grids serve both sweep orders, which
        only reverse the pairs, and every species), then transport, loss, gain."""
        dtype = c.dtype
        u, v = (factor * dtype.type(wind[a]) if wind[a] else 0.0 for a in (1, 0))
        bg = self._background(xp, dtype, background)
        pairs = step_sweeps(u, v, self.diffusivity, sub, self.dx_m, dtype, xp, "xy", bg, known)
        orders = (pairs, pairs[::-1])
        keep = None
        if any(k != 1 for k in keeps):
            keep = xp.empty((len(self.species), 1, 1), dtype=dtype)
            for i, k in enumerate(keeps):
                keep[i] = k
        work = self._workspace(tuple(c.shape), dtype, xp)
        inflow = bg if self.boundary == "open" else None
        for i in range(n):
            if halo is not None:
                halo(c, i)
            transport(c, orders[i % 2], work, c, boundary=self.boundary, inflow=inflow)
            if keep is not None:
                c *= keep
            if gain is not None:
                c += gain

    def _background(self, xp: Any, dtype: Any, values: list[float] | None = None) -> Any:
        """The backgrounds [ug m-3] (``values``, default the model's) as a (species, 1, 1)
        device table, allocated once per backend and dtype and refilled in place (one
        small fill per species, no read-back) when the values change."""
        key = (xp.__name__, str(dtype))
        values = [self.background[s] for s in self.species] if values is None else values
        if key not in self._tables:
            table = xp.asarray(np.array(values, dtype=dtype).reshape(-1, 1, 1))
            self._tables[key] = (table, list(values))
        table, held = self._tables[key]
        if held != list(values):
            for i, v in enumerate(values):
                table[i] = v
            self._tables[key] = (table, list(values))
        return table

    def _source_terms(self, h: float, sub: float, dtype: Any) -> tuple[list, list]:
        """Sources and sinks of one sub-step, integrated exactly: ``dc/dt = S - r c`` gives
        ``c <- c keep + S span`` with ``keep = exp(-r sub)``, ``span = (1 - keep) / r``.
        Returns per species ``keep`` [1] and the factor from emissions [kg s-1 per cell]
        to the gain [ug m-3], in ``dtype``."""
        keeps, scales = [], []
        for s in self.species:
            r = self.deposition[s] / h + self.decay[s]
            span = -math.expm1(-r * sub) / r if r > 0 else sub
            keeps.append(dtype.type(math.exp(-r * sub)))
            scales.append(dtype.type(_KG_TO_UG * span / (self.dx_m**2 * h)))
        return keeps, scales

    def _fused(self, kernel: Any, shape: tuple[int, int], dtype: Any, xp: Any) -> FusedLoop:
        f = self._fused_loop
        if f is None or not f.matches(kernel, (len(self.species), *shape), dtype, xp):
            f = self._fused_loop = FusedLoop(kernel, (len(self.species), *shape), dtype, xp)
        return f

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its caches (device tables, workspace, fused loop): a copy sent
        to another process (a tile's worker) rebuilds them on its own backend."""
        return self.__dict__ | {"_work": None, "_tables": {}, "_fused_loop": None}

    def outputs(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Concentrations [ug m-3] by name (``no2`` derived from ``nox``)."""
        out = {s: state[s] for s in self.species}
        if "nox" in self.species:
            nox = state["nox"]
            out["no2"] = nox * nox.dtype.type(self.no2_nox_ratio)
        return out

    def _workspace(self, shape: tuple[int, ...], dtype: Any, xp: Any) -> AirWorkspace:
        w = self._work
        if w is None or (w.batch, *w.shape) != shape or w.dtype != dtype or w.xp is not xp:
            w = self._work = AirWorkspace(shape, dtype, xp)
        return w
