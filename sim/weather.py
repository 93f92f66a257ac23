"""Weather forcing: from a CSV file or a seeded synthetic generator with a monthly climatology.

A :class:`Weather` holds a regular series (usually hourly) of the forcing variables
(docs/variables.md: ``air_temperature``, ``wind_speed``, ``wind_from_direction``,
``relative_humidity``, ``cloud_fraction``, ``mixing_height``, ``ghi``, ``dni``, ``dhi``) for
a site, and :meth:`Weather.at` interpolates it to the coupling steps, adding the sun's
position and the local clock hour. The series are small (one site), so this module works
on NumPy host arrays; the runner hands scalars to the models.

References
----------
Kasten, F. and Czeplak, G. (1980). Solar and terrestrial radiation dependent on the amount
and type of cloud. Solar Energy 24(2), 177-189. doi:10.1016/0038-092X(80)90391-6
Alduchov, O. A. and Eskridge, R. E. (1996). Improved Magnus form approximation of
saturation vapor pressure. J. Applied Meteorology 35(4), 601-609.
doi:10.1175/1520-0450(1996)035<0601:IMFAOS>2.0.CO;2
Parton, W. J. and Logan, J. A. (1981). A model for diurnal variation in soil and air
temperature. Agricultural Meteorology 23, 205-216. doi:10.1016/0002-1571(81)90105-9
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim import solar, variables

MONTHLY = {  # climatology table name -> expected units and allowed closed range
    "air_temperature_mean": ("degC", (-60.0, 60.0)),
    "air_temperature_daily_range": ("K", (0.0, 40.0)),
    "relative_humidity": ("1", (0.01, 1.0)),
    "cloud_fraction": ("1", (0.0, 1.0)),
    "wind_speed": ("m s-1", (0.0, 50.0)),
    "wind_from_direction": ("degree", (0.0, 360.0)),
    "mixing_height_day": ("m", (10.0, 5000.0)),
    "mixing_height_night": ("m", (10.0, 5000.0)),
    "linke_turbidity": ("1", (1.0, 10.0)),
}
SITE = {  # site key -> allowed closed range
    "latitude_deg": (-90.0, 90.0),
    "longitude_deg": (-180.0, 360.0),
    "altitude_m": (-500.0, 9000.0),
    "utc_offset_hours": (-14.0, 14.0),
}
SERIES = (
    "air_temperature", "wind_speed", "wind_from_direction", "relative_humidity",
    "cloud_fraction", "mixing_height", "ghi", "dni", "dhi",
)  # fmt: skip
FORCING = variables.attrs_for(*SERIES, "solar_elevation", "solar_azimuth")
_MID_MONTH_DAY = (np.arange(12) + 0.5) * 365.25 / 12  # day of year (0-based) of mid-month


# --------------------------------------------------------------------------- climatology


@dataclasses.dataclass(frozen=True)
class Climatology:
    """A site and 12 monthly values of each variable in ``MONTHLY`` (January first)."""

    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    utc_offset_hours: float
    monthly: Mapping[str, np.ndarray]
    origin: str = "<mapping>"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], origin: str = "<mapping>") -> Climatology:
        """Validate a parsed ``climate.toml`` (see ``datasets/gwangju/climate.toml``).

        Raises :class:`ValueError` naming ``origin``, the table and the field.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{origin}: climatology must be a mapping of tables")
        site = data.get("site")
        if not isinstance(site, Mapping):
            raise ValueError(f"{origin}: missing table [site] with {', '.join(SITE)}")
        values = {}
        for key, (lo, hi) in SITE.items():
            v = site.get(key)
            if not isinstance(v, int | float) or not lo <= v <= hi:
                raise ValueError(f"{origin}: [site] {key} must be a number in [{lo}, {hi}]")
            values[key] = float(v)
        monthly = {}
        for name, (units, (lo, hi)) in MONTHLY.items():
            table = data.get(name)
            if not isinstance(table, Mapping):
                raise ValueError(f"{origin}: missing table [{name}] (units, values, source)")
            if table.get("units") != units:
                raise ValueError(
                    f"{origin}: [{name}] units must be {units!r}, got {table.get('units')!r}"
                )
            if not isinstance(table.get("source"), str) or not table["source"].strip():
                raise ValueError(f"{origin}: [{name}] needs a 'source' note")
            try:
                arr = np.asarray(table.get("values"), dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{origin}: [{name}] values must be 12 numbers") from err
            if arr.shape != (12,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"{origin}: [{name}] values must be 12 finite numbers")
            if np.any((arr < lo) | (arr > hi)):
                raise ValueError(f"{origin}: [{name}] values must lie in [{lo}, {hi}] {units}")
            monthly[name] = arr
        if np.any(monthly["mixing_height_night"] > monthly["mixing_height_day"]):
            raise ValueError(f"{origin}: mixing_height_night must not exceed mixing_height_day")
        return cls(**values, monthly=monthly, origin=origin)


def as_climatology(climatology: Climatology | Mapping[str, Any]) -> Climatology:
    if isinstance(climatology, Climatology):
        return climatology
    return Climatology.from_mapping(climatology)


def annual_cycle(monthly: np.ndarray, day_of_year: np.ndarray) -> np.ndarray:
    """Smooth periodic curve through 12 monthly means, preserving each month's mean.

    Piecewise linear between mid-month nodes; the node values solve the circulant system
    ``(v[k-1] + 6 v[k] + v[k+1]) / 8 = mean[k]`` (the mean of a piecewise-linear curve over
    a month whose neighbours' nodes are ``v[k-1]``, ``v[k+1]``).
    """
    a = np.zeros((12, 12))
    for k in range(12):
        a[k, [k - 1, k, (k + 1) % 12]] = (1 / 8, 6 / 8, 1 / 8)
    nodes = np.linalg.solve(a, monthly)
    doy = np.asarray(day_of_year, dtype=np.float64) - 1.0
    xs = np.concatenate(
        [[_MID_MONTH_DAY[-1] - 365.25], _MID_MONTH_DAY, [_MID_MONTH_DAY[0] + 365.25]]
    )
    ys = np.concatenate([[nodes[-1]], nodes, [nodes[0]]])
    return np.interp(doy % 365.25, xs, ys)


# --------------------------------------------------------------------------- physics helpers


def saturation_vapour_pressure(t_c):
    """Saturation vapour pressure over water [hPa] (Magnus form, Alduchov & Eskridge 1996)."""
    return 6.1094 * np.exp(17.625 * t_c / (t_c + 243.04))


def diurnal_temperature_shape(local_hour):
    """Unit diurnal cycle of air temperature: -1 at 06 h, +1 at 15 h, zero daily mean.

    Cosine rise over 9 h and cosine fall over 15 h, the usual sine-exponential shape of
    Parton & Logan (1981) simplified to two half-cosines.
    """
    h = np.asarray(local_hour, dtype=np.float64) % 24.0
    rising = (h >= 6.0) & (h < 15.0)
    return np.where(
        rising, -np.cos(np.pi * (h - 6.0) / 9.0), np.cos(np.pi * ((h - 15.0) % 24.0) / 15.0)
    )


def cloudy_irradiance(ghi_clear, dni_clear, dhi_clear, cloud_fraction):
    """All-sky GHI, DNI, DHI [W m-2] from clear-sky values and total cloud fraction.

    GHI follows Kasten & Czeplak (1980), ``GHI = GHI_clear (1 - 0.75 N^3.4)``; the diffuse
    fraction rises from its clear-sky value to 1 as ``N^2`` (their form, with the clear-sky
    diffuse fraction in place of their constant 0.3), so ``N = 0`` returns the clear sky.
    """
    n = np.clip(cloud_fraction, 0.0, 1.0)
    ghi = ghi_clear * (1.0 - 0.75 * n**3.4)
    kd_clear = np.divide(dhi_clear, ghi_clear, out=np.ones_like(ghi), where=ghi_clear > 0)
    dhi = ghi * (kd_clear + (1.0 - kd_clear) * n**2)
    # DNI scales with the direct part of GHI, which keeps GHI = DHI + DNI cos(zenith).
    beam_clear = ghi_clear - dhi_clear
    ratio = np.divide(ghi - dhi, beam_clear, out=np.zeros_like(ghi), where=beam_clear > 0)
    return ghi, dni_clear * ratio, dhi


def modelled_mixing_height(clim: Climatology, day_of_year, local_hour):
    """Night value, rising to the afternoon value: ``sin`` growth between 08 and 20 h."""
    night = annual_cycle(clim.monthly["mixing_height_night"], day_of_year)
    day = annual_cycle(clim.monthly["mixing_height_day"], day_of_year)
    growth = np.clip(np.sin(np.pi * (np.asarray(local_hour) - 8.0) / 12.0), 0.0, None)
    growth = np.where((local_hour >= 8.0) & (local_hour <= 20.0), growth, 0.0)
    return night + (day - night) * growth


# --------------------------------------------------------------------------- the series


def local_hour(times_utc, utc_offset_hours: float) -> np.ndarray:
    """Local clock hour [h], in [0, 24), of explicit-UTC times at a fixed UTC offset."""
    seconds = solar.unix_seconds(times_utc) + utc_offset_hours * 3600.0
    return (seconds % 86400.0) / 3600.0


class Weather:
    """A regular forcing series for one site; :meth:`at` interpolates it.

    Parameters
    ----------
    times_utc : datetime64 array, strictly increasing with a constant step.
    series : mapping of the ``SERIES`` names to arrays of the same length (units as in
        docs/variables.md).
    climatology : the site and its monthly Linke turbidity.
    irradiance_from_clouds : when True, :meth:`at` recomputes GHI/DNI/DHI at the requested
        times from the clear sky and the interpolated cloud fraction (exact sun timing);
        when False (measured irradiance), it interpolates the series linearly.
    """

    def __init__(self, times_utc, series, climatology: Climatology, irradiance_from_clouds: bool):
        # explicit-UTC times only: naive datetimes and strings are refused
        seconds = solar.unix_seconds(times_utc)
        if seconds.ndim != 1 or seconds.size < 2:
            raise ValueError("Weather needs a 1-D series of at least 2 times")
        steps = np.diff(seconds)
        if np.any(steps <= 0) or np.any(steps != steps[0]):
            raise ValueError("Weather times must be strictly increasing with a constant step")
        self.times_utc = (
            (seconds * 1e6).astype("int64").astype("datetime64[us]").astype("datetime64[s]")
        )
        missing = [k for k in SERIES if k not in series]
        if missing:
            raise ValueError(f"Weather series lacks {', '.join(missing)}")
        self.series = {k: np.asarray(series[k], dtype=np.float64) for k in SERIES}
        bad = [k for k, v in self.series.items() if v.shape != self.times_utc.shape]
        if bad:
            raise ValueError(f"Weather series {', '.join(bad)} do not match the times' length")
        bad = [k for k, v in self.series.items() if not np.all(np.isfinite(v))]
        if bad:
            raise ValueError(f"Weather series {', '.join(bad)} hold NaN or infinite values")
        self.climatology = climatology
        self.irradiance_from_clouds = irradiance_from_clouds

    def at(self, times_utc) -> dict[str, np.ndarray]:
        """Forcing at ``times_utc`` (inside the series' span), linearly interpolated.

        Returns the ``SERIES`` variables plus ``solar_elevation``, ``solar_azimuth`` [deg],
        ``local_hour`` [h] and ``time_utc``. Wind direction is interpolated through its
        vector components, so 350 deg and 10 deg average to north, not south.
        """
        t = solar.unix_seconds(times_utc)
        src = solar.unix_seconds(self.times_utc)
        if t.size and (t.min() < src[0] or t.max() > src[-1]):
            raise ValueError(
                f"times_utc must lie within the weather series, {self.times_utc[0]} to "
                f"{self.times_utc[-1]} UTC"
            )
        s = self.series
        out = {k: np.interp(t, src, s[k]) for k in SERIES}
        rad = np.deg2rad(s["wind_from_direction"])
        east = np.interp(t, src, s["wind_speed"] * np.sin(rad))
        north = np.interp(t, src, s["wind_speed"] * np.cos(rad))
        calm = np.hypot(east, north) == 0.0
        direction = np.rad2deg(np.arctan2(east, north)) % 360.0
        out["wind_from_direction"] = np.where(calm, out["wind_from_direction"], direction)
        clim = self.climatology
        el, az = solar.solar_position(
            times_utc, clim.latitude_deg, clim.longitude_deg, clim.altitude_m, xp=np
        )
        if self.irradiance_from_clouds:
            doy = solar.day_of_year(times_utc)
            clear = solar.clear_sky_ineichen(
                el, doy, annual_cycle(clim.monthly["linke_turbidity"], doy), clim.altitude_m
            )
            out["ghi"], out["dni"], out["dhi"] = cloudy_irradiance(*clear, out["cloud_fraction"])
        out.update(
            solar_elevation=el,
            solar_azimuth=az,
            local_hour=local_hour(times_utc, clim.utc_offset_hours),
            time_utc=(t * 1e6).astype("datetime64[us]"),
        )
        return out


def synthetic_weather(
    climatology: Climatology | Mapping[str, Any],
    start_utc,
    end_utc,
    *,
    seed: int = 0,
    step_s: float = 3600.0,
    temperature_anomaly_k: float = 2.0,
    temperature_tau_h: float = 60.0,
    cloud_spread: float = 4.0,
    cloud_tau_h: float = 12.0,
    wind_steadiness: float = 0.5,
    wind_tau_h: float = 6.0,
    wind_diurnal_amplitude: float = 0.3,
) -> Weather:
    """Seeded synthetic weather from ``start_utc`` to ``end_utc`` (inclusive) every ``step_s``.

    Parameters
    ----------
    climatology : :class:`Climatology` or the parsed ``climate.toml`` mapping.
    start_utc, end_utc : explicit-UTC times (numpy datetime64 or aware datetimes).
    seed : int, the only source of randomness (same seed, same weather).
    step_s : float [s], series step.
    temperature_anomaly_k : float [K], standard deviation of the synoptic temperature
        anomaly, an AR(1) process with e-folding time ``temperature_tau_h`` [h].
    cloud_spread : float [1], spread of the logit-normal cloud fraction. The default 4 gives
        the U-shaped clear-or-overcast distribution of observed total cloud (about a quarter
        of hours below 0.1 and a third above 0.9) and, at Gwangju, a synthetic annual GHI
        near 1,450 kWh m-2 (1.5 would give ~1,670); AR(1) time ``cloud_tau_h`` [h].
    wind_steadiness : float [1], mean wind vector over mean speed (0 random, 1 constant).
    wind_tau_h : float [h], AR(1) time of the wind fluctuation components.
    wind_diurnal_amplitude : float [1], relative afternoon strengthening of the wind.

    Notes
    -----
    - Each monthly table becomes a mean-preserving annual cycle (:func:`annual_cycle`).
    - Temperature: cycle + anomaly + half the daily range times a diurnal shape (minimum
      06 h, maximum 15 h local).
    - Relative humidity keeps the dew point of the daily mean (cycle plus anomaly, at the
      monthly humidity), so it falls in the afternoon.
    - Cloud fraction is logit-normal, its location solved so the mean is the monthly value.
    - Wind is a mean vector from the prevailing direction plus Gaussian AR(1) components
      scaled so the mean speed matches, strengthened in the afternoon.
    - Irradiance is the Ineichen-Perez clear sky attenuated by cloud
      (:func:`cloudy_irradiance`); the mixing height grows from its night to its day value.
    """
    clim = as_climatology(climatology)
    start, end = solar.unix_seconds(start_utc), solar.unix_seconds(end_utc)
    if start.ndim or end.ndim or not end > start:
        raise ValueError("synthetic_weather needs scalar start_utc < end_utc")
    if not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s!r}")
    for name, tau in (("temperature_tau_h", temperature_tau_h), ("cloud_tau_h", cloud_tau_h),
                      ("wind_tau_h", wind_tau_h)):  # fmt: skip
        if not (math.isfinite(tau) and tau > 0):
            raise ValueError(f"{name} must be > 0 [h], got {tau!r}")
    times = (np.arange(float(start), float(end) + 0.5 * step_s, step_s) * 1e6).astype(
        "datetime64[us]"
    )
    hour = local_hour(times, clim.utc_offset_hours)
    doy = solar.day_of_year(times + np.timedelta64(round(clim.utc_offset_hours * 3600), "s"))
    rng = np.random.default_rng(seed)
    m = clim.monthly

    t_mean = annual_cycle(m["air_temperature_mean"], doy)
    anomaly = temperature_anomaly_k * _ar1(rng, times.size, temperature_tau_h * 3600 / step_s)
    t_air = (
        t_mean
        + anomaly
        + 0.5
        * annual_cycle(m["air_temperature_daily_range"], doy)
        * (diurnal_temperature_shape(hour))
    )
    rh_mean = annual_cycle(m["relative_humidity"], doy)
    vapour = rh_mean * saturation_vapour_pressure(t_mean + anomaly)
    rh = np.clip(vapour / saturation_vapour_pressure(t_air), 0.05, 1.0)

    c_mean = np.clip(annual_cycle(m["cloud_fraction"], doy), 1e-3, 1 - 1e-3)
    location = _logit_normal_location(c_mean, cloud_spread)
    z_cloud = _ar1(rng, times.size, cloud_tau_h * 3600 / step_s)
    cloud = 1.0 / (1.0 + np.exp(-(location + cloud_spread * z_cloud)))

    speed = annual_cycle(m["wind_speed"], doy)
    prevailing = np.deg2rad(_circular_cycle(m["wind_from_direction"], doy))
    mean_vec = wind_steadiness * speed
    # E|mean + N(0, s^2 I)| ~ sqrt(mean^2 + (pi/2) s^2): exact for mean 0 and for s 0.
    sigma = np.sqrt(np.maximum(speed**2 - mean_vec**2, 0.0) * 2.0 / np.pi)
    diurnal = 1.0 + wind_diurnal_amplitude * np.cos(2.0 * np.pi * (hour - 14.0) / 24.0)
    tau = wind_tau_h * 3600 / step_s
    east = diurnal * (-mean_vec * np.sin(prevailing) + sigma * _ar1(rng, times.size, tau))
    north = diurnal * (-mean_vec * np.cos(prevailing) + sigma * _ar1(rng, times.size, tau))

    series = {
        "air_temperature": t_air,
        "relative_humidity": rh,
        "cloud_fraction": cloud,
        "wind_speed": np.hypot(east, north),
        "wind_from_direction": np.rad2deg(np.arctan2(-east, -north)) % 360.0,
        "mixing_height": modelled_mixing_height(clim, doy, hour),
    }
    weather = Weather(times, {**dict.fromkeys(SERIES, np.zeros(times.size)), **series}, clim, True)
    forced = weather.at(times)
    for k in ("ghi", "dni", "dhi"):
        weather.series[k] = forced[k]
    return weather


