"""``twin.Scenario``: what to simulate, validated (pydantic), read from TOML.

Durations are written as numbers of seconds or strings such as ``"24h"``,
``"15min"``, ``"90s"``, ``"1d 6h"``; the start must carry a UTC offset.

Types are strict (a boolean is not a number, a number is not a time, text is not a
number), every number is finite and within a physical range, names are short printable
text, and a file is bounded in size and nesting, so a hostile file ends in one
:class:`~twin.errors.InputError` naming the file and the field.
"""

from __future__ import annotations

import math
import re
import tomllib
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tomli_w
from pydantic import (
    AfterValidator,
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
from twin.errors import InputError, format_validation_error, shown
from twin.schema import RESOLUTION_RANGE_M

_UNITS_S = {"d": 86400, "h": 3600, "min": 60, "m": 60, "s": 1}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(d|h|min|m|s)\s*")


MAX_DURATION = timedelta(days=3660)
MAX_FILE_BYTES = 1 << 20  # a scenario file is a page of settings, not data
MAX_DEPTH = 8  # tables and arrays nested deeper than any field needs
NAME_MAX = 100  # characters of a scenario or service name
PATH_MAX = 4096  # characters of a path or dataset name (Linux PATH_MAX)
YEARS = (1900, 2200)  # start years the solar and weather models are written for
MAX_OUTPUTS = 200_000  # output steps of one run (a year of 5-minute outputs is 105,120)
SEED_MAX = 2**32 - 1


def _parse_duration(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not abs(value) <= MAX_DURATION.total_seconds():  # NaN too
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


def _printable(text: str) -> str:
    if not text.isprintable():
        raise ValueError(
            "control characters (newlines, tabs, terminal escapes) are not allowed in names"
        )
    return text


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX), AfterValidator(_printable)]
PathText = Annotated[str, Field(min_length=1, max_length=PATH_MAX), AfterValidator(_printable)]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
NodeId = Annotated[int, Field(strict=False, ge=0, lt=2**31)]  # TOML keys are text: "412"


def _start_time(value: Any) -> Any:
    """A TOML datetime (or ISO 8601 text); numbers are refused, not read as Unix times."""
    example = "write a TOML datetime with its offset, e.g. 2026-06-17T00:00:00+09:00"
    if isinstance(value, bool | int | float):
        raise ValueError(f"a number is not a time; {example}")
    if isinstance(value, date | time) and not isinstance(value, datetime):
        what = "a date" if isinstance(value, date) else "a clock time"
        raise ValueError(f"{what} alone is not a start; {example}")
    if isinstance(value, str) and len(value) > 64:
        raise ValueError("not a time")
    return value


def _start_in_range(value: datetime) -> datetime:
    if not YEARS[0] <= value.year < YEARS[1]:
        raise ValueError(f"year {value.year} is outside {YEARS[0]} to {YEARS[1] - 1}")
    return value


Start = Annotated[
    AwareDatetime,
    Field(strict=False),
    BeforeValidator(_start_time),
    AfterValidator(_start_in_range),
]


def _depth_problem(node: Any, where: str = "", depth: int = 0) -> str | None:
    """The field path where ``node`` nests deeper than :data:`MAX_DEPTH` (None: it does not)."""
    if depth > MAX_DEPTH:
        return where or "(file)"
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        found = _depth_problem(value, f"{where}.{key}" if where else str(key), depth + 1)
        if found:
            return found
    return None


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

    def resolve(value, always: bool):
        if not isinstance(value, str) or len(value) > PATH_MAX or value == "synthetic":
            return value  # not a path (the validation says why)
        try:
            if Path(value).is_absolute():
                return value
            candidate = folder / value
            # a dataset may be a shipped name; a store or weather file is always a path
            return str(candidate) if always or candidate.exists() else value
        except (OSError, ValueError):  # a name too long for the file system, a NUL
            return value

    raw = dict(raw)
    for section, key, always in (
        ("city", "store", True),
        ("city", "dataset", False),
        ("weather", "source", True),
        ("energy", "tariff_csv", True),
        ("energy", "carbon_csv", True),
    ):
        if isinstance(raw.get(section), dict) and key in raw[section]:
            raw[section] = {**raw[section], key: resolve(raw[section][key], always)}
    return raw


