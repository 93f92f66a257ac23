"""The coupled step: the run's models stepped in order, each fed by its stage.

:class:`Coupler` holds the components of a run (:mod:`twin.models`), their states and
the :class:`~twin.stages.Exchange` of their latest outputs. A coupling step runs, per
component in the registry's order, its stage (the forcing from the weather and the
other models' outputs) and its model's step, then records its outputs in the
exchange. The order and why is in :mod:`twin.runner`.

Between two output intervals a step makes no device-to-host synchronisation: weather
scalars are computed for every step at set-up (they are host numbers), stages and
models read only device arrays and host values, and timers synchronise only when
profiling is asked for. Services hook in between steps with :meth:`Coupler.observe`
and :meth:`Coupler.apply`.
"""

from __future__ import annotations

import time as wallclock
from collections import defaultdict
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np

import gpu
from sim import protocol, weather
from twin import health, models, weatherfiles
from twin.catalog import load_manifest
from twin.city import City
from twin.errors import InputError
from twin.kpi import kpi_dataset, totals
from twin.scenario import Scenario
from twin.stages import Exchange


class Timers:
    """Wall time per part [s]; on a GPU a part's time is the launch time of its kernels
    unless ``profile`` makes each part wait for its kernels (a sync per part)."""

    def __init__(self, backend: gpu.Backend, profile: bool = False):
        self.backend, self.profile = backend, profile
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, name: str):
        t0 = wallclock.perf_counter()
        try:
            yield
        finally:
            if self.profile:
                self.backend.synchronize()
            self.seconds[name] += wallclock.perf_counter() - t0


def run_weather(scenario: Scenario) -> weather.Weather:
    """The weather that drives ``scenario``: synthetic from its dataset's climatology
    (also for a stored city), or its CSV file."""
    try:
        manifest = load_manifest(scenario.city.dataset)
        climate = weatherfiles.load_climatology(manifest.file("climate"))
    except ValueError as err:
        raise InputError(f"city.dataset: {err}") from None
    start = utc64(scenario.start)
    end = start + np.timedelta64(int(scenario.duration.total_seconds()) + 3600, "s")
    if scenario.weather.source == "synthetic":
        return weather.synthetic_weather(climate, start, end, seed=scenario.weather.seed)
    try:
        forcing = weatherfiles.read_weather_csv(scenario.weather.source, climate)
    except ValueError as err:
        raise InputError(f"weather.source: {err}") from None
    first, last = forcing.times_utc[0], forcing.times_utc[-1]
    needed = utc64(scenario.time_at(scenario.n_steps - 1))  # the start of the last step
    if first > start or last < needed:
        raise InputError(
            f"weather.source: weather file {scenario.weather.source} covers {first} to {last} "
            f"UTC; the run needs {start} to {needed} UTC"
        )
    return forcing


