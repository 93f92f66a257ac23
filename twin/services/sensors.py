"""What services see: the city's sensors, with seeded noise, never the models' state.

:class:`SensorModel` runs in the coupled loop (after the physical models) only when a
run has services: on the device it sums each sensor's quantity over its reporting
interval and keeps the last complete interval's mean, like the instruments do (air
monitors report hourly means, smart meters 15-minute means). :func:`observe` turns the
latest readings into an :class:`Observation` on the host and applies the noise model
of ``[sensors]`` (:class:`twin.scenario.SensorSettings`):

- a Gaussian relative error per reading, ``x (1 + e N(0, 1))``, clipped at 0;
- loop detectors drop readings at random (NaN), rate ``detector_dropout``;
- the weather forecast is the forcing ahead plus an error that grows as a random walk
  with the lead time (standard deviation ``e24 sqrt(lead / 24 h)``).

Noise is drawn from ``numpy.random.default_rng((seed, kind, step))``: the same
scenario and seed give the same noise whichever service observes, and
``noise = "none"`` gives the exact model values.

The default error sizes are round figures for the instruments named in
:class:`twin.scenario.SensorSettings`; set them from a deployment's own calibration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import numpy as np

import gpu
from sim.protocol import Var
from twin.scenario import SensorSettings
from twin.stages import Exchange, grid_cells

KINDS = ("detectors", "monitors", "meters", "chargers", "forecast")


@dataclass(frozen=True)
class Readings:
    """One kind of sensor at one time: ``ids`` and each quantity's values (host arrays
    with one row per sensor, NaN where a reading was lost), with ``units``; ``time`` is
    the end of the interval the values describe; ``sites`` says where each sensor is
    (e.g. the ``link`` a detector watches and its downstream ``node``: city data, not
    readings)."""

    time: datetime
    ids: tuple[str, ...]
    values: Mapping[str, np.ndarray]
    units: Mapping[str, str]
    sites: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, quantity: str) -> np.ndarray:
        return self.values[quantity]


@dataclass(frozen=True)
class Observation:
    """What a service sees at a decision: sensor readings and its own commands.

    Attributes
    ----------
    time : the decision time (start of the next coupling step).
    detectors : loop detectors and approach cameras (``count`` [1] in the last interval,
        ``occupancy`` [1], ``speed`` [m s-1], ``queue`` [m]) with the ``link`` each
        watches and its ``node`` downstream (see :attr:`Readings.values`).
    monitors : air monitors, ``pm25`` and ``no2`` [ug m-3], last hourly mean.
    meters : smart meters on buildings, ``load`` [kW], last interval's mean.
    chargers : EV chargers per district, ``occupancy`` [1] (share of chargers in use)
        and ``energy`` [kWh] delivered in the last meter interval; with
        ``[energy] ev_deadlines``, what the plugged vehicles ask for, as ISO 15118 / OCPP
        2.0.1 charging needs (departure time and energy requested): ``owed_by_departure``
        [kWh] and ``plugged_by_departure`` [1], (district, 24) by local departure hour
        (zeros without deadlines).
    forecast : ``air_temperature`` [degC], ``wind_speed`` [m s-1], ``ghi`` [W m-2] per
        hour ahead (ids are the lead times in hours).
    signals : what this service commanded: ``phase`` per signalized node (-1 none yet).
    """

    time: datetime
    detectors: Readings
    monitors: Readings
    meters: Readings
    chargers: Readings
    forecast: Readings
    signals: Readings


class SensorModel:
    """Interval sums of the instruments, stepped like a model (its state is restartable).

    Parameters
    ----------
    monitor_cells : (monitor,) flat grid cells of the air monitors (host).
    meter_buildings : (meter,) building of each smart meter (host).
    species : air species modelled.
    steps : coupling steps per monitor interval and per meter interval.
    xp : the backend.
    """

    OUTPUTS: ClassVar[dict] = {}

    def __init__(self, monitor_cells, meter_buildings, species, steps: tuple[int, int], xp):
        self.species = tuple(s for s in ("pm25", "no2") if s == "pm25" or "nox" in species)
        self.monitor_cells = xp.asarray(monitor_cells)
        self.meter_buildings = xp.asarray(meter_buildings)
        self.steps = steps
        m, k = int(np.size(monitor_cells)), len(self.species)
        self.STATE = {
            "monitor_sum": Var(("monitor", "pollutant"), "float64", "ug m-3", "this interval"),
            "monitor_mean": Var(("monitor", "pollutant"), "float64", "ug m-3", "last mean"),
            "meter_sum": Var(("meter",), "float64", "kW", "this interval, summed per step"),
            "meter_mean": Var(("meter",), "float64", "kW", "last interval's mean"),
            "charger_sum": Var(("district",), "float64", "kW", "EV power summed per step"),
            "charger_energy": Var(("district",), "float64", "kW h", "last interval's energy"),
        }
        self._shape = {"monitor": (m, k), "meter": (int(np.size(meter_buildings)),)}

    def init(self, inputs: Mapping[str, Any], xp) -> dict:
        n_districts = int(inputs["n_districts"])  # means are 0 until an interval is done
        return {
            "monitor_sum": xp.zeros(self._shape["monitor"]),
            "monitor_mean": xp.zeros(self._shape["monitor"]),
            "meter_sum": xp.zeros(self._shape["meter"]),
            "meter_mean": xp.zeros(self._shape["meter"]),
            "charger_sum": xp.zeros(n_districts),
            "charger_energy": xp.zeros(n_districts),
        }

    def step(self, state: Mapping[str, Any], forcing: Mapping[str, Any], dt: float) -> dict:
        xp = gpu.array_namespace(state["meter_sum"])
        st = dict(state)
        at = xp.stack([forcing[s].reshape(-1)[self.monitor_cells] for s in self.species], axis=1)
        st["monitor_sum"] = state["monitor_sum"] + at.astype(xp.float64)
        st["meter_sum"] = state["meter_sum"] + forcing["electric_load"][self.meter_buildings]
        st["charger_sum"] = state["charger_sum"] + forcing["ev_charging_power"]
        step = forcing["step"] + 1  # steps done, a host number
        if step % self.steps[0] == 0:
            st["monitor_mean"] = st["monitor_sum"] / self.steps[0]
            st["monitor_sum"] = xp.zeros_like(st["monitor_sum"])
        if step % self.steps[1] == 0:
            st["meter_mean"] = st["meter_sum"] / self.steps[1]
            st["charger_energy"] = st["charger_sum"] * (dt / 3600.0)
            st["meter_sum"] = xp.zeros_like(st["meter_sum"])
            st["charger_sum"] = xp.zeros_like(st["charger_sum"])
        return st

    def outputs(self, state: Mapping[str, Any]) -> dict:
        return {}


def sensor_component(a, settings: SensorSettings):
    """The registry factory's body: a :class:`~twin.models.Component` of the sensors."""
    from twin.models import Component

    city, sc = a.city, a.scenario
    s, g = city["sensors"], city.grid
    kind = np.array([str(k) for k in s["kind"].values])
    air, meter = kind == "air", kind == "meter"
    dt = sc.step.total_seconds()
    steps = tuple(
        max(1, round(i.total_seconds() / dt))
        for i in (settings.monitor_interval, settings.meter_interval)
    )
    model = SensorModel(
        grid_cells(g, s["x"].values[air], s["y"].values[air]),
        s["target"].values[meter],
        sc.air.species,
        steps,
        a.xp,
    )

    def forcing(ex: Exchange) -> dict:
        air_out, energy = ex.outputs["air"], ex.outputs["energy"]
        return {
            **{k: air_out[k] for k in model.species},
            "electric_load": energy["electric_load"],
            "ev_charging_power": energy["ev_charging_power"],
            "step": ex.step,
        }

    inputs = {"n_districts": city["districts"].sizes["district"]}
    return Component("sensors", model, forcing, inputs, stage="sensor readings")