def _read_text(path: Path) -> str:
    """A scenario file's text (UTF-8, with or without a BOM), bounded in size."""
    if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
        raise InputError(f"{path}: (file): not a regular file")
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such scenario file") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read the scenario file ({err.strerror or err})") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(
            f"{path}: (file): larger than {MAX_FILE_BYTES >> 10} KiB; a scenario file holds "
            "settings, not data"
        )
    try:
        return data.decode("utf-8-sig")  # -sig: a BOM, as editors on Windows write it
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        text = data.splitlines()[line - 1].decode("utf-8", "replace")
        raise InputError(
            f"{path}: line {line}{_key_on(text)}: not UTF-8 text (byte {err.start}: {err.reason})"
        ) from None


_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_KEY = re.compile(r"\s*\[*\s*([A-Za-z0-9_.\"' -]+?)\s*[=\]]")


def _toml_problem(text: str, err: tomllib.TOMLDecodeError) -> str:
    """``line N, key K: not valid TOML (why)``: where a syntax error is, and its field."""
    message = str(err)
    at = _TOML_AT.search(message)
    if not at:
        return f"(file): not valid TOML ({message})"
    line = int(at[1])
    lines = text.splitlines()
    where = _key_on(lines[line - 1] if line <= len(lines) else "")
    return f"line {line}{where}: not valid TOML ({message})"


def _key_on(line: str) -> str:
    """``, key K`` for the key or table a TOML line names (empty when it names none)."""
    key = _TOML_KEY.match(line)
    return f", key {shown(key[1].strip())}" if key else ""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class CitySpec(_Strict):
    """A dataset built on the fly (``dataset``, ``resolution_m``, ``seed``) or a saved ``store``.

    With ``store``, ``dataset`` still names the dataset whose climatology drives the
    synthetic weather.

    Attributes
    ----------
    dataset
        Shipped dataset name (``gwangju``, ``minicity``) or a dataset folder; with
        ``store``, it names the climatology only.
    resolution_m
        Grid cell size [m] of a built city.
    seed
        Seed of the procedural city generator.
    store
        A saved city store (``twin city build`` or ``twin city import-osm``), relative to
        the scenario file; none: build ``dataset``.
    """

    dataset: PathText = "gwangju"
    resolution_m: Annotated[float, Field(ge=RESOLUTION_RANGE_M[0], le=RESOLUTION_RANGE_M[1])] = (
        100.0
    )
    seed: Seed = 0
    store: PathText | None = None


SignalMode = Literal["fixed_time", "phase_select", "actuated"]


