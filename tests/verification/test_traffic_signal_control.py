"""Signal control modes against what they must do: exact intervals, fixed-time discharge,
and the actuated controller against fixed time and the HCM / Webster uniform delay.

References
----------
Webster, F. V. (1958). Traffic signal settings. Road Research Technical Paper 39, HMSO.
Transportation Research Board (2010). Highway Capacity Manual 2010, eq. 18-20 (uniform
delay ``d1``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from sim.traffic import Demand, TrafficModel, flat_profile
from sim.traffic.control import ALL_RED, AMBER, GREEN
from sim.traffic.synthetic import grid_network
from tests.helpers import assert_close

EVERY_S = 20.0  # the controller's decision interval
AMBER_S, ALL_RED_S = 3.0, 1.0


def crossing(veh_per_h_ns, veh_per_h_ew, **kwargs):
    """One signalized intersection (node 4 of a 3 x 3 lattice) with through traffic
    from the south (node 1 to 7) and from the west (node 3 to 5); fixed routes."""
    net = kwargs.pop("network", None) or grid_network(3, 3, spacing_m=400.0)
    od = np.zeros((4, 4))
    od[0, 1], od[2, 3] = veh_per_h_ns, veh_per_h_ew
    demand = Demand([1, 7, 3, 5], od, flat_profile)
    return TrafficModel(net, demand, route_interval_s=1e9, **kwargs)


def reference_display(n_steps, every_s, min_green_s, amber_s, all_red_s):
    """What a phase_select signal must show at the end of each decision interval when
    its controller asks, at every decision, for the phase it is not showing: an
    event-by-event account in exact rational arithmetic, independent of the model's
    code (floats would drift by 1e-9 s over a day of absolute times and decide
    coincidences of a switch with a decision the wrong way)."""
    every_s, min_green_s, amber_s, all_red_s = (
        Fraction(str(v)) for v in (every_s, min_green_s, amber_s, all_red_s)
    )
    phase, kind, since, green_start = 0, GREEN, Fraction(0), Fraction(0)
    shown = []
    for k in range(n_steps):
        t, t_next = k * every_s, (k + 1) * every_s
        command = 1 - phase
        while True:
            if kind == GREEN:
                end = max(green_start + min_green_s, t) if command != phase else math.inf
            else:
                end = since + (amber_s if kind == AMBER else all_red_s)
            if end > t_next:
                break
            t, since = end, end
            if kind == ALL_RED:
                phase, green_start = command, end
            kind = (kind + 1) % 3
        shown.append((phase, kind, float(t_next - since), float(t_next - green_start)))
    return np.array(shown)


@pytest.mark.parametrize("min_green_s", [5.0, 25.3], ids=["min5", "min25.3-binding"])
def test_phase_select_over_a_day_shows_exact_intervals(min_green_s):
    # 20-s sub-steps (one per decision; links of one cell) so a day is 4,320 steps;
    # clearances of 3 + 1 s and greens of 16 s fall inside sub-steps; a binding minimum
    # green of 25.3 s makes the switches drift through every offset within a sub-step,
    # so samples land in ambers and all-reds too
    model = crossing(600.0, 600.0, dt_max_s=20.0, amber_s=AMBER_S, all_red_s=ALL_RED_S)
    assert model.dt_sub_max_s == 20.0
    state = model.set_control(model.init({}, np), 4, "phase_select", min_green_s=min_green_s)
    n = int(86400 / EVERY_S)
    shown = np.empty((n, 4))
    phase = int(model.signal_display(state)["phase"][0])
    for k in range(n):
        state = model.set_phase(state, 4, 1 - phase)  # ask for the phase not shown
        state = model.step(state, {"time_of_day_s": k * EVERY_S}, EVERY_S)
        d = model.signal_display(state)
        shown[k] = [float(d[key][0]) for key in ("phase", "interval", "interval_s", "phase_time_s")]
        phase = int(shown[k, 0])
    expected = reference_display(n, EVERY_S, min_green_s, AMBER_S, ALL_RED_S)
    np.testing.assert_array_equal(shown[:, :2], expected[:, :2])
    # times are sums of a few sub-step pieces: round-off of a day's clock (1e-11 s)
    assert_close(shown[:, 2:], expected[:, 2:], rtol=0, atol=1e-6)
    # directly on the model's display: a sampled amber or all-red never runs past its
    # setting, and the green before a sampled amber lasted at least the minimum
    amber, all_red = shown[:, 1] == AMBER, shown[:, 1] == ALL_RED
    if min_green_s > EVERY_S - AMBER_S - ALL_RED_S:  # drifting: every offset is sampled
        assert amber.sum() > 100 and all_red.sum() > 10
    else:  # 16 s green, switched at each decision: the samples are 16 s into a green
        assert np.all(shown[:, 1] == GREEN) and np.all(shown[1:, 3] == 16.0)
    assert np.all(shown[amber, 2] < AMBER_S) and np.all(shown[all_red, 2] < ALL_RED_S)
    assert np.all(shown[amber, 3] - shown[amber, 2] >= min_green_s - 1e-9)
    # the green actually shown over the day: each switch costs amber + all-red
    greens = state["approach_green_s"]
    switches = np.sum(np.diff(expected[:, 0]) != 0)
    assert_close(greens.sum(), 2 * (86400 - switches * (AMBER_S + ALL_RED_S)), rtol=1e-3)


def test_phase_select_discharges_like_the_fixed_time_plan():
    # both approaches saturated (6000 veh/h against 1.6 veh/s x 16/40); a controller
    # switching every 20 s makes 16 s green + 3 s amber + 1 s all-red per phase, as the
    # fixed-time plan of the same splits does; lost time 4 s = amber + all-red, so the
    # effective green is 16 s in both
    plan = crossing(6000.0, 6000.0, green_s=16.0)
    select = crossing(6000.0, 6000.0, green_s=16.0)
    flows = {}
    for name, model in (("fixed", plan), ("select", select)):
        state = model.init({}, np)
        if name == "select":
            state = model.set_control(state, 4, "phase_select")
        passed = np.zeros(model.network.n_links)
        for k in range(40):
            if name == "select":
                phase = int(model.signal_display(state)["phase"][0])
                state = model.set_phase(state, 4, 1 - phase)
            state = model.step(state, {"time_of_day_s": k * EVERY_S}, EVERY_S)
            if k >= 30:  # 200 s = five whole cycles, after the queues have formed
                passed += model.outputs(state)["flow"] * EVERY_S
        flows[name] = passed[model.approach_links]
    # five cycles of 16 s at saturation: 1.6 veh/s * 80 s on every approach with traffic
    busy = flows["fixed"] > 1
    assert busy.sum() == 2
    assert_close(flows["fixed"][busy], 1.6 * 80.0, rtol=1e-9)  # round-off
    assert_close(flows["select"], flows["fixed"], rtol=1e-9, atol=1e-9)  # round-off


class TestActuated:
    """One intersection, one lane per approach (0.5 veh/s saturation), 0.2 veh/s from
    the south and 0.05 veh/s from the west for an hour; fixed time 26 s effective green
    of a 60 s cycle on each phase against actuated control (min 5 s, max 40 s green,
    3 s passage)."""

    Q_BUSY, Q_MINOR, S = 0.2, 0.05, 0.5

    @pytest.fixture(scope="class")
    @classmethod
    def runs(cls):
        net = grid_network(
            3, 3, spacing_m=400.0, lanes=1, capacity=cls.S, jam_density=0.15, free_speed=15.0
        )
        out = {}
        for mode in ("fixed_time", "actuated"):
            model = crossing(
                cls.Q_BUSY * 3600,
                cls.Q_MINOR * 3600,
                network=net,
                signal_control=mode,
                dt_max_s=2.0,
            )
            state = model.init({}, np)
            for k in range(80):  # demand for an hour, then 20 min to clear
                forcing = {"time_of_day_s": 60.0 * k, "demand_scale": float(k < 60)}
                state = model.step(state, forcing, 60.0)
            from_node = net.from_node[model.approach_links]
            green = dict(zip(from_node.tolist(), state["approach_green_s"], strict=True))
            out[mode] = (model.counters(state), green)
        return out

    def test_fixed_time_delay_matches_the_uniform_delay_formula(self, runs):
        counters, _ = runs["fixed_time"]
        assert counters["in_network"] < 1e-6 and abs(counters["exited"] - 900) < 1e-6
        cycle, g = 60.0, 26.0
        # HCM eq. 18-20: d1 = 0.5 C (1 - g/C)^2 / (1 - min(1, X) g/C), X = q / (s g/C)
        d1 = {
            q: 0.5
            * cycle
            * (1 - g / cycle) ** 2
            / (1 - min(1.0, q / (self.S * g / cycle)) * g / cycle)
            for q in (self.Q_BUSY, self.Q_MINOR)
        }
        expected = (self.Q_BUSY * d1[self.Q_BUSY] + self.Q_MINOR * d1[self.Q_MINOR]) / (
            self.Q_BUSY + self.Q_MINOR
        )
        # HCM d1 (Webster's first term) is the delay of deterministic arrivals, which
        # the fluid model has; Webster's random-arrival terms have no counterpart in it.
        # 2-s sub-steps smear arrivals by a sub-step, a few per cent of the 34-s red
        # (measured 0.1 %): 3 %
        assert_close(counters["delay_s"] / counters["exited"], expected, rtol=0.03)

    def test_busy_approach_gets_more_green_and_delay_drops(self, runs):
        fixed, fixed_green = runs["fixed_time"]
        actuated, green = runs["actuated"]
        assert abs(actuated["exited"] - 900) < 1e-6 and actuated["in_network"] < 1e-6
        south, west = 1, 3
        assert green[south] > fixed_green[south] and green[west] < fixed_green[west]
        assert green[south] > 1.5 * green[west]
        # shorter cycles that follow demand: well under the fixed-time delay
        assert actuated["delay_s"] < 0.7 * fixed["delay_s"]
