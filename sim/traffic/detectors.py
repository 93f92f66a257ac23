"""Loop detectors: counts, occupancy and speed at a point of a link, from the CTM cells.

A detector sits on a link at a setback upstream of the link's downstream end (the
stop line). Each sub-step it adds

* the vehicles crossing its point: in a cell the cumulative count varies linearly
  between the cell's upstream and downstream faces (Newell's cumulative curves), so the
  count at a point a fraction ``f`` into the cell is ``(1 - f)`` times the inflow plus
  ``f`` times the outflow;
* occupancy: the share of time a loop is covered, ``k L_eff`` with ``k`` the per-lane
  density of the cell and ``L_eff`` the effective vehicle length (vehicle plus loop),
  capped at 1;
* the cell's distance driven and time spent (Edie's definitions, as the link speed),
  whose ratio is the space-mean speed under the detector.

Sums run over an aggregation interval on the model clock; at its end they are latched
into the reported values and restarted, so outputs always describe the last complete
interval, as a detector station's counts do. Queue lengths come from the link's cells
(:func:`sim.traffic.loading.queue_length`).

References
----------
Edie, L. C. (1963). Discussion of traffic stream measurements and definitions. Proc.
2nd International Symposium on the Theory of Traffic Flow, Paris, 139-154.
Hall, F. L., Persaud, B. N. (1989). Evaluation of speed estimates made with
single-detector data from freeway traffic management systems. Transportation Research
Record 1232, 9-16 (occupancy and effective vehicle length).
Newell, G. F. (1993). A simplified theory of kinematic waves in highway traffic, part I.
Transportation Research Part B 27(4), 281-287.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import gpu
from sim.protocol import Var
from sim.traffic.loading import Cells
from sim.traffic.network import Network, format_indices

SETBACK_M = 50.0  # default distance of a detector upstream of its link's stop line [m]
EFFECTIVE_LENGTH_M = 6.5  # vehicle (4.5 m) plus loop (2 m): the HCM / FHWA typical [m]
ACCUMULATORS = ("count", "occupancy_s", "distance_m", "time_s")

# the model's state entries for detectors (all restart entries)
STATE: dict[str, Var] = {
    "detector_acc_count": Var(("detector",), "float64", "1", "vehicles over, this interval"),
    "detector_acc_occupancy_s": Var(("detector",), "float64", "s", "occupied time, this interval"),
    "detector_acc_distance_m": Var(("detector",), "float64", "m", "distance driven in the cell"),
    "detector_acc_time_s": Var(("detector",), "float64", "s", "vehicle time in the cell [veh s]"),
    "detector_count": Var(("detector",), "float64", "1", "vehicles over, last interval"),
    "detector_occupancy": Var(("detector",), "float64", "1", "occupancy, last interval"),
    "detector_speed": Var(("detector",), "float64", "m s-1", "speed, last interval"),
    "detector_next_s": Var((), "float64", "s", "clock of the next interval end", host=True),
    "detector_last_s": Var((), "float64", "s", "clock of the last interval end", host=True),
}


@dataclass(frozen=True, eq=False)
class Detectors:
    """Where the loop detectors are and how they measure (host NumPy).

    Parameters
    ----------
    link : (detector,) link of each detector.
    setback_m : (detector,) [m] distance upstream of the link's downstream end; a
        setback longer than the link puts the detector at its upstream end.
    interval_s : [s] aggregation interval (> 0).
    effective_length_m : [m] vehicle plus loop length, for occupancy (> 0).
    """

    link: np.ndarray
    setback_m: np.ndarray
    interval_s: float = 60.0
    effective_length_m: float = EFFECTIVE_LENGTH_M

    def __post_init__(self):
        link = np.atleast_1d(np.asarray(self.link))
        setback = np.broadcast_to(np.asarray(self.setback_m, dtype=np.float64), link.shape)
        if link.ndim != 1 or (link.size and link.dtype.kind not in "iu"):
            raise ValueError(f"detectors: link must be a 1-D array of link indices, got {link!r}")
        bad = np.flatnonzero(~np.isfinite(setback) | (setback < 0))
        if bad.size:
            raise ValueError(
                f"detector {format_indices(bad)}: setback_m must be finite and >= 0 [m] "
                f"(got {setback[bad[0]]})"
            )
        for name in ("interval_s", "effective_length_m"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"detectors: {name} must be > 0, got {value}")
        object.__setattr__(self, "link", link.astype(np.int64))
        object.__setattr__(self, "setback_m", setback.copy())

    @property
    def n(self) -> int:
        return self.link.shape[0]


def place(network: Network, cells: Cells, det: Detectors) -> dict[str, np.ndarray]:
    """Host tables of each detector: its link and cell, its fraction into the cell, the
    occupancy factor ``L_eff / (cell length * lanes)`` and the link's free speed."""
    bad = np.flatnonzero((det.link < 0) | (det.link >= network.n_links))
    if bad.size:
        raise ValueError(
            f"detector {format_indices(bad)}: link {det.link[bad[0]]} is not a link index "
            f"(0..{network.n_links - 1})"
        )
    link = det.link
    length = network.length[link]
    x = np.clip(length - det.setback_m, 0.0, length)  # from the upstream end
    per = cells.per_link[link]
    cell_len = length / per
    k = np.minimum(np.floor(x / cell_len), per - 1)
    return {
        "link": link,
        "cell": (cells.first[link] + k).astype(np.int64),
        "frac": x / cell_len - k,
        "occupancy_per_veh": det.effective_length_m / (cell_len * network.lanes[link]),
        "cell_length": cell_len,
        "free_speed": network.free_speed[link],
    }


