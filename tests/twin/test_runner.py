"""The coupled runner on a small test city: sanity, resume, NaN guard, memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import gpu
from tests.helpers import requires_cupy
from twin import InputError
from twin.coupling import Coupler
from twin.errors import ModelHealthError
from twin.runner import _load_city, run
from twin.scenario import Scenario
from twin.store import read_kpis

MINICITY = "minicity"  # the shipped test dataset (datasets/minicity)


def scenario(**changes) -> Scenario:
    base = {
        "name": "mini",
        "start": "2026-06-17T00:00:00+09:00",
        "duration": "24h",
        "step": "120s",
        "output_interval": "1h",
        "device": "cpu",
        "city": {"dataset": str(MINICITY), "resolution_m": 250},
        "traffic": {"trips_per_day": 40000, "zone_size_m": 2000},
    }
    return Scenario.from_dict(base | changes)


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "day.zarr"
    result = run(scenario(), path, progress=False)
    return result


def test_store_layout_and_attrs(day):
    tree = day.open()
    assert set(tree.children) == {"city", "state", "forcing", "kpi"}
    assert tree.attrs["status"] == "complete" and tree.attrs["completed_outputs"] == 24
    assert Scenario.from_dict(tomllib.loads(tree.attrs["scenario"])).name == "mini"
    assert tree.attrs["backend"] == "numpy" and "wall_seconds" in tree.attrs
    air = tree["state/air"].to_dataset()
    assert air["pm25"].dims == ("time", "y", "x") and air.sizes["time"] == 24
    assert air["pm25"].attrs["units"] == "ug m-3"
    assert tree["state/traffic"]["speed"].dims == ("time", "link")
    assert tree["state/energy"]["net_load"].dims == ("time", "district")
    times = tree["state/air"]["time"].values
    assert times[0] == np.datetime64("2026-06-16T16:00")  # 01:00 KST in UTC
    for name, var in day.kpis.data_vars.items():
        assert var.attrs["units"] and np.isfinite(var.values), name


def test_physically_sane(day):
    tree = day.open()
    # PV: zero at night, positive at noon (KST = UTC+9; output times are interval ends)
    pv = tree["state/energy"]["pv_power"].sum("building").values
    hours = (np.arange(1, 25)) % 24
    assert np.all(pv[(hours <= 3) | (hours >= 22)] == 0) and pv[hours == 12][0] > 0
    # traffic emissions raise PM2.5 near arterials at the morning peak versus at night
    air = tree["state/air"].to_dataset()
    city_roads = tree["city/roads"].to_dataset()
    from sim.traffic import rasterize_links

    frm, to = city_roads["from_node"].values, city_roads["to_node"].values
    x, y = city_roads["x"].values, city_roads["y"].values
    arterial = (city_roads["road_class"].values >= 1).astype(float)
    road_cells = (
        rasterize_links(arterial, x[frm], y[frm], x[to], y[to], air["x"].values, air["y"].values)
        > 0
    )
    for species in ("pm25", "nox"):
        c = air[species].values
        rush, night = c[hours == 8][0], c[hours == 3][0]
        assert rush[road_cells].mean() > night[road_cells].mean(), species
    # NOx comes from traffic alone: at rush hour the peak sits on an arterial and
    # the concentration exceeds the background there
    rush = air["nox"].values[hours == 8][0]
    assert road_cells.ravel()[rush.argmax()] and rush.max() > 15.0


def test_vehicles_conserved_every_step():
    sc = scenario(duration="6h")
    coupler = Coupler(_load_city(sc), sc, gpu.select("cpu"))
    coupler.init()
    ex = coupler.exchange
    for i in range(sc.n_steps):
        coupler.step(i)
        c = ex.models["traffic"].counters(ex.states["traffic"])
        # generated = waiting at origins + on links + arrived, to round-off
        assert c["generated"] == pytest.approx(
            c["waiting"] + c["in_network"] + c["exited"], rel=1e-9
        )
        assert c["entered"] == pytest.approx(c["in_network"] + c["exited"], rel=1e-9)
    assert c["exited"] > 100


def _run_subprocess(sc_path: Path, store: Path, resume: bool = False):
    cmd = [sys.executable, "-m", "twin.cli", "run", str(sc_path), "-o", str(store), "--no-progress"]
    if resume:
        cmd.append("--resume")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _completed(store: Path) -> int:
    try:
        return json.loads((store / "zarr.json").read_text())["attributes"]["completed_outputs"]
    except (OSError, ValueError, KeyError):
        return 0


def test_kill_and_resume_equals_uninterrupted(day, tmp_path):
    sc = scenario()
    sc_path = tmp_path / "mini.toml"
    sc_path.write_text(sc.to_toml())
    store = tmp_path / "killed.zarr"
    proc = _run_subprocess(sc_path, store)
    deadline = time.monotonic() + 120
    while _completed(store) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _completed(store)
    assert 5 <= done < 24
    partial = xr.open_datatree(store, engine="zarr", consolidated=False)  # opens after kill -9
    assert np.isfinite(partial["state/air"]["pm25"].values[:done]).all()

    proc = _run_subprocess(sc_path, store, resume=True)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    a, b = zarr.open_group(day.store, mode="r"), zarr.open_group(store, mode="r")
    for model in ("traffic", "air", "energy"):
        for name, arr in a[f"state/{model}"].arrays():
            np.testing.assert_array_equal(arr[...], b[f"state/{model}/{name}"][...], err_msg=name)
    xr.testing.assert_identical(day.kpis, read_kpis(store))


KILL_IN_RESTART = """
import os, signal, sys
from twin.runner import run
from twin.store import RunStore

