"""Unit and bad-input tests of sim.air: the transport kernel and the AirModel protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gpu
from sim import variables
from sim.air import AirModel, AirWorkspace, advect_diffuse, max_stable_dt
from tests.helpers import assert_close, requires_cupy


def _blob(shape=(24, 30), dtype=np.float64, seed=0):
    """A smooth positive bump plus noise: exercises limiter and diffusion alike."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    c = np.exp(-((x - 12.0) ** 2 + (y - 10.0) ** 2) / 20.0) + 0.1 * rng.random(shape)
    return c.astype(dtype)


def _model(**kw):
    kw.setdefault("dtype", "float64")
    return AirModel(50.0, **kw)


FORCING = {"wind_speed": 3.0, "wind_from_direction": 250.0, "mixing_height": 600.0}


# -- advect_diffuse: contract ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_dtype_and_does_not_mutate(dtype):
    c = _blob(dtype=dtype)
    before = c.copy()
    u = np.full(c.shape, 1.5)  # float64 wind must not promote float32 data
    out = advect_diffuse(c, u, -0.5, 2.0, 10.0, 2.0)
    assert out.dtype == dtype and out.shape == c.shape and out is not c
    np.testing.assert_array_equal(c, before)
    assert not np.array_equal(out, c)


def test_out_work_and_in_place_agree():
    c = _blob()
    args = (c, 1.0, 0.7, 2.0, 10.0, 3.0)
    expected = advect_diffuse(*args)
    work = AirWorkspace(c.shape, c.dtype, np)
    out = np.empty_like(c)
    assert advect_diffuse(*args, work=work, out=out) is out
    np.testing.assert_array_equal(out, expected)
    inplace = c.copy()
    advect_diffuse(inplace, *args[1:], work=work, out=inplace)
    np.testing.assert_array_equal(inplace, expected)


@pytest.mark.parametrize("block_cells", [1, 31, 64, 10_000])
def test_row_blocks_do_not_change_the_result(block_cells):
    # Blocks of 1 row, 1 row with a halo crossing both edges, and whole-grid blocks
    # (the CuPy layout) must give identical bits: the halo logic is exact.
    c = _blob((9, 31))
    u = np.linspace(-1, 1, c.size).reshape(c.shape)
    v = 0.8 - u
    k = np.full(c.shape, 0.6)
    work = AirWorkspace(c.shape, c.dtype, np, block_cells=block_cells)
    ref = advect_diffuse(c, u, v, k, 5.0, 1.0, work=AirWorkspace(c.shape, c.dtype, np))
    got = advect_diffuse(c, u, v, k, 5.0, 1.0, work=work)
    np.testing.assert_array_equal(got, ref)


def test_axes_are_symmetric_under_transposition():
    c = _blob((17, 23))
    a = advect_diffuse(c, 0.9, -0.4, 1.5, 4.0, 2.0, sweep_order="xy", inflow=0.3)
    b = advect_diffuse(c.T.copy(), -0.4, 0.9, 1.5, 4.0, 2.0, sweep_order="yx", inflow=0.3)
    np.testing.assert_array_equal(a, b.T)


def _reference_step(c, u, v, k, dx, dt):
    """The scheme written plainly (np.pad, temporaries, one axis at a time): the blocked,
    buffered kernel must agree with it to round-off."""

    def sweep(c, axis, op):
        p = np.moveaxis(np.pad(c, [(2, 2) if a == axis else (0, 0) for a in (0, 1)], "edge"),
                        axis, -1)
        d = np.diff(p, axis=-1)
        a, b = d[..., :-1], d[..., 1:]
        if op == "advect":
            nu = (u if axis == 1 else v) * dt / dx
            lo, hi = np.minimum(0, np.maximum(a, b)), np.maximum(0, np.minimum(a, b))
            h = np.clip((a + b) / 4, lo, hi)  # MC half-slope
            if nu >= 0:
                g = nu * p[..., 1:-2] + nu * (1 - nu) * h[..., :-1]
            else:
                g = nu * p[..., 2:-1] - nu * (1 + nu) * h[..., 1:]
        else:
            dl = k * dt / dx**2  # Heun: c + D c + D(D c) / 2, no flux through the edges
            g = (dl * dl - dl) * d[..., 1:-1] - dl * dl / 2 * (d[..., :-2] + d[..., 2:])
            g[..., [0, -1]] = 0
        return np.moveaxis(p[..., 2:-2] - np.diff(g, axis=-1), -1, axis)

    for axis in (1, 0):
        c = sweep(sweep(c, axis, "advect"), axis, "diffuse")
    return c


