"""Unit tests of sim.traffic: input validation, the runner protocol, signals, routes, resume."""

from __future__ import annotations

import numpy as np
import pytest

import gpu
from sim import variables
from sim.protocol import restore, sizes, snapshot
from sim.traffic import (
    Demand,
    Network,
    TrafficModel,
    daily_profile,
    flat_profile,
    gravity_od,
    nearest_nodes,
)
from sim.traffic.synthetic import grid_network, random_od
from tests.helpers import assert_close


def state_to_arrays(state):
    """Host copies of every state entry."""
    return {k: np.array(gpu.to_host(v)) for k, v in state.items()}


ROADS = dict(
    node_x=[0.0, 500.0, 1000.0],
    node_y=[0.0, 0.0, 0.0],
    signalized=[0, 1, 0],
    from_node=[0, 1, 1, 2],
    to_node=[1, 2, 0, 1],
    length=[500.0, 500.0, 500.0, 500.0],
    lanes=[2, 2, 1, 1],
    free_speed=[15.0, 15.0, 15.0, 15.0],
    capacity=[0.5, 0.5, 0.5, 0.5],
    jam_density=[0.15, 0.15, 0.15, 0.15],
)


def roads(**changes):
    return ROADS | changes


def small_model(**kwargs):
    net = grid_network(4, 4, spacing_m=400.0)
    rng = np.random.default_rng(0)
    zones = np.array([0, 3, 12, 15])
    return TrafficModel(net, Demand(zones, random_od(4, 2000.0, rng), flat_profile), **kwargs)


def advance(model, state, steps, start_s=0.0, dt=60.0):
    for k in range(steps):
        state = model.step(state, {"time_of_day_s": start_s + k * dt}, dt)
    return state


class TestNetworkValidation:
    def test_valid(self):
        net = Network.from_arrays(**ROADS)
        assert (net.n_nodes, net.n_links) == (3, 4)
        assert_close(net.link_capacity, [1.0, 1.0, 0.5, 0.5])
        assert_close(net.wave_speed, 0.5 / (0.15 - 0.5 / 15.0))

    @pytest.mark.parametrize(
        "changes, match",
        [
            ({"to_node": [1, 2, 0, 5]}, r"link 3: to_node is not a node index \(0..2\)"),
            ({"from_node": [-1, 1, 1, 2]}, r"link 0: from_node is not a node index"),
            ({"from_node": [0, 2, 1, 2]}, r"link 1: from_node equals to_node"),
            ({"length": [500.0, 0.0, 500.0, -1.0]}, r"link 1, 3: length must be > 0"),
            ({"capacity": [0.5, 0.5, 0.0, 0.5]}, r"link 2: capacity must be > 0"),
            ({"lanes": [2, 0, 1, 1]}, r"link 1: lanes must be > 0"),
            ({"free_speed": [15.0, np.nan, 15.0, 15.0]}, r"link free_speed: non-finite"),
            ({"capacity": [0.5, 3.0, 0.5, 0.5]}, r"link 1: capacity must be below free_speed"),
            ({"signalized": [0, 2, 0]}, r"node 1: signalized must be 0 or 1"),
            ({"node_y": [0.0, 0.0]}, r"node y: expected 3 values"),
            ({"length": [500.0] * 3}, r"link length: expected 4 values"),
            ({"to_node": [1, 2, 0, 1.5]}, r"link to_node: must be whole numbers; index 3"),
            (
                {"lanes": [2, 1.5, 1, 1]},
                r"link 1: lanes must be a whole number \(e.g. link 1 has 1.5\)",
            ),
            (
                {
                    k: []
                    for k in (
                        "from_node",
                        "to_node",
                        "length",
                        "lanes",
                        "free_speed",
                        "capacity",
                        "jam_density",
                    )
                },
                r"at least one link",
            ),
        ],
    )
    def test_bad_input_names_the_item(self, changes, match):
        with pytest.raises(ValueError, match=match):
            Network.from_arrays(**roads(**changes))

    def test_nearest_nodes(self):
        net = Network.from_arrays(**ROADS)
        assert list(nearest_nodes(net, [10.0, 990.0, 600.0], [5.0, -3.0, 100.0])) == [0, 2, 1]


