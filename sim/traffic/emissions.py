"""Road traffic emissions of NOx and PM2.5 per link, and their rasterisation onto the grid.

Emission rate of a link = vehicles per second through it x its length x a
speed-dependent emission factor per vehicle-kilometre, for a fleet-average passenger
car. The hot-exhaust factors use the COPERT functional form of the EMEP/EEA
guidebook (2013 edition, chapter 1.A.3.b.i-iv, Tables 3-41 and 3-47) for Euro 4 cars
of 1.4-2.0 l, ``EF(V) = a + b V + c V^2`` [g km-1] with ``V`` in km h-1, valid from 10 to
130 km h-1 (speeds are clamped to that range). The fleet is a mix of diesel and
petrol cars (``diesel_share``, default 0.4, about the share of diesel in Korea's
passenger-car fleet; LPG cars are counted as petrol). PM2.5 adds the non-exhaust
part, EMEP/EEA Tier 2 for passenger cars (chapter 1.A.3.b.vi-vii): tyre wear
0.0107 g km-1 x 0.42 and brake wear 0.0075 g km-1 x 0.39 (PM2.5 mass fractions), each
with its speed correction, and road surface wear 0.015 g km-1 x 0.27.

References
----------
EMEP/EEA air pollutant emission inventory guidebook 2013, 1.A.3.b.i-iv Exhaust
emissions from road transport (Ntziachristos, L., Samaras, Z.), updated 2014;
European Environment Agency, Copenhagen. https://doi.org/10.2800/92722
EMEP/EEA air pollutant emission inventory guidebook 2019, 1.A.3.b.vi-vii Road tyre
and brake wear, road surface wear. https://doi.org/10.2800/293657
Ntziachristos, L., Gkatzoflias, D., Kouridis, C., Samaras, Z. (2009). COPERT: a
European road transport emission inventory model. In Information Technologies in
Environmental Engineering, Springer, 491-504. https://doi.org/10.1007/978-3-540-88351-7_37
"""

from __future__ import annotations

import numpy as np

import gpu

# (a, b, c) of a + b V + c V^2 [g km-1], V [km h-1]; Euro 4, 1.4-2.0 l
_NOX_DIESEL = (1.11, -2.02e-2, 1.48e-4)  # guidebook 2013, Table 3-47
_NOX_PETROL = (1.06e-1, -1.58e-3, 7.1e-6)  # guidebook 2013, Table 3-41
_PM_DIESEL = (4.50e-2, -5.39e-4, 3.48e-6)  # guidebook 2013, Table 3-47
_PM_PETROL = 1.1e-3  # [g km-1], Tier 2 value for Euro 4 petrol cars (no speed form)
_TYRE_PM25 = 0.0107 * 0.42
_BRAKE_PM25 = 0.0075 * 0.39
_ROAD_PM25 = 0.015 * 0.27
_V_MIN, _V_MAX = 10.0, 130.0  # [km h-1] validity of the exhaust functions
# CO2 of a fleet-average passenger car, tank to wheel [kg km-1] (EEA 2019, about)
VEHICLE_CO2_KG_PER_KM = 0.17


def _quadratic(coef, v):
    a, b, c = coef
    return a + v * (b + c * v)


def emission_factors(speed, *, diesel_share: float = 0.4) -> dict:
    """Fleet-average passenger-car emission factors [g km-1 per vehicle].

    Parameters
    ----------
    speed : array [m s-1], space-mean speed (clamped to 10-130 km h-1).
    diesel_share : in [0, 1], share of diesel cars in the fleet.

    Returns
    -------
    ``{"nox": ..., "pm25": ...}`` arrays like ``speed`` [g km-1].
    """
    if not 0.0 <= diesel_share <= 1.0:
        raise ValueError(f"diesel_share: must be in [0, 1], got {diesel_share}")
    xp = gpu.array_namespace(speed)
    v = xp.clip(xp.asarray(speed, dtype=xp.float64) * 3.6, _V_MIN, _V_MAX)
    petrol = 1.0 - diesel_share
    nox = diesel_share * _quadratic(_NOX_DIESEL, v) + petrol * _quadratic(_NOX_PETROL, v)
    exhaust_pm = diesel_share * _quadratic(_PM_DIESEL, v) + petrol * _PM_PETROL
    # guidebook speed corrections: constant below 40 km/h, linear, constant above 90/95
    tyre = xp.where(v < 40, 1.39, xp.where(v <= 90, 1.78 - 0.00974 * v, 0.902))
    brake = xp.where(v < 40, 1.67, xp.where(v <= 95, 2.75 - 0.027 * v, 0.185))
    pm25 = exhaust_pm + _TYRE_PM25 * tyre + _BRAKE_PM25 * brake + _ROAD_PM25
    return {"nox": nox, "pm25": pm25}


