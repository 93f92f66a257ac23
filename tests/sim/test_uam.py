"""The UAM flight model (sim/uam/model.py) and its noise (sim/uam/noise.py): a flyover
against the analytic SEL, conservation of flights, pad capacity, zero flights."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

import gpu
from sim import protocol
from sim.uam import PHASES, UamModel, noise, routing
from sim.uam.model import AIRBORNE, DEBOARDING, DONE, HOLDING, LANDING, QUEUED

RES = 100.0


def flat_model(flights, vertiports, pads=(1, 1), ny=30, nx=220, **kw) -> UamModel:
    """A flat, empty city at 100 m; ``flights`` is (origin, destination, departure_s)."""
    x, y = RES * np.arange(nx), RES * np.arange(ny)
    surface = np.zeros((ny, nx))
    grid = routing.route_grid(surface, x, y, 200.0, 50.0, 400.0, 60.0)
    o, d, t = (np.asarray(v) for v in zip(*flights, strict=True)) if flights else ([], [], [])
    # receivers every 300 m (blocks of 3 x 3 cells), 4 m above the ground
    rx, ry = np.meshgrid(routing.blocks(x[None], 3, "mean")[0], routing.blocks(y[:, None], 3,
                         "mean")[:, 0])  # fmt: skip
    receivers = np.stack([rx, ry, np.full(rx.shape, noise.RECEIVER_HEIGHT_M)], axis=-1)
    cell = ((np.arange(ny) // 3)[:, None] * rx.shape[1] + (np.arange(nx) // 3)).ravel()
    return UamModel(
        grid, surface, x, y, np.asarray(vertiports, float), np.asarray(pads),
        np.asarray(o, dtype=np.int64), np.asarray(d, dtype=np.int64), np.asarray(t, float),
        receivers, np.ones(rx.shape), cell, 300.0,
        np.zeros(grid.top.shape), np.zeros(grid.top.shape), **kw,
    )  # fmt: skip


def _run(model, hours, dt=60.0, start_hour=8.0, xp=np):
    state = model.init({}, xp)
    history = [state]
    for i in range(round(hours * 3600 / dt)):
        forcing = {
            "time_s": i * dt,
            "local_hour": start_hour + i * dt / 3600,
            "hour_done": (i + 1) * dt % 3600 == 0,
        }
        state = model.step(state, forcing, dt)
        history.append(state)
    return history


def test_a_straight_flyover_matches_the_analytic_sel():
    # 20.8 km due east along y = 1450 m (route-cell centres); the receivers every 300 m
    ends = [[450.0, 1450.0, 0.0], [21250.0, 1450.0, 0.0]]
    model = flat_model([(0, 1, 0.0)], ends)
    state = _run(model, 1.5)[-1]
    assert np.all(model.init({}, np)["route_y"][0] == 1450.0)
    track = model.grid.node(450.0, 1450.0)
    height = model.grid.z[track[0]] - noise.RECEIVER_HEIGHT_M
    # the receiver 450 m south of the track (y = 1000 m), mid-way along it
    at = np.flatnonzero((model.receivers_host[:, 1] == 1000.0)
                        & (model.receivers_host[:, 0] == 10900.0))[0]  # fmt: skip
    d = math.hypot(height, 450.0)
    v = model.aircraft.cruise_speed_mps
    k = noise.ABSORPTION_DB_PER_M * math.log(10) / 10
    # the SEL of an infinite straight line with ISO 9613-2 absorption, by quadrature
    integral, _ = quad(lambda t: math.exp(-k * math.hypot(d, v * t)) / (d * d + (v * t) ** 2),
                       -np.inf, np.inf, epsabs=0, epsrel=1e-10)  # fmt: skip
    analytic = noise.SOURCE_LEVEL_DBA - noise.DIVERGENCE_DB + 10 * math.log10(integral)
    modelled = 10 * math.log10(float(state["noise_exposure"][at])) + noise.SOURCE_LEVEL_DBA - 11
    assert abs(modelled - analytic) < 0.5, (modelled, analytic)
    # without absorption the segment formula is exact: the closed form pi / (v d)
    p0, p1 = np.array([[-2e6, 0.0, d]]), np.array([[2e6, 0.0, d]])
    e = noise.segment_exposure(p0, p1, 4e6 / v, np.zeros((1, 3)), np, absorption_db_per_m=0.0)
    sel = 10 * math.log10(float(e[0, 0])) + noise.SOURCE_LEVEL_DBA - 11
    finite = 10 * math.log10(2 * math.atan(2e6 / d) / math.pi)  # a 4,000 km line's share
    # (1e-4 dB: the 1 m floor on the miss distance, sqrt(d^2 + 1))
    assert sel == pytest.approx(noise.line_sel(v, d) + finite, abs=1e-4)
    print(f"flyover SEL at {d:.0f} m: model {modelled:.3f}, analytic {analytic:.3f} dB(A)")


def test_every_flight_is_accounted_for_and_pads_are_never_exceeded():
    rng = np.random.default_rng(7)
    ports = [[1000.0, 1500.0, 0.0], [11000.0, 1500.0, 0.0], [6000.0, 2500.0, 0.0]]
    pads = np.array([1, 2, 1])
    n = 40
    o = rng.integers(0, 3, n)
    d = (o + rng.integers(1, 3, n)) % 3
    t = np.sort(rng.uniform(0, 3600, n))  # a burst: queues on the ground and in the air
    model = flat_model(list(zip(o, d, t, strict=True)), ports, pads, turnaround_s=240.0)
    history = _run(model, 5)
    for state in history:
        ph = state["phase"]
        counts = np.bincount(ph, minlength=len(PHASES))
        assert counts.sum() == n
        out = model.outputs(state)
        assert np.all(out["vertiport_pads_busy"] <= pads)
        # per vertiport: its flights not yet gone plus those gone add up to its flights
        for v in range(3):
            mine = o == v
            assert (ph[mine] <= QUEUED).sum() + (ph[mine] > QUEUED).sum() == mine.sum()
        # every flight that landed departed first and nothing runs backwards
    phases = np.array([s["phase"] for s in history])
    assert np.all(np.diff(phases, axis=0) >= 0)
    final = history[-1]["phase"]
    assert np.all(final == DONE)
    waits = history[-1]["wait_s"]
    assert waits.max() > 0  # the burst made flights wait for pads
    assert np.any(phases == HOLDING) or np.any(phases == LANDING)
    # energy: more than the bare vertical phases, less than hovering the whole trip
    e = model.energy_j(history[-1])
    hover = model.aircraft.hover_power_w
    t_end = model.init({}, np)["route_t"][
        model.pair_host, model._initial(np)["fix"][model.pair_host] + 1
    ]
    assert np.all(e > 0) and np.all(e < hover * (t_end + history[-1]["hold_s"]))


def test_backends_agree(xp):
    ports = [[1000.0, 1500.0, 0.0], [11000.0, 1500.0, 0.0], [6000.0, 2500.0, 0.0]]
    flights = [(0, 1, 0.0), (1, 2, 60.0), (2, 0, 90.0), (0, 2, 100.0), (1, 0, 400.0)]
    host = _run(flat_model(flights, ports, (1, 1, 1)), 1)[-1]
    model = flat_model(flights, ports, (1, 1, 1))
    dev = _run(model, 1, xp=xp)[-1]
    # the same operations: phases exact, sums equal up to summation order (scatter-adds)
    np.testing.assert_array_equal(gpu.to_host(dev["phase"]), host["phase"])
    for name in ("tau", "noise_exposure", "noise_last_hour"):
        np.testing.assert_allclose(gpu.to_host(dev[name]), host[name], rtol=1e-9, atol=0)
    assert gpu.array_namespace(model.outputs(dev)["noise_lden"]) is xp


def test_zero_flights_run_and_report():
    model = flat_model([], [[1000.0, 1500.0, 0.0], [11000.0, 1500.0, 0.0]])
    history = _run(model, 1)
    state = history[-1]
    assert state["phase"].shape == (0,)
    out = model.outputs(state)
    assert out["flight_x"].shape == (0,) and float(out["noise_lden"].max()) == 0.0
    kpis = model.kpis(state)
    assert kpis["uam_flights_completed"] == 0 and kpis["uam_energy"] == 0
    assert math.isnan(kpis["uam_min_clearance"])
    protocol.sizes(model, state)


def test_reroute_keeps_boarded_flights_on_their_route():
    ports = [[1000.0, 1500.0, 0.0], [11000.0, 1500.0, 0.0]]
    model = flat_model([(0, 1, 0.0), (0, 1, 3000.0)], ports)
    state = _run(model, 0.1)[-1]  # 5 min boarding, then a minute in the air
    assert state["phase"][0] == AIRBORNE
    moved = model.reroute(state, noise_weight=1.0, length_budget=0.2)
    assert moved["route"][0] == state["route"][0]
    assert moved["pair_route"][0] == len(model.pairs)  # the second route set
    assert int(moved["route_versions"]) == 2
    with pytest.raises(ValueError, match="noise_weight"):
        model.reroute(state, noise_weight=-1.0, length_budget=0.2)


def test_bad_flights_are_refused():
    ports = [[1000.0, 1500.0, 0.0], [11000.0, 1500.0, 0.0]]
    with pytest.raises(ValueError, match="origin and destination"):
        flat_model([(0, 0, 0.0)], ports)
    with pytest.raises(ValueError, match="ascending"):
        flat_model([(0, 1, 10.0), (1, 0, 0.0)], ports)
    with pytest.raises(ValueError, match="pad"):
        flat_model([(0, 1, 0.0)], ports, pads=(0, 1))
    assert DEBOARDING > LANDING


def test_person_level_is_the_energy_mean_over_residents():
    # 100 people at 60 dB and 100 at 50 dB: 10 log10((1e6 + 1e5) / 2) = 57.40 dB
    level = noise.person_level_db(np.array([60.0, 50.0, 80.0]), np.array([100.0, 100.0, 0.0]))
    assert level == pytest.approx(10 * math.log10(5.5e5), abs=1e-12)
    assert math.isnan(noise.person_level_db(np.array([60.0]), np.array([0.0])))
