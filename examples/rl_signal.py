"""Train a small signal policy on the 4 x 4 grid with NumPy, and compare it honestly.

The policy is linear with weights shared by all 16 signals: each decision, every signal
scores each of its phases from what its detectors read on that phase's approaches
(queue and occupancy, summed over the approaches; the phase's share of the queued
vehicles downstream of it) and whether the phase is shown (alone and times the time in
green), and shows the best one. Its six weights are trained by evolution strategies
(antithetic Gaussian perturbations, rank-normalised returns; Salimans et al. 2017) in
``twin.envs.make_vec``: every candidate drives its own city of one vector env (one
batched traffic model), all cities with the same seed within an iteration (common random
numbers), a fresh seed each iteration. Reward: ``queue`` (minus the vehicles queued on
the approaches at each decision, whose sum over an episode is the waiting time in
vehicle-decisions).

Evaluation on held-out seeds: the network delay KPI (``total_delay``, vehicle-hours
against free flow, origin waits included) of the learned policy, the fixed-time plans
and the ``max_pressure`` rule (the built-in service's code through the env), each
over the same seeds; then, for one seed, the fixed-time plans and the learned policy as
a service (``from_policy``) in full coupled runs, which give the env's KPIs.

Run ``python examples/rl_signal.py`` (``--minutes 3`` of training by default;
``--minutes 0.5`` for a quick look).

References
----------
Salimans, T., Ho, J., Chen, X., Sidor, S., Sutskever, I. (2017). Evolution strategies as
a scalable alternative to reinforcement learning. arXiv:1703.03864.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from twin.envs import MaxPressurePolicy, SignalEnv, grid_scenario, make_vec
from twin.evaluation import member_scenario
from twin.runner import run
from twin.services import from_policy
from twin.services.signals import FixedTime


class LinearPhasePolicy:
    """Shared linear phase scores from an observation (see the module docstring)."""

    N_WEIGHTS = 6

    def __init__(self, features, layout, weights):
        self.f, self.w = features, np.asarray(weights, dtype=float)
        # serves[node, phase, approach slot]: 1 where the phase gives that approach green
        self.serves = np.zeros((features.nodes.size, features.P, features.A))
        for i, row in enumerate(features.rows):
            for p, links in enumerate(layout.phases[row]):
                self.serves[i, p] = np.isin(features.approach[i], links)

    def scores(self, observation) -> np.ndarray:
        f = self.f
        obs = np.asarray(observation, dtype=float).reshape(f.nodes.size, -1)
        shown = obs[:, : f.P]
        time_in = obs[:, f.P + 1 : f.P + 2]
        occ = obs[:, f.P + 2 : f.P + 2 + f.A]
        queue = obs[:, f.P + 2 + f.A :]
        q = np.einsum("npa,na->np", self.serves, queue)
        o = np.einsum("npa,na->np", self.serves, occ)
        total = q.sum(axis=1, keepdims=True)
        share = np.divide(q, total, out=np.zeros_like(q), where=total > 0)
        parts = np.stack([q, o, share, shown, shown * time_in, q * shown], axis=-1)
        return parts @ self.w

    def __call__(self, observation) -> np.ndarray:
        return self.scores(observation).argmax(axis=1)


def rollout_vec(env, policies, seed) -> np.ndarray:
    """Episode returns of one policy per city of the vector env, all seeded ``seed``."""
    obs, _ = env.reset(seed=[seed] * env.num_envs)
    total = np.zeros(env.num_envs)
    while True:
        actions = np.stack([p(o) for p, o in zip(policies, obs, strict=True)])
        obs, reward, _, truncated, _ = env.step(actions)
        total += reward
        if truncated.all():
            return total


def episode_delay(env, policy, seed) -> float:
    """``total_delay`` [veh h] of one episode under ``policy`` (None: fixed-time plans)."""
    if policy is None:
        batch = env.core.batch
        batch.reset([seed])
        batch.advance(batch.n_steps)
        return batch.kpis()[0]["total_delay"]
    if hasattr(policy, "reset"):
        policy.reset()
    obs, _ = env.reset(seed=seed)
    while True:
        obs, _, _, truncated, info = env.step(policy(obs))
        if truncated:
            return info["kpis"]["total_delay"]


def train(scenario, minutes, population, sigma, lr, seed):
    """Evolution strategies on the shared weights; returns them and the history."""
    env = make_vec(scenario, population, delta_s=20, reward="queue")
    layout = env.context.signals
    rng = np.random.default_rng(seed)
    w = np.array([1.0, 0.0, 0.0, 0.5, 0.0, 0.0])  # start: longest queue, some hysteresis
    history, t0, it = [], time.perf_counter(), 0
    while time.perf_counter() - t0 < minutes * 60:
        eps = rng.standard_normal((population // 2, w.size))
        eps = np.concatenate([eps, -eps])
        policies = [LinearPhasePolicy(env.features, layout, w + sigma * e) for e in eps]
        returns = rollout_vec(env, policies, seed=1000 + it)
        ranks = np.argsort(np.argsort(returns)) / (returns.size - 1) - 0.5
        w = w + lr / (population * sigma) * ranks @ eps
        history.append(float(returns.mean()))
        it += 1
        print(f"iteration {it:3d}  mean return {returns.mean():10.1f}  weights {np.round(w, 3)}")
    return w, history


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=3.0, help="training wall time")
    p.add_argument("--population", type=int, default=8, help="cities per ES iteration")
    p.add_argument("--seeds", type=int, default=5, help="held-out evaluation seeds")
    p.add_argument("--trips-per-day", type=float, default=120_000)
    args = p.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="rl-signal-"))
    trips = args.trips_per_day
    train_sc = grid_scenario(folder / "grid.zarr", hours=0.5, trips_per_day=trips)
    test_sc = grid_scenario(folder / "grid.zarr", hours=1.0, trips_per_day=trips)
    t0 = time.perf_counter()
    w, history = train(train_sc, args.minutes, args.population, sigma=0.2, lr=0.3, seed=0)
    print(f"trained {len(history)} iterations in {time.perf_counter() - t0:.0f} s")

    env = SignalEnv(test_sc, delta_s=20)
    learned = LinearPhasePolicy(env.features, env.context.signals, w)
    arms = {
        "fixed_time": None,
        "max_pressure": MaxPressurePolicy(env.features, env.context),
        "learned": learned,
    }
    seeds = range(100, 100 + args.seeds)  # never seen in training (1000 + iteration)
    delays = {name: [episode_delay(env, pol, s) for s in seeds] for name, pol in arms.items()}
    print(f"\ntotal_delay [veh h], 07:00-08:00, {args.seeds} held-out seeds (mean, per seed):")
    base = np.array(delays["fixed_time"])
    for name, values in delays.items():
        v = np.array(values)
        rel = 100 * (v - base) / base
        print(f"  {name:13s} {v.mean():8.2f}   {np.round(v, 2)}   vs fixed-time "
              f"{rel.mean():+.1f} % (per seed {np.round(rel, 1)})")  # fmt: skip
    member = member_scenario(env.scenario, seeds[0])
    print(f"\nin the coupled twin (twin.run), seed {seeds[0]}, total_delay [veh h]:")
    for name, service in (("fixed_time", FixedTime()),
                          ("learned", from_policy(learned, name="learned", every=20))):  # fmt: skip
        result = run(member, folder / f"{name}.zarr", services=[service], progress=False)
        scored = float(result.kpis["total_delay"])
        print(f"  {name:13s} {scored:8.2f} as a service (env: {delays[name][0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