@dataclass
class Noise:
    """The noise model of ``[sensors]``, seeded per decision step."""

    settings: SensorSettings
    _kinds: dict[str, int] = field(default_factory=lambda: {k: i for i, k in enumerate(KINDS)})

    def rng(self, kind: str, step: int) -> np.random.Generator:
        return np.random.default_rng((self.settings.seed, self._kinds[kind], step))

    def relative(self, values: np.ndarray, error: float, rng) -> np.ndarray:
        if self.settings.noise == "none" or error == 0:
            return values
        return np.maximum(values * (1.0 + error * rng.standard_normal(values.shape)), 0.0)

    def dropout(self, values: np.ndarray, rate: float, rng) -> np.ndarray:
        if self.settings.noise == "none" or rate == 0:
            return values
        return np.where(rng.random(values.shape) < rate, np.nan, values)

    def random_walk(self, leads_h: np.ndarray, error_24h: float, rng) -> np.ndarray:
        """Errors at ``leads_h`` [h] whose variance grows linearly with the lead."""
        if self.settings.noise == "none" or error_24h == 0:
            return np.zeros(leads_h.shape)
        steps = np.diff(leads_h, prepend=0.0)
        return np.cumsum(rng.standard_normal(leads_h.shape) * error_24h * np.sqrt(steps / 24.0))