@pytest.mark.parametrize(("u", "v"), [(1.5, -0.8), (-2.0, 1.0)])
def test_matches_plain_reference(u, v):
    c = _blob((33, 41))
    dt = max_stable_dt(u, v, 1.2, 5.0)
    # Same arithmetic in a different order (fluxes summed term by term): round-off only.
    assert_close(advect_diffuse(c, u, v, 1.2, 5.0, dt), _reference_step(c, u, v, 1.2, 5.0, dt),
                 rtol=1e-12)


@pytest.mark.parametrize(("u", "v", "axis"), [(2.0, 0.0, 1), (0.0, 2.0, 0), (-2.0, 0.0, 1)])
def test_wind_moves_mass_downwind(u, v, axis):
    c = np.zeros((40, 40))
    c[18:22, 18:22] = 1.0
    out = c
    for _ in range(5):
        out = advect_diffuse(out, u, v, 0.0, 10.0, 4.0)
    idx = np.arange(40.0)
    profile = out.sum(axis=1 - axis)
    shift = (profile * idx).sum() / profile.sum() - 19.5
    # 5 steps of u dt / dx = 0.8 cells: the centroid moves 4 cells with the wind, up to
    # the limiter (limited slopes need not sum to zero: measured 4e-7 cells).
    assert shift == pytest.approx(4.0 * math.copysign(1, u + v), abs=1e-5)


def test_uniform_field_stays_uniform_with_open_boundaries():
    c = np.full((12, 15), 7.0)
    u = np.linspace(0.5, 2.0, c.size).reshape(c.shape)
    out = advect_diffuse(c, u, -1.0, 3.0, 10.0, max_stable_dt(u, -1.0, 3.0, 10.0))
    # Flux form: a converging grid wind piles a uniform field up, by dt * du/dx.
    assert np.ptp(out) > 0
    out = advect_diffuse(c, 1.2, -1.0, 3.0, 10.0, 5.0, inflow=7.0)
    assert_close(out, c, rtol=1e-15)


def test_closed_boundary_blocks_outflow():
    c = np.zeros((8, 8))
    c[:, -1] = 1.0
    out = advect_diffuse(c, 1.0, 0.0, 0.5, 1.0, 0.5, boundary="closed")
    assert out.sum() == pytest.approx(c.sum(), rel=1e-14)
    assert advect_diffuse(c, 1.0, 0.0, 0.5, 1.0, 0.5).sum() < c.sum()


def test_inflow_brings_background_in_only_where_wind_enters():
    c = np.zeros((6, 10))
    out = advect_diffuse(c, 2.0, 0.0, 0.0, 10.0, 2.5, inflow=5.0)
    # nu = 0.5: the western column fills half way; nothing enters elsewhere.
    assert_close(out[:, 0], np.full(6, 2.5))
    assert np.all(out[:, 1:] == 0)


def test_max_stable_dt_values():
    assert max_stable_dt(2.0, -4.0, 0.0, 10.0) == pytest.approx(0.99 * 10 / 4)
    assert max_stable_dt(0.0, 0.0, 5.0, 10.0) == pytest.approx(100 / 20)
    assert max_stable_dt(0.0, 0.0, 0.0, 10.0) == math.inf
    grid = np.full((4, 5), 2.0)
    assert max_stable_dt(grid, 0.0, 1.0, 10.0) == pytest.approx(max_stable_dt(2.0, 0, 1.0, 10.0))
    # A cell with outflow on both sides (diverging wind) gets half the advective step.
    diverging = np.array([[-2.0, 0.0, 2.0]])  # faces -2, -1, 1, 2: the middle cell
    assert max_stable_dt(diverging, 0.0, 0.0, 10.0) == pytest.approx(0.99 * 10 / (2 * 2.0))
    assert isinstance(max_stable_dt(grid, grid, grid, 10.0), float)


