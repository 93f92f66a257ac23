"""`twin city import-osm` on extracts written in the test, whose contents are known exactly.

The extract (tests/twin/osm_city.py) is designed in UTM metres, so the expected links,
lengths, cells and areas below are read off its drawing, not computed by the importer's
own code. Coordinates travel through OSM's 1e-7 degree grid (about 1 cm), hence the
centimetre tolerances on lengths and positions.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import twin
from tests.helpers import assert_close, requires_geo
from tests.twin import osm_city
from twin.citygen import COMMERCIAL, CROPLAND, FOREST, RESIDENTIAL, WATER
from twin.cli import app

pytestmark = requires_geo
KMH = 1 / 3.6
CM = 0.02  # [m] two OSM coordinate steps (1e-7 degree ~ 1.1 cm) on a link or a point


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    return osm_city.write(tmp_path_factory.mktemp("osm") / "testville.osm.pbf")


@pytest.fixture(scope="module")
def imported(extract):
    from twin.importers import import_osm

    return import_osm(extract, resolution_m=50, population=1000)


@pytest.fixture(scope="module")
def city(imported):
    return imported[0]


def _links(city) -> dict[tuple[int, int, int], tuple[int, float, int, float]]:
    r = city["roads"]
    node = r["osm_node"].values
    return {
        (int(w), int(node[f]), int(node[t])): (int(n), float(v) / KMH, int(s), float(length))
        for w, f, t, n, v, s, length in zip(
            *(r[k].values for k in ("osm_way", "from_node", "to_node", "lanes")),
            *(r[k].values for k in ("free_speed", "source", "length")),
            strict=True,
        )
    }


# (way, from node, to node): lanes, free speed [km/h], source bits, length [m]
# source bits: 1 lanes default, 2 speed default, 4 lanes tag invalid, 8 speed tag invalid
ROUNDABOUT_HALF = 2 * 30 * np.sqrt(2)  # two chords of the 30 m circle
EXPECTED_LINKS = {
    # W1 primary lanes=4 maxspeed=60, both ways: 2 lanes each way (A is joined with K)
    (101, 1, 2): (2, 60, 0, 400),
    (101, 2, 1): (2, 60, 0, 400),
    (101, 2, 3): (2, 60, 0, 400),
    (101, 3, 2): (2, 60, 0, 400),
    # W2 residential, no tags: class defaults (1 lane, 50 km/h); cut at the signal M
    (102, 4, 5): (1, 50, 3, 400),
    (102, 5, 4): (1, 50, 3, 400),
    (102, 5, 11): (1, 50, 3, 200),
    (102, 11, 5): (1, 50, 3, 200),
    (102, 11, 6): (1, 50, 3, 200),
    (102, 6, 11): (1, 50, 3, 200),
    # W3 secondary oneway=yes lanes=2 maxspeed=30 mph: both lanes in the one direction
    (103, 7, 8): (2, 30 * 1.609344, 0, 400),
    (103, 8, 9): (2, 30 * 1.609344, 0, 400),
    # W4 tertiary lanes:forward=2 lanes:backward=1 maxspeed=40
    (104, 1, 4): (2, 40, 0, 400),
    (104, 4, 7): (2, 40, 0, 400),
    (104, 7, 4): (1, 40, 0, 400),
    (104, 4, 1): (1, 40, 0, 400),
    # W5 residential oneway=-1 drawn B -> E -> H: traffic runs H -> E -> B
    (105, 8, 5): (1, 50, 3, 400),
    (105, 5, 2): (1, 50, 3, 400),
    # W6 unclassified lanes=abc maxspeed=fast: defaults, flagged as repaired
    (106, 3, 6): (1, 50, 15, 400),
    (106, 6, 3): (1, 50, 15, 400),
    (106, 6, 9): (1, 50, 15, 400),
    (106, 9, 6): (1, 50, 15, 400),
    # W7 primary without tags: 2 lanes, 100 km/h (SUMO's type map)
    (107, 3, 21): (2, 100, 3, 170),
    (107, 21, 3): (2, 100, 3, 170),
    # W8 roundabout (tertiary, junction=roundabout): one-way along the way, cut at R3
    (108, 21, 23): (1, 80, 3, ROUNDABOUT_HALF),
    (108, 23, 21): (1, 80, 3, ROUNDABOUT_HALF),
    # W12 K-L: K is joined into A (10 m apart), whose smallest OSM id is 1
    (112, 1, 14): (1, 50, 3, 390),
    (112, 14, 1): (1, 50, 3, 390),
}


def test_links_directions_lanes_speeds_exactly(city):
    got = _links(city)
    assert set(got) == set(EXPECTED_LINKS)
    for key, (lanes, kmh, source, length) in EXPECTED_LINKS.items():
        g_lanes, g_kmh, g_source, g_length = got[key]
        assert (g_lanes, g_source) == (lanes, source), key
        assert_close(g_kmh, kmh, rtol=1e-6, err_msg=str(key))  # float32 free speed
        assert abs(g_length - length) < CM, key
    r = city["roads"]
    # the one-way spur F -> J has no way back: J and its link are dropped; so is W9 footway
    assert 12 not in r["osm_node"].values and r.sizes["node"] == 13


def test_signals_junction_joining_and_classes(city):
    r = city["roads"]
    node = r["osm_node"].values
    # E tagged; S 10 m before B moves to B; M, 200 m from any junction, stands alone
    assert set(node[r["signalized"].values == 1]) == {2, 5, 11}
    a = int(np.flatnonzero(node == 1)[0])
    x0, y0 = osm_city.ORIGIN
    assert abs(r["x"].values[a] - x0 - 10) < CM and abs(r["y"].values[a] - y0 - 5) < CM
    classes = dict(zip(r["osm_way"].values.tolist(), r["road_class"].values.tolist(), strict=True))
    assert classes[101] == classes[103] == 1 and classes[102] == classes[108] == 0  # arterial/local
    v, k, q = (r[n].values for n in ("free_speed", "jam_density", "capacity"))
    assert np.all(q < v * k)  # the traffic model's triangular diagram holds
    assert_close(r["capacity"].values[r["osm_way"].values == 101], 1500 / 3600)  # MATSim table


def test_report_counts_every_repair(imported):
    _, report = imported
    fixes = report.fixes
    assert fixes["lanes: unreadable or out of range (1-16), class default used"] == 1
    assert fixes["maxspeed: unreadable or out of range (5-200 km/h), class default used"] == 1
    assert fixes["height: unreadable or not in (0, 900] m, levels or type default used"] == 1
    assert fixes["building:levels: unreadable or not in (0, 200], type default used"] == 1
    assert fixes["traffic signals moved to the junction along their way (within 25 m)"] == 1
    assert fixes["traffic signals off any kept road, ignored"] == 1
    assert fixes["junction nodes joined into a neighbour closer than join_m"] == 1
    assert fixes["links outside the largest strongly connected network, dropped"] == 1
    assert fixes["road nodes outside the largest strongly connected network, dropped"] == 1
    assert fixes["buildings outside the city's grid, dropped"] == 1
    assert dict(report.skipped) == {"highway=footway": 1}


# osm id: height [m], floor area [m2], use, height source (0 tag, 1 levels, 2 type default)
EXPECTED_BUILDINGS = {
    201: (9.0, 100 * 3, "residential", 0),  # house height=9: 3 storeys of 3 m
    202: (12.0, 600 * 4, "residential", 1),  # apartments, 4 levels x 3 m
    203: (6.0, 400 * 2, "commercial", 2),  # building=yes on commercial land: 2 storeys
    205: (6.0, 100 * 2, "residential", 2),  # height=-5, levels=1e9: both refused
    -601: (20.0, 1500 * 7, "commercial", 0),  # office, 40x40 m minus a 10x10 m hole
}


def test_buildings_heights_floor_areas_uses(city):
    b = city["buildings"]
    uses = b["use"].attrs["flag_meanings"].split()
    got = {
        int(i): (float(h), float(f), uses[u], int(s))
        for i, h, f, u, s in zip(
            *(b[k].values for k in ("osm_id", "height", "floor_area", "use", "height_source")),
            strict=True,
        )
    }
    assert set(got) == set(EXPECTED_BUILDINGS)
    for key, (height, floor, use, source) in EXPECTED_BUILDINGS.items():
        assert got[key][0] == height and got[key][2:] == (use, source), key
        # corners rounded to OSM's 1e-7 degree (<= 0.6 cm) change a 10 m side by 0.1 %
        assert_close(got[key][1], floor, rtol=2e-3, err_msg=str(key))
    # the hole keeps the courtyard's centroid at the centre; width x depth = footprint
    k = int(np.flatnonzero(b["osm_id"].values == -601)[0])
    x0, y0 = osm_city.ORIGIN
    assert abs(b["x"].values[k] - x0 - 340) < CM and abs(b["y"].values[k] - y0 - 540) < CM
    assert_close(b["width"].values[k] * b["depth"].values[k], 1500.0, rtol=2e-3)
    assert city.grid["building_height"].values.max() == 20.0


def test_land_use_cells(city):
    g = city.grid
    lu = g["land_use"].values
    assert g.sizes == {"y": 25, "x": 25}  # roads span x 10..1210, y -390..810 m
    x0, y0 = osm_city.ORIGIN
    assert g["x"].values[0] == x0 + 25 and g["y"].values[0] == y0 - 400 + 25

    def cells(x0_m, x1_m, y0_m, y1_m):
        return slice((y0_m + 400) // 50, (y1_m + 400) // 50), slice(x0_m // 50, x1_m // 50)

    assert (lu[cells(100, 300, 500, 700)] == WATER).all()  # natural=water polygon
    assert (lu[:, 12] == WATER).all()  # the river line at x = 610 m
    assert (lu[cells(450, 550, 100, 300)] == COMMERCIAL).all()
    assert (lu[cells(700, 800, 600, 700)] == FOREST).all()  # leisure=park
    assert (lu[cells(0, 400, 0, 400)] == RESIDENTIAL).all()
    assert lu[18, 6] == COMMERCIAL  # no polygon; the office covers it
    assert lu[20, 18] == RESIDENTIAL  # no polygon; a building=yes house covers it
    counts = np.bincount(lu.ravel(), minlength=7)
    assert counts[WATER] == 16 + 25 and counts[COMMERCIAL] == 8 + 1 and counts[FOREST] == 4
    assert counts[RESIDENTIAL] == 64 + 1 and counts[CROPLAND] == 625 - 41 - 9 - 4 - 65


def test_population_over_residential_floor_area(city):
    g, b = city.grid, city["buildings"]
    assert_close(g["population"].values.sum(), 1000.0, rtol=1e-6)  # float32 cells
    home = b["use"].values == 0
    area = b["floor_area"].values[home]
    iy = ((b["y"].values[home] - g["y"].values[0]) / 50 + 0.5).astype(int)
    ix = ((b["x"].values[home] - g["x"].values[0]) / 50 + 0.5).astype(int)
    assert_close(g["population"].values[iy, ix], 1000.0 * area / area.sum(), rtol=1e-5)
    d = city["districts"]
    assert list(d["name"].values) == ["testville"] and int(d["population"].values[0]) == 1000


def test_same_contract_as_the_generated_city(city, tmp_path):
    reference = twin.build_city("gwangju", resolution_m=500)
    for group in reference.tree.children:
        for name, var in reference[group].variables.items():
            got = city[group].variables[name]
            assert (got.dtype, got.dims) == (var.dtype, var.dims), (group, name)
            for key in ("units", "long_name", "standard_name", "flag_values", "flag_meanings"):
                assert got.attrs.get(key) == var.attrs.get(key), (group, name, key)
    for key in ("name", "crs", "resolution_m", "schema_version", "source"):
        assert key in city.tree.attrs
    assert city.crs == osm_city.CRS  # UTM zone 52N chosen from the centre
    r = city["roads"]
    assert r["source"].attrs["flag_masks"] == [1, 2, 4, 8]
    assert city["sensors"]["kind"].values.tolist().count("air") == 1
    again = twin.open_city(city.save(tmp_path / "c.zarr"))
    xr.testing.assert_identical(again.tree, city.tree)


def test_xml_and_pbf_give_the_same_city(city, tmp_path):
    from twin.importers import import_osm

    xml = osm_city.write(tmp_path / "testville.osm")
    other, _ = import_osm(xml, resolution_m=50, population=1000)
    for group in city.tree.children:
        xr.testing.assert_equal(city[group], other[group])


def test_bbox_crs_and_districts(extract, tmp_path):
    from twin.importers import import_osm

    # the southern strip: y < 200 m keeps W1, W7, the roundabout and the stub to L
    lon, lat = osm_city.to_lonlat([-100, 1300], [-500, 200])
    bbox = (lon[0], lat[0], lon[1], lat[1])
    south, _ = import_osm(extract, resolution_m=100, bbox=bbox, crs="EPSG:5186")
    r = south["roads"]
    assert set(r["osm_way"].values) == {101, 107, 108, 112} and south.crs == "EPSG:5186"

    halves = {
        701: (osm_city.box(-100, -500, 600, 900), "West"),
        702: (osm_city.box(600, -500, 1300, 900), "East"),
    }
    polygons = osm_city.POLYGONS | {
        wid: (ring, {"boundary": "administrative", "admin_level": "8", "name": name})
        for wid, (ring, name) in halves.items()
    }
    path = osm_city.write(tmp_path / "two.osm.pbf", polygons=polygons)
    two, _ = import_osm(path, resolution_m=50, population=1000, admin_level=8)
    d = two["districts"]
    assert list(d["name"].values) == ["West", "East"]
    b = two["buildings"]
    east = b["x"].values - osm_city.ORIGIN[0] > 600
    assert (b["district"].values == east).all()
    # residents: house 300 + apartments 2400 m2 in the West, the 200 m2 house in the East
    assert d["population"].values.tolist() == [round(1000 * 2700 / 2900), round(1000 * 200 / 2900)]


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # rasterio and affine 3
def test_dem_resampled_to_the_grid(extract, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from pyproj import Transformer
    from rasterio.transform import from_origin

    from twin.importers import import_osm

    # a tilted plane in lon/lat, z = 100 + 2000 (lon - 127.9) + 1000 (lat - 35.14) [m],
    # covering the west of the city only
    lon0, lat0, step, n = 127.895, 35.16, 0.0005, 30
    lons = lon0 + (np.arange(n) + 0.5) * step
    lats = lat0 - (np.arange(2 * n) + 0.5) * step
    z = 100 + 2000 * (lons[None, :] - 127.9) + 1000 * (lats[:, None] - 35.14)
    tif = tmp_path / "dem.tif"
    profile = dict(driver="GTiff", width=n, height=2 * n, count=1, dtype="float32")
    with rasterio.open(
        tif, "w", crs="EPSG:4326", transform=from_origin(lon0, lat0, step, step), **profile
    ) as f:
        f.write(z.astype(np.float32), 1)
    city, report = import_osm(extract, resolution_m=50, dem=tif)
    g = city.grid
    gx, gy = np.meshgrid(g["x"].values, g["y"].values)
    lon, lat = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True).transform(gx, gy)
    inside = (lon > lons[0]) & (lon < lons[-1]) & (lat > lats[-1]) & (lat < lats[0])
    expected = 100 + 2000 * (lon - 127.9) + 1000 * (lat - 35.14)
    # bilinear is exact on a plane; GDAL's warper approximates the reprojection to 1/8
    # pixel (about 0.1 m of this plane's height), so 0.15 m
    assert np.abs(g["elevation"].values - expected)[inside].max() < 0.15
    filled = report.fixes["grid cells the DEM does not cover, set to its mean"]
    assert 0 < filled < g["elevation"].size


def test_defaults_replaceable_per_country(extract, tmp_path):
    from twin.importers import import_osm

    table = tmp_path / "kr.toml"
    table.write_text("[highway.residential]\nfree_speed_kmh = 30.0\n")
    city, _ = import_osm(extract, resolution_m=50, defaults=table)
    got = _links(city)
    assert_close(got[(102, 4, 5)][1], 30.0, rtol=1e-6)  # default speed replaced
    assert_close(got[(101, 1, 2)][1], 60.0, rtol=1e-6)  # tagged speed kept
    table.write_text("[highway.residential]\nlanes = 0\nroad_class = 'alley'\n")
    with pytest.raises(
        twin.InputError, match=r"(?s)kr.toml.*highway\.residential\.lanes.*road_class"
    ):
        import_osm(extract, defaults=table)


runner = CliRunner()


def _cli(*args):
    result = runner.invoke(app, ["city", "import-osm", *(str(a) for a in args)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_cli_imports_and_reports(extract, tmp_path):
    code, text = _cli(extract, "-o", tmp_path / "c.zarr", "--population", "1000")
    assert code == 0, text
    for shown in ("EPSG:32652", "13 nodes (3 signalized), 28 links", "repaired or dropped"):
        assert shown in text, shown
    assert "maxspeed: unreadable" in text and "highway=footway" in text
    code, text = _cli(extract, "-o", tmp_path / "d.zarr")
    assert code == 0 and "no --population" in text


def _empty(path):
    import osmium

    osmium.SimpleWriter(str(path), overwrite=True).close()
    return path


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: p.write_text("not osm at all") and p, (), "not a readable OpenStreetMap"),
        (
            lambda p: (p.with_suffix(".osm")).write_text("<html/>") and p.with_suffix(".osm"),
            (),
            "not a readable OpenStreetMap",
        ),
        (_empty, (), "no car roads"),
        (None, ("--bbox", "10,10,11,11"), "no roads inside --bbox"),
        (None, ("--bbox", "1,2,3"), "expected four numbers W,S,E,N"),
        (None, ("--crs", "EPSG:4326"), "projected CRS in metres"),
        (None, ("--resolution", "5"), "out of range"),
        (None, ("--join-m", "0"), "--join-m"),
        (None, ("--population", "-1"), "--population"),
        (None, ("--dem", "missing.tif"), "no such file"),
    ],
    ids=[
        "not-osm",
        "not-osm-xml",
        "empty",
        "bbox-no-roads",
        "bbox-text",
        "crs",
        "resolution",
        "join",
        "population",
        "dem",
    ],
)
def test_cli_bad_input_is_a_message(extract, tmp_path, make, args, message):
    path = make(tmp_path / "x.osm.pbf") if make else extract
    code, text = _cli(path, "-o", tmp_path / "out.zarr", *args)
    assert code == 2 and "error:" in text and message in text, text


def test_cli_without_the_geo_extra(extract, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "osmium", None)
    code, text = _cli(extract, "-o", tmp_path / "c.zarr")
    assert code == 2 and "gwangju-twin[geo]" in text
