"""``twin.run``: the coupled time loop, streaming output, resume and health checks.

Each coupling step ``[t, t + step)`` runs the registered models in order (see
:mod:`twin.models` and :mod:`twin.coupling`), each after its stage:

1. **traffic**, driven only by the clock (time-of-day demand) and its signal plans;
2. **air**, with sources from this step's link emissions (rasterized to the grid)
   plus building heating emissions of the previous energy step;
3. **energy**, with EV arrivals from this step's traffic;
4. the **KPI** sums of what no single model owns (exposure, monitors, CO2).

Traffic comes first because nothing feeds back into it within a step; air and
energy then see the traffic of the same interval. Heating emissions lag one step
(explicit coupling), which is harmless: the step (about a minute) is far shorter
than a building's thermal time constant (hours).

Every output interval the outputs (and, every ``restart_interval``, the restart
states) are copied to the host, checked for NaN/Inf there, and handed to a background
writer thread (a queue of two snapshots, so memory does not grow with the run and
compute overlaps I/O). The writer writes the outputs at their ``time`` index and
advances ``completed_outputs``, then writes the states into the restart slot not in use
and moves ``restart_outputs`` to it. Between two output steps the loop never reads a
device value on the host (see docs/architecture.md, 'The coupled step').
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import socket
import threading
import time as wallclock
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr
from rich.markup import escape

import gpu
import twin
from twin.errors import InputError, ModelHealthError
from twin.fingerprint import fingerprints
from twin.kpi import kpi_dataset
from twin.locking import WriterLock
from twin.scenario import Scenario
from twin.store import RunStore, open_run, read_kpis

log = logging.getLogger(__name__)
__all__ = ["ModelHealthError", "RunResult", "run"]


@dataclass
class RunResult:
    """What :func:`run` returns: the store path, KPIs and where the time went."""

    store: Path
    kpis: xr.Dataset
    timings_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    def open(self) -> xr.DataTree:
        """The run store as a lazily loaded DataTree."""
        return open_run(self.store)


class _Writer:
    """Background writer: outputs at ``time=k``, restart states, completion markers."""

    def __init__(self, store: RunStore):
        self.store = store
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.seconds = {"output writes": 0.0, "restart writes": 0.0}
        self.thread = threading.Thread(target=self._loop, name="twin-writer", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        # after an error the loop keeps taking items (and drops them), so a put never waits
        # on a full queue that nobody empties
        while (item := self.queue.get()) is not None:
            if self.error is None:
                k, outputs, states, extra = item
                records, services_state, units = extra or ({}, "", "")
                try:
                    t0 = wallclock.perf_counter()
                    self.store.write_service_records(records, units)
                    self.store.write_outputs(k, outputs)
                    t1 = wallclock.perf_counter()
                    if states is not None:
                        self.store.write_restart(k + 1, states, services_state)
                    self.seconds["output writes"] += t1 - t0
                    self.seconds["restart writes"] += wallclock.perf_counter() - t1
                    log.debug("Wrote output step %d%s.", k + 1, " and a restart" * bool(states))
                except BaseException as err:  # handed to the main thread at the next put
                    self.error = err

    def put(self, k, outputs, states, extra=None) -> None:
        """Queue output step ``k`` (and the states after it, or None: no restart; and the
        services' records, state and time units, or None)."""
        self._raise()
        self._put((k, outputs, states, extra))

    def close(self) -> None:
        """Write what is queued and stop; raises the writer's error, if any."""
        self._put(None)
        self.thread.join()
        self._raise()

    def _put(self, item) -> None:
        """Queue ``item``, waiting for room only while the writer thread lives (a thread
        gone would otherwise leave the main thread waiting forever)."""
        while self.thread.is_alive():
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        self._raise()
        if item is not None:
            raise RuntimeError("writing the run store failed: the writer thread stopped")

    def _raise(self) -> None:
        if self.error is not None:
            raise RuntimeError(
                f"writing the run store {self.store.path} failed: {self.error}"
            ) from self.error


def _load_city(scenario: Scenario) -> twin.City:
    """The scenario's city; an error names the field (``city.store`` or ``city.dataset``)."""
    spec = scenario.city
    field = "city.store" if spec.store else "city.dataset"
    try:
        if spec.store:
            return twin.open_city(spec.store)
        return twin.build_city(spec.dataset, resolution_m=spec.resolution_m, seed=spec.seed)
    except (ValueError, OSError) as err:
        raise InputError(f"{field}: {err}") from None


def prepare(scenario: Scenario, source: str, device: str | None = None, services=(), **options):
    """The backend, city, services (the scenario's, then ``services``) and
    :class:`~twin.coupling.Coupler` of a run of ``scenario`` (``options``: the coupler's);
    a bad input is an :class:`InputError` naming ``source``."""
    from twin.coupling import Coupler, run_weather

    try:  # device: argument, else the scenario's, else TWIN_DEVICE, else auto
        backend = gpu.select(device or scenario.device)
        forcing = run_weather(scenario)  # a bad weather file fails before the city is built
        city = _load_city(scenario)
        services = [*_scenario_services(scenario), *services]
        coupler = Coupler(
            city, scenario, backend, sensors=bool(services), weather=forcing, **options
        )
    except ValueError as err:  # models validate their inputs with ValueError
        raise InputError(f"{source}: {err}") from None
    return backend, city, services, coupler


def run(
    scenario: Scenario | str | Path,
    store: str | Path,
    services=(),
    device: str | None = None,
    progress: bool = True,
    resume: bool = False,
    *,
    profile: bool = False,
    check_every_step: bool = False,
    tiles: tuple[int, int] | None = None,
    grid_chunk: int | None = None,
    address: str | None = None,
) -> RunResult:
    """Run the coupled twin and stream its outputs to a Zarr store.

    Parameters
    ----------
    scenario : a :class:`Scenario` or the path of a scenario TOML file.
    store : path of the run store to write (replaced unless ``resume``).
    services : service objects (see :mod:`twin.services`), run with the scenario's own
        ``[[services]]``; each decides every ``every`` seconds on what the sensors show.
    device : ``"auto"``, ``"cpu"`` or ``"gpu"``; ``None`` takes the scenario's.
    progress : show a progress bar (simulated time, speed, ETA).
    resume : continue a killed run from its last restart; the final result equals that
        of an uninterrupted run (bitwise on NumPy).
    profile : make the per-part timings exact on a GPU (each part waits for its kernels,
        which costs a synchronisation per part and step).
    check_every_step : check every output and state for NaN/Inf after every step, to find
        the exact step and cell where a value went bad (on a GPU, a sync per array); by
        default the check runs on the host copies of each output step.
    tiles : ``(ny, nx)``: run the air model on that many ``y/x`` tiles, one Ray worker
        each, exchanging halos every sub-step (:mod:`twin.tiles`); traffic, energy and
        the rest stay in this process. Tile edges are edges of the store's grid chunks.
    grid_chunk : ``y/x`` chunk length of the store's grids [cells] (default
        :data:`twin.store.GRID_CHUNK`; a resumed run keeps its store's).
    address : the Ray cluster of a tiled run (see :func:`twin.distributed.connect`).

    Returns
    -------
    RunResult
    """
    source = f"scenario {scenario.name!r}" if isinstance(scenario, Scenario) else scenario
    if not isinstance(scenario, Scenario):
        scenario = Scenario.from_toml(scenario)
    store = Path(store)
    chunk = _grid_chunk(store, resume, grid_chunk)
    wall_start = wallclock.perf_counter()
    tiled = None
    lock = WriterLock(store).acquire()  # first: a second writer is refused at once
    try:
        if resume and store.exists():  # a bad store is refused before the models are built
            attrs = RunStore.check_resumable(store, scenario.to_toml()).groups[""]
            if attrs.get("status") == "complete" and attrs.get("completed_outputs") == (
                scenario.n_outputs
            ):
                log.info("%s is complete; nothing to resume.", store)
                return _recorded(store, attrs)
        backend, city, services, coupler = prepare(
            scenario, source, device, services, profile=profile, check_every_step=check_every_step
        )
        if tiles is not None:
            from twin.tiles import tile_air

            where = "cpu" if backend.xp is np else "gpu"
            tiled = tile_air(coupler, tuple(tiles), chunk, address=address, device=where)
        with _terminate_as_interrupt():
            return _run_locked(
                scenario, store, coupler, city, backend, services, wall_start, resume, progress,
                chunk, tiled,
            )
    finally:
        if tiled is not None:
            tiled.close()
        lock.release()


def _grid_chunk(store: Path, resume: bool, given: int | None) -> int:
    """The ``y/x`` chunk length of the run's grids: its store's when resuming one."""
    from twin.store import GRID_CHUNK, grid_chunk_of, store_kind

    if resume and store_kind(store) is not None:
        return grid_chunk_of(store, "state/air") if (store / "state" / "air").exists() else (
            given or GRID_CHUNK
        )
    if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 1):
        raise InputError(f"grid_chunk={given!r} must be a whole number of cells >= 1")
    return given or GRID_CHUNK