def dying(self, completed, states, services=""):  # write half of the third restart, die
    if completed == 3:
        slot = 1 - int(self.attrs["restart_slot"])
        items = [(m, n, v) for m, vs in states.items() for n, v in vs.items()]
        for m, n, v in items[: len(items) // 2]:
            self._array(f".restart/{m}/{n}")[slot] = v
        os.kill(os.getpid(), signal.SIGKILL)
    real(self, completed, states, services)

real, RunStore.write_restart = RunStore.write_restart, dying
run(sys.argv[1], sys.argv[2], progress=False)
"""


def test_kill_during_a_restart_write_resumes_bitwise(day, tmp_path):
    sc_path = tmp_path / "mini.toml"
    sc_path.write_text(scenario().to_toml())
    store = tmp_path / "killed.zarr"
    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_RESTART, str(sc_path), str(store)], capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    attrs = json.loads((store / "zarr.json").read_text())["attributes"]
    # outputs of step 3 are written; the marker still names the intact restart of step 2
    assert attrs["completed_outputs"] == 3 and attrs["restart_outputs"] == 2
    resumed = run(scenario(), store, progress=False, resume=True)
    a, b = zarr.open_group(day.store, mode="r"), zarr.open_group(store, mode="r")
    for model in ("traffic", "air", "energy"):
        for name, arr in a[f"state/{model}"].arrays():
            np.testing.assert_array_equal(arr[...], b[f"state/{model}/{name}"][...], err_msg=name)
    xr.testing.assert_identical(day.kpis, resumed.kpis)


def test_resume_refuses_other_scenario(day, tmp_path):
    other = scenario(name="other")
    with pytest.raises(InputError, match="different scenario"):
        run(other, day.store, progress=False, resume=True)


def test_nan_guard_names_model_variable_place_time(tmp_path, monkeypatch):
    from sim.air import AirModel

    real = AirModel.step
    calls = {"n": 0}

    def poisoned(self, state, forcing, dt):
        new = real(self, state, forcing, dt)
        calls["n"] += 1
        if calls["n"] == 95:  # step 95 of 120 s: inside the 4th hour
            new["pm25"][3, 4] = np.nan
        return new

    monkeypatch.setattr(AirModel, "step", poisoned)
    # by default the check runs on each output step's host copies: it names the output
    # step; check_every_step finds the step and the cell
    for every_step, where in ((False, "in output step 4 (simulated 2026-06-17 03:00 to 04:00"),
                              (True, "cell (y=3, x=4) at")):  # fmt: skip
        calls["n"] = 0
        store = tmp_path / f"nan{every_step}.zarr"
        with pytest.raises(ModelHealthError) as err:
            run(scenario(duration="6h"), store, progress=False, check_every_step=every_step)
        msg = str(err.value)
        assert "air model" in msg and "output pm25" in msg and where in msg, msg
        if every_step:
            assert "at simulated time 2026-06-17 03:08" in msg
        attrs = json.loads((store / "zarr.json").read_text())["attributes"]
        assert attrs["status"] == "failed" and attrs["completed_outputs"] == 3
        tree = xr.open_datatree(store, engine="zarr", consolidated=False)
        assert np.isfinite(tree["state/air"]["pm25"].values[:3]).all()


MEMORY_SCRIPT = """
import resource, sys
from twin.runner import run
from twin.scenario import Scenario
from twin.store import read_kpis
from tests.helpers import requires_cupy
sc = Scenario.from_toml(sys.argv[1])
run(sc, sys.argv[2], progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_memory_does_not_grow_with_duration(tmp_path):
    peaks = {}
    for hours in (6, 48):
        sc = scenario(duration=f"{hours}h", step="300s")
        path = tmp_path / f"{hours}.toml"
        path.write_text(sc.to_toml())
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(path), str(tmp_path / f"{hours}.zarr")],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[hours] = int(out.stdout.split()[-1]) / 1024  # MiB
    # 8x the duration: a run that kept its history would grow by 8x its output
    # volume; allow 10 % for allocator noise.
    assert peaks[48] < 1.1 * peaks[6], peaks


def test_start_offset_does_not_move_the_city_clock(tmp_path):
    # the same instant written in KST and in UTC: the city's day is the same
    kst = run(
        scenario(duration="3h", start="2026-06-17T07:00:00+09:00"),
        tmp_path / "a.zarr",
        progress=False,
    )
    utc = run(
        scenario(duration="3h", start="2026-06-16T22:00:00Z"), tmp_path / "b.zarr", progress=False
    )
    xr.testing.assert_identical(kst.kpis, utc.kpis)


def test_heat_pumps_emit_nothing_locally(tmp_path):
    winter = {"start": "2027-01-13T05:00:00+09:00", "duration": "2h"}
    gas = run(scenario(**winter), tmp_path / "gas.zarr", progress=False)
    electric = run(
        scenario(**winter, energy={"electric_heating_share": 1.0}),
        tmp_path / "hp.zarr",
        progress=False,
    )
    assert gas.kpis["heating_gas_co2_emissions"] > 0
    assert electric.kpis["heating_gas_co2_emissions"] == 0
    # gas boilers add NOx over the city; heat pumps add grid load instead
    assert gas.kpis["no2_exposure"] > electric.kpis["no2_exposure"]
    assert electric.kpis["energy_use"] > gas.kpis["energy_use"]


def test_run_never_replaces_a_city_store(tmp_path):
    import twin

    city = twin.build_city(MINICITY, resolution_m=500).save(tmp_path / "city.zarr")
    with pytest.raises(InputError, match="is a city store; refusing to replace it"):
        run(scenario(duration="1h"), city, progress=False)
    assert twin.open_city(city).name == "minicity"


def test_twin_device_env_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu.backend, "_probe_cupy", lambda: (None, "no GPU in this test"))
    monkeypatch.setenv("TWIN_DEVICE", "gpu")
    with pytest.raises(gpu.GPUUnavailableError, match="no GPU in this test"):
        run(scenario(duration="1h", device=None), tmp_path / "x.zarr", progress=False)


