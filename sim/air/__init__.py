"""Air quality: transport of pollutants (PM2.5, NOx) on the city grid.

:func:`advect_diffuse` and :func:`max_stable_dt` are the pure transport kernel;
:class:`AirModel` adds emissions, deposition, decay, mixing-height changes and
automatic sub-stepping behind the runner protocol of sim/protocol.py (docs/architecture.md).
"""

from sim.air.model import SPECIES_DEFAULTS, AirModel
from sim.air.transport import AirWorkspace, advect_diffuse, max_stable_dt

__all__ = ["SPECIES_DEFAULTS", "AirModel", "AirWorkspace", "advect_diffuse", "max_stable_dt"]
