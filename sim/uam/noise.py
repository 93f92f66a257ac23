"""Aircraft noise on the ground: sound exposure of moving point sources, ISO 9613-2.

A flying aircraft is an omnidirectional point source of A-weighted sound power level
``L_WA``. At a receiver at distance ``r`` [m] the level is (ISO 9613-2, eqs. 3, 7, 8)

    L_p = L_WA - 20 log10(r / 1 m) - 11 dB - alpha r,

geometric divergence plus atmospheric absorption; ground, barrier and meteorological
terms are left out (an elevated source over mixed ground). ``alpha`` is the
absorption at 500 Hz, 10 degC and 70 % relative humidity (ISO 9613-2 table 2:
1.9 dB/km), the band the standard uses for estimates of A-weighted levels (its 7.3).

The sound exposure of a receiver while the source flies a straight segment at constant
speed has a closed form in the angle ``theta`` seen from the receiver: with ``b`` the
distance to the segment's line and ``u = b tan(theta)`` along it, ``du / r^2 =
dtheta / b``, so

    E = 10^((L_WA - 11) / 10) dt / (L b) int exp(-k b / cos(theta)) dtheta,

``k = alpha ln(10) / 10``: exactly ``dt (theta_1 - theta_0) / (L b)`` without
absorption, and a smooth integrand for Gauss-Legendre quadrature with it. A hovering
source (``L = 0``) gives ``E = 10^(...) dt exp(-k r) / r^2``. ``SEL = 10 log10(E / 1 s)``.

Source level: ``L_WA = 111 dB(A)`` in cruise reproduces the 45.2 dB(A) maximum level
reported for a Joby eVTOL flying over at 1,640 ft (500 m) and about 100 kn in NASA's
2022 acoustic flight tests (Joby Aviation news release, Sept. 2022) under the
propagation above; hover and vertical flight are louder (``hover_excess_db``, 5 dB:
the same source's reported 65 dB(A) at 100 m at take-off gives about 116 dB(A)).

References
----------
ISO 9613-2:1996. Acoustics - Attenuation of sound during propagation outdoors - Part 2:
    General method of calculation. International Organization for Standardization.
European Parliament (2002). Directive 2002/49/EC (Environmental Noise Directive),
    Annex I: the day-evening-night level L_den (day 07-19, evening 19-23 with +5 dB,
    night 23-07 with +10 dB) at 4 m above the ground.
"""

from __future__ import annotations

import math

import numpy as np

ABSORPTION_DB_PER_M = 1.9e-3  # ISO 9613-2 table 2, 500 Hz, 10 degC, 70 % RH
SOURCE_LEVEL_DBA = 111.0  # cruise L_WA (see the module docstring)
HOVER_EXCESS_DB = 5.0
RECEIVER_HEIGHT_M = 4.0  # Directive 2002/49/EC assessment height
DIVERGENCE_DB = 11.0  # ISO 9613-2 eq. 7: 10 log10(4 pi)
_NODES, _WEIGHTS = (v.tolist() for v in np.polynomial.legendre.leggauss(4))
_MIN_DISTANCE_M = 1.0


def period_weight(local_hour: float) -> float:
    """Weight of sound energy at ``local_hour`` in L_den: 1 by day (07-19), 10^0.5 in the
    evening (19-23), 10 at night (23-07)."""
    h = local_hour % 24.0
    if 7.0 <= h < 19.0:
        return 1.0
    return 10.0**0.5 if 19.0 <= h < 23.0 else 10.0


def segment_exposure(p0, p1, duration_s, receivers, xp, absorption_db_per_m=ABSORPTION_DB_PER_M):
    """Sound exposure of receivers from sources flying straight segments, relative to
    ``10^((L_WA - 11) / 10)`` [s m-2].

    Parameters
    ----------
    p0, p1 : (k, 3) [m] start and end of each source's segment.
    duration_s : [s] time to fly a segment (all alike).
    receivers : (n, 3) [m] receiver positions, or (k, n, 3): each source's own.

    Returns
    -------
    (k, n) exposure; multiply by ``10^((L_WA - 11) / 10)`` for Pa^2 s / (20 uPa)^2.
    """
    k = absorption_db_per_m * math.log(10.0) / 10.0
    d = [p1[:, i] - p0[:, i] for i in range(3)]
    length = xp.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
    moving = length > 0.5
    safe = xp.where(moving, length, 1.0)
    # components one by one: (k, n) arrays, no small trailing axis to reduce over
    w = [(receivers[..., i] if receivers.ndim == 3 else receivers[None, :, i]) - p0[:, i, None]
         for i in range(3)]  # fmt: skip
    r2 = w[0] * w[0] + w[1] * w[1] + w[2] * w[2]
    u = (w[0] * d[0][:, None] + w[1] * d[1][:, None] + w[2] * d[2][:, None]) / safe[:, None]
    b = xp.sqrt(xp.maximum(r2 - u * u, 0.0) + _MIN_DISTANCE_M**2)
    theta0 = xp.arctan2(-u, b)
    half = (xp.arctan2(length[:, None] - u, b) - theta0) / 2
    mid = theta0 + half
    kb = -k * b
    integral = xp.zeros_like(b)
    for node, weight in zip(_NODES, _WEIGHTS, strict=True):
        integral = integral + weight * xp.exp(kb / xp.cos(mid + half * node))
    flying = duration_s * half * integral / (safe[:, None] * b)
    r = xp.sqrt(xp.maximum(r2, _MIN_DISTANCE_M**2))
    hovering = duration_s * xp.exp(-k * r) / r2.clip(_MIN_DISTANCE_M**2)
    return xp.where(moving[:, None], flying, hovering)


def level_db(exposure, seconds: float, source_level_dba: float = SOURCE_LEVEL_DBA, xp=np):
    """Equivalent level [dB(A)] of a relative exposure over ``seconds`` (0 below 0 dB)."""
    scale = 10.0 ** ((source_level_dba - DIVERGENCE_DB) / 10.0) / max(seconds, 1e-9)
    return 10.0 * xp.log10(xp.maximum(exposure * scale, 1.0))


def person_level_db(levels_db, people) -> float:
    """[dB(A)] the energy mean over residents of levels at their homes (nan if nobody)."""
    total = float(np.sum(people))
    if not total > 0:
        return math.nan
    return 10.0 * math.log10(float(np.sum(people * 10.0 ** (levels_db / 10.0))) / total)


def line_sel(speed_mps: float, distance_m: float, source_level_dba: float = SOURCE_LEVEL_DBA):
    """[dB(A)] SEL of a source flying an infinite straight line at ``distance_m``,
    without absorption: ``L_WA - 11 + 10 log10(pi / (v d))`` (``int dt / r^2 = pi /
    (v d)``)."""
    return source_level_dba - DIVERGENCE_DB + 10.0 * math.log10(math.pi / (speed_mps * distance_m))
