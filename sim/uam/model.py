"""Urban air mobility: air taxis between vertiports, their energy and their noise.

Each flight is scheduled from an origin vertiport to a destination at a departure time
and passes through phases (:data:`PHASES`): scheduled, queued on the ground for a pad,
boarding on a pad (``turnaround_s``), airborne along its route (vertical climb, cruise
over the route lattice of :mod:`sim.uam.routing`, down to the final approach fix above
the destination), holding at the fix while no pad is free, landing (vertical descent,
pad reserved), deboarding on the pad (``turnaround_s``) and done. A vertiport has
``pads`` pads, shared by departures and arrivals; landings are served before
departures, each first come first served. A flight takes the route of its pair at
boarding, so a route update changes only flights still on the ground.

Every transition happens at the start of a coupling step from device arrays only
(masks, a stable sort for the queues, scatter-adds with known lengths), so a step makes
no host synchronisation; routes are computed on the host side at :meth:`UamModel.init`
and at :meth:`UamModel.reroute` (between steps). Energy follows
:func:`sim.uam.flight.timetable` plus hover power while holding. Noise: the sound
exposure of the airborne flights on a ground grid (:mod:`sim.uam.noise`), each step's
track split into straight sub-segments of at most ``noise_segment_m``, summed as the
L_den-weighted exposure of the run and the exposure of each hour.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

import gpu
from sim.protocol import Var
from sim.uam import flight, noise, routing
from sim.variables import outputs_for

PHASES = ("scheduled", "queued", "boarding", "airborne", "holding", "landing", "deboarding",
          "done")  # fmt: skip
SCHEDULED, QUEUED, BOARDING, AIRBORNE, HOLDING, LANDING, DEBOARDING, DONE = range(8)
_SHORTEST, _AIRCRAFT = routing.Weights(), flight.Aircraft()
_HOVER_SPEED_MPS = 10.0  # slower over the ground than this: hover source level


class UamModel:
    """Air taxis over a city (see the module docstring).

    Parameters
    ----------
    grid : the route lattice (:func:`sim.uam.routing.route_grid`).
    surface, x, y : (ny, nx) [m] obstacle tops and the city cell centres, for clearance.
    vertiports : (V, 3) [m] pad positions (x, y, height above sea level).
    pads : (V,) pads per vertiport (>= 1).
    origin, destination : (F,) vertiport of each flight (different).
    departure_s : (F,) [s] scheduled departure after the run's start, ascending.
    receivers : (my, mx, 3) [m] noise receivers on a regular grid of ``noise_cell_m``
        spacing; ``receiver_population`` (my, mx) the people at each.
    receiver_of_cell : (ny * nx,) flat receiver of each city cell (for the noise maps).
    route_population, route_ground : (ny_r, nx_r) people and ground per route cell
        (the noise weight of routing).
    weights : route cost weights of the run's start.
    aircraft, turnaround_s, max_route_updates, max_route_points, noise_segment_m,
    source_level_dba, hover_excess_db : see the module docstring.
    noise_radius_m : [m] receivers farther than this from a flight's track in a step get
        nothing from it (a flyover at 3 km gives under 50 dB(A) SEL at 111 dB(A)).
    """

    OUTPUTS: ClassVar = outputs_for(
        "flight_x", "flight_y", "flight_z", "flight_phase", "flight_energy",
        "vertiport_queue", "vertiport_holding", "vertiport_pads_busy",
        "route_x", "route_y", "route_z", "pair_route", "noise_lden", "noise_leq_hour",
    )  # fmt: skip

    def __init__(
        self,
        grid: routing.RouteGrid,
        surface: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        vertiports: np.ndarray,
        pads: np.ndarray,
        origin: np.ndarray,
        destination: np.ndarray,
        departure_s: np.ndarray,
        receivers: np.ndarray,
        receiver_population: np.ndarray,
        receiver_of_cell: np.ndarray,
        noise_cell_m: float,
        route_population: np.ndarray,
        route_ground: np.ndarray,
        weights: routing.Weights = _SHORTEST,
        aircraft: flight.Aircraft = _AIRCRAFT,
        turnaround_s: float = 300.0,
        max_route_updates: int = 3,
        max_route_points: int = 96,
        noise_segment_m: float = 1000.0,
        source_level_dba: float = noise.SOURCE_LEVEL_DBA,
        hover_excess_db: float = noise.HOVER_EXCESS_DB,
        noise_radius_m: float = 3000.0,
    ):
        v = len(vertiports)
        if v < 2 and len(origin):
            raise ValueError(f"flights need at least 2 vertiports; {v} given")
        if np.shape(pads) != (v,):
            raise ValueError(f"pads has {np.size(pads)} entries for {v} vertiports")
        if np.any(np.asarray(pads) < 1):
            raise ValueError(f"every vertiport needs at least one pad; pads = {list(pads)}")
        if np.any(np.diff(departure_s) < 0):
            raise ValueError("departure_s must be ascending (flights in departure order)")
        if np.any(origin == destination):
            raise ValueError("a flight's origin and destination must differ")
        self.grid, self.surface, self.x, self.y = grid, surface, x, y
        self.vertiports = np.asarray(vertiports, dtype=float)
        self.n_vertiports = v
        self.pairs = [(o, d) for o in range(v) for d in range(v) if o != d]
        self.pair_of = {p: i for i, p in enumerate(self.pairs)}
        self.n_routes = len(self.pairs) * (1 + max_route_updates)
        self.n_points = max_route_points
        self.pads_host = np.asarray(pads, dtype=np.float64)
        self.origin_host = np.asarray(origin, dtype=np.int64)
        self.destination_host = np.asarray(destination, dtype=np.int64)
        self.pair_host = np.asarray(
            [self.pair_of[(o, d)] for o, d in zip(origin, destination, strict=True)],
            dtype=np.int64,
        )
        self.departure_host = np.asarray(departure_s, dtype=np.float64)
        receivers = np.asarray(receivers, dtype=np.float64)
        self.receiver_shape = receivers.shape[:2]
        self.receiver_x0, self.receiver_y0 = float(receivers[0, 0, 0]), float(receivers[0, 0, 1])
        self.receivers_host = receivers.reshape(-1, 3)
        self.receiver_population = np.asarray(receiver_population, dtype=np.float64).ravel()
        self.noise_cell_m, self.noise_radius_m = float(noise_cell_m), float(noise_radius_m)
        self._windows: dict = {}
        self.receiver_of_cell = np.asarray(receiver_of_cell, dtype=np.int64)
        self.map_shape = surface.shape
        self.route_population, self.route_ground = route_population, route_ground
        self.weights, self.aircraft = weights, aircraft
        self.turnaround_s = float(turnaround_s)
        self.noise_segment_m = float(noise_segment_m)
        self.source_level_dba = float(source_level_dba)
        self.hover_factor = 10.0 ** (hover_excess_db / 10.0)
        n = len(origin)
        self.STATE = {
            **{
                k: Var(("flight",), "float64", u, ln)
                for k, (u, ln) in {
                    "tau": ("s", "time flown along the route"),
                    "timer": ("s", "time left boarding or deboarding"),
                    "wait_s": ("s", "time queued on the ground"),
                    "hold_s": ("s", "time holding for a pad"),
                    "hold_since": ("s", "when holding began (queue order)"),
                }.items()
            },
            "phase": Var(("flight",), "int64", "1", "flight phase, index into PHASES"),
            "route": Var(("flight",), "int64", "1", "route flown (taken at boarding)"),
            "pair_route": Var(("pair",), "int64", "1", "route of each vertiport pair"),
            **{
                f"route_{k}": Var(("route", "route_point"), "float64", u, ln)
                for k, (u, ln) in {
                    "x": ("m", "route point easting"),
                    "y": ("m", "route point northing"),
                    "z": ("m", "route point height above sea level"),
                    "t": ("s", "time to the point"),
                    "e": ("J", "battery energy to the point"),
                    "s": ("m", "distance to the point"),
                }.items()
            },
            "route_fix": Var(("route",), "int64", "1", "point where the final descent begins"),
            "route_clearance": Var(
                ("route",),
                "float64",
                "m",
                "least height above obstacles (inf: unused)",
                infinite=True,
            ),
            "noise_exposure": Var(("receiver",), "float64", "s m-2", "L_den-weighted exposure"),
            "noise_hour": Var(("receiver",), "float64", "s m-2", "exposure this hour"),
            "noise_last_hour": Var(("receiver",), "float64", "s m-2", "last whole hour's"),
            "noise_dropped": Var((), "float64", "1", "most airborne flights left out of noise"),
            "seconds": Var((), "float64", "s", "simulated time", host=True),
            "route_versions": Var((), "int64", "1", "route sets made so far", host=True),
        }
        self._routes: dict[str, dict] = {}  # per backend: the initial route tables
        self.n_flights = n

    # ------------------------------------------------------------------ routes
    def _pair_routes(self, weights: routing.Weights, pairs, xp) -> dict:
        """Route polylines of ``pairs`` for ``weights`` (host arrays per pair)."""
        field = self._noise_field(xp) if weights.noise > 0 else None
        return routing.pad_to_pad(self.grid, self.vertiports, pairs, weights, field, xp)

    def _noise_field(self, xp):
        key = f"noise {xp.__name__}"
        if key not in self._routes:
            self._routes[key] = routing.noise_field(
                self.grid, self.route_population, self.route_ground, xp
            )
        return self._routes[key]

    def _tables(self, polylines: Mapping) -> dict:
        """Route-table rows (pair order) of ``{pair: points}`` with each route's clearance
        (:func:`sim.uam.routing.route_clearance` of its legs off the pads)."""
        rows = flight.route_tables(polylines, self.pairs, self.n_points, self.aircraft)
        rows["clearance"] = np.array([
            routing.route_clearance(polylines[p][1:-1], self.surface, self.x, self.y)
            if p in polylines else np.inf
            for p in self.pairs
        ])  # fmt: skip
        return rows

    def _initial(self, xp) -> dict:
        if xp.__name__ not in self._routes:
            used = sorted({(int(o), int(d)) for o, d in zip(
                self.origin_host, self.destination_host, strict=True)})  # fmt: skip
            self._routes[xp.__name__] = self._tables(self._pair_routes(self.weights, used, xp))
        return self._routes[xp.__name__]

    # ------------------------------------------------------------------ protocol
    def init(self, inputs: Mapping[str, Any], xp) -> dict[str, Any]:
        """Every flight scheduled, the routes of the start weights (``inputs`` unused)."""
        self.xp, self._windows = xp, {}
        first = self._initial(xp)
        n, r, p = self.n_flights, self.n_routes, self.n_points
        state: dict[str, Any] = {
            k: xp.zeros(n) for k in ("tau", "timer", "wait_s", "hold_s", "hold_since")
        }
        state["phase"] = xp.zeros(n, dtype=xp.int64)
        state["route"] = xp.asarray(self.pair_host.copy())
        state["pair_route"] = xp.arange(len(self.pairs), dtype=xp.int64)
        for k, table in first["tables"].items():
            full = np.zeros((r, p))
            full[: len(self.pairs)] = table
            state[f"route_{k}"] = xp.asarray(full)
        state["route_fix"] = xp.asarray(np.resize(first["fix"], r))
        state["route_clearance"] = xp.asarray(np.resize(first["clearance"], r))
        m = len(self.receivers_host)
        state |= {k: xp.zeros(m) for k in ("noise_exposure", "noise_hour", "noise_last_hour")}
        state["noise_dropped"] = xp.zeros(())
        state["seconds"] = np.asarray(0.0)
        state["route_versions"] = np.asarray(1, dtype=np.int64)
        # constants on the device once
        self.pads = xp.asarray(self.pads_host)
        self.origin = xp.asarray(self.origin_host)
        self.destination = xp.asarray(self.destination_host)
        self.pair = xp.asarray(self.pair_host)
        self.departure = xp.asarray(self.departure_host)
        self.receivers = xp.asarray(self.receivers_host)
        self.cell_receiver = xp.asarray(self.receiver_of_cell)
        self.flight_ids = xp.arange(n, dtype=xp.float64)
        self.slots = self._noise_slots(first)
        return state

    def _noise_slots(self, first: dict) -> int:
        """Flights the noise sums follow at once: twice the most that overlap in the
        schedule flown without waiting, plus 4 (``noise_dropped`` counts any beyond)."""
        if not self.n_flights:
            return 0
        t_end = first["tables"]["t"][self.pair_host, first["fix"][self.pair_host] + 1]
        start = self.departure_host + self.turnaround_s
        events = np.r_[start, start + t_end]
        order = np.argsort(events, kind="stable")
        overlap = int(np.cumsum(np.where(order < self.n_flights, 1, -1)).max())
        return min(self.n_flights, 2 * overlap + 4)

    def _along(self, state, key: str, route, tau):
        """``route_<key>`` interpolated in time at ``tau`` on each flight's ``route``."""
        xp = self.xp
        times = state["route_t"][route]
        at = xp.clip((times <= tau[:, None]).sum(axis=1) - 1, 0, self.n_points - 2)[:, None]
        t0 = xp.take_along_axis(times, at, axis=1)[:, 0]
        t1 = xp.take_along_axis(times, at + 1, axis=1)[:, 0]
        frac = xp.clip((tau - t0) / xp.maximum(t1 - t0, 1e-9), 0.0, 1.0)
        values = state[f"route_{key}"][route]
        v0 = xp.take_along_axis(values, at, axis=1)[:, 0]
        v1 = xp.take_along_axis(values, at + 1, axis=1)[:, 0]
        return v0 + frac * (v1 - v0)

    def _admit(self, candidate, port, key, free):
        """First come first served: per vertiport, the ``free`` candidates of least
        ``key`` (ties by flight order) are admitted."""
        xp, v = self.xp, self.n_vertiports
        group = xp.where(candidate, port, v)
        order = xp.lexsort(xp.stack([self.flight_ids, key, group.astype(xp.float64)]))
        counts = gpu.bincount(group, xp.ones(group.shape[0]), v + 1)
        starts = xp.cumsum(counts) - counts
        rank = xp.zeros(group.shape[0])
        rank[order] = xp.arange(group.shape[0], dtype=xp.float64) - starts[group[order]]
        return candidate & (rank < free[port])

    def step(self, state: Mapping[str, Any], forcing: Mapping[str, Any], dt: float) -> dict:
        """Forcing: ``time_s`` [s] since the start (host), ``local_hour`` (host),
        ``hour_done`` (host bool)."""
        xp, s = self.xp, dict(state)
        t = float(forcing["time_s"])
        ph, tau, timer = s["phase"], s["tau"], s["timer"]
        fix_t = xp.take_along_axis(s["route_t"][s["route"]], s["route_fix"][s["route"]][:, None],
                                   axis=1)[:, 0]  # fmt: skip
        end_t = xp.take_along_axis(
            s["route_t"][s["route"]], s["route_fix"][s["route"]][:, None] + 1, axis=1
        )[:, 0]
        ph = xp.where((ph == SCHEDULED) & (self.departure <= t), QUEUED, ph)
        ph = xp.where((ph == DEBOARDING) & (timer <= 0), DONE, ph)
        landed = (ph == LANDING) & (tau >= end_t)
        ph = xp.where(landed, DEBOARDING, ph)
        timer = xp.where(landed, self.turnaround_s, timer)
        takeoff = (ph == BOARDING) & (timer <= 0)
        ph = xp.where(takeoff, AIRBORNE, ph)
        tau = xp.where(takeoff, 0.0, tau)
        at_fix = (ph == AIRBORNE) & (tau >= fix_t)
        ph = xp.where(at_fix, HOLDING, ph)
        tau = xp.where(at_fix, fix_t, tau)
        s["hold_since"] = xp.where(at_fix, t, s["hold_since"])
        v = self.n_vertiports
        busy = gpu.bincount(self.origin, (ph == BOARDING) * 1.0, v) + gpu.bincount(
            self.destination, ((ph == LANDING) | (ph == DEBOARDING)) * 1.0, v
        )
        free = self.pads - busy
        land = self._admit(ph == HOLDING, self.destination, s["hold_since"], free)
        ph = xp.where(land, LANDING, ph)
        free = free - gpu.bincount(self.destination, land * 1.0, v)
        board = self._admit(ph == QUEUED, self.origin, self.departure, free)
        ph = xp.where(board, BOARDING, ph)
        timer = xp.where(board, self.turnaround_s, timer)
        s["route"] = xp.where(board, s["pair_route"][self.pair], s["route"])
        # advance the clocks of each phase
        moving = (ph == AIRBORNE) | (ph == LANDING)
        new_tau = xp.where(moving, tau + dt, tau)
        s["timer"] = xp.where((ph == BOARDING) | (ph == DEBOARDING), timer - dt, timer)
        s["wait_s"] = xp.where(ph == QUEUED, s["wait_s"] + dt, s["wait_s"])
        s["hold_s"] = xp.where(ph == HOLDING, s["hold_s"] + dt, s["hold_s"])
        s = self._noise(s, moving | (ph == HOLDING), tau, new_tau, dt, forcing)
        s["phase"], s["tau"] = ph, new_tau
        s["seconds"] = np.asarray(float(s["seconds"]) + dt)
        return s

    def _window(self, dt: float):
        """Receiver offsets of the window a flight's step reaches (built once per dt)."""
        if dt not in self._windows:
            reach = self.aircraft.cruise_speed_mps * dt / 2 + self.noise_radius_m
            half = math.ceil(reach / self.noise_cell_m)
            oy, ox = np.meshgrid(np.arange(-half, half + 1), np.arange(-half, half + 1))
            disc = oy**2 + ox**2 <= half**2  # a round footprint, no square corners
            self._windows[dt] = (self.xp.asarray(oy[disc]), self.xp.asarray(ox[disc]))
        return self._windows[dt]

    def _noise(self, s: dict, airborne, tau0, tau1, dt: float, forcing) -> dict:
        """Add the step's sound exposure of the airborne flights (up to ``slots``) at the
        receivers within ``noise_radius_m`` of their track."""
        xp, k = self.xp, self.slots
        pick = xp.argsort(xp.where(airborne, 0, 1))[:k]
        valid = airborne[pick] * 1.0
        route, t0, t1 = s["route"][pick], tau0[pick], tau1[pick]
        n = max(1, math.ceil(self.aircraft.cruise_speed_mps * dt / self.noise_segment_m))
        points = [
            xp.stack([self._along(s, c, route, t0 + (t1 - t0) * (j / n)) for c in "xyz"], axis=1)
            for j in range(n + 1)
        ]
        # the receivers around the middle of each flight's step
        oy, ox = self._window(dt)
        mid = (points[0] + points[-1]) / 2
        ny, nx = self.receiver_shape
        cy = xp.floor((mid[:, 1] - self.receiver_y0) / self.noise_cell_m + 0.5).astype(xp.int64)
        cx = xp.floor((mid[:, 0] - self.receiver_x0) / self.noise_cell_m + 0.5).astype(xp.int64)
        iy, ix = cy[:, None] + oy[None, :], cx[:, None] + ox[None, :]
        inside = (iy >= 0) & (iy < ny) & (ix >= 0) & (ix < nx)
        at = xp.where(inside, iy * nx + ix, 0)
        near = self.receivers[at]
        total = xp.zeros(ny * nx)
        for p, q in itertools.pairwise(points):
            ground = xp.sqrt(((q[:, :2] - p[:, :2]) ** 2).sum(axis=1)) / (dt / n)
            source = valid * xp.where(ground < _HOVER_SPEED_MPS, self.hover_factor, 1.0)
            e = noise.segment_exposure(p, q, dt / n, near, xp) * (source[:, None] * inside)
            total = total + gpu.bincount(at.reshape(-1), e.reshape(-1), ny * nx)
        s["noise_hour"] = s["noise_hour"] + total
        weight = noise.period_weight(float(forcing["local_hour"]))
        s["noise_exposure"] = s["noise_exposure"] + total * weight
        s["noise_dropped"] = xp.maximum(s["noise_dropped"], airborne.sum() - k * 1.0)
        if forcing["hour_done"]:
            s["noise_last_hour"] = s["noise_hour"]
            s["noise_hour"] = xp.zeros_like(s["noise_hour"])
        return s

    def outputs(self, state: Mapping[str, Any]) -> dict[str, Any]:
        xp, s = self.xp, state
        ph = s["phase"]
        route = xp.where(ph <= QUEUED, s["pair_route"][self.pair], s["route"])
        v = self.n_vertiports
        seconds = float(s["seconds"])
        grid = {
            "noise_lden": noise.level_db(s["noise_exposure"], seconds, self.source_level_dba, xp),
            "noise_leq_hour": noise.level_db(
                s["noise_last_hour"], 3600.0, self.source_level_dba, xp
            ),
        }
        return {
            **{f"flight_{c}": self._along(s, c, route, s["tau"]) for c in "xyz"},
            "flight_phase": ph.astype(xp.float64),
            "flight_energy": self.energy_j(s) / 3.6e6,
            "vertiport_queue": gpu.bincount(self.origin, (ph == QUEUED) * 1.0, v),
            "vertiport_holding": gpu.bincount(self.destination, (ph == HOLDING) * 1.0, v),
            "vertiport_pads_busy": gpu.bincount(self.origin, (ph == BOARDING) * 1.0, v)
            + gpu.bincount(self.destination, ((ph == LANDING) | (ph == DEBOARDING)) * 1.0, v),
            **{f"route_{c}": s[f"route_{c}"] for c in "xyz"},
            "pair_route": s["pair_route"].astype(xp.float64),
            **{k: m[self.cell_receiver].reshape(self.map_shape) for k, m in grid.items()},
        }

    def energy_j(self, state) -> Any:
        """(flight,) [J] battery energy used so far."""
        s = state
        flown = self._along(s, "e", s["route"], s["tau"]) * (s["phase"] >= AIRBORNE)
        return flown + self.aircraft.hover_power_w * s["hold_s"]

    # ------------------------------------------------------------- route updates
    def reroute(self, state: Mapping[str, Any], noise_weight: float, length_budget: float,
                climb_weight: float | None = None):  # fmt: skip
        """A state whose pairs fly routes of noise weight ``noise_weight`` (and climb
        weight ``climb_weight``; None: the start's), the noise weight halved (down to 0)
        for any pair whose route would be more than ``1 + length_budget`` times as long
        as its route at the start; flights already boarded keep theirs."""
        if not (math.isfinite(noise_weight) and noise_weight >= 0):
            raise ValueError(f"noise_weight={noise_weight!r} must be finite and >= 0")
        climb = self.weights.climb if climb_weight is None else climb_weight
        if not (math.isfinite(length_budget) and length_budget >= 0):
            raise ValueError(f"length_budget={length_budget!r} must be finite and >= 0")
        version = int(state["route_versions"])
        if version * len(self.pairs) >= self.n_routes:
            raise ValueError(
                f"the run has made {version} route sets; max_route_updates allows "
                f"{self.n_routes // len(self.pairs) - 1} updates"
            )
        xp = self.xp
        first = self._initial(xp)
        budget = first["tables"]["s"][:, -1] * (1.0 + length_budget)
        wanted = [self.pair_of[p] for p in sorted({(int(o), int(d)) for o, d in zip(
            self.origin_host, self.destination_host, strict=True)})]  # fmt: skip
        chosen: dict = {}
        w = noise_weight
        while wanted:
            weights = routing.Weights(self.weights.length, climb, w)
            found = self._pair_routes(weights, [self.pairs[i] for i in wanted], xp)
            for i in list(wanted):
                points = found[self.pairs[i]]
                if w == 0 or routing.polyline_length(points) <= budget[i]:
                    chosen[self.pairs[i]] = points
                    wanted.remove(i)
            w = w / 2 if w > noise_weight / 16 else 0.0
        rows = self._tables(chosen)
        s = dict(state)
        base = version * len(self.pairs)
        at = slice(base, base + len(self.pairs))
        for k, table in rows["tables"].items():
            full = gpu.to_host(s[f"route_{k}"]).copy()
            full[at] = table
            s[f"route_{k}"] = xp.asarray(full)
        for k in ("fix", "clearance"):
            full = gpu.to_host(s[f"route_{k}"]).copy()
            full[at] = rows[k]
            s[f"route_{k}"] = xp.asarray(full)
        pair_route = gpu.to_host(s["pair_route"]).copy()
        for pair in chosen:
            pair_route[self.pair_of[pair]] = base + self.pair_of[pair]
        s["pair_route"] = xp.asarray(pair_route)
        s["route_versions"] = np.asarray(version + 1, dtype=np.int64)
        return s

    def first_routes(self, state: Mapping[str, Any]) -> dict:
        """A state whose pairs fly the routes of the run's start again."""
        return dict(state) | {"pair_route": self.xp.arange(len(self.pairs), dtype=self.xp.int64)}

    # ----------------------------------------------------------------------- KPIs
    def kpis(self, state: Mapping[str, Any]) -> dict[str, float]:
        """The UAM KPIs of :data:`twin.kpi.KPIS` (host floats; a sync)."""
        s = state
        host = {k: gpu.to_host(s[k]) for k in ("phase", "route", "wait_s", "hold_s")}
        flown = host["phase"] >= AIRBORNE
        distance = gpu.to_host(self._along(s, "s", s["route"], s["tau"]))[flown]
        clearance = gpu.to_host(s["route_clearance"])[host["route"][flown]]
        lden = noise.level_db(
            gpu.to_host(s["noise_exposure"]), float(s["seconds"]), self.source_level_dba
        )
        waited = (host["wait_s"] + host["hold_s"])[flown]
        return {
            "uam_flights_completed": float((host["phase"] >= DEBOARDING).sum()),
            "uam_flight_km": float(distance.sum()) / 1000.0,
            "uam_energy": float(gpu.to_host(self.energy_j(s)).sum()) / 3.6e6,
            "uam_min_clearance": float(clearance.min()) if clearance.size else math.nan,
            "uam_people_above_55db": float(self.receiver_population[lden > 55.0].sum()),
            "uam_noise_exposure": noise.person_level_db(lden, self.receiver_population),
            "uam_mean_wait": float(waited.mean()) / 60.0 if waited.size else math.nan,
        }