class TrafficSettings(_Strict):
    """``[traffic]``: demand, routing, signal control and loop detectors.

    Attributes
    ----------
    demand_scale
        Scale on the whole origin-destination matrix.
    trips_per_day
        Inter-zonal car trips per day before scaling.
    zone_size_m
        Side of the square traffic zones [m].
    route_interval_s
        Interval between route updates [s].
    signal_cycle_s
        Fixed-time signal cycle [s].
    route_spread_s
        Logit scale of the next-link choice [s]; 0: all or nothing, ties to the lowest link.
    route_band_s
        Band above the best route beyond which a link gets no share [s]; none: 3 x
        ``route_spread_s``.
    amber_s
        Amber of every phase [s].
    all_red_s
        All-red of every phase [s]; green = cycle / 2 - amber - all-red.
    signal_control
        Control of every signalized node: ``fixed_time``, ``phase_select`` (a service names
        the phase) or ``actuated`` (gap-out / max-out on the stop-line detectors).
    signal_control_nodes
        Per-node overrides of ``signal_control``, e.g. ``{ "412" = "actuated" }``.
    signal_phases
        Phases of some nodes as sets of approach links, e.g.
        ``{ "412" = [[1001, 1003], [1002], [1004]] }`` (default two: north-south,
        east-west); every approach served, no phase with approaches on crossing axes.
    min_green_s
        Minimum green of the adaptive modes [s].
    max_green_s
        Maximum green of actuated control [s].
    passage_s
        Passage time (maximum gap) of actuated control [s].
    detector_interval_s
        Loop detector aggregation interval [s]; none: the output interval.
    detector_setback_m
        Distance of a loop upstream of the stop line where the city's ``/sensors`` have no
        ``setback`` [m].
    effective_vehicle_length_m
        Vehicle plus loop length, for occupancy [m].
    demand_noise
        ``poisson``: each hour's OD trips drawn as Poisson counts around the gravity model
        (NumPy PCG64 seeded with (seed, hour)); ``none``: the expected counts.
    seed
        Seed of the demand draws.
    exit_before_signal
        Trips end at their destination node before its signal (true), or wait for its
        green like through traffic (false, the earlier model).
    """

    demand_scale: Annotated[float, Field(ge=0, le=10)] = 1.0
    trips_per_day: Annotated[float, Field(gt=0, le=1e8)] = 250_000.0
    zone_size_m: Annotated[float, Field(ge=100, le=20000)] = 5000.0
    route_interval_s: Annotated[float, Field(ge=1, le=86400)] = 300.0
    signal_cycle_s: Annotated[float, Field(ge=30, le=240)] = 90.0
    # issue 12: every default keeps the earlier model's results
    route_spread_s: Annotated[float, Field(ge=0, le=3600)] = 0.0
    route_band_s: Annotated[float, Field(ge=0, le=36000)] | None = None  # None: 3 * route_spread_s
    amber_s: Annotated[float, Field(ge=0, le=10)] = 3.0
    all_red_s: Annotated[float, Field(ge=0, le=10)] = 1.0
    signal_control: SignalMode = "fixed_time"
    signal_control_nodes: dict[NodeId, SignalMode] = {}
    signal_phases: dict[NodeId, list[list[Annotated[int, Field(ge=0, lt=2**31)]]]] = {}
    min_green_s: Annotated[float, Field(ge=1, le=600)] = 5.0
    max_green_s: Annotated[float, Field(ge=1, le=600)] = 40.0
    passage_s: Annotated[float, Field(gt=0, le=60)] = 3.0
    detector_interval_s: Annotated[float, Field(ge=1, le=86400)] | None = None  # None: output
    detector_setback_m: Annotated[float, Field(ge=0, le=1000)] = 50.0
    effective_vehicle_length_m: Annotated[float, Field(gt=0, le=30)] = 6.5
    demand_noise: Literal["none", "poisson"] = "none"
    seed: Seed = 0
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
    """``[air]``: the modelled species and their sources.

    Attributes
    ----------
    species
        Modelled species (``pm25``, ``nox``; NO2 is derived from NOx).
    background_ugm3
        Regional background per species [ug m-3], the inflow at the open boundaries;
        without it each chosen species takes the air model's default, so
        ``species = ["pm25"]`` alone is consistent.
    emission_scale
        Scale on all emissions (roads and heating).
    background_hourly
        24 factors [1] on every species' background by local hour (linear between the
        hours), the diurnal cycle of the regional background; default all 1 (none).
    background_daily_sd
        Day-to-day variability of the regional background [1]: the SD of the natural
        log of a factor on it, one standard normal draw per local day from ``[weather]
        seed`` (the background is weather), linear in the log between local noons, so
        ``background_ugm3`` is the median. Default 0: a constant background. Daily
        PM2.5 is about lognormal (Ott 1990, the theory of successive random dilutions;
        doi:10.1080/10473289.1990.10466782), for Korean cities with a geometric SD of
        about 1.5-1.8 (log SD 0.4-0.6, AirKorea daily means, approximate): the winter
        episodes of regional transport and stagnation that lift Gwangju's daily mean
        above the 35 ug m-3 standard. See :meth:`background_factor`.
    """

    species: list[Literal["pm25", "nox"]] = Field(default=["pm25", "nox"], min_length=1)
    # 1000 ug m-3: above the worst hourly PM2.5 of Asian dust storms
    background_ugm3: dict[Literal["pm25", "nox"], Annotated[float, Field(ge=0, le=1000)]] = {
        s: d["background_ugm3"] for s, d in SPECIES_DEFAULTS.items()
    }
    emission_scale: Annotated[float, Field(ge=0, le=100)] = 1.0
    background_hourly: Annotated[
        list[Annotated[float, Field(ge=0, le=10)]], Field(min_length=24, max_length=24)
    ] = [1.0] * 24
    background_daily_sd: Annotated[float, Field(ge=0, le=2)] = 0.0

    @model_validator(mode="before")
    @classmethod
    def _background_follows_species(cls, data: Any) -> Any:
        if isinstance(data, dict) and "background_ugm3" not in data:
            species = data.get("species")
            if isinstance(species, list):
                data = data | {
                    "background_ugm3": {
                        s: SPECIES_DEFAULTS[s]["background_ugm3"]
                        for s in species
                        if isinstance(s, str) and s in SPECIES_DEFAULTS
                    }
                }
        return data

    def background_factor(self, seed: int, local: datetime) -> float:
        """The factor [1] on the backgrounds at wall-clock time ``local`` (its own UTC
        offset): ``background_hourly`` at the hour times ``exp(background_daily_sd z)``,
        ``z`` linear between the standard normal draws of the local days around it
        (seeded by ``seed`` and the day, drawn at local noon)."""
        hours = (local.replace(tzinfo=None) - datetime(1970, 1, 1)).total_seconds() / 3600.0
        i, w = int(hours % 24.0), hours % 1.0
        table = self.background_hourly
        factor = (1.0 - w) * table[i] + w * table[(i + 1) % 24]
        if self.background_daily_sd == 0:
            return factor
        days = (hours - 12.0) / 24.0
        day, w = math.floor(days), days % 1.0
        z0, z1 = (np.random.default_rng([seed, d]).standard_normal() for d in (day, day + 1))
        return factor * math.exp(self.background_daily_sd * ((1.0 - w) * z0 + w * z1))

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
    """``[energy]``: the building stock's equipment.

    Attributes
    ----------
    pv_coverage
        Share of roof area with PV.
    ev_share
        Electric share of cars (their arrivals charge).
    electric_heating_share
        Share of heat from heat pumps (the rest burns city gas).
    ev_deadlines
        EV sessions leave at a departure hour (08 h for evening and night plug-ins, 18 h
        for daytime ones), each vehicle charging at the charger power until done, so a
        charging limit may leave energy unserved; false keeps the first-order backlog
        queue without departures.
    tariff_csv
        CSV file replacing the KEPCO time-of-use tariff (``hour,price_krw_per_kwh``, 24
        rows, or with ``month``, 288 rows; see :mod:`twin.tariffs`).
    carbon_csv
        CSV file replacing the constant GIR grid emission factor (``hour,co2_t_per_mwh``,
        24 rows).
    """

    pv_coverage: Annotated[float, Field(ge=0, le=1)] = _ENERGY.pv_coverage
    ev_share: Annotated[float, Field(ge=0, le=1)] = _ENERGY.ev_share
    electric_heating_share: Annotated[float, Field(ge=0, le=1)] = _ENERGY.electric_heating_share
    ev_deadlines: bool = _ENERGY.ev_deadlines
    tariff_csv: str | None = None
    carbon_csv: str | None = None


