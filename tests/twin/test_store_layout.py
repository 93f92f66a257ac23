"""Run stores as Pangeo tools see them: each group opened alone with plain xarray
(warnings are errors) has its time, the city's clock, label coordinates and units."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import xarray as xr

from sim import weather
from twin.coupling import run_weather, utc64
from twin.runner import run
from twin.services import Alert
from twin.store import RunStore, open_run
from twin.testing import scenario

GROUPS = ("state/air", "state/traffic", "state/energy", "forcing", "kpi", "services/alerts")
CITY_GROUPS = {
    "city/roads": ("node", "link"),
    "city/buildings": ("building",),
    "city/districts": ("district",),
    "city/sensors": ("sensor",),
}


class Alerts:
    """One city-wide watch at each decision (so ``/services/alerts`` has rows)."""

    name, every = "alerts", 3600

    def decide(self, obs):
        return [Alert("city", "watch")]


@pytest.fixture(scope="module")
def sc():
    return scenario(hours=2)  # 07:00 to 09:00 KST (+09:00), hourly outputs


@pytest.fixture(scope="module")
def store(sc, tmp_path_factory):
    path = tmp_path_factory.mktemp("layout") / "run.zarr"
    run(sc, path, services=[Alerts()], progress=False)
    return path


def plain(store, group):
    """``group`` as a new user opens it: plain xarray, defaults, warnings as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return xr.open_dataset(store, group=group, engine="zarr").load()


def test_every_group_opens_alone_without_warnings(store):
    # consolidated metadata: no "failed to open with consolidated metadata" warning
    assert "consolidated_metadata" in json.loads((store / "zarr.json").read_text())
    for group in (*GROUPS, *CITY_GROUPS):
        plain(store, group)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xr.open_datatree(store, engine="zarr").load()


@pytest.mark.parametrize("group", ["state/air", "state/traffic", "state/energy"])
def test_state_groups_have_time_and_the_citys_clock(store, group):
    ds = plain(store, group)
    assert "time" in ds.indexes and "local_time" in ds.coords
    # outputs at the ends of 07:00-08:00 and 08:00-09:00 KST: UTC instants, and the
    # city's wall clock in local_time (08:00 does not read 23:00 the day before)
    np.testing.assert_array_equal(
        ds["time"].values, np.array(["2026-06-16T23:00", "2026-06-17T00:00"], "datetime64[ns]")
    )
    np.testing.assert_array_equal(
        ds["local_time"].values,
        np.array(["2026-06-17T08:00", "2026-06-17T09:00"], "datetime64[ns]"),
    )
    for name in ("time", "local_time"):
        assert ds[name].attrs["utc_offset"] == "+09:00", name
    assert ds["time"].encoding["units"] == "seconds since 2026-06-17T07:00:00+09:00"
    for name, var in ds.data_vars.items():
        assert var.dims[0] == "time" and var.attrs["units"] and var.attrs["long_name"], name


def test_label_coordinates(store):
    roads, districts = plain(store, "city/roads"), plain(store, "city/districts")
    for group, dims in CITY_GROUPS.items():
        ds = plain(store, group)
        for dim in dims:
            np.testing.assert_array_equal(ds.indexes[dim], np.arange(ds.sizes[dim]), group)
    traffic, energy = plain(store, "state/traffic"), plain(store, "state/energy")
    xr.testing.assert_equal(traffic["link"], roads["link"])
    # signals are labelled by their node, detectors carry their link
    signalized = np.flatnonzero(roads["signalized"].values)
    np.testing.assert_array_equal(traffic["signal"].values, signalized)
    assert np.isin(traffic["detector_link"].values, roads["link"].values).all()
    assert energy.sizes["building"] == plain(store, "city/buildings").sizes["building"]
    np.testing.assert_array_equal(energy["district"], districts["district"])
    assert list(energy["district_name"].values) == list(districts["name"].values)
    # a label selects what the index numbering means: link 3's speeds
    np.testing.assert_array_equal(traffic["speed"].sel(link=3), traffic["speed"][:, 3])


def test_kpis_state_the_period_they_cover(store):
    kpi = plain(store, "kpi")
    assert kpi["time"].values == np.datetime64("2026-06-17T00:00")  # 09:00 KST, the end
    np.testing.assert_array_equal(
        kpi["time_bounds"].values,
        np.array(["2026-06-16T22:00", "2026-06-17T00:00"], "datetime64[ns]"),
    )
    assert set(kpi.coords) == {"time", "time_bounds"}
    assert all(var.attrs["units"] for var in kpi.data_vars.values())


def test_service_records_have_time_coordinates(store):
    records = plain(store, "services/alerts")
    assert "actions_time" in records.coords and "actions_kind" in records.data_vars
    # decisions at 07:00 and 08:00 KST (22:00 and 23:00 UTC)
    np.testing.assert_array_equal(
        records["actions_time"].values,
        np.array(["2026-06-16T22:00", "2026-06-16T23:00"], "datetime64[ns]"),
    )
    assert records["actions_time"].attrs["utc_offset"] == "+09:00"


def test_forcing_is_the_weather_that_drove_the_run(store, sc):
    forcing = plain(store, "forcing")
    assert forcing.sizes["time"] == sc.n_steps
    assert forcing["local_time"].values[0] == np.datetime64("2026-06-17T07:00")
    assert set(forcing.data_vars) == set(weather.FORCING)
    # the same forcing from the weather model itself, at each step's start
    times = utc64(sc.start) + np.arange(sc.n_steps) * np.timedelta64(60, "s")
    expected = run_weather(sc).at(times)
    for name, attrs in weather.FORCING.items():
        assert forcing[name].attrs["units"] == attrs["units"], name
        np.testing.assert_array_equal(forcing[name].values, expected[name], err_msg=name)
    np.testing.assert_array_equal(forcing["time"].values, times.astype("datetime64[ns]"))


def test_restart_data_is_hidden(store):
    root = plain(store, None)
    assert not root.data_vars
    tree = xr.open_datatree(store, engine="zarr")
    assert ".restart" in tree.children and "restart" not in tree.children
    assert ".restart" not in open_run(store).children
    assert set(open_run(store).children) == {"city", "state", "forcing", "kpi", "services"}


def test_resuming_drops_the_consolidated_metadata_until_finished(store, sc, tmp_path):
    copy = tmp_path / "copy.zarr"
    shutil.copytree(store, copy)
    rs = RunStore.open_for_resume(copy, sc.to_toml())
    assert "consolidated_metadata" not in json.loads((copy / "zarr.json").read_text())
    rs.finish()
    for group in GROUPS:
        plain(copy, group)


def test_a_store_without_the_hidden_restart_group_is_refused(store, sc, tmp_path):
    from twin.errors import InputError

    copy = tmp_path / "old.zarr"
    shutil.copytree(store, copy)
    (copy / ".restart").rename(copy / "restart")  # the layout before /.restart
    with pytest.raises(InputError, match=r"no \.restart group to resume from"):
        RunStore.open_for_resume(copy, sc.to_toml()).read_restart({})