def observe_forecast(coupler, noise: Noise, step: int, time: datetime) -> Readings:
    """The weather of the hours ahead with growing, seeded errors, as far as the run's
    weather reaches (an hour past the run's end for synthetic weather; a CSV file's span)."""
    settings = noise.settings
    leads = np.arange(1, settings.forecast_hours + 1, dtype=float)
    from twin.coupling import utc64

    times = utc64(time) + (leads * 3600).astype("timedelta64[s]")
    times = times[times <= coupler.weather.times_utc[-1]]
    leads = leads[: times.size]
    truth = coupler.weather.at(times) if times.size else {}
    rng = noise.rng("forecast", step)
    values = {}
    for name, error, relative in (
        ("air_temperature", settings.forecast_temperature_error_k, False),
        ("wind_speed", settings.forecast_wind_error_mps, False),
        ("ghi", settings.forecast_ghi_error, True),
    ):
        true = np.asarray(truth.get(name, np.zeros(0)), dtype=float)
        walk = noise.random_walk(leads, error, rng)
        value = true * (1.0 + walk) if relative else true + walk
        values[name] = value if name == "air_temperature" else np.maximum(value, 0.0)
    units = {"air_temperature": "degC", "wind_speed": "m s-1", "ghi": "W m-2"}
    return Readings(time, tuple(f"+{h:g}h" for h in leads), values, units)


def observe(coupler, noise: Noise, commanded: Mapping[int, int], step: int) -> Observation:
    """The readings before coupling step ``step`` (one host copy of the sensor state)."""
    ex = coupler.exchange
    time = coupler.scenario.time_at(step)
    settings, city = noise.settings, coupler.city
    s = city["sensors"]
    kind = np.array([str(k) for k in s["kind"].values])
    names = np.array([str(n) for n in s["name"].values])
    st = {k: np.array(gpu.to_host(v), copy=True) for k, v in ex.states["sensors"].items()}
    interval = {
        "monitor": settings.monitor_interval,
        "meter": settings.meter_interval,
    }

    def last_end(span: timedelta) -> datetime:
        start, dt = coupler.scenario.start, coupler.scenario.step
        done = (step * dt) // span * span
        return start + done

    def reported(values: np.ndarray, span: timedelta) -> np.ndarray:
        """NaN until the instrument's first interval is complete."""
        first = last_end(span) > coupler.scenario.start
        return values if first else np.full(values.shape, np.nan)

    rng = noise.rng("monitors", step)
    model = ex.models["sensors"]
    monitors = Readings(
        last_end(interval["monitor"]),
        tuple(names[kind == "air"]),
        {
            p: noise.relative(
                reported(st["monitor_mean"][:, i], interval["monitor"]), settings.monitor_error, rng
            )
            for i, p in enumerate(model.species)
        },
        dict.fromkeys(model.species, "ug m-3"),
    )
    rng = noise.rng("meters", step)
    meters = Readings(
        last_end(interval["meter"]),
        tuple(names[kind == "meter"]),
        {
            "load": noise.relative(
                reported(st["meter_mean"], interval["meter"]), settings.meter_error, rng
            )
        },
        {"load": "kW"},
    )
    energy = ex.models["energy"]
    e_state = ex.states["energy"]
    backlog = gpu.to_host(e_state["ev_backlog"])
    chargers = gpu.to_host(energy.static["chargers"])
    plugged = backlog / energy.params.ev_session_energy_kwh
    occupancy = np.where(chargers > 0, np.minimum(plugged / np.maximum(chargers, 1e-300), 1), 0)
    chargers_readings = Readings(
        last_end(interval["meter"]),
        tuple(str(n) for n in city["districts"]["name"].values),
        {
            "occupancy": occupancy,
            "energy": reported(st["charger_energy"], interval["meter"]),
            "owed_by_departure": np.array(gpu.to_host(e_state["ev_owed"]), copy=True),
            "plugged_by_departure": np.array(gpu.to_host(e_state["ev_plugged"]), copy=True),
        },
        {
            "occupancy": "1",
            "energy": "kW h",
            "owed_by_departure": "kW h",
            "plugged_by_departure": "1",
        },
    )
    traffic = ex.models["traffic"]
    shown = {k: gpu.to_host(v) for k, v in ex.outputs["traffic"].items() if k.startswith("signal_")}
    signals = signal_readings(traffic.signal_nodes, shown, commanded, time)
    return Observation(
        time=time,
        detectors=observe_detectors(coupler, noise, step, time),
        monitors=monitors,
        meters=meters,
        chargers=chargers_readings,
        forecast=observe_forecast(coupler, noise, step, time),
        signals=signals,
    )