class TestDemand:
    def test_profile_has_daily_mean_one_and_two_peaks(self):
        t = np.arange(0, 86400, 60.0)
        f = daily_profile(t)
        assert_close(f.mean(), 1.0, rtol=1e-3)  # 1-min sampling of the 6-s normaliser
        hours = t / 3600
        morning = hours[np.argmax(np.where(hours < 12, f, 0))]
        evening = hours[np.argmax(np.where(hours > 12, f, 0))]
        assert 7.5 <= morning <= 8.5 and 17.5 <= evening <= 18.5
        assert f.min() < 0.35 * f.max()
        assert_close(daily_profile(86400.0 + 3600.0), daily_profile(3600.0))

    def test_gravity_od(self):
        pop = np.array([100.0, 300.0, 200.0, 150.0])
        xy = np.array([[0, 0], [5000, 0], [0, 8000], [9000, 9000]], dtype=float)
        od = gravity_od(pop, xy, 24_000.0)
        assert_close(od.sum() * 24, 24_000.0)
        assert np.all(np.diag(od) == 0) and np.all(od >= 0)
        # doubly constrained: productions and attractions proportional to population
        assert_close(od.sum(axis=1) / od.sum(), pop / pop.sum(), rtol=1e-8)
        assert_close(od.sum(axis=0) / od.sum(), pop / pop.sum(), rtol=1e-8)
        # deterrence: zone 0 sends more to the near zone 1 than population alone says
        assert od[0, 1] / od[0, 3] > pop[1] / pop[3]

    @pytest.mark.parametrize(
        "args, match",
        [
            (([1.0], [[0, 0]], 10.0), "at least 2 zones"),
            (([1.0, 5.0], [[0, 0], [1, 1]], 10.0), r"zone 1: holds half or more"),
            (([1.0, 1.0, 1.0], [[0, 0], [1, 1]], 10.0), r"zone_xy_m: expected finite shape"),
            (([1.0, 1.0, 1.0], [[0, 0], [1, 1], [2, 2]], -5.0), "total_trips_per_day"),
        ],
    )
    def test_gravity_bad_input(self, args, match):
        with pytest.raises(ValueError, match=match):
            gravity_od(*args)

    @pytest.mark.parametrize(
        "zones, od, match",
        [
            ([0, 0], [[0, 1], [1, 0]], r"zone_nodes: node 0 is used by more than one zone"),
            ([0, -1], [[0, 1], [1, 0]], r"zone 1: zone_nodes must be node indices >= 0"),
            ([0, 1.5], [[0, 1], [1, 0]], "whole node indices"),
            ([0, 2], [[0, 1]], r"expected shape \(2, 2\)"),
            ([0, 2], [[0, -1], [1, 0]], r"entry \(origin 0, destination 1\) is negative"),
            ([0, 2], [[0, np.inf], [1, 0]], r"entry \(origin 0, destination 1\) is not finite"),
            ([0, 2], [[3, 1], [1, 0]], r"zone 0 has trips to itself"),
        ],
    )
    def test_bad_demand_names_the_zone(self, zones, od, match):
        with pytest.raises(ValueError, match=match):
            Demand(zones, od)

    def test_zone_outside_the_network(self):
        net = Network.from_arrays(**ROADS)
        with pytest.raises(ValueError, match=r"zone 1: zone_nodes=7 is not a node"):
            TrafficModel(net, Demand([0, 7], [[0, 10], [10, 0]]))

    def test_unreachable_destination_names_the_pair(self):
        # node 3 has a link out to node 0 but none in
        net = Network.from_arrays(
            **roads(
                node_x=[0.0, 500.0, 1000.0, -500.0],
                node_y=[0.0] * 4,
                signalized=[0, 1, 0, 0],
                to_node=[1, 2, 0, 0],
                from_node=[0, 1, 1, 3],
            )
        )
        with pytest.raises(ValueError, match=r"destination zone 1 \(node 3\) cannot be reached"):
            TrafficModel(net, Demand([0, 3], [[0, 10], [10, 0]]))
        # no demand for the pair: fine
        TrafficModel(net, Demand([0, 3], [[0, 0], [10, 0]]))


