"""``make_vec``: N seeded cities stepped as one batched model, a Gymnasium vector env.

The N cities run as one traffic model on the disjoint union of N copies of the road
network (:mod:`twin.envs.batch`; ``batch="loop"`` steps N models in turn instead), so
a step of the vector env is one batched step on the device. City ``k`` is seeded
``seed + k`` at ``reset(seed=seed)`` (Gymnasium's convention), so with N = 1 the vector
env is :class:`twin.envs.SignalEnv`. All cities share the scenario's window, so their
episodes end together; the step after the end resets them all with fresh seeds
(``AutoresetMode.NEXT_STEP``: reward 0, the actions ignored).
"""

from __future__ import annotations

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from twin.envs.signal import _SEEDS, SignalCore
from twin.scenario import Scenario


class SignalVecEnv(VectorEnv):
    """Vector signal env over ``n_envs`` cities (see :func:`make_vec`)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012 (gymnasium's)

    def __init__(self, scenario: Scenario, n_envs: int, *, nodes=None, delta_s=None,
                 reward="diff_waiting_time", batch="union", device=None, city=None):  # fmt: skip
        self.core = SignalCore(scenario, n_envs, nodes=nodes, delta_s=delta_s, reward=reward,
                               batch=batch, device=device, city=city)  # fmt: skip
        self.num_envs = n_envs
        self.features = self.core.features[0]
        self.single_observation_space = self.core.observation_space(self.features.nodes.size)
        self.single_action_space = self.core.action_space()
        self.observation_space = batch_space(self.single_observation_space, n_envs)
        self.action_space = batch_space(self.single_action_space, n_envs)
        self._rng = np.random.default_rng()
        self._ended = False

    @property
    def context(self):
        return self.core.batch.context

    def reset(self, *, seed=None, options=None):
        """Reset every city: city ``k`` gets ``seed + k`` (or ``seed[k]`` for a list);
        without a seed, seeds drawn from the env's generator."""
        if isinstance(seed, list | tuple):
            seeds = [int(s) for s in seed]
        elif seed is not None:
            self._rng = np.random.default_rng(seed)
            seeds = [int(seed) + k for k in range(self.num_envs)]
        else:
            seeds = self._rng.integers(_SEEDS, size=self.num_envs).tolist()
        self._ended = False
        obs = self.core.reset(seeds)
        return obs.reshape(self.num_envs, -1), self.core.info()

    def step(self, actions):
        if self._ended:
            obs, info = self.reset()
            zeros = np.zeros(self.num_envs, dtype=bool)
            return obs, np.zeros(self.num_envs), zeros, zeros.copy(), info
        phases = np.asarray(actions).reshape(self.num_envs, -1)
        obs, rewards, done = self.core.step(phases)
        self._ended = done
        truncated = np.full(self.num_envs, done)
        return (
            obs.reshape(self.num_envs, -1),
            rewards.sum(axis=1),
            np.zeros(self.num_envs, dtype=bool),
            truncated,
            self.core.info(),
        )


def make_vec(scenario: Scenario, n_envs: int = 8, **kwargs) -> SignalVecEnv:
    """``n_envs`` seeded cities of ``scenario`` as one Gymnasium vector env.

    Parameters
    ----------
    scenario : the scenario (its window is every city's episode).
    n_envs : number of cities.
    **kwargs : ``nodes``, ``delta_s``, ``reward``, ``device`` as for
        :class:`twin.envs.SignalEnv`; ``batch`` ``"union"`` (default: one batched model),
        ``"loop"`` (one model per city, stepped in turn) or a whole number of cities per
        batched model (unions stepped in turn).
    """
    return SignalVecEnv(scenario, n_envs, **kwargs)
