"""The aircraft: flight times and battery energy along a route (host, at route set-up).

Power follows the eVTOL model of Kasliwal et al. (2019): hover and vertical flight from
actuator-disk momentum theory, ``P_hover = W^1.5 / (FM sqrt(2 rho A))``, plus
``W v_z`` when climbing; wing-borne cruise ``P = W v / (L/D)`` plus ``W v_z`` on a
climbing leg; every mechanical power divided by the powertrain efficiency ``eta``
(battery to shaft). Descent recovers nothing. Parameters are those of a four- or
five-seat lift+cruise air taxi of the size that study assumes (mass 2,200 kg, lift to
drag 15, cruise 50 m/s); they are plain fields, so a scenario may set its own.

A route is a polyline from pad to pad: a vertical climb, the legs over the route
lattice (cruise at ``cruise_speed_mps`` over the ground; a leg with no horizontal
part is flown vertically) and a vertical descent to the pad. :func:`timetable` gives
the time and energy at each point.

References
----------
Kasliwal, A., Furbush, N. J., Gawron, J. H., McBride, J. R., Wallington, T. J.,
    De Kleine, R. D., Kim, H. C., Keoleian, G. A. (2019). Role of flying cars in
    sustainable mobility. Nature Communications 10, 1555. doi:10.1038/s41467-019-09426-0
Leishman, J. G. (2006). Principles of Helicopter Aerodynamics, 2nd ed., ch. 2 (momentum
    theory, figure of merit). Cambridge University Press.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

G = 9.80665  # [m s-2]
AIR_DENSITY = 1.225  # [kg m-3] ISA sea level


@dataclass(frozen=True)
class Aircraft:
    """A lift+cruise eVTOL (see the module docstring); SI units in the field names."""

    mass_kg: float = 2200.0
    disk_area_m2: float = 40.0
    figure_of_merit: float = 0.7
    lift_to_drag: float = 15.0
    efficiency: float = 0.85
    cruise_speed_mps: float = 50.0
    climb_speed_mps: float = 2.5
    descent_speed_mps: float = 2.0

    @property
    def weight_n(self) -> float:
        return self.mass_kg * G

    @property
    def hover_power_w(self) -> float:
        """[W] battery power to hover."""
        w = self.weight_n
        induced = w**1.5 / (self.figure_of_merit * math.sqrt(2 * AIR_DENSITY * self.disk_area_m2))
        return induced / self.efficiency

    @property
    def cruise_power_w(self) -> float:
        """[W] battery power in level cruise."""
        return self.weight_n * self.cruise_speed_mps / self.lift_to_drag / self.efficiency


def timetable(points: np.ndarray, aircraft: Aircraft) -> tuple[np.ndarray, np.ndarray]:
    """Time [s] and battery energy [J] at each point of a route, from 0 at the first.

    Parameters
    ----------
    points : (k, 3) [m] the route's x, y, z.
    """
    a = aircraft
    d = np.diff(points, axis=0)
    horizontal = np.hypot(d[:, 0], d[:, 1])
    rise = d[:, 2]
    vertical = horizontal < 1.0
    dt = np.where(
        vertical,
        np.where(rise > 0, rise / a.climb_speed_mps, -rise / a.descent_speed_mps),
        horizontal / a.cruise_speed_mps,
    )
    climb_w = a.weight_n * np.maximum(rise, 0.0) / np.maximum(dt, 1e-9) / a.efficiency
    power = np.where(vertical, a.hover_power_w, a.cruise_power_w) + climb_w
    zero = np.zeros(1)
    return np.concatenate([zero, np.cumsum(dt)]), np.concatenate([zero, np.cumsum(power * dt)])


def route_tables(polylines, pairs, n_points: int, aircraft: Aircraft) -> dict:
    """Route tables of ``{pair: (k, 3) points}`` in ``pairs`` order, each padded to
    ``n_points``: ``tables`` x, y, z [m], t [s], e [J] and s (distance [m]) per point,
    and ``fix``, the point where the final descent begins. Past its last point a route
    stays there (padding times 1e9 s apart keep a time lookup in range); a pair without
    a polyline gets zeros.
    """
    n, p = len(pairs), n_points
    tables = {k: np.zeros((n, p)) for k in ("x", "y", "z", "t", "e", "s")}
    fix = np.zeros(n, dtype=np.int64)
    for i, pair in enumerate(pairs):
        if pair not in polylines:
            continue
        points = polylines[pair]
        k = len(points)
        if k > p:
            raise ValueError(f"route {pair} has {k} points; max_route_points is {p} (raise it)")
        t, e = timetable(points, aircraft)
        s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
        for key, values in zip("xyz", points.T, strict=True):
            tables[key][i] = np.r_[values, np.full(p - k, values[-1])]
        tables["t"][i] = np.r_[t, t[-1] + 1e9 * np.arange(1, p - k + 1)]
        tables["e"][i] = np.r_[e, np.full(p - k, e[-1])]
        tables["s"][i] = np.r_[s, np.full(p - k, s[-1])]
        fix[i] = k - 2
    return {"tables": tables, "fix": fix}