class Terminated(KeyboardInterrupt):
    """SIGTERM during a run: handled like Ctrl-C (the store is marked ``interrupted``)."""


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Raise :class:`Terminated` in the main thread on SIGTERM while a run writes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(f"signal {signum} (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_locked(scenario, store, coupler, city, backend, services, wall_start, resume, progress,
                chunk, tiled):
    """The run proper, under the store's writer lock (see :func:`run`)."""
    scenario_toml = scenario.to_toml()
    before: dict = {}

    if resume and store.exists():
        coupler.init()
        layouts, _, restart = coupler.layouts()
        rs = RunStore.open_for_resume(
            store, scenario_toml, layouts, restart, inputs=fingerprints(scenario)
        )
        before = rs.attrs
        completed, states, services_state = rs.read_restart(restart)
        if completed:
            coupler.restore(states)
        rs.truncate_service_records(completed * scenario.output_interval.total_seconds())
        log.info("Resuming %s after %d of %d output steps.", store, completed, scenario.n_outputs)
    else:
        if resume:
            log.warning(
                "No run store at %s (never created, or killed while created): starting the run.",
                store,
            )
        coupler.init()
        layouts, coords, restart = coupler.layouts()
        rs = RunStore.create(
            store,
            city.tree,
            attrs={
                "scenario": scenario_toml,
                "scenario_name": scenario.name,
                "package_version": twin.__version__,
                "backend": backend.name,
                "device": backend.device,
                "utc_offset_hours": coupler.weather.climatology.utc_offset_hours,
                "wall_start": datetime.now(UTC).isoformat(timespec="seconds"),
                "status": "running",
                "input_fingerprints": fingerprints(scenario),
            },
            times_s=(
                np.arange(1, scenario.n_outputs + 1) * scenario.output_interval.total_seconds()
            ).astype(np.int64),
            time_units=f"seconds since {scenario.start.isoformat()}",
            layouts=layouts,
            coords=coords,
            restart=restart,
            forcing=coupler.forcing_record(),
            grid_chunk=chunk,
        )
        completed, services_state = 0, ""
    log.info(
        "Running %s: %d steps of %g s, %d output steps, %s on %s, to %s.",
        scenario.name,
        scenario.n_steps,
        scenario.step.total_seconds(),
        scenario.n_outputs,
        backend.name,
        backend.device,
        store,
    )
    hook = service_hook(coupler, services, scenario, services_state)
    rs.update_attrs(status="running", pid=os.getpid(), host=socket.gethostname())
    coupler.timers.seconds["setup"] += wallclock.perf_counter() - wall_start
    try:
        written = drive(scenario, coupler, rs, hook, completed, progress, tiled)
    except BaseException as err:
        status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        with contextlib.suppress(OSError):  # a full disk must not hide the first error
            rs.update_attrs(status=status)
        log.debug(
            "Run %s after %d of %d output steps%s.",
            status,
            rs.attrs.get("completed_outputs", 0),
            scenario.n_outputs,
            f": {err}" if str(err) else "",
        )
        raise
    kpis, summary = final_kpis(coupler, hook)
    if summary:
        rs.write_service_summary(summary)
    kpis = rs.write_kpis(kpis)
    # a resumed run adds its time to that of the attempts before it
    wall = wallclock.perf_counter() - wall_start + before.get("wall_seconds", 0.0)
    now = coupler.timers.seconds | written
    timings = {
        k: before.get("timings_s", {}).get(k, 0.0) + now.get(k, 0.0)
        for k in {*now, *before.get("timings_s", {})}
    }
    rs.update_attrs(
        status="complete",
        wall_end=datetime.now(UTC).isoformat(timespec="seconds"),
        wall_seconds=round(wall, 3),
        timings_s={k: round(v, 3) for k, v in timings.items()},
    )
    rs.finish()
    log.debug("Run complete: %s, %d output steps, %.1f s.", store, scenario.n_outputs, wall)
    return RunResult(store=store, kpis=kpis, timings_s=timings, wall_s=wall)


