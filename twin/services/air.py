"""Built-in air-quality services: PM2.5 alerts by district, and a persistence baseline.

An :class:`~twin.services.actions.Alert` warns a district for the next hour; the KPI
model scores it against the true PM2.5 at the populated cells (``pm25_*`` KPIs in
:data:`twin.kpi.KPIS`): person-hours above the "bad" band of the Korean PM2.5 grades
(> 35 ug m-3, :data:`twin.kpi.PM25_BAD_UGM3`) warned and not warned, and warned
person-hours at or below it (false alarms).

- ``no_alerts``: never warns.
- ``pm25_persistence``: warns a district for the next hour when the last hourly mean of
  its monitors (of all monitors where it has none) is above the threshold: the
  persistence forecast every air-quality forecast is measured against (e.g. Kang et al.
  2008).
- ``pm25_alerts``: warns when a one-hour-ahead forecast from the monitor history and
  the wind forecast is above the threshold, or the trailing 24-h mean is above the
  Korean 24-h standard (35 ug m-3). The forecast keeps the regional background
  ``b`` (the lowest monitor) and scales the local excess with the ventilation, which a
  box model takes as inversely proportional to the wind speed, plus half the last
  hourly change: ``c(t+1) = b + (c(t) - b) u_now / u_next + (c(t) - c(t-1)) / 2``
  (a damped-trend persistence with a dilution correction). The level is ``warning``
  above 75 ug m-3 (the "very bad" band), ``watch`` otherwise.

References
----------
AirKorea (Korea Environment Corporation). Air quality index (CAI) and PM2.5 forecast
    grades: good 0-15, moderate 16-35, bad 36-75, very bad 76+ ug m-3.
    https://www.airkorea.or.kr
Kang, D., Mathur, R., Rao, S. T., Yu, S. (2008). Bias adjustment techniques for
    improving ozone air quality forecasts. Journal of Geophysical Research 113, D23308.
    doi:10.1029/2008JD010151 (persistence as the reference forecast)
"""

from __future__ import annotations

import numpy as np

from twin.kpi import PM25_BAD_UGM3, PM25_STANDARD_UGM3
from twin.services.actions import Alert
from twin.services.base import Context, builtin
from twin.services.sensors import Observation
from twin.services.signals import FixedTime
from twin.stages import grid_cells

VERY_BAD_UGM3 = 75.0  # upper end of the "bad" band of the Korean PM2.5 grades


@builtin
class NoAlerts(FixedTime):
    """Never warns: the do-nothing baseline of the alert services."""

    name = "no_alerts"


@builtin
class Pm25Persistence:
    """Warn a district when its monitors' last hourly PM2.5 is above ``threshold_ugm3``."""

    name = "pm25_persistence"

    def __init__(self, every: float = 3600.0, threshold_ugm3: float = PM25_BAD_UGM3):
        self.every, self.threshold = every, float(threshold_ugm3)
        self.history: list[list[float]] = []  # hourly means by district, oldest first

    def reset(self, context: Context) -> None:
        city = context.city
        s = city["sensors"]
        air = np.array([str(k) == "air" for k in s["kind"].values])
        cells = grid_cells(city.grid, s["x"].values[air], s["y"].values[air])
        self.monitor_district = city.grid["district"].values.reshape(-1)[cells].astype(np.int64)
        self.districts = [str(n) for n in city["districts"]["name"].values]

    def by_district(self, obs: Observation) -> np.ndarray:
        """The mean of each district's monitors [ug m-3]; of all monitors where it has
        none; NaN before the first hourly mean."""
        pm = obs.monitors["pm25"]
        seen = np.isfinite(pm)
        if not seen.any():
            return np.full(len(self.districts), np.nan)
        n = len(self.districts)
        total = np.bincount(self.monitor_district[seen], pm[seen], n)
        count = np.bincount(self.monitor_district[seen], minlength=n)
        return np.where(count > 0, total / np.maximum(count, 1), pm[seen].mean())

    def expected(self, now: np.ndarray, obs: Observation) -> np.ndarray:
        """PM2.5 of the next hour [ug m-3] by district, the one alerts compare with the
        threshold: the last hourly mean (persistence)."""
        return now

    def decide(self, obs: Observation) -> list:
        now = self.by_district(obs)
        if np.isnan(now).all():
            return []
        ahead = self.expected(now, obs)
        self.history = ([*self.history, now.tolist()])[-24:]
        return [
            Alert(name, "warning" if c > VERY_BAD_UGM3 else "watch", f"PM2.5 {c:.0f} ug m-3")
            for name, c in zip(self.districts, ahead, strict=True)
            if c > self.threshold
        ]

    def state(self) -> dict:
        return {"history": self.history}

    def restore(self, state: dict) -> None:
        self.history = [list(h) for h in state["history"]]


@builtin
class Pm25Alerts(Pm25Persistence):
    """One-hour-ahead PM2.5 alerts from the monitors and the wind forecast (module)."""

    name = "pm25_alerts"

    def __init__(self, every: float = 3600.0, threshold_ugm3: float = PM25_BAD_UGM3):
        super().__init__(every, threshold_ugm3)
        self.wind_now = float("nan")  # the forecast wind of this hour, from the last decision

    def expected(self, now: np.ndarray, obs: Observation) -> np.ndarray:
        """The larger of the last hourly mean and the forecast; where the trailing 24-h
        mean (a full day of history) is above the 24-h standard, at least that mean
        (the alert stays on)."""
        ahead = np.maximum(now, self.forecast(now, obs))
        if len(self.history) >= 23:  # with this hour's, a full day
            day = np.mean([*self.history[-23:], now.tolist()], axis=0)
            ahead = np.where(day > PM25_STANDARD_UGM3, np.maximum(ahead, day), ahead)
        return ahead

    def forecast(self, now: np.ndarray, obs: Observation) -> np.ndarray:
        """The one-hour-ahead forecast [ug m-3] by district (see the module)."""
        wind = obs.forecast["wind_speed"]
        background = float(np.nanmin(now))
        ratio = 1.0
        if wind.size and np.isfinite(self.wind_now):
            ratio = float(np.clip(self.wind_now / max(wind[0], 0.5), 0.5, 2.0))
        self.wind_now = float(wind[0]) if wind.size else float("nan")
        trend = now - np.asarray(self.history[-1]) if self.history else 0.0
        return background + (now - background) * ratio + 0.5 * np.nan_to_num(trend)

    def state(self) -> dict:
        return super().state() | {"wind_now": self.wind_now}

    def restore(self, state: dict) -> None:
        super().restore(state)
        self.wind_now = float(state["wind_now"])
