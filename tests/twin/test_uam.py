"""Air taxis in coupled runs: only when the scenario asks, sync-free steps, the store,
resume, zero flights, bad city data (twin/uam.py and the ``uam`` factory)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr

from gpu import counting
from sim.uam import UamModel
from tests.twin.test_runner import MINICITY, scenario
from twin.catalog import datasets_root
from twin.coupling import Coupler
from twin.errors import InputError
from twin.runner import _load_city, run

MORNING = {"start": "2026-06-17T07:00:00+09:00", "step": "120s"}


@pytest.fixture(scope="module")
def city():
    return _load_city(scenario())


def test_default_runs_have_no_air_taxis(city):
    c = Coupler(city, scenario(duration="1h"), counting.BACKEND)
    assert "uam" not in [comp.name for comp in c.components]
    assert "uam" not in scenario().to_toml()


def test_a_step_with_flights_makes_no_host_sync(city):
    sc = scenario(duration="2h", uam={"flights_per_day": 800}, **MORNING)
    c = Coupler(city, sc, counting.BACKEND)
    c.init()
    model = c.exchange.models["uam"]
    assert isinstance(model, UamModel) and model.n_flights > 10
    c.step(0)  # builds the noise window of this step length once
    airborne = 0
    for i in range(1, 40):
        counting.reset()
        with counting.traced() as sites:
            c.step(i)
        # the road routes' convergence test is the only sync (tests/twin/test_coupling.py)
        other = {s: n for s, n in sites.items() if "shortest_times" not in s}
        assert not other, f"step {i}: {other}"
        assert counting.counts["host_arrays"] == 0 and counting.counts["uploads"] == 0
        airborne = max(airborne, int(np.isin(c.exchange.states["uam"]["phase"], (3, 4, 5)).sum()))
    assert airborne > 0


def test_a_run_stores_flights_routes_and_noise_and_resumes(tmp_path, monkeypatch):
    sc = scenario(duration="3h", uam={"flights_per_day": 600}, **MORNING)
    whole = run(sc, tmp_path / "whole.zarr", progress=False)
    uam = whole.open()["state/uam"].to_dataset()
    assert uam["flight_x"].dims == ("time", "flight") and uam.sizes["flight"] > 0
    assert uam["noise_lden"].dims == ("time", "y", "x") and uam["noise_lden"].attrs["units"] == "dB"
    assert float(uam["noise_lden"].max()) > 55.0
    assert uam["route_z"].dims == ("time", "route", "route_point")
    k = whole.kpis
    assert k["uam_flights_completed"] > 0 and k["uam_flights_completed"].attrs["model"] == "uam"
    assert float(k["uam_min_clearance"]) >= sc.uam.clearance_m
    # fail in the third hour, then resume: equal to the uninterrupted run
    real, calls = UamModel.step, {"n": 0}

    def failing(self, state, forcing, dt):
        calls["n"] += 1
        if calls["n"] == 70:
            raise RuntimeError("injected failure")
        return real(self, state, forcing, dt)

    monkeypatch.setattr(UamModel, "step", failing)
    with pytest.raises(RuntimeError, match="injected"):
        run(sc, tmp_path / "resumed.zarr", progress=False)
    monkeypatch.setattr(UamModel, "step", real)
    resumed = run(sc, tmp_path / "resumed.zarr", progress=False, resume=True)
    xr.testing.assert_identical(uam, resumed.open()["state/uam"].to_dataset())
    xr.testing.assert_identical(whole.kpis, resumed.kpis)


def test_zero_flights_give_a_flight_dim_of_length_zero(tmp_path):
    result = run(scenario(duration="1h", uam={"flights_per_day": 0}, **MORNING),
                 tmp_path / "none.zarr", progress=False)  # fmt: skip
    uam = result.open()["state/uam"].to_dataset()
    assert uam.sizes["flight"] == 0 and float(uam["noise_lden"].max()) == 0.0
    assert float(result.kpis["uam_flights_completed"]) == 0


def test_a_city_without_vertiports_is_a_clear_error(tmp_path, city):
    folder = tmp_path / "novertiports"
    shutil.copytree(datasets_root() / MINICITY, folder)
    text = (folder / "dataset.toml").read_text()
    (folder / "dataset.toml").write_text(text[: text.index("[uam]")])
    sc = scenario(uam={}).with_updates(city={"dataset": str(folder), "resolution_m": 250})
    with pytest.raises(InputError, match=r"no \[uam\] table"):
        Coupler(city, sc, counting.BACKEND)
    far = text.replace("lat = 35.1170", "lat = 35.3000")
    (folder / "dataset.toml").write_text(far)
    with pytest.raises(InputError, match=r"uam.vertiports\[2\].*outside the city"):
        Coupler(city, sc, counting.BACKEND)


def test_uam_routing_reroutes_once_and_is_recorded(tmp_path, city):
    from twin.services import UamRoutes, actions
    from twin.services.base import BUILTINS

    sc = scenario(duration="1h", uam={"flights_per_day": 400}, **MORNING)
    result = run(sc, tmp_path / "rerouted.zarr", services=[BUILTINS["uam_routing"]()],
                 progress=False)  # fmt: skip
    tree = result.open()
    done = tree["services/uam_routing"].to_dataset()
    assert list(done["actions_kind"].values) == ["UamRoutes"]
    pairs = tree["state/uam"]["pair_route"].values
    # the pairs with flights fly the second route set (rows pairs..2 pairs - 1)
    assert pairs[-1].max() >= pairs.shape[1] and np.all(pairs[-1] < 2 * pairs.shape[1])
    # a run without air taxis refuses the action with a clear reason
    c = Coupler(city, scenario(duration="1h"), counting.BACKEND)
    c.init()
    with pytest.raises(actions.Rejected, match="no air taxis"):
        actions.apply(c, UamRoutes("all", 1.0, 0.1))


def test_shortest_path_is_the_baseline_that_keeps_the_routes(city):
    from twin.services.base import BUILTINS, Context

    baseline = BUILTINS["shortest_path"]()
    baseline.reset(Context(city, scenario(uam={}), None))
    assert baseline.decide(None) == []
    with pytest.raises(ValueError, match=r"shortest_path needs air taxis.*\[uam\]"):
        baseline.reset(Context(city, scenario(), None))
