"""Sun position, clear-sky irradiance and irradiance on tilted surfaces.

Everything heavy runs on the ``xp`` namespace (NumPy or CuPy); only the conversion of
timestamps to day numbers happens on the host, because datetimes do not exist on a GPU.

References
----------
Reda, I. and Andreas, A. (2004). Solar position algorithm for solar radiation
applications. Solar Energy 76(5), 577-589. doi:10.1016/j.solener.2003.12.003
Espenak, F. and Meeus, J. (2006). Five Millennium Canon of Solar Eclipses: -1999 to +3000.
NASA/TP-2006-214141 (polynomial expressions for Delta T).
Ineichen, P. and Perez, R. (2002). A new airmass independent formulation for the Linke
turbidity coefficient. Solar Energy 73(3), 151-157. doi:10.1016/S0038-092X(02)00045-2
Remund, J., Wald, L., Lefevre, M., Ranchin, T. and Page, J. (2003). Worldwide Linke
turbidity information. Proc. ISES Solar World Congress, Goteborg.
Kasten, F. and Young, A. T. (1989). Revised optical air mass tables and approximation
formula. Applied Optics 28(22), 4735-4738. doi:10.1364/AO.28.004735
Spencer, J. W. (1971). Fourier series representation of the position of the sun.
Search 2(5), 172.
Liu, B. Y. H. and Jordan, R. C. (1963). The long-term average performance of flat-plate
solar-energy collectors. Solar Energy 7(2), 53-74. doi:10.1016/0038-092X(63)90006-9
Hay, J. E. and Davies, J. A. (1980). Calculation of the solar radiation incident on an
inclined surface. Proc. First Canadian Solar Radiation Data Workshop, 59-72.
"""

from __future__ import annotations

import datetime as _dt
import functools
from types import ModuleType
from typing import Any

import numpy as np

import gpu
from sim import _spa_terms as terms

SOLAR_CONSTANT = 1366.1  # W m-2, the value used with Spencer's (1971) distance series
_J2000_UNIX_DAYS = 10957.5  # 2000-01-01T12:00 (JD 2451545.0) in days since 1970-01-01
_DELTA_T_YEARS = (1900, 2150)  # years covered by the Delta T polynomials below
_SMALL_TERM = 1000.0  # 1e-5 rad (AU) in the 1e-8 units of the SPA tables
# Mean obliquity of the ecliptic [arcsec], polynomial in JME / 10 (SPA eq. 24, Laskar 1986).
_OBLIQUITY_ARCSEC = (84381.448, -4680.93, -1.55, 1999.25, -51.38, -249.67, -39.05, 7.12, 27.87,
                     5.79, 2.45)  # fmt: skip
_BLOCK = 8192  # times per block of the periodic series: keeps the (terms x times) table in cache


# --------------------------------------------------------------------------- times


def unix_seconds(times_utc: Any) -> np.ndarray:
    """Seconds since 1970-01-01T00:00 UTC (float64, on the host) of explicit-UTC times.

    Parameters
    ----------
    times_utc : NumPy ``datetime64`` scalar or array (taken as UTC), timezone-aware
        :class:`datetime.datetime` or pandas timestamps (converted to UTC), or ISO 8601
        strings that carry an offset (``...Z``, ``...+09:00``). Naive datetimes and strings
        without an offset are ambiguous and raise :class:`ValueError`.
    """
    is_numpy = isinstance(times_utc, np.ndarray | np.datetime64)
    if is_numpy and np.asarray(times_utc).dtype.kind == "M":
        arr = np.asarray(times_utc)
    elif getattr(times_utc, "tz", None) is not None and hasattr(times_utc, "tz_convert"):
        arr = np.asarray(times_utc.tz_convert("UTC").tz_localize(None), dtype="datetime64[ns]")
    else:
        items = np.asarray(times_utc, dtype=object)
        arr = np.array([_one_utc(t) for t in items.ravel()], dtype="datetime64[us]")
        arr = arr.reshape(items.shape)
    if np.isnat(arr).any():
        raise ValueError("times_utc contains NaT (missing times); every time must be set")
    return arr.astype("datetime64[us]").astype(np.int64) / 1e6