def drive(scenario, coupler, store, hook, completed: int, progress: bool, tiled=None,
          restarts: bool = True) -> dict[str, float]:
    """The time loop after output step ``completed``: each output step (and each restart,
    when ``restarts``) handed to a writer thread writing to ``store`` (a
    :class:`RunStore`, or what has its ``write_outputs``, ``write_restart`` and
    ``write_service_records``). Returns the writer's timings [s]; on an error what is
    queued is written, then the error is raised."""
    spo, n_steps = scenario.steps_per_output, scenario.n_steps
    outputs_per_restart = scenario.outputs_per_restart
    timer = coupler.timers
    writer = _Writer(store)
    bar = _progress(scenario, enabled=progress)
    try:
        with bar:
            task = bar.add_task(
                escape(scenario.name), total=n_steps, completed=completed * spo, sim=""
            )
            t0 = wallclock.perf_counter()
            for i in range(completed * spo, n_steps):
                if hook is not None:
                    with timer("services"):
                        hook.before_step(i)
                coupler.step(i)
                if (i + 1) % spo == 0:
                    k = (i + 1) // spo - 1
                    restart = restarts and (
                        (k + 1) % outputs_per_restart == 0 or k + 1 == scenario.n_outputs
                    )
                    _hand_over(coupler, writer, k, restart, hook, tiled)
                done_s = (i + 1 - completed * spo) * scenario.step.total_seconds()
                speed = done_s / max(wallclock.perf_counter() - t0, 1e-9)
                bar.update(
                    task,
                    advance=1,
                    sim=f"{scenario.time_at(i + 1):%Y-%m-%d %H:%M} · {speed:,.0f}x real time",
                )
        with timer("writer wait"):
            writer.close()
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()  # flush the completed steps already queued
        raise
    return writer.seconds


