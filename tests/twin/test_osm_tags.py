"""Tag readers of the OSM importer: values from the OSM wiki's examples and nonsense."""

from __future__ import annotations

from collections import Counter

import pytest

from twin.errors import InputError
from twin.importers.osm_tags import (
    INVALID,
    LANES_DEFAULT,
    LANES_INVALID,
    SPEED_DEFAULT,
    SPEED_INVALID,
    building_height,
    load_defaults,
    parse_height_m,
    parse_lanes,
    parse_levels,
    parse_speed_kmh,
    road_attributes,
)

TABLE = load_defaults()


def _same(got, expected) -> bool:
    """None and INVALID by identity, numbers to round-off."""
    return got is expected if expected in (None, INVALID) else got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("2", 2),
        ("3;2", 3),
        ("2.0", 2),
        ("abc", INVALID),
        ("1.5", INVALID),
        ("0", INVALID),
        ("-2", INVALID),
        ("17", INVALID),
    ],
)
def test_lanes(value, expected):
    assert _same(parse_lanes(value), expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("50", 50.0),
        ("50 km/h", 50.0),
        ("30 mph", 30 * 1.609344),
        ("10 knots", 18.52),
        ("DE:urban", 50.0),
        ("walk", 7.0),
        ("none", None),
        ("signals", None),
        ("fast", INVALID),
        ("0", INVALID),
        ("1000", INVALID),
        ("-50", INVALID),
        ("50;30", 50.0),
    ],
)
def test_maxspeed(value, expected):
    assert _same(parse_speed_kmh(value, TABLE.maxspeed), expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12.0),
        ("12 m", 12.0),
        ("12.5m", 12.5),
        ("40 ft", 12.192),
        ("40'", 12.192),
        ("12'6\"", 3.81),
        ("-5", INVALID),
        ("0", INVALID),
        ("tall", INVALID),
        ("1e9", INVALID),
        ("901", INVALID),
    ],
)
def test_height(value, expected):
    assert _same(parse_height_m(value), expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("2.5", 2.5), ("1e9", INVALID), ("0", INVALID), ("-1", INVALID), ("x", INVALID)],
)
def test_levels(value, expected):
    assert _same(parse_levels(value), expected)


def test_road_attributes_fall_back_and_count():
    fixes = Counter()
    primary = TABLE.highway["primary"]
    direction, sides = road_attributes(
        {"lanes": "abc", "maxspeed": "fast", "oneway": "perhaps"}, primary, TABLE.maxspeed, fixes
    )
    bits = LANES_DEFAULT | SPEED_DEFAULT | LANES_INVALID | SPEED_INVALID
    assert direction == 0 and sides == [(2, 100 / 3.6, bits)] * 2
    assert sum(fixes.values()) == 3  # lanes, maxspeed, oneway: one each
    # lanes counts both directions on a two-way road; an odd middle lane is not counted
    assert road_attributes({"lanes": "3"}, primary, {}, fixes)[1][0][0] == 1
    assert road_attributes({"lanes": "3", "lanes:backward": "1"}, primary, {}, fixes)[1][0][0] == 2
    # roundabouts and motorways are one-way without a tag; oneway=no overrides
    assert road_attributes({"junction": "roundabout"}, primary, {}, fixes)[0] == 1
    assert road_attributes({}, TABLE.highway["motorway"], {}, fixes)[0] == 1
    assert road_attributes({"oneway": "no"}, TABLE.highway["motorway"], {}, fixes)[0] == 0
    assert road_attributes({"oneway": "-1", "maxspeed:backward": "30"}, primary, {}, fixes)[1][1][
        1
    ] == pytest.approx(30 / 3.6)


def test_building_height_rules():
    fixes = Counter()
    # height, storeys, source (0 height tag, 1 levels tag, 2 type default), use
    assert building_height({"building": "house", "height": "9"}, TABLE, fixes) == (
        9.0,
        3.0,
        0,
        "residential",
    )
    assert building_height({"building": "yes", "building:levels": "4"}, TABLE, fixes) == (
        12.0,
        4.0,
        1,
        None,
    )
    assert building_height({"building": "warehouse"}, TABLE, fixes) == (8.0, 1.0, 2, "industrial")
    assert building_height({"building": "yes", "shop": "bakery"}, TABLE, fixes)[3] == "commercial"
    bad = {"building": "yes", "height": "-5", "building:levels": "1e9"}
    assert building_height(bad, TABLE, fixes) == (6.0, 2.0, 2, None) and sum(fixes.values()) == 2


def test_defaults_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_defaults(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[highway\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_defaults(bad)
    bad.write_text('[highway.primary]\ncapacity_vph = -1\n[land_use.tags]\n"landuse=x" = "moon"\n')
    with pytest.raises(InputError, match=r"(?s)capacity_vph.*landuse=x"):
        load_defaults(bad)