@pytest.mark.gpu
@requires_cupy
def test_coupled_run_numpy_and_cupy_agree(tmp_path):
    sc = scenario(duration="2h", start="2026-06-17T07:00:00+09:00", device=None)
    cpu = run(sc, tmp_path / "cpu.zarr", device="cpu", progress=False)
    dev = run(sc, tmp_path / "gpu.zarr", device="gpu", progress=False)
    a, b = zarr.open_group(cpu.store, mode="r"), zarr.open_group(dev.store, mode="r")
    for model in ("traffic", "air", "energy"):
        for name, arr in a[f"state/{model}"].arrays():
            if arr.ndim < 2:
                continue
            # stored as float32; reductions run in another order on the GPU: 1e-4 relative
            np.testing.assert_allclose(
                b[f"state/{model}/{name}"][...], arr[...], rtol=1e-4, atol=1e-6, err_msg=name
            )
    for name in cpu.kpis.data_vars:
        np.testing.assert_allclose(dev.kpis[name], cpu.kpis[name], rtol=1e-4, err_msg=name)


@pytest.mark.parametrize(("background", "hours"), [(60.0, 3.0), (10.0, 0.0)])
def test_hours_above_the_24h_standard(tmp_path, background, hours):
    # a polluted (clean) background keeps every monitor's running mean above (below) 35
    sc = scenario(duration="3h", air={"background_ugm3": {"pm25": background, "nox": 20.0}})
    kpis = run(sc, tmp_path / "r.zarr", progress=False).kpis
    assert float(kpis["hours_above_pm25_standard"]) == hours