class WeatherSettings(_Strict):
    """``[weather]``: where the forcing comes from.

    Attributes
    ----------
    source
        ``synthetic`` (seeded weather from the dataset's climatology) or a CSV file
        (``time`` with offsets, columns named as in docs/variables.md), relative to the
        scenario file.
    seed
        Seed of the synthetic weather.
    """

    source: PathText = "synthetic"  # or a CSV file path
    seed: Seed = 0


Fraction = Annotated[float, Field(ge=0, le=1)]


def _positive_day(value: timedelta) -> timedelta:
    if not timedelta(seconds=1) <= value <= timedelta(days=1):
        raise ValueError(f"{value.total_seconds():g} s is outside 1 s to 1 day")
    return value


Interval = Annotated[Duration, AfterValidator(_positive_day)]  # sensor and service intervals


class SensorSettings(_Strict):
    """What services see: each sensor kind's seeded noise model (see twin.services.sensors).

    Relative errors are standard deviations of a Gaussian factor ``1 + e N(0, 1)``;
    dropouts are readings lost at random (reported as NaN); monitors and meters report
    the mean of their last complete interval. Forecast errors grow as a random walk with
    the lead time, so their standard deviation at lead ``L`` is ``e24 sqrt(L / 24 h)``.

    Attributes
    ----------
    noise
        ``gaussian`` (the noise below) or ``none`` (exact model values).
    seed
        Seed of the sensor noise.
    detector_error
        Relative error of loop counts, occupancy and speed.
    queue_error
        Relative error of queue lengths from cameras or probe data.
    detector_dropout
        Share of loop readings lost.
    approach_cameras
        Queue cameras on every approach of a signal (runs with services only; the city's
        loop sensors are always there).
    monitor_error
        Relative error of PM2.5 / NO2 monitors (beta attenuation, about 10 %).
    monitor_interval
        Averaging interval of the monitors (AirKorea publishes hourly means).
    meter_error
        Relative error of the smart meters (revenue grade).
    meter_interval
        Averaging interval of the meters (KEPCO AMI reads every 15 min).
    forecast_hours
        Lead time of the weather forecast [h].
    forecast_temperature_error_k
        Forecast temperature error at 24 h [K].
    forecast_wind_error_mps
        Forecast wind speed error at 24 h [m s-1].
    forecast_ghi_error
        Relative forecast GHI error at 24 h.
    """

    noise: Literal["gaussian", "none"] = "gaussian"
    seed: Seed = 0
    detector_error: Fraction = 0.05  # loop counts, occupancy and speed (about 5 %)
    queue_error: Fraction = 0.10  # queue length from cameras or probe data
    detector_dropout: Fraction = 0.01
    # queue cameras on every approach of a signal, for signal-control services (runs
    # with services only; the city's loop sensors are always there)
    approach_cameras: bool = True
    monitor_error: Fraction = 0.10  # PM2.5 / NO2 monitors (beta attenuation, about 10 %)
    monitor_interval: Interval = timedelta(hours=1)  # AirKorea publishes hourly means
    meter_error: Fraction = 0.01  # revenue-grade smart meters
    meter_interval: Interval = timedelta(minutes=15)  # KEPCO AMI reads every 15 min
    forecast_hours: Annotated[int, Field(ge=1, le=72)] = 24
    forecast_temperature_error_k: Annotated[float, Field(ge=0, le=10)] = 1.5  # at 24 h
    forecast_wind_error_mps: Annotated[float, Field(ge=0, le=10)] = 1.5  # at 24 h
    forecast_ghi_error: Fraction = 0.25  # relative, at 24 h