def final_kpis(coupler, hook) -> tuple[xr.Dataset, dict[str, dict]]:
    """The run's KPIs (with ``failed_services`` when services ran) and the services'
    summary (empty without services)."""
    kpis = coupler.kpis()
    if hook is None:
        return kpis, {}
    summary = hook.summary()
    failed = sum(v["status"] == "failed" for v in summary.values())
    return kpis.merge(kpi_dataset({"failed_services": failed})), summary


def _recorded(store: Path, attrs: dict) -> RunResult:
    """The result of a complete run as its store records it (every chunk it exposes is
    checked, nothing is rewritten)."""
    open_run(store)
    return RunResult(
        store=store,
        kpis=read_kpis(store),
        timings_s=dict(attrs.get("timings_s", {})),
        wall_s=float(attrs.get("wall_seconds", 0.0)),
    )


def _scenario_services(scenario: Scenario) -> list:
    from twin.services.base import from_spec

    return [from_spec(spec, i) for i, spec in enumerate(scenario.services)]


def service_hook(coupler, services, scenario: Scenario, saved: str):
    """The service hook of a run with services (None without)."""
    if not services:
        return None
    from twin.services.hook import ServiceHook

    flags = [s.record_observations for s in scenario.services]
    hook = ServiceHook(coupler, services, record_observations=flags)
    hook.restore(saved)
    return hook


def _hand_over(coupler, writer: _Writer, k: int, restart: bool, hook=None, tiled=None) -> None:
    """Output step ``k``: host copies, their health check, then to the writer (a tiled
    air model's workers write their regions first, before the writer marks ``k``)."""
    timer, sc = coupler.timers, coupler.scenario
    with timer("snapshot"):
        outputs = coupler.host_outputs()
        states = coupler.host_states() if restart else None
    with timer("health"):
        end = sc.start + (k + 1) * sc.output_interval
        when = (
            f"in output step {k + 1} (simulated {end - sc.output_interval:%Y-%m-%d %H:%M} to "
            f"{end:%H:%M%z}; run with check_every_step for the exact step)"
        )
        coupler.check(outputs, when)
        if states is not None:
            coupler.check(states, when, what="state")
    extra = None
    if hook is not None:
        extra = (
            hook.take_records(),
            hook.state() if restart else "",
            f"seconds since {sc.start.isoformat()}",
        )
    if tiled is not None:
        with timer("tile writes"):
            tiled.write(writer.store.path, k)
        outputs = {c: v for c, v in outputs.items() if c != tiled.name}
    with timer("writer wait"):
        writer.put(k, outputs, states, extra)


def _progress(scenario: Scenario, enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from twin.console import console  # writes through a closed pipe without failing

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[sim]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
        console=console,
    )