def test_dt_at_the_limit_passes_and_above_it_fails():
    c = _blob()
    limit = max_stable_dt(3.0, 1.0, 2.0, 5.0)
    advect_diffuse(c, 3.0, 1.0, 2.0, 5.0, limit)
    with pytest.raises(ValueError, match=r"dt=.* exceeds the stability limit"):
        advect_diffuse(c, 3.0, 1.0, 2.0, 5.0, limit * 1.01)


def test_zero_dt_and_calm_air_return_a_copy():
    c = _blob()
    for out in (advect_diffuse(c, 1.0, 1.0, 1.0, 1.0, 0.0), advect_diffuse(c, 0, 0, 0, 1.0, 9.0)):
        np.testing.assert_array_equal(out, c)
        assert out is not c


# -- advect_diffuse / max_stable_dt: bad input -------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"u": np.ones((3, 3))}, "u has shape"),
        ({"v": np.ones((24, 31))}, "v has shape"),
        ({"diffusivity": np.ones(24)}, "diffusivity must be a number or a"),
        ({"diffusivity": -1.0}, "diffusivity must be a finite number >= 0"),
        ({"diffusivity": np.full((24, 30), -1.0)}, "diffusivity must be >= 0"),
        ({"dx": -1.0}, "dx must be a positive"),
        ({"dx": 0.0}, "dx must be a positive"),
        ({"u": math.nan}, "u must be a finite number"),
        ({"v": np.where(np.eye(24, 30) > 0, np.nan, 1.0)}, "v contains NaN"),
        ({"u": np.full((24, 30), np.inf)}, "u contains NaN"),
        ({"dt": -1.0}, "dt must be a finite number of seconds >= 0"),
        ({"dt": math.nan}, "dt must be"),
        ({"c": np.ones(5)}, "c must be a \\(y, x\\) array"),
        ({"c": np.ones((4, 4), dtype=np.int64)}, "c must be float32 or float64"),
        ({"u": "fast"}, "u must be a number or a"),
        ({"c": np.where(np.eye(24, 30) > 0, np.nan, 1.0)}, "c holds NaN"),
        ({"c": np.ones((0, 5))}, "c must have at least one cell"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    args = {"c": _blob(), "u": 1.0, "v": 0.5, "diffusivity": 1.0, "dx": 10.0, "dt": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        advect_diffuse(**args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"boundary": "periodic"}, "boundary='periodic'"),
        ({"sweep_order": "zx"}, "sweep_order='zx'"),
        ({"inflow": -2.0}, "inflow must be"),
        ({"work": AirWorkspace((5, 5), np.float64, np)}, "work was made for"),
        ({"out": np.empty((24, 30), np.float32)}, "out must have"),
    ],
)
def test_bad_keywords(kwargs, match):
    with pytest.raises(ValueError, match=match):
        advect_diffuse(_blob(), 1.0, 0.5, 1.0, 10.0, 1.0, **kwargs)


def test_max_stable_dt_bad_input():
    with pytest.raises(ValueError, match="u contains NaN"):
        max_stable_dt(np.array([[np.nan, 1.0]]), 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="v has shape"):
        max_stable_dt(np.ones((2, 2)), np.ones((3, 2)), 1.0, 1.0)
    with pytest.raises(ValueError, match="diffusivity must be a finite number >= 0"):
        max_stable_dt(1.0, 1.0, -0.1, 1.0)
    with pytest.raises(ValueError, match="dx must be"):
        max_stable_dt(1.0, 1.0, 0.1, -3.0)


def test_workspace_rejects_empty_shape():
    with pytest.raises(ValueError, match="shape must be"):
        AirWorkspace((0, 4), np.float32, np)


# -- AirModel -----------------------------------------------------------------------------


