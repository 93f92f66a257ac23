"""The traffic model's sub-step loop on a fused kernel (:func:`gpu.fused_ctm_substeps`).

:class:`sim.traffic.TrafficModel` takes this path where ``gpu`` offers fused sub-steps
for its arrays (CuPy; tests plug in the kernel's CPU build) and its signals are all
fixed-time (adaptive control decides per sub-step in array code). One kernel launch
runs every sub-step between two host events (a route update, an hourly demand draw, the
end of a detector interval); the kernel performs the operations of
:func:`sim.traffic.loading.substep` and of the model's sub-step loop in the same order
(see :mod:`gpu.kernels.ctm`). State arrays are updated in place: the step works on its
own copy of the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpu.kernels.ctm import scratch_shapes
from sim.traffic import routing

# the kernel's state arguments and the model's state entries
STATE_KEYS = {
    "vehicles": "vehicles", "link_dest": "link_dest", "link_age": "link_age",
    "queue": "origin_queue", "origin_age": "origin_age", "approach_green": "approach_green_s",
    "acc_cell_flow": "acc_cell_flow", "acc_link_time": "acc_link_time_s",
    "acc_link_out": "acc_link_out", "acc_zone_arrivals": "acc_zone_arrivals",
    "entered": "entered", "exited": "exited", "generated": "generated",
    "trip_time": "trip_time_s", "vehicle_time": "vehicle_time_s",
    "waiting_time": "waiting_time_s", "det_count": "detector_acc_count",
    "det_occ": "detector_acc_occupancy_s", "det_dist": "detector_acc_distance_m",
    "det_time": "detector_acc_time_s",
}  # fmt: skip
_DETECTOR_KEYS = ("det_count", "det_occ", "det_dist", "det_time")


class FusedCtm:
    """Device tables, scratch buffers and launches of the fused sub-steps of one model
    on one backend.

    Parameters
    ----------
    kernel : a :class:`gpu.kernels.ctm.CtmSubsteps`.
    model : the :class:`sim.traffic.TrafficModel`.
    xp : its array namespace.
    """

    def __init__(self, kernel: Any, model: Any, xp: Any):
        self.kernel, self.xp = kernel, xp
        static, _, link = model._device(xp)
        net, cells = model.network, model.cells
        n_cells, n_links, n_zones = cells.n_cells + 1, net.n_links + 1, model.demand.n_zones
        # which link a cell starts or ends, which approach a link is (-1: none), made
        # on the device (no upload when the first step builds this)
        first_of, last_of, approach = (xp.full(n, -1, dtype=xp.int64)
                                       for n in (n_cells, n_cells, n_links))  # fmt: skip
        first_of[static.first] = xp.arange(n_links, dtype=xp.int64)
        last_of[static.last] = xp.arange(n_links, dtype=xp.int64)
        approach[link["approach"]] = xp.arange(model.approach_links.size, dtype=xp.int64)
        det = link.get("detectors")
        none = xp.zeros(0)
        self.tables = {
            "od_per_s": link["od_per_s"],
            "first": static.first,
            "last": static.last,
            "cell_first_of": first_of,
            "cell_last_of": last_of,
            "node_sources": static.node_sources,
            "out_links": static.out_links,
            "from_node": static.from_node,
            "to_node": static.to_node,
            "zone_nodes": static.zone_nodes,
            "link_approach": approach,
            "exit_zone": static.exit_zone,
            "exit_link": static.exit_link,
            "jam": static.cell_jam,
            "det_cell": none.astype(xp.int64) if det is None else det["cell"],
            "det_frac": none if det is None else det["frac"],
            "det_occupancy": none if det is None else det["occupancy_per_veh"],
            "det_length": none if det is None else det["cell_length"],
        }
        self.detectors = det is not None
        self.none = none
        shapes = scratch_shapes(n_cells, n_links, n_zones, net.n_nodes)
        self.scratch = {k: xp.zeros(s) for k, s in shapes.items()}
        self.sizes = {
            "C": n_cells, "L": n_links, "Z": n_zones, "N": net.n_nodes,
            "KI": int(static.node_sources.shape[0]), "KO": int(static.out_links.shape[0]),
            "NA": int(model.approach_links.size), "NE": static.n_exits,
            "ND": int(det["cell"].shape[0]) if det is not None else 0,
        }  # fmt: skip
        self._params: dict[int, Any] = {}
        self._step: dict = {}
        _, graph, _ = model._device(xp)
        self.graph = graph
        self.routes = {
            "slot_to": graph.to_node[graph.out_links], "dest": graph.dest_nodes,
            "spare": xp.zeros((n_zones, net.n_nodes)), "flag": xp.zeros(1, dtype=xp.int32),
        }  # fmt: skip
        self.max_sweeps = 4 * net.n_nodes + 4  # routing.shortest_times' default bound

    def shortest_times(self, cost: Any, start: Any) -> Any:
        """:func:`sim.traffic.routing.shortest_times` from ``start`` (zone, node) for link
        costs ``cost`` [s], in one launch and without its host convergence test."""
        d = start.copy()
        arrays = self.routes | {"slot_cost": routing.slot_cost(self.xp, self.graph, cost), "d": d}
        self.kernel.route_sweeps(arrays, self.max_sweeps)
        return d

    def start(self, constants: Any, greens: Any, factors_h: Sequence[float], poisson: bool):
        """Set up a coupling step: sub-step constants, (sub-step, approach) green
        fractions and each sub-step's demand factor times its length [s]."""
        n = len(factors_h)
        if n not in self._params:
            self._params[n] = self.kernel.params(self.xp, n)
        fh = self._params[n]
        self.kernel.set_params(fh, [float(v) for v in factors_h])
        self._step = {
            "constants": constants, "greens": greens, "fh": fh, "poisson": bool(poisson),
        }  # fmt: skip

    def run(self, st: dict, k0: int, k1: int) -> None:
        """Sub-steps ``k0 .. k1 - 1`` of the step set up by :meth:`start`, in place on
        ``st`` (one launch; nothing where ``k1 <= k0``)."""
        if k1 <= k0:
            return
        c, s = self._step["constants"], self._step
        arrays = self.tables | self.scratch | {
            "speed": c.speed, "wave": c.wave, "capacity": c.capacity, "entry": c.entry,
            "multiplier": st["demand_multiplier"], "route": st["route"],
            "greens": s["greens"], "fh": s["fh"],
        }  # fmt: skip
        for arg, key in STATE_KEYS.items():
            arrays[arg] = self.none if arg in _DETECTOR_KEYS and not self.detectors else st[key]
        self.kernel(arrays, self.sizes, s["poisson"], c.h_s, k0, k1)
