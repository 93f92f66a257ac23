"""N seeded copies of a city's traffic, stepped as one batched model: what the envs run.

:class:`CityBatch` builds the traffic model of a scenario (the same one a coupled run
builds, :func:`twin.models.traffic_parts`) for ``n`` independent cities. With
``batch="union"`` they are ONE :class:`~sim.traffic.TrafficModel` on the disjoint union
of ``n`` copies of the road network: node, link and zone indices are offset per copy,
the OD matrix is block-diagonal, detectors and signals repeat per copy, so every
whole-array operation of a step covers all cities at once (the equivalent of a leading
batch dimension, with no change to :mod:`sim.traffic`). Nothing flows between copies: a
copy's numbers are those of a model of that city alone (the tests check it bit for
bit). The price is the zone x link tables, which grow as ``n**2`` (most entries are
the zeros between copies): the union pays off where launches dominate (a GPU, small
cities), a Python loop over ``n`` models (``batch="loop"``) on a CPU, and in between
unions of a few cities each, stepped in turn (``batch=8``). ``bench/envs.py`` measures
them.

Each copy has its own seed: the demand draws of ``[traffic] demand_noise = "poisson"``
(drawn per copy by :func:`sim.traffic.demand.draw_hour` before the step that starts an
hour, so the model finds the hour drawn) and the sensor noise of ``[sensors]``
(:class:`twin.services.sensors.Noise` with the copy's seed). Observations are the
sensor readings of :mod:`twin.services.sensors` (detectors and approach cameras, what
the signals show), never the model state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import gpu
from sim.traffic import Demand, Detectors, Network
from sim.traffic.demand import draw_hour
from twin import models
from twin.coupling import run_weather, utc64
from twin.errors import InputError
from twin.kpi import traffic_kpis
from twin.runner import _load_city
from twin.scenario import Scenario
from twin.services import actions
from twin.services.base import Context
from twin.services.hook import traffic_layout
from twin.services.sensors import (
    DETECTOR_OUTPUTS,
    Noise,
    Readings,
    detector_readings,
    signal_readings,
)

BATCHES = ("union", "loop")
_NETWORK_FIELDS = ("node_x", "node_y", "signalized", "from_node", "to_node", "length",
                   "lanes", "free_speed", "capacity", "jam_density")  # fmt: skip


def union_parts(parts: dict[str, Any], n: int) -> dict[str, Any]:
    """``n`` disjoint copies of :func:`twin.models.traffic_parts` as one network.

    Copy ``k`` has nodes ``k * n_nodes + i``, links ``k * n_links + j`` and zones
    ``k * n_zones + z``; its nodes are shifted east by ``k`` times the network's width
    plus 1 km (so no two copies overlap on a map).
    """
    net, demand, det = parts["network"], parts["demand"], parts["detectors"]
    nn, nl = net.n_nodes, net.n_links
    shift = float(np.ptp(net.node_x)) + 1000.0
    cols = {f: getattr(net, f) for f in _NETWORK_FIELDS}
    union = {f: np.concatenate([v] * n) for f, v in cols.items()}
    union["node_x"] = np.concatenate([net.node_x + k * shift for k in range(n)])
    for f, off in (("from_node", nn), ("to_node", nn)):
        union[f] = np.concatenate([cols[f] + k * off for k in range(n)])
    od = np.kron(np.eye(n), demand.od_veh_per_h)
    zones = np.concatenate([demand.zone_nodes + k * nn for k in range(n)])
    detectors = Detectors(
        np.concatenate([det.link + k * nl for k in range(n)]),
        np.concatenate([det.setback_m] * n),
        interval_s=det.interval_s,
        effective_length_m=det.effective_length_m,
    )
    control = {
        node + k * nn: mode for k in range(n) for node, mode in parts["signal_control"].items()
    }
    phases = {
        node + k * nn: [[link + k * nl for link in phase] for phase in plan]
        for k in range(n)
        for node, plan in parts["signal_phases"].items()
    }
    return {
        "network": Network.from_arrays(*(union[f] for f in _NETWORK_FIELDS)),
        "demand": Demand(zones, od, demand.profile),
        "detectors": detectors,
        "signal_control": control,
        "signal_phases": phases,
    }


@dataclass
class _Block:
    """One traffic model holding ``copies`` cities."""

    model: Any
    copies: int
    start: dict  # the state after init (the same for every seed)
    state: dict | None = None


class CityBatch:
    """``n`` seeded copies of a scenario's city traffic (see the module docstring).

    Parameters
    ----------
    scenario : the scenario (its window is the episode; ``[traffic]`` and ``[sensors]``
        settings apply to every copy). With Poisson demand the step must divide an hour.
    n : number of cities.
    batch : ``"union"`` (one batched model), ``"loop"`` (one model per city) or a whole
        number ``c``: unions of ``c`` cities (the last may hold fewer) stepped in turn.
    device : ``"cpu"``, ``"gpu"`` or ``"auto"``; None takes the scenario's.
    city : the scenario's city, if the caller has it already.

    Attributes
    ----------
    layout : :class:`twin.services.SignalLayout` of one city (nodes, phases, movements).
    context : the :class:`twin.services.Context` a service gets (city, scenario, layout).
    n_steps, dt_s : coupling steps of an episode and their length [s].
    """

    def __init__(
        self,
        scenario: Scenario,
        n: int = 1,
        *,
        batch: str | int = "union",
        device: str | None = None,
        city=None,
    ):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise InputError(f"n_envs={n!r} must be a whole number >= 1")
        per_model = {"union": int(n), "loop": 1}.get(batch, batch) if batch in BATCHES else batch
        whole = isinstance(per_model, int | np.integer) and not isinstance(per_model, bool)
        if not (whole and per_model >= 1):
            raise InputError(
                f"batch={batch!r} is not one of {BATCHES} or a whole number of cities per model"
            )
        self.dt_s = scenario.step.total_seconds()
        if 3600 % self.dt_s and scenario.traffic.demand_noise == "poisson":
            raise InputError(
                f"scenario step ({self.dt_s:g} s) must divide an hour for the hourly demand "
                'draws of [traffic] demand_noise = "poisson"'
            )
        self.scenario, self.n, self.batch = scenario, int(n), batch
        self.backend = gpu.select(device or scenario.device)
        self.city = _load_city(scenario) if city is None else city
        weather = run_weather(scenario)
        times = utc64(scenario.start) + np.arange(scenario.n_steps) * np.timedelta64(
            int(self.dt_s), "s"
        )
        self.time_of_day_s = np.asarray(weather.at(times)["local_hour"], float) * 3600.0
        a = models.Assembly(self.city, scenario, self.backend, weather, with_sensors=True)
        try:
            parts = models.traffic_parts(a)
            single = models.traffic_model(a, parts)
            sizes = [per_model] * (self.n // per_model) + [self.n % per_model] * bool(
                self.n % per_model
            )
            batched = {
                c: single if c == 1 else models.traffic_model(a, union_parts(parts, c))
                for c in set(sizes)
            }
        except ValueError as err:
            raise InputError(f"scenario [traffic] on city {self.city.name!r}: {err}") from None
        xp = self.backend.xp
        starts = {c: m.init(None, xp) for c, m in batched.items()}
        self.blocks = [_Block(batched[c], c, starts[c]) for c in sizes]
        self.single = single
        self.demand = parts["demand"]
        self.n_steps = scenario.n_steps
        self.layout = traffic_layout(single)
        self.context = Context(self.city, scenario, self.layout)
        s = self.city["sensors"]
        loops = [str(n) for n, k in zip(s["name"].values, s["kind"].values, strict=True)
                 if k == "loop"]  # fmt: skip
        link = np.asarray(single.detectors.link)
        self.detector_link = link
        self.detector_node = single.network.to_node[link]
        self.detector_ids = (*loops, *(f"camera-{j}" for j in link[len(loops) :]))
        self.seeds = [0] * self.n
        self.step_index = 0

    # ------------------------------------------------------------------ episodes
    def reset(self, seeds) -> None:
        """Start every city at the scenario's start, city ``k`` with ``seeds[k]``."""
        seeds = [int(s) for s in seeds]
        if len(seeds) != self.n or min(seeds) < 0:
            raise ValueError(f"seeds: need {self.n} whole numbers >= 0, got {seeds}")
        self.seeds = seeds
        self.noise = [Noise(self.scenario.sensors.model_copy(update={"seed": s})) for s in seeds]
        for b in self.blocks:
            b.state = {k: v.copy() for k, v in b.start.items()}
        self.step_index = 0

    def command(self, nodes: np.ndarray, phases: np.ndarray) -> None:
        """Ask signalized ``nodes`` (one city's indices) for ``phases``, (n, len(nodes))
        (a row per city), through :func:`twin.services.actions.command_phases`."""
        phases = np.asarray(phases, dtype=np.int64).reshape(self.n, -1)
        n_nodes = self.single.network.n_nodes
        k = 0
        for b in self.blocks:
            offsets = (np.arange(b.copies) * n_nodes)[:, None]
            all_nodes = (nodes[None, :] + offsets).ravel()
            b.state = actions.command_phases(
                b.model, b.state, all_nodes, phases[k : k + b.copies].ravel()
            )
            k += b.copies

    def advance(self, steps: int) -> None:
        """Run ``steps`` coupling steps of every city (stopping at the episode's end)."""
        end = min(self.step_index + steps, self.n_steps)
        scale = self.scenario.traffic.demand_scale
        poisson = self.scenario.traffic.demand_noise == "poisson"
        for i in range(self.step_index, end):
            forcing = {"time_of_day_s": float(self.time_of_day_s[i]), "demand_scale": scale}
            k = 0
            for b in self.blocks:
                if poisson:
                    self._draw(b, i, self.seeds[k : k + b.copies])
                b.state = b.model.step(b.state, forcing, self.dt_s)
                k += b.copies
        self.step_index = end

    @property
    def done(self) -> bool:
        return self.step_index >= self.n_steps

    def _draw(self, b: _Block, i: int, seeds) -> None:
        """Each copy's demand of the hour step ``i`` starts, if it starts one."""
        clock = i * self.dt_s
        hour = math.floor(clock / 3600.0 + 1e-9)
        if hour == int(b.state["demand_hour"]):  # a host value
            return
        tod = float(self.time_of_day_s[i])
        scale = self.scenario.traffic.demand_scale
        z = self.demand.n_zones
        full = np.ones((b.copies * z, b.copies * z))
        for c, seed in enumerate(seeds):
            drawn = {"demand_hour": np.asarray(-1)}
            draw_hour(np, drawn, self.demand, clock, tod, scale, seed)
            full[c * z : (c + 1) * z, c * z : (c + 1) * z] = drawn["demand_multiplier"]
        xp = self.backend.xp
        b.state = b.state | {"demand_multiplier": xp.asarray(full), "demand_hour": np.asarray(hour)}

    # -------------------------------------------------------------- observations
    def readings(self, commanded=None) -> list[tuple[Readings, Readings]]:
        """Per city: its detector readings (with its seeded noise) and what its signals
        show, now (one host copy per model)."""
        time = self.scenario.time_at(self.step_index)
        n_det, n_sig = self.detector_link.size, self.single.signal_nodes.size
        out = []
        for b in self.blocks:
            o = b.model.outputs(b.state)
            host = {
                k: np.asarray(gpu.to_host(o[k]))
                for k in (*DETECTOR_OUTPUTS, "signal_phase", "signal_interval", "signal_phase_time")
            }
            for c in range(b.copies):
                k = len(out)
                det = {key: host[key][c * n_det : (c + 1) * n_det] for key in DETECTOR_OUTPUTS}
                sig = {key: v[c * n_sig : (c + 1) * n_sig] for key, v in host.items()
                       if key.startswith("signal_")}  # fmt: skip
                detectors = detector_readings(
                    det, self.detector_link, self.detector_node, self.detector_ids,
                    self.noise[k], self.step_index, time,
                )  # fmt: skip
                given = {} if commanded is None else commanded[k]
                out.append((detectors, signal_readings(self.single.signal_nodes, sig, given, time)))
        return out

    def kpis(self) -> list[dict[str, float]]:
        """Traffic KPIs so far (:func:`twin.kpi.traffic_kpis`) per model: one per city in
        a loop, over the cities of a union (its counters are network-wide)."""
        return [traffic_kpis(b.model.counters(b.state)) for b in self.blocks]