def link_emissions(flow, speed, length, *, diesel_share: float = 0.4, check: bool = True) -> dict:
    """NOx and PM2.5 emission rate of each link [kg s-1].

    Parameters
    ----------
    flow : (link,) [veh s-1] vehicles through the link (e.g. leaving it).
    speed : (link,) [m s-1] space-mean speed.
    length : (link,) [m].
    diesel_share : see :func:`emission_factors`.
    check : validate the values (finite, >= 0); the coupled loop passes False for the
        traffic model's own outputs, as the test reads device values on the host.

    Returns
    -------
    ``{"nox": (link,), "pm25": (link,)}`` [kg s-1]: flow x length x factor.
    """
    xp = gpu.array_namespace(flow, speed, length)
    flow, speed, length = (xp.asarray(a, dtype=xp.float64) for a in (flow, speed, length))
    if not flow.shape == speed.shape == length.shape:
        raise ValueError(
            f"flow, speed, length: expected one value per link each, got shapes "
            f"{flow.shape}, {speed.shape}, {length.shape}"
        )
    for name, a in (("flow", flow), ("speed", speed), ("length", length)):
        if check and not bool(xp.all(xp.isfinite(a) & (a >= 0))):
            raise ValueError(f"{name}: must be finite and >= 0")
    vehicle_km_per_s = flow * length / 1000.0
    return {
        k: vehicle_km_per_s * ef / 1000.0  # g -> kg
        for k, ef in emission_factors(speed, diesel_share=diesel_share).items()
    }


def _edges(name: str, centres) -> np.ndarray:
    c = np.asarray(gpu.to_host(centres), dtype=np.float64)
    if c.ndim != 1 or c.size < 2 or not np.all(np.isfinite(c)) or np.any(np.diff(c) <= 0):
        raise ValueError(f"{name}: expected at least 2 finite, strictly ascending cell centres")
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def _crossings(start: np.ndarray, end: np.ndarray, edges: np.ndarray):
    """(link, t) of every grid line strictly between ``start`` and ``end`` of each link."""
    lo, hi = np.minimum(start, end), np.maximum(start, end)
    i_lo = np.searchsorted(edges, lo, side="right")
    count = np.maximum(np.searchsorted(edges, hi, side="left") - i_lo, 0)
    link = np.repeat(np.arange(start.size), count)
    offset = np.arange(link.size) - np.repeat(np.cumsum(count) - count, count)
    edge = edges[i_lo[link] + offset]
    return link, (edge - start[link]) / (end - start)[link]


class LinkRasterizer:
    """Spreads per-link values over the grid cells each straight link crosses.

    Each link's value is split in proportion to the length of link inside each cell,
    so the grid total equals the total of the links that lie inside the grid (parts
    of links outside the grid are dropped). The geometry is computed once on the host;
    applying it is one weighted ``bincount`` on the values' backend.

    Parameters
    ----------
    x0, y0, x1, y1 : (link,) [m] link end points.
    grid_x, grid_y : (nx,), (ny,) [m] cell centres, strictly ascending (row 0 is the
        southern edge).
    """

    def __init__(self, x0, y0, x1, y1, grid_x, grid_y):
        ends = [np.asarray(gpu.to_host(a), dtype=np.float64) for a in (x0, y0, x1, y1)]
        if len({a.shape for a in ends}) != 1 or ends[0].ndim != 1:
            raise ValueError("x0, y0, x1, y1: expected 1-D arrays of one length (one per link)")
        if not all(np.all(np.isfinite(a)) for a in ends):
            raise ValueError("x0, y0, x1, y1: must be finite")
        x0, y0, x1, y1 = ends
        ex, ey = _edges("grid_x", grid_x), _edges("grid_y", grid_y)
        self.shape = (ey.size - 1, ex.size - 1)
        self.n_links = x0.size
        lx, tx = _crossings(x0, x1, ex)
        ly, ty = _crossings(y0, y1, ey)
        ids = np.arange(self.n_links)
        link = np.concatenate([ids, ids, lx, ly])
        t = np.concatenate([np.zeros(self.n_links), np.ones(self.n_links), tx, ty])
        order = np.lexsort((t, link))
        link, t = link[order], t[order]
        same = link[1:] == link[:-1]
        piece, frac = link[:-1][same], np.diff(t)[same]
        mid = 0.5 * (t[1:] + t[:-1])[same]
        ix = np.searchsorted(ex, x0[piece] + mid * (x1 - x0)[piece], side="right") - 1
        iy = np.searchsorted(ey, y0[piece] + mid * (y1 - y0)[piece], side="right") - 1
        keep = (frac > 0) & (ix >= 0) & (ix < self.shape[1]) & (iy >= 0) & (iy < self.shape[0])
        self.link = piece[keep]
        self.cell = iy[keep] * self.shape[1] + ix[keep]
        self.fraction = frac[keep]
        self._device: dict[str, tuple] = {}

    def __call__(self, values):
        """(ny, nx) grid of the per-link ``values`` (same units per cell, e.g. kg s-1)."""
        xp = gpu.array_namespace(values)
        values = xp.asarray(values, dtype=xp.float64)
        if values.shape != (self.n_links,):
            raise ValueError(f"values: expected shape ({self.n_links},), got {values.shape}")
        if xp.__name__ not in self._device:  # geometry moved to the device once
            self._device[xp.__name__] = tuple(
                xp.asarray(a) for a in (self.link, self.fraction, self.cell)
            )
        link, fraction, cell = self._device[xp.__name__]
        grid = gpu.bincount(cell, values[link] * fraction, self.shape[0] * self.shape[1])
        return grid.reshape(self.shape)


def rasterize_links(values, x0, y0, x1, y1, grid_x, grid_y):
    """One-off :class:`LinkRasterizer`: per-link values onto the (ny, nx) grid."""
    return LinkRasterizer(x0, y0, x1, y1, grid_x, grid_y)(values)
