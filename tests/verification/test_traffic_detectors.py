"""Loop detectors against the steady free-flow state they measure: q, k and v_f known.

On a link in free flow at flow q the density is k = q / v_f everywhere (triangular
diagram), so a detector must count q T vehicles in an interval T, see the free speed,
and be occupied a share k_lane L_eff of the time (Hall & Persaud 1989); the queue is 0.
Then the same corridor with a bottleneck: a queue reaching the detector.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.traffic import Demand, Detectors, TrafficModel, flat_profile
from tests.helpers import assert_close
from tests.verification.test_traffic_kinematic_wave import corridor, one_way_demand, run

Q, VF, LANES, L_EFF = 0.2, 20.0, 2, 6.5


@pytest.mark.parametrize("interval_s, setback_m", [(60.0, 50.0), (300.0, 730.0), (90.0, 0.0)])
@pytest.mark.parametrize("length_m, speed", [(1000.0, VF), (1234.0, 13.0)])
def test_free_flow_counts_speed_and_occupancy(interval_s, setback_m, length_m, speed):
    # 1000 m at 20 m/s: Courant number 1; 1234 m at 13 m/s: cells longer than v dt
    net = corridor([length_m], [LANES], free_speed=speed)
    det = Detectors(
        [0, 0], [setback_m, length_m / 2], interval_s=interval_s, effective_length_m=L_EFF
    )
    model = TrafficModel(net, one_way_demand(net, Q * 3600), dt_max_s=5.0, detectors=det)
    state = run(model, 1200.0, step_s=60.0)  # the wave front crossed the link long ago
    out = model.outputs(state)
    # counts: q T to round-off (the issue asks for one vehicle)
    assert_close(out["detector_count"], Q * interval_s, rtol=1e-9)
    assert_close(out["detector_speed"], speed, rtol=1e-9)
    k_lane = Q / speed / LANES
    assert_close(out["detector_occupancy"], k_lane * L_EFF, rtol=1e-9)
    assert np.all(out["detector_queue_length"] == 0.0)


def test_interval_counts_add_up_to_the_link_outflow():
    # a detector at the stop line (setback 0) counts what leaves the link: over whole
    # intervals the sum of its counts is the link's discharge, here under a pulse of
    # demand with rising and falling flow
    net = corridor([1000.0], [2])
    pulse = one_way_demand(net, 1500.0, lambda t: np.clip(np.sin(np.pi * t / 1800.0), 0, 1))
    det = Detectors([0], [0.0], interval_s=120.0)
    model = TrafficModel(net, pulse, dt_max_s=5.0, detectors=det)
    state, counted, left = model.init({}, np), 0.0, 0.0
    for k in range(30):
        state = model.step(state, {"time_of_day_s": 120.0 * k}, 120.0)
        counted += float(model.outputs(state)["detector_count"][0])
        left += float(model.outputs(state)["flow"][0]) * 120.0
    assert_close(counted, left, rtol=1e-9)  # the same face flows summed: round-off
    assert_close(counted, model.counters(state)["exited"], rtol=1e-9)


def test_queue_reaches_a_detector_upstream_of_a_bottleneck():
    # two lanes drop to one (see test_traffic_kinematic_wave.TestBottleneck): the queue
    # grows upstream of the drop, a detector 300 m upstream of it sees jam-side density
    # (occupancy near k_B L_eff per lane) and low speed once the queue passes it
    net = corridor([3000.0, 1000.0], [2, 1], free_speed=20.0, capacity=0.5)
    det = Detectors([0, 0], [300.0, 2900.0], interval_s=60.0, effective_length_m=L_EFF)
    demand = Demand([0, 2], [[0.0, 0.8 * 3600], [0.0, 0.0]], flat_profile)
    model = TrafficModel(net, demand, dt_max_s=5.0, detectors=det)
    state = run(model, 900.0, step_s=60.0)
    out = model.outputs(state)
    near, far = 0, 1
    assert out["detector_queue_length"][near] > 300.0  # link 0's queue, from its end
    w = 0.5 / (0.15 - 0.5 / 20.0)
    k_b = 2 * 0.15 - 0.5 / w  # queue state behind the drop [veh/m, two lanes]
    # occupancy of the queued cell: k_B / 2 lanes * L_eff; the queue's front cell holds
    # the transition to the discharge, so 10 %
    assert_close(out["detector_occupancy"][near], k_b / 2 * L_EFF, rtol=0.1)
    assert out["detector_speed"][near] < 0.2 * 20.0
    assert_close(out["detector_speed"][far], 20.0, rtol=1e-9)  # still free flow upstream