def test_outputs_table_and_no2():
    m = _model()
    assert set(m.OUTPUTS) == {"pm25", "nox", "no2"}
    assert m.OUTPUTS["pm25"]["standard_name"] == (
        "mass_concentration_of_pm2p5_ambient_aerosol_particles_in_air"
    )
    assert all(a["units"] == "ug m-3" for a in m.OUTPUTS.values())
    assert set(_model(species=("pm25",)).OUTPUTS) == {"pm25"}
    state = m.init({"building_height": np.zeros((4, 5))}, np)
    out = m.outputs(state)
    assert set(out) == set(m.OUTPUTS)
    assert_close(out["no2"], 0.5 * out["nox"])
    assert_close(out["pm25"], np.full((4, 5), 12.0))


def test_init_uses_given_fields_and_dtype():
    pm = np.full((4, 5), 3.0)
    state = AirModel(50.0).init({"building_height": np.zeros((4, 5)), "pm25": pm}, np)
    assert state["pm25"].dtype == np.float32 and state["nox"].dtype == np.float32
    assert_close(state["pm25"], pm)
    assert state["pm25"] is not pm
    assert math.isnan(float(state["mixing_height"]))


def test_wind_factor_slows_wind_over_dense_tall_blocks():
    heights = np.zeros((9, 9))
    heights[3:6, 3:6] = 30.0
    heights[0, 8] = 30.0  # a lone tower counts less than a dense block
    f = _model().init({"building_height": heights}, np)["wind_factor"]
    assert f[4, 4] == pytest.approx(math.exp(-0.02 * 30.0))
    assert f[8, 0] == 1.0
    assert f[4, 4] < f[0, 8] < 1.0


def test_step_is_pure_and_resumes_bit_for_bit():
    heights = np.zeros((16, 20))
    heights[5:9, 6:12] = 40.0
    m = _model()
    e = np.zeros((16, 20))
    e[8, 3] = 1e-4
    forcing = FORCING | {"emission_pm25": e, "emission_nox": 3 * e}
    s0 = m.init({"building_height": heights}, np)
    frozen = {k: v.copy() for k, v in s0.items()}
    s1 = m.step(s0, forcing, 120.0)
    for k, v in frozen.items():
        np.testing.assert_array_equal(s0[k], v)
    s2 = m.step(s1, forcing | {"mixing_height": 800.0}, 120.0)
    # Snapshot to host arrays and back (what the runner does), then continue.
    restored = {k: np.asarray(gpu.to_host(v)).copy() for k, v in s1.items()}
    fresh = _model().step(restored, forcing | {"mixing_height": 800.0}, 120.0)
    for k in s2:
        np.testing.assert_array_equal(fresh[k], s2[k])


@pytest.mark.parametrize(("direction", "axis", "sign"), [(270, 1, 1), (90, 1, -1), (180, 0, 1)])
def test_meteorological_wind_direction(direction, axis, sign):
    # Wind FROM the west (270) blows towards +x (east); from the south (180) towards
    # +y (north: row 0 is the southern edge).
    m = _model(species=("pm25",), background_ugm3={"pm25": 0.0})
    state = m.init({"building_height": np.zeros((21, 21))}, np)
    e = np.zeros((21, 21))
    e[10, 10] = 1e-3
    forcing = FORCING | {"wind_from_direction": direction, "emission_pm25": e}
    c = m.step(state, forcing, 300.0)["pm25"]
    profile = c.sum(axis=1 - axis)
    centroid = (profile * np.arange(21)).sum() / profile.sum()
    assert sign * (centroid - 10) > 1.0


def test_big_coupling_step_is_substepped():
    m = _model()
    heights = np.zeros((12, 12))
    heights[4:8, 4:8] = 80.0
    state = m.init({"building_height": heights}, np)
    e = np.zeros((12, 12))
    e[6, 2] = 1e-3
    forcing = FORCING | {"wind_speed": 15.0, "emission_nox": e}
    # 1 h at 15 m/s over 50 m cells needs > 1000 transport sub-steps.
    out = m.step(state, forcing, 3600.0)
    assert np.all(np.isfinite(out["nox"])) and out["nox"].min() >= 0


