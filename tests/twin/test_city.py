"""The procedural Gwangju: determinism, schema, attrs, and the geography it promises."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import twin
from twin.citygen import AIRPORT, COMMERCIAL, FOREST, INDUSTRIAL, RESIDENTIAL, WATER


@pytest.fixture(scope="module")
def city():
    return twin.build_city("gwangju", resolution_m=250, seed=3)


def test_same_arguments_identical_arrays(city):
    again = twin.build_city("gwangju", resolution_m=250, seed=3)
    xr.testing.assert_identical(city.tree, again.tree)


def test_other_seed_differs(city):
    other = twin.build_city("gwangju", resolution_m=250, seed=4)
    assert not np.array_equal(city["buildings"]["height"], other["buildings"]["height"])


def test_groups_and_every_variable_has_units_and_long_name(city):
    assert set(city.tree.children) == {"grid", "buildings", "roads", "districts", "sensors"}
    for group in city.tree.children:
        for name, var in city[group].variables.items():
            assert var.attrs.get("units"), f"/{group}/{name} has no units"
            assert var.attrs.get("long_name"), f"/{group}/{name} has no long_name"
    attrs = city.tree.attrs
    assert attrs["crs"] == "EPSG:5186" and attrs["resolution_m"] == 250
    assert attrs["schema_version"] == 1 and "seed=3" in attrs["source"]


def test_coordinates_ascending_cell_centres(city):
    g = city.grid
    for axis in ("x", "y"):
        step = np.diff(g[axis].values)
        assert np.allclose(step, 250.0), axis
    assert g["x"].values[0] == 167000 + 125 and g["y"].values[0] == 272000 + 125
    assert g["elevation"].dims == ("y", "x")


def test_population_matches_districts(city):
    d = city["districts"]
    assert list(d["name"].values) == ["Dong-gu", "Seo-gu", "Nam-gu", "Buk-gu", "Gwangsan-gu"]
    total = int(d["population"].sum())
    assert 1_350_000 < total < 1_500_000  # about 1.4 million (2023 registration)
    g = city.grid
    # per-district sums equal the manifest: float32 grid, rel. error ~1e-6
    per_district = np.bincount(g["district"].values.ravel(), weights=g["population"].values.ravel())
    np.testing.assert_allclose(per_district, d["population"].values, rtol=1e-5)
    assert g["population"].values[g["land_use"].values == WATER].sum() == 0


def test_geography(city):
    g = city.grid
    elev, lu = g["elevation"].values, g["land_use"].values
    x = g["x"].values
    # Mudeungsan: the highest terrain, in the eastern part, over 1,000 m
    _, ix = np.unravel_index(elev.argmax(), elev.shape)
    assert elev.max() > 1000 and x[ix] > 195000
    east, west = elev[:, x > 195000].mean(), elev[:, x < 185000].mean()
    assert east > 3 * west
    for cls in (WATER, FOREST, RESIDENTIAL, COMMERCIAL, INDUSTRIAL, AIRPORT):
        assert (lu == cls).any(), f"land-use class {cls} missing"
    flags = g["land_use"].attrs
    assert flags["flag_meanings"].split()[0] == "water" and len(flags["flag_values"]) == 7
    # the downtown is the densest: commercial cells hold the tallest buildings
    bh = g["building_height"].values
    assert bh[lu == COMMERCIAL].mean() > bh[lu == RESIDENTIAL].mean() > 0


def test_buildings(city):
    b = city["buildings"]
    assert 20_000 < b.sizes["building"] < 200_000
    assert (b["height"] > 0).all() and (b["width"] > 0).all() and (b["depth"] > 0).all()
    floors = b["floor_area"] / (b["width"] * b["depth"])
    assert (floors >= 1 - 1e-4).all()
    assert set(np.unique(b["use"].values)) == {0, 1, 2, 3}
    assert int(b["district"].max()) < city["districts"].sizes["district"]


def test_roads_connected_and_signalized(city):
    r = city["roads"]
    n = r.sizes["node"]
    frm, to = r["from_node"].values, r["to_node"].values
    assert frm.min() >= 0 and max(frm.max(), to.max()) < n and (r["length"] > 0).all()
    assert set(np.unique(r["road_class"].values)) == {0, 1, 2}  # local, arterial, ring
    assert 0 < int(r["signalized"].sum()) < n
    # every node reaches every other (one strongly connected piece: links come in pairs)
    pairs = set(zip(frm.tolist(), to.tolist(), strict=True))
    assert all((b, a) in pairs for a, b in pairs)
    reached, frontier = {0}, [0]
    adjacency = {}
    for a, b in pairs:
        adjacency.setdefault(a, []).append(b)
    while frontier:
        frontier = [m for k in frontier for m in adjacency.get(k, []) if m not in reached]
        reached.update(frontier)
    assert len(reached) == n


def test_sensors(city):
    s = city["sensors"]
    kinds = [str(k) for k in s["kind"].values]
    assert {"air", "loop", "meter"} == set(kinds)
    target = s["target"].values
    loops = np.array([k == "loop" for k in kinds])
    meters = np.array([k == "meter" for k in kinds])
    assert (target[loops] < city["roads"].sizes["link"]).all()
    assert (target[meters] < city["buildings"].sizes["building"]).all()


def test_any_resolution_in_range():
    for res in (25, 137.5, 500):
        c = twin.build_city("gwangju", resolution_m=res)
        g = c.grid
        assert g.sizes["x"] == round(36000 / res) and g.sizes["y"] == round(24000 / res)


@pytest.mark.parametrize("res", [5, 9.9, 501, "abc"])
def test_resolution_out_of_range(res):
    with pytest.raises(twin.InputError, match="resolution_m"):
        twin.build_city("gwangju", resolution_m=res)


def test_bad_seed():
    with pytest.raises(twin.InputError, match="seed"):
        twin.build_city("gwangju", resolution_m=500, seed=-1)
