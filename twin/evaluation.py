"""``twin.evaluate``: score a service against a baseline over seeds, with paired intervals.

For each seed ``k`` both runs get the same scenario with ``[sensors] seed = k``,
``[weather] seed = base + k`` and, where the traffic model draws its demand,
``[traffic] seed = k``: the same demand, weather and sensor noise, so the difference
per seed is the service's effect plus nothing else that differs. Over seeds the KPI
table gives the baseline and service means, the mean paired difference, its 95 %
confidence interval from the t-distribution with ``n - 1`` degrees of freedom, the
relative difference against the baseline mean and the ratio of the means (the
control/no-control ratio CityLearn reports).
"""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from twin.errors import InputError
from twin.kpi import KPIS
from twin.scenario import Scenario

# two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (any statistics
# table, e.g. NIST/SEMATECH e-Handbook, table 1.4.2.7.2); beyond 30 the Cornish-Fisher
# expansion in 1/df (Abramowitz & Stegun 26.7.5), within 1e-4 of the exact values there
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    """Two-sided 95 % quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        return math.inf
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054  # the normal quantile
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass
class Evaluation:
    """The paired comparison of a service with a baseline (see the module docstring).

    Attributes
    ----------
    service, baseline : their names.
    members : ``(arm, seed)`` KPIs of every run (arm ``"baseline"`` or ``"service"``).
    table : per KPI: ``baseline``, ``service`` (means), ``difference`` (service -
        baseline, mean over seeds), ``ci_low``, ``ci_high`` (its 95 % interval),
        ``relative`` (difference over the baseline mean), ``relative_low``,
        ``relative_high``, ``ratio`` (service mean over baseline mean); attrs ``units``,
        ``better``.
    stores : run store paths, ``{arm: [per seed]}`` (empty if not kept).
    """

    service: str
    baseline: str
    members: xr.Dataset
    table: xr.Dataset
    stores: dict[str, list[Path]] = field(default_factory=dict)

    def improves(self, kpi: str, by: float = 0.0) -> bool:
        """Whether the whole 95 % interval of the relative difference shows at least
        ``by`` (e.g. 0.05: 5 %) of improvement in ``kpi``'s good direction."""
        if kpi not in self.table:
            raise KeyError(f"{kpi!r} is not a KPI of this evaluation: {sorted(self.table)}")
        better = self.table[kpi].attrs["better"]
        lo, hi = (float(self.table[kpi].sel(stat=s)) for s in ("relative_low", "relative_high"))
        return hi <= -by if better == "lower" else lo >= by

    def __repr__(self) -> str:
        rows = [f"Evaluation of {self.service} against {self.baseline} over "
                f"{self.members.sizes['seed']} seed(s):"]  # fmt: skip
        for name, var in self.table.data_vars.items():
            v = {s: float(var.sel(stat=s)) for s in var["stat"].values}
            rows.append(
                f"  {name}: {v['baseline']:.4g} -> {v['service']:.4g} {var.attrs['units']} "
                f"({100 * v['relative']:+.1f} %, 95 % CI {100 * v['relative_low']:+.1f} to "
                f"{100 * v['relative_high']:+.1f} %)"
            )
        return "\n".join(rows)


STATS = ("baseline", "service", "difference", "ci_low", "ci_high", "relative",
         "relative_low", "relative_high", "ratio")  # fmt: skip


def paired_table(members: xr.Dataset) -> xr.Dataset:
    """The KPI table of :class:`Evaluation` from ``(arm, seed)`` KPIs."""
    out = {}
    n = members.sizes["seed"]
    for name, var in members.data_vars.items():
        base, serv = (var.sel(arm=a).values.astype(float) for a in ("baseline", "service"))
        diff = serv - base
        mean_b, mean_s, mean_d = base.mean(), serv.mean(), diff.mean()
        half = t975(n - 1) * diff.std(ddof=1) / math.sqrt(n) if n > 1 else math.inf
        scale = abs(mean_b) if mean_b != 0 else math.nan
        stats = (mean_b, mean_s, mean_d, mean_d - half, mean_d + half, mean_d / scale,
                 (mean_d - half) / scale, (mean_d + half) / scale,
                 mean_s / mean_b if mean_b != 0 else math.nan)  # fmt: skip
        out[name] = ("stat", np.array(stats, dtype=float), dict(var.attrs))
    return xr.Dataset(out, coords={"stat": list(STATS)})


