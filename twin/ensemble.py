"""Ensemble stores: many members of one scenario in ONE run store, along ``member``.

Members
-------
An ensemble is a list of :class:`Member`\\ s: a scenario, the services it runs with and
its labels (the swept values). :func:`sweep_members` builds them from a sweep (the
product of value lists per scenario field, the first field varying slowest) or from an
explicit list of changes, validating every member's scenario before anything runs.

Layout
------
The driver writes the template first (:meth:`EnsembleStore.create`): ``/city``,
``/state/time``, ``/state/<model>/<var>`` with dims ``(member, time, ...)``, the label
coordinates (``member`` and one per swept field, e.g. ``traffic_demand_scale``) in every
group along ``member``, ``/kpi/<kpi>`` along ``member`` (one array per KPI of
:data:`twin.kpi.KPIS`: the ``(member, kpi)`` table) and ``/members`` (``status``,
``error``, ``wall_seconds``, ``scenario``). Every array along ``member`` has a chunk of 1
along it, and a member writes only its own ``arr[i]`` slabs (:class:`MemberSlabs`): so
no two members ever share a chunk, whatever the other chunk sizes, and a region write can
never be misaligned (the store refuses to open if an array breaks this). Sharding is not
used.

Each member runs the coupled loop of :func:`twin.runner.run` (the city read from the
ensemble's ``/city``) writing every output step straight into its slabs (no run store of
its own: the template already holds the layout), then its KPIs into its KPI chunks, and
last sets its ``/members/status`` chunk to ``complete``: that chunk is the member's
completion marker (Zarr's local store replaces chunk files atomically). A member run
again writes the same bytes (runs are deterministic), so retries are idempotent, and a
re-run of an ensemble skips members marked complete and runs the others from their start.

Members write no ``/.restart`` states and keep no ``/services`` records;
``/members/error`` holds each failed member's error, its KPIs stay NaN and its slabs
keep the output steps written before the error (NaN after it).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time as wallclock
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from twin import atomic, storeguard
from twin.errors import InputError
from twin.fingerprint import check_fingerprints, fingerprints
from twin.kpi import KPIS
from twin.scenario import Scenario
from twin.store import (
    _COMPRESSORS,
    _STRING_COMPRESSORS,
    RUN_KIND,
    _chunks,
    _labels,
    _replaceable,
    _times,
    _write_coords,
    check_entries,
    consolidate,
    start_run_store,
    store_kind,
    time_attrs,
)
from twin.store import _root_attrs as root_attrs

log = logging.getLogger(__name__)

PENDING, COMPLETE, FAILED = 0, 1, 2
STATUS = {PENDING: "pending", COMPLETE: "complete", FAILED: "failed"}
# fields a member may not change: they change the store's layout (grid, time axis,
# species; the UAM flights, routes and route points, which nearly every uam field moves)
# or the city every member reads from the ensemble store
LAYOUT_FIELDS = (
    "city",
    "start",
    "duration",
    "output_interval",
    "air.species",
    "uam",
    "name",
    "services",
)


@dataclass(frozen=True)
class Member:
    """One member: its labels (coordinate values), scenario and services.

    ``services`` are factories: each run calls them for fresh service objects.
    """

    labels: Mapping[str, Any]
    scenario: Scenario
    services: tuple[Callable[[], Any], ...] = ()


@dataclass
class MemberResult:
    """What a member task returns to the driver."""

    index: int
    status: str
    error: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of the member's process over its task (all threads)
    kpis: dict[str, float] = field(default_factory=dict)
    device_bytes: tuple[int, int] | None = None  # GPU pool bytes after the run, device total


# ------------------------------------------------------------------ members
def label_name(key: str) -> str:
    """Coordinate name of a swept field: ``traffic.demand_scale`` -> ``traffic_demand_scale``."""
    return key.replace(".", "_")


def _table(annotation: Any) -> Any:
    """The settings model of an optional table (``UamSettings | None``: ``UamSettings``)."""
    models = [a for a in typing.get_args(annotation) if hasattr(a, "model_fields")]
    return models[0] if len(models) == 1 else annotation


def _check_key(scenario: Scenario, key: str) -> None:
    """A swept key must name a scenario field that leaves the store layout alone."""
    if not isinstance(key, str) or not key:
        raise InputError(f"sweep key {key!r} is not a scenario field such as traffic.demand_scale")
    node: Any = type(scenario)
    for depth, part in enumerate(key.split(".")):
        fields = getattr(node, "model_fields", None)
        if fields is None or part not in fields:
            where = ".".join(key.split(".")[:depth]) or "the scenario"
            known = ", ".join(sorted(fields)) if fields else "(none: not a table)"
            raise InputError(
                f"sweep key {key!r}: {part!r} is not a field of {where}; fields there: {known}"
            )
        node = _table(fields[part].annotation)
    for fixed in LAYOUT_FIELDS:
        if key == fixed or key.startswith(fixed + "."):
            raise InputError(
                f"sweep key {key!r} cannot vary across members: it changes the store layout "
                f"or the shared city ({', '.join(LAYOUT_FIELDS)} are fixed in an ensemble)"
            )


def member_update(scenario: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """``scenario`` with dotted fields replaced (``{"traffic.demand_scale": 1.2}``),
    validated: a bad value raises :class:`InputError` naming the field."""
    data = scenario.model_dump(exclude_none=True)
    for key, value in changes.items():
        _check_key(scenario, key)
        *tables, last = key.split(".")
        node = data
        for t in tables:
            node[t] = dict(node.get(t) or {})
            node = node[t]
        node[last] = value
    shown = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    return Scenario.from_dict(data, source=f"ensemble member ({shown})")


def _scalar(key: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, bool | int | float | str):
        raise InputError(
            f"sweep key {key!r}: value {value!r} is not a number, text or true/false "
            "(members are labelled by their values)"
        )
    return value


def sweep_members(
    scenario: Scenario,
    sweep: Mapping[str, Iterable[Any]] | None = None,
    members: Sequence[Mapping[str, Any]] | None = None,
) -> list[Member]:
    """The members of a sweep (the product of the value lists, the first key slowest) or
    of an explicit list of changes (every entry with the same keys); each member's
    scenario is validated here, before anything runs."""
    if (sweep is None) == (members is None):
        raise InputError("give either sweep={field: values} or members=[{field: value}, ...]")
    if sweep is not None:
        if not isinstance(sweep, Mapping) or not sweep:
            raise InputError(f"sweep={sweep!r} must be a non-empty mapping of field: values")
        values = {}
        for key, vals in sweep.items():
            _check_key(scenario, key)
            if isinstance(vals, str | bytes) or not isinstance(vals, Iterable):
                raise InputError(f"sweep key {key!r}: {vals!r} is not a list of values")
            values[key] = [_scalar(key, v) for v in vals]
            if not values[key]:
                raise InputError(f"sweep key {key!r} has an empty list of values")
        changes = [
            dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())
        ]
    else:
        if isinstance(members, Mapping) or not members:
            raise InputError(f"members={members!r} must be a non-empty list of {{field: value}}")
        changes = [dict(m) for m in members]
        keys = list(changes[0])
        for i, m in enumerate(changes):
            if list(m) != keys:
                raise InputError(f"member {i} sets {sorted(m)}; every member must set {keys}")
            for key, v in m.items():
                _check_key(scenario, key)
                m[key] = _scalar(key, v)
    return [
        Member(labels={label_name(k): v for k, v in c.items()}, scenario=member_update(scenario, c))
        for c in changes
    ]


# ------------------------------------------------------------------ the store
def _label_coords(members: Sequence[Member]) -> dict[str, tuple]:
    """``member`` and the swept values, as ``{name: (dims, values, attrs)}``."""
    coords = {"member": (("member",), np.arange(len(members)), {"long_name": "ensemble member"})}
    for name in members[0].labels:
        values = [m.labels[name] for m in members]
        kind = object if any(isinstance(v, str) for v in values) else None
        coords[name] = (("member",), np.asarray(values, dtype=kind), {"long_name": name})
    return coords


class EnsembleStore:
    """The store of an ensemble (see the module docstring for its layout)."""

    def __init__(self, path: str | Path):
        scan = storeguard.scan(path)  # the arrays' own metadata, as on disk
        self.path, attrs = scan.root, scan.groups[""]
        if attrs.get("kind") != RUN_KIND or "ensemble" not in attrs:
            raise InputError(f"{self.path} is not an ensemble store (no 'ensemble' attribute)")
        if not attrs.get("layout_complete"):
            raise InputError(f"{self.path} was interrupted while it was being created")
        ensemble = storeguard.ensemble_attrs(scan)
        storeguard.verify_chunks(scan, [f"members/{n}" for n in storeguard.MEMBER_ARRAYS])
        self.group = zarr.open_group(self.path, mode="r+", zarr_format=3, use_consolidated=False)
        self.size = ensemble["members"]
        self.labels = ["member", *ensemble["labels"]]
        self.slabs = self._slabs(scan)
        self.scan = scan
        self._handles: dict[str, zarr.Array] = {}

    def _slabs(self, scan: storeguard.Scan) -> list[str]:
        """Paths of the state arrays along ``member`` (a member copies them from its run);
        refuses the store if any array but a label coordinate has a chunk along
        ``member`` other than 1 (two members would share a chunk)."""
        paths = []
        for path, arr in scan.arrays.items():
            if not path.startswith(("state/", "kpi/", "members/")):
                continue
            if arr.dims[:1] != ("member",) or path.rpartition("/")[2] in self.labels:
                continue
            if arr.chunks[0] != 1 or arr.shape[0] != self.size:
                raise InputError(
                    f"{self.path}: array {path} has chunks {arr.chunks} along member of "
                    f"{arr.shape[0]}; an ensemble store needs chunk 1 and {self.size} members"
                )
            if path.startswith("state/"):
                paths.append(path)
        return sorted(paths)

    @classmethod
    def create(
        cls,
        path: str | Path,
        city: xr.DataTree,
        members: Sequence[Member],
        layouts,
        coords,
        attrs: dict,
    ) -> EnsembleStore:
        """Write the template: every array and coordinate, members all ``pending``.

        ``layouts`` and ``coords`` are those of :meth:`twin.coupling.Coupler.layouts`
        (one member's; every member has the same)."""
        target = Path(path)
        _replaceable(target, RUN_KIND, remove=False)
        lead = {"member": len(members), "time": members[0].scenario.n_outputs}
        check_entries(target, layouts, lead)
        return cls(
            atomic.create(
                target, lambda work: _write_template(work, city, members, layouts, coords, attrs)
            )
        )

    # -- per member
    def status(self) -> np.ndarray:
        """Status of every member (:data:`PENDING`, :data:`COMPLETE`, :data:`FAILED`),
        read from chunks that pass the guard."""
        storeguard.verify_chunks(self.scan, ["members/status"])
        return _checked_status(self.path, self.group["members/status"][...])

    def scenarios(self) -> list[str]:
        storeguard.verify_chunks(self.scan, ["members/scenario"])
        return [str(s) for s in self.group["members/scenario"][...]]

    def member_slabs(self, index: int) -> MemberSlabs:
        """Where member ``index``'s run writes its output steps (see :class:`MemberSlabs`)."""
        return MemberSlabs(self, index)

    def finish_member(self, slabs: MemberSlabs, kpis: xr.Dataset, wall_s: float) -> None:
        """Write the KPIs of a member whose run wrote every slab, then mark it complete."""
        missing = sorted(set(self.slabs) - slabs.written)
        if missing:
            raise RuntimeError(f"member {slabs.index} wrote no {', '.join(missing)}")
        for name, var in kpis.data_vars.items():
            self._array(f"kpi/{name}")[slabs.index] = var.values
        self._array("members/wall_seconds")[slabs.index] = wall_s
        self._array("members/error")[slabs.index] = ""
        self._array("members/status")[slabs.index] = COMPLETE

    def write_failure(self, index: int, error: str) -> None:
        """Record member ``index``'s error and mark it failed (its KPIs stay NaN)."""
        self._array("members/error")[index] = error
        self._array("members/status")[index] = FAILED

    def _array(self, path: str) -> zarr.Array:
        """An array to write: every chunk is written, even one equal to the fill value
        (a chunk left out would read as damage). Handles are kept: reopening an array
        for every write costs more than the write."""
        if path not in self._handles:
            self._handles[path] = self.group[path].with_config({"write_empty_chunks": True})
        return self._handles[path]

    def update_attrs(self, **changes) -> None:
        """Change root attributes (through the consolidated view, which keeps it)."""
        zarr.open_group(self.path, mode="r+", zarr_format=3).attrs.update(changes)


class MemberSlabs:
    """The writer target of member ``index``'s run (:func:`twin.runner.drive`): each
    output step straight into the member's chunks of the ensemble store, no temporary
    run store; restarts are not written (a member not complete runs again from its
    start) and service records are not kept."""

    def __init__(self, store: EnsembleStore, index: int):
        self.store, self.index, self.path = store, index, store.path
        self.written: set[str] = set()

    def write_outputs(self, k: int, outputs: dict[str, dict[str, np.ndarray]]) -> None:
        for model, variables in outputs.items():
            for name, values in variables.items():
                path = f"state/{model}/{name}"
                target = self.store._array(path) if path in self.store.slabs else None
                if target is None or values.shape != target.shape[2:]:
                    raise RuntimeError(
                        f"member {self.index}: {path} has shape {values.shape}, the ensemble "
                        f"{'no such array' if target is None else target.shape[2:]}; members "
                        "must share the store layout"
                    )
                target[self.index, k] = values
                self.written.add(path)

    def write_service_records(self, records, units) -> None:
        """Not kept in an ensemble (see the module docstring)."""


def _write_template(path: Path, city, members, layouts, coords, attrs) -> None:
    """The template of :meth:`EnsembleStore.create`, in the (temporary) folder ``path``,
    consolidated (as a complete run store is: members write chunks and attributes only,
    so no array's metadata changes afterwards)."""
    root = start_run_store(path, city)
    n_members, sc = len(members), members[0].scenario
    labels = _label_coords(members)
    step_s = sc.output_interval.total_seconds()
    times = (np.arange(1, sc.n_outputs + 1) * step_s).astype(np.int64)
    clock = time_attrs(f"seconds since {sc.start.isoformat()}", attrs.get("utc_offset_hours"))
    state = root.require_group("state")
    for model, variables in layouts.items():
        grp = state.require_group(model)
        dims = {d for dims, _, _ in variables.values() for d in dims}
        _write_coords(
            grp, labels | _times(times, clock) | _labels(city, dims) | coords.get(model, {})
        )
        for name, (dims, shape, attrs_) in variables.items():
            _full(grp, name, (n_members, times.size, *shape), (1, 1, *_chunks(dims, shape)),
                  "float32", np.nan, ("member", "time", *dims), attrs_)  # fmt: skip
    kpi = root.require_group("kpi")
    _write_coords(kpi, labels)
    for name, k in KPIS.items():
        about = {"units": k.units, "long_name": k.long_name, "model": k.model,
                 "better": k.better}  # fmt: skip
        _full(kpi, name, (n_members,), (1,), "float64", np.nan, ("member",), about)
    mem = root.require_group("members")
    _write_coords(mem, labels)
    for name, dtype, fill, about in (
        ("status", "int8", PENDING, {"long_name": "member status (its completion marker)",
         "flag_values": list(STATUS), "flag_meanings": " ".join(STATUS.values())}),
        ("wall_seconds", "float64", np.nan,
         {"units": "s", "long_name": "wall time of the member's run"}),
        ("error", str, "", {"long_name": "error of a failed member"}),
        ("scenario", str, "", {"long_name": "the member's scenario as TOML"}),
    ):  # fmt: skip
        _full(mem, name, (n_members,), (1,), dtype, fill, ("member",), about)
    mem["scenario"][:] = np.asarray([m.scenario.to_toml() for m in members], dtype=object)
    root.attrs.update(
        attrs
        | {
            "ensemble": {"members": n_members, "labels": [n for n in labels if n != "member"]},
            # every output step exists for every member: a member's completeness is
            # its /members/status chunk, so readers never cut the time axis
            "completed_outputs": int(times.size),
            "layout_complete": True,
        }
    )
    atomic.creation_step("ensemble template")
    consolidate(path)
    atomic.creation_step("consolidated")


def _checked_status(path: Path, values: np.ndarray) -> np.ndarray:
    """``/members/status`` values, refused unless each is one of :data:`STATUS`."""
    bad = np.flatnonzero(~np.isin(values, list(STATUS)))
    if bad.size:
        raise InputError(
            f"{path}: members/status of member {bad[0]} is {values[bad[0]]}, not one of "
            f"{STATUS}; the store is damaged"
        )
    return values


def _full(grp: zarr.Group, name, shape, chunks, dtype, fill, dims, attrs) -> None:
    """An array along ``member`` with every chunk written (the fill value until a member
    writes its own), so a reader never meets a missing chunk.

    Zarr stores every chunk of a regular grid whole (an edge chunk padded with the fill
    value), so every chunk of an all-fill array has the same bytes: the first chunk is
    encoded once and its file copied to the other keys, which takes neither the time of
    encoding each chunk nor the memory of the whole array."""
    text = dtype is str
    arr = grp.create_array(
        name,
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        fill_value=None if text else fill,
        dimension_names=dims,
        attributes=attrs,
        compressors=_STRING_COMPRESSORS if text else _COMPRESSORS,
        config={"write_empty_chunks": True},
    )
    first = tuple(slice(0, min(c, n)) for c, n in zip(chunks, shape, strict=True))
    arr[first] = np.full([s.stop for s in first], fill, dtype=object if text else dtype)
    folder = Path(str(grp.store_path.store.root)) / arr.path
    data = (folder / arr.metadata.encode_chunk_key((0,) * len(shape))).read_bytes()
    for coords in itertools.product(*map(range, arr.cdata_shape)):
        if any(coords):
            key = folder / arr.metadata.encode_chunk_key(coords)
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_bytes(data)


def open_or_create(
    store: Path, members: Sequence[Member], overwrite: bool = False, attrs: dict | None = None
) -> EnsembleStore:
    """The ensemble store at ``store`` to continue, or a new template for ``members``.

    A store is continued when it holds the same members made from the same input files
    (their fingerprints, :mod:`twin.fingerprint`); one of other members or inputs, a
    plain run or a damaged ensemble is refused unless ``overwrite`` replaces it (only a
    run store is ever replaced). The template is created atomically
    (:func:`twin.atomic.create`); the caller holds the store's writer lock
    (:func:`twin.distributed.run_members` does)."""
    store = Path(store)
    inputs = fingerprints(*(m.scenario for m in members))
    if os.path.lexists(store) and not overwrite:
        es = _continued(store, members, inputs)
        if es is not None:
            atomic.remove_leftovers(store)  # of a creation killed while replacing it
            return es
    import gpu
    import twin
    from twin.coupling import Coupler
    from twin.runner import _load_city

    first = members[0].scenario
    city = _load_city(first)
    coupler = Coupler(city, first, gpu.select("cpu"), sensors=bool(members[0].services))
    coupler.init()
    layouts, coords, _ = coupler.layouts()
    return EnsembleStore.create(
        store,
        city.tree,
        members,
        layouts,
        coords,
        attrs={
            "scenario": first.to_toml(),
            "scenario_name": first.name,
            "package_version": twin.__version__,
            "backend": "ray ensemble",
            "device": f"members on {first.device or 'auto'}",
            "utc_offset_hours": coupler.weather.climatology.utc_offset_hours,
            "status": "created",
            "input_fingerprints": inputs,
        }
        | (attrs or {}),
    )


def _continued(store: Path, members: Sequence[Member], inputs: dict) -> EnsembleStore | None:
    """The ensemble at ``store`` to continue; None where a new one may take its place (a
    creation by an older twin killed half-way; what is no run store is refused later)."""
    again = "choose another path, or overwrite=True / --overwrite to replace it"
    if store_kind(store) != RUN_KIND:
        return None
    attrs = root_attrs(store)
    if not attrs.get("layout_complete"):
        return None
    if "ensemble" not in attrs:
        raise InputError(f"{store} holds a run, not an ensemble; refusing to replace it ({again})")
    try:
        es = EnsembleStore(store)
        es.status()  # every status a known one
        same = es.scenarios() == [m.scenario.to_toml() for m in members]
    except InputError as err:
        raise InputError(f"{err}; refusing to continue it ({again})") from None
    if not same:
        raise InputError(
            f"{store} holds an ensemble of other members; refusing to mix them ({again})"
        )
    check_fingerprints(es.path, attrs.get("input_fingerprints"), inputs, again=again)
    return es


def run_member(path: str | Path, index: int, member: Member, device: str | None = None):
    """Run member ``index`` and write it into the ensemble store at ``path``.

    A model error (NaN, bad parameters) is recorded as the member's error and returned,
    not raised: the other members go on. Returns a :class:`MemberResult`.
    """
    from gpu import device_memory
    from twin import runner

    store = EnsembleStore(path)
    sc = member.scenario
    sc = sc.with_updates(city=sc.city.model_dump() | {"store": str(store.path)})
    t0, c0 = wallclock.perf_counter(), wallclock.process_time()
    try:
        services = [make() for make in member.services]
        _, _, services, coupler = runner.prepare(sc, f"member {index}", device, services)
        coupler.init()
        hook = runner.service_hook(coupler, services, sc, "")
        slabs = store.member_slabs(index)
        runner.drive(sc, coupler, slabs, hook, 0, progress=False, restarts=False)
        result, _ = runner.final_kpis(coupler, hook)
        wall = wallclock.perf_counter() - t0
        store.finish_member(slabs, result, wall)
    except (ArithmeticError, ValueError, RuntimeError) as err:  # ModelHealthError, InputError
        error = f"{type(err).__name__}: {err}"
        log.warning("ensemble member %d failed: %s", index, error)
        store.write_failure(index, error)
        return MemberResult(index, "failed", error=error)
    kpis = {name: float(var) for name, var in result.data_vars.items()}
    cpu = wallclock.process_time() - c0
    return MemberResult(
        index, "complete", wall_s=wall, cpu_s=cpu, kpis=kpis, device_bytes=device_memory()
    )


# ------------------------------------------------------------------ reading
def _members_scan(path: str | Path) -> tuple[storeguard.Scan, dict] | None:
    """The guard's scan of an ensemble store and its checked ``ensemble`` attribute, the
    chunks of ``/kpi`` and ``/members`` verified (None: a store that is no ensemble)."""
    scan = storeguard.scan(path)
    if "ensemble" not in scan.groups.get("", {}):
        return None
    ensemble = storeguard.ensemble_attrs(scan)
    names = [n for n in scan.arrays if n.startswith(("kpi/", "members/"))]
    labels = {f"{g}/{n}" for g in ("kpi", "members") for n in ("member", *ensemble["labels"])}
    storeguard.expect_numbers(scan, [n for n in names if n.startswith("kpi/") and n not in labels])
    storeguard.verify_chunks(scan, names)
    return scan, ensemble


def read_ensemble(path: str | Path) -> xr.Dataset:
    """The ``(member, kpi)`` table with each member's labels, ``status`` (text) and
    ``error``; KPIs no member has are left out."""
    found = _members_scan(path)
    if found is None:
        raise InputError(f"{path} is not an ensemble store (no 'ensemble' attribute)")
    scan = found[0]
    open_ = {"engine": "zarr", "zarr_format": 3, "consolidated": False}

    def load():
        kpis = xr.open_dataset(scan.root, group="kpi", **open_).load()
        return kpis, xr.open_dataset(scan.root, group="members", **open_).load()

    kpis, members = storeguard.read_guarded(scan, "the ensemble's /kpi and /members", load)
    kpis = kpis[[n for n in KPIS if n in kpis and not bool(kpis[n].isnull().all())]]
    codes = _checked_status(scan.root, members["status"].values)
    status = np.asarray([STATUS[int(s)] for s in codes], dtype=object)
    return kpis.assign(
        status=("member", status, {"long_name": "member status"}),
        error=members["error"].astype(object),
        wall_seconds=members["wall_seconds"],
    )


def ensemble_summary(path: str | Path) -> dict[str, str]:
    """Lines for ``twin info`` (empty for a store that is not an ensemble)."""
    found = _members_scan(path)
    if found is None:
        return {}
    scan, ensemble = found

    def load():
        grp = zarr.open_group(scan.root / "members", mode="r", zarr_format=3)
        names = ("status", "error", *ensemble["labels"])
        return {name: grp[name][...] for name in names}

    values = storeguard.read_guarded(scan, "the ensemble's /members", load)
    status = _checked_status(scan.root, values["status"])
    counts = ", ".join(f"{int(np.sum(status == k))} {name}" for k, name in STATUS.items())
    lines = {"members": f"{status.size} ({counts})"}
    for name in ensemble["labels"]:
        shown = list(dict.fromkeys(values[name].tolist()))
        lines[name] = ", ".join(str(v) for v in shown[:8]) + (" ..." if len(shown) > 8 else "")
    for i in np.flatnonzero(status == FAILED)[:3]:
        lines[f"member {i} error"] = str(values["error"][i])[:200]
    return lines


def kpi_summary(table: xr.Dataset) -> dict[str, dict[str, float]]:
    """Mean, min, max and spread (sample standard deviation) per KPI over the complete
    members of :func:`read_ensemble`'s table."""
    done = table.where(table["status"] == "complete", drop=True)
    out = {}
    for name in (n for n in table.data_vars if n in KPIS):
        v = done[name].values.astype(float) if name in done else np.array([])
        v = v[np.isfinite(v)]
        out[name] = {
            "mean": float(v.mean()) if v.size else math.nan,
            "min": float(v.min()) if v.size else math.nan,
            "max": float(v.max()) if v.size else math.nan,
            "spread": float(v.std(ddof=1)) if v.size > 1 else math.nan,
        }
    return out


def _value(text: str) -> bool | int | float | str:
    """A value written on the command line: an integer, a number, true/false or text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``KEY=V1,V2,...`` or ``KEY=A..B`` (whole numbers A to B, both included) as
    ``(key, values)``, e.g. ``traffic.demand_scale=0.8,1.0,1.2`` or ``weather.seed=0..7``."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise InputError(f"--param {text!r}: write KEY=V1,V2,... or KEY=A..B")
    lo, dots, hi = values.partition("..")
    if dots:
        a, b = _value(lo), _value(hi)
        if not (isinstance(a, int) and isinstance(b, int)) or b < a:
            raise InputError(f"--param {text!r}: A..B needs whole numbers A <= B")
        return key.strip(), list(range(a, b + 1))
    return key.strip(), [_value(v) for v in values.split(",") if v.strip()]
