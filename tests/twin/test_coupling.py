"""The coupler: model conformance, a sync-free step, service hooks, one source of defaults,
and a model added from outside (a test) that runs, stores and resumes through twin.run."""

from __future__ import annotations

import inspect
import math
from typing import ClassVar

import numpy as np
import pytest
import xarray as xr

import gpu
from gpu import counting
from sim import protocol
from sim.air import SPECIES_DEFAULTS
from sim.energy.parameters import EnergyParameters
from sim.protocol import Var
from sim.traffic import TrafficModel
from tests.twin.test_runner import scenario
from twin import models
from twin.coupling import Coupler, city_sizes
from twin.errors import InputError
from twin.kpi import KPIS
from twin.runner import _load_city, run
from twin.scenario import AirSettings, EnergySettings, TrafficSettings
from twin.stages import grid_cells


@pytest.fixture(scope="module")
def city():
    return _load_city(scenario())


def _coupler(city, backend=gpu.backend.NUMPY, sensors=False, **changes) -> Coupler:
    c = Coupler(city, scenario(**changes), backend, sensors=sensors)
    c.init()
    return c


def test_every_registered_model_conforms(city):
    # every model, the sensors and the air taxis too (flights from 06:00: none in these steps)
    c = _coupler(city, duration="2h", sensors=True, uam={"flights_per_day": 200})
    for i in range(4):
        c.step(i)
    ex, sizes = c.exchange, city_sizes(city)
    assert [comp.name for comp in c.components] == list(models.REGISTRY)
    for comp in c.components:
        model, state = comp.model, ex.states[comp.name]
        protocol.sizes(model, state)  # keys, dims, dtypes, host entries as STATE says
        out = model.outputs(state)
        assert set(out) == set(model.OUTPUTS), comp.name
        for name, attrs in model.OUTPUTS.items():
            assert attrs["units"] and attrs["long_name"], name
            known = sizes | dict(comp.sizes)  # dims the city does not define
            assert out[name].shape == tuple(known[d] for d in attrs["dims"]), name
        # restart entries round-trip through host arrays bit for bit, and the restored
        # state steps exactly like the original
        saved = protocol.snapshot(model, state)
        restored = protocol.restore(model, comp.inputs, saved, np)
        for name, value in protocol.snapshot(model, restored).items():
            np.testing.assert_array_equal(value, saved[name], err_msg=f"{comp.name}.{name}")
        forcing = comp.forcing(ex)
        a, b = model.step(state, forcing, ex.dt_s), model.step(restored, forcing, ex.dt_s)
        for name in protocol.restart_vars(model):
            np.testing.assert_array_equal(
                gpu.to_host(a[name]), gpu.to_host(b[name]), err_msg=f"{comp.name}.{name}"
            )


def test_restore_refuses_a_snapshot_of_another_shape(city):
    c = _coupler(city)
    arrays = c.host_states()
    arrays["air"]["pm25"] = arrays["air"]["pm25"][:-1]
    with pytest.raises(InputError, match=r"restart data does not fit this run.*pm25"):
        c.restore(arrays)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"start": "2026-06-17T07:30:00+09:00", "energy": {"ev_deadlines": True}},
        # a regional background that changes every step (refilled in place on the device)
        {"air": {"background_daily_sd": 0.5, "background_hourly": [0.8, 1.2] * 12}},
    ],
    ids=["default", "ev-deadlines-past-a-departure", "varying-background"],
)
def test_a_coupling_step_makes_no_host_sync(city, changes):
    # the counting backend takes the code paths CuPy takes and counts every read of a
    # device value on the host; 20 steps of 120 s span 8 route updates (and, with EV
    # deadlines from 07:30, the 08:00 departures)
    c = _coupler(
        city,
        counting.BACKEND,
        sensors=True,
        duration="1h",
        step="120s",
        output_interval="1h",
        **changes,
    )
    c.step(0)  # the first step of each sub-step length builds its constants once
    per_step, route_syncs = [], 0
    for i in range(1, 21):
        counting.reset()
        with counting.traced() as sites:
            c.step(i)
        per_step.append(dict(counting.counts))
        other = {s: n for s, n in sites.items() if "shortest_times" not in s}
        assert not other, f"step {i}: {other}"
        route_syncs += counting.counts["syncs"]
    assert all(s["host_arrays"] == 0 and s["uploads"] == 0 for s in per_step)
    # the only syncs left: Bellman-Ford's convergence test, once per route update (the
    # first test comes after as many sweeps as the last update needed)
    updates = math.floor(21 * 120 / 300) - math.floor(120 / 300)
    assert 0 < route_syncs <= updates + 2, (route_syncs, updates)
    assert sum(s["syncs"] == 0 for s in per_step) >= 20 - updates


def test_services_observe_and_apply_between_steps(city):
    c = _coupler(city)
    c.step(0)
    seen = c.observe()
    assert seen["time"] == c.scenario.start
    assert set(seen["outputs"]) == {"traffic", "air", "energy", "kpi"}
    traffic = c.exchange.models["traffic"]
    node = int(traffic.signal_nodes[0])
    c.apply("traffic", lambda m, s: m.set_signal_plan(s, node, green_s=(50.0, 20.0)))
    np.testing.assert_array_equal(c.exchange.states["traffic"]["signal_green_s"][0], [50, 20])
    c.step(1)  # the next step runs on the changed plan


