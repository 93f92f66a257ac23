"""Score the energy and air built-ins against their baselines over seeds (issue 17).

``ev_smart_charging`` against ``uncontrolled_charging``, ``demand_response`` against
``no_demand_response`` and ``pm25_alerts`` against ``pm25_persistence``, on a June and a
winter day, with the pairing of :func:`twin.evaluate` (:func:`twin.evaluation.
member_scenario` per seed, :func:`twin.evaluation.paired_table` for means, paired
differences, 95 % t intervals and control/no-control ratios).

Three runs per seed and season instead of six: alerts change no physics (they are scored
by the KPI model) and the EV limits change neither PM2.5 nor the buildings, so the
persistence alerts ride in the uncontrolled arm, ``pm25_alerts`` in the smart-charging
arm, and the uncontrolled arm is also the no-demand-response arm (both baselines take no
action at all: the runs would be identical).

Usage: ``python bench/energy_services.py [--seeds 5] [--hours 24] [--out DIR]``; each
run's KPIs go to ``DIR/<season>/<arm>-seed<k>.json`` as they finish (a rerun skips the
runs it has), then the tables are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import xarray as xr

from twin.evaluation import member_scenario, paired_table
from twin.kpi import KPIS
from twin.runner import run
from twin.services.air import Pm25Alerts, Pm25Persistence
from twin.services.energy import DemandResponse, EvSmartCharging, UncontrolledCharging
from twin.testing import scenario

ARMS = {
    "baseline": lambda: [UncontrolledCharging(), Pm25Persistence()],
    "smart": lambda: [EvSmartCharging(), Pm25Alerts()],
    "dr": lambda: [DemandResponse()],
}
SEASONS = {
    # season: start, PM2.5/NOx backgrounds [ug m-3], arms run. June and winter have the
    # backgrounds of scenarios/june_weekday.toml and scenarios/winter_day.toml; "haze" is
    # the winter day at a PM2.5 background at the top of the moderate band (35 ug m-3): the
    # city's own emissions decide which cells exceed it (for the alert services only).
    "june": ("2026-06-17T00:00:00+09:00", {"pm25": 15.0, "nox": 25.0}, tuple(ARMS)),
    "winter": ("2027-01-13T00:00:00+09:00", {"pm25": 28.0, "nox": 35.0}, tuple(ARMS)),
    "haze": ("2027-01-13T00:00:00+09:00", {"pm25": 35.0, "nox": 35.0}, ("baseline", "smart")),
}
COMPARISONS = (
    ("ev_smart_charging", "uncontrolled_charging", "smart", "baseline",
     ("pv_self_consumption", "pv_self_sufficiency", "peak_load", "daily_peak_load",
      "ramping", "daily_one_minus_load_factor", "electricity_cost", "grid_co2_emissions",
      "ev_unserved_energy")),
    ("demand_response", "no_demand_response", "dr", "baseline",
     ("peak_load", "daily_peak_load", "ramping", "thermal_discomfort", "electricity_cost",
      "energy_use", "grid_co2_emissions")),
    ("pm25_alerts", "pm25_persistence", "smart", "baseline",
     ("pm25_alert_hit_rate", "pm25_alert_false_alarm_ratio", "pm25_person_hours_warned",
      "pm25_person_hours_not_warned", "pm25_person_hours_false_alarm")),
)  # fmt: skip


def season_scenario(season: str, hours: float):
    start, background, _ = SEASONS[season]
    return scenario(
        hours,
        start=start,
        name=f"energy-services-{season}",
        energy={"ev_deadlines": True},
        air={"species": ["pm25", "nox"], "background_ugm3": background},
    )


def run_all(out: Path, seeds: int, hours: float) -> None:
    for season in SEASONS:
        base = season_scenario(season, hours)
        for seed in range(seeds):
            sc = member_scenario(base, seed)
            for arm in SEASONS[season][2]:
                make = ARMS[arm]
                path = out / season / f"{arm}-seed{seed}.json"
                if path.exists():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                t0 = time.perf_counter()
                store = out / "stores" / f"{season}-{arm}-seed{seed}.zarr"
                result = run(sc, store, services=make())
                kpis = {k: float(v) for k, v in result.kpis.data_vars.items()}
                path.write_text(json.dumps(kpis, indent=1))
                print(f"{season} {arm} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)


def _alert_ratios(kpis: dict) -> dict:
    """The alert ratios from the person-hours, as :class:`twin.kpi.KpiModel` defines them
    (1 and 0 without events or alerts; runs stored before that convention hold NaN)."""
    hit, missed = kpis["pm25_person_hours_warned"], kpis["pm25_person_hours_not_warned"]
    false = kpis["pm25_person_hours_false_alarm"]
    return kpis | {
        "pm25_alert_hit_rate": hit / (hit + missed) if hit + missed > 0 else 1.0,
        "pm25_alert_false_alarm_ratio": false / (hit + false) if hit + false > 0 else 0.0,
    }


def tables(out: Path, seeds: int) -> str:
    lines = []
    for season in SEASONS:
        for service, baseline, arm, base_arm, names in COMPARISONS:
            if arm not in SEASONS[season][2] or (season == "haze" and service != "pm25_alerts"):
                continue
            rows = {a: [] for a in (base_arm, arm)}
            for a in rows:
                for seed in range(seeds):
                    path = out / season / f"{a}-seed{seed}.json"
                    rows[a].append(_alert_ratios(json.loads(path.read_text())))
            members = xr.Dataset(
                {
                    n: (
                        ("arm", "seed"),
                        np.array([[r[n] for r in rows[a]] for a in (base_arm, arm)]),
                        {"units": KPIS[n].units, "better": KPIS[n].better},
                    )
                    for n in names
                },
                coords={"arm": ["baseline", "service"], "seed": np.arange(seeds)},
            )
            table = paired_table(members)
            lines += [
                f"\n**{season}: {service} against {baseline}** ({seeds} seeds, paired, "
                f"95 % CI of the difference from t with {seeds - 1} df)\n",
                "| KPI | units | better | baseline | service | difference (95 % CI) "
                "| relative | ratio |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for n in names:
                v = {s: float(table[n].sel(stat=s)) for s in table["stat"].values}
                # a baseline of zero (to round-off) has no relative change or ratio
                zero = abs(v["baseline"]) <= 1e-12 * max(abs(v["service"]), 1.0)
                rel = "n/a" if zero else f"{100 * v['relative']:+.1f} %"
                ratio = "n/a" if zero else f"{v['ratio']:.3f}"
                lines.append(
                    f"| {n} | {KPIS[n].units} | {KPIS[n].better} | {v['baseline']:.4g} | "
                    f"{v['service']:.4g} | {v['difference']:+.3g} ({v['ci_low']:+.3g} to "
                    f"{v['ci_high']:+.3g}) | {rel} | {ratio} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--out", type=Path, default=Path("energy-services"))
    args = parser.parse_args()
    run_all(args.out, args.seeds, args.hours)
    print(tables(args.out, args.seeds))


if __name__ == "__main__":
    main()
