"""OpenStreetMap tags to numbers: the defaults table, and lanes, speeds, heights, levels.

Pure Python (no pyosmium): every reader here takes a tag value (a string or None) and
returns a number, ``None`` when the tag is absent, or :data:`INVALID` when it is present but
not usable; the callers fall back to the defaults table and count what they fixed.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from twin.citygen import BUILDING_USE, LAND_USE, ROAD_CLASS
from twin.errors import InputError, format_validation_error

DEFAULTS_FILE = Path(__file__).with_name("osm_defaults.toml")
INVALID = object()  # a tag that is present but unusable

# bits of /roads/source
LANES_DEFAULT, SPEED_DEFAULT, LANES_INVALID, SPEED_INVALID = 1, 2, 4, 8
# /buildings/height_source
HEIGHT_TAG, LEVELS_TAG, TYPE_DEFAULT = 0, 1, 2

LANES_RANGE = (1, 16)  # a whole road; one direction never has more than 8
SPEED_RANGE_KMH = (5.0, 200.0)
HEIGHT_RANGE_M = (0.0, 900.0)  # exclusive lower bound; the tallest building is 828 m
LEVELS_RANGE = (0.0, 200.0)  # exclusive lower bound; the most storeys built are 163
MPH_KMH, KNOT_KMH, FOOT_M = 1.609344, 1.852, 0.3048

# maxspeed values that say there is no fixed number (OSM wiki, Key:maxspeed)
NO_NUMBER = frozenset({"none", "signals", "variable", "implicit", "unknown"})
_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$")
_LENGTH = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(m|ft|')?\s*$")
_FEET_INCHES = re.compile(r"^\s*([0-9]+)\s*'\s*([0-9]+(?:\.[0-9]+)?)\s*\"\s*$")


ROAD_KEYS = ("oneway", "junction", "lanes", "lanes:forward", "lanes:backward")
ROAD_KEYS += ("maxspeed", "maxspeed:forward", "maxspeed:backward")
BUILDING_KEYS = ("building", "height", "building:levels", "shop", "office")


def pick(tags, keys: tuple[str, ...]) -> dict[str, str]:
    """The tags among ``keys`` that are present (``tags``: a dict or a pyosmium TagList)."""
    return {k: v for k in keys if (v := tags.get(k)) is not None}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HighwayClass(_Strict):
    """Defaults of one ``highway=*`` value: per direction lanes, speeds, per-lane flow."""

    lanes: Annotated[int, Field(ge=1, le=8)]
    free_speed_kmh: Annotated[float, Field(ge=SPEED_RANGE_KMH[0], le=SPEED_RANGE_KMH[1])]
    capacity_vph: Annotated[float, Field(gt=0)]
    jam_density_vpkm: Annotated[float, Field(gt=0)]
    oneway: bool = False
    road_class: Literal[ROAD_CLASS]  # type: ignore[valid-type]


class BuildingType(_Strict):
    use: Literal[BUILDING_USE]  # type: ignore[valid-type]
    levels: Annotated[float, Field(gt=0, le=LEVELS_RANGE[1])]
    storey_height_m: Annotated[float, Field(gt=0, le=20)] | None = None


class BuildingDefaults(_Strict):
    storey_height_m: Annotated[float, Field(gt=0, le=20)]
    levels: Annotated[float, Field(gt=0, le=LEVELS_RANGE[1])]
    types: dict[str, BuildingType] = {}


class LandUseDefaults(_Strict):
    waterways: list[str] = []
    tags: dict[str, Literal[LAND_USE]] = {}  # type: ignore[valid-type]


class Defaults(_Strict):
    """The validated defaults table (``osm_defaults.toml``, merged with a user's file)."""

    schema_: Annotated[int, Field(alias="schema", ge=1, le=1)]
    highway: dict[str, HighwayClass] = Field(min_length=1)
    maxspeed: dict[str, Annotated[float, Field(gt=0)]] = {}
    building: BuildingDefaults
    land_use: LandUseDefaults

    def land_use_of(self, tags) -> int | None:
        """Land-use class index (``LAND_USE``) named by ``tags`` (anything with ``get``)."""
        for key, classes in self._land_use_by_key.items():
            value = tags.get(key)
            if value is not None and value in classes:
                return classes[value]
        return None

    @cached_property
    def _land_use_by_key(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for tag, cls in self.land_use.tags.items():
            key, value = tag.split("=", 1)
            table.setdefault(key, {})[value] = LAND_USE.index(cls)
        return table

    @property
    def area_keys(self) -> tuple[str, ...]:
        """Tag keys of the polygons the importer reads (buildings, land use, boundaries)."""
        return tuple(sorted({*self._land_use_by_key, "building", "boundary"}))


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        both_tables = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both_tables else value
    return out


def load_defaults(path: str | Path | None = None) -> Defaults:
    """The shipped defaults, with the entries of the TOML file ``path`` (if any) on top."""
    raw = tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    source = DEFAULTS_FILE
    if path is not None:
        source = Path(path)
        try:
            raw = _merge(raw, tomllib.loads(source.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise InputError(f"--defaults {source}: no such file") from None
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"--defaults {source}: cannot read it ({err})") from None
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"--defaults {source}: not valid TOML ({err})") from None
    try:
        return Defaults.model_validate(raw)
    except ValidationError as err:
        raise InputError(format_validation_error(source, err)) from None


def _first(value: str) -> str:
    """The first of several values (OSM separates them with ';')."""
    return value.split(";", 1)[0].strip()


def _number(value: str | None, lo: float, hi: float, whole: bool = False):
    """The (first) number of a tag value within ``(lo, hi]``; None if absent, else INVALID."""
    if value is None:
        return None
    try:
        n = float(_first(value))
    except ValueError:
        return INVALID
    if lo < n <= hi and (n == int(n) or not whole):
        return n
    return INVALID


def parse_lanes(value: str | None):
    """Number of lanes: a whole number in ``LANES_RANGE``."""
    n = _number(value, LANES_RANGE[0] - 1, LANES_RANGE[1], whole=True)
    return int(n) if isinstance(n, float) else n


def parse_speed_kmh(value: str | None, named: Mapping[str, float]):
    """A ``maxspeed`` value [km/h]: number (km/h, mph, knots) or a named rule in ``named``.

    The words of :data:`NO_NUMBER` give None: no limit is known, the class default
    applies; any other text is :data:`INVALID`.
    """
    if value is None:
        return None
    text = _first(value)
    if text in named:
        return float(named[text])
    match = _NUMBER.match(text)
    if match is None:
        return None if text in NO_NUMBER else INVALID
    kmh = float(match[1]) * {"mph": MPH_KMH, "knots": KNOT_KMH}.get(match[2] or "", 1.0)
    lo, hi = SPEED_RANGE_KMH
    return kmh if lo <= kmh <= hi else INVALID


def parse_height_m(value: str | None):
    """A ``height`` [m]: metres (``12``, ``12 m``) or feet (``40 ft``, ``40'``, ``12'6"``)."""
    if value is None:
        return None
    text = _first(value)
    if match := _FEET_INCHES.match(text):
        metres = (float(match[1]) + float(match[2]) / 12.0) * FOOT_M
    elif match := _LENGTH.match(text):
        metres = float(match[1]) * (FOOT_M if match[2] in ("ft", "'") else 1.0)
    else:
        return INVALID
    lo, hi = HEIGHT_RANGE_M
    return metres if lo < metres <= hi and math.isfinite(metres) else INVALID


def parse_levels(value: str | None):
    """``building:levels``: storeys above ground, > 0 and at most ``LEVELS_RANGE[1]``."""
    return _number(value, *LEVELS_RANGE)


_ONEWAY = {"yes": 1, "true": 1, "1": 1, "-1": -1, "reverse": -1, "no": 0, "false": 0, "0": 0}
# reversible / alternating roads carry traffic both ways, one way at a time
_ONEWAY |= {"reversible": 0, "alternating": 0}


def road_direction(tags: Mapping[str, str], cls: HighwayClass, fixes: Counter) -> int:
    """+1 one-way along the way, -1 against it (``oneway=-1``), 0 both ways.

    Without a ``oneway`` tag: roundabouts (``junction=roundabout`` or ``circular``) are
    one-way along the way, other roads take their class default (motorways one-way).
    """
    value = tags.get("oneway")
    if value is not None:
        if value.strip().lower() in _ONEWAY:
            return _ONEWAY[value.strip().lower()]
        fixes["oneway: unknown value, class default used"] += 1
    if tags.get("junction") in ("roundabout", "circular"):
        return 1
    return 1 if cls.oneway else 0


def _lanes_one_side(tags, side: str, other: str, two_way: bool):
    """Lanes on ``side`` (``forward`` or ``backward``): the value and whether a tag was bad."""
    own, rest, total = (
        parse_lanes(tags.get(k)) for k in (f"lanes:{side}", f"lanes:{other}", "lanes")
    )
    bad = any(v is INVALID for v in (own, rest, total))
    if own not in (None, INVALID):
        return own, bad
    if total in (None, INVALID):
        return None, bad
    if not two_way:
        return total, bad
    if rest not in (None, INVALID) and total - rest >= 1:
        return total - rest, bad
    return max(1, total // 2), bad  # an odd middle (turn) lane is not counted


def road_attributes(
    tags: Mapping[str, str], cls: HighwayClass, named_speeds: Mapping[str, float], fixes: Counter
) -> tuple[int, list[tuple[int, float, int]]]:
    """Direction and, for forward then backward travel, (lanes, free speed [m/s], source bits).

    ``lanes:forward``/``lanes:backward`` win over ``lanes``, which counts both directions
    on a two-way road (half each, at least one) and the travel direction on a one-way road;
    ``maxspeed:forward``/``maxspeed:backward`` win over ``maxspeed`` [km/h, mph or knots].
    Missing values take the class default; unusable ones too, and are counted in ``fixes``.
    """
    direction = road_direction(tags, cls, fixes)
    sides = []
    any_bad_lanes = any_bad_speed = False
    for side, other in (("forward", "backward"), ("backward", "forward")):
        source = 0
        lanes, bad = _lanes_one_side(tags, side, other, two_way=direction == 0)
        any_bad_lanes |= bad
        if lanes is None:
            lanes, source = cls.lanes, source | LANES_DEFAULT | (LANES_INVALID if bad else 0)
        speed = parse_speed_kmh(tags.get(f"maxspeed:{side}"), named_speeds)
        if speed in (None, INVALID):
            fallback = parse_speed_kmh(tags.get("maxspeed"), named_speeds)
            bad_speed = speed is INVALID or fallback is INVALID
            speed = fallback
        else:
            bad_speed = False
        any_bad_speed |= bad_speed
        if speed in (None, INVALID):
            speed = cls.free_speed_kmh
            source |= SPEED_DEFAULT | (SPEED_INVALID if bad_speed else 0)
        sides.append((min(int(lanes), 8), speed / 3.6, source))
    if any_bad_lanes:
        fixes["lanes: unreadable or out of range (1-16), class default used"] += 1
    if any_bad_speed:
        fixes["maxspeed: unreadable or out of range (5-200 km/h), class default used"] += 1
    return direction, sides


def building_height(
    tags: Mapping[str, str], defaults: Defaults, fixes: Counter
) -> tuple[float, float, int, str | None]:
    """Height [m], storeys, height source and use name (None: decide from land use).

    Height: ``height``, else ``building:levels`` x storey height, else the type's storeys x
    storey height; storeys for the floor area: ``building:levels``, else height / storey
    height (at least one). Unusable tags are counted in ``fixes`` and skipped.
    """
    b = defaults.building
    kind = tags.get("building", "yes")
    known = b.types.get(kind)
    storey = (known.storey_height_m if known else None) or b.storey_height_m
    height, levels = parse_height_m(tags.get("height")), parse_levels(tags.get("building:levels"))
    if height is INVALID:
        fixes["height: unreadable or not in (0, 900] m, levels or type default used"] += 1
        height = None
    if levels is INVALID:
        fixes["building:levels: unreadable or not in (0, 200], type default used"] += 1
        levels = None
    if height is not None:
        source = HEIGHT_TAG
        levels = levels if levels is not None else max(1.0, round(height / storey))
    elif levels is not None:
        source, height = LEVELS_TAG, levels * storey
    else:
        levels = known.levels if known else b.levels
        source, height = TYPE_DEFAULT, levels * storey
    use = known.use if known else None
    if use is None and ("shop" in tags or "office" in tags):
        use = "commercial"
    return float(height), float(max(levels, 1.0)), source, use
