"""What services call between steps: signal commands that return a new, validated state.

:class:`SignalCommands` is mixed into :class:`~sim.traffic.model.TrafficModel`: it sets
fixed-time plans (:meth:`~SignalCommands.set_signal_plan`), control modes and their
timings (:meth:`~SignalCommands.set_control`), the phase a controller asks for
(:meth:`~SignalCommands.set_phase`), and reads what each signal shows
(:meth:`~SignalCommands.signal_display`). Commands check their arguments on the host
and may read the state there (they run between steps, not inside the time loop); bad
input is a :class:`ValueError` naming the node and the field.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

import gpu
from sim.traffic import control, signals

_MIN_GREEN_FLOOR_S = 1.0  # bounds the transitions a sub-step resolves


class SignalCommands:
    """Signal commands of the traffic model (needs ``network``, ``signal_nodes``,
    ``phases`` and ``_signal_row`` from it)."""

    # ------------------------------------------------------------------ reading
    def signal_display(self, state: Mapping) -> dict:
        """What every signal shows now, on the state's backend (no host copy).

        Returns
        -------
        dict of (signal,) arrays: ``phase`` (the phase in green or clearing),
        ``interval`` (0 green, 1 amber, 2 all-red), ``interval_s`` [s] time in that
        interval and ``phase_time_s`` [s] time since the phase's green began. Signals
        are the signalized nodes in ascending order (:attr:`signal_nodes`).
        """
        xp = gpu.array_namespace(state["vehicles"])
        fixed = control.fixed_display(xp, state, float(state["clock_s"]))
        keys = ("signal_phase", "signal_interval", "signal_interval_s", "signal_phase_time_s")
        on_plan = state["signal_mode"] == control.FIXED_TIME
        return {
            name: xp.where(on_plan, planned, state[key])
            for name, planned, key in zip(
                ("phase", "interval", "interval_s", "phase_time_s"), fixed, keys, strict=True
            )
        }

    # ----------------------------------------------------------------- commands
    def set_signal_plan(
        self,
        state: Mapping,
        node,
        *,
        green_s,
        amber_s=None,
        all_red_s=None,
        offset_s=None,
        cycle_s=None,
    ) -> dict:
        """A new state with the fixed-time plan of signalized ``node`` (int or array)
        replaced.

        Parameters
        ----------
        node : signalized node index or indices.
        green_s : [s] green per phase (scalar for all, or one value per phase).
        amber_s, offset_s : [s] kept from the current plan when None.
        all_red_s : [s] kept when None, unless ``cycle_s`` is given.
        cycle_s : [s] if given, all-red time is set (equally on every phase) so the cycle
            has this length; it must be at least green + amber of all phases.
        """
        rows = self._signal_rows(node)
        n_phases = self.phases.n_phases[rows]
        width = self.phases.width
        cur = {k: gpu.to_host(state[k])[rows] for k in signals.PLAN_KEYS}
        mask = np.arange(width)[None, :] < n_phases[:, None]
        green = _per_phase("green_s", green_s, rows.size, width) * mask
        amber = cur["signal_amber_s"] if amber_s is None else amber_s
        amber = _per_phase("amber_s", amber, rows.size, width) * mask
        if cycle_s is not None:
            spare = np.asarray(cycle_s, dtype=np.float64) - (green + amber).sum(axis=1)
            if np.any(spare < 0):
                raise ValueError(
                    f"cycle_s: {cycle_s} s is shorter than green + amber of all phases"
                )
            all_red = (spare / n_phases)[:, None] * mask
        else:
            all_red = cur["signal_all_red_s"] if all_red_s is None else all_red_s
        offset = cur["signal_offset_s"] if offset_s is None else offset_s
        plan = signals.plan_arrays(rows.size, green, amber, all_red, offset, n_phases)
        return _with_rows(state, rows, plan)

    def set_control(
        self, state: Mapping, node, mode: str, *, min_green_s=None, max_green_s=None,
        passage_s=None,
    ) -> dict:  # fmt: skip
        """A new state with signalized ``node`` (int or array) under control ``mode``.

        Parameters
        ----------
        mode : ``"fixed_time"`` (the plan, from now on), ``"phase_select"`` (holds the
            current phase until :meth:`set_phase` names another) or ``"actuated"``.
        min_green_s, max_green_s : [s] per phase (scalar or one per phase), kept when
            None; minimum green >= 1 s, maximum green >= minimum green.
        passage_s : [s] > 0, actuated passage time, kept when None.

        A node leaving fixed-time control starts from what its plan shows now (in a
        clearance it goes on to the next phase); one returning to it follows its plan
        at once. Amber and all-red of every mode are the plan's
        (:meth:`set_signal_plan`).
        """
        if mode not in control.MODES:
            raise ValueError(f"mode: {mode!r} is not one of {control.MODES}")
        rows = self._signal_rows(node)
        host = {
            k: gpu.to_host(state[k]).copy() for k in (*control.STATE_DOCS, *control.TIMING_KEYS)
        }
        plan = {k: gpu.to_host(state[k]) for k in signals.PLAN_KEYS}
        width = self.phases.width
        for key, value in (
            ("signal_min_green_s", min_green_s),
            ("signal_max_green_s", max_green_s),
        ):
            if value is not None:
                host[key][rows] = _per_phase(key.removeprefix("signal_"), value, rows.size, width)
        if passage_s is not None:
            host["signal_passage_s"][rows] = np.broadcast_to(
                np.asarray(passage_s, float), rows.shape
            )
        _check_timing(host, rows)
        leaving = rows[host["signal_mode"][rows] == control.FIXED_TIME]
        if leaving.size and mode != "fixed_time":
            shown = control.fixed_display(np, plan, float(state["clock_s"]))
            for key, value in zip(
                ("signal_phase", "signal_interval", "signal_interval_s", "signal_phase_time_s"),
                shown,
                strict=True,
            ):
                host[key][leaving] = value[leaving]
            for key in ("signal_gap_s", "signal_carry", "signal_rate"):
                host[key][leaving] = 0.0
        host["signal_mode"][rows] = control.MODES.index(mode)
        if mode == "phase_select":
            host["signal_command"][rows] = -1
        new = _with_rows(state, rows, {k: v[rows] for k, v in host.items()})
        return new | self._control_summary(host)

    def set_phase(self, state: Mapping, node, phase) -> dict:
        """A new state in which the controller of ``node`` (int or array, under
        ``phase_select``) asks for ``phase`` (int or array); the node switches after
        its minimum green, amber and all-red."""
        rows = self._signal_rows(node)
        phases = np.broadcast_to(np.asarray(phase), rows.shape)
        if phases.dtype.kind not in "iu":
            raise ValueError(f"phase: expected phase indices, got {phases.dtype}")
        n_phases = self.phases.n_phases[rows]
        bad = np.flatnonzero((phases < 0) | (phases >= n_phases))
        if bad.size:
            i = bad[0]
            raise ValueError(
                f"phase {phases[i]}: node {self.signal_nodes[rows[i]]} has phases "
                f"0..{n_phases[i] - 1}"
            )
        mode = gpu.to_host(state["signal_mode"])[rows]
        other = np.flatnonzero(mode != control.PHASE_SELECT)
        if other.size:
            i = other[0]
            raise ValueError(
                f"node {self.signal_nodes[rows[i]]}: is under {control.MODES[mode[i]]} control; "
                "set_control(state, node, 'phase_select') first"
            )
        return _with_rows(state, rows, {"signal_command": phases.astype(np.int64)})

    # ---------------------------------------------------------------- internals
    def _signal_rows(self, node) -> np.ndarray:
        """Plan rows of signalized nodes, or a ValueError naming the node."""
        nodes = np.atleast_1d(np.asarray(node))
        if nodes.dtype.kind not in "iu":
            raise ValueError(f"node: expected node indices, got {nodes.dtype}")
        outside = (nodes < 0) | (nodes >= self.network.n_nodes)
        if outside.any():
            raise ValueError(
                f"node {nodes[outside][0]}: not a node index (0..{self.network.n_nodes - 1})"
            )
        rows = self._signal_row[nodes]
        if np.any(rows < 0):
            raise ValueError(f"node {nodes[rows < 0][0]}: is not signalized")
        return rows

    def _control_defaults(self, mode, min_green_s, max_green_s, passage_s) -> dict:
        """Host (signal,) / (signal, phase) control arrays from the constructor's
        arguments, validated."""
        n, width = self.signal_nodes.size, self.phases.width
        modes = mode if isinstance(mode, Mapping) else dict.fromkeys(self.signal_nodes, mode)
        host = {
            "signal_mode": np.zeros(n, np.int64),
            "signal_min_green_s": _per_phase("min_green_s", min_green_s, n, width),
            "signal_max_green_s": _per_phase("max_green_s", max_green_s, n, width),
            "signal_passage_s": np.broadcast_to(np.asarray(passage_s, float), (n,)).copy(),
        }
        for node, name in modes.items():
            if name not in control.MODES:
                raise ValueError(
                    f"signal_control: node {node}: {name!r} is not one of {control.MODES}"
                )
            try:
                row = self._signal_rows(int(node))
            except ValueError as err:
                raise ValueError(f"signal_control: {err}") from None
            host["signal_mode"][row] = control.MODES.index(name)
        _check_timing(host, np.arange(n))
        return host

    def _controller_start(self, plan, defaults, clock_s: float) -> dict:
        """Host controller state at ``clock_s``: what the plans show, no command."""
        n = self.signal_nodes.size
        shown = control.fixed_display(np, plan, clock_s)
        host = dict(defaults) | {
            "signal_phase": shown[0].astype(np.int64),
            "signal_interval": shown[1].astype(np.int64),
            "signal_interval_s": np.asarray(shown[2], np.float64),
            "signal_phase_time_s": np.asarray(shown[3], np.float64),
            "signal_command": np.full(n, -1, np.int64),
        }
        host |= {k: np.zeros(n) for k in ("signal_gap_s", "signal_carry", "signal_rate")}
        return host | self._control_summary(host)

    def _control_summary(self, host) -> dict:
        """The host values the time loop needs without reading the device: how many
        signals are adaptive and their shortest minimum green."""
        adaptive = host["signal_mode"] != control.FIXED_TIME
        used = np.arange(self.phases.width)[None, :] < self.phases.n_phases[:, None]
        greens = host["signal_min_green_s"][adaptive[:, None] & used]
        return {
            "signal_adaptive": np.asarray(int(adaptive.sum())),
            # 0 when none is adaptive (the health check refuses inf in states)
            "signal_min_green_floor_s": np.asarray(float(greens.min()) if greens.size else 0.0),
        }


def _per_phase(name: str, value, n: int, width: int) -> np.ndarray:
    """``value`` broadcast to (n, width) float64, or a ValueError naming ``name``."""
    a = np.asarray(value, dtype=np.float64)
    try:
        return np.broadcast_to(a, (n, width)).copy()
    except ValueError:
        raise ValueError(
            f"{name}: shape {a.shape} does not broadcast to {(n, width)} (per signal node, "
            "and per phase)"
        ) from None


def _check_timing(host, rows) -> None:
    lo, hi = host["signal_min_green_s"][rows], host["signal_max_green_s"][rows]
    passage = host["signal_passage_s"][rows]
    if not np.all(np.isfinite(lo) & (lo >= _MIN_GREEN_FLOOR_S)):
        raise ValueError(f"min_green_s: must be >= {_MIN_GREEN_FLOOR_S} s, got {lo.min()}")
    if not np.all(np.isfinite(hi) & (hi >= lo)):
        raise ValueError("max_green_s: must be finite and >= min_green_s")
    if not np.all(np.isfinite(passage) & (passage > 0)):
        raise ValueError(f"passage_s: must be > 0 [s], got {passage.min()}")


def _with_rows(state: Mapping, rows: np.ndarray, values: Mapping[str, np.ndarray]) -> dict:
    """A new state with the given rows of some (signal, ...) entries replaced."""
    xp = gpu.array_namespace(state["vehicles"])
    new = dict(state)
    index = xp.asarray(rows)
    for key, value in values.items():
        new[key] = state[key].copy()
        new[key][index] = xp.asarray(value)
    return new