def _one_utc(t: Any) -> np.datetime64:
    if isinstance(t, np.datetime64):
        return t
    if isinstance(t, str):
        try:
            t = _dt.datetime.fromisoformat(t)
        except ValueError as err:
            raise ValueError(f"times_utc: cannot parse {t!r} as an ISO 8601 time") from err
    if not isinstance(t, _dt.datetime):
        raise ValueError(
            "times_utc must be numpy datetime64 (UTC) or timezone-aware datetimes, "
            f"got {type(t).__name__} {t!r}"
        )
    if t.utcoffset() is None:
        raise ValueError(
            f"times_utc: {t!r} is naive (no timezone); give numpy datetime64 in UTC or an "
            "aware datetime such as datetime(..., tzinfo=timezone.utc)"
        )
    return np.datetime64(t.astimezone(_dt.UTC).replace(tzinfo=None), "us")


def day_of_year(times_utc: Any) -> np.ndarray:
    """Day of the year (1 on 1 January, UTC) of explicit-UTC times, as float64 on the host."""
    dates = (unix_seconds(times_utc) * 1e6).astype("datetime64[us]").astype("datetime64[D]")
    return (dates - dates.astype("datetime64[Y]")).astype(np.int64) + 1.0


def delta_t_seconds(times_utc: Any) -> np.ndarray:
    """Delta T = TT - UT [s] from the Espenak & Meeus (2006) polynomials, 1900-2149.

    The sun moves about 0.0025 deg along the ecliptic per minute of Delta T error, so the
    seconds-level uncertainty of these fits does not matter for the position.
    """
    return _delta_t(unix_seconds(times_utc))


def _delta_t(seconds: np.ndarray) -> np.ndarray:
    dates = (seconds * 1e6).astype("datetime64[us]")
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    if np.any((year < _DELTA_T_YEARS[0]) | (year >= _DELTA_T_YEARS[1])):
        raise ValueError(
            "times_utc: Delta T is modelled for 1900-2149 only; pass delta_t_s explicitly "
            "for times outside that range"
        )
    y = year + (month - 0.5) / 12
    u = y - 2000
    conditions = [year < 1920, year < 1941, year < 1961, year < 1986, year < 2005, year < 2050]
    values = [
        -2.79
        + 1.494119 * (y - 1900)
        - 0.0598939 * (y - 1900) ** 2
        + 0.0061966 * (y - 1900) ** 3
        - 0.000197 * (y - 1900) ** 4,
        21.20 + 0.84493 * (y - 1920) - 0.076100 * (y - 1920) ** 2 + 0.0020936 * (y - 1920) ** 3,
        29.07 + 0.407 * (y - 1950) - (y - 1950) ** 2 / 233 + (y - 1950) ** 3 / 2547,
        45.45 + 1.067 * (y - 1975) - (y - 1975) ** 2 / 260 - (y - 1975) ** 3 / 718,
        63.86
        + 0.3345 * u
        - 0.060374 * u**2
        + 0.0017275 * u**3
        + 0.000651814 * u**4
        + 0.00002373599 * u**5,
        62.92 + 0.32217 * u + 0.005589 * u**2,
    ]
    tail = -20 + 32 * ((y - 1820) / 100) ** 2 - 0.5628 * (2150 - y)
    return np.select(conditions, values, default=tail)


# ------------------------------------------------------------------ solar position


@functools.cache
def _tables(xp: ModuleType) -> dict[str, Any]:
    """The SPA term tables on ``xp``, split by amplitude into float64 and float32 parts.

    Terms with amplitude below ``_SMALL_TERM`` (1e-5 rad or AU) are evaluated in float32:
    their phase error from float32 rounding (< 2e-3 rad over 1900-2150) times the amplitude
    is < 2e-8 rad (4e-3 arcsec), while float32 cosines cost a tenth of float64 ones. The
    nutation series runs in float32 after reducing its arguments modulo 360 deg; its
    largest term is 17 arcsec, so the float32 error is ~1e-6 arcsec.
    """

    def split(table):
        rows = np.asarray(table, dtype=np.float64)
        big = np.abs(rows[:, 0]) >= _SMALL_TERM
        # (A, B, C) as a row vector and two columns, ready for A @ cos(B + C * JME).
        return tuple(
            (
                xp.asarray(part[:, 0], dtype=dtype),
                xp.asarray(part[:, 1:2], dtype=dtype),
                xp.asarray(part[:, 2:3], dtype=dtype),
            )
            for part, dtype in ((rows[big], xp.float64), (rows[~big], xp.float32))
        )

    return {
        "L": tuple(split(t) for t in terms.L_SERIES),
        "B": tuple(split(t) for t in terms.B_SERIES),
        "R": tuple(split(t) for t in terms.R_SERIES),
        "Y": xp.asarray(terms.NUTATION_Y, dtype=xp.float32),
        "abcd": tuple(xp.asarray(c, dtype=xp.float32) for c in np.asarray(terms.NUTATION_ABCD).T),
    }


