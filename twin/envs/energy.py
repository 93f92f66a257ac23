"""``EnergyEnv``: a central agent for the city's flexible loads, as CityLearn's.

The whole coupled twin runs (traffic brings the EVs home, weather drives heating,
cooling and PV). Every ``delta_s`` (default 15 min, the smart meters' interval) the
agent sets, per district, an EV charging limit (:class:`twin.services.ChargingLimit`)
and an HVAC setpoint offset for all its buildings
(:class:`twin.services.SetpointOffset`), through the same checked action path a
service uses.

Action: ``Box(-1, 1, (2 D,))`` for ``D`` districts: the first ``D`` map ``a`` to a limit
of ``(a + 1) / 2`` of the district's charger power (1 lifts the limit), the next ``D``
to an offset of ``a`` times ``setpoint_offset_max_c``.

Observation (sensor readings and public data, never the model state): local time of
day as sine and cosine, the tariff now [KRW kWh-1] / 200, the forecast air temperature
[degC] / 40 and GHI [W m-2] / 1000 for the next 3 hours, then per district the smart
meters' summed load [kW] over the district's feeder rating [1], the charger occupancy
[1] and the EV energy delivered in the last meter interval over what its chargers could
deliver [1]. Lost or not-yet-reported readings count as 0; values are clipped to
[-1, 10].

Reward (``reward=``): the fall of KPIs from the KPI table (:data:`twin.kpi.KPIS`) over
the interval, ``sum_k w_k s_k (K_k(t - delta) - K_k(t))`` with ``s_k = +1`` for KPIs
where lower is better and -1 where higher is, for a KPI name (weight 1), a
``{name: weight}`` mapping, or any callable ``(kpis_before, kpis_now) -> float``. The
KPIs are the runs' own running sums (constant cost per step; CityLearn recomputes its
KPIs over the whole history each step). The default, ``"electricity_cost"``, is the
KEPCO time-of-use cost of the city's grid import. A KPI not yet defined (the peak
before any load, a ratio of zeros) adds nothing until it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta, timezone

import gymnasium
import numpy as np
from gymnasium import spaces

import gpu
from twin.coupling import Coupler
from twin.errors import InputError
from twin.evaluation import member_scenario
from twin.kpi import KPIS
from twin.runner import _load_city
from twin.scenario import Scenario
from twin.services import actions
from twin.services.actions import ChargingLimit, SetpointOffset
from twin.services.sensors import Noise, observe

FORECAST_HOURS = 3


def kpi_reward(spec) -> Callable[[Mapping[str, float], Mapping[str, float]], float]:
    """The reward function of ``spec`` (see the module docstring)."""
    if callable(spec):
        return spec
    weights = {spec: 1.0} if isinstance(spec, str) else dict(spec)
    unknown = sorted(set(weights) - set(KPIS))
    if unknown or not weights:
        raise InputError(f"reward: {unknown or spec!r} not in the KPI table; KPIs: {sorted(KPIS)}")
    sign = {k: 1.0 if KPIS[k].better == "lower" else -1.0 for k in weights}

    def reward(before: Mapping[str, float], now: Mapping[str, float]) -> float:
        fall = [w * sign[k] * (before[k] - now[k]) for k, w in weights.items()]
        return float(sum(f for f in fall if math.isfinite(f)))

    return reward


class EnergyEnv(gymnasium.Env):
    """Central control of EV charging and HVAC setpoints per district (module docstring).

    Parameters
    ----------
    scenario : the scenario (its window is the episode; reset seeds it as
        :func:`twin.evaluation.member_scenario` does: weather, demand, sensor noise).
    delta_s : [s] time between decisions (a multiple of the step dividing the duration).
    reward : KPI name, ``{name: weight}`` or a callable (module docstring).
    device : ``"cpu"``, ``"gpu"`` or ``"auto"`` (default: the scenario's).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium's class attribute)

    def __init__(self, scenario: Scenario, delta_s: float = 900.0, reward="electricity_cost",
                 device=None):  # fmt: skip
        step = scenario.step.total_seconds()
        if not delta_s > 0 or delta_s % step or scenario.duration.total_seconds() % delta_s:
            raise InputError(
                f"delta_s={delta_s!r} must be a whole multiple of the scenario step ({step:g} s) "
                "that divides its duration"
            )
        self.scenario, self.delta_s, self.device = scenario, float(delta_s), device
        self.steps = round(delta_s / step)
        self.reward_fn = kpi_reward(reward)
        self.city = _load_city(scenario)
        self.districts = [str(n) for n in self.city["districts"]["name"].values]
        d = len(self.districts)
        self.action_space = spaces.Box(-1.0, 1.0, (2 * d,), dtype=np.float64)
        n_obs = 3 + 2 * FORECAST_HOURS + 3 * d
        self.observation_space = spaces.Box(-1.0, 10.0, (n_obs,), dtype=np.float64)
        meters = self.city["sensors"]
        kinds = np.array([str(k) for k in meters["kind"].values])
        building = meters["target"].values[kinds == "meter"]
        self.meter_district = self.city["buildings"]["district"].values[building]
        self.coupler: Coupler | None = None

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        episode = seed if seed is not None else int(self.np_random.integers(2**31 - 1))
        sc = member_scenario(self.scenario, episode)
        self.coupler = Coupler(self.city, sc, gpu.select(self.device or sc.device), sensors=True)
        self.coupler.init()
        self.noise = Noise(sc.sensors)
        self.i = 0
        self.kpis = self._kpis()
        energy = self.coupler.exchange.models["energy"]
        self.charger_kw = np.asarray(gpu.to_host(energy.static["chargers"])) * (
            energy.params.ev_charger_power_kw
        )
        self.capacity_kw = np.asarray(gpu.to_host(energy.static["capacity_kw"]))
        self.offset_max_c = energy.params.setpoint_offset_max_c
        tz = timezone(timedelta(hours=self.coupler.weather.climatology.utc_offset_hours))
        self.tz, self.price = tz, energy.tou_price
        return self._observe(), {"kpis": self.kpis}

    def step(self, action):
        c, d = self.coupler, len(self.districts)
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), -1.0, 1.0)
        share = (a[:d] + 1.0) / 2.0
        for k, name in enumerate(self.districts):
            kw = math.inf if share[k] >= 1.0 else float(share[k] * self.charger_kw[k])
            actions.apply(c, ChargingLimit(k, kw))
            actions.apply(c, SetpointOffset(name, float(a[d + k] * self.offset_max_c)))
        end = min(self.i + self.steps, self.scenario.n_steps)
        for i in range(self.i, end):
            c.step(i)
        self.i = end
        before, self.kpis = self.kpis, self._kpis()
        reward = self.reward_fn(before, self.kpis)
        done = self.i >= self.scenario.n_steps
        return self._observe(), reward, False, done, {"kpis": self.kpis}

    def _kpis(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.coupler.kpis().data_vars.items()}

    def _observe(self) -> np.ndarray:
        obs = observe(self.coupler, self.noise, {}, self.i)
        local = obs.time.astimezone(self.tz)
        hour = local.hour + local.minute / 60.0
        angle = 2 * math.pi * hour / 24.0
        price = self.price[local.month - 1, local.hour] / 200.0
        forecast = obs.forecast
        temp = _first(forecast["air_temperature"], FORECAST_HOURS) / 40.0
        ghi = _first(forecast["ghi"], FORECAST_HOURS) / 1000.0
        load = np.nan_to_num(obs.meters["load"])
        by_district = np.bincount(self.meter_district, weights=load, minlength=len(self.districts))
        capacity = np.where(np.isfinite(self.capacity_kw), self.capacity_kw, np.inf)
        interval_h = self.scenario.sensors.meter_interval.total_seconds() / 3600.0
        possible = self.charger_kw * interval_h
        energy = np.nan_to_num(obs.chargers["energy"])
        delivered = np.divide(energy, possible, out=np.zeros_like(energy), where=possible > 0)
        vector = np.concatenate([
            [math.sin(angle), math.cos(angle), price], temp, ghi,
            by_district / capacity, np.nan_to_num(obs.chargers["occupancy"]), delivered,
        ])  # fmt: skip
        return np.clip(vector, -1.0, 10.0)


def _first(values: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` values, padded with the last (0 if none) where the weather ends."""
    values = np.asarray(values, dtype=np.float64)[:n]
    pad = values[-1] if values.size else 0.0
    return np.concatenate([values, np.full(n - values.size, pad)])
