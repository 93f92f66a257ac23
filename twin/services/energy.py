"""Built-in energy services: EV smart charging and demand response, and their baselines.

- ``uncontrolled_charging``: every EV charges at full power from plug-in (no actions).
- ``ev_smart_charging``: a rule-based charging limit per district (below) that moves
  charging into PV hours and the cheapest tariff hours without missing a deadline.
- ``no_demand_response``: the setpoint schedules, untouched (no actions).
- ``demand_response``: pre-cooling / pre-heating before the tariff's peak periods and a
  relaxed setpoint during them, within the comfort bounds (below).

They see only what a utility or a charge-point operator would: the public tariff of the
scenario (:func:`twin.tariffs.tariff`), the weather forecast, the smart meters and the
chargers' charging needs (ISO 15118-2 / OCPP 2.0.1 ``NotifyEVChargingNeeds``: each
vehicle's departure time and energy requested, summed per district and departure hour).

EV smart charging rule (every ``every`` s, per district): with the energy owed to
vehicles leaving in ``tau_j`` hours, the least power that still meets every deadline
earliest-first is ``need = max_j (sum of owed leaving by j) / (tau_j - every)``
(the decision interval is kept back as a margin). The limit is

- none while the forecast GHI of the next hour is at least ``ghi_wm2`` (PV output: the
  rule of thumb of PV-following charging, e.g. Fachrizal et al. 2020);
- ``max(need, owed / cheap hours left)`` in the cheapest tariff period (valley
  filling: the energy is spread over what is left of the cheap night);
- ``need`` otherwise (as late as the deadlines allow: charging moves into the cheap
  hours),

times ``1 + margin``. This is the earliest-deadline-first feasibility bound of
single-machine scheduling (Liu and Layland 1973) used as a rule-based EV charging
controller, as the rule-based baselines of CityLearn do for storage (Vazquez-Canteli
et al. 2020).

Demand response rule (per district, heating or cooling season from the forecast mean
air temperature of the next ``season_hours`` h against ``cooling_above_c`` and
``heating_below_c``): during the ``precondition_h`` hours before a peak tariff period
the setpoints move by ``precondition_c`` towards more conditioning (pre-cooling: lower,
pre-heating: higher), during the peak period by ``relax_c`` the other way while the
metered load of the district is at least ``shed_share`` of the highest seen, and back
to the schedule otherwise (Xu, Haves, Piette and Braun 2004; Braun 2003). The offset
sent moves towards that target by at most ``ramp_c_per_h``, every minute (setpoint
ramping: the model's zones follow a setpoint within a step, so a step change of every
setpoint at once is a synchronised pull-down peak, and a fast return after the peak
period a rebound). Offsets stay within the model's
``setpoint_offset_max_c`` (3 K).

References
----------
Braun, J. E. (2003). Load control using building thermal mass. Journal of Solar Energy
    Engineering 125(3), 292-301. doi:10.1115/1.1592184
Fachrizal, R., Shepero, M., van der Meer, D., Munkhammar, J., Widen, J. (2020). Smart
    charging of electric vehicles considering photovoltaic power production and
    electricity consumption: a review. eTransportation 4, 100056.
    doi:10.1016/j.etran.2020.100056
Liu, C. L., Layland, J. W. (1973). Scheduling algorithms for multiprogramming in a hard
    real-time environment. Journal of the ACM 20(1), 46-61. doi:10.1145/321738.321743
Vazquez-Canteli, J. R., Dey, S., Henze, G., Nagy, Z. (2020). CityLearn: standardizing
    research in multi-agent reinforcement learning for demand response and urban energy
    management. arXiv:2012.10504
Xu, P., Haves, P., Piette, M. A., Braun, J. (2004). Peak demand reduction from
    pre-cooling with zone temperature reset in an office building. ACEEE Summer Study on
    Energy Efficiency in Buildings. LBNL-55800.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np

from twin import tariffs, weatherfiles
from twin.city import load_manifest
from twin.services.actions import ChargingLimit, SetpointOffset
from twin.services.base import Context, builtin
from twin.services.sensors import Observation
from twin.services.signals import FixedTime


@builtin
class UncontrolledCharging(FixedTime):
    """Every EV charges at full power from plug-in: the baseline of ``ev_smart_charging``."""

    name = "uncontrolled_charging"


@builtin
class NoDemandResponse(FixedTime):
    """The setpoint schedules, untouched: the baseline of ``demand_response``."""

    name = "no_demand_response"


def local_clock(context: Context):
    """A function from a run time to the city's local time (its climatology's UTC offset,
    which the models' local hour follows too)."""
    manifest = load_manifest(context.scenario.city.dataset)
    offset = weatherfiles.load_climatology(manifest.file("climate")).utc_offset_hours
    zone = timezone(timedelta(hours=offset))
    return lambda t: t.astimezone(zone)


