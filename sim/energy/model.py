"""The energy model: building demand, rooftop PV, EV charging and district net load.

The model protocol of :mod:`sim.protocol`: ``init(inputs, xp) -> state``, ``step(state,
forcing, dt) -> state``, ``outputs(state)``, ``OUTPUTS``, ``STATE``. The state is a flat dict
of ``xp`` arrays holding everything that changes in time (zone temperatures, the EV backlog,
the last outputs, the running KPI sums), so a host copy of it resumes a run bitwise. Geometry
derived from the city (conductances, PV areas, roof horizons) is recomputed by ``init`` from
the same inputs (:func:`sim.protocol.restore` calls it first).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

import gpu
from sim import shading, solar, variables
from sim.energy import ev, grid, pv, thermal
from sim.energy.parameters import EnergyParameters
from sim.protocol import Var

_BUILDING_KEYS = ("x", "y", "width", "depth", "height", "use", "floor_area", "district")
_FACADE_AZIMUTHS = (0.0, 90.0, 180.0, 270.0)  # N, E, S, W facades [deg]


class EnergyModel:
    """Buildings (1R1C), rooftop PV, EV charging and district feeders on ``xp`` arrays.

    Parameters
    ----------
    **settings : fields of :class:`~sim.energy.parameters.EnergyParameters` (setpoints,
        COPs, PV coverage and efficiency, EV share and charger power, grid CO2 factor, TOU
        tariff, shading resolution); unknown names raise :class:`ValueError`.
    """

    OUTPUTS = variables.outputs_for(
        "heating_power",
        "cooling_power",
        "electric_load",
        "pv_power",
        "indoor_temperature",
        "ev_charging_power",
        "net_load",
    )
    STATE: ClassVar[dict[str, Var]] = {
        **{
            name: Var(attrs["dims"], "float64", attrs["units"], attrs["long_name"])
            for name, attrs in OUTPUTS.items()
        },
        "ev_backlog": Var(("district",), "float64", "kW h", "EV energy waiting to be charged"),
        # sessions by local departure hour (ev_deadlines; zeros otherwise, see sim.energy.ev)
        "ev_owed": Var(("district", "ev_slot"), "float64", "kW h", "EV energy owed by departure"),
        "ev_plugged": Var(("district", "ev_slot"), "float64", "1", "EVs plugged by departure"),
        "ev_unserved": Var(
            ("district",), "float64", "kW h", "EV energy owed to the vehicles that left this step"
        ),
        # control inputs a service may set (see set_ev_limit, set_setpoint_offset)
        "ev_limit_kw": Var(
            ("district",), "float64", "kW", "cap on EV charging power", infinite=True
        ),
        "setpoint_offset_c": Var(("building",), "float64", "K", "offset of both setpoints"),
        **{f"kpi_{name}": var for name, var in grid.ACCUMULATOR.items()},
    }
    KPI_ATTRS = grid.KPI_ATTRS

    def __init__(self, **settings: Any):
        self.params = EnergyParameters.from_mapping(settings)
        price = self.params.tou_price_krw_per_kwh
        price = np.asarray(grid.TOU_PRICE if price is None else price, dtype=np.float64)
        if price.shape != (12, 24) or not np.all(np.isfinite(price)):
            raise ValueError("tou_price_krw_per_kwh must be a finite (12 months, 24 hours) table")
        self.tou_price = price
        co2 = self.params.grid_co2_hourly_t_per_mwh
        co2 = np.full(24, self.params.grid_co2_t_per_mwh) if co2 is None else np.asarray(co2, float)
        if co2.shape != (24,) or not np.all(np.isfinite(co2) & (co2 >= 0)):
            raise ValueError("grid_co2_hourly_t_per_mwh must be 24 finite values >= 0 (t MWh-1)")
        self.co2_hourly = co2
        self._xp: ModuleType | None = None
        self._coefficients: tuple[Any, Any] = (None, None)
        self.static: dict[str, Any] = {}

    # ------------------------------------------------------------------ init

    def init(self, inputs: Mapping[str, Any], xp: ModuleType) -> dict[str, Any]:
        """Derive building and district constants from the city and return the start state.

        Parameters
        ----------
        inputs : mapping of arrays. Required, dim ``building``: ``x``, ``y`` [m],
            ``width``, ``depth``, ``height`` [m], ``use`` (0 residential, 1 commercial,
            2 industrial, 3 public), ``floor_area`` [m2], ``district`` (index); and
            ``n_districts`` (int). Optional: ``district_population`` (district,) [1] for the
            EV fleet (else residential floor area / 35 m2 per person);
            ``transformer_capacity_kw`` (district,) [kW]; for roof shading either
            ``shaded_fraction`` (building,) [1], fixed, or the grid ``building_height``
            (y, x) [m] with ``grid_x`` (x,), ``grid_y`` (y,) cell-centre coordinates [m]
            and optionally ``elevation`` (y, x) [m] terrain.
        xp : the array namespace (numpy or cupy).
        """
        p = self.params
        b = self._validate(inputs, xp)
        n_districts = b.pop("n_districts")
        geo = thermal.envelope(
            b["width"], b["depth"], b["height"], b["floor_area"], b["use"], ua_scale=p.ua_scale
        )
        residential_area = xp.where(b["use"] == 0, b["floor_area"], 0.0)
        if "district_population" in inputs:
            population = _vector(inputs, "district_population", (n_districts,), xp)
        else:
            population = (
                _by_district(b["district"], residential_area, n_districts, xp)
                / (thermal.FLOOR_PER_PERSON[0])
            )
        fleet = population * p.vehicles_per_person * p.ev_share
        chargers = fleet * p.ev_chargers_per_vehicle
        if "transformer_capacity_kw" in inputs:
            capacity = _vector(inputs, "transformer_capacity_kw", (n_districts,), xp)
            if bool(xp.any(capacity <= 0)):
                raise ValueError("inputs 'transformer_capacity_kw' must be > 0 (kW)")
        else:
            # Rated for the floor area plus the chargers; a district with neither has no
            # feeder to load (infinite rating, utilisation 0).
            area = _by_district(b["district"], b["floor_area"], n_districts, xp)
            capacity = area * (p.feeder_capacity_w_per_m2 / 1000.0) + chargers * (
                p.ev_charger_power_kw
            )
            capacity = xp.where(capacity > 0, capacity, xp.inf)
        self._xp = xp
        self._coefficients = (None, None)
        self.static = {
            "hvac_capacity": geo["ua"] * p.hvac_design_delta_k,
            **geo,
            # Half of each glazing pair faces each way (N and S, or E and W).
            "aperture_ns": 0.5 * thermal.SOLAR_APERTURE * geo["window_ns"],
            "aperture_ew": 0.5 * thermal.SOLAR_APERTURE * geo["window_ew"],
            "use": b["use"],
            "district": b["district"],
            "floor_area": b["floor_area"],
            "pv_rated_w": pv.rated_power(p.pv_coverage * b["width"] * b["depth"], p.pv_efficiency),
            "fleet": fleet,
            "chargers": chargers,
            "capacity_kw": capacity,
            "n_districts": n_districts,
            "ev_order": xp.asarray(ev.DEPARTURE_ORDER),
            "hourly": xp.asarray(
                thermal.hourly_use_table(
                    p.heating_setpoint_c,
                    p.cooling_setpoint_c,
                    p.heating_setback_c,
                    p.cooling_setback_c,
                )
            ),
            **self._shade_inputs(inputs, b, xp),
        }
        n = b["use"].shape[0]
        zeros_b = xp.zeros(n, dtype=xp.float64)
        zeros_d = xp.zeros(n_districts, dtype=xp.float64)
        state = {
            "indoor_temperature": xp.full(n, p.initial_indoor_temperature_c, dtype=xp.float64),
            "heating_power": zeros_b,
            "cooling_power": zeros_b,
            "electric_load": zeros_b,
            "pv_power": zeros_b,
            "ev_backlog": zeros_d,
            "ev_owed": xp.zeros((n_districts, ev.SLOTS), dtype=xp.float64),
            "ev_plugged": xp.zeros((n_districts, ev.SLOTS), dtype=xp.float64),
            "ev_unserved": zeros_d,
            "ev_limit_kw": xp.full(n_districts, xp.inf, dtype=xp.float64),
            "setpoint_offset_c": zeros_b,
            "ev_charging_power": zeros_d,
            "net_load": zeros_d,
        }
        state.update({f"kpi_{k}": v for k, v in grid.accumulator(n_districts, xp).items()})
        return state

    def _validate(self, inputs, xp):
        missing = [k for k in (*_BUILDING_KEYS, "n_districts") if k not in inputs]
        if missing:
            raise ValueError(f"energy model inputs lack {', '.join(missing)}")
        n_districts = gpu.to_host(inputs["n_districts"])
        if n_districts.ndim or n_districts.dtype.kind not in "iu" or int(n_districts) < 1:
            raise ValueError(f"n_districts must be a whole number >= 1, got {n_districts!r}")
        n_districts = int(n_districts)
        if np.ndim(inputs["x"]) != 1:
            raise ValueError("inputs 'x' must be a 1-D array over buildings")
        n = int(np.shape(inputs["x"])[0])
        out = {"n_districts": n_districts}
        for key in _BUILDING_KEYS:
            arr = xp.asarray(inputs[key])
            if arr.shape != (n,):
                raise ValueError(f"inputs {key!r} has shape {arr.shape}, expected ({n},)")
            out[key] = arr if key in ("use", "district") else arr.astype(xp.float64)
        for key in ("width", "depth", "height", "floor_area"):
            if not bool(xp.all((out[key] > 0) & xp.isfinite(out[key]))):
                raise ValueError(
                    f"inputs {key!r} must be finite and > 0 (m or m2) for every building"
                )
        for key in ("x", "y"):
            if not bool(xp.all(xp.isfinite(out[key]))):
                raise ValueError(f"inputs {key!r} must be finite")
        uses = ", ".join(f"{i} {name}" for i, name in enumerate(thermal.USES))
        for key, hi, meaning in (("use", 4, f" ({uses})"), ("district", n_districts, "")):
            vals = out[key]
            if vals.dtype.kind not in "iu" or bool(xp.any((vals < 0) | (vals >= hi))):
                raise ValueError(f"inputs {key!r} must be integers in [0, {hi}){meaning}")
            out[key] = vals.astype(xp.int64)
        return out

    def _shade_inputs(self, inputs, b, xp):
        n = b["use"].shape[0]
        if "shaded_fraction" in inputs:
            fixed = _vector(inputs, "shaded_fraction", (n,), xp)
            if bool(xp.any((fixed < 0) | (fixed > 1))):
                raise ValueError("inputs 'shaded_fraction' must lie in [0, 1]")
            return {"shade_fixed": fixed}
        if "building_height" not in inputs:
            return {"shade_fixed": xp.zeros(n, dtype=xp.float64)}
        heights = xp.asarray(inputs["building_height"], dtype=xp.float64)
        if heights.ndim != 2 or "grid_x" not in inputs or "grid_y" not in inputs:
            raise ValueError(
                "roof shading needs 'building_height' (y, x) with 'grid_x' and 'grid_y'"
            )
        gx = gpu.to_host(inputs["grid_x"]).astype(float)
        gy = gpu.to_host(inputs["grid_y"]).astype(float)
        if (gy.size, gx.size) != heights.shape or gx.size < 2 or gy.size < 2:
            raise ValueError("'grid_x'/'grid_y' must match 'building_height' (y, x), >= 2 each")
        res = float(gx[1] - gx[0])
        if res <= 0 or not np.allclose(np.diff(gx), res) or not np.allclose(np.diff(gy), res):
            raise ValueError("'grid_x'/'grid_y' must be ascending with one square cell size")
        terrain = (
            xp.asarray(inputs["elevation"], dtype=xp.float64)
            if "elevation" in inputs
            else xp.zeros_like(heights)
        )
        if terrain.shape != heights.shape:
            raise ValueError("'elevation' must have the shape of 'building_height'")
        px, py = _roof_samples(b, self.params.roof_samples, xp)
        row = xp.clip(xp.rint((py - gy[0]) / res), 0, heights.shape[0] - 1).astype(xp.int64)
        col = xp.clip(xp.rint((px - gx[0]) / res), 0, heights.shape[1] - 1).astype(xp.int64)
        pz = terrain[row, col] + b["height"]
        horizon = shading.horizon_tangents(
            terrain + heights,
            gx[0],
            gy[0],
            res,
            px,
            py,
            pz,
            n_sectors=self.params.horizon_sectors,
            max_distance_m=self.params.horizon_distance_m,
        )
        return {"horizon": horizon}

    # ------------------------------------------------------------------ step

    def step(self, state: Mapping[str, Any], forcing: Mapping[str, Any], dt: Any) -> dict:
        """Advance one coupling step of ``dt`` (seconds, or a timedelta).

        ``forcing`` keys: ``time_utc`` (numpy datetime64), ``local_hour`` [h],
        ``air_temperature`` [degC], ``ghi``, ``dni``, ``dhi`` [W m-2], ``solar_elevation``,
        ``solar_azimuth`` [deg], ``wind_speed`` [m s-1] (scalars for the whole city);
        optional ``ev_arrivals`` (district,) [1]: electric vehicles plugging in during the
        step (convert traffic arrivals with :meth:`ev_sessions_from_arrivals`); without it
        the daily profile of :mod:`sim.energy.ev` is used. Inputs are constant over the step.
        """
        if self._xp is None:
            raise RuntimeError("EnergyModel.step called before init")
        xp, p, s = self._xp, self.params, self.static
        dt_s = _seconds(dt)
        _check_forcing(forcing)
        hour = float(forcing["local_hour"])
        el, az = float(forcing["solar_elevation"]), float(forcing["solar_azimuth"])
        dni, ghi, dhi = (float(forcing[k]) for k in ("dni", "ghi", "dhi"))
        facade = [
            float(sum(solar.plane_of_array(90.0, a, el, az, dni, ghi, dhi, albedo=p.albedo)))
            for a in _FACADE_AZIMUTHS
        ]
        pv_plane = solar.plane_of_array(
            p.pv_tilt_deg, p.pv_azimuth_deg, el, az, dni, ghi, dhi, albedo=p.albedo
        )
        conditions = {
            "hour": int(hour) % 24,
            "t_out": float(forcing["air_temperature"]),
            "wind": float(forcing["wind_speed"]),
            "elevation": el,
            "azimuth": az,
            "facade_ns": facade[0] + facade[2],
            "facade_ew": facade[1] + facade[3],
            "beam": float(pv_plane[0]),
            "diffuse": float(pv_plane[1] + pv_plane[2]),
        }
        if self._coefficients[0] != dt_s:
            self._coefficients = (dt_s, thermal.step_coefficients(s["ua"], s["capacity"], dt_s))
        n = s["use"].shape[0]
        # On the CPU, blocks of buildings keep each block's temporaries in cache (2-3x
        # faster than whole-array passes); a GPU takes all buildings at once.
        block = p.block_buildings if xp is np else max(n, 1)
        names = ("indoor_temperature", "heating_power", "cooling_power", "electric_load",
                 "pv_power")  # fmt: skip
        new = {k: xp.empty(n, dtype=xp.float64) for k in names}
        load_d = xp.zeros(s["n_districts"], dtype=xp.float64)
        pv_d = xp.zeros(s["n_districts"], dtype=xp.float64)
        outside_k = xp.zeros((), dtype=xp.float64)
        for start in range(0, n, block):
            sl = slice(start, start + block)
            part = self._buildings(
                sl, state["indoor_temperature"][sl], state["setpoint_offset_c"][sl], conditions
            )
            for k, v in zip(names, part[:5], strict=True):
                new[k][sl] = v
            load_d += _by_district(s["district"][sl], part[3], s["n_districts"], xp)
            pv_d += _by_district(s["district"][sl], part[4], s["n_districts"], xp)
            outside_k += part[5]

        if forcing.get("ev_arrivals") is not None:
            # values are checked for host arrays (the caller's); device ones come from
            # the traffic model and are trusted (a check would stall the GPU each step)
            given = forcing["ev_arrivals"]
            sessions = xp.asarray(given, dtype=xp.float64)
            host = type(given) is np.ndarray
            if sessions.shape != (s["n_districts"],) or (
                host and not np.all(np.isfinite(given) & (given >= 0))
            ):
                raise ValueError(
                    f"forcing 'ev_arrivals' must be ({s['n_districts']},) finite values >= 0 "
                    f"(vehicles per district), got shape {sessions.shape}"
                )
        else:
            sessions = ev.profile_sessions(s["fleet"], p.ev_sessions_per_day, hour, dt_s)
        if p.ev_deadlines:
            owed, plugged, ev_kw, unserved = ev.charge_by_deadline(
                state["ev_owed"],
                state["ev_plugged"],
                sessions,
                hour,
                p.ev_session_energy_kwh,
                p.ev_charger_power_kw,
                s["chargers"],
                dt_s,
                state["ev_limit_kw"],
                s["ev_order"][int(hour) % ev.SLOTS],
            )
            backlog = owed.sum(axis=1)
        else:
            backlog, ev_kw = ev.charge(
                state["ev_backlog"],
                sessions,
                p.ev_session_energy_kwh,
                p.ev_charger_power_kw,
                s["chargers"],
                dt_s,
                state["ev_limit_kw"],
            )
            owed, plugged, unserved = state["ev_owed"], state["ev_plugged"], state["ev_unserved"]
        load_d += ev_kw
        acc = grid.accumulate(
            {k[4:]: v for k, v in state.items() if k.startswith("kpi_")},
            load_d,
            pv_d,
            dt_s,
            self._price(forcing["time_utc"], hour),
            float(self.co2_hourly[int(hour) % 24]),
            discomfort_kh=outside_k * (dt_s / 3600.0 / max(n, 1)),
            unserved_kwh=unserved.sum(),
        )
        new.update(ev_backlog=backlog, ev_charging_power=ev_kw, net_load=load_d - pv_d)
        new.update(ev_owed=owed, ev_plugged=plugged, ev_unserved=unserved)
        new.update({k: state[k] for k in ("ev_limit_kw", "setpoint_offset_c")})
        new.update({f"kpi_{k}": v for k, v in acc.items()})
        return new

    def _buildings(self, sl, t_in, offset_c, w):
        """Thermal zone, electricity and PV of the buildings in slice ``sl`` for one step.

        Returns ``(t_in, heating_kw, cooling_kw, electric_kw, pv_kw, outside_k)`` for the
        slice; ``outside_k`` [K] is the sum over its buildings of how far the new zone
        temperature lies outside the scheduled band (the setpoints without offsets).
        """
        xp, p, s = self._xp, self.params, self.static
        coef = {k: v[sl] for k, v in self._coefficients[1].items()}
        floor_area, ua, cap = s["floor_area"][sl], s["ua"][sl], s["hvac_capacity"][sl]
        use = s["use"][sl]
        gains_m2, appliances_m2, t_heat, t_cool = (row[use] for row in s["hourly"][w["hour"]])
        gains = (
            floor_area * gains_m2
            + s["aperture_ns"][sl] * w["facade_ns"]
            + s["aperture_ew"][sl] * w["facade_ew"]
        )
        t_new, hvac = thermal.step_temperature(
            t_in, w["t_out"], gains, ua, coef, t_heat + offset_c, t_cool + offset_c, cap, cap
        )
        hvac_kw = hvac * 1e-3
        heating, cooling = xp.maximum(hvac_kw, 0.0), xp.maximum(-hvac_kw, 0.0)
        electric = (
            floor_area * (appliances_m2 * 1e-3)
            + heating * (p.electric_heating_share / p.heating_cop)
            + cooling * (1.0 / p.cooling_cop)
        )
        if "horizon" in s:
            shade = shading.shaded_fraction(s["horizon"][..., sl], w["elevation"], w["azimuth"])
        else:
            shade = s["shade_fixed"][sl]
        poa = shade * -w["beam"] + (w["beam"] + w["diffuse"])  # beam blocked where shaded
        cell = pv.cell_temperature_faiman(poa, w["t_out"], w["wind"])
        dc = pv.dc_power(poa, cell, s["pv_rated_w"][sl], p.pv_gamma_per_k)
        pv_kw = pv.ac_power(dc, p.pv_system_losses, p.pv_inverter_efficiency) * 1e-3
        outside = xp.maximum(t_heat - t_new, 0.0) + xp.maximum(t_new - t_cool, 0.0)
        return t_new, heating, cooling, electric, pv_kw, outside.sum()

    def _price(self, time_utc, local_hour):
        """Tariff [KRW kWh-1] at the local month and hour of the step."""
        t = np.datetime64(time_utc, "s")
        utc_hour = (t - t.astype("datetime64[D]")).astype(np.int64) / 3600.0
        offset = np.timedelta64(round(((local_hour - utc_hour) % 24.0) * 3600.0), "s")
        month = int((t + offset).astype("datetime64[M]").astype(np.int64) % 12)
        return float(self.tou_price[month, int(local_hour) % 24])

    # ------------------------------------------------------------------ outputs

    def outputs(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Per-building and per-district outputs named in ``OUTPUTS`` [kW, degC]."""
        return {name: state[name] for name in self.OUTPUTS}

    def kpis(self, state: Mapping[str, Any]) -> dict[str, float]:
        """Run KPIs so far (names and units in ``KPI_ATTRS``)."""
        acc = {k[4:]: v for k, v in state.items() if k.startswith("kpi_")}
        return grid.kpis(acc, self.static["capacity_kw"])

    # ------------------------------------------------------------------ control

    def set_ev_limit(self, state: Mapping[str, Any], district, limit_kw) -> dict:
        """A new state with the EV charging of ``district`` (index or indices) capped at
        ``limit_kw`` [kW] (>= 0; ``inf`` lifts the cap)."""
        rows = _indices("district", district, int(state["ev_limit_kw"].shape[0]))
        value = np.broadcast_to(np.asarray(limit_kw, dtype=np.float64), rows.shape)
        if np.any(np.isnan(value)) or np.any(value < 0):
            raise ValueError(f"limit_kw: must be >= 0 kW (inf for none), got {limit_kw!r}")
        return _replaced(state, "ev_limit_kw", rows, value)

    def set_setpoint_offset(self, state: Mapping[str, Any], building, delta_c) -> dict:
        """A new state with both setpoints of ``building`` (index or indices) moved by
        ``delta_c`` [K], within +/- ``setpoint_offset_max_c`` of the schedule."""
        rows = _indices("building", building, int(state["setpoint_offset_c"].shape[0]))
        value = np.broadcast_to(np.asarray(delta_c, dtype=np.float64), rows.shape)
        bound = self.params.setpoint_offset_max_c
        if not np.all(np.abs(value) <= bound):
            raise ValueError(
                f"delta_degC: setpoint offsets must lie within +/-{bound:g} K (comfort "
                f"bounds), got {delta_c!r}"
            )
        return _replaced(state, "setpoint_offset_c", rows, value)

    def ev_sessions_from_arrivals(self, vehicle_arrivals):
        """EV plug-ins (district,) from all vehicles arriving per district in a step."""
        return vehicle_arrivals * (self.params.ev_share * self.params.ev_plug_in_per_arrival)