class TestProtocol:
    def test_outputs_match_the_variable_table(self):
        model = small_model()
        state = advance(model, model.init({}, np), 5)
        out = model.outputs(state)
        # this model has signals but no detectors: outputs per link and per signal
        assert set(out) == set(model.OUTPUTS) < set(TrafficModel.OUTPUTS)
        assert variables.outputs_for(*out) == model.OUTPUTS
        dims = sizes(model, state)
        assert dims["link_padded"] == model.network.n_links + 1
        lengths = {"link": model.network.n_links, "signal": model.signal_nodes.size}
        for name, v in out.items():
            assert v.shape == (lengths[model.OUTPUTS[name]["dims"][0]],), name
            assert np.all(np.isfinite(v)), name
        assert np.all(out["speed"] <= model.network.free_speed + 1e-9)
        assert np.all(out["travel_time"] >= model.network.free_flow_time)

    def test_step_does_not_modify_its_input(self):
        model = small_model()
        state = advance(model, model.init({}, np), 3)
        before = state_to_arrays(state)
        model.step(state, {"time_of_day_s": 180.0}, 60.0)
        for k, v in state_to_arrays(state).items():
            np.testing.assert_array_equal(v, before[k], err_msg=k)

    def test_resume_from_a_snapshot_is_bitwise(self):
        model = small_model(route_interval_s=120.0)
        state = advance(model, model.init({}, np), 4)
        saved = snapshot(model, state)
        straight = advance(model, state, 6, start_s=240.0)
        resumed = advance(model, restore(model, {}, saved, np), 6, start_s=240.0)
        for k, v in state_to_arrays(straight).items():
            np.testing.assert_array_equal(v, state_to_arrays(resumed)[k], err_msg=k)

    def test_coupling_step_length_does_not_matter_much(self):
        # 1 x 300 s and 5 x 60 s cut into the same 5-s sub-steps: same result
        model = small_model()
        one = model.step(model.init({}, np), {"time_of_day_s": 0.0}, 300.0)
        five = advance(model, model.init({}, np), 5)
        assert_close(one["vehicles"], five["vehicles"], rtol=1e-9, atol=1e-12)

    def test_demand_scale_and_zone_arrivals(self):
        model = small_model()
        state = advance(model, model.init({}, np), 20)
        c = model.counters(state)
        assert c["zone_arrivals"].shape == (4,) and c["zone_arrivals"].sum() > 0
        stopped = model.step(state, {"time_of_day_s": 1200.0, "demand_scale": 0.0}, 60.0)
        assert model.counters(stopped)["generated"] == c["generated"]

    @pytest.mark.parametrize(
        "forcing, dt, match",
        [
            ({}, 60.0, "missing 'time_of_day_s'"),
            ({"time_of_day_s": 0.0, "demand_scale": -1.0}, 60.0, "demand_scale must be >= 0"),
            ({"time_of_day_s": 0.0}, 0.0, r"dt: must be > 0"),
        ],
    )
    def test_bad_step_arguments(self, forcing, dt, match):
        model = small_model()
        with pytest.raises(ValueError, match=match):
            model.step(model.init({}, np), forcing, dt)

    def test_bad_construction(self):
        net = grid_network(3, 3)
        demand = Demand([0, 8], [[0, 10], [10, 0]])
        with pytest.raises(ValueError, match="dt_max_s: must be > 0"):
            TrafficModel(net, demand, dt_max_s=0.0)
        with pytest.raises(ValueError, match=r"route_weight: must be in \(0, 1\]"):
            TrafficModel(net, demand, route_weight=0.0)
        with pytest.raises(ValueError, match=r"green_s: shape \(3,\) does not broadcast"):
            TrafficModel(net, demand, green_s=[1.0, 2.0, 3.0])
        with pytest.raises(ValueError, match="inputs: unknown key"):
            TrafficModel(net, demand).init({"density": np.zeros(3)}, np)

    def test_short_link_limits_the_sub_step(self):
        net = Network.from_arrays(**roads(length=[500.0, 30.0, 500.0, 500.0]))
        model = TrafficModel(net, Demand([0, 2], [[0, 100], [100, 0]]), dt_max_s=5.0)
        assert_close(model.dt_sub_max_s, 2.0)  # 30 m at 15 m/s
        assert model.cells.per_link[1] == 1