def _matmul(a, b):
    """``a @ b``. OpenBLAS kernels can leave a spurious FE_INVALID flag that NumPy reports
    as "invalid value encountered in matmul" although every input and result is finite
    (numpy/numpy#24067, OpenMathLib/OpenBLAS#1924): the flag, not the data, is ignored."""
    with np.errstate(invalid="ignore"):
        return a @ b


def _series(series, jme, xp):
    """Sum over powers p of JME^p * sum_k A_k cos(B_k + C_k JME) / 1e8 (Horner in p)."""
    row = jme[None, :]
    row32 = row.astype(xp.float32)
    total = xp.zeros_like(jme)
    for big, small in reversed(series):
        part = xp.zeros_like(jme)
        for (a, b, c), x in ((big, row), (small, row32)):
            if a.size:
                arg = c * x
                arg += b
                part += _matmul(a, xp.cos(arg, out=arg)).astype(xp.float64)
        total = total * jme + part
    return total / 1e8


def _geocentric_block(days_ut, delta_t, xp):
    """Time-only part of SPA for a 1-D block: sidereal time, RA, declination, parallax."""
    tab = _tables(xp)
    jce = (days_ut + delta_t / 86400.0) / 36525.0
    jme = jce / 10.0
    lon_helio = _series(tab["L"], jme, xp)
    lat_helio = _series(tab["B"], jme, xp)
    radius = _series(tab["R"], jme, xp)
    # Fundamental arguments (mean elongation of the moon, anomalies, ...) [deg].
    x = xp.stack(
        [
            297.85036 + 445267.111480 * jce - 0.0019142 * jce**2 + jce**3 / 189474,
            357.52772 + 35999.050340 * jce - 0.0001603 * jce**2 - jce**3 / 300000,
            134.96298 + 477198.867398 * jce + 0.0086972 * jce**2 + jce**3 / 56250,
            93.27191 + 483202.017538 * jce - 0.0036825 * jce**2 + jce**3 / 327270,
            125.04452 - 1934.136261 * jce + 0.0020708 * jce**2 + jce**3 / 450000,
        ]
    )
    arg = _matmul(tab["Y"], xp.deg2rad(x % 360.0).astype(xp.float32))
    a, b, c, d = tab["abcd"]
    jce32 = jce.astype(xp.float32)
    sin_arg, cos_arg = xp.sin(arg), xp.cos(arg)
    dpsi = xp.deg2rad((_matmul(a, sin_arg) + jce32 * _matmul(b, sin_arg)).astype(xp.float64) / 36e6)
    deps = xp.deg2rad((_matmul(c, cos_arg) + jce32 * _matmul(d, cos_arg)).astype(xp.float64) / 36e6)
    u = jme / 10.0
    eps0_arcsec = xp.zeros_like(u)
    for coefficient in reversed(_OBLIQUITY_ARCSEC):  # Horner in u
        eps0_arcsec = eps0_arcsec * u + coefficient
    eps = xp.deg2rad(eps0_arcsec / 3600.0) + deps
    aberration = xp.deg2rad(-20.4898 / 3600.0) / radius
    lam = lon_helio + np.pi + dpsi + aberration  # apparent geocentric longitude [rad]
    beta = -lat_helio
    alpha = xp.arctan2(xp.sin(lam) * xp.cos(eps) - xp.tan(beta) * xp.sin(eps), xp.cos(lam))
    delta = xp.arcsin(xp.sin(beta) * xp.cos(eps) + xp.cos(beta) * xp.sin(eps) * xp.sin(lam))
    jc = days_ut / 36525.0
    nu0 = 280.46061837 + 360.98564736629 * days_ut + 0.000387933 * jc**2 - jc**3 / 38710000
    nu = xp.deg2rad(nu0 % 360.0) + dpsi * xp.cos(eps)
    xi = xp.deg2rad(8.794 / 3600.0) / radius
    return xp.stack([nu, alpha, delta, xi])


