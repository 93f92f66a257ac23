"""Ray: ensembles of runs in one store, and the tile workers of tiled air runs, locally
or on a cluster (the only module that imports :mod:`ray`, extra ``ray``).

:class:`TileGroup` holds one actor per tile of a tiled air run (:mod:`twin.tiles`); the
actors trade halo cells with one another before every sub-step.

:func:`run_ensemble` runs each member of a sweep as one Ray task (see
:mod:`twin.ensemble` for the members and the store layout). The driver validates every
member, connects to Ray, writes the template, then keeps tasks in flight and records
what each returns:

* a worker that dies is retried by Ray (``retries`` times); a retried member writes the
  same bytes, so a retry is harmless;
* a member whose model fails (NaN, bad parameters) records its error in the store and
  returns; the others go on;
* running the same ensemble again on its store skips the members marked complete.

Where it runs: with ``address=None`` and no ``RAY_ADDRESS``, a local Ray with the
machine's CPUs, the dashboard off, quiet logs and its temporary files under
``~/.cache/twin/ray`` (or ``$TMPDIR/twin-ray-<uid>`` where that path is too long for
Ray's sockets); with ``address`` (or ``RAY_ADDRESS``) it joins that cluster,
after checking that something answers there (a bounded wait, then a clear error).
Every node must have the twin installed and see the store's path (a shared file
system). Members ask for one CPU each, or a share of a GPU sized from the device memory
the first member used (Ray's fractional GPUs do not isolate memory, so the share is a
scheduling promise: 1.25 times the measured use, in sixteenths of a device).
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from twin.ensemble import (
    COMPLETE,
    Member,
    MemberResult,
    open_or_create,
    read_ensemble,
    run_member,
    sweep_members,
)
from twin.errors import InputError
from twin.locking import writes_store
from twin.scenario import Scenario

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 10.0
HALO_WAIT_S = 600.0  # longest wait of a tile for a neighbour's halo cells
GPU_HEADROOM = 1.25  # a member's GPU share: this times its measured peak pool bytes


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError(
            "Ray is not installed: pip install 'gwangju-twin[ray]' (or pip install ray)"
        ) from None
    return ray


def _check_reachable(address: str, timeout_s: float) -> None:
    """Refuse an address where nothing answers, after at most ``timeout_s`` seconds."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise InputError(f"Ray address {address!r} is not HOST:PORT (or ray://HOST:PORT, auto)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise InputError(
            f"no Ray cluster answers at {address} (waited up to {timeout_s:g} s: {err}); "
            "start one with `ray start --head` or check the address"
        ) from None


def connect(
    address: str | None = None, num_cpus: int | None = None, timeout_s: float = CONNECT_TIMEOUT_S
):
    """Connect to Ray once per process (later calls reuse the connection).

    Parameters
    ----------
    address : a cluster's ``HOST:PORT`` (``ray start --head`` prints it), ``ray://...``
        for Ray Client, ``"auto"``; ``"local"``: a local Ray; None: ``RAY_ADDRESS`` if
        set, else a local Ray.
    num_cpus : CPUs of a local Ray (default: the machine's).
    timeout_s : how long to wait for an address to answer [s].

    Returns
    -------
    The :mod:`ray` module, initialised.
    """
    ray = _ray()
    # "local": a local Ray even where RAY_ADDRESS is set
    address = None if address == "local" else address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:  # checked even when connected: a wrong address is an error
        _check_reachable(address, timeout_s)
    if ray.is_initialized():
        return ray
    if address is not None:
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError) as err:
            hint = (
                ""
                if os.environ.get("RAY_AUTH_MODE") == "token"
                else " If the cluster uses token authentication (what `ray start` does since "
                "Ray 2.52), set RAY_AUTH_MODE=token and give its token (~/.ray/auth_token, "
                "RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN)."
            )
            raise InputError(f"could not join the Ray cluster at {address}: {err}.{hint}") from None
        return ray
    temp = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "twin" / "ray"
    if len(str(temp)) > 48:  # Ray's unix sockets live below it: paths must stay < 108 bytes
        temp = Path(tempfile.gettempdir()) / f"twin-ray-{os.getuid()}"
    temp.mkdir(parents=True, exist_ok=True)
    ray.init(
        num_cpus=num_cpus or os.cpu_count(),
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
        _temp_dir=str(temp),
    )
    return ray


def _resources(ray, device: str | None, gpu_share: float | None) -> dict[str, float]:
    """Ray resources of one member: a GPU share where the cluster has GPUs (and the run
    may use one), else one CPU."""
    if device == "cpu" or not ray.cluster_resources().get("GPU", 0):
        return {"num_cpus": 1}
    return {"num_cpus": 1, "num_gpus": 1.0 if gpu_share is None else gpu_share}


