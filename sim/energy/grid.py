"""District feeder loads: KPIs from load series and a per-step accumulator for long runs.

Sign convention: ``net = load + ev - pv`` per district [kW]; positive is drawn from the
upstream grid. City-level KPIs use the sum over districts (a district's PV surplus serves
the others through the distribution grid before anything is exported).

Korean parameters (both approximate; update them from the sources when they change):

- ``CO2_T_PER_MWH = 0.4594``: national electricity consumption emission factor
  [tCO2eq MWh-1] published by the Greenhouse Gas Inventory and Research Center of Korea
  (GIR) for corporate reporting (value approved in 2022).
- ``TOU_PRICE``: KEPCO time-of-use energy charges [KRW kWh-1] of "Industrial service (A) II,
  high voltage A, option I" effective 2024-10-24 (light / mid / peak: summer 95.7 / 121.5 /
  155.0, spring and autumn 95.7 / 100.5 / 119.7, winter 103.1 / 120.0 / 149.4), with KEPCO's
  time periods (light 23-09 h all year; peak 10-12 and 13-17 h in summer, spring and
  autumn, 10-12, 17-20 and 22-23 h in winter; mid otherwise). Demand charges, the climate
  and environment charge, fuel-cost adjustment and taxes are left out.
  Sources: KEPCO English tariff pages (home.kepco.co.kr, "Electricity Tariff Structure")
  and the KEPCO rate table reproduced by its retailers (e.g. cncityenergy.com, 2024).
"""

from __future__ import annotations

import numpy as np

import gpu
from sim.protocol import Var

CO2_T_PER_MWH = 0.4594

# Season of each month (0 summer Jun-Aug, 1 spring/autumn Mar-May and Sep-Oct, 2 winter).
_SEASON = (2, 2, 1, 1, 1, 0, 0, 0, 1, 1, 2, 2)
_PRICES = ((95.7, 121.5, 155.0), (95.7, 100.5, 119.7), (103.1, 120.0, 149.4))
_PEAK_HOURS = ({10, 11, 13, 14, 15, 16}, {10, 11, 13, 14, 15, 16}, {10, 11, 17, 18, 19, 22})
_LIGHT_HOURS = {23, 0, 1, 2, 3, 4, 5, 6, 7, 8}


def _tou_table() -> np.ndarray:
    table = np.empty((12, 24))
    for m, season in enumerate(_SEASON):
        for h in range(24):
            period = 0 if h in _LIGHT_HOURS else 2 if h in _PEAK_HOURS[season] else 1
            table[m, h] = _PRICES[season][period]
    return table


TOU_PRICE = _tou_table()  # KRW kWh-1, indexed [month - 1, local hour]

KPI_ATTRS = {
    "energy_use": {"units": "MWh", "long_name": "electricity demand incl. EV charging"},
    "pv_generation": {"units": "MWh", "long_name": "rooftop PV generation"},
    "grid_import": {"units": "MWh", "long_name": "city net electricity drawn from the grid"},
    "peak_load": {"units": "MW", "long_name": "peak city net load"},
    "load_factor": {"units": "1", "long_name": "mean over peak city net load"},
    "max_ramp_rate": {
        "units": "MW h-1",
        "long_name": "largest change of city net load between consecutive hours",
    },
    "pv_self_consumption": {"units": "1", "long_name": "share of PV used in its own district"},
    "transformer_utilization": {
        "units": "1",
        "long_name": "highest district peak |net load| over feeder capacity",
    },
    "grid_co2_emissions": {
        "units": "t",
        "long_name": "CO2 of the electricity drawn from the grid",
    },
    "electricity_cost": {"units": "KRW", "long_name": "time-of-use energy charge of the import"},
    "daily_peak_load": {"units": "MW", "long_name": "mean over days of the daily peak net load"},
    "ramping": {
        "units": "MW",
        "long_name": "sum of the changes of city net load between consecutive hours",
    },
    "daily_one_minus_load_factor": {
        "units": "1",
        "long_name": "mean over days of 1 - daily mean / daily peak city net load",
    },
    "pv_self_sufficiency": {"units": "1", "long_name": "share of demand met by PV in its district"},
    "ev_unserved_energy": {
        "units": "MWh",
        "long_name": "EV energy still owed when the vehicles left (ev_deadlines)",
    },
    "thermal_discomfort": {
        "units": "K h",
        "long_name": "mean per building of degree-hours outside the scheduled setpoint band",
    },
}