class UamSettings(_Strict):
    """``[uam]``: air taxis, in a run only when the scenario has this table.

    Vertiports and no-fly volumes are the dataset's ``[uam]`` tables (sim/uam, twin/uam.py).

    Attributes
    ----------
    flights_per_day
        Flights a day, between vertiports by a gravity model with a daytime profile.
    seed
        Seed of the flights' draw.
    catchment_m
        Radius [m] around a vertiport whose residents and jobs weigh its flights.
    turnaround_s
        Time on a pad to board or deboard [s].
    route_cell_m
        Route lattice cell [m], rounded to a whole number of city cells.
    route_dz_m
        Route lattice level spacing [m].
    ceiling_m
        Highest route level above sea level [m].
    clearance_m
        Least height of a route node above the obstacles of its 3 x 3 cells [m].
    weight_length
        Route cost per metre flown.
    weight_climb
        Route cost per metre climbed.
    weight_noise
        Route cost per metre times the noise field (mean 1 over the air space); 0 with
        ``weight_climb`` 0 is the shortest route.
    noise_cell_m
        Ground noise grid [m], rounded to a whole number of city cells.
    noise_segment_m
        Longest straight piece of a step's track in the noise sums [m].
    source_level_dba
        Cruise A-weighted sound power level [dB]; hover is 5 dB more.
    max_route_updates
        Route sets a service may add during a run.
    """

    flights_per_day: Annotated[float, Field(ge=0, le=100_000)] = 500.0
    seed: Seed = 0
    catchment_m: Annotated[float, Field(gt=0, le=50_000)] = 3000.0
    turnaround_s: Annotated[float, Field(gt=0, le=7200)] = 300.0
    route_cell_m: Annotated[float, Field(ge=50, le=2000)] = 400.0
    route_dz_m: Annotated[float, Field(ge=5, le=500)] = 50.0
    ceiling_m: Annotated[float, Field(gt=0, le=5000)] = 600.0
    clearance_m: Annotated[float, Field(ge=0, le=1000)] = 60.0
    weight_length: Annotated[float, Field(ge=0, le=1000)] = 1.0
    weight_climb: Annotated[float, Field(ge=0, le=1000)] = 0.0
    weight_noise: Annotated[float, Field(ge=0, le=1000)] = 0.0
    noise_cell_m: Annotated[float, Field(ge=25, le=2000)] = 300.0
    noise_segment_m: Annotated[float, Field(ge=50, le=10_000)] = 1000.0
    source_level_dba: Annotated[float, Field(ge=50, le=160)] = noise.SOURCE_LEVEL_DBA
    max_route_updates: Annotated[int, Field(ge=0, le=20)] = 3


