"""Score the energy and air built-ins against their baselines over seeds (issue 17).

``ev_smart_charging`` against ``uncontrolled_charging``, ``demand_response`` against
``no_demand_response`` and ``pm25_alerts`` against ``pm25_persistence`` on the demo city
(the Gwangju dataset): the demo's June weekday (``scenarios/june_weekday.toml``) and its
winter twin (``scenarios/winter_day.toml``, with the day-to-day regional PM2.5
background), with the pairing of :func:`twin.evaluate` (:func:`twin.evaluation.
member_scenario` per seed, :func:`twin.evaluation.paired_table` for means, paired
differences, 95 % t intervals and control/no-control ratios). Changed from the TOML
files, and said so in the tables: ``--resolution`` (250 m by default: a 24-h run of the
100 m demo takes 76 s on an idle machine, at 250 m and 500 m about 52-54 s of CPU, most of
it traffic, and 30 runs share 2 busy cores), hourly outputs, ``[energy] ev_deadlines =
true``.

Three runs per seed and season instead of six: alerts change no physics (they are scored
by the KPI model) and the EV limits change neither PM2.5 nor the buildings, so the
persistence alerts ride in the uncontrolled arm, ``pm25_alerts`` in the smart-charging
arm, and the uncontrolled arm is also the no-demand-response arm (both baselines take no
action at all: the runs would be identical).

Usage: ``python bench/energy_services.py [--seeds 5] [--resolution 250] [--jobs 2]
[--reverse] [--season june|winter ...] [--arm baseline|smart|dr ...] [--out DIR]``
(``--season`` and ``--arm``: run only those, e.g. ``--arm dr`` after a change of
``demand_response``, the other arms' KPIs kept in ``DIR``); each run's KPIs go to
``DIR/<season>/<arm>-seed<k>.json`` as they finish (a rerun skips the runs it has; a run
whose store exists is running in another process, e.g. a second one with ``--reverse``:
remove stores left by a killed run), then the tables are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import xarray as xr

from twin.evaluation import member_scenario, paired_table
from twin.kpi import KPIS, PM25_BAD_UGM3
from twin.runner import run
from twin.scenario import Scenario
from twin.services.air import Pm25Alerts, Pm25Persistence
from twin.services.energy import DemandResponse, EvSmartCharging, UncontrolledCharging

ARMS = {
    "baseline": lambda: [UncontrolledCharging(), Pm25Persistence()],
    "smart": lambda: [EvSmartCharging(), Pm25Alerts()],
    "dr": lambda: [DemandResponse()],
}
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SEASONS = {"june": "june_weekday.toml", "winter": "winter_day.toml"}
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


def season_scenario(season: str, resolution_m: float) -> Scenario:
    """The season's scenario file at ``resolution_m``, hourly outputs, EV deadlines."""
    sc = Scenario.from_toml(SCENARIOS / SEASONS[season])
    return sc.with_updates(
        name=f"energy-services-{season}",
        output_interval="1h",
        city=sc.city.model_dump() | {"resolution_m": resolution_m},
        energy=sc.energy.model_dump() | {"ev_deadlines": True},
    )


def run_one(out: Path, season: str, arm: str, seed: int, resolution_m: float) -> str:
    """One run; its KPIs to ``out/<season>/<arm>-seed<seed>.json`` (its store removed)."""
    sc = member_scenario(season_scenario(season, resolution_m), seed)
    path = out / season / f"{arm}-seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    store = out / "stores" / f"{season}-{arm}-seed{seed}.zarr"
    if path.exists() or store.exists():  # done, or another process of --reverse runs it
        return f"{season} {arm} seed {seed}: done or running elsewhere"
    t0 = time.process_time()
    result = run(sc, store, services=ARMS[arm]())
    kpis = {k: float(v) for k, v in result.kpis.data_vars.items()}
    path.write_text(json.dumps(kpis, indent=1))
    shutil.rmtree(store, ignore_errors=True)
    return f"{season} {arm} seed {seed}: {time.process_time() - t0:.0f} s CPU"


def run_all(out: Path, seeds: int, resolution_m: float, jobs: int, reverse: bool,
            seasons=tuple(SEASONS), arms=tuple(ARMS)) -> None:  # fmt: skip
    # seed by seed, so that a cut-short evaluation has as many seeds of every arm
    todo = [(season, arm, seed) for seed in range(seeds) for season in seasons for arm in arms
            if not (out / season / f"{arm}-seed{seed}.json").exists()]  # fmt: skip
    todo = todo[::-1] if reverse else todo
    with ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(run_one, out, *job, resolution_m) for job in todo]
        for f in futures:
            print(f.result(), flush=True)


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
            rows = {a: [] for a in (base_arm, arm)}
            done = [
                k
                for k in range(seeds)
                if all((out / season / f"{a}-seed{k}.json").exists() for a in rows)
            ]
            for a in rows:
                for seed in done:
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
                coords={"arm": ["baseline", "service"], "seed": done},
            )
            table = paired_table(members)
            lines += [
                f"\n**{season}: {service} against {baseline}** ({len(done)} seeds, paired, "
                f"95 % CI of the difference from t with {len(done) - 1} df)\n",
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
            if service == "pm25_alerts":  # the events: person-hours above 35 ug m-3 per seed
                exposed = [r["pm25_person_hours_warned"] + r["pm25_person_hours_not_warned"]
                           for r in rows[base_arm]]  # fmt: skip
                lines.append(f"\nPerson-hours above {PM25_BAD_UGM3:g} ug m-3 by seed: "
                             + ", ".join(f"{x:.3g}" for x in exposed))  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--resolution", type=float, default=250.0, help="city cell [m]")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument("--reverse", action="store_true",
                        help="last seed first (a second process on the same --out)")  # fmt: skip
    parser.add_argument("--season", action="append", choices=list(SEASONS),
                        help="run only this season (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--arm", action="append", choices=list(ARMS),
                        help="run only this arm (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("energy-services"))
    args = parser.parse_args()
    run_all(args.out, args.seeds, args.resolution, args.jobs, args.reverse,
            tuple(args.season or SEASONS), tuple(args.arm or ARMS))  # fmt: skip
    print(tables(args.out, args.seeds))


if __name__ == "__main__":
    main()