# --------------------------------------------------------------- whole series (time, district)


def peak_load(net_kw):
    """Peak of the city net load [kW] from a (time, district) series."""
    return net_kw.sum(axis=1).max()


def load_factor(net_kw):
    """Mean over peak of the city net load [1] (equal steps)."""
    total = net_kw.sum(axis=1)
    return total.mean() / total.max()


def ramp_block(dt_s) -> int:
    """Steps per ramp block: an hour's worth (one step when steps are an hour or longer).

    Ramps compare consecutive hourly means, not consecutive steps: at minute steps a
    schedule switch would otherwise read as a ramp sixty times its hourly size."""
    return max(1, round(3600.0 / dt_s))


def hourly_means(net_kw, dt_s):
    """City net load [kW] averaged over whole hourly blocks (see :func:`ramp_block`)."""
    block = ramp_block(dt_s)
    total = net_kw.sum(axis=1)
    n = total.shape[0] // block
    return total[: n * block].reshape(n, block).mean(axis=1)


def ramping(net_kw, dt_s):
    """Sum of the absolute changes of the hourly mean city net load [kW] (CityLearn's
    ramping, on hourly means)."""
    xp = gpu.array_namespace(net_kw)
    return xp.abs(xp.diff(hourly_means(net_kw, dt_s))).sum()


def daily(net_kw, dt_s):
    """Per day (blocks of a day's steps from the start; a last partial day counts too):
    ``(peak [kW], 1 - mean / peak [1])`` of the city net load."""
    xp = gpu.array_namespace(net_kw)
    total = net_kw.sum(axis=1)
    per_day = max(1, round(86400.0 / dt_s))
    days = [total[i : i + per_day] for i in range(0, total.shape[0], per_day)]
    peak = xp.asarray([d.max() for d in days])
    return peak, _gap(xp.asarray([d.mean() for d in days]), peak)


def max_ramp_rate(net_kw, dt_s):
    """Largest change of the city net load between consecutive hourly means [kW h-1]."""
    xp = gpu.array_namespace(net_kw)
    means = hourly_means(net_kw, dt_s)
    return xp.abs(xp.diff(means)).max() / (ramp_block(dt_s) * dt_s / 3600.0)


def pv_self_consumption(load_kw, pv_kw):
    """Share of PV energy consumed within its own district [1]; ``load`` includes EVs."""
    xp = gpu.array_namespace(load_kw, pv_kw)
    return xp.minimum(load_kw, pv_kw).sum() / pv_kw.sum()


def transformer_utilization(net_kw, capacity_kw):
    """Per district, peak absolute net load over feeder capacity [1]."""
    xp = gpu.array_namespace(net_kw, capacity_kw)
    return xp.abs(net_kw).max(axis=0) / capacity_kw


def co2_emissions(net_kw, dt_s, t_per_mwh=CO2_T_PER_MWH):
    """CO2 [t] of the city's positive net load; exports earn no credit."""
    xp = gpu.array_namespace(net_kw)
    return xp.maximum(net_kw.sum(axis=1), 0.0).sum() * dt_s / 3.6e6 * t_per_mwh


def energy_cost(net_kw, dt_s, price_krw_per_kwh):
    """Energy charge [KRW] of the city's positive net load at a per-step price (time,)."""
    xp = gpu.array_namespace(net_kw, price_krw_per_kwh)
    return (xp.maximum(net_kw.sum(axis=1), 0.0) * price_krw_per_kwh).sum() * dt_s / 3600.0


# --------------------------------------------------------------- running accumulator

_SCALARS = (
    "steps", "hours", "load_kwh", "pv_kwh", "pv_used_kwh", "import_kwh", "net_kwh", "peak_kw",
    "max_ramp_kw_per_h", "block_kwh", "block_steps", "blocks", "last_block_kw", "co2_t",
    "cost_krw", "ramping_kw", "day_kwh", "day_steps", "day_peak_kw", "days", "day_peak_sum_kw",
    "day_lf_gap_sum", "discomfort_kh", "unserved_kwh",
)  # fmt: skip


