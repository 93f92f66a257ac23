"""Energy model: building demand (1R1C), rooftop PV, EV charging and district feeders.

:class:`EnergyModel` implements the runner protocol; the physics lives in small modules:
:mod:`sim.energy.thermal`, :mod:`sim.energy.pv`, :mod:`sim.energy.ev` and
:mod:`sim.energy.grid` (KPIs and the per-step accumulator).
"""

from sim.energy import ev, grid, pv, thermal
from sim.energy.model import EnergyModel
from sim.energy.parameters import EnergyParameters

__all__ = ["EnergyModel", "EnergyParameters", "ev", "grid", "pv", "thermal"]
