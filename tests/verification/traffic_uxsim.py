"""Build the same scenario in UXsim and in sim.traffic (shared by tests and bench/traffic.py).

UXsim (Seo et al.) is a mesoscopic simulator of Newell's car-following model, that is
an exact solution of the kinematic-wave model for platoons of ``deltan`` vehicles; it
is a test and benchmark dependency only.

Correspondences:

* Fundamental diagram. UXsim derives capacity from free speed ``u``, per-lane jam
  density ``kappa`` and one global reaction time ``tau``: ``w = 1/(tau kappa)``,
  ``Q = u w kappa/(u + w)`` per lane. The network's capacity fixes ``tau``; it must be
  the same on every link.
* Signals. UXsim advances a phase when its elapsed time exceeds the green, so a phase
  of ``g`` seconds lasts ``g + DELTAT``; asking for ``g - DELTAT`` gives ``g``.
  Approaches are grouped as in :func:`sim.traffic.signals.approach_phase`.
* Demand. ``adddemand`` per OD pair at the same constant rate over the same window.
* Routes. UXsim's dynamic user optimum with the same update interval and weight.

References
----------
Seo, T. (2023). UXsim: an open source macroscopic and microscopic traffic simulator in
Python - technical overview. arXiv:2309.17114. https://doi.org/10.48550/arXiv.2309.17114
"""

from __future__ import annotations

import time

import numpy as np

from sim.traffic import Demand, TrafficModel, flat_profile, signals
from sim.traffic.network import Network


def reaction_time(network: Network) -> float:
    """UXsim's global reaction time giving the network's capacities [s]."""
    tau = 1.0 / network.capacity - 1.0 / (network.free_speed * network.jam_density)
    if not np.allclose(tau, tau[0], rtol=1e-9):
        raise ValueError("UXsim needs one reaction time: capacities imply different values")
    return float(tau[0])


def uxsim_world(
    network: Network,
    zone_nodes: np.ndarray,
    od_veh_per_h: np.ndarray,
    *,
    demand_end_s: float,
    t_max_s: float,
    green_s: float,
    route_interval_s: float,
    route_weight: float,
    cpp: bool = False,
    seed: int = 0,
    deltan: int = 5,
):
    """A UXsim World equal to the network and demand (constant OD rate until ``demand_end_s``)."""
    from uxsim import World  # test/bench-only dependency

    tau = reaction_time(network)
    w = World(
        name="",
        deltan=deltan,
        reaction_time=tau,
        tmax=t_max_s,
        duo_update_time=route_interval_s,
        duo_update_weight=route_weight,
        print_mode=0,
        save_mode=0,
        show_mode=0,
        random_seed=seed,
        cpp=cpp,
    )
    delta_t = deltan * tau
    phase = signals.approach_phase(network)
    for i in range(network.n_nodes):
        signal = [green_s - delta_t] * 2 if network.signalized[i] else [0]
        w.addNode(f"n{i}", float(network.node_x[i]), float(network.node_y[i]), signal=signal)
    for j in range(network.n_links):
        w.addLink(
            f"l{j}",
            f"n{network.from_node[j]}",
            f"n{network.to_node[j]}",
            length=float(network.length[j]),
            free_flow_speed=float(network.free_speed[j]),
            jam_density_per_lane=float(network.jam_density[j]),
            number_of_lanes=int(network.lanes[j]),
            signal_group=int(phase[j]),
        )
    for o, d in np.argwhere(od_veh_per_h > 0):
        w.adddemand(
            f"n{zone_nodes[o]}", f"n{zone_nodes[d]}", 0, demand_end_s, od_veh_per_h[o, d] / 3600.0
        )
    return w


def run_uxsim(network, zone_nodes, od_veh_per_h, **kwargs) -> dict:
    """Run UXsim; wall time [s], completed trips and their total travel time [veh s]."""
    world = uxsim_world(network, zone_nodes, od_veh_per_h, **kwargs)
    start = time.perf_counter()
    world.exec_simulation()
    wall = time.perf_counter() - start
    world.analyzer.basic_analysis()
    return {
        "wall_s": wall,
        "trips": float(world.analyzer.trip_all),
        "completed": float(world.analyzer.trip_completed),
        "total_travel_time_s": float(world.analyzer.total_travel_time),
    }


def uxsim_like_model(
    network: Network, zone_nodes, od_veh_per_h, route_spread_s: float = 0.0
) -> TrafficModel:
    """Our model set up as UXsim sees the scenario: flat demand, 30/30 s signals with no
    lost time, and routes that react to queues only (no anticipated signal waits);
    ``route_spread_s`` [s] > 0 spreads the next-link choice (logit)."""
    return TrafficModel(
        network,
        Demand(zone_nodes, od_veh_per_h, flat_profile),
        dt_max_s=5.0,
        route_interval_s=300.0,
        route_weight=0.5,
        green_s=30.0,
        amber_s=0.0,
        all_red_s=0.0,
        lost_time_s=0.0,
        signal_wait_in_routes=False,
        route_spread_s=route_spread_s,
    )
