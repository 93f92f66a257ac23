"""Cross-check against UXsim (a mesoscopic kinematic-wave simulator) on identical networks.

Both models get the same lattice, fundamental diagram, signals, OD demand and
reactive route choice (see ``traffic_uxsim.py``); they differ in how they discretise
(UXsim moves platoons of 5 vehicles with Newell's car-following model, we move
continuous densities between cells) and in their node models. The OD matrix is
rounded to whole platoons per pair so that both load the same number of trips.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.traffic.synthetic import grid_network, random_od
from tests.helpers import assert_close
from tests.verification.traffic_uxsim import run_uxsim, uxsim_like_model

pytest.importorskip("uxsim")

DEMAND_END_S, T_MAX_S = 2400.0, 7200.0


def scenario(signalized: bool, total_veh_per_h: float):
    rng = np.random.default_rng(3)
    net = grid_network(8, 8, spacing_m=500.0, lanes=2, signalized=signalized)
    zones = rng.choice(net.n_nodes, 8, replace=False)
    trips = np.maximum(np.round(random_od(8, total_veh_per_h, rng) * DEMAND_END_S / 3600 / 5), 1)
    np.fill_diagonal(trips, 0)
    # a hair above whole platoons, so UXsim's accumulator reaches each last one
    od = (trips * 5 + 0.01) * 3600 / DEMAND_END_S * (trips > 0)
    return net, zones, od


def ours(net, zones, od):
    model = uxsim_like_model(net, zones, od)
    state = model.init({}, np)
    for k in range(int(T_MAX_S / 60)):
        scale = 1.0 if k * 60 < DEMAND_END_S else 0.0
        state = model.step(state, {"time_of_day_s": 60.0 * k, "demand_scale": scale}, 60.0)
    return model.counters(state)


@pytest.mark.parametrize(
    "signalized, total", [(True, 4000.0), (False, 12000.0)], ids=["signals", "no-signals"]
)
def test_total_travel_time_and_completed_trips_agree_with_uxsim(signalized, total):
    net, zones, od = scenario(signalized, total)
    ux = run_uxsim(
        net,
        zones,
        od,
        demand_end_s=DEMAND_END_S,
        t_max_s=T_MAX_S,
        green_s=30.0,
        route_interval_s=300.0,
        route_weight=0.5,
    )
    c = ours(net, zones, od)
    assert ux["completed"] == ux["trips"]  # everybody arrived in UXsim too
    # same trips (to the 0.01 veh/h added per pair), all completed
    assert_close(c["exited"], ux["completed"], rtol=1e-3)
    # different discretisations and node models, and UXsim's randomised platoon order
    # (its Python and C++ engines differ by 2 % here): 5 % on the total travel time
    # (measured -2.2 % with signals, -0.8 % without; UXsim's own suite allows 10 %)
    assert_close(c["trip_time_s"], ux["total_travel_time_s"], rtol=0.05)