class ServiceSpec(BaseModel):
    """A ``[[services]]`` table: a built-in service by ``name``, its decision interval
    ``every`` (default: the service's own), whether the store keeps the observations it
    saw, and any further keys as the service's parameters.

    Attributes
    ----------
    name
        A built-in service (``twin.services.BUILTINS``).
    every
        Decision interval, a multiple of ``step``; none: the service's own.
    record_observations
        Keep every observation the service saw in ``/services/<name>``.
    """

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, allow_inf_nan=False)
    name: Name
    every: Interval | None = None
    record_observations: bool = False

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Scenario(_Strict):
    """A coupled run: city, time span, steps, model settings, device.

    Attributes
    ----------
    name
        Label in the store and the progress bar.
    city
        ``[city]``: the city to run on.
    start
        Start with its UTC offset, e.g. ``2026-06-17T00:00:00+09:00`` (naive times are
        refused).
    duration
        Simulated time, a whole multiple of ``output_interval``.
    step
        Coupling step: whole seconds, 1 s to 1 h.
    output_interval
        Interval between output steps written to the store, a multiple of ``step``.
    restart_interval
        How often the model states are saved for ``--resume``, a multiple of
        ``output_interval``; none: the fewest output steps that make an hour, so a
        killed run loses at most about an hour of simulated time.
    device
        ``auto``, ``cpu`` or ``gpu``; none: ``TWIN_DEVICE``, else ``auto``.
    traffic
        ``[traffic]`` settings.
    air
        ``[air]`` settings.
    energy
        ``[energy]`` settings.
    weather
        ``[weather]`` settings.
    sensors
        ``[sensors]``: what services see.
    uam
        ``[uam]``: air taxis; none: a run without them.
    services
        ``[[services]]``: built-in services that run with the scenario.
    """

    name: Name = "scenario"
    city: CitySpec = CitySpec()
    start: Start
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
        if dur / out > MAX_OUTPUTS:
            raise ValueError(
                f"duration / output_interval makes {dur / out:,.0f} output steps; at most "
                f"{MAX_OUTPUTS:,} (choose a longer output_interval)"
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
        text = _read_text(path)
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"{path}: {_toml_problem(text, err)}") from None
        except RecursionError:
            deep = text.find("[" * (MAX_DEPTH + 1))
            line = text.count("\n", 0, max(deep, 0)) + 1
            raise InputError(
                f"{path}: line {line}{_key_on(text.splitlines()[line - 1])}: arrays nested "
                f"too deeply (at most {MAX_DEPTH} levels)"
            ) from None
        return cls.from_dict(_relative_to(raw, path.parent), source=path)

    @classmethod
    def from_dict(cls, raw: dict, source: str | Path = "<scenario>") -> Scenario:
        deep = _depth_problem(raw)
        if deep:
            raise InputError(
                f"{source}: 1 problem(s):\n  {deep}: nested deeper than {MAX_DEPTH} levels"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            raise InputError(format_validation_error(source, err, cls)) from None

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
