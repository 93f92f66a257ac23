"""Services: actions checked and recorded, failures contained, sensors with the stated
noise, observations without model state, resume, and the paired evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import xarray as xr

import gpu
from twin.coupling import Coupler
from twin.errors import InputError
from twin.evaluation import Evaluation, paired_table, t975
from twin.runner import _load_city, run
from twin.scenario import ServiceSpec
from twin.services import (
    Alert,
    ChargingLimit,
    Observation,
    SetpointOffset,
    SignalPhase,
    SignalPlan,
)
from twin.services.base import from_spec
from twin.testing import scenario


class Scripted:
    """Sends the actions of ``script[i]`` at its i-th decision; raises ``raise_at``."""

    def __init__(self, name, every, script=(), raise_at=None):
        self.name, self.every, self.script, self.raise_at = name, every, list(script), raise_at
        self.seen: list[Observation] = []

        self.n = 0  # decisions so far: the state a resumed run must restore

    def decide(self, obs):
        self.seen.append(obs)
        self.n += 1
        if self.n == self.raise_at:
            raise RuntimeError("the service broke")
        return self.script[self.n - 1] if self.n <= len(self.script) else []

    def state(self):
        return {"n": self.n}

    def restore(self, state):
        self.n = state["n"]


def _sc(hours=2, **changes):
    return scenario(hours=hours, **changes)


@pytest.fixture(scope="module")
def city_facts():
    import twin

    city = twin.build_city("minicity", resolution_m=250)
    signal = int(np.flatnonzero(city["roads"]["signalized"].values)[0])
    district = str(city["districts"]["name"].values[0])
    return {
        "signal": signal,
        "district": district,
        "n_buildings": city["buildings"].sizes["building"],
    }


BAD_ACTIONS = {
    "unknown node": (lambda f: SignalPlan(10**6, (30.0, 30.0)), "not a signalized node"),
    "negative green": (lambda f: SignalPlan(f["signal"], (-5.0, 30.0)), "green_s"),
    "too many phases": (lambda f: SignalPlan(f["signal"], (20.0, 20.0, 20.0)), "one per phase"),
    "unknown district": (lambda f: ChargingLimit("Atlantis", 10.0), "not a district"),
    "negative limit": (lambda f: ChargingLimit(0, -1.0), "limit_kw"),
    "setpoint outside comfort": (lambda f: SetpointOffset(0, 9.0), "comfort"),
    "unknown building": (lambda f: SetpointOffset(10**7, 1.0), "not a building"),
    "unknown area": (lambda f: Alert("Mars", "warning"), "not one of"),
    "unknown level": (lambda f: Alert("city", "panic"), "not one of"),
    "not an action": (lambda f: "turn everything green", "not an action"),
}


def test_invalid_actions_are_rejected_recorded_and_the_run_goes_on(tmp_path, city_facts):
    bad = [make(city_facts) for make, _ in BAD_ACTIONS.values()]
    good = [ChargingLimit(city_facts["district"], 25.0), Alert("city", "watch", "hazy")]
    service = Scripted("tester", 1800, script=[bad + good])
    result = run(_sc(), tmp_path / "r.zarr", services=[service], progress=False)
    group = result.open()["services/tester"].to_dataset()
    reasons = [str(r) for r in group["rejections_reason"].values]
    assert len(reasons) == len(BAD_ACTIONS)
    for (case, (_, match)), reason in zip(BAD_ACTIONS.items(), reasons, strict=True):
        assert match in reason, (case, reason)
    assert list(group["actions_kind"].values) == ["ChargingLimit", "Alert"]
    assert group.attrs["status"] == "ok" and group.attrs["rejections"] == len(BAD_ACTIONS)
    assert group["actions_time"].values[0] == np.datetime64("2026-06-16T22:00")  # 07:00 KST
    assert len(service.seen) == 4  # every 30 min over 2 h
    assert float(result.kpis["failed_services"]) == 0


def test_a_raising_service_is_stopped_and_its_targets_released(tmp_path, city_facts):
    limit = ChargingLimit(0, 0.0)
    service = Scripted("flaky", 1800, script=[[limit]], raise_at=2)
    result = run(_sc(), tmp_path / "r.zarr", services=[service], progress=False)
    group = result.open()["services/flaky"]
    assert group.attrs["status"] == "failed" and "the service broke" in group.attrs["error"]
    assert len(service.seen) == 2  # not asked again after it raised
    assert float(result.kpis["failed_services"]) == 1
    # after the failure the district charges again (the baseline): its EV power is back
    energy = result.open()["state/energy"].to_dataset()
    assert float(energy["ev_charging_power"].isel(time=-1, district=0)) > 0


def test_services_from_the_scenario_and_their_parameters():
    with pytest.raises(InputError, match=r"services\[0\].name: 'nope' is not a built-in"):
        from_spec(ServiceSpec(name="nope"), 0)
    with pytest.raises(InputError, match=r"unknown parameter\(s\) \['gain'\]"):
        from_spec(ServiceSpec(name="fixed_time", gain=2), 0)
    service = from_spec(ServiceSpec(name="fixed_time", every="10min"), 0)
    assert service.every.total_seconds() == 600
    with pytest.raises(InputError, match="whole multiple of the coupling step"):
        run(_sc(), "/nonexistent/x.zarr", services=[Scripted("odd", 90)], progress=False)


def test_observations_hold_readings_not_model_state(tmp_path):
    service = Scripted("watcher", 3600)
    sc = _sc()
    c = Coupler(_load_city(sc), sc, gpu.select("cpu"), sensors=True)
    c.init()
    for i in range(60):
        c.step(i)
    from twin.services.hook import ServiceHook

    hook = ServiceHook(c, [service])
    hook.before_step(60)
    obs = service.seen[-1]
    assert set(vars(obs)) == {"time", "detectors", "monitors", "meters", "chargers",
                              "forecast", "signals"}  # fmt: skip
    states = [v for st in c.exchange.states.values() for v in st.values()]
    city = c.city["sensors"]
    kinds = [str(k) for k in city["kind"].values]
    sizes = {"monitors": kinds.count("air"), "meters": kinds.count("meter"),
             "chargers": c.city["districts"].sizes["district"]}  # fmt: skip
    for kind in ("detectors", "monitors", "meters", "chargers", "forecast", "signals"):
        readings = getattr(obs, kind)
        assert set(vars(readings)) == {"time", "ids", "values", "units", "sites"}
        for values in (*readings.values.values(), *readings.sites.values()):
            # one host value per sensor, no view of any model array
            # one row per sensor (charging needs add a departure-hour axis)
            assert type(values) is np.ndarray and values.shape[:1] == (len(readings.ids),)
            assert not any(np.shares_memory(values, s) for s in states if hasattr(s, "shape"))
        if kind in sizes:
            assert len(readings.ids) == sizes[kind], kind
    # detectors: the city's loops, then a queue camera on every signal approach
    traffic = c.exchange.models["traffic"]
    approaches = np.flatnonzero(traffic.network.signalized[traffic.network.to_node])
    assert len(obs.detectors.ids) == kinds.count("loop") + approaches.size
    np.testing.assert_array_equal(obs.detectors.sites["link"][kinds.count("loop") :], approaches)
    assert obs.monitors.time.hour == 8 and obs.monitors.units["pm25"] == "ug m-3"


def test_noise_none_reads_the_model_exactly_and_gaussian_has_the_stated_spread(tmp_path):
    exact, noisy = Scripted("exact", 60), Scripted("noisy", 60)  # meters read every minute
    common = {"meter_interval": "60s", "monitor_interval": "60s"}
    run(_sc(sensors=common | {"noise": "none"}), tmp_path / "a.zarr", services=[exact],
        progress=False)  # fmt: skip
    run(_sc(sensors=common | {"meter_error": 0.2}), tmp_path / "b.zarr", services=[noisy],
        progress=False)  # fmt: skip
    errors = []
    for e, n in zip(exact.seen[1:], noisy.seen[1:], strict=True):
        ok = np.isfinite(e.meters["load"]) & (e.meters["load"] > 0)
        errors.append(n.meters["load"][ok] / e.meters["load"][ok] - 1.0)
    rel = np.concatenate(errors)
    # the relative error is N(0, 0.2) (clipping at 0 needs a -5 sigma draw): its mean
    # within 3 standard errors of 0, its standard deviation within 3 standard errors
    # (sd / sqrt(2 n)) of 0.2
    n = rel.size
    assert n > 500
    assert abs(rel.mean()) < 3 * 0.2 / math.sqrt(n)
    assert abs(rel.std(ddof=1) - 0.2) < 3 * 0.2 / math.sqrt(2 * n)
    # monitors at their default 10 %: the same statistics
    pairs = zip(exact.seen[1:], noisy.seen[1:], strict=True)
    rel = np.concatenate([b.monitors["pm25"] / a.monitors["pm25"] - 1.0 for a, b in pairs])
    assert abs(rel.mean()) < 3 * 0.1 / math.sqrt(rel.size)
    assert abs(rel.std(ddof=1) - 0.1) < 3 * 0.1 / math.sqrt(2 * rel.size)


def test_exact_meter_reading_equals_the_model(tmp_path):
    seen = Scripted("exact", 900)
    sc = _sc(sensors={"noise": "none"})
    result = run(sc, tmp_path / "a.zarr", services=[seen], progress=False)
    meters = result.open()["city/sensors"].to_dataset()
    target = meters["target"].values[[str(k) == "meter" for k in meters["kind"].values]]
    # the reading at 07:30 is the mean load of 07:15-07:30, i.e. of the 15 steps before;
    # outputs are hourly, so compare with the model run step by step
    c = Coupler(_load_city(sc), sc, gpu.select("cpu"), sensors=True)
    c.init()
    loads = []
    for i in range(30):
        c.step(i)
        loads.append(np.asarray(c.exchange.outputs["energy"]["electric_load"])[target])
    total = np.zeros_like(loads[0])
    for load in loads[15:30]:  # summed in the sensors' order: bitwise
        total = total + load
    expected = total / 15
    np.testing.assert_array_equal(seen.seen[2].meters["load"], expected)


def test_a_resumed_run_with_services_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    def fresh():
        return Scripted("pulse", 1200, script=[[ChargingLimit(i % 3, 10.0 * i)] for i in range(9)])

    sc = _sc(hours=3)
    whole = run(sc, tmp_path / "whole.zarr", services=[fresh()], progress=False)

    from sim.energy import EnergyModel

    real, calls = EnergyModel.step, {"n": 0}

    def failing(self, *a):
        calls["n"] += 1
        if calls["n"] == 130:
            raise KeyboardInterrupt
        return real(self, *a)

    monkeypatch.setattr(EnergyModel, "step", failing)
    with pytest.raises(KeyboardInterrupt):
        run(sc, tmp_path / "resumed.zarr", services=[fresh()], progress=False)
    monkeypatch.setattr(EnergyModel, "step", real)
    resumed = run(sc, tmp_path / "resumed.zarr", services=[fresh()], progress=False, resume=True)
    a, b = whole.open(), resumed.open()
    for group in ("state/energy", "state/traffic", "services/pulse"):
        xr.testing.assert_identical(a[group].to_dataset(), b[group].to_dataset())
    xr.testing.assert_identical(whole.kpis, resumed.kpis)


def test_confidence_interval_against_scipy():
    rng = np.random.default_rng(3)
    for n in (2, 5, 12, 40):
        base = rng.normal(100.0, 5.0, n)
        serv = base + rng.normal(-3.0, 2.0, n)
        members = xr.Dataset(
            {"total_delay": (("arm", "seed"), np.stack([base, serv]), {"better": "lower"})},
            coords={"arm": ["baseline", "service"]},
        )
        table = paired_table(members)["total_delay"]
        lo, hi = scipy.stats.t.interval(
            0.95, n - 1, loc=(serv - base).mean(), scale=scipy.stats.sem(serv - base)
        )
        # the t table's 3 decimals bound the error to 1e-3
        assert float(table.sel(stat="ci_low")) == pytest.approx(lo, rel=2e-3)
        assert float(table.sel(stat="ci_high")) == pytest.approx(hi, rel=2e-3)
    for df in (1, 4, 29, 30, 31, 60, 200):
        # 3 decimals in the table (0.5e-3), the expansion beyond it within 1e-4
        assert t975(df) == pytest.approx(scipy.stats.t.ppf(0.975, df), abs=6e-4)


def test_improves_reads_the_whole_interval():
    def evaluation(diffs, better):
        base = np.full(len(diffs), 100.0)
        members = xr.Dataset(
            {"k": (("arm", "seed"), np.stack([base, base + diffs]), {"better": better})},
            coords={"arm": ["baseline", "service"]},
        )
        table = paired_table(members)
        table["k"].attrs["better"] = better
        return Evaluation("s", "b", members, table)

    assert evaluation(np.array([-10.0, -11.0, -9.0]), "lower").improves("k", by=0.05)
    assert not evaluation(np.array([-10.0, -1.0, -9.0]), "lower").improves("k", by=0.05)
    assert not evaluation(np.array([-10.0, -11.0, -9.0]), "higher").improves("k")
    assert evaluation(np.array([10.0, 11.0, 9.0]), "higher").improves("k", by=0.05)
    with pytest.raises(KeyError, match="not a KPI"):
        evaluation(np.array([1.0, 2.0]), "lower").improves("nope")


def test_evaluate_pairs_the_arms_seed_by_seed(tmp_path):
    from twin.testing import evaluate

    cap = Scripted("cap", 3600, script=[[ChargingLimit(d, 0.0) for d in range(5)]] * 2)
    ev = evaluate(cap, hours=2, seeds=2)
    assert ev.members.sizes == {"arm": 2, "seed": 2}
    energy = ev.table["energy_use"]
    # holding every EV back for two hours can only lower the energy drawn
    assert float(energy.sel(stat="difference")) < 0
    assert ev.table["vehicle_hours_travelled"].sel(stat="difference") == 0  # traffic alike
    assert "cap against fixed_time" in repr(ev)
    with pytest.raises(InputError, match="both 'fixed_time'"):
        evaluate("fixed_time", seeds=1)


# ----------------------------------------------------------------- signal built-ins
def _hand_made(queues_m: dict[int, float], context):
    """An observation with only approach-camera queues (all else empty)."""
    from datetime import datetime

    from twin.services.sensors import Readings

    t = datetime(2026, 6, 17, 8)
    links = np.array(sorted(queues_m), dtype=np.int64)
    empty = Readings(t, (), {}, {})
    detectors = Readings(
        t, tuple(f"camera-{j}" for j in links), {"queue": np.array([queues_m[j] for j in links])},
        {"queue": "m"}, {"link": links},
    )  # fmt: skip
    return Observation(t, detectors, empty, empty, empty, empty, empty)


@pytest.fixture(scope="module")
def signal_context():
    from twin.services.base import Context
    from twin.services.hook import signal_layout

    sc = _sc()
    c = Coupler(_load_city(sc), sc, gpu.select("cpu"), sensors=True)
    c.init()
    return Context(c.city, sc, signal_layout(c))


@pytest.mark.parametrize("name", ["max_pressure", "longest_queue"])
def test_signal_builtins_decide_from_detector_queues_alone(name, signal_context):
    from twin.services import BUILTINS

    layout = signal_context.signals
    node, (phase0, phase1) = int(layout.nodes[0]), layout.phases[0][:2]
    service = BUILTINS[name]()
    service.reset(signal_context)
    # a queue on one approach of phase 1 only: both rules give phase 1 its green
    first = service.decide(_hand_made({phase1[0]: 200.0}, signal_context))
    assert SignalPhase(node, 1) in first
    assert all(isinstance(a, SignalPhase) for a in first)
    # the same readings again: no new command for that node (it shows phase 1)
    again = service.decide(_hand_made({phase1[0]: 200.0}, signal_context))
    assert all(a.node != node for a in again)
    # now phase 0's approaches queue far more: it switches back
    longer = {phase0[0]: 400.0, phase1[0]: 20.0}
    assert SignalPhase(node, 0) in service.decide(_hand_made(longer, signal_context))
    # state round-trips (a resumed run decides as an uninterrupted one)
    fresh = BUILTINS[name]()
    fresh.reset(signal_context)
    fresh.restore(service.state())
    assert fresh.shown == service.shown


def test_max_pressure_weighs_the_queue_downstream(signal_context):
    from twin.services import BUILTINS

    layout = signal_context.signals
    node, (phase0, phase1) = int(layout.nodes[0]), layout.phases[0][:2]
    service = BUILTINS["max_pressure"]()
    service.reset(signal_context)
    i0, i1 = phase0[0], phase1[0]
    blocked = {j: 500.0 for j in layout.movements[i1]}  # phase 1's exits are full
    chosen = service.decide(_hand_made({i0: 100.0, i1: 100.0, **blocked}, signal_context))
    # equal queues upstream, but phase 1 would push into full links: phase 0 wins
    assert SignalPhase(node, 0) in chosen


def test_max_pressure_runs_the_city_through_phase_select(tmp_path):
    sc = _sc(hours=1, step="20s", services=[{"name": "max_pressure", "every": "20s"}])
    result = run(sc, tmp_path / "mp.zarr", progress=False)
    group = result.open()["services/max_pressure"]
    assert group.attrs["status"] == "ok" and group.attrs["rejections"] == 0
    assert set(group["actions_kind"].values) == {"SignalPhase"}
    shown = result.open()["state/traffic"]["signal_phase"].values
    assert len(np.unique(shown)) == 2  # both phases were given green
