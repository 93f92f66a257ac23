"""``twin.Scenario``: what to simulate, validated (pydantic), read from TOML.

Durations are written as numbers of seconds or strings such as ``"24h"``,
``"15min"``, ``"90s"``, ``"1d 6h"``; the start must carry a UTC offset.
"""

from __future__ import annotations

import math
import re
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from sim.air import SPECIES_DEFAULTS
from sim.energy.parameters import EnergyParameters
from sim.uam import noise
from twin.errors import InputError, format_validation_error
from twin.schema import RESOLUTION_RANGE_M

_UNITS_S = {"d": 86400, "h": 3600, "min": 60, "m": 60, "s": 1}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(d|h|min|m|s)\s*")


MAX_DURATION = timedelta(days=3660)


def _parse_duration(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not abs(value) <= MAX_DURATION.total_seconds():
            raise ValueError(f"{value!r} s is longer than {MAX_DURATION.days} days")
        return timedelta(seconds=value)
    if isinstance(value, str):
        pos, total = 0, 0.0
        for match in _DURATION.finditer(value):
            if match.start() != pos:
                break
            total += float(match[1]) * _UNITS_S[match[2]]
            pos = match.end()
        if pos == len(value) and pos > 0:
            return _parse_duration(total)
        raise ValueError(
            f"{value!r} is not a duration; write seconds (3600) or e.g. "
            "'24h', '15min', '90s', '1d 6h'"
        )
    return value


def _format_duration(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


Duration = Annotated[
    timedelta, BeforeValidator(_parse_duration), PlainSerializer(_format_duration, return_type=str)
]


def scenarios_root() -> Path:
    """The folder of the shipped example scenarios (installed wheel first, then source tree)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_scenarios"
    return packaged if packaged.is_dir() else here.parent / "scenarios"


def builtin_scenario(name: str) -> Path:
    """Path of a shipped example scenario by name (e.g. ``"june_weekday"``)."""
    path = scenarios_root() / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in scenarios_root().glob("*.toml")))
        raise InputError(f"unknown built-in scenario {name!r}; known: {known}")
    return path


def _relative_to(raw: dict, folder: Path) -> dict:
    """Paths in a scenario file (city store or dataset folder, weather CSV) are relative
    to the file's folder, not to the current directory."""

    def resolve(value):
        if not isinstance(value, str) or Path(value).is_absolute():
            return value
        candidate = folder / value
        return str(candidate) if candidate.exists() else value

    raw = dict(raw)
    for section, key in (("city", "store"), ("city", "dataset"), ("weather", "source")):
        if isinstance(raw.get(section), dict) and key in raw[section]:
            raw[section] = {**raw[section], key: resolve(raw[section][key])}
    return raw


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CitySpec(_Strict):
    """A dataset built on the fly (``dataset``, ``resolution_m``, ``seed``) or a saved ``store``.

    With ``store``, ``dataset`` still names the dataset whose climatology drives the
    synthetic weather.
    """

    dataset: str = "gwangju"
    resolution_m: Annotated[float, Field(ge=RESOLUTION_RANGE_M[0], le=RESOLUTION_RANGE_M[1])] = (
        100.0
    )
    seed: Annotated[int, Field(ge=0)] = 0
    store: str | None = None


SignalMode = Literal["fixed_time", "phase_select", "actuated"]


class TrafficSettings(_Strict):
    demand_scale: Annotated[float, Field(ge=0, le=10)] = 1.0
    trips_per_day: Annotated[float, Field(gt=0)] = 250_000.0
    zone_size_m: Annotated[float, Field(ge=100, le=20000)] = 5000.0
    route_interval_s: Annotated[float, Field(gt=0)] = 300.0
    signal_cycle_s: Annotated[float, Field(ge=30, le=240)] = 90.0
    # issue 12: every default keeps the earlier model's results
    route_spread_s: Annotated[float, Field(ge=0, le=3600)] = 0.0
    route_band_s: Annotated[float, Field(ge=0)] | None = None  # None: 3 * route_spread_s
    amber_s: Annotated[float, Field(ge=0, le=10)] = 3.0
    all_red_s: Annotated[float, Field(ge=0, le=10)] = 1.0
    signal_control: SignalMode = "fixed_time"
    signal_control_nodes: dict[Annotated[int, Field(ge=0)], SignalMode] = {}
    signal_phases: dict[Annotated[int, Field(ge=0)], list[list[Annotated[int, Field(ge=0)]]]] = {}
    min_green_s: Annotated[float, Field(ge=1, le=600)] = 5.0
    max_green_s: Annotated[float, Field(ge=1, le=600)] = 40.0
    passage_s: Annotated[float, Field(gt=0, le=60)] = 3.0
    detector_interval_s: Annotated[float, Field(gt=0)] | None = None  # None: output_interval
    detector_setback_m: Annotated[float, Field(ge=0)] = 50.0
    effective_vehicle_length_m: Annotated[float, Field(gt=0, le=30)] = 6.5
    demand_noise: Literal["none", "poisson"] = "none"
    seed: Annotated[int, Field(ge=0)] = 0
    exit_before_signal: bool = False

    @model_validator(mode="after")
    def _timings_fit(self):
        green = self.signal_cycle_s / 2 - self.amber_s - self.all_red_s
        if green < 1:
            raise ValueError(
                f"signal_cycle_s ({self.signal_cycle_s:g} s) leaves {green:g} s of green per "
                f"phase after amber_s ({self.amber_s:g}) and all_red_s ({self.all_red_s:g}); "
                "need at least 1 s"
            )
        if self.max_green_s < self.min_green_s:
            raise ValueError(
                f"max_green_s ({self.max_green_s:g} s) is below min_green_s "
                f"({self.min_green_s:g} s)"
            )
        return self


class AirSettings(_Strict):
    species: list[Literal["pm25", "nox"]] = Field(default=["pm25", "nox"], min_length=1)
    background_ugm3: dict[Literal["pm25", "nox"], Annotated[float, Field(ge=0)]] = {
        s: d["background_ugm3"] for s, d in SPECIES_DEFAULTS.items()
    }
    emission_scale: Annotated[float, Field(ge=0)] = 1.0

    @model_validator(mode="after")
    def _species_consistent(self):
        if len(set(self.species)) != len(self.species):
            raise ValueError(f"species lists a species twice: {self.species}")
        extra = sorted(set(self.background_ugm3) - set(self.species))
        if extra:
            raise ValueError(f"background_ugm3 names species that are not modelled: {extra}")
        return self


_ENERGY = EnergyParameters()  # the energy model's defaults are the scenario's


class EnergySettings(_Strict):
    pv_coverage: Annotated[float, Field(ge=0, le=1)] = _ENERGY.pv_coverage
    ev_share: Annotated[float, Field(ge=0, le=1)] = _ENERGY.ev_share
    electric_heating_share: Annotated[float, Field(ge=0, le=1)] = _ENERGY.electric_heating_share


class WeatherSettings(_Strict):
    source: str = "synthetic"  # or a CSV file path
    seed: Annotated[int, Field(ge=0)] = 0


Fraction = Annotated[float, Field(ge=0, le=1)]


class SensorSettings(_Strict):
    """What services see: each sensor kind's seeded noise model (see twin.services.sensors).

    Relative errors are standard deviations of a Gaussian factor ``1 + e N(0, 1)``;
    dropouts are readings lost at random (reported as NaN); monitors and meters report
    the mean of their last complete interval. Forecast errors grow as a random walk with
    the lead time, so their standard deviation at lead ``L`` is ``e24 sqrt(L / 24 h)``.
    """

    noise: Literal["gaussian", "none"] = "gaussian"
    seed: Annotated[int, Field(ge=0)] = 0
    detector_error: Fraction = 0.05  # loop counts, occupancy and speed (about 5 %)
    queue_error: Fraction = 0.10  # queue length from cameras or probe data
    detector_dropout: Fraction = 0.01
    # queue cameras on every approach of a signal, for signal-control services (runs
    # with services only; the city's loop sensors are always there)
    approach_cameras: bool = True
    monitor_error: Fraction = 0.10  # PM2.5 / NO2 monitors (beta attenuation, about 10 %)
    monitor_interval: Duration = timedelta(hours=1)  # AirKorea publishes hourly means
    meter_error: Fraction = 0.01  # revenue-grade smart meters
    meter_interval: Duration = timedelta(minutes=15)  # KEPCO AMI reads every 15 min
    forecast_hours: Annotated[int, Field(ge=1, le=72)] = 24
    forecast_temperature_error_k: Annotated[float, Field(ge=0, le=10)] = 1.5  # at 24 h
    forecast_wind_error_mps: Annotated[float, Field(ge=0, le=10)] = 1.5  # at 24 h
    forecast_ghi_error: Fraction = 0.25  # relative, at 24 h


class UamSettings(_Strict):
    """Air taxis (``[uam]``): in a run only when the scenario has this table.

    Vertiports and no-fly volumes are the dataset's ``[uam]`` tables. Flights follow a
    gravity model between vertiports (residents and jobs within ``catchment_m``) with
    a diurnal profile, drawn with ``seed``; routes weigh length, climb and noise by
    ``weight_*`` (default: the shortest route).
    """

    flights_per_day: Annotated[float, Field(ge=0, le=100_000)] = 500.0
    seed: Annotated[int, Field(ge=0)] = 0
    catchment_m: Annotated[float, Field(gt=0)] = 3000.0
    turnaround_s: Annotated[float, Field(gt=0, le=7200)] = 300.0
    route_cell_m: Annotated[float, Field(ge=50, le=2000)] = 400.0
    route_dz_m: Annotated[float, Field(ge=5, le=500)] = 50.0
    ceiling_m: Annotated[float, Field(gt=0, le=5000)] = 600.0
    clearance_m: Annotated[float, Field(ge=0, le=1000)] = 60.0
    weight_length: Annotated[float, Field(ge=0)] = 1.0
    weight_climb: Annotated[float, Field(ge=0)] = 0.0
    weight_noise: Annotated[float, Field(ge=0)] = 0.0
    noise_cell_m: Annotated[float, Field(ge=25, le=2000)] = 300.0
    noise_segment_m: Annotated[float, Field(ge=50, le=10_000)] = 1000.0
    source_level_dba: Annotated[float, Field(ge=50, le=160)] = noise.SOURCE_LEVEL_DBA
    max_route_updates: Annotated[int, Field(ge=0, le=20)] = 3


class ServiceSpec(BaseModel):
    """A ``[[services]]`` table: a built-in service by ``name``, its decision interval
    ``every`` (default: the service's own), whether the store keeps the observations it
    saw, and any further keys as the service's parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    every: Duration | None = None
    record_observations: bool = False

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Scenario(_Strict):
    """A coupled run: city, time span, steps, model settings, device."""

    name: str = "scenario"
    city: CitySpec = CitySpec()
    start: AwareDatetime
    duration: Duration
    step: Duration = timedelta(seconds=60)
    output_interval: Duration = timedelta(minutes=15)
    # None: the fewest output steps that make at least an hour (every output step when
    # they are an hour or more apart): a killed run loses about an hour's work at most,
    # and writing the states costs a few percent of the run
    restart_interval: Duration | None = None
    device: Literal["auto", "cpu", "gpu"] | None = None  # None: TWIN_DEVICE, else auto
    traffic: TrafficSettings = TrafficSettings()
    air: AirSettings = AirSettings()
    energy: EnergySettings = EnergySettings()
    weather: WeatherSettings = WeatherSettings()
    sensors: SensorSettings = SensorSettings()
    uam: UamSettings | None = None  # None: no air taxis in the run
    services: list[ServiceSpec] = []

    @model_validator(mode="after")
    def _steps_fit(self):
        step, out, dur = (
            v.total_seconds() for v in (self.step, self.output_interval, self.duration)
        )
        if not 1 <= step <= 3600 or step % 1:
            raise ValueError(f"step must be whole seconds from 1 s to 1 h (got {step:g} s)")
        if out < step or out % step:
            raise ValueError(
                f"output_interval ({out:g} s) must be a whole multiple of step ({step:g} s)"
            )
        if dur <= 0 or dur % out:
            raise ValueError(
                f"duration ({dur:g} s) must be a positive whole multiple of "
                f"output_interval ({out:g} s)"
            )
        restart = self.restart_interval
        if restart is not None and (restart.total_seconds() < out or restart.total_seconds() % out):
            raise ValueError(
                f"restart_interval ({restart.total_seconds():g} s) must be a whole multiple of "
                f"output_interval ({out:g} s)"
            )
        return self

    @property
    def n_steps(self) -> int:
        return round(self.duration / self.step)

    @property
    def steps_per_output(self) -> int:
        return round(self.output_interval / self.step)

    @property
    def n_outputs(self) -> int:
        return self.n_steps // self.steps_per_output

    @property
    def outputs_per_restart(self) -> int:
        """Output steps between restart points (the last output step is one too)."""
        if self.restart_interval is None:
            return max(1, math.ceil(3600.0 / self.output_interval.total_seconds()))
        return round(self.restart_interval / self.output_interval)

    @classmethod
    def from_toml(cls, path: str | Path) -> Scenario:
        """Read a scenario file; every problem is reported with the file and field path."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path}: no such scenario file") from None
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{path}: cannot read the scenario file ({err})") from None
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"{path}: not valid TOML ({err})") from None
        return cls.from_dict(_relative_to(raw, path.parent), source=path)

    @classmethod
    def from_dict(cls, raw: dict, source: str | Path = "<scenario>") -> Scenario:
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            raise InputError(format_validation_error(source, err)) from None

    def to_toml(self) -> str:
        """The scenario as TOML text (round-trips through :meth:`from_toml`)."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["start"] = self.start  # keep TOML's native offset datetime
        return tomli_w.dumps(data)

    def with_updates(self, **changes: Any) -> Scenario:
        """A validated copy with top-level fields replaced."""
        data = self.model_dump(exclude_none=True) | changes
        return Scenario.from_dict(data)

    def time_at(self, step_index: int) -> datetime:
        return self.start + step_index * self.step