class TestSignals:
    def test_set_signal_plan(self):
        model = small_model()
        state = model.init({}, np)
        node = int(model.signal_nodes[0])
        new = model.set_signal_plan(state, node, green_s=(40.0, 20.0), cycle_s=70.0, offset_s=5.0)
        row = 0
        assert_close(new["signal_green_s"][row], [40.0, 20.0])
        assert_close(new["signal_all_red_s"][row], [2.0, 2.0])  # (70 - 60 - 2*3) / 2
        assert_close(new["signal_offset_s"][row], 5.0)
        assert_close(state["signal_green_s"][row], [26.0, 26.0])  # input untouched
        assert_close(new["signal_green_s"][1:], state["signal_green_s"][1:])

    def test_longer_green_passes_more_traffic(self):
        # a signal at the centre of a 3 x 3 grid, saturated by north-south (phase 0) and
        # east-west (phase 1) through traffic: flows follow the green split
        net = grid_network(3, 3, spacing_m=400.0)
        od = np.zeros((4, 4))
        od[0, 1] = od[2, 3] = 6000.0  # above 1.6 veh/s x 42/60 and x 10/60
        demand = Demand([1, 7, 3, 5], od, flat_profile)
        model = TrafficModel(net, demand, route_interval_s=1e6)  # fixed routes
        state = advance(model, model.init({}, np), 10)
        state = model.set_signal_plan(state, 4, green_s=(42.0, 10.0))
        out = model.outputs(advance(model, state, 10, 600.0))
        north = np.flatnonzero((net.from_node == 1) & (net.to_node == 4))
        east = np.flatnonzero((net.from_node == 3) & (net.to_node == 4))
        cycle = 42 + 10 + 2 * (3 + 1)
        assert_close(out["flow"][north], 1.6 * 42 / cycle, rtol=1e-6)  # round-off
        assert_close(out["flow"][east], 1.6 * 10 / cycle, rtol=1e-6)

    @pytest.mark.parametrize(
        "node, kwargs, match",
        [
            (0, {"green_s": 30.0}, "node 0: is not signalized"),
            (99, {"green_s": 30.0}, r"node 99: not a node index"),
            (5, {"green_s": 30.0, "cycle_s": 50.0}, "cycle_s: 50.0 s is shorter"),
            (5, {"green_s": -1.0}, "green_s: must be finite and >= 0"),
        ],
    )
    def test_bad_plan(self, node, kwargs, match):
        model = small_model()
        with pytest.raises(ValueError, match=match):
            model.set_signal_plan(model.init({}, np), node, **kwargs)


def test_routes_react_to_congestion():
    """Two routes from A to B: a short one through a one-lane bottleneck and a longer
    one with ample capacity. Free-flow routing sends everybody on the short route;
    once its queue grows, the reactive route choice moves traffic to the long one."""
    # nodes: 0 origin, 1 destination, 2 on the short route, 3 on the long route
    net = Network.from_arrays(
        node_x=[0.0, 2000.0, 1000.0, 1000.0],
        node_y=[0.0, 0.0, 100.0, -800.0],
        signalized=[0, 0, 0, 0],
        from_node=[0, 2, 0, 3],
        to_node=[2, 1, 3, 1],
        length=[1000.0, 1000.0, 1300.0, 1300.0],
        lanes=[2, 1, 2, 2],
        free_speed=[15.0] * 4,
        capacity=[0.5] * 4,
        jam_density=[0.15] * 4,
    )
    model = TrafficModel(net, Demand([0, 1], [[0, 3000.0], [0, 0]], flat_profile))
    state = model.init({}, np)
    out_of_origin = [0, 2]  # short, long
    assert_close(state["route"][1, out_of_origin], [1.0, 0.0])
    state = advance(model, state, 40)
    assert state["route"][1, 2] > 0.4  # the long route now carries traffic
    out = model.outputs(state)
    assert out["flow"][3] > 0.1 and out["queue_length"][0] > 0


@pytest.mark.gpu
def test_backend_parity(xp):
    """The same run on ``xp`` and on NumPy (random link lengths, so no route ties that
    round-off could break differently on the two backends)."""
    grid = grid_network(5, 5, spacing_m=400.0)
    rng = np.random.default_rng(7)
    net = Network.from_arrays(
        grid.node_x,
        grid.node_y,
        grid.signalized,
        grid.from_node,
        grid.to_node,
        grid.length * rng.uniform(1.0, 1.2, grid.n_links),
        grid.lanes,
        grid.free_speed,
        grid.capacity,
        grid.jam_density,
    )
    zones = np.array([0, 4, 12, 20, 24])
    model = TrafficModel(
        net, Demand(zones, random_od(5, 4000.0, rng), daily_profile), route_interval_s=120.0
    )
    results = []
    for backend in (np, xp):
        state = model.init({}, backend)
        state = advance(model, state, 15, start_s=8 * 3600.0)
        state = model.set_signal_plan(state, model.signal_nodes[:3], green_s=(35.0, 15.0))
        state = advance(model, state, 15, start_s=8 * 3600.0 + 900.0)
        results.append((model.outputs(state), model.counters(state), state_to_arrays(state)))
    (out_np, c_np, st_np), (out_xp, c_xp, st_xp) = results
    # reductions may sum in a different order on the GPU: round-off only
    for k in out_np:
        assert_close(out_xp[k], out_np[k], rtol=1e-9, atol=1e-12, err_msg=k)
    for k in ("entered", "exited", "trip_time_s", "delay_s"):
        assert_close(c_xp[k], c_np[k], rtol=1e-9)
    assert_close(st_xp["route"], st_np["route"], atol=1e-12)
