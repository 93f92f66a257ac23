"""Energy controls with every control active: balances, limits, deadlines, KPI sums.

Checked against what the code does not compute itself: conservation (what arrives is
delivered, still owed or left unserved; net = load + EV - PV), the limit a controller
set, the uncontrolled run of the same forcing, and sums of the per-step series.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest

from sim.energy import EnergyModel, ev, grid
from tests.helpers import assert_close
from tests.sim.energy_city import forcing_series, random_city
from twin.services.energy import DemandResponse, EvSmartCharging

QUARTER = 900.0


def sub_hourly(n_hours, step=QUARTER, start="2024-06-20T15:00"):
    """``step``-s forcing from the hourly series (each hour's weather held, clock moving).
    15:00 UTC is local midnight (UTC+9): whole local days."""
    return [
        f
        | {
            "time_utc": f["time_utc"] + np.timedelta64(int(q * step), "s"),
            "local_hour": (f["local_hour"] + q * step / 3600.0) % 24.0,
        }
        for f in forcing_series(n_hours, start=start)
        for q in range(int(3600 // step))
    ]


@pytest.fixture(scope="module")
def forcings():
    return sub_hourly(48)


@pytest.fixture(scope="module")
def city():
    return random_city(120, n_districts=3, seed=2, grid=False)


def _arrivals(rng, chargers):
    """Plug-ins of a quarter hour: up to 2 % of the chargers (so there are always free
    chargers, even overnight when the vehicles stay plugged)."""
    return rng.uniform(0.0, 0.02, chargers.shape) * chargers


def _run(city, forcings, control=None, seed=0):
    """Step the model with deadlines; ``control(i, model, state, forcing)`` may change
    the state before step ``i``. Returns the model and the per-step records."""
    rng = np.random.default_rng(seed)
    model = EnergyModel(ev_deadlines=True)
    state = model.init(city, np)
    rows = []
    for i, f in enumerate(forcings):
        if control is not None:
            state = control(i, model, state, f)
        f = f | {"ev_arrivals": _arrivals(rng, model.static["chargers"])}
        before = state
        state = model.step(state, f, QUARTER)
        rows.append({"forcing": f, "before": before, "after": state})
    return model, rows


def _random_controls(i, model, state, f):
    rng = np.random.default_rng(100 + i)
    if i % 4 == 0:  # new limits every hour, some tight, some none
        limits = rng.choice([0.0, 5.0, 50.0, np.inf], size=3)
        state = model.set_ev_limit(state, np.arange(3), limits)
        offsets = rng.uniform(-3.0, 3.0, state["setpoint_offset_c"].shape)
        state = model.set_setpoint_offset(state, np.arange(offsets.size), offsets)
    return state


@pytest.fixture(scope="module")
def controlled(city, forcings):
    return _run(city, forcings, _random_controls)


def test_energy_balance_with_every_control_active(controlled):
    model, rows = controlled
    dt_h = QUARTER / 3600.0
    districts = model.static["district"]
    arrived = delivered = unserved = 0.0
    for r in rows:
        s = r["after"]
        load_d = np.bincount(districts, s["electric_load"], 3)
        pv_d = np.bincount(districts, s["pv_power"], 3)
        # supply = demand at every district and for the city: net = load + EV - PV
        assert_close(s["net_load"], load_d + s["ev_charging_power"] - pv_d, rtol=1e-12, atol=1e-9)
        assert_close(s["net_load"].sum(), s["electric_load"].sum() + s["ev_charging_power"].sum()
                     - s["pv_power"].sum(), rtol=1e-12, atol=1e-9)  # fmt: skip
        arrived += r["forcing"]["ev_arrivals"].sum() * model.params.ev_session_energy_kwh
        delivered += s["ev_charging_power"].sum() * dt_h
        unserved += s["ev_unserved"].sum()
        assert_close(s["ev_backlog"], s["ev_owed"].sum(axis=1), rtol=1e-12, atol=1e-9)
    # EV energy: what arrived was delivered, is still owed, or left unserved (round-off)
    final = rows[-1]["after"]
    assert unserved > 0  # the zero limits left some vehicles short
    assert_close(delivered + final["ev_owed"].sum() + unserved, arrived, rtol=1e-12)
    assert_close(float(final["kpi_unserved_kwh"]), unserved, rtol=1e-12)


def test_a_charging_limit_is_never_exceeded(controlled):
    _, rows = controlled
    capped = 0
    for r in rows:
        limit, power = r["before"]["ev_limit_kw"], r["after"]["ev_charging_power"]
        # power is energy / dt of at most limit * dt: one rounding of each
        assert np.all(power <= limit * (1 + 1e-12))
        capped += np.sum(np.isfinite(limit) & (power >= limit * (1 - 1e-12)) & (limit > 0))
    assert capped > 0  # some limits did bind


def test_limits_only_shift_charging_and_every_shortfall_is_counted(city, forcings):
    """Without limits nothing is unserved here (dwells >= 3 h, enough chargers); with a
    zero limit all day the whole arrival is unserved or owed."""
    _, free = _run(city, forcings)
    assert sum(r["after"]["ev_unserved"].sum() for r in free) == 0.0
    _, blocked = _run(city, forcings, lambda i, m, s, f: m.set_ev_limit(s, np.arange(3), 0.0))
    arrived = sum(r["forcing"]["ev_arrivals"].sum() for r in blocked) * 15.0
    assert arrived > 0
    left = blocked[-1]["after"]
    assert not any(r["after"]["ev_charging_power"].any() for r in blocked)
    assert_close(sum(r["after"]["ev_unserved"].sum() for r in blocked) + left["ev_owed"].sum(),
                 arrived, rtol=1e-12)  # fmt: skip


def _smart(service):
    """Apply ``ev_smart_charging``'s limits each 15 minutes from what chargers report."""

    def control(i, model, state, f):
        t = np.datetime64(f["time_utc"], "s").astype(dt.datetime) + dt.timedelta(hours=9)
        ghi_next = f["ghi"]  # a perfect forecast of this hour
        obs = SimpleNamespace(
            time=t,
            chargers={"owed_by_departure": state["ev_owed"]},
            forecast={"ghi": np.array([ghi_next])},
        )
        return model.set_ev_limit(state, np.arange(3), service.limits(obs))

    return control


def test_smart_charging_never_leaves_an_ev_shorter_than_uncontrolled(city, forcings):
    service = EvSmartCharging()
    service.tariff, service.local, service.sent = grid.TOU_PRICE, lambda t: t, {}
    model, free = _run(city, forcings)
    _, smart = _run(city, forcings, _smart(service))
    for a, b in zip(free, smart, strict=True):
        # per district and departure: no more unserved than uncontrolled (round-off)
        assert np.all(b["after"]["ev_unserved"] <= a["after"]["ev_unserved"] + 1e-9)
    # the same energy reaches the vehicles, later and cheaper
    price = np.array([model._price(r["forcing"]["time_utc"], r["forcing"]["local_hour"])
                      for r in free])  # fmt: skip
    ev_free = np.array([r["after"]["ev_charging_power"].sum() for r in free])
    ev_smart = np.array([r["after"]["ev_charging_power"].sum() for r in smart])
    owed_end = smart[-1]["after"]["ev_owed"].sum() - free[-1]["after"]["ev_owed"].sum()
    assert_close(ev_smart.sum() * 0.25 + owed_end, ev_free.sum() * 0.25, rtol=1e-9)
    assert (ev_smart * price).sum() < (ev_free * price).sum()


def test_departure_slots_and_order():
    assert ev.departing(7.75, 900.0) == 8 and ev.departing(7.5, 900.0) is None
    assert ev.departing(23.75, 900.0) == 0
    assert list(ev.DEPARTURE_ORDER[7][:2]) == [8, 9] and ev.DEPARTURE_ORDER[7][-1] == 7
    assert set(ev.DEPARTURE_HOUR.tolist()) == {8, 18}
    with pytest.raises(ValueError, match="at most an hour"):
        ev.departing(0.0, 7200.0)


def test_discomfort_counts_degree_hours_outside_the_scheduled_band(city, forcings):
    """Relaxed setpoints (+3 K) in June: the zones sit above the cooling setpoint, and
    the KPI is the per-building mean of the degree-hours outside the schedule's band."""
    model = EnergyModel(ev_deadlines=True)
    state = model.init(city, np)
    state = model.set_setpoint_offset(state, np.arange(120), 3.0)
    expected = 0.0
    table = model.static["hourly"]
    for f in forcings[:96]:
        state = model.step(state, f, QUARTER)
        _, _, t_heat, t_cool = (row[model.static["use"]] for row in table[int(f["local_hour"])])
        t = state["indoor_temperature"]
        outside = np.maximum(t_heat - t, 0) + np.maximum(t - t_cool, 0)
        expected += outside.sum() * 0.25 / 120
    assert expected > 0
    assert_close(grid.kpis({k[4:]: v for k, v in state.items() if k.startswith("kpi_")},
                           model.static["capacity_kw"])["thermal_discomfort"], expected,
                 rtol=1e-12)  # fmt: skip


def test_hourly_carbon_intensity_weights_each_hour(city, forcings):
    hourly = np.linspace(0.3, 0.6, 24)
    model = EnergyModel(grid_co2_hourly_t_per_mwh=hourly)
    state = model.init(city, np)
    expected = 0.0
    for f in forcings[:96]:
        state = model.step(state, f, QUARTER)
        expected += max(state["net_load"].sum(), 0.0) * 0.25 / 1000 * hourly[int(f["local_hour"])]
    assert_close(model.kpis(state)["grid_co2_emissions"], expected, rtol=1e-12)
    with pytest.raises(ValueError, match="24 finite values"):
        EnergyModel(grid_co2_hourly_t_per_mwh=[0.4] * 23)


def _demand_response(service, forcings):
    """Apply ``demand_response``'s offsets each 15 minutes from the meters (every building
    metered) and a perfect hourly temperature forecast."""

    def control(i, model, state, f):
        t = np.datetime64(f["time_utc"], "s").astype(dt.datetime) + dt.timedelta(hours=9)
        ahead = [g["air_temperature"] for g in forcings[i + 4 : i + 4 * 25 : 4]]
        obs = SimpleNamespace(
            time=t,
            meters={"load": np.asarray(state["electric_load"], dtype=float)},
            forecast={"air_temperature": np.array(ahead)},
        )
        offsets = service.offsets(obs)
        buildings = np.arange(state["setpoint_offset_c"].shape[0])
        return model.set_setpoint_offset(state, buildings, offsets[model.static["district"]])

    return control


def _service(**options):
    """``demand_response`` set up as its ``reset`` would on this city (3 districts, the
    model's tariff, local time = the forcing's clock)."""
    service = DemandResponse(**options)
    service.tariff, service.local, service.sent = grid.TOU_PRICE, lambda t: t, {}
    service.districts = ["a", "b", "c"]
    service.highest, service.applied, service.plan = [0.0] * 3, [0.0] * 3, []
    return service


def test_demand_response_cuts_the_june_peak_within_the_comfort_bound(city, forcings):
    """Against no demand response (the same forcing and EV arrivals): the city's peak net
    load over the two June days is lower, also counting the recovery after each window
    and the next morning's start-up (the rebound), and no offset passes the 3 K bound.
    The uncontrolled peak is 18.8 MW at 14 h of the second day; the controlled one, the
    recovery's tail at 11 h the next morning (17.7 MW), 6 % lower: the 2 % margin is far
    above the round-off of the sums and below what the rule saves."""
    service = _service(every=QUARTER)
    model, free = _run(city, forcings)
    service.meter_district = model.static["district"]
    _, dr = _run(city, forcings, _demand_response(service, forcings))
    net_free = np.array([r["after"]["net_load"].sum() for r in free])
    net_dr = np.array([r["after"]["net_load"].sum() for r in dr])
    offsets = np.array([r["after"]["setpoint_offset_c"] for r in dr])
    assert np.abs(offsets).max() <= 3.0 and offsets.max() == 3.0  # relaxed to the bound
    assert net_dr.max() < 0.98 * net_free.max()
    # recovering one district at a time from the window's end (19 h): 20 quarter hours
    # to midnight, each one district's turn to move 0.125 K (0.5 K h-1), round-robin
    districts = model.static["district"]
    left = np.array([offsets[-1][districts == d][0] for d in range(3)])
    assert_close(np.sort(left), [2.125, 2.125, 2.25], rtol=1e-9)
    more = np.diff(offsets, axis=0) < 0  # never two districts towards more cooling at once
    assert max(len(set(districts[row].tolist())) for row in more) == 1


def test_demand_response_recovery_makes_no_new_per_step_peak(city):
    """The demo city's June rebound on the test city: 60-s decisions from 15-min meter
    means (the runner's meters, ``twin.services.sensors``), offsets applied as the
    service's actions, a window ending 1 h after the forecast peak (the recovery starts
    while the afternoon load is still high). With every district recovering at once and
    the offsets sent in steps of 1 % (the previous rule) the per-step peak was 2.1 %
    above the uncontrolled one (19.25 against 18.85 MW, 18 h of the second day); the
    staggered recovery keeps it 10 % below (17.0 MW). Asserted: not above the
    uncontrolled peak at all (the KPI takes the per-step maximum)."""
    step, meter_steps = 60.0, 15
    forcings = sub_hourly(48, step)

    def net_load(service=None):
        rng = np.random.default_rng(0)
        model = EnergyModel(ev_deadlines=True)
        state = model.init(city, np)
        district = model.static["district"]
        summed, reading, net = 0.0, np.asarray(state["electric_load"], dtype=float), []
        for i, f in enumerate(forcings):
            if service is not None:
                t = np.datetime64(f["time_utc"], "s").astype(dt.datetime) + dt.timedelta(hours=9)
                ahead = [g["air_temperature"] for g in forcings[i + 60 : i + 60 * 25 : 60]]
                obs = SimpleNamespace(time=t, meters={"load": reading},
                                      forecast={"air_temperature": np.array(ahead)})  # fmt: skip
                service.meter_district = district
                for action in service.decide(obs):
                    where = np.flatnonzero(district == service.districts.index(action.target))
                    state = model.set_setpoint_offset(
                        state, where, np.full(where.size, action.delta_degC)
                    )
            arrivals = rng.uniform(0.0, 0.02 * step / QUARTER, model.static["chargers"].shape)
            f = f | {"ev_arrivals": arrivals * model.static["chargers"]}
            state = model.step(state, f, step)
            summed = summed + np.asarray(state["electric_load"], dtype=float)
            if (i + 1) % meter_steps == 0:
                reading, summed = summed / meter_steps, 0.0
            net.append(float(state["net_load"].sum()))
        return np.array(net)

    free, dr = net_load(), net_load(_service(after_h=1.0))
    assert dr.max() <= free.max()