_UNITS = {"steps": "1", "hours": "h", "peak_kw": "kW", "max_ramp_kw_per_h": "kW h-1",
          "block_steps": "1", "blocks": "1", "last_block_kw": "kW", "co2_t": "t",
          "cost_krw": "KRW", "ramping_kw": "kW", "day_steps": "1", "day_peak_kw": "kW",
          "days": "1", "day_peak_sum_kw": "kW", "day_lf_gap_sum": "1",
          "discomfort_kh": "K h"}  # fmt: skip
ACCUMULATOR = {  # the running sums, for the energy model's STATE table
    **{
        name: Var((), "float64", _UNITS.get(name, "kW h"), f"running KPI sum {name}")
        for name in _SCALARS
    },
    "district_peak_kw": Var(("district",), "float64", "kW", "peak |net load| per district"),
}


def accumulator(n_districts, xp):
    """Empty running KPI sums: a flat dict of ``xp`` arrays (0-d, and (district,))."""
    acc = {name: xp.zeros((), dtype=xp.float64) for name in _SCALARS}
    acc["peak_kw"] = xp.full((), -xp.inf)
    acc["day_peak_kw"] = xp.full((), -xp.inf)
    acc["district_peak_kw"] = xp.zeros(n_districts, dtype=xp.float64)
    return acc


def accumulate(
    acc, load_kw, pv_kw, dt_s, price_krw_per_kwh, t_per_mwh=CO2_T_PER_MWH, discomfort_kh=0.0,
    unserved_kwh=0.0,
):  # fmt: skip
    """Add one step to the running sums; returns a new dict (inputs untouched).

    Parameters
    ----------
    acc : dict from :func:`accumulator`.
    load_kw, pv_kw : arrays (district,) [kW], demand including EV charging, and PV.
    dt_s : float [s], step length.
    price_krw_per_kwh : float [KRW kWh-1], tariff for this step (e.g. ``TOU_PRICE``).
    t_per_mwh : float [t MWh-1], grid emission factor of this step.
    discomfort_kh : [K h], degree-hours outside the comfort band this step (per building).
    unserved_kwh : [kWh], EV energy owed to vehicles that left this step.

    Days are blocks of a day's steps from the start of the run (local days when the run
    starts at local midnight).
    """
    xp = gpu.array_namespace(load_kw, pv_kw)
    dt_h = dt_s / 3600.0
    net = load_kw - pv_kw
    total = net.sum()
    imported = xp.maximum(total, 0.0)
    # hourly blocks (see ramp_block): close a block when it holds an hour of steps
    block = ramp_block(dt_s)
    block_kwh = acc["block_kwh"] + total * dt_h
    full = acc["block_steps"] + 1.0 >= block
    mean_kw = block_kwh / (block * dt_h)
    ramp = xp.where(
        full & (acc["blocks"] > 0), xp.abs(mean_kw - acc["last_block_kw"]) / (block * dt_h), 0.0
    )
    day_kwh = acc["day_kwh"] + total * dt_h
    day_peak = xp.maximum(acc["day_peak_kw"], total)
    day_done = acc["day_steps"] + 1.0 >= max(1, round(86400.0 / dt_s))
    day_mean = day_kwh / ((acc["day_steps"] + 1.0) * dt_h)
    return {
        "steps": acc["steps"] + 1.0,
        "hours": acc["hours"] + dt_h,
        "load_kwh": acc["load_kwh"] + load_kw.sum() * dt_h,
        "pv_kwh": acc["pv_kwh"] + pv_kw.sum() * dt_h,
        "pv_used_kwh": acc["pv_used_kwh"] + xp.minimum(load_kw, pv_kw).sum() * dt_h,
        "import_kwh": acc["import_kwh"] + imported * dt_h,
        "net_kwh": acc["net_kwh"] + total * dt_h,
        "peak_kw": xp.maximum(acc["peak_kw"], total),
        "max_ramp_kw_per_h": xp.maximum(acc["max_ramp_kw_per_h"], ramp),
        "block_kwh": xp.where(full, 0.0, block_kwh),
        "block_steps": xp.where(full, 0.0, acc["block_steps"] + 1.0),
        "blocks": acc["blocks"] + xp.where(full, 1.0, 0.0),
        "last_block_kw": xp.where(full, mean_kw, acc["last_block_kw"]),
        "co2_t": acc["co2_t"] + imported * dt_h / 1000.0 * t_per_mwh,
        "cost_krw": acc["cost_krw"] + imported * dt_h * price_krw_per_kwh,
        "district_peak_kw": xp.maximum(acc["district_peak_kw"], xp.abs(net)),
        "ramping_kw": acc["ramping_kw"] + ramp * (block * dt_h),
        "day_kwh": xp.where(day_done, 0.0, day_kwh),
        "day_steps": xp.where(day_done, 0.0, acc["day_steps"] + 1.0),
        "day_peak_kw": xp.where(day_done, -xp.inf, day_peak),
        "days": acc["days"] + xp.where(day_done, 1.0, 0.0),
        "day_peak_sum_kw": acc["day_peak_sum_kw"] + xp.where(day_done, day_peak, 0.0),
        "day_lf_gap_sum": acc["day_lf_gap_sum"] + xp.where(day_done, _gap(day_mean, day_peak), 0.0),
        "discomfort_kh": acc["discomfort_kh"] + discomfort_kh,
        "unserved_kwh": acc["unserved_kwh"] + unserved_kwh,
    }


