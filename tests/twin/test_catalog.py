"""Dataset manifests: lookup, validation, and files that try to leave their folder."""

from __future__ import annotations

import shutil

import pytest

import twin
from twin import catalog


def test_known_datasets():
    assert "gwangju" in catalog.known_datasets()
    m = catalog.load_manifest("gwangju")
    assert m.crs == "EPSG:5186" and len(m.districts) == 5


def test_unknown_dataset_lists_known():
    with pytest.raises(twin.InputError, match=r"unknown dataset 'seoul'.*known: gwangju"):
        twin.build_city("seoul")


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "mycity"
    shutil.copytree(catalog.datasets_root() / "gwangju", folder)
    return folder


def test_build_from_a_folder(dataset):
    city = twin.build_city(dataset, resolution_m=500)
    assert city.name == "gwangju"


def test_file_outside_folder_refused(dataset):
    manifest = dataset / "dataset.toml"
    text = manifest.read_text().replace('climate = "climate.toml"', 'climate = "../../etc/passwd"')
    manifest.write_text(text)
    with pytest.raises(twin.InputError, match=r"files\.climate.*outside the dataset folder"):
        catalog.load_manifest(dataset)


def test_bad_field_names_file_and_field(dataset):
    manifest = dataset / "dataset.toml"
    text = manifest.read_text().replace("population = 104000", "population = -5", 1)
    text = text.replace("lot_spacing_m = 50.0", "lot_spacing_m = 50.0\ncolour = 'red'")
    manifest.write_text(text)
    with pytest.raises(twin.InputError) as err:
        catalog.load_manifest(dataset)
    message = str(err.value)
    assert str(manifest) in message and "2 problem(s)" in message
    assert "districts.0.population" in message and "colour: unknown key" in message


def test_not_toml(dataset):
    (dataset / "dataset.toml").write_text("this is = = not toml")
    with pytest.raises(twin.InputError, match="not valid TOML"):
        catalog.load_manifest(dataset)