def test_uniform_background_survives_buildings_and_wind_shifts():
    heights = np.zeros((20, 24))
    heights[6:12, 8:14] = 60.0
    heights[14:16, 2:20] = 120.0
    m = _model(deposition_velocity_mps={"pm25": 0, "nox": 0}, decay_rate_per_s={"nox": 0})
    state = m.init({"building_height": heights}, np)
    for direction in (270.0, 200.0, 45.0):
        state = m.step(state, FORCING | {"wind_from_direction": direction}, 600.0)
    # The vertical exchange balances the slowed wind's convergence exactly: only
    # float64 round-off over ~100 sub-steps remains.
    assert_close(state["pm25"], np.full((20, 24), 12.0), rtol=1e-12)
    assert_close(state["nox"], np.full((20, 24), 15.0), rtol=1e-12)


def test_mixing_height_rise_entrains_background_and_fall_keeps_concentration():
    m = _model(species=("pm25",), deposition_velocity_mps={"pm25": 0.0})
    state = m.init({"building_height": np.zeros((5, 5)), "pm25": np.full((5, 5), 40.0)}, np)
    calm = {"wind_speed": 0.0, "wind_from_direction": 0.0}
    state = m.step(state, calm | {"mixing_height": 200.0}, 60.0)
    assert_close(state["pm25"], np.full((5, 5), 40.0))
    state = m.step(state, calm | {"mixing_height": 800.0}, 60.0)
    assert_close(state["pm25"], np.full((5, 5), (40.0 * 200 + 12.0 * 600) / 800))
    before = state["pm25"].copy()
    state = m.step(state, calm | {"mixing_height": 300.0}, 60.0)
    assert_close(state["pm25"], before)


def test_step_background_replaces_the_model_background():
    """A step's ``background_<species>`` is what the rising layer entrains (the exact
    mixing formula) and what the wind brings in; without it the model's stays."""
    m = _model(species=("pm25",), deposition_velocity_mps={"pm25": 0.0})
    state = m.init({"building_height": np.zeros((6, 6)), "pm25": np.full((6, 6), 40.0)}, np)
    calm = {"wind_speed": 0.0, "wind_from_direction": 0.0}
    state = m.step(state, calm | {"mixing_height": 200.0}, 60.0)
    state = m.step(state, calm | {"mixing_height": 800.0, "background_pm25": 60.0}, 60.0)
    assert_close(state["pm25"], np.full((6, 6), (40.0 * 200 + 60.0 * 600) / 800))
    # wind from the west at 5 m/s over 50 m cells: the west edge's inflow is the step's
    # background (35), later the model's (12) again, with the field unchanged elsewhere
    flat = m.init({"building_height": np.zeros((6, 6)), "pm25": np.full((6, 6), 20.0)}, np)
    windy = {"wind_speed": 5.0, "wind_from_direction": 270.0, "mixing_height": 500.0}
    high = m.step(flat, windy | {"background_pm25": 35.0}, 5.0)
    low = m.step(flat, windy, 5.0)
    assert np.all(high["pm25"][:, 0] > 20.0) and np.all(low["pm25"][:, 0] < 20.0)
    assert_close(high["pm25"][:, 3:], low["pm25"][:, 3:])
    again = m.step(flat, windy | {"background_pm25": 35.0}, 5.0)  # the refilled table
    assert_close(again["pm25"], high["pm25"], rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dx_m": 0.0}, "dx_m must be a finite number > 0"),
        ({"species": ("pm25", "co")}, "not modelled"),
        ({"species": ()}, "species must be distinct"),
        ({"species": ("nox", "nox")}, "species must be distinct"),
        ({"background_ugm3": {"so2": 1.0}}, "background_ugm3 names species not modelled"),
        ({"deposition_velocity_mps": {"pm25": -1.0}}, "deposition_velocity_mps\\['pm25'\\]"),
        ({"decay_rate_per_s": {"nox": math.inf}}, "decay_rate_per_s\\['nox'\\]"),
        ({"eddy_diffusivity_m2ps": -1.0}, "eddy_diffusivity_m2ps"),
        ({"roughness_factor_per_m": "x"}, "roughness_factor_per_m must be a number"),
        ({"no2_nox_ratio": 1.5}, "no2_nox_ratio must be in"),
        ({"boundary": "wrap"}, "boundary='wrap'"),
        ({"dtype": "float16"}, "dtype='float16'"),
    ],
)
def test_model_bad_parameters(kwargs, match):
    args = {"dx_m": 50.0} | kwargs
    with pytest.raises(ValueError, match=match):
        AirModel(**args)


