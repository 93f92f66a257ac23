"""What a picture is made from: a city, and the run on it, with its clock and variables.

No pyvista here: opening stores, finding variables, reading times and converting units
to what people read (docs/variables.md: stores hold SI, pictures show km/h, veh/km, ...).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import xarray as xr

import twin
from twin.ensemble import read_ensemble
from twin.errors import InputError
from twin.store import RUN_KIND, open_run, store_kind

# Layer kind from a variable's dims (time aside): what it colours in the scene.
KINDS = {
    ("building",): "building",
    ("link",): "link",
    ("y", "x"): "grid",
    ("district",): "district",
}
_CITY_GROUPS = ("buildings", "roads", "grid", "districts")
_NOT_LAYERS = {"x", "y", "from_node", "to_node", "district", "name"}
# stored units -> (factor, label people read); vehicle counts per metre/second in this twin
DISPLAY_UNITS = {
    "m s-1": (3.6, "km/h"),
    "m-1": (1000.0, "veh/km"),
    "s-1": (3600.0, "veh/h"),
    "ug m-3": (1.0, "µg/m³"),
    "degC": (1.0, "°C"),
    "m2": (1.0, "m²"),
    "1": (1.0, ""),
}
# What `twin render` / `twin render --animate` colour a run by without --var: the first
# of these the run has (air first: it is what a city twin is asked about most).
DEFAULT_VARIABLES = ("pm25", "no2", "nox", "speed", "electric_load", "net_load")
PLAIN = "land_use"  # --var land_use: no state layer, the land-use colours of the plain scene
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


@dataclass(frozen=True)
class Variable:
    """A drawable variable: where it lives, its data, and how to show it."""

    name: str
    data: xr.DataArray
    kind: str  # building, link, grid or district
    timed: bool

    @property
    def units(self) -> str:
        """Display units (e.g. ``km/h`` for a speed stored in ``m s-1``)."""
        stored = str(self.data.attrs.get("units", ""))
        return DISPLAY_UNITS.get(stored, (1.0, stored))[1]

    @property
    def title(self) -> str:
        """Colour-bar title: name and display units."""
        return f"{self.name} [{self.units}]" if self.units else self.name

    def values(self, index: int | None = None) -> np.ndarray:
        """Values at output step ``index`` (ignored for static variables), display units."""
        da = self.data.isel(time=index) if self.timed else self.data
        factor = DISPLAY_UNITS.get(str(self.data.attrs.get("units", "")), (1.0, ""))[0]
        return np.asarray(da.values, dtype=np.float64) * factor


@dataclass
class Source:
    """A city, and the run that happened on it when opened from a run store."""

    city: twin.City
    run: xr.DataTree | None = None
    label: str = ""
    _variables: dict[str, Variable] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, obj) -> Source:
        """A source from a source, a store path or a :class:`twin.City`."""
        if isinstance(obj, Source):
            return obj
        if isinstance(obj, twin.City):
            return cls(city=obj, label=obj.name)
        if isinstance(obj, str | Path):
            return cls.open(obj)
        raise InputError(f"cannot draw a {type(obj).__name__}; give a store path or a twin.City")

    @classmethod
    def open(cls, path: str | Path, member: int | None = None) -> Source:
        """Open a city store or a run store (``kind="run"``) by path; ``member``: the
        member of an ensemble store to draw (one must be chosen there)."""
        path = Path(path)
        city = twin.open_city(path)
        run = open_run(path) if store_kind(path) == RUN_KIND else None
        size = (run.attrs.get("ensemble") or {}).get("members") if run is not None else None
        if size is None:
            if member is not None:
                raise InputError(f"{path} is not an ensemble store; --member needs one")
            return cls(city=city, run=run, label=path.name)
        if member is None or not 0 <= member < size:
            got = "" if member is None else f" (got {member})"
            raise InputError(f"{path} is an ensemble of {size} members: choose one with "
                             f"--member 0..{size - 1}{got}")  # fmt: skip
        table = read_ensemble(path)  # a pending or failed member has no outputs (NaN)
        status, error = (str(table[k].values[member]) for k in ("status", "error"))
        if status != "complete":
            raise InputError(f"{path}: member {member} is {status}{': ' if error else ''}"
                             f"{error[:300]}; only complete members can be drawn")  # fmt: skip
        run = run.isel(member=member, missing_dims="ignore")
        return cls(city=city, run=run, label=f"{path.name} member {member}")

    # ------------------------------------------------------------- variables
    @property
    def variables(self) -> dict[str, Variable]:
        """Every drawable variable by name; a name in several groups is ``group/name``."""
        if not self._variables:
            found: list[tuple[str, str, xr.DataArray]] = []
            if self.run is not None and "state" in self.run.children:
                for group in self.run["state"].children.values():
                    found += [(group.name, k, v) for k, v in group.to_dataset().data_vars.items()]
            for g in _CITY_GROUPS:
                found += [(g, k, v) for k, v in self.city[g].data_vars.items()]
            drawable = [
                (group, k, da, KINDS.get(tuple(d for d in da.dims if d != "time")))
                for group, k, da in found
                if k not in _NOT_LAYERS and da.dtype.kind in "iuf"
            ]
            drawable = [row for row in drawable if row[3] is not None]
            counts = Counter(k for _, k, _, _ in drawable)
            for group, k, da, kind in drawable:
                name = k if counts[k] == 1 else f"{group}/{k}"
                self._variables[name] = Variable(name, da, kind, "time" in da.dims)
        return self._variables

    def variable(self, name: str) -> Variable:
        """The variable called ``name`` (or ``group/name``); unknown names list the known."""
        if name in self.variables:
            return self.variables[name]
        matches = sorted(k for k in self.variables if k.split("/")[-1] == name)
        if matches:
            raise InputError(f"variable {name!r} is in several groups; name one of {matches}")
        raise InputError(
            f"{self.label or 'store'}: no variable {name!r} to draw; available: "
            + ", ".join(sorted(self.variables))
        )

    def default_variable(self) -> str | None:
        """The variable a run is drawn with when none is asked for (the first of
        :data:`DEFAULT_VARIABLES` the run has); ``None`` for a city store."""
        if self.run is None:
            return None
        return next((v for v in DEFAULT_VARIABLES if v in self.variables), None)

    def layer_variable(self, name: str | None) -> Variable | None:
        """The variable of a picture's state layer: ``name``, the default for ``None``
        (:meth:`default_variable`), or no layer for :data:`PLAIN`."""
        name = self.default_variable() if name is None else name
        return None if name in (None, PLAIN) else self.variable(name)

    def background(self, name: str) -> float | None:
        """Regional background of pollutant ``name`` [ug m-3] the run used (its scenario's
        ``[air] background_ugm3``, else the air model's default); ``None`` when unknown."""
        from sim.air.model import SPECIES_DEFAULTS

        species = name.split("/")[-1]
        if species not in SPECIES_DEFAULTS:
            return None
        given = {}
        if self.run is not None:
            try:
                given = tomllib.loads(self.run.attrs.get("scenario", ""))
            except tomllib.TOMLDecodeError:
                given = {}
        given = given.get("air", {}).get("background_ugm3", {})
        return float(given.get(species, SPECIES_DEFAULTS[species]["background_ugm3"]))

    # ------------------------------------------------------------------ clock
    @property
    def times(self) -> np.ndarray:
        """UTC times (datetime64, naive) of the completed output steps; empty for a city."""
        if self.run is None or not self.run.get("state", xr.DataTree()).children:
            return np.array([], dtype="datetime64[ns]")
        # every state group has the same output times
        return np.asarray(next(iter(self.run["state"].children.values()))["time"].values)

    @property
    def start(self) -> datetime:
        """The scenario start, timezone aware, in the city's local time (the run's
        ``utc_offset_hours``; older stores: the offset the start was written with)."""
        if self.run is None:
            raise InputError(f"{self.label}: a city store has no clock (no scenario start)")
        text = self.run.attrs.get("scenario", "")
        try:
            start = tomllib.loads(text)["start"]
        except (tomllib.TOMLDecodeError, KeyError):
            raise InputError(f"{self.label}: run store without a readable scenario start") from None
        if not isinstance(start, datetime) or start.tzinfo is None:
            raise InputError(f"{self.label}: scenario start {start!r} has no UTC offset")
        offset = self.run.attrs.get("utc_offset_hours")
        if offset is not None:
            start = start.astimezone(timezone(timedelta(hours=float(offset))))
        return start

    def local(self, time_utc: np.datetime64) -> datetime:
        """A store time as a timezone-aware datetime in the scenario's local offset."""
        return utc_datetime(time_utc).astimezone(self.start.tzinfo)

    def clock_label(self, time_utc: np.datetime64) -> str:
        return clock_label(self.local(time_utc))

    def parse_local(self, text: str) -> datetime:
        """A user's time, timezone aware.

        ``HH:MM`` is local time (the scenario start's offset) on the start's day, or the
        next day when it falls before the start; ``YYYY-MM-DD HH:MM`` is local too;
        ISO 8601 times with an offset are taken as given. A city store has no clock, so
        it takes only the last form.
        """
        text = str(text).strip()
        clock = _CLOCK.match(text)
        if clock:
            hour, minute, second = (int(g or 0) for g in clock.groups())
            if hour > 23 or minute > 59 or second > 59:
                raise InputError(f"time {text!r}: not a clock time (HH:MM, 00:00 to 23:59)")
            if self.run is None:
                raise InputError(
                    f"time {text!r}: a city store has no clock, so give a full time with its "
                    "UTC offset, e.g. 2026-06-17T08:00+09:00"
                )
            start = self.start
            t = start.replace(hour=hour, minute=minute, second=second, microsecond=0)
            return t + timedelta(days=1) if t < start else t
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(
                f"time {text!r}: expected HH:MM, 'YYYY-MM-DD HH:MM' or ISO 8601 with an "
                "offset (2026-06-17T08:00+09:00)"
            ) from None
        if t.tzinfo is None:
            if self.run is None:
                raise InputError(f"time {text!r}: give its UTC offset, e.g. {text}+09:00")
            t = t.replace(tzinfo=self.start.tzinfo)
        return t

    def parse_time(self, text: str) -> np.datetime64:
        """:meth:`parse_local` as UTC datetime64 (the store's time axis)."""
        return utc64(self.parse_local(text))

    def time_index(self, text: str | None) -> int:
        """Output step nearest to ``text`` (default: the last completed step)."""
        times = self._require_times()
        if text is None:
            return times.size - 1
        t = self.parse_time(text)
        i = int(np.argmin(np.abs(times - t)))
        if abs(times[i] - t) > self._half_step(times):
            raise InputError(
                f"time {text!r} is outside the run's completed outputs "
                f"({self.clock_label(times[0])} to {self.clock_label(times[-1])})"
            )
        return i

    def time_range(self, first: str | None, last: str | None) -> np.ndarray:
        """Indices of the output steps from ``first`` to ``last`` (inclusive; default all)."""
        times = self._require_times()
        lo = times[0] if first is None else self.parse_time(first)
        hi = times[-1] if last is None else self.parse_time(last)
        if hi < lo:
            raise InputError(f"--from {first} is after --to {last}")
        picked = np.flatnonzero((times >= lo) & (times <= hi))
        if picked.size == 0:
            raise InputError(
                f"no output step between {first} and {last}; the run has "
                f"{self.clock_label(times[0])} to {self.clock_label(times[-1])}"
            )
        return picked

    def _require_times(self) -> np.ndarray:
        times = self.times
        if self.run is None:
            raise InputError(f"{self.label}: a city store has no time steps; give a run store")
        if times.size == 0:
            raise InputError(f"{self.label}: the run has no completed output step yet")
        return times

    @staticmethod
    def _half_step(times: np.ndarray) -> np.timedelta64:
        if times.size < 2:
            return np.timedelta64(0, "ns")
        return np.median(np.diff(times)) / 2


def utc64(t: datetime) -> np.datetime64:
    """An aware datetime as naive-UTC datetime64[ns] (xarray's decoding of store times)."""
    return np.datetime64(t.astimezone(UTC).replace(tzinfo=None).isoformat(), "ns")


def utc_datetime(time_utc: np.datetime64) -> datetime:
    return datetime.fromisoformat(str(np.datetime64(time_utc, "s"))).replace(tzinfo=UTC)


def clock_label(t: datetime) -> str:
    """``2026-06-17 08:00 UTC+09:00``: local clock time and its offset."""
    minutes = int(t.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{t:%Y-%m-%d %H:%M} UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_size(text: str) -> tuple[int, int]:
    """``"1600x1000"`` -> (1600, 1000) pixels (width, height), each 16 to 8192."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if not match:
        raise InputError(f"size {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 1600x1000")
    return check_size((int(match[1]), int(match[2])))


def check_size(size) -> tuple[int, int]:
    """A picture size (width, height) [px], each a whole number from 16 to 8192."""
    try:
        w, h = (int(v) for v in size)
        ok = all(float(v) == int(v) for v in size) and 16 <= w <= 8192 and 16 <= h <= 8192
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"size {size!r}: width and height must be whole pixels, 16 to 8192")
    return w, h