class Coupler:
    """The models of one city and scenario, stepped together.

    Parameters
    ----------
    city, scenario, backend : the run.
    profile : timers wait for the device after each part (exact GPU times, one sync each).
    check_every_step : check every output and state for NaN/Inf after each step (on a
        GPU a sync per array); by default the runner checks host copies once per output.
    sensors : add the city's sensors to the loop (for services).
    weather : the run's weather, when the caller has read it already (default: read it
        with :func:`run_weather`).
    """

    def __init__(
        self,
        city: City,
        scenario: Scenario,
        backend: gpu.Backend,
        *,
        profile: bool = False,
        check_every_step: bool = False,
        sensors: bool = False,
        weather: weather.Weather | None = None,
    ):
        self.city, self.scenario, self.backend = city, scenario, backend
        self.check_every_step = check_every_step
        self.weather = run_weather(scenario) if weather is None else weather
        times = utc64(scenario.start) + np.arange(scenario.n_steps) * np.timedelta64(
            int(scenario.step.total_seconds()), "s"
        )
        try:  # every step's forcing at once: host numbers, looked up by step
            self.forcing = self.weather.at(times)
        except ValueError as err:
            raise InputError(f"weather.source: {err}") from None
        assembly = models.Assembly(city, scenario, backend, self.weather, with_sensors=sensors)
        self.components = models.build(assembly)
        self.timers = Timers(backend, profile)
        self.exchange = Exchange(dt_s=scenario.step.total_seconds())
        self.exchange.models = {c.name: c.model for c in self.components}

    # -------------------------------------------------------------------- states
    def init(self) -> None:
        """Start states of every component."""
        xp = self.backend.xp
        self._set_states({c.name: c.model.init(c.inputs, xp) for c in self.components})

    def restore(self, arrays: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """States from a restart snapshot (host arrays), bit for bit."""
        xp = self.backend.xp
        try:
            states = {
                c.name: protocol.restore(c.model, c.inputs, arrays.get(c.name, {}), xp)
                for c in self.components
            }
        except ValueError as err:
            raise InputError(f"the store's restart data does not fit this run: {err}") from None
        self._set_states(states)

    def _set_states(self, states: dict) -> None:
        ex = self.exchange
        ex.states = states
        ex.outputs = {c.name: c.model.outputs(states[c.name]) for c in self.components}

    # ---------------------------------------------------------------------- step
    def step(self, i: int) -> None:
        """Advance every model over coupling step ``i`` (``[t_i, t_i + step)``)."""
        ex, timer = self.exchange, self.timers
        ex.step, ex.time = i, self.scenario.time_at(i)
        ex.weather = {k: v[i] for k, v in self.forcing.items()}
        for c in self.components:
            with timer(c.stage):
                forcing = c.forcing(ex)
            with timer(c.name):
                state = c.model.step(ex.states[c.name], forcing, ex.dt_s)
                ex.states[c.name] = state
                ex.outputs[c.name] = c.model.outputs(state)
        if self.check_every_step:
            with timer("health"):
                when = f"at simulated time {ex.time:%Y-%m-%d %H:%M:%S%z}"
                self.check(ex.outputs, when)
                self.check(ex.states, when, what="state")

    def forcing_record(self) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, dict]]]:
        """The weather scalars of every coupling step (:data:`sim.weather.FORCING`, with
        their attributes) and the steps' start times [s since the start], for the store."""
        step_s = self.scenario.step.total_seconds()
        seconds = (np.arange(self.scenario.n_steps) * step_s).astype(np.int64)
        return seconds, {k: (self.forcing[k], dict(a)) for k, a in weather.FORCING.items()}

    # ---------------------------------------------------------------- services
    def observe(self) -> dict[str, Any]:
        """What services may see between steps: the time and each model's latest outputs
        (device arrays; sensor models build on this)."""
        ex = self.exchange
        return {"time": ex.time, "outputs": {k: dict(v) for k, v in ex.outputs.items()}}

    def apply(self, name: str, change: Callable[[Any, dict], dict]) -> None:
        """Replace the state of component ``name`` by ``change(model, state)`` between
        steps (e.g. ``lambda m, s: m.set_signal_plan(s, node, green_s=...)``)."""
        ex = self.exchange
        model = ex.models[name]
        ex.states[name] = change(model, ex.states[name])
        ex.outputs[name] = model.outputs(ex.states[name])

    # ------------------------------------------------------------------ snapshots
    def host_outputs(self) -> dict[str, dict[str, np.ndarray]]:
        """Host float32 copies of every model's latest outputs (a sync)."""
        return {
            c.name: {
                k: gpu.to_host(v).astype(np.float32)
                for k, v in self.exchange.outputs[c.name].items()
            }
            for c in self.components
            if c.model.OUTPUTS
        }

    def host_states(self) -> dict[str, dict[str, np.ndarray]]:
        """Host copies of every restart variable (a sync)."""
        return {
            c.name: protocol.snapshot(c.model, self.exchange.states[c.name])
            for c in self.components
        }

    def check(self, arrays, when: str, what: str = "output") -> None:
        """The health check (:func:`twin.health.check`) of ``{component: {name: array}}``;
        ``when`` says when, for the message."""
        dims = {
            c.name: (
                {k: v["dims"] for k, v in c.model.OUTPUTS.items()}
                if what == "output"
                else {k: v.dims for k, v in c.model.STATE.items()}
            )
            for c in self.components
        }
        infinite = {
            c.name: {k for k, v in c.model.STATE.items() if v.infinite} for c in self.components
        }
        health.check(arrays, dims, when, self.city.grid, what, infinite)

    # ------------------------------------------------------------------- layouts
    def layouts(self):
        """Store layout of every output ``{component: {var: (dims, shape, attrs)}}``, their
        coordinates, and the restart layout ``{component: {var: (dims, shape, dtype)}}``
        (call after :meth:`init`)."""
        sizes = city_sizes(self.city)
        layouts, restart = {}, {}
        for c in self.components:
            known = sizes | dict(c.sizes)
            if c.model.OUTPUTS:
                layouts[c.name] = {
                    name: (
                        tuple(a["dims"]),
                        tuple(known[d] for d in a["dims"]),
                        {k: v for k, v in a.items() if k != "dims"},
                    )
                    for name, a in c.model.OUTPUTS.items()
                }
            state = self.exchange.states[c.name]
            restart[c.name] = {
                name: (var.dims, tuple(np.shape(state[name])), var.dtype)
                for name, var in protocol.restart_vars(c.model).items()
            }
        g = self.city.grid
        coords = {
            c.name: {
                d: ((d,), g[d].values, dict(g[d].attrs))
                for d in ("y", "x")
                if any(d in dims for dims, _, _ in layouts[c.name].values())
            }
            | dict(c.coords)
            for c in self.components
            if c.name in layouts
        }
        return layouts, coords, restart

    # ----------------------------------------------------------------------- KPIs
    def kpis(self):
        """Run KPIs with units (see :data:`twin.kpi.KPIS`): each component's, and the
        totals across them."""
        values: dict[str, float] = {}
        for c in self.components:
            if c.kpis is not None:
                values |= c.kpis(self.exchange.states[c.name])
        return kpi_dataset(totals(values))


def city_sizes(city: City) -> dict[str, int]:
    """Lengths of the city's dimensions (y, x, link, node, building, district, sensor)."""
    sizes: dict[str, int] = {}
    for group in ("grid", "roads", "buildings", "districts", "sensors"):
        sizes |= dict(city[group].sizes)
    return sizes


def utc64(t: datetime) -> np.datetime64:
    """A timezone-aware datetime as a UTC ``datetime64[s]``."""
    return np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "s")
