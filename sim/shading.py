"""Shadows cast by buildings and terrain on a height grid.

Two kernels on ``xp`` arrays, both horizon scans along the sun azimuth:

- :func:`shadow_mask` marks every grid cell in shadow for one sun position by comparing the
  surface with shifted copies of itself (one shift per cell stepped towards the sun), the
  raster method of Ratti & Richens (2004).
- :func:`horizon_tangents` computes, once, the horizon of many points (roof samples) in a
  fixed set of azimuth sectors; :func:`shaded_fraction` then answers "is the sun below the
  horizon here" for any sun position in O(points), which is what an hourly energy model
  needs (Dozier et al. 1981 use the same horizon-angle idea for terrain).

Grids follow the city convention: dims ``(y, x)``, cell centres, row 0 the southern edge,
``x`` east and ``y`` north ascending, square cells of ``resolution_m``.

References
----------
Ratti, C. and Richens, P. (2004). Raster analysis of urban form. Environment and Planning B
31(2), 297-309. doi:10.1068/b2665
Dozier, J., Bruno, J. and Downey, P. (1981). A faster solution to the horizon problem.
Computers & Geosciences 7(2), 145-151. doi:10.1016/0098-3004(81)90026-1
"""

from __future__ import annotations

import math

import gpu

# A sample must stand this much above the ray to shade [m], so that equal heights (a flat
# roof seen from itself) never shade through float round-off.
_EPS_M = 1e-6
_CHUNK = 32768  # points per block of the horizon scan: bounds memory, keeps blocks in cache


def _check_grid(surface_m, resolution_m):
    if getattr(surface_m, "ndim", 0) != 2:
        raise ValueError("surface_m must be a 2-D (y, x) height grid")
    if not resolution_m > 0:
        raise ValueError(f"resolution_m must be > 0, got {resolution_m!r}")


def _sun_direction(elevation_deg, azimuth_deg):
    el, az = float(elevation_deg), float(azimuth_deg)
    if not (math.isfinite(el) and math.isfinite(az)):
        raise ValueError("sun elevation and azimuth must be finite")
    return el, math.radians(az)


def shadow_mask(surface_m, resolution_m, elevation_deg, azimuth_deg, *, max_distance_m=None):
    """Grid cells in the shadow of higher cells for one sun position.

    Parameters
    ----------
    surface_m : array (y, x) [m], terrain plus building heights.
    resolution_m : float [m], cell size.
    elevation_deg, azimuth_deg : float [deg], true sun elevation and azimuth (clockwise from
        north).
    max_distance_m : float [m], longest shadow considered (default: as far as the highest
        cell above the lowest can reach, bounded by the grid).

    Returns
    -------
    bool array (y, x): True where the sun is hidden (everywhere when it is below the
    horizon). A lone building of height ``h`` on flat ground shades cells up to
    ``h / tan(elevation)`` away, to within one cell.
    """
    _check_grid(surface_m, resolution_m)
    xp = gpu.array_namespace(surface_m)
    el, az = _sun_direction(elevation_deg, azimuth_deg)
    ny, nx = surface_m.shape
    if el <= 0.0:
        return xp.ones((ny, nx), dtype=bool)
    tan_el = math.tan(math.radians(el))
    relief = float(xp.max(surface_m) - xp.min(surface_m))
    reach = relief / tan_el if max_distance_m is None else min(max_distance_m, relief / tan_el)
    # Step one cell at a time along the axis the sun direction is closest to (Bresenham).
    east, north = math.sin(az), math.cos(az)
    per_step = 1.0 / max(abs(east), abs(north))
    n_steps = min(int(reach / (resolution_m * per_step)), max(nx, ny))
    shaded = xp.zeros((ny, nx), dtype=bool)
    for k in range(1, n_steps + 1):
        di, dj = round(k * per_step * north), round(k * per_step * east)
        if abs(di) >= ny or abs(dj) >= nx:
            break
        rise = resolution_m * math.hypot(di, dj) * tan_el + _EPS_M
        dst = (slice(max(-di, 0), ny - max(di, 0)), slice(max(-dj, 0), nx - max(dj, 0)))
        src = (slice(max(di, 0), ny + min(di, 0)), slice(max(dj, 0), nx + min(dj, 0)))
        shaded[dst] |= surface_m[src] > surface_m[dst] + rise
    return shaded