class _TariffService:
    """Shared: the tariff, the local clock and the districts."""

    def reset(self, context: Context) -> None:
        self.tariff = tariffs.tariff(context.scenario.energy)
        self.local = local_clock(context)
        self.districts = [str(n) for n in context.city["districts"]["name"].values]
        self.sent: dict[str, float] = {}

    def clock(self, time: datetime) -> tuple[np.ndarray, float]:
        """The day's tariff (24,) [KRW kWh-1] and the local hour [h] at ``time``."""
        t = self.local(time)
        return self.tariff[t.month - 1], t.hour + t.minute / 60.0 + t.second / 3600.0

    def changed(self, key: str, value: float) -> bool:
        """Whether ``value`` differs from what was last sent for ``key`` (and note it)."""
        last = self.sent.get(key)
        same = last is not None and (
            last == value or (math.isfinite(last) and abs(value - last) <= 0.01 * abs(last))
        )
        if not same:
            self.sent[key] = value
        return not same

    def state(self) -> dict:
        return {"sent": dict(self.sent)}

    def restore(self, state: dict) -> None:
        self.sent = dict(state["sent"])


@builtin
class EvSmartCharging(_TariffService):
    """Deadline-safe EV charging limits towards PV and cheap hours (see the module)."""

    name = "ev_smart_charging"

    def __init__(self, every: float = 900.0, ghi_wm2: float = 300.0, margin: float = 0.1):
        if not ghi_wm2 >= 0 or not margin >= 0:
            raise ValueError("ghi_wm2 and margin must be >= 0")
        self.every, self.ghi_wm2, self.margin = every, float(ghi_wm2), float(margin)

    def limits(self, obs: Observation) -> np.ndarray:
        """The charging limit of each district [kW] (``inf``: none)."""
        day, hour = self.clock(obs.time)
        every_h = float(self.every) / 3600.0
        owed = np.nan_to_num(obs.chargers["owed_by_departure"])  # (district, departure hour)
        tau = (np.arange(24) - hour) % 24.0  # hours to each departure
        tau[tau <= 0] = 24.0
        order = np.argsort(tau, kind="stable")
        cum = np.cumsum(owed[:, order], axis=1)
        spare = tau[order] - every_h
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(cum > 0, cum / np.where(spare > 0, spare, 0.0), 0.0)
        need = rate.max(axis=1)
        ghi = obs.forecast["ghi"]
        if ghi.size and ghi[0] >= self.ghi_wm2:
            return np.full(owed.shape[0], math.inf)
        cheap = day <= day.min()
        now = int(hour) % 24
        if cheap[now]:
            left = 0
            while left < 24 and cheap[(now + left) % 24]:
                left += 1
            need = np.maximum(need, owed.sum(axis=1) / max(left - hour % 1.0, every_h))
        return need * (1.0 + self.margin)

    def decide(self, obs: Observation) -> list:
        actions = []
        for d, kw in enumerate(self.limits(obs)):
            if self.changed(self.districts[d], float(kw)):
                actions.append(ChargingLimit(d, float(kw)))
        return actions