_FORCING_KEYS = (
    "time_utc", "local_hour", "air_temperature", "ghi", "dni", "dhi",
    "solar_elevation", "solar_azimuth", "wind_speed",
)  # fmt: skip


def _check_forcing(forcing: Mapping[str, Any]) -> None:
    """Every scalar forcing present and finite (one clear error, not a KeyError or NaN)."""
    missing = [k for k in _FORCING_KEYS if k not in forcing]
    if missing:
        raise ValueError(f"energy forcing lacks {', '.join(missing)}")
    bad = [k for k in _FORCING_KEYS[1:] if not math.isfinite(float(forcing[k]))]
    if bad:
        raise ValueError(f"energy forcing must be finite: {', '.join(bad)}")


def _vector(inputs, key, shape, xp):
    arr = xp.asarray(inputs[key], dtype=xp.float64)
    if arr.shape != shape or not bool(xp.all(xp.isfinite(arr))) or bool(xp.any(arr < 0)):
        raise ValueError(f"inputs {key!r} must be finite, >= 0, with shape {shape}")
    return arr


def _indices(what: str, index, n: int) -> np.ndarray:
    rows = np.atleast_1d(np.asarray(index))
    if rows.dtype.kind not in "iu" or np.any((rows < 0) | (rows >= n)):
        raise ValueError(f"{what}: expected {what} indices in 0..{n - 1}, got {index!r}")
    return rows


def _replaced(state: Mapping[str, Any], key: str, rows: np.ndarray, value: np.ndarray) -> dict:
    xp = gpu.array_namespace(state[key])
    new = dict(state)
    new[key] = state[key].copy()
    new[key][xp.asarray(rows)] = xp.asarray(value)
    return new


def _by_district(district, values, n_districts, xp):
    return gpu.bincount(district, values, n_districts)


def _roof_samples(b, samples, xp):
    """Roof points (samples, building): the centre, or the centre and the four quarters."""
    fx = xp.asarray([0.0, -0.25, 0.25, -0.25, 0.25][:samples])[:, None]
    fy = xp.asarray([0.0, -0.25, -0.25, 0.25, 0.25][:samples])[:, None]
    return b["x"] + b["width"] * fx, b["y"] + b["depth"] * fy


def _seconds(dt) -> float:
    if isinstance(dt, _dt.timedelta):
        seconds = dt.total_seconds()
    elif isinstance(dt, np.timedelta64):
        seconds = dt / np.timedelta64(1, "s")
    else:
        seconds = float(dt)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"dt must be a positive duration, got {dt!r}")
    return float(seconds)