def accumulate(xp, st: dict, table: dict[str, Any], inflow, outflow, vehicles, h_s: float):
    """Add one sub-step to the running sums (the sums are replaced by new arrays).

    ``inflow``/``outflow`` (cell + 1,) vehicles through each cell's upstream and
    downstream face in the sub-step; ``vehicles`` (cell + 1,) after it.
    """
    c = table["cell"]
    keys = [f"detector_acc_{k}" for k in ACCUMULATORS]
    sums = _add_substep(
        *(st[k] for k in keys), inflow[c], outflow[c], vehicles[c], table["frac"],
        table["occupancy_per_veh"], table["cell_length"], h_s,
    )  # fmt: skip
    st |= dict(zip(keys, sums, strict=True))


@gpu.fuse
def _add_substep(xp, count, occupancy_s, distance_m, time_s, inflow, out, n, f,
                 occupancy_per_veh, cell_length, h_s):  # fmt: skip
    """The four running sums after one sub-step (one fused kernel on CuPy)."""
    return (
        count + ((1.0 - f) * inflow + f * out),
        occupancy_s + xp.minimum(n * occupancy_per_veh, 1.0) * h_s,
        distance_m + out * cell_length,
        time_s + n * h_s,
    )


def latch_due(st: dict, t_end_s: float) -> bool:
    """Whether an aggregation interval ends with the sub-step ending at ``t_end_s``
    (host values only)."""
    return t_end_s >= float(st["detector_next_s"]) - 1e-9


def latch(xp, st: dict, table: dict[str, Any], t_end_s: float, interval_s: float) -> None:
    """At a sub-step ending at ``t_end_s`` (host clock): if an interval ends, report
    its values and restart the sums (host-known decision, no synchronisation)."""
    if not latch_due(st, t_end_s):
        return
    next_s = float(st["detector_next_s"])
    span_s = t_end_s - float(st["detector_last_s"])
    time_s = st["detector_acc_time_s"]
    speed = xp.where(
        time_s > 1e-9, st["detector_acc_distance_m"] / xp.maximum(time_s, 1e-9), table["free_speed"]
    )
    st["detector_count"] = st["detector_acc_count"].copy()
    st["detector_occupancy"] = st["detector_acc_occupancy_s"] / span_s
    st["detector_speed"] = xp.minimum(speed, table["free_speed"])
    for key in ACCUMULATORS:
        st[f"detector_acc_{key}"][...] = 0.0
    st["detector_last_s"] = np.asarray(t_end_s)
    st["detector_next_s"] = np.asarray(
        next_s + interval_s * math.floor((t_end_s - next_s) / interval_s + 1 + 1e-9)
    )