def _gap(mean, peak):
    """1 - mean / peak, 0 for a day without a positive peak (a net exporter all day)."""
    xp = gpu.array_namespace(mean, peak)
    return xp.where(peak > 0, 1.0 - mean / xp.where(peak > 0, peak, 1.0), 0.0)


def kpis(acc, capacity_kw):
    """Scalar KPIs (names and units in ``KPI_ATTRS``) from the running sums, as floats.

    ``capacity_kw`` (district,) [kW] is the feeder/transformer rating of each district.
    """
    host = {k: gpu.to_host(v) for k, v in acc.items()}
    peak = float(host["peak_kw"])
    mean = float(host["net_kwh"]) / float(host["hours"]) if host["hours"] > 0 else float("nan")
    pv = float(host["pv_kwh"])
    # the open (partial) day counts as a day
    days, day_peaks, gaps = (float(host[k]) for k in ("days", "day_peak_sum_kw", "day_lf_gap_sum"))
    if host["day_steps"] > 0:
        dt_h = float(host["hours"]) / float(host["steps"])
        open_mean = float(host["day_kwh"]) / (float(host["day_steps"]) * dt_h)
        open_peak = float(host["day_peak_kw"])
        days, day_peaks = days + 1, day_peaks + open_peak
        gaps += float(_gap(np.float64(open_mean), np.float64(open_peak)))
    load = float(host["load_kwh"])
    return {
        "energy_use": float(host["load_kwh"]) / 1000.0,
        "pv_generation": pv / 1000.0,
        "grid_import": float(host["import_kwh"]) / 1000.0,
        "peak_load": peak / 1000.0,
        "load_factor": mean / peak if peak > 0 else float("nan"),
        "max_ramp_rate": float(host["max_ramp_kw_per_h"]) / 1000.0,
        "pv_self_consumption": float(host["pv_used_kwh"]) / pv if pv > 0 else float("nan"),
        "transformer_utilization": float(
            np.max(host["district_peak_kw"] / gpu.to_host(capacity_kw))
        ),
        "grid_co2_emissions": float(host["co2_t"]),
        "electricity_cost": float(host["cost_krw"]),
        "daily_peak_load": day_peaks / days / 1000.0 if days else float("nan"),
        "ramping": float(host["ramping_kw"]) / 1000.0,
        "daily_one_minus_load_factor": gaps / days if days else float("nan"),
        "pv_self_sufficiency": float(host["pv_used_kwh"]) / load if load > 0 else float("nan"),
        "ev_unserved_energy": float(host["unserved_kwh"]) / 1000.0,
        "thermal_discomfort": float(host["discomfort_kh"]),
    }
