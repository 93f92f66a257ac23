"""Learning environments over the twin (extra ``rl``: gymnasium, pettingzoo).

- :class:`SignalEnv` (Gymnasium): one agent for one or all signalized nodes;
- :class:`SignalParallelEnv` (PettingZoo): one agent per signalized node;
- :func:`make_vec`: N seeded cities stepped as one batched model, a Gymnasium vector env;
- :class:`EnergyEnv` (Gymnasium): a central agent setting EV charging limits and HVAC
  setpoint offsets per district, paid from the KPI table;
- :func:`grid_scenario`: a short morning on the signalized grid test bed
  (:func:`twin.gridcity.grid_city`).

A trained policy runs in the city as a service with :func:`twin.services.from_policy`.
Names are imported on first use, so ``twin.envs.grid`` and ``twin.envs.features`` work
without the extra.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "SignalEnv": "twin.envs.signal",
    "SignalParallelEnv": "twin.envs.signal",
    "make_vec": "twin.envs.vector",
    "SignalVecEnv": "twin.envs.vector",
    "EnergyEnv": "twin.envs.energy",
    "grid_scenario": "twin.envs.grid",
    "MaxPressurePolicy": "twin.envs.policies",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'twin.envs' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