def test_one_source_of_defaults():
    energy = EnergyParameters()
    for name, field in EnergySettings.model_fields.items():
        if name.endswith("_csv"):  # files the twin reads into the model's tables
            assert field.default is None, name
            continue
        assert field.default == getattr(energy, name), name
    assert AirSettings().background_ugm3 == {
        s: d["background_ugm3"] for s, d in SPECIES_DEFAULTS.items()
    }
    signature = inspect.signature(TrafficModel).parameters
    assert TrafficSettings().route_interval_s == signature["route_interval_s"].default
    assert len({k.model for k in KPIS.values()}) > 1 and set(k.better for k in KPIS.values()) == {
        "lower",
        "higher",
    }


# ------------------------------------------------- a model added from outside the package
class UrbanHeat:
    """A toy urban heat island: each cell's temperature excess relaxes towards a source
    proportional to the buildings' electric load, ``dT/dt = g P - T / tau``, integrated
    exactly over a step (P constant in it)."""

    OUTPUTS: ClassVar = {
        "urban_heat": {"dims": ("y", "x"), "units": "K", "long_name": "heat island"}
    }
    STATE: ClassVar = {
        "urban_heat": Var(("y", "x"), "float64", "K", "heat island temperature excess")
    }

    def __init__(self, shape, tau_s=3600.0, gain_k_per_kw_s=1e-8):
        self.shape, self.tau_s, self.gain = shape, tau_s, gain_k_per_kw_s

    def init(self, inputs, xp):
        return {"urban_heat": xp.zeros(self.shape)}

    def step(self, state, forcing, dt):
        keep = math.exp(-dt / self.tau_s)
        steady = forcing["load_kw"] * (self.gain * self.tau_s)
        return {"urban_heat": state["urban_heat"] * keep + steady * (1.0 - keep)}

    def outputs(self, state):
        return dict(state)


def urban_heat(a: models.Assembly) -> models.Component:
    g, b = a.city.grid, a.city["buildings"]
    shape = (g.sizes["y"], g.sizes["x"])
    cell = a.xp.asarray(grid_cells(g, b["x"].values, b["y"].values))

    def forcing(ex):  # energy -> building load -> heat source per cell
        load = ex.outputs["energy"]["electric_load"]
        return {"load_kw": gpu.bincount(cell, load, shape[0] * shape[1]).reshape(shape)}

    return models.Component("urban_heat", UrbanHeat(shape), forcing, stage="heat sources")


@pytest.fixture
def with_urban_heat():
    models.register("urban_heat", urban_heat)
    yield
    models.unregister("urban_heat")


def test_a_new_model_runs_stores_and_resumes(with_urban_heat, tmp_path, monkeypatch):
    sc = scenario(duration="4h")
    whole = run(sc, tmp_path / "whole.zarr", progress=False)
    heat = whole.open()["state/urban_heat"].to_dataset()
    assert heat["urban_heat"].attrs["units"] == "K" and heat["urban_heat"].dims == (
        "time",
        "y",
        "x",
    )
    assert "y" in heat.coords and float(heat["urban_heat"].max()) > 0
    assert whole.timings_s["heat sources"] >= 0 and whole.timings_s["urban_heat"] >= 0

    # fail in the third hour, then resume: equal to the uninterrupted run
    real = UrbanHeat.step
    calls = {"n": 0}

    def failing(self, state, forcing, dt):
        calls["n"] += 1
        if calls["n"] == 75:
            raise RuntimeError("injected failure")
        return real(self, state, forcing, dt)

    monkeypatch.setattr(UrbanHeat, "step", failing)
    with pytest.raises(RuntimeError, match="injected"):
        run(sc, tmp_path / "resumed.zarr", progress=False)
    monkeypatch.setattr(UrbanHeat, "step", real)
    resumed = run(sc, tmp_path / "resumed.zarr", progress=False, resume=True)
    for group in ("urban_heat", "air", "energy", "traffic"):
        xr.testing.assert_identical(
            whole.open()[f"state/{group}"].to_dataset(),
            resumed.open()[f"state/{group}"].to_dataset(),
        )
    xr.testing.assert_identical(whole.kpis, resumed.kpis)


def test_snapshots_copy_device_arrays_through_the_host_copier():
    # the runner's snapshots (host_outputs, host_states) go through Coupler.copier, a
    # gpu.HostCopier (pinned buffers on a side stream on CuPy); host entries stay out
    from types import SimpleNamespace

    from gpu import counting

    copied = []

    class Recorder(gpu.HostCopier):
        def copy(self, arrays):
            copied.append(sorted(arrays))
            return super().copy(arrays)

    fake = SimpleNamespace(copier=Recorder(counting.xp))
    host = np.arange(3.0)
    dev = counting.xp.asarray(np.ones(2))
    got = Coupler._to_host(fake, {"m": {"host": host, "dev": dev}})
    assert copied == [["m/dev"]]
    assert got["m"]["host"] is host and type(got["m"]["dev"]) is np.ndarray
    np.testing.assert_array_equal(got["m"]["dev"], np.ones(2))
