"""Rooftop photovoltaics: cell temperature and DC/AC output per building.

References
----------
Faiman, D. (2008). Assessing the outdoor operating temperature of photovoltaic modules.
Progress in Photovoltaics 16(4), 307-315. doi:10.1002/pip.813
Dobos, A. P. (2014). PVWatts Version 5 Manual. NREL/TP-6A20-62641 (DC model with a linear
temperature coefficient, 14 % default system losses, 96 % nominal inverter efficiency).
"""

from __future__ import annotations

import gpu

REFERENCE_IRRADIANCE = 1000.0  # W m-2, standard test conditions
REFERENCE_TEMPERATURE = 25.0  # degC, standard test conditions


def cell_temperature_faiman(poa_global, air_temperature, wind_speed, u0=25.0, u1=6.84):
    """Module temperature [degC] from the Faiman (2008) heat-loss model.

    Parameters
    ----------
    poa_global : array [W m-2], plane-of-array irradiance.
    air_temperature : array [degC].
    wind_speed : array [m s-1].
    u0 : float [W m-2 K-1], constant heat-loss coefficient (Faiman's c-Si fit, pvlib default).
    u1 : float [W m-3 s K-1], wind-dependent heat-loss coefficient.
    """
    return air_temperature + poa_global / (u0 + u1 * wind_speed)


def rated_power(area_m2, efficiency):
    """DC rating at standard test conditions [W] of ``area_m2`` [m2] of modules."""
    return area_m2 * (efficiency * REFERENCE_IRRADIANCE)


def dc_power(poa_effective, cell_temperature, rated_w, gamma_per_k=-0.0037):
    """PVWatts DC power [W]: rated power x irradiance ratio x temperature derating.

    Parameters
    ----------
    poa_effective : array [W m-2], irradiance reaching the cells.
    cell_temperature : array [degC].
    rated_w : array [W], DC rating at standard test conditions (:func:`rated_power`).
    gamma_per_k : float [K-1], power temperature coefficient (mono c-Si, about -0.37 %/K).
    """
    # rated * (G / G_ref) * (1 + gamma (T - T_ref)), regrouped to four array operations.
    per_w = gamma_per_k / REFERENCE_IRRADIANCE
    offset = (1.0 - gamma_per_k * REFERENCE_TEMPERATURE) / REFERENCE_IRRADIANCE
    return rated_w * poa_effective * (cell_temperature * per_w + offset)


def ac_power(dc_w, system_losses=0.14, inverter_efficiency=0.96):
    """AC power [W] after system losses (soiling, wiring, mismatch, ...) and the inverter."""
    xp = gpu.array_namespace(dc_w)
    return xp.maximum(dc_w * ((1.0 - system_losses) * inverter_efficiency), 0.0)
