"""Signal-control environments over the twin: Gymnasium, PettingZoo, and their core.

An episode is the scenario's window (e.g. 07:00-09:00) of a city's traffic, seeded: the
seed sets the demand draws (``[traffic] demand_noise = "poisson"``) and the sensor noise
(``[sensors]``) as :func:`twin.evaluate` sets them per seed. Every ``delta_s`` the agent
names the next phase of each controlled node; the node joins ``phase_select`` control,
as under a :class:`twin.services.SignalPhase`, and the traffic model inserts amber and
all-red and keeps the minimum green. Observations and rewards are those of
:class:`twin.envs.features.SignalFeatures` (sensor readings, never the model state).
The traffic runs alone (air and energy do not feed back into it within a run, so its
results are those of the coupled twin); its KPIs come with the last step's ``info``.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from twin.envs.batch import CityBatch
from twin.envs.features import SignalFeatures
from twin.errors import InputError
from twin.scenario import Scenario

_SEEDS = 2**31 - 1  # episode seeds drawn by a generator are below this


def env_scenario(scenario: Scenario, delta_s: float | None) -> tuple[Scenario, float]:
    """The scenario the envs run (detectors report every ``delta_s`` unless the scenario
    sets ``[traffic] detector_interval_s``) and ``delta_s`` [s] (default: the step)."""
    step = scenario.step.total_seconds()
    delta = step if delta_s is None else float(delta_s)
    if not delta > 0 or delta % step or scenario.duration.total_seconds() % delta:
        raise InputError(
            f"delta_s={delta_s!r} must be a whole multiple of the scenario step ({step:g} s) "
            f"that divides its duration ({scenario.duration.total_seconds():g} s)"
        )
    if scenario.traffic.detector_interval_s is None:
        traffic = scenario.traffic.model_dump() | {"detector_interval_s": delta}
        scenario = scenario.with_updates(traffic=traffic)
    return scenario, delta


class SignalCore:
    """``n`` seeded cities, their controlled nodes' features, stepped together.

    Parameters
    ----------
    scenario, n, batch, device, city : see :class:`twin.envs.batch.CityBatch`.
    nodes, delta_s, reward : see :class:`twin.envs.features.SignalFeatures`.
    """

    def __init__(self, scenario, n=1, *, nodes=None, delta_s=None, reward="diff_waiting_time",
                 batch="union", device=None, city=None):  # fmt: skip
        scenario, delta = env_scenario(scenario, delta_s)
        self.batch = CityBatch(scenario, n, batch=batch, device=device, city=city)
        self.scenario, self.n, self.delta_s = scenario, n, delta
        self.steps = round(delta / scenario.step.total_seconds())
        self.features = [SignalFeatures(self.batch.context, nodes, delta, reward) for _ in range(n)]
        self.nodes = self.features[0].nodes

    def reset(self, seeds) -> np.ndarray:
        """(n, node, feature) observations at the start, city ``k`` seeded ``seeds[k]``."""
        self.batch.reset(seeds)
        for f in self.features:
            f.reset()
        return self._observe()[0]

    def step(self, phases) -> tuple[np.ndarray, np.ndarray, bool]:
        """Command (n, node) phases, run ``delta_s``; observations, (n, node) rewards and
        whether the episode is over."""
        self.batch.command(self.nodes, phases)
        self.batch.advance(self.steps)
        obs, rewards = self._observe()
        return obs, rewards, self.batch.done

    def _observe(self):
        readings = self.batch.readings()
        obs = np.stack([f.observe(d, s) for f, (d, s) in zip(self.features, readings, strict=True)])
        rewards = np.stack([f.reward(d) for f, (d, _) in zip(self.features, readings, strict=True)])
        return obs, rewards

    def info(self) -> dict[str, Any]:
        """``time`` (of the observation) and, at the episode's end, the traffic ``kpis``
        (one city: a dict; a loop: a list per city; unions: ``kpis_per_model``, each the
        totals of a model's cities, as its counters are network-wide)."""
        info: dict[str, Any] = {"time": self.scenario.time_at(self.batch.step_index).isoformat()}
        if self.batch.done:
            kpis = self.batch.kpis()
            if self.n == 1:
                info["kpis"] = kpis[0]
            elif len(kpis) == self.n:
                info["kpis"] = kpis
            else:  # unions: a model's counters sum over its cities
                info["kpis_per_model"] = kpis
        return info

    def action_space(self) -> spaces.Space:
        """The next phase of each controlled node (``Discrete`` for one)."""
        n_phases = self.features[0].n_phases
        if n_phases.size == 1:
            return spaces.Discrete(int(n_phases[0]))
        return spaces.MultiDiscrete(n_phases)

    def observation_space(self, nodes: int) -> spaces.Box:
        f = self.features[0]
        low = np.zeros((nodes, f.n_features))
        high = np.full_like(low, f.READING_CAP)
        high[:, : f.P + 2] = 1.0  # phase one-hot, green flag, time in phase
        return spaces.Box(low.reshape(-1), high.reshape(-1), dtype=np.float64)


class SignalEnv(gymnasium.Env):
    """One agent for one or all signalized nodes of a city (see the module docstring).

    Parameters
    ----------
    scenario : a :class:`twin.Scenario` (its window is the episode).
    nodes : controlled signalized node(s) (default: all).
    delta_s : [s] time between decisions (a multiple of the step; default the step).
    reward : ``"diff_waiting_time"``, ``"queue"``, ``"pressure"`` or ``"delay"``
        (:mod:`twin.envs.features`), summed over the controlled nodes.
    device : ``"cpu"``, ``"gpu"`` or ``"auto"`` (default: the scenario's).

    The action is the next phase of each node: ``Discrete`` for one node, else
    ``MultiDiscrete``. Episodes end by truncation at the scenario's end.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium's class attribute)

    def __init__(self, scenario: Scenario, nodes=None, delta_s=None, reward="diff_waiting_time",
                 device=None, *, city=None):  # fmt: skip
        self.core = SignalCore(scenario, 1, nodes=nodes, delta_s=delta_s, reward=reward,
                               device=device, city=city)  # fmt: skip
        self.scenario, self.features = self.core.scenario, self.core.features[0]
        self.observation_space = self.core.observation_space(self.features.nodes.size)
        self.action_space = self.core.action_space()

    @property
    def context(self):
        return self.core.batch.context

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        episode = seed if seed is not None else int(self.np_random.integers(_SEEDS))
        obs = self.core.reset([episode])
        return obs[0].reshape(-1), self.core.info()

    def step(self, action):
        obs, rewards, done = self.core.step(np.asarray(action).reshape(1, -1))
        return obs[0].reshape(-1), float(rewards[0].sum()), False, done, self.core.info()


class SignalParallelEnv(ParallelEnv):
    """One agent per signalized node (PettingZoo ``ParallelEnv``), agents ``"node<i>"``.

    Parameters are those of :class:`SignalEnv`; each agent gets its own node's
    observation, action (``Discrete`` phases) and reward.
    """

    metadata = {"render_modes": [], "name": "twin_signal_v0"}  # noqa: RUF012

    def __init__(self, scenario: Scenario, nodes=None, delta_s=None, reward="diff_waiting_time",
                 device=None, *, city=None):  # fmt: skip
        self.core = SignalCore(scenario, 1, nodes=nodes, delta_s=delta_s, reward=reward,
                               device=device, city=city)  # fmt: skip
        self.features = self.core.features[0]
        self.possible_agents = [f"node{n}" for n in self.features.nodes]
        self.agents: list[str] = []
        space = self.core.observation_space(1)
        self._observation_spaces = dict.fromkeys(self.possible_agents, space)
        self._action_spaces = {
            a: spaces.Discrete(int(p))
            for a, p in zip(self.possible_agents, self.features.n_phases, strict=True)
        }
        self._rng = np.random.default_rng()

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_spaces[agent]

    def reset(self, seed: int | None = None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        episode = seed if seed is not None else int(self._rng.integers(_SEEDS))
        self.agents = list(self.possible_agents)
        obs = self.core.reset([episode])[0]
        info = self.core.info()
        return self._split(obs), {a: dict(info) for a in self.agents}

    def step(self, actions: dict):
        missing = sorted(set(self.agents) - set(actions))
        if missing:
            raise InputError(f"actions: no action for agent(s) {missing}")
        phases = np.array([[int(actions[a]) for a in self.possible_agents]])
        obs, rewards, done = self.core.step(phases)
        info = self.core.info()
        agents = self.agents
        out = (
            self._split(obs[0]),
            {a: float(r) for a, r in zip(agents, rewards[0], strict=True)},
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, done),
            {a: dict(info) for a in agents},
        )
        if done:
            self.agents = []
        return out

    def _split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {a: obs[i] for i, a in enumerate(self.possible_agents)}