def member_scenario(scenario: Scenario, seed: int) -> Scenario:
    """The scenario of seed ``seed``: its own demand draw, weather and sensor noise."""
    changes: dict[str, Any] = {
        "sensors": scenario.sensors.model_dump() | {"seed": seed},
        "weather": scenario.weather.model_dump() | {"seed": scenario.weather.seed + seed},
    }
    if "seed" in type(scenario.traffic).model_fields:
        changes["traffic"] = scenario.traffic.model_dump() | {"seed": seed}
    return scenario.with_updates(name=f"{scenario.name}-seed{seed}", **changes)


def _service(service: Any) -> tuple[str, Callable[[], Any]]:
    """A name and a factory of fresh service objects (one per run)."""
    from twin.scenario import ServiceSpec
    from twin.services.base import BUILTINS, from_spec

    if isinstance(service, str):
        if service not in BUILTINS:
            raise InputError(
                f"service {service!r} is not a built-in; built-ins: {', '.join(sorted(BUILTINS))}"
            )
        return service, lambda: from_spec(ServiceSpec(name=service), 0)
    if isinstance(service, ServiceSpec):
        return service.name, lambda: from_spec(service, 0)
    if not callable(getattr(service, "decide", None)):
        raise InputError(f"{service!r} is not a service (a built-in name or an object with decide)")
    return service.name, lambda: copy.deepcopy(service)


def evaluate(
    scenario: Scenario | str | Path,
    service: Any,
    baseline: Any = "fixed_time",
    seeds: int = 5,
    store_dir: str | Path | None = None,
    device: str | None = None,
    progress: bool = False,
) -> Evaluation:
    """Run ``service`` and ``baseline`` under identical conditions per seed and compare.

    Parameters
    ----------
    scenario : a :class:`Scenario` or its TOML path (its own ``[[services]]`` are kept in
        both arms, as part of the city).
    service, baseline : built-in names, ``ServiceSpec``s, or service objects (each run gets
        a fresh copy of an object).
    seeds : number of seeds (>= 2 for an interval).
    store_dir : where to keep the run stores (``<dir>/<arm>/seed<k>.zarr``); None: a
        temporary folder, removed afterwards.
    device : the backend (default: the scenario's).
    progress : a progress bar per run.

    Returns
    -------
    Evaluation
    """
    from twin.runner import run

    if not isinstance(scenario, Scenario):
        scenario = Scenario.from_toml(scenario)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise InputError(f"seeds={seeds!r} must be a whole number >= 1")
    arms = {"baseline": _service(baseline), "service": _service(service)}
    if arms["baseline"][0] == arms["service"][0]:
        raise InputError(f"service and baseline are both {arms['service'][0]!r}")
    keep = store_dir is not None
    root = Path(store_dir) if keep else Path(tempfile.mkdtemp(prefix="twin-evaluate-"))
    stores: dict[str, list[Path]] = {arm: [] for arm in arms}
    rows: dict[str, list[xr.Dataset]] = {arm: [] for arm in arms}
    try:
        for seed in range(seeds):
            sc = member_scenario(scenario, seed)
            for arm, (_, make) in arms.items():
                path = root / arm / f"seed{seed}.zarr"
                path.parent.mkdir(parents=True, exist_ok=True)
                result = run(sc, path, services=[make()], device=device, progress=progress)
                rows[arm].append(result.kpis.reset_coords(drop=True))  # not the period
                stores[arm].append(path)
    finally:
        if not keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    members = xr.concat(
        [xr.concat(rows[arm], dim="seed") for arm in arms], dim=xr.Variable("arm", list(arms))
    )
    members = members.assign_coords(seed=np.arange(seeds))
    for name in members.data_vars:
        if name in KPIS:
            members[name].attrs |= {"units": KPIS[name].units, "better": KPIS[name].better}
    return Evaluation(
        service=arms["service"][0],
        baseline=arms["baseline"][0],
        members=members,
        table=paired_table(members),
        stores=stores if keep else {},
    )
