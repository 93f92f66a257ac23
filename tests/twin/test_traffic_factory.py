"""The traffic factory: the city's loop sensors as detectors, the scenario's control
settings passed on, and the new outputs laid out in the run store."""

from __future__ import annotations

import numpy as np
import pytest

import gpu
from sim.traffic.control import ACTUATED, PHASE_SELECT
from tests.twin.test_runner import scenario
from twin import models
from twin.coupling import Coupler
from twin.errors import InputError
from twin.runner import _load_city


@pytest.fixture(scope="module")
def city():
    return _load_city(scenario())


def traffic_component(city, **traffic):
    sc = scenario(traffic={"trips_per_day": 40000, "zone_size_m": 2000} | traffic)
    c = Coupler(city, sc, gpu.backend.NUMPY)
    return c, next(comp for comp in c.components if comp.name == "traffic")


def test_loop_sensors_become_detectors(city):
    _, comp = traffic_component(city)
    s = city["sensors"]
    loops = s["kind"].values == "loop"
    det = comp.model.detectors
    np.testing.assert_array_equal(det.link, s["target"].values[loops])
    assert np.all(det.setback_m == 50.0)  # the documented default
    assert det.interval_s == 3600.0  # the scenario's output interval
    assert comp.sizes == {"detector": loops.sum(), "signal": comp.model.signal_nodes.size}


def test_optional_setback_variable_and_interval(city):
    tree = city.tree.copy()
    sensors = tree["sensors"].to_dataset()
    setback = np.where(sensors["kind"].values == "loop", 120.0, np.nan)
    setback[np.flatnonzero(sensors["kind"].values == "loop")[0]] = np.nan  # default there
    tree["sensors"] = sensors.assign(setback=("sensor", setback))
    patched = type(city)(tree)
    _, comp = traffic_component(patched, detector_interval_s=300, detector_setback_m=30)
    det = comp.model.detectors
    assert det.setback_m[0] == 30.0 and np.all(det.setback_m[1:] == 120.0)
    assert det.interval_s == 300.0


def test_control_settings_reach_the_model(city):
    nodes = np.flatnonzero(city["roads"]["signalized"].values)
    c, comp = traffic_component(
        city,
        signal_control="actuated",
        signal_control_nodes={str(nodes[0]): "phase_select"},
        min_green_s=7,
        route_spread_s=15,
        demand_noise="poisson",
        seed=9,
    )
    m = comp.model
    assert (m.route_spread_s, m.demand_noise, m.seed) == (15.0, "poisson", 9)
    c.init()
    st = c.exchange.states["traffic"]
    assert st["signal_mode"][0] == PHASE_SELECT and np.all(st["signal_mode"][1:] == ACTUATED)
    assert np.all(st["signal_min_green_s"] == 7.0)
    for i in range(6):
        c.step(i)
    layouts, _, restart = c.layouts()
    traffic = layouts["traffic"]
    assert traffic["detector_count"][:2] == (("detector",), (m.n_detectors,))
    assert traffic["signal_phase"][:2] == (("signal",), (nodes.size,))
    assert restart["traffic"]["signal_mode"][0] == ("signal",)
    out = c.exchange.outputs["traffic"]
    assert all(np.all(np.isfinite(v)) for v in out.values())


def test_unknown_sensor_link_is_a_clear_error(city):
    tree = city.tree.copy()
    sensors = tree["sensors"].to_dataset()
    target = sensors["target"].values.copy()
    target[sensors["kind"].values == "loop"] = 10**6
    tree["sensors"] = sensors.assign(target=("sensor", target))
    with pytest.raises(
        InputError, match=r"\[traffic\].*detector 0, 1, .*: link 1000000 is not a link"
    ):
        models.traffic(models.Assembly(type(city)(tree), scenario(), gpu.backend.NUMPY, None))