def _as_float_array(value, name, xp):
    try:
        arr = xp.asarray(value, dtype=xp.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric, got {value!r}") from err
    if not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(f"{name} must be finite")
    return arr


def solar_position(
    times_utc: Any,
    lat_deg: Any,
    lon_deg: Any,
    altitude_m: Any = 0.0,
    *,
    delta_t_s: Any = None,
    xp: ModuleType | None = None,
) -> tuple[Any, Any]:
    """True (unrefracted, topocentric) solar elevation and azimuth with the NREL SPA.

    Parameters
    ----------
    times_utc : NumPy ``datetime64`` array or scalar [UTC]; timezone-aware datetimes and
        offset-carrying ISO strings are converted; naive times raise :class:`ValueError`.
    lat_deg : numeric or array [deg], in [-90, 90], north positive.
    lon_deg : numeric or array [deg], east positive.
    altitude_m : numeric or array [m], observer height above sea level (parallax only).
    delta_t_s : numeric or array [s], TT - UT; default from :func:`delta_t_seconds`.
    xp : array namespace; default that of ``lat_deg``/``lon_deg``/``altitude_m``.

    Returns
    -------
    elevation_deg, azimuth_deg : arrays [deg] of the broadcast shape of ``times_utc``,
        ``lat_deg``, ``lon_deg`` and ``altitude_m``; azimuth clockwise from north in
        [0, 360).

    Notes
    -----
    The time-only part (heliocentric series, nutation, apparent sidereal time) is evaluated
    once per time and broadcast over locations, so many points at one time are cheap.
    Periodic terms smaller than 1e-5 rad and the nutation series run in float32 (see
    ``_tables``), which changes the result by < 1e-6 deg; against pvlib's NumPy SPA the
    difference is ~1e-7 deg over 1950-2050. The SPA's stated uncertainty is +/-0.0003 deg
    for -2000..6000; the Delta T fit limits the default to 1900-2149.

    References
    ----------
    Reda & Andreas (2004), doi:10.1016/j.solener.2003.12.003.
    """
    if xp is None:
        given = (lat_deg, lon_deg, altitude_m)
        xp = gpu.array_namespace(*(v for v in given if hasattr(v, "shape")))
    lat = _as_float_array(lat_deg, "lat_deg", xp)
    lon = _as_float_array(lon_deg, "lon_deg", xp)
    alt = _as_float_array(altitude_m, "altitude_m", xp)
    if bool(xp.any(xp.abs(lat) > 90.0)):
        raise ValueError("lat_deg must lie in [-90, 90] degrees")
    seconds = unix_seconds(times_utc)
    dt = _delta_t(seconds) if delta_t_s is None else np.asarray(delta_t_s, dtype=np.float64)
    days = (seconds / 86400.0 - _J2000_UNIX_DAYS).ravel()
    dt = np.broadcast_to(dt, seconds.shape).ravel()
    blocks = [
        _geocentric_block(xp.asarray(days[i : i + _BLOCK]), xp.asarray(dt[i : i + _BLOCK]), xp)
        for i in range(0, max(days.size, 1), _BLOCK)
    ]
    geo = xp.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    nu, alpha, delta, xi = (g.reshape(seconds.shape) for g in geo)
    return _topocentric(nu, alpha, delta, xi, lat, lon, alt, xp)


def _topocentric(nu, alpha, delta, xi, lat, lon, alt, xp):
    """Location part of SPA (parallax, local horizon) with NumPy broadcasting."""
    phi = xp.deg2rad(lat)
    h = nu + xp.deg2rad(lon) - alpha  # geocentric local hour angle [rad]
    u = xp.arctan(0.99664719 * xp.tan(phi))
    x = xp.cos(u) + alt / 6378140.0 * xp.cos(phi)
    y = 0.99664719 * xp.sin(u) + alt / 6378140.0 * xp.sin(phi)
    denom = xp.cos(delta) - x * xp.sin(xi) * xp.cos(h)
    d_alpha = xp.arctan2(-x * xp.sin(xi) * xp.sin(h), denom)
    delta_p = xp.arctan2((xp.sin(delta) - y * xp.sin(xi)) * xp.cos(d_alpha), denom)
    h_p = h - d_alpha
    sin_e = xp.sin(phi) * xp.sin(delta_p) + xp.cos(phi) * xp.cos(delta_p) * xp.cos(h_p)
    elevation = xp.rad2deg(xp.arcsin(xp.clip(sin_e, -1.0, 1.0)))
    gamma = xp.arctan2(xp.sin(h_p), xp.cos(h_p) * xp.sin(phi) - xp.tan(delta_p) * xp.cos(phi))
    azimuth = (xp.rad2deg(gamma) + 180.0) % 360.0
    return elevation, azimuth


# ------------------------------------------------------------------ irradiance


def refraction_deg(elevation_deg, pressure_hpa=1013.25, temperature_c=12.0):
    """Atmospheric refraction [deg] to add to the true elevation (SPA eq. 42).

    Zero where the sun is more than 0.83 deg (radius plus refraction at the horizon) below
    the horizon. ``temperature_c`` defaults to 12 degC, as in pvlib's ``Location``.
    """
    xp = gpu.array_namespace(elevation_deg)
    e = xp.asarray(elevation_deg, dtype=xp.float64)
    horizon = -0.26667 - 0.5667  # sun radius plus refraction at the horizon [deg]
    visible = xp.maximum(e, horizon)  # keeps e + 5.11 away from 0 where the result is unused
    dr = (
        (pressure_hpa / 1010.0)
        * (283.0 / (273.0 + temperature_c))
        * 1.02
        / (60.0 * xp.tan(xp.deg2rad(visible + 10.3 / (visible + 5.11))))
    )
    return xp.where(e >= horizon, dr, 0.0)


def pressure_from_altitude(altitude_m):
    """Standard-atmosphere surface pressure [Pa] at ``altitude_m`` [m] (as pvlib alt2pres)."""
    return 100.0 * ((44331.514 - altitude_m) / 11880.516) ** (1 / 0.1902632)


def extraterrestrial_irradiance(day_of_year, xp: ModuleType = np):
    """Normal-incidence irradiance at the top of the atmosphere [W m-2] (Spencer 1971)."""
    b = 2.0 * np.pi * (xp.asarray(day_of_year, dtype=xp.float64) - 1.0) / 365.0
    r2 = (
        1.00011
        + 0.034221 * xp.cos(b)
        + 0.00128 * xp.sin(b)
        + 0.000719 * xp.cos(2 * b)
        + 7.7e-05 * xp.sin(2 * b)
    )
    return SOLAR_CONSTANT * r2


def relative_airmass(apparent_elevation_deg):
    """Kasten & Young (1989) relative optical air mass; NaN below the horizon."""
    xp = gpu.array_namespace(apparent_elevation_deg)
    e = xp.asarray(apparent_elevation_deg, dtype=xp.float64)
    e = xp.where(e < 0.0, xp.nan, e)
    return 1.0 / (xp.sin(xp.deg2rad(e)) + 0.50572 * (e + 6.07995) ** -1.6364)


def clear_sky_ineichen(elevation_deg, day_of_year, linke_turbidity, altitude_m=0.0):
    """Clear-sky GHI, DNI and DHI [W m-2] with the Ineichen-Perez (2002) model.

    Parameters
    ----------
    elevation_deg : array [deg], true solar elevation (refraction is added here, for the
        air mass, with the standard pressure at ``altitude_m`` and 12 degC).
    day_of_year : array [1..366], for the Sun-Earth distance.
    linke_turbidity : numeric or array [1], air-mass-2 Linke turbidity (e.g. the monthly
        climatology of Remund et al. 2003, in ``datasets/gwangju/climate.toml``).
    altitude_m : float [m], site altitude.

    Returns
    -------
    ghi, dni, dhi : arrays [W m-2], zero when the sun is below the horizon.
    """
    xp = gpu.array_namespace(elevation_deg, linke_turbidity)
    e = xp.asarray(elevation_deg, dtype=xp.float64)
    tl = xp.asarray(linke_turbidity, dtype=xp.float64)
    if not bool(xp.all(xp.isfinite(tl) & (tl >= 1.0))):
        # TL = 1 is a clean dry atmosphere; below it the model leaves physics (DHI < 0)
        raise ValueError("linke_turbidity must be finite and >= 1")
    pressure = pressure_from_altitude(altitude_m)
    apparent = e + refraction_deg(e, pressure / 100.0)
    am = relative_airmass(apparent) * pressure / 101325.0
    up = apparent > 0.0
    am = xp.where(up, am, 1.0)  # placeholder where the sun is down; masked below
    cos_z = xp.where(up, xp.sin(xp.deg2rad(apparent)), 0.0)
    dni_extra = extraterrestrial_irradiance(day_of_year, xp)
    fh1, fh2 = np.exp(-altitude_m / 8000.0), np.exp(-altitude_m / 1250.0)
    cg1, cg2 = 5.09e-05 * altitude_m + 0.868, 3.92e-05 * altitude_m + 0.0387
    ghi = cg1 * dni_extra * cos_z * xp.exp(-cg2 * am * (fh1 + fh2 * (tl - 1.0)))
    b = 0.664 + 0.163 / fh1
    bnci = dni_extra * b * xp.exp(-0.09 * am * (tl - 1.0))
    # Empirical cap of the beam by the global (Ineichen & Perez 2002, eq. 8).
    cap = ghi * (1.0 - (0.1 - 0.2 * xp.exp(-tl)) / (0.1 + 0.882 / fh1)) / xp.where(up, cos_z, 1.0)
    dni = xp.where(up, xp.minimum(bnci, cap), 0.0)
    ghi = xp.where(up, ghi, 0.0)
    return ghi, dni, ghi - dni * cos_z


def plane_of_array(
    surface_tilt_deg,
    surface_azimuth_deg,
    elevation_deg,
    azimuth_deg,
    dni,
    ghi,
    dhi,
    *,
    albedo=0.2,
    model="isotropic",
    dni_extra=None,
):
    """Irradiance on a tilted plane [W m-2], split into beam, sky-diffuse and ground parts.

    Parameters
    ----------
    surface_tilt_deg : array [deg] from horizontal (0 flat roof, 90 facade).
    surface_azimuth_deg : array [deg] the plane faces, clockwise from north (180 south).
    elevation_deg, azimuth_deg : sun position [deg].
    dni, ghi, dhi : irradiance [W m-2].
    albedo : ground reflectance [1].
    model : ``"isotropic"`` (Liu & Jordan 1963) or ``"haydavies"`` (Hay & Davies 1980,
        which needs ``dni_extra`` [W m-2]).

    Returns
    -------
    beam, sky_diffuse, ground : arrays [W m-2]; their sum is the plane-of-array global.
    """
    if model not in ("isotropic", "haydavies"):
        raise ValueError(f"model must be 'isotropic' or 'haydavies', got {model!r}")
    if model == "haydavies" and dni_extra is None:
        raise ValueError("model='haydavies' needs dni_extra (W m-2)")
    xp = gpu.array_namespace(elevation_deg, dni, ghi, dhi)
    tilt = xp.deg2rad(xp.asarray(surface_tilt_deg, dtype=xp.float64))
    zen = xp.deg2rad(90.0 - xp.asarray(elevation_deg, dtype=xp.float64))
    cos_aoi = xp.cos(tilt) * xp.cos(zen) + xp.sin(tilt) * xp.sin(zen) * xp.cos(
        xp.deg2rad(xp.asarray(azimuth_deg, dtype=xp.float64) - surface_azimuth_deg)
    )
    cos_aoi = xp.maximum(cos_aoi, 0.0)
    beam = xp.maximum(dni * cos_aoi, 0.0)
    view = 0.5 * (1.0 + xp.cos(tilt))
    if model == "isotropic":
        sky = dhi * view
    else:
        ratio_beam = cos_aoi / xp.maximum(xp.cos(zen), 0.01745)  # GH pvlib#432 floor
        anisotropy = dni / dni_extra
        sky = xp.maximum(dhi * (1.0 - anisotropy) * view, 0.0) + xp.maximum(
            dhi * anisotropy * ratio_beam, 0.0
        )
    ground = ghi * albedo * 0.5 * (1.0 - xp.cos(tilt))
    return beam, sky, ground
