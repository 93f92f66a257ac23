"""Built-in energy services: EV smart charging and demand response, and their baselines.

- ``uncontrolled_charging``: every EV charges at full power from plug-in (no actions).
- ``ev_smart_charging``: a rule-based charging limit per district (below) that moves
  charging into PV hours and the cheapest tariff hours without missing a deadline.
- ``no_demand_response``: the setpoint schedules, untouched (no actions).
- ``demand_response``: pre-cooling / pre-heating before the forecast net-load peak and a
  relaxed setpoint during it, within the comfort bounds (below).

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

Demand response rule (per district; after Braun 2003 and Xu et al. 2004, the
pre-cool / zone-temperature-reset strategy, with the demand-limiting guard of Lee and
Braun 2008 against rebound peaks):

- *season*, planned with the window: cooling when the day's forecast maximum air
  temperature exceeds ``cooling_above_c``, else heating when its mean is below
  ``heating_below_c``, else no action (the day's maximum: a June night forecast is
  cool, the afternoon's cooling load is not);
- *peak window*, planned once per local day at its first decision: the net-load peak is
  forecast ``lag_h`` hours after the forecast's warmest (cooling) or coldest (heating)
  hour of the day, the lag of a medium-mass building's conditioning load behind the
  outdoor temperature (ASHRAE Handbook Fundamentals 2021, ch. 18, radiant time series);
  the window runs from ``before_h`` before that hour to ``after_h`` after it. Not the
  tariff's peak periods: KEPCO's summer peak period ends at 17 h, and relaxing until
  then and recovering while the afternoon cooling load is still high makes a new,
  higher peak (the first version of this rule raised the daily peak 9 %);
- *targets*: ``-mode precondition_c`` (pre-cooling: setpoints lower; pre-heating:
  higher) during the ``precondition_h`` hours before the window, ``+mode relax_c``
  during it, 0 otherwise;
- *ramping*: the offset moves towards its target every decision, by at most
  ``release_c_per_h`` when that means less conditioning (it can only lower the load)
  and ``recover_c_per_h`` when it means more (every zone pulled down or up at once is a
  synchronised peak: the rebound), and every move is sent as it is made (held back to
  1 % of the offset, the ramp reached the zones in steps of up to 0.03 K, each pulled
  down within one model step: a spike several times the ramp's power);
- *staggering*: a move towards more conditioning is made by at most ``recovering``
  districts (default 1) per decision, round-robin among those that want one and that
  the guard lets go (the turn passes to the district after the last that moved), so
  the city-wide recovery power is that of one district, not of every zone at once:
  the staggered restoration of load control after an event (Lee and Braun 2008's
  rebound; the "cold load pickup" of distribution grids, restored section by section,
  Ihara and Schweppe 1981);
- *guard* (meters): a move towards more conditioning is held while the district's
  metered load is at least ``shed_share`` of the highest it has had this day outside
  such moves (the load they cause does not raise the cap), so pre-conditioning and
  recovery fill the valleys and do not make a new peak. The cap starts each day at 0,
  so a recovery left at midnight waits for the next window: the zones start the day up
  to that leftover warmer (cooling), which softens the next morning's start-up, where
  zones whose HVAC stopped before the recovery ended are pulled down all at once
  (finishing it overnight made the second morning of the test days 13 % above the
  uncontrolled peak).

Offsets stay within the model's ``setpoint_offset_max_c`` (3 K), the comfort bound.

Defaults: a 6-h window from 3 h before to 3 h after the forecast peak, relaxed by 3 K,
released at 2 K h-1 and recovered at 0.5 K h-1, and no pre-conditioning
(``precondition_c = 0``). In this twin's zones (an ideal HVAC that holds its setpoint
every step) pre-cooling charges the building mass at the pull-down power ``C dT/dt``
on the shoulder of the afternoon plateau: on the two June days of
``tests/sim/test_energy_control.py`` 0.5 K over 2 h raised the peak 10 % and 1 K over
3 to 6 h 20-25 %, where the relax-and-recover rule alone lowers it 6 %. Pre-conditioning
pays where the load before the window is far below the peak (``precondition_c``,
``precondition_h`` set it). The recovery rate is a trade: pulling every zone down at
``C dT/dt`` is the rebound, and a slower one carries warm zones into the next morning's
start-up (at 0.33 K h-1 on the test days). On the demo city's hot June days recovering
every district at once at 0.5 K h-1 made a new per-step peak (pulses of every zone at
once whenever the guard released, 1540-1576 MW against 1359-1537 uncontrolled on 4 of
5 seeds; ``bench/RESULTS.md``); staggered, a district recovers at 0.5 K h-1 only one
decision in ``n_districts / recovering`` (the city at 0.1 K h-1 with 5 districts), so
more of the relaxation is left at midnight (about 2.5 K if the window ends at 19-20 h),
which the next day's window takes up: more discomfort. On the test city with 60-s
decisions and 15-min meters the previous recovery's per-step peak was 2 % above the
uncontrolled one, the staggered one 10 % below (``tests/sim/test_energy_control.py``);
on the demo city, 5 seeds, the June peak is 20 % and the winter peak 5.5 % below
uncontrolled, for 9.8 and 40.5 K h of discomfort per building (``bench/RESULTS.md``).

References
----------
Braun, J. E. (2003). Load control using building thermal mass. Journal of Solar Energy
    Engineering 125(3), 292-301. doi:10.1115/1.1592184
Lee, K.-h., Braun, J. E. (2008). Model-based demand-limiting control of building
    thermal mass. Building and Environment 43(10), 1633-1646.
    doi:10.1016/j.buildenv.2007.10.009
ASHRAE (2021). ASHRAE Handbook - Fundamentals, chapter 18, Nonresidential cooling and
    heating load calculations (radiant time series: the load lags the outdoor
    temperature by hours).
Fachrizal, R., Shepero, M., van der Meer, D., Munkhammar, J., Widen, J. (2020). Smart
    charging of electric vehicles considering photovoltaic power production and
    electricity consumption: a review. eTransportation 4, 100056.
    doi:10.1016/j.etran.2020.100056
Ihara, S., Schweppe, F. C. (1981). Physically based modeling of cold load pickup.
    IEEE Transactions on Power Apparatus and Systems PAS-100(9), 4142-4150.
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

    def changed(self, key: str, value: float, rtol: float = 0.01) -> bool:
        """Whether ``value`` differs from what was last sent for ``key`` by more than
        ``rtol`` of it (and note it)."""
        last = self.sent.get(key)
        same = last is not None and (
            last == value or (math.isfinite(last) and abs(value - last) <= rtol * abs(last))
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
    """Pre-cooling / pre-heating before the forecast net-load peak (see the module)."""

    name = "demand_response"

    def __init__(
        self,
        every: float = 60.0,
        precondition_h: float = 3.0,
        precondition_c: float = 0.0,
        relax_c: float = 3.0,
        lag_h: float = 1.0,
        before_h: float = 3.0,
        after_h: float = 3.0,
        shed_share: float = 0.95,
        cooling_above_c: float = 22.0,
        heating_below_c: float = 15.0,
        release_c_per_h: float = 2.0,
        recover_c_per_h: float = 0.5,
        recovering: int = 1,
    ):
        if not 0 <= precondition_c <= 3 or not 0 <= relax_c <= 3:
            raise ValueError("precondition_c and relax_c must lie in [0, 3] K (comfort bounds)")
        if not release_c_per_h > 0 or not recover_c_per_h > 0:
            raise ValueError("release_c_per_h and recover_c_per_h must be > 0 K h-1")
        if min(precondition_h, lag_h, before_h, after_h) < 0 or not 0 < shed_share <= 1:
            raise ValueError("precondition_h, lag_h, before_h, after_h must be >= 0 h and "
                             "shed_share in (0, 1]")  # fmt: skip
        if not (isinstance(recovering, int) and recovering >= 1):
            raise ValueError(f"recovering must be an integer >= 1 (districts), not {recovering!r}")
        self.every, self.precondition_h = every, float(precondition_h)
        self.precondition_c, self.relax_c = float(precondition_c), float(relax_c)
        self.lag_h, self.before_h, self.after_h = float(lag_h), float(before_h), float(after_h)
        self.shed_share = float(shed_share)
        self.cooling_above_c, self.heating_below_c = float(cooling_above_c), heating_below_c
        self.release_c_per_h, self.recover_c_per_h = float(release_c_per_h), recover_c_per_h
        self.recovering = recovering
        self.turn = 0  # the district whose turn it is to make a load-adding move
        self.highest: list[float] = []
        self.applied: list[float] = []
        self.plan: list = []  # [local date ordinal, season, peak hour] of the day planned

    def reset(self, context: Context) -> None:
        super().reset(context)
        meters = context.city["sensors"]
        kind = np.array([str(k) for k in meters["kind"].values])
        building = meters["target"].values[kind == "meter"].astype(np.int64)
        self.meter_district = context.city["buildings"]["district"].values[building]
        self.highest = [0.0] * len(self.districts)
        self.applied = [0.0] * len(self.districts)
        self.plan = []
        self.turn = 0

    def today(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """The forecast air temperature [degC] of the rest of the local day and the
        local hour [h] each is for."""
        _, hour = self.clock(obs.time)
        t = obs.forecast["air_temperature"]
        at = hour + 1.0 + np.arange(t.size)
        return t[at < 24.0], at[at < 24.0]

    def season(self, obs: Observation) -> int:
        """+1 cooling, -1 heating, 0 neither, from the day's temperature forecast."""
        t, _ = self.today(obs)
        if not t.size:
            return 0
        if float(t.max()) > self.cooling_above_c:
            return 1
        return -1 if float(t.mean()) < self.heating_below_c else 0

    def peak_hour(self, obs: Observation, mode: int) -> float:
        """The forecast net-load peak [local h, may pass 24]: ``lag_h`` after the warmest
        (cooling) or coldest (heating) forecast hour of the rest of the day."""
        t, at = self.today(obs)
        return float(at[int(np.argmax(mode * t))]) + self.lag_h if t.size else math.nan

    def target(self, obs: Observation) -> np.ndarray:
        """The setpoint offset every district should reach [K] (see the module)."""
        day = self.local(obs.time).toordinal()
        if not self.plan or self.plan[0] != day:
            mode = self.season(obs)
            self.plan = [day, mode, self.peak_hour(obs, mode) if mode else math.nan]
            self.highest = [0.0] * len(self.districts)
        _, mode, peak = self.plan
        _, hour = self.clock(obs.time)
        out = np.zeros(len(self.districts))
        if not mode or not math.isfinite(peak):
            return out
        if peak - self.before_h <= hour < peak + self.after_h:
            out[:] = mode * self.relax_c
        elif peak - self.before_h - self.precondition_h <= hour < peak - self.before_h:
            out[:] = -mode * self.precondition_c
        return out

    def offsets(self, obs: Observation) -> np.ndarray:
        """The setpoint offset of each district [K]: the target, rate-limited and
        guarded by the meters (see the module)."""
        target = self.target(obs)
        mode = self.plan[1]
        load = np.bincount(
            self.meter_district, np.nan_to_num(obs.meters["load"]), len(self.districts)
        )
        hours = float(self.every) / 3600.0
        applied = np.asarray(self.applied)
        move = target - applied
        more = mode * move < 0  # towards more conditioning (more load)
        # the cap: the highest load not made by pre-conditioning or recovery (else the
        # rebound would raise its own cap)
        self.highest = np.where(more, self.highest, np.maximum(self.highest, load)).tolist()
        limit = np.where(more, self.recover_c_per_h, self.release_c_per_h) * hours
        held = more & (load >= self.shed_share * np.asarray(self.highest))
        wait = held | self.staggered(more & ~held)
        applied = applied + np.where(wait, 0.0, np.clip(move, -limit, limit))
        self.applied = applied.tolist()
        return applied

    def staggered(self, wants: np.ndarray) -> np.ndarray:
        """Of the districts that ``wants`` a load-adding move, those that must wait: all
        but ``recovering`` of them, taken round-robin from the one whose turn it is."""
        n = wants.size
        queue = [d for d in (np.arange(n) + self.turn) % n if wants[d]]
        wait = wants.copy()
        wait[queue[: self.recovering]] = False
        if queue:
            self.turn = int(queue[: self.recovering][-1] + 1) % n
        return wait

    def decide(self, obs: Observation) -> list:
        actions = []
        for name, delta in zip(self.districts, self.offsets(obs), strict=True):
            # every move is sent: held back to 1 % of the offset, the ramp would reach
            # the zones in steps of up to 0.03 K in one model step, a pull-down spike
            if self.changed(name, float(delta), rtol=0.0):
                actions.append(SetpointOffset(name, float(delta)))
        return actions

    def state(self) -> dict:
        return super().state() | {
            "highest": list(self.highest),
            "applied": list(self.applied),
            "plan": list(self.plan),
            "turn": self.turn,
        }

    def restore(self, state: dict) -> None:
        super().restore(state)
        self.highest, self.applied = list(state["highest"]), list(state["applied"])
        self.plan = list(state["plan"])
        self.turn = int(state["turn"])