def _measured_share(result: MemberResult) -> float | None:
    """The GPU share of the members after the first (None: it ran on no GPU)."""
    if result.device_bytes is None:
        return None
    used, total = result.device_bytes
    return min(1.0, max(1, math.ceil(16 * GPU_HEADROOM * used / total)) / 16)


def _ray_error(err: Exception) -> str:
    """One line for a member Ray gave up on: the task's own exception where Ray wraps
    one, else Ray's first line, without colour codes or Ray's traceback."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, Exception):
        err = cause
    lines = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines() or [""]
    return f"{type(err).__name__}: {lines[0]}"[:2000]


@writes_store  # one driver per ensemble store; its members write under its lock
def run_members(
    members: Sequence[Member],
    store: str | Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    device: str | None = None,
    retries: int = 3,
    gpu_share: float | None = None,
    overwrite: bool = False,
    on_member: Callable[[MemberResult, int, int], None] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Run ``members`` (:func:`twin.ensemble.sweep_members`) as Ray tasks into one
    ensemble store (see :func:`run_ensemble`).

    Parameters
    ----------
    address : Ray cluster to join (see :func:`connect`); None: ``RAY_ADDRESS`` or local.
    workers : members in flight at once (default: as many as Ray schedules).
    device : the members' backend (default: the scenario's).
    retries : Ray retries of a member whose worker died.
    gpu_share : GPU fraction per member (default: measured by the first member).
    overwrite : replace a store holding another ensemble instead of refusing.
    on_member : called as ``on_member(result, done, total)`` after each member.
    attrs : extra root attributes of the store.
    """
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise InputError(f"workers={workers!r} must be a whole number >= 1 (or None: all)")
    if gpu_share is not None and not 0 < gpu_share <= 1:
        raise InputError(f"gpu_share={gpu_share!r} must be in (0, 1]")
    store = Path(store)
    ray = connect(address)
    es = open_or_create(store, members, overwrite, dict(attrs or {}))
    todo = deque(int(i) for i, s in enumerate(es.status()) if s != COMPLETE)
    done = len(members) - len(todo)
    if done:
        log.info("%s: %d of %d members complete; running the rest.", store, done, len(members))
    es.update_attrs(status="running")
    options = _resources(ray, device or members[0].scenario.device, gpu_share)
    task = ray.remote(max_retries=retries, retry_exceptions=False)(run_member)
    measuring = "num_gpus" in options and gpu_share is None  # the first member measures
    flight: dict[Any, int] = {}
    while todo or flight:
        limit = 1 if measuring else (workers or len(members))
        while todo and len(flight) < limit:
            i = todo.popleft()
            ref = task.options(**options).remote(str(es.path), i, members[i], device)
            flight[ref] = i
        ready, _ = ray.wait(list(flight), num_returns=1)
        for ref in ready:
            i = flight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as err:  # retries used up (or cancelled)
                error = _ray_error(err)
                es.write_failure(i, error)
                result = MemberResult(i, "failed", error=error)
            if measuring:
                share = _measured_share(result)  # None (it failed, or ran on no GPU):
                options |= {"num_gpus": share or options["num_gpus"]}  # keep a whole GPU
                measuring = False
            done += 1
            if on_member is not None:
                on_member(result, done, len(members))
    complete = all(es.status() == COMPLETE)
    es.update_attrs(status="complete" if complete else "partial")
    return read_ensemble(es.path)


def run_ensemble(
    scenario: Scenario | str | Path,
    sweep: Mapping[str, Iterable[Any]] | None = None,
    store: str | Path = "ensemble.zarr",
    *,
    members: Sequence[Mapping[str, Any]] | None = None,
    **options: Any,
) -> xr.Dataset:
    """Run a sweep of a scenario on Ray, every member into ONE store along ``member``.

    Parameters
    ----------
    scenario : a :class:`Scenario` or its TOML path.
    sweep : ``{field: values}`` with dotted scenario fields, e.g.
        ``{"traffic.demand_scale": [0.8, 1.0, 1.2], "weather.seed": range(8)}``: the
        members are the product (the first field varies slowest).
    store : the ensemble store (re-running on it skips the complete members).
    members : instead of ``sweep``, an explicit list of ``{field: value}`` changes.
    **options : ``address``, ``workers``, ``device``, ``retries``, ``gpu_share``,
        ``overwrite``, ``on_member``: see :func:`run_members`.

    Returns
    -------
    xarray.Dataset
        The ``(member, kpi)`` table: one variable per KPI along ``member``, the swept
        values as coordinates, ``status`` (``complete``/``failed``/``pending``),
        ``error`` and ``wall_seconds`` per member.
    """
    if not isinstance(scenario, Scenario):
        scenario = Scenario.from_toml(scenario)
    return run_members(sweep_members(scenario, sweep, members), store, **options)