def horizon_tangents(
    surface_m, x0_m, y0_m, resolution_m, px_m, py_m, pz_m, *, n_sectors=36, max_distance_m=500.0
):
    """Tangent of the horizon elevation seen from points, per azimuth sector.

    Parameters
    ----------
    surface_m : array (y, x) [m], terrain plus building heights.
    x0_m, y0_m : float [m], coordinates of the centre of cell ``[0, 0]``.
    resolution_m : float [m], cell size.
    px_m, py_m, pz_m : arrays (any common shape) [m], point coordinates and heights.
    n_sectors : int, azimuths ``k * 360 / n_sectors`` deg scanned.
    max_distance_m : float [m], scan radius; obstacles farther away are ignored (a 100 m
        tower 500 m away subtends 11 deg).

    Returns
    -------
    float32 array (n_sectors, *points.shape) [1], ``max(0, max_d (H(d) - z) / d)`` over the
    cells met along each azimuth, one sample per ``resolution_m``. Sectors come first so
    that one sector is a contiguous block for :func:`shaded_fraction`.

    Notes
    -----
    Points are snapped to their cell centre, so every point of a sector uses the same integer
    offsets; the grid is padded with -inf so no bounds checks are needed.
    """
    _check_grid(surface_m, resolution_m)
    if n_sectors < 4:
        raise ValueError(f"n_sectors must be >= 4, got {n_sectors}")
    if not max_distance_m > 0:
        raise ValueError(f"max_distance_m must be > 0, got {max_distance_m!r}")
    xp = gpu.array_namespace(surface_m, px_m, py_m, pz_m)
    ny, nx = surface_m.shape
    n_steps = max(int(max_distance_m / resolution_m), 1)
    # Points farther outside than the scan radius are moved to just beyond it (they see no
    # cell either way); a pad of twice that keeps every sample inside the padded array.
    reach = n_steps + 1
    pad = 2 * reach
    width = nx + 2 * pad
    padded = xp.full((ny + 2 * pad, width), -xp.inf, dtype=xp.float32)
    padded[pad : pad + ny, pad : pad + nx] = surface_m
    flat = padded.reshape(-1)
    row = xp.clip(xp.rint((py_m - y0_m) / resolution_m), -reach, ny - 1 + reach)
    col = xp.clip(xp.rint((px_m - x0_m) / resolution_m), -reach, nx - 1 + reach)
    index = xp.int32 if padded.size < 2**31 else xp.int64  # halves the gathers' index traffic
    base = ((row.astype(index) + pad) * width + (col.astype(index) + pad)).reshape(1, -1)
    z = xp.asarray(pz_m, dtype=xp.float32).reshape(1, -1) + _EPS_M
    az = [2.0 * math.pi * s / n_sectors for s in range(n_sectors)]
    offsets = xp.asarray(
        [[round(k * math.cos(a)) * width + round(k * math.sin(a)) for a in az]
         for k in range(1, n_steps + 1)],
        dtype=index,
    )[:, :, None]  # fmt: skip
    inv_dist = [1.0 / (k * resolution_m) for k in range(1, n_steps + 1)]
    # Scanning the points in grid order makes neighbouring gathers hit neighbouring memory.
    order = xp.argsort(base[0])
    base, z = base[:, order], z[:, order]
    scanned = xp.zeros((n_sectors, base.shape[1]), dtype=xp.float32)
    for start in range(0, base.shape[1], _CHUNK):
        chunk = slice(start, start + _CHUNK)
        b, zc, out = base[:, chunk], z[:, chunk], scanned[:, chunk]
        for k in range(n_steps):
            xp.maximum(out, (flat[b + offsets[k]] - zc) * inv_dist[k], out=out)
    best = xp.empty_like(scanned)
    best[:, order] = scanned
    return best.reshape(n_sectors, *px_m.shape)


def shaded_fraction(horizon_tan, elevation_deg, azimuth_deg):
    """Fraction of the points of each building that are in shadow for one sun position.

    Parameters
    ----------
    horizon_tan : array (n_sectors, samples, n) from :func:`horizon_tangents` of points
        shaped (samples, n).
    elevation_deg, azimuth_deg : float [deg], sun position.

    Returns
    -------
    array (n,) [1]: 1 when the sun is below the horizon. The sun azimuth is taken to the
    nearest scanned sector (within 180 / n_sectors deg, 5 deg for 36 sectors), a smaller
    error than the ray sampling itself makes for obstacles a few cells wide.
    """
    xp = gpu.array_namespace(horizon_tan)
    el, az = _sun_direction(elevation_deg, azimuth_deg)
    n_sectors, samples, n = horizon_tan.shape
    if el <= 0.0:
        return xp.ones(n, dtype=xp.float64)
    sector = round((math.degrees(az) % 360.0) / 360.0 * n_sectors) % n_sectors
    hidden = (horizon_tan[sector] > math.tan(math.radians(el))).sum(axis=0)
    return hidden * (1.0 / samples)
