"""Ensemble members and store layout (twin.ensemble), without Ray: sweeps, validation,
one chunk per member, a member's writes confined to its own chunks."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from twin import InputError
from twin.ensemble import (
    COMPLETE,
    PENDING,
    EnsembleStore,
    open_or_create,
    parse_param,
    read_ensemble,
    run_member,
    sweep_members,
)
from twin.testing import scenario as small_scenario


def scenario():
    return small_scenario(hours=1, step="120s")


def test_sweep_is_the_product_first_key_slowest():
    members = sweep_members(
        scenario(), {"traffic.demand_scale": [0.8, 1.2], "weather.seed": range(3)}
    )
    assert [tuple(m.labels.values()) for m in members] == [
        (0.8, 0), (0.8, 1), (0.8, 2), (1.2, 0), (1.2, 1), (1.2, 2)
    ]  # fmt: skip
    assert members[4].scenario.traffic.demand_scale == 1.2
    assert members[4].scenario.weather.seed == 1
    assert members[0].scenario.traffic.trips_per_day == scenario().traffic.trips_per_day


def test_bad_members_are_refused():
    sc = scenario()
    for kwargs, words in [
        ({}, "either sweep"),
        ({"sweep": {}}, "non-empty"),
        ({"sweep": {"weather.seed": 3}}, "not a list"),
        ({"sweep": {"weather.seed": [[1]]}}, "not a number"),
        ({"sweep": {"air.species": [["pm25"]]}}, "store layout"),
        ({"sweep": {"uam.flights_per_day": [100, 200]}}, "store layout"),  # flight, route dims
        ({"sweep": {"traffic.demand_scale.x": [1]}}, "not a table"),
        ({"members": []}, "non-empty list"),
        ({"members": [{"weather.seed": 1}, {"traffic.seed": 1}]}, "every member must set"),
        ({"members": [{"traffic.signal_cycle_s": 20}]}, "signal_cycle_s"),
    ]:
        with pytest.raises(InputError, match=words):
            sweep_members(sc, **kwargs)


def test_parse_param():
    assert parse_param("weather.seed=0..3") == ("weather.seed", [0, 1, 2, 3])
    assert parse_param("traffic.demand_scale=0.8,1,1.2") == (
        "traffic.demand_scale", [0.8, 1, 1.2]
    )  # fmt: skip
    assert parse_param("traffic.exit_before_signal=true,false")[1] == [True, False]
    for bad in ("weather.seed", "=1,2", "weather.seed=3..1", "weather.seed=a..b"):
        with pytest.raises(InputError, match="--param"):
            parse_param(bad)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("tmpl") / "e.zarr"
    members = sweep_members(scenario(), {"traffic.demand_scale": [0.8, 1.2, 1.0]})
    return path, members, open_or_create(path, members)


def test_template_one_chunk_per_member(template):
    path, members, es = template
    assert list(es.status()) == [PENDING] * 3
    group = zarr.open_group(path, mode="r")
    assert es.slabs and all(p.startswith("state/") for p in es.slabs)
    for p in es.slabs:
        arr = group[p]
        assert arr.metadata.dimension_names[:2] == ("member", "time") and arr.chunks[0] == 1
    for _, arr in group["kpi"].arrays():
        if arr.metadata.dimension_names == ("member",) and arr.name.split("/")[-1] != "member":
            assert arr.chunks == (1,) or arr.name.endswith("demand_scale")
    # the same members reopen it; other members are refused unless overwrite
    assert open_or_create(path, members).path == path
    with pytest.raises(InputError, match="other members"):
        open_or_create(path, members[:2])


@pytest.mark.parametrize(
    "shape, chunks, dtype, fill",
    [
        ((3, 2, 5, 7), (1, 1, 2, 4), "float32", np.nan),
        ((4,), (1,), "int8", 0),
        ((3,), (1,), str, ""),
    ],
)
def test_fill_chunks_are_what_zarr_writes(tmp_path, shape, chunks, dtype, fill):
    """The template's all-fill arrays (one chunk encoded, its file copied to the other
    keys) hold, chunk file by chunk file, the bytes zarr writes for the whole array of
    the fill value, edge chunks included."""
    from twin.ensemble import _full

    dims = tuple(f"d{k}" for k in range(len(shape)))
    _full(zarr.open_group(tmp_path / "ours", mode="w"), "a", shape, chunks, dtype, fill, dims, {})
    ours = zarr.open_array(tmp_path / "ours" / "a", mode="r")
    theirs = zarr.create_array(
        tmp_path / "theirs", shape=shape, chunks=chunks, dtype=ours.dtype,
        fill_value=ours.fill_value, compressors=ours.compressors, dimension_names=dims,
        config={"write_empty_chunks": True},
    )  # fmt: skip
    theirs[...] = np.full(shape, fill, dtype=object if dtype is str else dtype)

    def chunk_files(root):
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("c/**/*") if p.is_file()}

    expected = chunk_files(tmp_path / "theirs")
    assert len(expected) == np.prod(ours.cdata_shape)
    assert chunk_files(tmp_path / "ours" / "a") == expected


def test_a_store_too_large_for_the_guard_is_refused_first(template, tmp_path, monkeypatch):
    """The outputs' entry count is what the file system holds; one over the guard's limit
    is refused before a member (or a run) writes anything."""
    import twin
    from twin import storeguard
    from twin.store import check_entries

    path, members, _ = template
    layouts, actual = {}, 0
    for grp_path, grp in zarr.open_group(path / "state", mode="r").groups():
        for name, arr in grp.arrays():
            dims = arr.metadata.dimension_names
            if dims[:2] == ("member", "time"):
                layouts.setdefault(grp_path, {})[name] = (dims[2:], arr.shape[2:], {})
                actual += sum(1 for _ in (path / "state" / grp_path / name / "c").rglob("*")) + 1
    lead = {"member": len(members), "time": members[0].scenario.n_outputs}
    monkeypatch.setattr(storeguard, "MAX_ENTRIES", actual)
    check_entries(path, layouts, lead)  # exactly at the limit: allowed
    monkeypatch.setattr(storeguard, "MAX_ENTRIES", actual - 1)
    with pytest.raises(InputError, match=r"\(3 members x 1 output steps\) would take .* fewer"):
        check_entries(path, layouts, lead)
    with pytest.raises(InputError, match="files and folders"):
        open_or_create(tmp_path / "e.zarr", members)
    long = small_scenario(hours=1, step="120s", output_interval="240s")  # 5 x the outputs
    with pytest.raises(InputError, match=rf"\({long.n_outputs} output steps\) .* duration$"):
        twin.run(long, tmp_path / "run.zarr", progress=False)
    assert not (tmp_path / "e.zarr").exists() and not (tmp_path / "run.zarr").exists()


def test_a_member_writes_only_its_own_chunks(template, tmp_path):
    path, members, es = template
    before = {p: p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}
    result = run_member(path, 1, members[1])
    assert result.status == "complete", result.error
    changed = [p for p in path.rglob("*") if p.is_file() and
               p.stat().st_mtime_ns != before.get(p) and p.name != "zarr.json"]  # fmt: skip
    assert changed
    for p in changed:  # every chunk written is at index 1 along member
        assert p.relative_to(path).parts[p.relative_to(path).parts.index("c") + 1] == "1", p
    assert list(es.status()) == [PENDING, COMPLETE, PENDING]
    table = read_ensemble(path)
    assert np.isfinite(table["total_delay"][1]) and np.isnan(table["total_delay"][0])
    group = zarr.open_group(path, mode="r")
    assert (
        np.isnan(group["state/air/pm25"][0]).all() and np.isfinite(group["state/air/pm25"][1]).all()
    )


def test_misaligned_store_is_refused(template, tmp_path):
    import shutil

    path = template[0]
    copy = tmp_path / "bad.zarr"
    shutil.copytree(path, copy)
    grp = zarr.open_group(copy / "state" / "air", mode="r+")
    old = grp["pm25"]
    del grp["pm25"]
    grp.create_array("pm25", shape=old.shape, chunks=(2, *old.chunks[1:]), dtype="float32",
                     dimension_names=old.metadata.dimension_names)  # fmt: skip
    with pytest.raises(InputError, match="chunk 1"):
        EnsembleStore(copy)


def test_a_member_of_another_layout_is_refused(template, tmp_path):
    import twin

    es = template[2]
    other = twin.run(small_scenario(hours=2, step="120s"), tmp_path / "two.zarr", progress=False)
    outputs = {"air": {"pm25": other.open()["state/air/pm25"].values[0][:-1]}}
    with pytest.raises(RuntimeError, match="share the store layout"):
        es.member_slabs(2).write_outputs(0, outputs)  # a grid of another shape
    with pytest.raises(RuntimeError, match="share the store layout"):
        es.member_slabs(2).write_outputs(0, {"air": {"pm10_new": outputs["air"]["pm25"]}})
    slabs = es.member_slabs(2)
    slabs.write_outputs(0, {"air": {"pm25": other.open()["state/air/pm25"].values[0]}})
    with pytest.raises(RuntimeError, match="wrote no state/"):
        es.finish_member(slabs, other.kpis, 0.0)  # the other variables never written
    assert es.status()[2] == PENDING


def test_viz_source_picks_a_member(template):
    from viz.source import Source

    path, members, es = template
    if es.status()[1] != COMPLETE:
        run_member(path, 1, members[1])
    with pytest.raises(InputError, match=r"--member 0\.\.2"):
        Source.open(path)
    with pytest.raises(InputError, match="got 3"):
        Source.open(path, member=3)
    source = Source.open(path, member=1)
    pm25 = source.variable("pm25").values(0)
    assert np.array_equal(pm25, zarr.open_group(path)["state/air/pm25"][1, 0].astype(np.float64))


def test_plain_xarray_opens_a_group_alone(template):
    import warnings

    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # consolidated: no fallback warning
        air = xr.open_dataset(template[0], group="state/air", engine="zarr")
    assert air["pm25"].dims[:2] == ("member", "time")
    assert list(air["traffic_demand_scale"].values) == [0.8, 1.2, 1.0]
    assert "time" in air.coords and "local_time" in air.coords


def test_twin_plot_kpi_of_a_member(template, tmp_path):
    from typer.testing import CliRunner

    from twin.cli import app

    path, members, es = template
    if es.status()[1] != COMPLETE:
        run_member(path, 1, members[1])
    out = tmp_path / "kpi.png"
    res = CliRunner().invoke(app, ["plot", str(path), "--kpi", "-o", str(out)])
    assert res.exit_code == 2 and "--member 0..2" in res.output
    res = CliRunner().invoke(app, ["plot", str(path), "--kpi", "--member", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 0
