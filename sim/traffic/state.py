"""The traffic model's state table (``TrafficModel.STATE``) and output names.

Every entry of the state dict, with its dims, dtype and units (:class:`sim.protocol.Var`).
Dims: ``cell_padded``/``link_padded`` include the dummy cell/link; ``origin_zone`` is
the origin of the origin queues (``zone`` their destination); ``signal`` the signalized
nodes in ascending order, ``phase`` the phases of the node with the most, ``approach``
the links ending at a signalized node; detector entries are in
:data:`sim.traffic.detectors.STATE`.
"""

from __future__ import annotations

from sim.protocol import Var
from sim.traffic import control

COUNTERS = (
    "entered",
    "exited",
    "generated",
    "trip_time_s",
    "vehicle_time_s",
    "waiting_time_s",
    "free_flow_time_s",
)
ACCUMULATORS = ("acc_cell_flow", "acc_link_time_s", "acc_link_out", "acc_zone_arrivals")
VEHICLE_S = "s"  # units of summed vehicle times [veh s]: vehicles are counted, not units
LINK_OUTPUTS = ("density", "flow", "speed", "queue_length", "travel_time")
SIGNAL_OUTPUTS = ("signal_phase", "signal_interval", "signal_phase_time")
DETECTOR_OUTPUTS = (
    "detector_count",
    "detector_occupancy",
    "detector_speed",
    "detector_queue_length",
)

BASE_STATE: dict[str, Var] = {
    "signal_green_s": Var(("signal", "phase"), "float64", "s", "green time per phase"),
    "signal_amber_s": Var(("signal", "phase"), "float64", "s", "amber time per phase"),
    "signal_all_red_s": Var(("signal", "phase"), "float64", "s", "all-red time per phase"),
    "signal_offset_s": Var(("signal",), "float64", "s", "cycle offset"),
    **{k: Var(("signal",), d, u, n) for k, (d, u, n) in control.STATE_DOCS.items()},
    "signal_min_green_s": Var(("signal", "phase"), "float64", "s", "minimum green, adaptive"),
    "signal_max_green_s": Var(("signal", "phase"), "float64", "s", "maximum green, actuated"),
    "signal_adaptive": Var((), "int64", "1", "signals not under fixed-time control", host=True),
    "signal_min_green_floor_s": Var((), "float64", "s", "shortest minimum green", host=True),
    "approach_green_s": Var(("approach",), "float64", "s", "discharge time since init"),
    "vehicles": Var(("cell_padded",), "float64", "1", "vehicles in each cell"),
    "link_dest": Var(("zone", "link_padded"), "float64", "1", "vehicles per destination"),
    "link_age": Var(("link_padded",), "float64", VEHICLE_S, "summed age of link vehicles"),
    "origin_queue": Var(("zone", "origin_zone"), "float64", "1", "vehicles waiting to enter"),
    "origin_age": Var(("origin_zone",), "float64", VEHICLE_S, "summed age of waiting vehicles"),
    "demand_multiplier": Var(("zone", "origin_zone"), "float64", "1", "drawn / expected trips"),
    "demand_hour": Var((), "int64", "1", "hour of the run of the demand draw", host=True),
    "clock_s": Var((), "float64", "s", "model clock", host=True),
    "next_route_s": Var((), "float64", "s", "clock of the next route update", host=True),
    "last_dt_s": Var((), "float64", "s", "length of the last step", host=True),
    "acc_cell_flow": Var(("cell_padded",), "float64", "1", "cell outflow in the step", False),
    "acc_link_time_s": Var(("link_padded",), "float64", VEHICLE_S, "time on link", False),
    "acc_link_out": Var(("link_padded",), "float64", "1", "link outflow in the step", False),
    "acc_zone_arrivals": Var(("zone",), "float64", "1", "arrivals in the step", False),
    **{k: Var((), "float64", VEHICLE_S if k.endswith("_s") else "1", k) for k in COUNTERS},
    "route_time_s": Var(("zone", "node"), "float64", "s", "shortest time to each zone"),
    "route_sweeps": Var((), "int64", "1", "Bellman-Ford sweeps of the last update", host=True),
    "route": Var(("zone", "link_padded"), "float64", "1", "route fractions"),
}
