"""The traffic model behind the runner protocol: ``init``, ``step``, ``outputs``.

Model choice. A destination-based cell transmission model (CTM; Daganzo 1994, 1995)
with vehicles tracked per destination at the link level, not per cell. Why:

* Cost. The work per sub-step is a few dozen whole-array operations over the cells
  and over the link x zone table, independent of the number of vehicles. For the
  city-like day of ``bench/traffic.py`` (991 nodes, 3,670 links of 600 m, 15 zones,
  24 h; 32,600 cells at 5 s) that is about 18 s of wall time with NumPy on the shared
  2-core CPU, 8 s at 10 s sub-steps. Tracking destinations per cell would multiply
  the dominant cost by the cells per link (about 9); the link transmission model
  (Yperman 2006) would save the cell arrays but needs ring buffers of cumulative
  counts per link and the same destination bookkeeping. Cost grows linearly with the
  number of zones: 10-20 zones keep a day well under a minute.
* Stability and accuracy. Cells are cut so that ``c dt / dx <= 1`` with ``c`` the
  larger of the free speed and the wave speed: free-flow traffic moves without
  numerical diffusion where the ratio is 1, the mean travel time is exact at any
  ratio, and queues and spill-back are resolved to a cell (one cell is the error of
  the bottleneck queue in the verification tests, and the delay is exact).
* Sub-step. ``dt_max_s`` defaults to 5 s: cells of 55-110 m on 11-22 m/s roads and
  signals resolved within a sub-step (green fractions are integrated exactly). 10 s
  halves both cells and sub-steps, about 2.3 times faster, at the price of coarser
  queues and 4-19 % more total travel time on the signalized UXsim grids (3 % in the
  city day): larger cells blur arrivals at the stop line. The runner's coupling step (e.g. 60 s) is
  split into equal sub-steps no longer than ``dt_max_s``.

Route choice is reactive: every ``route_interval_s`` the shortest times to each zone
are recomputed from current link travel times, and the next-link choice is all or
nothing, or a logit split with ``route_spread_s`` > 0 (see :mod:`sim.traffic.routing`).
Signals run fixed-time plans, or follow a controller's phase commands, or actuate on
their own detectors (:mod:`sim.traffic.control`, commands in
:mod:`sim.traffic.commands`); loop detectors report counts, occupancy, speed and
queues (:mod:`sim.traffic.detectors`); demand is the OD matrix, or each hour a Poisson
draw around it (:func:`sim.traffic.demand.poisson_multiplier`).

State. A flat dict of ``xp`` arrays (0-d arrays for scalars), every entry declared in
``STATE``; :func:`sim.protocol.snapshot` / :func:`sim.protocol.restore` copy it to the
host and back bit for bit. Arrays carry one dummy cell and one dummy link at the end;
treat the state as opaque and read it through :meth:`TrafficModel.outputs`,
:meth:`TrafficModel.counters` and :meth:`TrafficModel.signal_display`.

References
----------
Daganzo (1994, 1995): see :mod:`sim.traffic.loading`.
Yperman, I. (2006). The link transmission model for dynamic network loading. PhD
thesis, KU Leuven.
Edie, L. C. (1963). Discussion of traffic stream measurements and definitions. Proc.
2nd International Symposium on the Theory of Traffic Flow, Paris, 139-154.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

import gpu
from sim import variables
from sim.traffic import control, loading, routing, signals
from sim.traffic import detectors as loops
from sim.traffic import state as tables
from sim.traffic.commands import SignalCommands
from sim.traffic.demand import DAY_S, DEMAND_NOISE, Demand, draw_hour, needs_draw
from sim.traffic.fused import FusedCtm
from sim.traffic.network import Network


@gpu.fuse
def _add_scaled(xp, total, x, scale):
    """``total + x * scale`` in one kernel."""
    return total + x * scale


@gpu.fuse
def _link_time(xp, on_link, capacity, green, free_time, wait):
    """[s] free-flow time plus the signal wait (zeros: none, and ``free_time + 0`` is
    ``free_time``) or the time to discharge the link at its green-reduced capacity,
    whichever is longer."""
    discharge = on_link / xp.maximum(capacity * green, 1e-300)
    return xp.maximum(free_time + wait, discharge)


class TrafficModel(SignalCommands):
    """City traffic on a road network: CTM loading, signals, OD demand, reactive routes.

    Parameters
    ----------
    network : the road network.
    demand : zones, OD matrix and time profile; zone nodes must be nodes of the
        network and every OD pair with demand must be connected.
    dt_max_s : [s] longest internal sub-step (shorter if a link is shorter than the
        distance covered in it at free speed or wave speed).
    route_interval_s : [s] how often route fractions are recomputed.
    route_weight : in (0, 1], share of the route fractions moved towards the current
        choice at each recomputation.
    route_spread_s : [s] >= 0, logit scale of the next-link choice; 0 is all or nothing
        (ties to the lowest-numbered link).
    route_band_s : [s] links whose remaining cost is more than this above the best get
        no share (default ``3 * route_spread_s``).
    green_s, amber_s, all_red_s : [s] default fixed-time plan, per phase (scalar or one
        value per phase, broadcast to every signalized node, or (signal, phase) arrays).
    offset_s : [s] cycle offset (scalar or per signalized node).
    lost_time_s : [s] lost time per phase (effective green = phase time - lost time).
    signal_wait_in_routes : whether route costs include the mean wait at each signal
        (Webster's uniform delay of the node's plan) on top of the instantaneous travel
        time; False makes routes react to queues only, like UXsim's dynamic user optimum.
    signal_phases : ``{node: [[link, ...], ...]}`` phases of some signalized nodes as sets of
        approach links (default: north-south and east-west, see
        :func:`sim.traffic.signals.phase_table`).
    signal_control : control mode of every signalized node (``"fixed_time"``,
        ``"phase_select"``, ``"actuated"``), or ``{node: mode}`` (others fixed-time).
    min_green_s, max_green_s : [s] minimum green (>= 1) of the adaptive modes and maximum
        green of the actuated one, per phase (scalar, per phase or (signal, phase)).
    passage_s : [s] > 0, actuated passage time (scalar or per signalized node).
    detectors : loop detectors (:class:`sim.traffic.detectors.Detectors`), or None.
    demand_noise : ``"none"`` (the OD matrix) or ``"poisson"`` (hourly Poisson draws).
    seed : >= 0, seed of the demand draws.
    exit_before_signal : vehicles reaching their destination node leave without
        waiting for its green (a trip ends before the junction); False keeps the older
        model, in which they wait like through traffic.
    """

    OUTPUTS = variables.outputs_for(
        *tables.LINK_OUTPUTS, *tables.SIGNAL_OUTPUTS, *tables.DETECTOR_OUTPUTS
    )
    STATE = tables.BASE_STATE | loops.STATE

    def __init__(
        self,
        network: Network,
        demand: Demand,
        *,
        dt_max_s: float = 5.0,
        route_interval_s: float = 300.0,
        route_weight: float = 0.5,
        route_spread_s: float = 0.0,
        route_band_s: float | None = None,
        green_s=26.0,
        amber_s=3.0,
        all_red_s=1.0,
        offset_s=0.0,
        lost_time_s: float = 4.0,
        signal_wait_in_routes: bool = True,
        signal_phases: Mapping[int, Sequence[Sequence[int]]] | None = None,
        signal_control: str | Mapping[int, str] = "fixed_time",
        min_green_s=5.0,
        max_green_s=40.0,
        passage_s=3.0,
        detectors: loops.Detectors | None = None,
        demand_noise: str = "none",
        seed: int = 0,
        exit_before_signal: bool = False,
    ):
        for name, value in (("dt_max_s", dt_max_s), ("route_interval_s", route_interval_s)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be > 0 [s], got {value}")
        if not (0 < route_weight <= 1):
            raise ValueError(f"route_weight: must be in (0, 1], got {route_weight}")
        band = 3.0 * route_spread_s if route_band_s is None else route_band_s
        for name, value in (("lost_time_s", lost_time_s), ("route_spread_s", route_spread_s),
                            ("route_band_s", band)):  # fmt: skip
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be >= 0 [s], got {value}")
        if demand_noise not in DEMAND_NOISE:
            raise ValueError(f"demand_noise: {demand_noise!r} is not one of {DEMAND_NOISE}")
        if not (isinstance(seed, int | np.integer) and seed >= 0):
            raise ValueError(f"seed: must be a whole number >= 0, got {seed!r}")
        routing.check_zones(network, demand)
        self.network, self.demand = network, demand
        self.route_interval_s, self.route_weight = float(route_interval_s), float(route_weight)
        self.route_spread_s, self.route_band_s = float(route_spread_s), float(band)
        self.lost_time_s = float(lost_time_s)
        self.signal_wait_in_routes = bool(signal_wait_in_routes)
        self.demand_noise, self.seed = demand_noise, int(seed)
        self.exit_before_signal = bool(exit_before_signal)
        self.cells = loading.cut_cells(network, dt_max_s)
        self.signal_nodes = np.flatnonzero(network.signalized)
        signal_row = np.full(network.n_nodes, -1)
        signal_row[self.signal_nodes] = np.arange(self.signal_nodes.size)
        self._signal_row = signal_row
        self.approach_links = np.flatnonzero(network.signalized[network.to_node])
        self.approach_row = signal_row[network.to_node[self.approach_links]]
        self.phases = signals.phase_table(
            network, self.signal_nodes, self.approach_links, signal_phases
        )
        self.default_plan = signals.plan_arrays(
            self.signal_nodes.size, green_s, amber_s, all_red_s, offset_s, self.phases.n_phases
        )
        self.default_control = self._control_defaults(
            signal_control, min_green_s, max_green_s, passage_s
        )
        with_detectors = detectors is not None and detectors.n > 0
        self.detectors = detectors if with_detectors else None
        self._detector_table = (
            loops.place(network, self.cells, detectors) if with_detectors else None
        )
        with_signals = self.signal_nodes.size > 0
        self.OUTPUTS = variables.outputs_for(
            *tables.LINK_OUTPUTS,
            *(tables.SIGNAL_OUTPUTS if with_signals else ()),
            *(tables.DETECTOR_OUTPUTS if with_detectors else ()),
        )
        self.STATE = tables.BASE_STATE | (loops.STATE if with_detectors else {})
        self._dev: dict[str, tuple] = {}
        self._fused_by: dict[str, FusedCtm] = {}
        _, graph, _ = self._device(np)
        routing.check_reachable(graph, network.free_flow_time, demand)

    # ------------------------------------------------------------------ setup
    @property
    def dt_sub_max_s(self) -> float:
        """Longest stable internal sub-step [s]."""
        return self.cells.dt_max_s

    @property
    def n_detectors(self) -> int:
        return 0 if self.detectors is None else self.detectors.n

    def _device(self, xp):
        """Static arrays on backend ``xp`` (built once per backend)."""
        key = xp.__name__
        if key not in self._dev:
            net, ph = self.network, self.phases
            static = loading.build_static(
                xp, net, self.cells, self.demand.zone_nodes, self.exit_before_signal
            )
            graph = routing.RouteGraph(
                out_links=static.out_links, to_node=static.to_node, dest_nodes=static.zone_nodes
            )
            width = ph.width
            link = {
                "length": xp.asarray(net.length),
                "free_time": xp.asarray(net.free_flow_time),
                "capacity": xp.asarray(net.link_capacity),
                "free_speed": xp.asarray(net.free_speed),
                "approach": xp.asarray(self.approach_links),
                "approach_row": xp.asarray(self.approach_row),
                "approach_last": xp.asarray(self.cells.last[self.approach_links]),
                "serve": xp.asarray(np.maximum(ph.serve, 0)),
                "serve_valid": xp.asarray((ph.serve >= 0).astype(np.float64)),
                "entry_flat": xp.asarray(ph.entry_row * width + ph.entry_phase),
                "entry_approach": xp.asarray(ph.entry_approach),
                "n_phases": xp.asarray(ph.n_phases),
                # destination-major, like the origin queues
                "od_per_s": xp.asarray(np.ascontiguousarray(self.demand.od_veh_per_h.T) / 3600.0),
                "cell_length": xp.asarray(self.cells.length),
                "cell_link": xp.asarray(self.cells.link),
                "cell_critical": xp.asarray(
                    net.critical_density[self.cells.link] * self.cells.length[:-1]
                ),
            }
            if self._detector_table is not None:
                link["detectors"] = {k: xp.asarray(v) for k, v in self._detector_table.items()}
            work = loading.workspace(xp, self.cells.n_cells, net.n_links, self.demand.n_zones)
            self._dev[key] = (static, graph, link, work, {})
        return self._dev[key][:3]

    def _fused(self, xp) -> FusedCtm | None:
        """The fused sub-steps on ``xp`` (:func:`gpu.fused_ctm_substeps`), or None."""
        kernel = gpu.fused_ctm_substeps(xp)
        if kernel is None:
            return None
        fused = self._fused_by.get(xp.__name__)
        if fused is None or fused.kernel is not kernel:
            fused = self._fused_by[xp.__name__] = FusedCtm(kernel, self, xp)
        return fused

    def _kernel(self, xp, h_s: float):
        """Sub-step constants for length ``h_s`` and the scratch buffers (cached)."""
        static, _, _, work, by_h = self._dev[xp.__name__]
        if h_s not in by_h:
            by_h[h_s] = loading.step_constants(static, h_s)
        return by_h[h_s], work

    # --------------------------------------------------------------- protocol
    def init(self, inputs: Mapping | None = None, xp=np) -> dict:
        """Empty network at rest, default signal plans and control, free-flow routes.

        Parameters
        ----------
        inputs : optional overrides of the signal plan, keys among ``signal_green_s``,
            ``signal_amber_s``, ``signal_all_red_s`` ((signal, phase) [s]) and
            ``signal_offset_s`` ((signal,) [s]); signals are the signalized nodes in
            ascending order.
        xp : array namespace (``numpy`` or ``cupy``).
        """
        inputs = dict(inputs or {})
        unknown = sorted(set(inputs) - set(signals.PLAN_KEYS))
        if unknown:
            raise ValueError(
                f"inputs: unknown key(s) {unknown}; allowed: {list(signals.PLAN_KEYS)}"
            )
        plan = {k: gpu.to_host(inputs.get(k, v)) for k, v in self.default_plan.items()}
        plan = signals.plan_arrays(
            self.signal_nodes.size, *(plan[k] for k in signals.PLAN_KEYS), self.phases.n_phases
        )
        _, graph, _ = self._device(xp)
        n_links, n_zones = self.network.n_links, self.demand.n_zones
        host = plan | self._controller_start(plan, self.default_control, 0.0)
        st = {k: xp.asarray(v) for k, v in host.items() if not self.STATE[k].host}
        st |= {k: np.asarray(v) for k, v in host.items() if self.STATE[k].host}
        st |= {
            "approach_green_s": xp.zeros(self.approach_links.size),
            "vehicles": xp.zeros(self.cells.n_cells + 1),
            "link_dest": xp.zeros((n_zones, n_links + 1)),
            "link_age": xp.zeros(n_links + 1),
            "origin_queue": xp.zeros((n_zones, n_zones)),
            "origin_age": xp.zeros(n_zones),
            "demand_multiplier": xp.ones((n_zones, n_zones)),
            "demand_hour": np.asarray(-1),
            "clock_s": np.asarray(0.0),
            "next_route_s": np.asarray(self.route_interval_s),
            "last_dt_s": np.asarray(0.0),
            "acc_cell_flow": xp.zeros(self.cells.n_cells + 1),
            "acc_link_time_s": xp.zeros(n_links + 1),
            "acc_link_out": xp.zeros(n_links + 1),
            "acc_zone_arrivals": xp.zeros(n_zones),
        }
        st |= {k: xp.asarray(0.0) for k in tables.COUNTERS}
        if "detector_count" in self.STATE:
            n_det = self.n_detectors
            st |= {k: xp.zeros(n_det) for k, v in loops.STATE.items() if not v.host}
            st["detector_speed"] = xp.asarray(self._detector_table["free_speed"])
            st["detector_last_s"] = np.asarray(0.0)
            st["detector_next_s"] = np.asarray(self.detectors.interval_s)
        cost = self._travel_time(xp, st, self.signal_wait_in_routes)
        st["route_time_s"], sweeps = routing.shortest_times(xp, graph, cost, return_sweeps=True)
        st["route_sweeps"] = np.asarray(sweeps)
        st["route"] = self._next_links(xp, graph, cost, st["route_time_s"])
        return st

    def step(self, state: Mapping, forcing: Mapping, dt) -> dict:
        """Advance by one coupling step of ``dt`` seconds; returns a new state.

        Parameters
        ----------
        state : from :meth:`init` or a previous step (not modified).
        forcing : ``time_of_day_s`` [s] seconds since local midnight at the start of the
            step; optional ``demand_scale`` (>= 0, default 1) multiplies the OD matrix.
        dt : [s] coupling step, split into equal sub-steps of at most
            :attr:`dt_sub_max_s`.
        """
        dt = float(dt)
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt: must be > 0 [s], got {dt}")
        if "time_of_day_s" not in forcing:
            raise ValueError("forcing: missing 'time_of_day_s' (seconds since local midnight)")
        scale = float(forcing.get("demand_scale", 1.0))
        if not (math.isfinite(scale) and scale >= 0):
            raise ValueError(f"forcing: demand_scale must be >= 0, got {scale}")
        tod = float(forcing["time_of_day_s"])
        xp = gpu.array_namespace(state["vehicles"])
        static, _, link = self._device(xp)
        st = {k: v.copy() for k, v in state.items()}
        for k in tables.ACCUMULATORS:
            st[k][...] = 0.0
        n_sub = max(1, math.ceil(dt / self.cells.dt_max_s * (1 - 1e-12)))
        h = dt / n_sub
        clock = float(st["clock_s"])  # host values: no sync
        next_route = float(st["next_route_s"])
        factors = self.demand.factor((tod + h * (np.arange(n_sub) + 0.5)) % DAY_S) * scale
        constants, work = self._kernel(xp, h)
        row, serve, valid = link["approach_row"], link["serve"], link["serve_valid"]
        starts = clock + h * xp.arange(n_sub, dtype=xp.float64)
        greens = signals.green_fraction(xp, st, row, serve, valid, self.lost_time_s, starts, h)
        adaptive = int(st["signal_adaptive"]) > 0  # a host value
        poisson = self.demand_noise == "poisson"
        fused = None if adaptive else self._fused(xp)
        if fused is not None:  # runs of sub-steps between host events, one launch each
            fused.start(constants, greens, [float(f) * h for f in factors], poisson)
            done = 0  # sub-steps run so far
        else:
            uses = self._uses(xp, st)
            green = xp.ones(self.network.n_links + 1)
        if adaptive:
            fixed = (st["signal_mode"] == control.FIXED_TIME)[row]
            pieces = control.pieces(h, float(st["signal_min_green_floor_s"]))
            timing = control.timing_table(xp, st, self.lost_time_s)
        det = link.get("detectors")
        for k in range(n_sub):
            t = clock + k * h
            if fused is not None and (t >= next_route or (poisson and needs_draw(st, t))):
                fused.run(st, done, k)
                done = k
            if t >= next_route:
                self._update_routes(xp, st, fused)
                if fused is None:
                    uses = self._uses(xp, st)
                next_route += self.route_interval_s * math.floor(
                    (t - next_route) / self.route_interval_s + 1
                )
            if poisson:
                draw_hour(xp, st, self.demand, t, tod + (t - clock), scale, self.seed)
            if fused is not None:
                if det is not None and loops.latch_due(st, t + h):
                    fused.run(st, done, k + 1)
                    done = k + 1
                    loops.latch(xp, st, det, t + h, self.detectors.interval_s)
                continue
            new_trips = link["od_per_s"] * (float(factors[k]) * h)
            if poisson:
                new_trips = new_trips * st["demand_multiplier"]
            st["origin_queue"] += new_trips
            st["generated"] += new_trips.sum()
            g = greens[k]
            if adaptive:
                opened = control.advance(xp, st, timing, link["n_phases"], h, pieces)
                g = xp.where(fixed, g, signals.served_sum(opened, row, serve, valid) / h)
            green[link["approach"]] = g
            st["approach_green_s"] = _add_scaled(st["approach_green_s"], g, h)
            loading.substep(xp, static, constants, st, work, green, uses)
            if adaptive:  # stop-line detectors: vehicles discharged from each approach
                crossed = work["flow"][link["approach_last"]][link["entry_approach"]]
                control.measure(xp, st, crossed, link["entry_flat"], h)
            if det is not None:
                loops.accumulate(xp, st, det, work["inflow"], work["flow"], st["vehicles"], h)
                loops.latch(xp, st, det, t + h, self.detectors.interval_s)
        if fused is not None:
            fused.run(st, done, n_sub)
        st["free_flow_time_s"] += (st["acc_cell_flow"] * static.cell_free_time).sum()
        st["clock_s"] = np.asarray(clock + dt)
        st["next_route_s"] = np.asarray(next_route)
        st["last_dt_s"] = np.asarray(dt)
        return st

    def outputs(self, state: Mapping) -> dict:
        """Per link ``density``, ``flow``, ``speed``, ``queue_length``, ``travel_time``;
        per signal ``signal_phase``, ``signal_interval``, ``signal_phase_time``; per
        detector ``detector_count``, ``detector_occupancy``, ``detector_speed``,
        ``detector_queue_length`` (those in :attr:`OUTPUTS`).

        ``density`` [veh m-1, all lanes] and ``queue_length`` [m] are at the end of the
        last step; ``flow`` [veh s-1 leaving the link] and ``speed`` [m s-1, Edie's
        space-mean speed: distance driven / time spent] are averages over it (free
        speed where the link was empty). ``queue_length`` runs from the downstream end
        over the contiguous cells above critical density. ``travel_time`` [s] is the
        instantaneous estimate also used for routing: free-flow time plus the mean
        signal wait, or the time to discharge the vehicles on the link at its
        (green-reduced) capacity if that is longer. Signals: what :meth:`signal_display`
        says. Detectors: the last complete aggregation interval
        (:mod:`sim.traffic.detectors`); the queue length of their link now.
        """
        xp = gpu.array_namespace(state["vehicles"])
        static, _, link = self._device(xp)
        n_links = self.network.n_links
        first, last = static.first[:-1], static.last[:-1]
        on_link = state["link_dest"][:, :-1].sum(axis=0)
        cell_len = link["cell_length"]
        driven = xp.cumsum(state["acc_cell_flow"] * cell_len)
        distance = driven[last] - driven[first] + (state["acc_cell_flow"] * cell_len)[first]
        time_s = state["acc_link_time_s"][:n_links]
        # a link that held less than a millionth of a vehicle-second counts as empty; the
        # bound is needed because distance counts cell outflows and time counts vehicles
        # at sub-step ends, which differ by a sub-step at the edges of a coupling step
        speed = xp.where(time_s > 1e-6, distance / xp.maximum(time_s, 1e-6), link["free_speed"])
        speed = xp.minimum(speed, link["free_speed"])
        dt = float(state["last_dt_s"])
        flow = state["acc_link_out"][:n_links] / dt if dt > 0 else xp.zeros(n_links)
        queue = loading.queue_length(
            xp, state, static, link["cell_link"], cell_len[:-1], link["cell_critical"]
        )
        out = {
            "density": on_link / link["length"],
            "flow": flow,
            "speed": speed,
            "queue_length": queue,
            "travel_time": self._travel_time(xp, state)[:n_links],
        }
        if "signal_phase" in self.OUTPUTS:
            shown = self.signal_display(state)
            out |= {f"signal_{k}": shown[k] for k in ("phase", "interval")}
            out["signal_phase_time"] = shown["phase_time_s"]
        if "detector_count" in self.OUTPUTS:
            out |= {k: state[k] for k in ("detector_count", "detector_occupancy", "detector_speed")}
            out["detector_queue_length"] = queue[link["detectors"]["link"]]
        return out

    def counters(self, state: Mapping) -> dict:
        """Cumulative network counters since :meth:`init` (host values).

        Returns
        -------
        dict with floats ``entered``, ``exited`` (completed trips), ``in_network``,
        ``waiting`` (at origins) and ``generated`` [veh]; ``vehicle_time_s`` (on links),
        ``waiting_time_s`` (at origins), ``delay_s`` (both minus the free-flow time of
        the distance driven), ``trip_time_s`` (summed trip times of completed trips,
        origin wait included) [veh s]; and ``zone_arrivals``, a (zone,) NumPy array of
        vehicles that reached each zone during the last step [veh].

        Trip times come from vehicle ages carried with the vehicles; vehicles passing a
        node in one sub-step share their mean age, so a single trip's time is
        approximate, while ``trip_time_s`` equals ``vehicle_time_s + waiting_time_s``
        exactly once the network is empty. KPIs: vehicle-hours travelled =
        ``vehicle_time_s / 3600``, mean trip time = ``trip_time_s / exited``.
        """
        out = {k: float(state[k]) for k in tables.COUNTERS}
        out["in_network"] = float(state["link_dest"].sum())
        out["waiting"] = float(state["origin_queue"].sum())
        out["delay_s"] = out["vehicle_time_s"] + out["waiting_time_s"] - out["free_flow_time_s"]
        del out["free_flow_time_s"]
        out["zone_arrivals"] = gpu.to_host(state["acc_zone_arrivals"]).copy()
        return out

    def zone_arrivals(self, state: Mapping):
        """(zone,) vehicles that reached each zone during the last step [veh], on the
        state's backend (no host copy, unlike :meth:`counters`)."""
        return state["acc_zone_arrivals"]

    # --------------------------------------------------------------- internals
    def _travel_time(self, xp, st, signal_wait: bool = True):
        """(link + 1,) instantaneous link travel time [s], dummy entry 0.

        Signals count with their fixed-time plan, also under adaptive control (the plan
        is the expected split there)."""
        _, _, link = self._device(xp)
        n_links = self.network.n_links
        green = xp.ones(n_links)
        eff, cycle = signals.effective_green(st, self.lost_time_s, xp)
        row = link["approach_row"]
        served = signals.served_sum(eff, row, link["serve"], link["serve_valid"])
        green[link["approach"]] = served / cycle[row]
        on_link = st["link_dest"][:, :-1].sum(axis=0)
        wait = xp.zeros(n_links)
        if signal_wait:
            wait[link["approach"]] = signals.signal_delay(served, cycle[row])
        times = xp.zeros(n_links + 1)
        times[:-1] = _link_time(on_link, link["capacity"], green, link["free_time"], wait)
        return times

    def _next_links(self, xp, graph, cost, times):
        if self.route_spread_s > 0:
            return routing.logit_next_links(
                xp, graph, cost, times, self.route_spread_s, self.route_band_s
            )
        return routing.best_next_links(xp, graph, cost, times)

    def _update_routes(self, xp, st, fused: FusedCtm | None = None) -> None:
        """New route fractions; on the ``fused`` kernel's path the shortest times take
        one launch and no host sync (``route_sweeps`` keeps its last array-code value)."""
        _, graph, _ = self._device(xp)
        cost = self._travel_time(xp, st, self.signal_wait_in_routes)
        if fused is not None:
            st["route_time_s"] = fused.shortest_times(cost, st["route_time_s"])
        else:
            st["route_time_s"], sweeps = routing.shortest_times(
                xp,
                graph,
                cost,
                start=st["route_time_s"],
                first_check=int(st["route_sweeps"]),  # a host value
                return_sweeps=True,
            )
            st["route_sweeps"] = np.asarray(sweeps)
        best = self._next_links(xp, graph, cost, st["route_time_s"])
        st["route"] = (1.0 - self.route_weight) * st["route"] + self.route_weight * best

    def _uses(self, xp, st):
        """(zone, k_out, node) 1.0 where routes send a zone's vehicles onto an out-slot."""
        static, _, _ = self._device(xp)
        return (st["route"][:, static.out_links] > 0).astype(xp.float64)