class _TileWorker:
    """A Ray actor holding one tile of a tiled air run (:class:`twin.tiles.AirTile`).

    Threaded: while its step runs, the neighbours' calls to :meth:`cells` are served,
    each waiting until this tile has published the exchange they ask for."""

    def __init__(self, model, tile, state, device: str):
        import threading

        self.model, self.tile, self.device = model, tile, device
        self.ready = threading.Condition()
        self.neighbours: dict[tuple[int, int], Any] = {}
        self.cpu_s = 0.0  # process CPU time over its steps (all threads) [s]
        self.load(state)

    def load(self, state) -> None:
        """Hold ``state`` (the tile's window), exchanges counted from 0 again."""
        from twin.tiles import AirTile

        self.air = AirTile(self.model, self.tile, state, self.device)
        with self.ready:
            self.published: dict[int, dict] = {}  # exchange number -> {offset: cells}
            self.exchanges = 0

    def connect(self, neighbours: dict) -> None:
        self.neighbours = neighbours

    def cells(self, number: int, offset: tuple[int, int]):
        """The cells of exchange ``number`` for the neighbour at ``offset``."""
        with self.ready:
            if not self.ready.wait_for(lambda: number in self.published, HALO_WAIT_S):
                raise RuntimeError(
                    f"tile {self.tile.index}: exchange {number} not reached in {HALO_WAIT_S:g} s "
                    "(a tile's worker died or stalled)"
                )
            return self.published[number][offset]

    def _exchange(self, out: dict) -> dict:
        ray = _ray()
        number = self.exchanges
        self.exchanges += 1
        with self.ready:
            self.published[number] = out
            # every neighbour has fetched exchange number - 2: it published number - 1,
            # which it could only do after fetching this tile's number - 2
            self.published.pop(number - 2, None)
            self.ready.notify_all()
        # the neighbour at d holds this tile at offset -d
        refs = {d: w.cells.remote(number, (-d[0], -d[1])) for d, w in self.neighbours.items()}
        return dict(zip(refs, ray.get(list(refs.values())), strict=True))

    def step(self, forcing: dict, dt: float):
        import time

        t = time.process_time()
        try:
            return self.air.step(forcing, dt, self._exchange)
        finally:
            self.cpu_s += time.process_time() - t

    def cpu_seconds(self) -> float:
        return self.cpu_s

    def write(self, store: str, group: str, k: int) -> None:
        from twin.store import write_region

        t = self.air.tile
        write_region(store, group, k, t.rows, t.cols, self.air.outputs())


class TileGroup:
    """The workers of a tiled air run: one Ray actor per tile (see :mod:`twin.tiles`).

    Each asks for an equal share of the cluster's CPUs (at most one) and, where the run
    is on a GPU and the cluster has GPUs, an equal share of them (at most one device
    each): the tiles must all run at once, as they wait for one another's halos.
    """

    def __init__(self, tiles, model, states, *, device: str, address: str | None = None):
        ray = connect(address)
        total = ray.cluster_resources()
        options: dict[str, Any] = {"num_cpus": min(1.0, total.get("CPU", 1) / len(tiles))}
        if device != "cpu" and total.get("GPU", 0):
            options["num_gpus"] = min(1.0, total["GPU"] / len(tiles))
        worker = ray.remote(max_concurrency=10)(_TileWorker)  # a step and 8 neighbours
        self.ray, self.tiles = ray, list(tiles)
        self.workers = [
            worker.options(**options).remote(model, t, s, device)
            for t, s in zip(tiles, states, strict=True)
        ]
        by_index = dict(zip((t.index for t in tiles), self.workers, strict=True))
        ray.get([
            w.connect.remote({
                d: by_index[(t.index[0] + d[0], t.index[1] + d[1])] for d in t.neighbours
            })
            for t, w in zip(tiles, self.workers, strict=True)
        ])  # fmt: skip

    def step(self, forcings: list[dict], dt: float) -> list:
        """One air step on every tile; their own concentrations (species, rows, cols)."""
        refs = [w.step.remote(f, dt) for w, f in zip(self.workers, forcings, strict=True)]
        return self.ray.get(refs)

    def cpu_seconds(self) -> list[float]:
        """Each worker's process CPU time over its steps so far [s] (for benchmarks)."""
        return self.ray.get([w.cpu_seconds.remote() for w in self.workers])

    def load(self, states: list[dict]) -> None:
        """Every worker holds its tile of a new state (after a restart, say)."""
        self.ray.get([w.load.remote(s) for w, s in zip(self.workers, states, strict=True)])

    def write(self, store: str, group: str, k: int) -> None:
        """Every worker writes output step ``k`` of its region of ``group``."""
        self.ray.get([w.write.remote(store, group, k) for w in self.workers])

    def close(self) -> None:
        for w in self.workers:
            self.ray.kill(w)
        self.workers = []
