"""Travel demand: zones, an origin-destination matrix and its daily time profile.

A zone is one node where its trips start and end. The OD matrix gives the daily-mean
rate [veh h-1] from each zone to each other zone; the rate at a time of day is that
mean times a dimensionless profile whose daily mean is 1, so the day's trips are
``24 * od.sum()`` whatever the profile's shape.

Sampled demand (:func:`poisson_multiplier`): each hour of a run, the trips of every OD
pair are drawn as a Poisson count around that hour's expected trips (the gravity
matrix times the profile), the count model of independent trip makers behind the
Poisson form of the gravity model (Flowerdew & Aitkin 1982), and released over the
hour with the profile's shape. Draws come from NumPy's PCG64 seeded with (seed, hour),
on the host: a few hundred numbers an hour, the same whatever the array backend, and a
run resumed in the middle of an hour continues with the same draw.

References
----------
Wilson, A. G. (1967). A statistical theory of spatial distribution models.
Transportation Research 1(3), 253-269. https://doi.org/10.1016/0041-1647(67)90035-4
Flowerdew, R., Aitkin, M. (1982). A method of fitting the gravity model based on the
Poisson distribution. Journal of Regional Science 22(2), 191-202.
https://doi.org/10.1111/j.1467-9787.1982.tb00744.x
Ortuzar, J. de D., Willumsen, L. G. (2011). Modelling Transport, 4th ed., Wiley,
ch. 5 (gravity models and the Furness method). https://doi.org/10.1002/9781119993308
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim.traffic.network import format_indices

DAY_S = 86_400.0

# (centre [h], width [h], height): morning and evening commuter peaks on a midday
# plateau and a night floor. The shape follows typical weekday urban counts (peak
# hour about 9 % of the day's traffic, night hours about 1 %); it is a documented
# default, not a fitted curve.
_PEAKS = ((8.0, 1.2, 1.0), (18.0, 1.6, 0.9), (13.0, 3.5, 0.45))
_FLOOR = 0.15


def _profile_shape(hours: np.ndarray) -> np.ndarray:
    shape = np.full(hours.shape, _FLOOR)
    for centre, width, height in _PEAKS:
        # circular distance, so the curve is continuous across midnight
        d = (hours - centre + 12.0) % 24.0 - 12.0
        shape = shape + height * np.exp(-0.5 * (d / width) ** 2)
    return shape


@functools.cache
def _profile_mean() -> float:
    return float(_profile_shape(np.arange(0.0, 24.0, 1.0 / 600.0)).mean())


def daily_profile(time_of_day_s) -> np.ndarray:
    """Default weekday demand profile, dimensionless with a daily mean of 1.

    Peaks near 08:00 (factor about 2.2) and 18:00 (about 2.1), a midday plateau and a
    night floor of about 0.26 from 01:00 to 04:00; the peak hour carries about 9 % of
    the day's trips.

    Parameters
    ----------
    time_of_day_s : array_like [s], seconds since local midnight (any real; taken
        modulo one day).
    """
    hours = (np.asarray(time_of_day_s, dtype=np.float64) % DAY_S) / 3600.0
    return _profile_shape(hours) / _profile_mean()


def flat_profile(time_of_day_s) -> np.ndarray:
    """A constant profile of 1 (steady demand, for tests and benchmarks)."""
    return np.ones_like(np.asarray(time_of_day_s, dtype=np.float64))


@dataclass(frozen=True, eq=False)
class Demand:
    """Zones, their OD matrix and the time profile.

    Parameters
    ----------
    zone_nodes : (zone,) int, the node of each zone (distinct).
    od_veh_per_h : (zone, zone) [veh h-1], daily-mean rate from origin zone (row) to
        destination zone (column); >= 0, zero diagonal (trips within a zone do not use
        the network).
    profile : callable mapping seconds since local midnight (array) to the
        dimensionless factor (array, daily mean 1 for the OD matrix to mean daily
        rates); default :func:`daily_profile`.
    """

    zone_nodes: np.ndarray
    od_veh_per_h: np.ndarray
    profile: Callable[[np.ndarray], np.ndarray] = field(default=daily_profile)

    def __post_init__(self):
        zones = np.asarray(self.zone_nodes)
        if zones.ndim != 1 or zones.size == 0:
            raise ValueError(f"zone_nodes: expected a non-empty 1-D array, got shape {zones.shape}")
        whole = zones.dtype.kind in "iu" or (
            zones.dtype.kind == "f" and np.all(zones == np.round(zones))
        )
        if not whole:
            raise ValueError("zone_nodes: must be whole node indices")
        zones = zones.astype(np.int64)
        neg = np.flatnonzero(zones < 0)
        if neg.size:
            raise ValueError(f"zone {format_indices(neg)}: zone_nodes must be node indices >= 0")
        uniq, counts = np.unique(zones, return_counts=True)
        if np.any(counts > 1):
            dup = uniq[counts > 1]
            raise ValueError(
                f"zone_nodes: node {format_indices(dup)} is used by more than one zone"
            )
        od = np.asarray(self.od_veh_per_h, dtype=np.float64)
        z = zones.size
        if od.shape != (z, z):
            raise ValueError(
                f"od_veh_per_h: expected shape ({z}, {z}) for {z} zones, got {od.shape}"
            )
        for rule, ok in (("not finite", np.isfinite(od)), ("negative", ~(od < 0))):
            if not ok.all():
                o, d = np.argwhere(~ok)[0]
                raise ValueError(f"od_veh_per_h: entry (origin {o}, destination {d}) is {rule}")
        diag = np.flatnonzero(np.diag(od) != 0)
        if diag.size:
            raise ValueError(
                f"od_veh_per_h: zone {format_indices(diag)} has trips to itself; "
                "the diagonal must be 0"
            )
        if not callable(self.profile):
            raise ValueError("profile: expected a callable of time_of_day_s")
        object.__setattr__(self, "zone_nodes", zones)
        object.__setattr__(self, "od_veh_per_h", od)

    @property
    def n_zones(self) -> int:
        return self.zone_nodes.shape[0]

    def factor(self, time_of_day_s) -> np.ndarray:
        """The profile at the given times, checked to be finite and >= 0."""
        t = np.asarray(time_of_day_s, dtype=np.float64)
        f = np.broadcast_to(np.asarray(self.profile(t), dtype=np.float64), t.shape)
        if not np.all(np.isfinite(f) & (f >= 0)):
            raise ValueError("profile: returned a negative or non-finite factor")
        return f


DEMAND_NOISE = ("none", "poisson")


def poisson_multiplier(expected_trips, seed: int, hour: int) -> np.ndarray:
    """Drawn over expected trips of one hour, per OD pair (1 where none are expected).

    Parameters
    ----------
    expected_trips : (zone, zone) [veh] expected trips of the hour, >= 0.
    seed : >= 0, the run's demand seed.
    hour : >= 0, the hour of the run (its index from the start).

    Returns
    -------
    (zone, zone) float64 ``N / expected`` with ``N ~ Poisson(expected)`` drawn by
    ``numpy.random.Generator(PCG64(SeedSequence([seed, hour])))``; its mean is 1, so
    the expected demand is the deterministic one.
    """
    if seed < 0 or hour < 0:
        raise ValueError(f"seed and hour must be >= 0, got seed={seed}, hour={hour}")
    lam = np.asarray(expected_trips, dtype=np.float64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(hour)])))
    drawn = rng.poisson(lam).astype(np.float64)
    return np.divide(drawn, lam, out=np.ones_like(lam), where=lam > 0)


def needs_draw(st: dict, clock_s: float) -> bool:
    """Whether :func:`draw_hour` at model clock ``clock_s`` draws a new hour (host
    values only)."""
    return math.floor(clock_s / 3600.0 + 1e-9) != int(st["demand_hour"])


def draw_hour(xp, st: dict, demand: Demand, clock_s: float, time_of_day_s: float,
              scale: float, seed: int) -> None:  # fmt: skip
    """Draw the demand of the run's hour at model clock ``clock_s`` unless drawn already.

    Sets ``st["demand_multiplier"]`` ((destination, origin), one host-to-device copy of
    :func:`poisson_multiplier` of the hour's expected trips, the profile averaged over
    the hour on a one-minute grid and scaled by ``scale``) and ``st["demand_hour"]``.
    ``time_of_day_s`` [s] is the time of day at ``clock_s``.
    """
    if not needs_draw(st, clock_s):
        return
    hour = math.floor(clock_s / 3600.0 + 1e-9)
    start = time_of_day_s + hour * 3600.0 - clock_s  # time of day at the hour's start
    mean = float(demand.factor((start + 60.0 * (np.arange(60) + 0.5)) % DAY_S).mean())
    drawn = poisson_multiplier(demand.od_veh_per_h * (mean * scale), seed, hour)
    st["demand_multiplier"] = xp.asarray(np.ascontiguousarray(drawn.T))
    st["demand_hour"] = np.asarray(hour)


def gravity_od(
    zone_population,
    zone_xy_m,
    total_trips_per_day: float,
    *,
    beta_per_km: float = 0.1,
    tol: float = 1e-10,
    max_iter: int = 500,
) -> np.ndarray:
    """A doubly constrained gravity OD matrix from zone populations [veh h-1].

    Trips produced by and attracted to each zone are proportional to its population;
    their spread follows the exponential deterrence ``exp(-beta d)`` of the straight-line
    distance ``d`` between zone points, balanced by the Furness (iterative proportional
    fitting) method. The result is a daily-mean hourly rate whose sum over the day
    (``24 * od.sum()``) is ``total_trips_per_day``, ready for :class:`Demand`.

    Parameters
    ----------
    zone_population : (zone,) >= 0, at least two zones with people; no zone may hold
        half or more of the population (it could not send its share elsewhere).
    zone_xy_m : (zone, 2) [m] zone points (e.g. district centroids).
    total_trips_per_day : [veh day-1] > 0.
    beta_per_km : [km-1] deterrence; 0.1 gives trips of roughly 10 km at the scale of
        a city like Gwangju.
    tol, max_iter : Furness stopping rule (largest relative row/column mismatch).

    Returns
    -------
    (zone, zone) [veh h-1] with a zero diagonal.

    References
    ----------
    Wilson (1967); Ortuzar & Willumsen (2011), section 5.2 (see the module docstring).
    """
    pop = np.asarray(zone_population, dtype=np.float64)
    if pop.ndim != 1 or pop.size < 2:
        raise ValueError(f"zone_population: expected at least 2 zones, got shape {pop.shape}")
    if not np.all(np.isfinite(pop) & (pop >= 0)) or pop.sum() <= 0:
        raise ValueError("zone_population: must be finite, >= 0 and not all zero")
    xy = np.asarray(zone_xy_m, dtype=np.float64)
    if xy.shape != (pop.size, 2) or not np.all(np.isfinite(xy)):
        raise ValueError(f"zone_xy_m: expected finite shape ({pop.size}, 2), got {xy.shape}")
    if not (np.isfinite(total_trips_per_day) and total_trips_per_day > 0):
        raise ValueError(f"total_trips_per_day: must be > 0, got {total_trips_per_day}")
    if not (np.isfinite(beta_per_km) and beta_per_km >= 0):
        raise ValueError(f"beta_per_km: must be >= 0, got {beta_per_km}")
    share = pop / pop.sum()
    big = np.flatnonzero(share >= 0.5)
    if big.size:
        raise ValueError(f"zone {format_indices(big)}: holds half or more of the population")
    dist_km = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) / 1000.0
    trips = np.outer(share, share) * np.exp(-beta_per_km * dist_km)
    np.fill_diagonal(trips, 0.0)
    for _ in range(max_iter):
        rows = trips.sum(axis=1)
        trips *= np.divide(share, rows, out=np.zeros_like(rows), where=rows > 0)[:, None]
        cols = trips.sum(axis=0)
        trips *= np.divide(share, cols, out=np.zeros_like(cols), where=cols > 0)[None, :]
        mismatch = np.abs(trips.sum(axis=1) - share).max() / share.max()
        if mismatch < tol:
            break
    return trips / trips.sum() * (total_trips_per_day / 24.0)
