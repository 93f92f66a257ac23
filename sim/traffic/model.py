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
are recomputed from current link travel times (see :mod:`sim.traffic.routing`).

State. A flat dict of ``xp`` arrays (0-d arrays for scalars), so the runner can copy
it to the host and back bit for bit (:func:`state_to_arrays`,
:func:`state_from_arrays`). Arrays carry one dummy cell and one dummy link at the end;
treat the state as opaque and read it through :meth:`TrafficModel.outputs` and
:meth:`TrafficModel.counters`.

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
from collections.abc import Mapping

import numpy as np

import gpu
from sim import variables
from sim.protocol import Var
from sim.traffic import loading, routing, signals
from sim.traffic.demand import DAY_S, Demand
from sim.traffic.network import Network, format_indices

_COUNTERS = (
    "entered",
    "exited",
    "generated",
    "trip_time_s",
    "vehicle_time_s",
    "waiting_time_s",
    "free_flow_time_s",
)
_ACCUMULATORS = ("acc_cell_flow", "acc_link_time_s", "acc_link_out", "acc_zone_arrivals")
_VEHICLE_S = "s"  # units of summed vehicle times [veh s]: vehicles are counted, not units

# dims: ``cell_padded``/``link_padded`` include the dummy cell/link; ``origin_zone`` is the
# origin of the origin queues (``zone`` their destination)
_STATE: dict[str, Var] = {
    "signal_green_s": Var(("signal", "phase"), "float64", "s", "green time per phase"),
    "signal_amber_s": Var(("signal", "phase"), "float64", "s", "amber time per phase"),
    "signal_all_red_s": Var(("signal", "phase"), "float64", "s", "all-red time per phase"),
    "signal_offset_s": Var(("signal",), "float64", "s", "cycle offset"),
    "vehicles": Var(("cell_padded",), "float64", "1", "vehicles in each cell"),
    "link_dest": Var(("zone", "link_padded"), "float64", "1", "vehicles per destination"),
    "link_age": Var(("link_padded",), "float64", _VEHICLE_S, "summed age of link vehicles"),
    "origin_queue": Var(("zone", "origin_zone"), "float64", "1", "vehicles waiting to enter"),
    "origin_age": Var(("origin_zone",), "float64", _VEHICLE_S, "summed age of waiting vehicles"),
    "clock_s": Var((), "float64", "s", "model clock", host=True),
    "next_route_s": Var((), "float64", "s", "clock of the next route update", host=True),
    "last_dt_s": Var((), "float64", "s", "length of the last step", host=True),
    "acc_cell_flow": Var(("cell_padded",), "float64", "1", "cell outflow in the step", False),
    "acc_link_time_s": Var(("link_padded",), "float64", _VEHICLE_S, "time on link", False),
    "acc_link_out": Var(("link_padded",), "float64", "1", "link outflow in the step", False),
    "acc_zone_arrivals": Var(("zone",), "float64", "1", "arrivals in the step", False),
    **{k: Var((), "float64", _VEHICLE_S if k.endswith("_s") else "1", k) for k in _COUNTERS},
    "route_time_s": Var(("zone", "node"), "float64", "s", "shortest time to each zone"),
    "route_sweeps": Var((), "int64", "1", "Bellman-Ford sweeps of the last update", host=True),
    "route": Var(("zone", "link_padded"), "float64", "1", "route fractions"),
}


