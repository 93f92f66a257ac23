"""City stores: exact round trip through Zarr v3, and every way a store can be wrong."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import xarray as xr

import twin


@pytest.fixture(scope="module")
def city():
    return twin.build_city("gwangju", resolution_m=400, seed=1)


@pytest.fixture
def saved(city, tmp_path):
    return city.save(tmp_path / "city.zarr")


def test_round_trip_is_exact(city, saved):
    back = twin.open_city(saved)
    xr.testing.assert_identical(city.tree, back.tree)
    for group in city.tree.children:
        for name, var in city[group].variables.items():
            assert back[group][name].dtype == var.dtype, f"/{group}/{name}"


def test_zarr_v3_no_object_codecs(saved):
    metas = list(saved.rglob("zarr.json"))
    assert metas and not list(saved.rglob(".zarray"))
    for meta in metas:
        doc = json.loads(meta.read_text())
        assert doc["zarr_format"] == 3
        names = [c["name"] for c in doc.get("codecs", [])]
        assert not any("pickle" in n or "object" in n for n in names), meta


def test_save_replaces_a_store_but_not_other_folders(city, saved, tmp_path):
    city.save(saved)  # replacing our own store is fine
    folder = tmp_path / "photos"
    folder.mkdir()
    with pytest.raises(twin.InputError, match="not a store written by this twin; refusing"):
        city.save(folder)


def test_not_a_store(tmp_path):
    with pytest.raises(twin.InputError, match="no such file"):
        twin.open_city(tmp_path / "missing.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(twin.InputError, match="not a Zarr v3 store"):
        twin.open_city(tmp_path / "empty")


def test_missing_group(saved):
    shutil.rmtree(saved / "roads")
    with pytest.raises(twin.InputError, match=r"missing group\(s\) \['roads'\]"):
        twin.open_city(saved)


def _set_root_attr(store, key, value):
    meta = store / "zarr.json"
    doc = json.loads(meta.read_text())
    if value is None:
        doc["attributes"].pop(key)
    else:
        doc["attributes"][key] = value
    meta.write_text(json.dumps(doc))


def test_newer_schema_refused(saved):
    _set_root_attr(saved, "schema_version", 99)
    with pytest.raises(twin.InputError, match="schema_version=99 is not supported"):
        twin.open_city(saved)


def test_missing_schema_refused(saved):
    _set_root_attr(saved, "schema_version", None)
    with pytest.raises(twin.InputError, match="schema_version is missing"):
        twin.open_city(saved)


def test_pickle_codec_refused(saved):
    meta = saved / "districts" / "name" / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["codecs"] = [{"name": "numcodecs.pickle", "configuration": {}}]
    meta.write_text(json.dumps(doc))
    with pytest.raises(twin.InputError, match=r"districts/name uses the codec.*pickle"):
        twin.open_city(saved)


def test_zarr_v2_object_store_refused(tmp_path):
    store = tmp_path / "v2.zarr"
    (store / "a").mkdir(parents=True)
    (store / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group"}))
    (store / "a" / ".zarray").write_text(
        json.dumps({"dtype": "|O", "filters": [{"id": "pickle"}], "compressor": None})
    )
    with pytest.raises(twin.InputError, match="pickle"):
        twin.open_city(store)


def test_opened_city_is_usable(saved):
    back = twin.open_city(saved)
    assert back.summary()["population"] == pytest.approx(1_415_000, rel=1e-5)
    assert np.isfinite(back.grid["elevation"]).all()