def test_model_bad_inputs_and_forcing():
    m = _model()
    with pytest.raises(ValueError, match="building_height"):
        m.init({}, np)
    with pytest.raises(ValueError, match=r"building_height.* must be finite and >= 0"):
        m.init({"building_height": np.full((3, 3), -1.0)}, np)
    with pytest.raises(ValueError, match="inputs\\['pm25'\\] has shape"):
        m.init({"building_height": np.zeros((3, 3)), "pm25": np.zeros((2, 3))}, np)
    state = m.init({"building_height": np.zeros((3, 3))}, np)
    cases = [
        ({k: v for k, v in FORCING.items() if k != "mixing_height"}, 60, "needs 'mixing_height'"),
        (FORCING | {"wind_speed": -1.0}, 60, "wind_speed.* >= 0"),
        (FORCING | {"wind_speed": math.nan}, 60, "wind_speed"),
        (FORCING | {"wind_from_direction": math.inf}, 60, "wind_from_direction"),
        (FORCING | {"mixing_height": 0.0}, 60, "mixing_height.* > 0"),
        (FORCING | {"emission_pm25": np.zeros((2, 2))}, 60, "emission_pm25'\\] has shape"),
        (FORCING | {"emission_nox": -np.ones((3, 3))}, 60, "emission_nox.* >= 0"),
        (FORCING | {"emission_so2": np.zeros((3, 3))}, 60, "species not modelled"),
        (FORCING | {"background_so2": 1.0}, 60, "backgrounds of species not modelled"),
        (FORCING | {"background_pm25": -1.0}, 60, "background_pm25.* >= 0"),
        (FORCING, 0.0, "dt must be a finite number > 0"),
    ]
    for forcing, dt, match in cases:
        with pytest.raises(ValueError, match=match):
            m.step(state, forcing, dt)
    with pytest.raises(ValueError, match="state lacks"):
        m.step({"pm25": state["pm25"]}, FORCING, 60.0)


# -- backends -----------------------------------------------------------------------------


@pytest.mark.gpu
@requires_cupy
def test_numpy_cupy_parity():
    xp = gpu.select("gpu").xp
    c = _blob((40, 50), np.float32)
    u = np.linspace(-1.0, 2.0, c.size).reshape(c.shape).astype(np.float32)
    host = advect_diffuse(c, u, 0.7, 1.5, 10.0, 2.0, inflow=0.2)
    dev = advect_diffuse(xp.asarray(c), xp.asarray(u), 0.7, 1.5, 10.0, 2.0, inflow=0.2)
    assert gpu.array_namespace(dev) is xp and dev.dtype == xp.float32
    # Same operations in the same order; only fused multiply-adds and libm may differ.
    assert_close(dev, host, rtol=1e-5, atol=1e-6)

    heights = np.zeros((30, 36), np.float32)
    heights[10:16, 12:20] = 50.0
    e = np.zeros((30, 36), np.float32)
    e[15, 4] = 1e-3
    forcing = FORCING | {"emission_pm25": e}
    m_host, m_dev = AirModel(25.0), AirModel(25.0)
    s_host = m_host.init({"building_height": heights}, np)
    s_dev = m_dev.init({"building_height": xp.asarray(heights)}, xp)
    for _ in range(3):
        s_host = m_host.step(s_host, forcing, 300.0)
        s_dev = m_dev.step(s_dev, forcing | {"emission_pm25": xp.asarray(e)}, 300.0)
    for name, value in m_host.outputs(s_host).items():
        # float32 over ~100 sub-steps: round-off differences grow to ~1e-5 relative.
        assert_close(m_dev.outputs(s_dev)[name], value, rtol=1e-4, atol=1e-4)


def test_variables_table_has_air_outputs():
    assert {"pm25", "nox", "no2"} <= set(variables.VARIABLES)