@builtin
class DemandResponse(_TariffService):
    """Pre-cooling / pre-heating before peak tariff periods (see the module)."""

    name = "demand_response"

    def __init__(
        self,
        every: float = 60.0,
        precondition_h: float = 2.0,
        precondition_c: float = 2.0,
        relax_c: float = 2.0,
        shed_share: float = 0.8,
        season_hours: int = 12,
        cooling_above_c: float = 22.0,
        heating_below_c: float = 15.0,
        ramp_c_per_h: float = 0.25,
    ):
        if not 0 <= precondition_c <= 3 or not 0 <= relax_c <= 3:
            raise ValueError("precondition_c and relax_c must lie in [0, 3] K (comfort bounds)")
        self.every, self.precondition_h = every, float(precondition_h)
        self.precondition_c, self.relax_c = float(precondition_c), float(relax_c)
        self.shed_share, self.season_hours = float(shed_share), int(season_hours)
        self.cooling_above_c, self.heating_below_c = float(cooling_above_c), heating_below_c
        if not ramp_c_per_h > 0:
            raise ValueError("ramp_c_per_h must be > 0 K h-1")
        self.ramp_c_per_h = float(ramp_c_per_h)
        self.highest: list[float] = []
        self.applied: list[float] = []

    def reset(self, context: Context) -> None:
        super().reset(context)
        meters = context.city["sensors"]
        kind = np.array([str(k) for k in meters["kind"].values])
        building = meters["target"].values[kind == "meter"].astype(np.int64)
        self.meter_district = context.city["buildings"]["district"].values[building]
        self.highest = [0.0] * len(self.districts)
        self.applied = [0.0] * len(self.districts)

    def season(self, obs: Observation) -> int:
        """+1 cooling, -1 heating, 0 neither, from the temperature forecast."""
        t = obs.forecast["air_temperature"][: self.season_hours]
        if not t.size:
            return 0
        mean = float(np.mean(t))
        return 1 if mean > self.cooling_above_c else -1 if mean < self.heating_below_c else 0

    def offsets(self, obs: Observation) -> np.ndarray:
        """The setpoint offset of each district [K]: the target, rate-limited."""
        step = self.ramp_c_per_h * float(self.every) / 3600.0
        applied = np.asarray(self.applied)
        applied = applied + np.clip(self.target(obs) - applied, -step, step)
        self.applied = applied.tolist()
        return applied

    def target(self, obs: Observation) -> np.ndarray:
        """The setpoint offset each district should reach [K] (see the module)."""
        day, hour = self.clock(obs.time)
        peak = day >= day.max()
        now = int(hour) % 24
        ahead = [(now + k) % 24 for k in range(1, math.ceil(self.precondition_h) + 1)]
        mode = self.season(obs)
        load = np.nan_to_num(obs.meters["load"])
        district_load = np.bincount(self.meter_district, load, len(self.districts))
        self.highest = np.maximum(self.highest, district_load).tolist()
        out = np.zeros(len(self.districts))
        if mode == 0 or peak.all():
            return out
        if peak[now]:
            shed = district_load >= self.shed_share * np.asarray(self.highest)
            out[shed] = mode * self.relax_c
        elif peak[ahead].any():
            out[:] = -mode * self.precondition_c
        return out

    def decide(self, obs: Observation) -> list:
        actions = []
        for name, delta in zip(self.districts, self.offsets(obs), strict=True):
            if self.changed(name, float(delta)):
                actions.append(SetpointOffset(name, float(delta)))
        return actions

    def state(self) -> dict:
        return super().state() | {"highest": list(self.highest), "applied": list(self.applied)}

    def restore(self, state: dict) -> None:
        super().restore(state)
        self.highest, self.applied = list(state["highest"]), list(state["applied"])