def _ar1(rng, n, tau_steps):
    """Stationary AR(1) series with unit variance and e-folding time ``tau_steps``."""
    phi = math.exp(-1.0 / tau_steps)
    noise = rng.standard_normal(n) * math.sqrt(1.0 - phi**2)
    out = np.empty(n)
    out[0] = rng.standard_normal()
    for i in range(1, n):  # a scalar recursion over the (small) time axis of one site
        out[i] = phi * out[i - 1] + noise[i]
    return out


def _logit_normal_location(mean, spread):
    """Location ``mu`` with ``E[sigmoid(mu + spread Z)] = mean`` (bisection, Gauss-Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    lo, hi = np.full_like(mean, -20.0), np.full_like(mean, 20.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        value = (weights / (1.0 + np.exp(-(mid[..., None] + spread * nodes)))).sum(axis=-1)
        lo, hi = np.where(value < mean, mid, lo), np.where(value < mean, hi, mid)
    return 0.5 * (lo + hi)


def _circular_cycle(monthly_deg, day_of_year):
    """:func:`annual_cycle` of a direction, through its unit-vector components."""
    rad = np.deg2rad(monthly_deg)
    east = annual_cycle(np.sin(rad), day_of_year)
    north = annual_cycle(np.cos(rad), day_of_year)
    return np.rad2deg(np.arctan2(east, north)) % 360.0