class TrafficModel:
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
        shortest paths at each recomputation.
    green_s, amber_s, all_red_s : [s] default fixed-time plan, per phase (scalar or
        pair, broadcast to every signalized node, or (signal, 2) arrays).
    offset_s : [s] cycle offset (scalar or per signalized node).
    lost_time_s : [s] lost time per phase (effective green = phase time - lost time).
    signal_wait_in_routes : whether route costs include the mean wait at each signal
        (Webster's uniform delay) on top of the instantaneous travel time; False makes
        routes react to queues only, like UXsim's dynamic user optimum.
    """

    OUTPUTS = variables.outputs_for("density", "flow", "speed", "queue_length", "travel_time")
    STATE = _STATE

    def __init__(
        self,
        network: Network,
        demand: Demand,
        *,
        dt_max_s: float = 5.0,
        route_interval_s: float = 300.0,
        route_weight: float = 0.5,
        green_s=26.0,
        amber_s=3.0,
        all_red_s=1.0,
        offset_s=0.0,
        lost_time_s: float = 4.0,
        signal_wait_in_routes: bool = True,
    ):
        for name, value in (("dt_max_s", dt_max_s), ("route_interval_s", route_interval_s)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be > 0 [s], got {value}")
        if not (0 < route_weight <= 1):
            raise ValueError(f"route_weight: must be in (0, 1], got {route_weight}")
        if not (math.isfinite(lost_time_s) and lost_time_s >= 0):
            raise ValueError(f"lost_time_s: must be >= 0 [s], got {lost_time_s}")
        bad = np.flatnonzero(demand.zone_nodes >= network.n_nodes)
        if bad.size:
            raise ValueError(
                f"zone {format_indices(bad)}: zone_nodes={demand.zone_nodes[bad[0]]} is not a "
                f"node of the network (0..{network.n_nodes - 1})"
            )
        self.network, self.demand = network, demand
        self.route_interval_s, self.route_weight = float(route_interval_s), float(route_weight)
        self.lost_time_s = float(lost_time_s)
        self.signal_wait_in_routes = bool(signal_wait_in_routes)
        self.cells = loading.cut_cells(network, dt_max_s)
        self.signal_nodes = np.flatnonzero(network.signalized)
        self.default_plan = signals.plan_arrays(
            self.signal_nodes.size, green_s, amber_s, all_red_s, offset_s
        )
        signal_row = np.full(network.n_nodes, -1)
        signal_row[self.signal_nodes] = np.arange(self.signal_nodes.size)
        self._signal_row = signal_row
        self.approach_links = np.flatnonzero(network.signalized[network.to_node])
        self.approach_row = signal_row[network.to_node[self.approach_links]]
        self.approach_phase = signals.approach_phase(network)[self.approach_links]
        self._dev: dict[str, tuple] = {}
        self._check_reachable()

    # ------------------------------------------------------------------ setup
    @property
    def dt_sub_max_s(self) -> float:
        """Longest stable internal sub-step [s]."""
        return self.cells.dt_max_s

    def _device(self, xp):
        """Static arrays on backend ``xp`` (built once per backend)."""
        key = xp.__name__
        if key not in self._dev:
            net = self.network
            static = loading.build_static(xp, net, self.cells, self.demand.zone_nodes)
            graph = routing.RouteGraph(
                out_links=static.out_links, to_node=static.to_node, dest_nodes=static.zone_nodes
            )
            link = {
                "length": xp.asarray(net.length),
                "free_time": xp.asarray(net.free_flow_time),
                "capacity": xp.asarray(net.link_capacity),
                "free_speed": xp.asarray(net.free_speed),
                "approach": xp.asarray(self.approach_links),
                "approach_row": xp.asarray(self.approach_row),
                "approach_phase": xp.asarray(self.approach_phase),
                # destination-major, like the origin queues
                "od_per_s": xp.asarray(np.ascontiguousarray(self.demand.od_veh_per_h.T) / 3600.0),
                "cell_length": xp.asarray(self.cells.length),
                "cell_link": xp.asarray(self.cells.link),
                "cell_critical": xp.asarray(
                    net.critical_density[self.cells.link] * self.cells.length[:-1]
                ),
            }
            work = loading.workspace(xp, self.cells.n_cells, net.n_links, self.demand.n_zones)
            self._dev[key] = (static, graph, link, work, {})
        return self._dev[key][:3]

    def _kernel(self, xp, h_s: float):
        """Sub-step constants for length ``h_s`` and the scratch buffers (cached)."""
        static, _, _, work, by_h = self._dev[xp.__name__]
        if h_s not in by_h:
            by_h[h_s] = loading.step_constants(static, h_s)
        return by_h[h_s], work

    def _check_reachable(self) -> None:
        _, graph, _ = self._device(np)
        times = routing.shortest_times(np, graph, np.append(self.network.free_flow_time, 0.0))
        origin_times = times[:, self.demand.zone_nodes].T  # (origin, destination)
        bad = np.argwhere((self.demand.od_veh_per_h > 0) & ~np.isfinite(origin_times))
        if bad.size:
            o, d = bad[0]
            raise ValueError(
                f"demand: destination zone {d} (node {self.demand.zone_nodes[d]}) cannot be "
                f"reached from origin zone {o} (node {self.demand.zone_nodes[o]}) but the OD "
                f"matrix asks for {self.demand.od_veh_per_h[o, d]} veh/h "
                f"({len(bad)} such pair(s))"
            )

    # --------------------------------------------------------------- protocol
    def init(self, inputs: Mapping | None = None, xp=np) -> dict:
        """Empty network at rest, default signal plans, free-flow routes.

        Parameters
        ----------
        inputs : optional overrides of the signal plan, keys among ``signal_green_s``,
            ``signal_amber_s``, ``signal_all_red_s`` ((signal, 2) [s]) and
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
        plan = signals.plan_arrays(self.signal_nodes.size, *(plan[k] for k in signals.PLAN_KEYS))
        _, graph, _ = self._device(xp)
        n_links, n_zones = self.network.n_links, self.demand.n_zones
        st = {k: xp.asarray(v) for k, v in plan.items()}
        st |= {
            "vehicles": xp.zeros(self.cells.n_cells + 1),
            "link_dest": xp.zeros((n_zones, n_links + 1)),
            "link_age": xp.zeros(n_links + 1),
            "origin_queue": xp.zeros((n_zones, n_zones)),
            "origin_age": xp.zeros(n_zones),
            "clock_s": np.asarray(0.0),
            "next_route_s": np.asarray(self.route_interval_s),
            "last_dt_s": np.asarray(0.0),
            "acc_cell_flow": xp.zeros(self.cells.n_cells + 1),
            "acc_link_time_s": xp.zeros(n_links + 1),
            "acc_link_out": xp.zeros(n_links + 1),
            "acc_zone_arrivals": xp.zeros(n_zones),
        }
        st |= {k: xp.asarray(0.0) for k in _COUNTERS}
        cost = self._travel_time(xp, st, self.signal_wait_in_routes)
        st["route_time_s"], sweeps = routing.shortest_times(xp, graph, cost, return_sweeps=True)
        st["route_sweeps"] = np.asarray(sweeps)
        st["route"] = routing.best_next_links(xp, graph, cost, st["route_time_s"])
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
        for k in _ACCUMULATORS:
            st[k][...] = 0.0
        n_sub = max(1, math.ceil(dt / self.cells.dt_max_s * (1 - 1e-12)))
        h = dt / n_sub
        clock = float(st["clock_s"])  # host values: no sync
        next_route = float(st["next_route_s"])
        factors = self.demand.factor((tod + h * (np.arange(n_sub) + 0.5)) % DAY_S) * scale
        uses = self._uses(xp, st)
        constants, work = self._kernel(xp, h)
        green = xp.ones(self.network.n_links + 1)
        greens = signals.green_fraction(
            xp,
            st,
            link["approach_row"],
            link["approach_phase"],
            self.lost_time_s,
            clock + h * xp.arange(n_sub, dtype=xp.float64),
            h,
        )
        for k in range(n_sub):
            t = clock + k * h
            if t >= next_route:
                self._update_routes(xp, st)
                uses = self._uses(xp, st)
                next_route += self.route_interval_s * math.floor(
                    (t - next_route) / self.route_interval_s + 1
                )
            new_trips = link["od_per_s"] * (float(factors[k]) * h)
            st["origin_queue"] += new_trips
            st["generated"] += new_trips.sum()
            green[link["approach"]] = greens[k]
            loading.substep(xp, static, constants, st, work, green, uses)
        st["free_flow_time_s"] += (st["acc_cell_flow"] * static.cell_free_time).sum()
        st["clock_s"] = np.asarray(clock + dt)
        st["next_route_s"] = np.asarray(next_route)
        st["last_dt_s"] = np.asarray(dt)
        return st

    def outputs(self, state: Mapping) -> dict:
        """Per-link ``density``, ``flow``, ``speed``, ``queue_length``, ``travel_time``.

        ``density`` [veh m-1, all lanes] and ``queue_length`` [m] are at the end of the
        last step; ``flow`` [veh s-1 leaving the link] and ``speed`` [m s-1, Edie's
        space-mean speed: distance driven / time spent] are averages over it (free
        speed where the link was empty). ``queue_length`` runs from the downstream end
        over the contiguous cells above critical density. ``travel_time`` [s] is the
        instantaneous estimate also used for routing: free-flow time plus the mean
        signal wait, or the time to discharge the vehicles on the link at its
        (green-reduced) capacity if that is longer.
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
        return {
            "density": on_link / link["length"],
            "flow": flow,
            "speed": speed,
            "queue_length": self._queue_length(xp, state, static, link),
            "travel_time": self._travel_time(xp, state)[:n_links],
        }

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
        out = {k: float(state[k]) for k in _COUNTERS}
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

    # ---------------------------------------------------------------- signals
    def set_signal_plan(
        self,
        state: Mapping,
        node,
        *,
        green_s,
        amber_s=None,
        all_red_s=None,
        offset_s=None,
        cycle_s=None,
    ) -> dict:
        """A new state with the plan of signalized ``node`` (int or array) replaced.

        Parameters
        ----------
        node : signalized node index or indices.
        green_s : [s] green per phase (scalar for both, or a pair).
        amber_s, offset_s : [s] kept from the current plan when None.
        all_red_s : [s] kept when None, unless ``cycle_s`` is given.
        cycle_s : [s] if given, all-red time is set (equally on both phases) so the cycle
            has this length; it must be at least green + amber of both phases.
        """
        nodes = np.atleast_1d(np.asarray(node))
        if nodes.dtype.kind not in "iu":
            raise ValueError(f"node: expected node indices, got {nodes.dtype}")
        outside = (nodes < 0) | (nodes >= self.network.n_nodes)
        if outside.any():
            raise ValueError(
                f"node {nodes[outside][0]}: not a node index (0..{self.network.n_nodes - 1})"
            )
        rows = self._signal_row[nodes]
        if np.any(rows < 0):
            raise ValueError(f"node {nodes[rows < 0][0]}: is not signalized")
        xp = gpu.array_namespace(state["vehicles"])
        cur = {k: gpu.to_host(state[k])[rows] for k in signals.PLAN_KEYS}
        green = np.broadcast_to(np.asarray(green_s, dtype=np.float64), (rows.size, 2))
        amber = cur["signal_amber_s"] if amber_s is None else amber_s
        amber = np.broadcast_to(np.asarray(amber, dtype=np.float64), (rows.size, 2))
        if cycle_s is not None:
            spare = np.asarray(cycle_s, dtype=np.float64) - (green + amber).sum(axis=1)
            if np.any(spare < 0):
                raise ValueError(
                    f"cycle_s: {cycle_s} s is shorter than green + amber of both phases"
                )
            all_red = np.repeat((spare / 2)[:, None], 2, axis=1)
        else:
            all_red = cur["signal_all_red_s"] if all_red_s is None else all_red_s
        offset = cur["signal_offset_s"] if offset_s is None else offset_s
        plan = signals.plan_arrays(rows.size, green, amber, all_red, offset)
        new = dict(state)
        for k in signals.PLAN_KEYS:
            new[k] = state[k].copy()
            new[k][xp.asarray(rows)] = xp.asarray(plan[k])
        return new

    # --------------------------------------------------------------- internals
    def _signal_cost(self, xp, st):
        """(link + 1,) mean signal wait on each approach [s] (Webster's uniform delay)."""
        _, _, link = self._device(xp)
        wait = xp.zeros(self.network.n_links + 1)
        delay = signals.signal_delay(st, self.lost_time_s, xp)
        wait[link["approach"]] = delay[link["approach_row"], link["approach_phase"]]
        return wait

    def _travel_time(self, xp, st, signal_wait: bool = True):
        """(link + 1,) instantaneous link travel time [s], dummy entry 0."""
        _, _, link = self._device(xp)
        n_links = self.network.n_links
        green = xp.ones(n_links)
        eff, cycle = signals.effective_green(st, self.lost_time_s, xp)
        green[link["approach"]] = (
            eff[link["approach_row"], link["approach_phase"]] / cycle[link["approach_row"]]
        )
        on_link = st["link_dest"][:, :-1].sum(axis=0)
        discharge = on_link / xp.maximum(link["capacity"] * green, 1e-300)
        free = link["free_time"]
        if signal_wait:
            free = free + self._signal_cost(xp, st)[:n_links]
        return xp.concatenate([xp.maximum(free, discharge), xp.zeros(1)])

    def _update_routes(self, xp, st) -> None:
        _, graph, _ = self._device(xp)
        cost = self._travel_time(xp, st, self.signal_wait_in_routes)
        st["route_time_s"], sweeps = routing.shortest_times(
            xp,
            graph,
            cost,
            start=st["route_time_s"],
            first_check=int(st["route_sweeps"]),  # a host value
            return_sweeps=True,
        )
        st["route_sweeps"] = np.asarray(sweeps)
        best = routing.best_next_links(xp, graph, cost, st["route_time_s"])
        st["route"] = (1.0 - self.route_weight) * st["route"] + self.route_weight * best

    def _uses(self, xp, st):
        """(zone, k_out, node) 1.0 where routes send a zone's vehicles onto an out-slot."""
        static, _, _ = self._device(xp)
        return (st["route"][:, static.out_links] > 0).astype(xp.float64)

    def _queue_length(self, xp, st, static, link):
        """(link,) [m] contiguous length above critical density from the downstream end."""
        n = st["vehicles"][:-1]
        cell_link = link["cell_link"]
        cell_len = link["cell_length"][:-1]
        critical = link["cell_critical"]
        free = (n <= critical * (1 + 1e-9)).astype(xp.int64)
        # cells of a link from c to its end are all congested iff no free cell lies there
        free_after = xp.cumsum(free[::-1])[::-1]  # free cells in [c, end of the network)
        last = static.last[:-1]
        tail = xp.concatenate([free_after[1:], xp.zeros(1, dtype=xp.int64)])
        free_to_link_end = free_after - tail[last][cell_link]
        queued = (free_to_link_end == 0).astype(xp.float64) * cell_len
        total = xp.cumsum(queued)
        first = static.first[:-1]
        return total[last] - total[first] + queued[first]
