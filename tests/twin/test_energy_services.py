"""The energy and air built-ins in a coupled run, and the run KPIs recomputed from the
stored time series (no hidden double counting), tariff and carbon files, evaluate's ratio."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import zarr

from sim.energy import EnergyModel, grid, thermal
from tests.helpers import assert_close
from twin.errors import InputError
from twin.evaluation import Evaluation, paired_table
from twin.kpi import ALERT_HOURS, KPIS, PM25_BAD_UGM3
from twin.runner import run
from twin.services.air import Pm25Alerts
from twin.services.base import BUILTINS
from twin.services.energy import DemandResponse, EvSmartCharging
from twin.tariffs import read_carbon, read_tariff
from twin.testing import scenario

START = "2027-01-13T09:00:00+09:00"  # the winter peak tariff period starts at 10:00


@pytest.fixture(scope="module")
def controlled(tmp_path_factory):
    """Three hours with every energy control and alerts active, every step stored."""
    sc = scenario(
        3,
        start=START,
        output_interval="60s",
        energy={"ev_deadlines": True},
        # a PM2.5 background at the bad band: the city's own increment decides
        air={"species": ["pm25", "nox"], "background_ugm3": {"pm25": 35.0, "nox": 25.0}},
    )
    path = tmp_path_factory.mktemp("energy") / "run.zarr"
    result = run(sc, path, services=[EvSmartCharging(), DemandResponse(), Pm25Alerts()])
    return sc, result, zarr.open_group(str(path), mode="r")


def test_the_builtins_act_and_none_fails(controlled):
    _, result, g = controlled
    assert float(result.kpis["failed_services"]) == 0
    kinds = {
        name: set(g[f"services/{name}/actions_kind"][...].tolist())
        for name in ("ev_smart_charging", "demand_response", "pm25_alerts")
    }
    assert kinds == {
        "ev_smart_charging": {"ChargingLimit"},
        "demand_response": {"SetpointOffset"},
        "pm25_alerts": {"Alert"},
    }
    offsets = [float(v.split(": ")[1].rstrip("}"))
               for v in g["services/demand_response/actions_value"][...]]  # fmt: skip
    # a winter morning: heating relaxed (setpoints lowered) within the 3 K bound
    assert max(abs(o) for o in offsets) <= 3.0 and min(offsets) < 0


def test_kpis_equal_a_direct_computation_from_the_stored_series(controlled):
    """Every energy and alert KPI from the stored per-step series (float32 in the store:
    relative 1e-5; alerts 1e-3, where a cell within float32 round-off of the threshold
    could flip)."""
    sc, result, g = controlled
    k = {n: float(v) for n, v in result.kpis.data_vars.items()}
    stored = ("net_load", "electric_load", "pv_power", "ev_charging_power", "indoor_temperature")
    e = {n: g[f"state/energy/{n}"][...].astype(np.float64) for n in stored}
    district = g["city/buildings/district"][...].astype(np.int64)
    use = g["city/buildings/use"][...].astype(np.int64)
    n_d = e["net_load"].shape[1]
    dt_s, steps = sc.step.total_seconds(), e["net_load"].shape[0]
    assert steps == sc.n_steps
    load = np.stack([np.bincount(district, row, n_d) for row in e["electric_load"]])
    load += e["ev_charging_power"]
    pv = np.stack([np.bincount(district, row, n_d) for row in e["pv_power"]])
    assert_close(e["net_load"], load - pv, rtol=1e-5, atol=1e-3)  # balance, in the store too
    net = load - pv
    local = [sc.start + i * sc.step for i in range(steps)]
    model = EnergyModel()
    price = np.array([model._price(np.datetime64(t.astimezone(dt.UTC).replace(tzinfo=None)),
                                   t.hour + t.minute / 60) for t in local])  # fmt: skip
    p = model.params
    table = thermal.hourly_use_table(
        p.heating_setpoint_c, p.cooling_setpoint_c, p.heating_setback_c, p.cooling_setback_c
    )
    band = np.array([[table[t.hour][2][use], table[t.hour][3][use]] for t in local])
    temp = e["indoor_temperature"]
    outside = np.maximum(band[:, 0] - temp, 0) + np.maximum(temp - band[:, 1], 0)
    hours = dt_s / 3600.0
    expected = {
        "energy_use": load.sum() * hours / 1000,
        "pv_generation": pv.sum() * hours / 1000,
        "grid_import": np.maximum(net.sum(axis=1), 0).sum() * hours / 1000,
        "peak_load": grid.peak_load(net) / 1000,
        "load_factor": grid.load_factor(net),
        "max_ramp_rate": grid.max_ramp_rate(net, dt_s) / 1000,
        "ramping": grid.ramping(net, dt_s) / 1000,
        "daily_peak_load": grid.daily(net, dt_s)[0].mean() / 1000,
        "daily_one_minus_load_factor": grid.daily(net, dt_s)[1].mean(),
        "pv_self_consumption": grid.pv_self_consumption(load, pv),
        "pv_self_sufficiency": np.minimum(load, pv).sum() / load.sum(),
        "grid_co2_emissions": grid.co2_emissions(net, dt_s),
        "electricity_cost": grid.energy_cost(net, dt_s, price),
        "thermal_discomfort": outside.sum() * hours / temp.shape[1],
    }
    assert expected["thermal_discomfort"] > 0 and expected["max_ramp_rate"] > 0
    for name, value in expected.items():
        assert_close(k[name], value, rtol=1e-5, err_msg=name)
    assert k["ev_unserved_energy"] == 0.0  # no departure in the window, no shortfall

    # alerts: active from each Alert's decision for ALERT_HOURS, over its district(s)
    pm = g["state/air/pm25"][...].astype(np.float64)
    pop = g["city/grid/population"][...].astype(np.float64)
    cell_district = g["city/grid/district"][...].astype(np.int64)
    names = [str(n) for n in g["city/districts/name"][...]]
    grp = g["services/pm25_alerts"]
    issued = list(zip(grp["actions_time"][...], grp["actions_target"][...], strict=True))
    assert issued
    exposed = warned = hit = 0.0
    for i in range(steps):
        t = i * dt_s
        on = np.zeros(len(names), bool)
        for when, area in issued:
            if when <= t < when + ALERT_HOURS * 3600:
                on[:] |= area == "city"
                if area != "city":
                    on[names.index(str(area))] = True
        warn = on[cell_district]
        above = pm[i] > PM25_BAD_UGM3
        exposed += (pop * above).sum() * hours
        warned += (pop * warn).sum() * hours
        hit += (pop * (above & warn)).sum() * hours
    assert exposed > 0 and warned > 0
    alerts = {
        "pm25_person_hours_warned": hit,
        "pm25_person_hours_not_warned": exposed - hit,
        "pm25_person_hours_false_alarm": warned - hit,
        "pm25_alert_hit_rate": hit / exposed,
        "pm25_alert_false_alarm_ratio": (warned - hit) / warned,
    }
    for name, value in alerts.items():
        assert_close(k[name], value, rtol=1e-3, atol=1e-6, err_msg=name)


def test_every_new_kpi_is_in_the_one_table():
    for name in ("daily_peak_load", "ramping", "daily_one_minus_load_factor",
                 "pv_self_sufficiency", "ev_unserved_energy", "thermal_discomfort",
                 "pm25_alert_hit_rate", "pm25_alert_false_alarm_ratio",
                 "pm25_person_hours_warned", "pm25_person_hours_not_warned",
                 "pm25_person_hours_false_alarm"):  # fmt: skip
        assert KPIS[name].better in ("lower", "higher"), name
    for name in ("ev_smart_charging", "uncontrolled_charging", "demand_response",
                 "no_demand_response", "pm25_alerts", "pm25_persistence", "no_alerts"):  # fmt: skip
        assert name in BUILTINS


def test_tariff_and_carbon_files(tmp_path):
    hourly = tmp_path / "tou.csv"
    hourly.write_text("# flat but a cheap night\nhour,price_krw_per_kwh\n"
                      + "".join(f"{h},{50 if h < 6 else 100}\n" for h in range(24)))  # fmt: skip
    table = read_tariff(hourly)
    assert table.shape == (12, 24) and table[5, 3] == 50 and table[11, 12] == 100
    monthly = tmp_path / "monthly.csv"
    monthly.write_text("month,hour,price_krw_per_kwh\n"
                       + "".join(f"{m},{h},{m * 10 + h}\n" for m in range(1, 13)
                                 for h in range(24)))  # fmt: skip
    assert read_tariff(monthly)[11, 23] == 143
    carbon = tmp_path / "co2.csv"
    carbon.write_text("hour,co2_t_per_mwh\n" + "".join(f"{h},0.4\n" for h in range(24)))
    assert np.all(read_carbon(carbon) == 0.4)
    bad = tmp_path / "bad.csv"
    bad.write_text("hour,price_krw_per_kwh\n0,abc\n")
    with pytest.raises(InputError, match=r"bad.csv: row 2, column 'price_krw_per_kwh'"):
        read_tariff(bad)
    bad.write_text("hour,price\n0,1\n")
    with pytest.raises(InputError, match="lacks column"):
        read_tariff(bad)
    bad.write_text("hour,co2_t_per_mwh\n0,0.4\n")
    with pytest.raises(InputError, match=r"every hour 0\.\.23"):
        read_carbon(bad)


def test_a_scenario_tariff_file_prices_the_run(tmp_path):
    flat = tmp_path / "flat.csv"
    flat.write_text("hour,price_krw_per_kwh\n" + "".join(f"{h},100\n" for h in range(24)))
    sc = scenario(1, energy={"tariff_csv": str(flat)})
    result = run(sc, tmp_path / "flat.zarr")
    import_kwh = float(result.kpis["grid_import"]) * 1000
    assert_close(float(result.kpis["electricity_cost"]), 100 * import_kwh, rtol=1e-12)


def test_evaluation_shows_the_ratio_beside_the_difference():
    import xarray as xr

    members = xr.Dataset(
        {"peak_load": (("arm", "seed"), [[10.0, 12.0], [9.0, 10.8]], {"units": "MW",
                                                                      "better": "lower"})},
        coords={"arm": ["baseline", "service"], "seed": [0, 1]},
    )  # fmt: skip
    table = paired_table(members)
    assert_close(float(table["peak_load"].sel(stat="ratio")), 0.9, rtol=1e-12)
    text = repr(Evaluation("s", "b", members, table))
    assert "ratio 0.900" in text and "-1.1" in text
