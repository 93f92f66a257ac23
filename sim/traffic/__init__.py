"""City traffic: kinematic-wave network loading with signals, OD demand and reactive routes.

Modules: :mod:`~sim.traffic.network` (roads and fundamental diagrams),
:mod:`~sim.traffic.demand` (zones, OD matrix, daily profile, gravity model),
:mod:`~sim.traffic.signals` (phases and fixed-time plans),
:mod:`~sim.traffic.control` (phase-select and actuated control),
:mod:`~sim.traffic.commands` (what services call between steps),
:mod:`~sim.traffic.detectors` (loop detectors), :mod:`~sim.traffic.routing`
(shortest paths, logit spread), :mod:`~sim.traffic.loading` (cell transmission model
step), :mod:`~sim.traffic.state` (the state table), :mod:`~sim.traffic.model` (the
runner protocol) and :mod:`~sim.traffic.emissions` (NOx and PM2.5 per link,
rasterised onto the grid).
"""

from sim.traffic.demand import Demand, daily_profile, flat_profile, gravity_od
from sim.traffic.detectors import Detectors
from sim.traffic.emissions import (
    LinkRasterizer,
    emission_factors,
    link_emissions,
    rasterize_links,
)
from sim.traffic.model import TrafficModel
from sim.traffic.network import Network, nearest_nodes

__all__ = [
    "Demand",
    "Detectors",
    "LinkRasterizer",
    "Network",
    "TrafficModel",
    "daily_profile",
    "emission_factors",
    "flat_profile",
    "gravity_od",
    "link_emissions",
    "nearest_nodes",
    "rasterize_links",
]
