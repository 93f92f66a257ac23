"""Learning environments: the Gymnasium and PettingZoo API checks, seeded episodes, the
batched cities against single ones, max pressure through the env against the service,
the reward definitions against hand-computed values, bad settings."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("pettingzoo")

from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

from twin.envs import (
    EnergyEnv,
    MaxPressurePolicy,
    SignalEnv,
    SignalParallelEnv,
    grid_scenario,
    make_vec,
)
from twin.envs.features import SignalFeatures
from twin.errors import InputError
from twin.evaluation import member_scenario
from twin.runner import run
from twin.services import Readings, from_policy
from twin.services.signals import MaxPressure
from twin.testing import scenario

TRAFFIC_KPIS = ("vehicle_hours_travelled", "total_delay", "mean_trip_time", "completed_trips",
                "vehicles_in_network")  # fmt: skip


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """20 minutes of the 4 x 4 grid at 20 s steps (Poisson demand, noisy sensors)."""
    path = tmp_path_factory.mktemp("grid") / "grid.zarr"
    return grid_scenario(path, hours=1 / 3)


def _episode(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    seen, rewards = [obs], []
    for a in actions:
        obs, r, _, _, info = env.step(a)
        seen.append(obs)
        rewards.append(r)
    return np.array(seen), np.array(rewards), info


def test_signal_envs_pass_the_gymnasium_and_pettingzoo_checks(grid):
    check_env(SignalEnv(grid), skip_render_check=True)
    check_env(SignalEnv(grid, nodes=5, delta_s=40, reward="pressure"), skip_render_check=True)
    parallel_api_test(SignalParallelEnv(grid, reward="queue"), num_cycles=100)


def test_energy_env_passes_the_check_and_pays_the_kpi_fall():
    sc = scenario(hours=1)
    env = EnergyEnv(sc, delta_s=900, reward={"electricity_cost": 1.0, "peak_load": 1e6})
    check_env(env, skip_render_check=True)
    _, info = env.reset(seed=2)
    start = info["kpis"]
    _, first, _, _, info = env.step(env.action_space.sample())
    # no peak before any load (-inf): the first interval pays the cost alone
    assert start["peak_load"] == -np.inf
    assert first == pytest.approx(-info["kpis"]["electricity_cost"], rel=1e-12)
    before = info["kpis"]
    _, reward, _, _, info = env.step(env.action_space.sample())
    now = info["kpis"]
    expected = (before["electricity_cost"] - now["electricity_cost"]) + 1e6 * (
        before["peak_load"] - now["peak_load"]
    )
    assert reward == pytest.approx(expected, rel=1e-12)
    with pytest.raises(InputError, match="KPI table"):
        EnergyEnv(sc, reward="happiness")


def test_a_seeded_reset_repeats_the_episode_bit_for_bit(grid):
    env = SignalEnv(grid)
    actions = [env.action_space.sample() for _ in range(20)]
    obs1, rew1, _ = _episode(env, 7, actions)
    obs2, rew2, _ = _episode(env, 7, actions)
    np.testing.assert_array_equal(obs1, obs2)
    np.testing.assert_array_equal(rew1, rew2)
    obs3, _, _ = _episode(env, 8, actions)  # another seed: other demand and noise
    assert not np.array_equal(obs1, obs3)


def test_vector_env_with_one_city_is_the_single_env_and_copies_are_single_cities(grid):
    env = SignalEnv(grid, delta_s=40)
    rng = np.random.default_rng(0)
    steps = env.scenario.n_steps // 2
    actions = rng.integers(0, 2, size=(steps, 3, 16))
    single = {s: _episode(env, s, actions[:, k]) for k, s in enumerate((3, 4, 5))}
    vec1 = make_vec(grid, 1, delta_s=40)
    np.testing.assert_array_equal(_episode(vec1, 3, actions[:, :1])[0][:, 0], single[3][0])
    for batch in ("union", "loop", 2):  # 2: a union of cities 0, 1 and one of city 2
        vec = make_vec(grid, 3, delta_s=40, batch=batch)
        obs, rewards, info = _episode(vec, 3, actions)
        per_model = info["kpis" if batch == "loop" else "kpis_per_model"]
        assert len(per_model) == {"union": 1, "loop": 3, 2: 2}[batch]
        for k, s in enumerate((3, 4, 5)):
            # bit for bit but the queue readings of a union's later copies: the model's
            # queue output is a difference of a network-wide cumulative sum (rounding of
            # 1e-13 m on 1 km links)
            np.testing.assert_allclose(obs[:, k], single[s][0], rtol=0, atol=1e-12)
            np.testing.assert_allclose(rewards[:, k], single[s][1], rtol=1e-12, atol=1e-9)
            if batch == "loop" or k == 0 or (batch == 2 and k == 2):
                np.testing.assert_array_equal(obs[:, k], single[s][0])
    # the step after the end resets every city (gymnasium's next-step autoreset)
    _, reward, _, truncated, _ = vec.step(actions[0])
    assert not truncated.any() and not reward.any()


def test_max_pressure_through_the_env_scores_as_the_service(grid, tmp_path):
    env = SignalEnv(grid, delta_s=40)
    policy = MaxPressurePolicy(env.features, env.context)
    obs, _ = env.reset(seed=4)
    done = False
    while not done:
        obs, _, _, done, info = env.step(policy(obs))
    member = member_scenario(env.scenario, 4)  # the seed of evaluate's member 4
    service = run(member, tmp_path / "mp.zarr", services=[MaxPressure(every=40)], progress=False)
    wrapped = from_policy(MaxPressurePolicy(env.features, env.context), every=40)
    as_policy = run(member, tmp_path / "policy.zarr", services=[wrapped], progress=False)
    for name in TRAFFIC_KPIS:
        assert info["kpis"][name] == float(service.kpis[name]), name
        assert info["kpis"][name] == float(as_policy.kpis[name]), name


def _readings(context, queue_m, occupancy=None, speed=None):
    links = np.array(sorted(queue_m), dtype=np.int64)
    values = {"queue": np.array([queue_m[j] for j in links], dtype=float)}
    if occupancy is not None:
        values |= {"occupancy": np.array([occupancy[j] for j in links], dtype=float),
                   "speed": np.array([speed[j] for j in links], dtype=float)}  # fmt: skip
    t = datetime(2026, 6, 17, 8)
    return Readings(t, tuple(map(str, links)), values, {}, {"link": links})


def test_rewards_are_the_documented_sums_of_the_readings(grid):
    env = SignalEnv(grid, nodes=5)
    ctx, roads = env.context, env.context.city["roads"]
    frm, to = roads["from_node"].values, roads["to_node"].values
    into, out = np.flatnonzero(to == 5), np.flatnonzero(frm == 5)
    per_m = 3 * 0.133  # three lanes at the grid's jam density [veh m-1]
    queues = {int(into[0]): 100.0, int(into[1]): 50.0, int(out[0]): 30.0, 999: 500.0}
    queues.pop(999)
    readings = _readings(ctx, queues)
    expected_q = 150.0 * per_m
    for name, value in (("queue", -expected_q), ("pressure", -(expected_q - 30.0 * per_m))):
        f = SignalFeatures(ctx, [5], 20.0, name)
        assert f.reward(readings)[0] == pytest.approx(value, rel=1e-6)
    f = SignalFeatures(ctx, [5], 20.0, "diff_waiting_time")
    assert f.reward(readings)[0] == pytest.approx(-expected_q * 20.0, rel=1e-6)
    assert f.reward(_readings(ctx, {}))[0] == pytest.approx(expected_q * 20.0, rel=1e-6)
    # delay: a standing queue (speed 0) under full occupancy loses all its time
    link = int(into[0])
    f = SignalFeatures(ctx, [5], 20.0, "delay")
    full = _readings(ctx, {link: 0.0}, occupancy={link: 1.0}, speed={link: 0.0})
    vehicles = 1.0 / grid.traffic.effective_vehicle_length_m * 3 * 300.0  # 3 lanes, 300 m
    assert f.reward(full)[0] == pytest.approx(-vehicles * 20.0, rel=1e-6)
    v_free = float(roads["free_speed"].values[link])
    free = _readings(ctx, {link: 0.0}, occupancy={link: 0.5}, speed={link: v_free})
    assert f.reward(free)[0] == pytest.approx(0.0, abs=1e-6)


def test_bad_settings_are_clear_errors(grid):
    with pytest.raises(InputError, match="not signalized"):
        SignalEnv(grid, nodes=[20])
    with pytest.raises(InputError, match="delta_s"):
        SignalEnv(grid, delta_s=30)
    with pytest.raises(InputError, match="reward"):
        SignalEnv(grid, reward="speed")
    with pytest.raises(InputError, match="n_envs"):
        make_vec(grid, 0)
    for batch in ("threads", 0, True):
        with pytest.raises(InputError, match="batch"):
            make_vec(grid, 2, batch=batch)
