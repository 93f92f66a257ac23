"""A resume refuses inputs that changed since the run started, naming the file."""

from __future__ import annotations

import json

import pytest

import twin
from tests.twin.test_runner import MINICITY, scenario
from twin.errors import InputError
from twin.runner import run

HEADER = "time,air_temperature,wind_speed,wind_from_direction,relative_humidity,cloud_fraction"


def _weather(path, temperature: float):
    rows = [f"2026-06-17T{h:02d}:00+09:00,{temperature},2.0,315,0.7,0.5" for h in range(6)]
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def _interrupted(store):
    """Mark a finished store interrupted (a resume of a complete one has nothing to do)."""
    meta = store / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["status"] = "interrupted"
    meta.write_text(json.dumps(doc))
    return store


def test_changed_weather_csv_refused(tmp_path):
    csv = _weather(tmp_path / "weather.csv", 21.5)
    sc = scenario(duration="2h", weather={"source": str(csv)})
    store = _interrupted(run(sc, tmp_path / "run.zarr", progress=False).store)
    run(sc, _interrupted(store), progress=False, resume=True)  # unchanged: fine
    _interrupted(store)
    _weather(csv, 22.5)
    with pytest.raises(InputError, match=r"input weather\.source = .*weather\.csv changed"):
        run(sc, store, progress=False, resume=True)


def test_changed_city_store_refused(tmp_path):
    city = twin.build_city(MINICITY, resolution_m=500, seed=1).save(tmp_path / "city.zarr")
    sc = scenario(duration="1h", city={"dataset": MINICITY, "store": str(city)})
    store = _interrupted(run(sc, tmp_path / "run.zarr", progress=False).store)
    twin.build_city(MINICITY, resolution_m=500, seed=2).save(city)  # same path, other city
    with pytest.raises(InputError, match=r"input city\.store = .*city\.zarr changed"):
        run(sc, store, progress=False, resume=True)