def signal_readings(nodes: np.ndarray, shown: Mapping[str, np.ndarray], commanded, time):
    """What the signals show (``signal_phase``, ``signal_interval``, ``signal_phase_time``
    host arrays of the traffic outputs, one per node of ``nodes``) and the ``commanded``
    phase per node (-1 none yet), as :attr:`Observation.signals`."""
    return Readings(
        time,
        tuple(str(n) for n in nodes),
        {
            "commanded": np.array([commanded.get(int(n), -1) for n in nodes]),
            "phase": np.asarray(shown["signal_phase"]).astype(np.int64),
            "interval": np.asarray(shown["signal_interval"]).astype(np.int64),
            "phase_time": np.array(shown["signal_phase_time"], dtype=np.float64),
        },
        {"commanded": "1", "phase": "1", "interval": "1", "phase_time": "s"},
        {"node": np.array(nodes, copy=True)},
    )


def observe_detectors(coupler, noise: Noise, step: int, time: datetime) -> Readings:
    """Loop detectors and approach cameras (see :class:`Observation`): counts,
    occupancy and speed of the last detector interval, queues now."""
    traffic, out = coupler.exchange.models["traffic"], coupler.exchange.outputs["traffic"]
    if traffic.detectors is None:
        return Readings(time, (), {}, {}, {"link": np.zeros(0, np.int64)})
    s = coupler.city["sensors"]
    loops = [str(n) for n, k in zip(s["name"].values, s["kind"].values, strict=True) if k == "loop"]
    link = np.asarray(traffic.detectors.link)
    ids = (*loops, *(f"camera-{j}" for j in link[len(loops) :]))
    values = {k: gpu.to_host(out[k]) for k in DETECTOR_OUTPUTS}
    return detector_readings(values, link, traffic.network.to_node[link], ids, noise, step, time)


DETECTOR_OUTPUTS = (
    "detector_count", "detector_occupancy", "detector_speed", "detector_queue_length",
)  # fmt: skip


def detector_readings(values, link, node, ids, noise: Noise, step: int, time) -> Readings:
    """Detector readings with the seeded noise of ``noise`` at decision ``step``.

    Parameters
    ----------
    values : host arrays of the traffic outputs :data:`DETECTOR_OUTPUTS`, one per detector.
    link, node : (detector,) the link each detector watches and the node downstream.
    ids : detector names.
    """
    settings = noise.settings
    rng = noise.rng("detectors", step)
    readings = {}
    for name, key, error in (
        ("count", "detector_count", settings.detector_error),
        ("occupancy", "detector_occupancy", settings.detector_error),
        ("speed", "detector_speed", settings.detector_error),
        ("queue", "detector_queue_length", settings.queue_error),
    ):
        readings[name] = noise.relative(np.array(values[key], dtype=np.float64), error, rng)
    lost = noise.dropout(np.zeros(len(link)), settings.detector_dropout, rng)
    readings = {k: v + lost for k, v in readings.items()}  # a dropped detector reports nothing
    units = {"count": "1", "occupancy": "1", "speed": "m s-1", "queue": "m"}
    sites = {"link": np.array(link, copy=True), "node": np.array(node, copy=True)}
    return Readings(time, tuple(ids), readings, units, sites)
