"""Urban air mobility: routes over the city's 3D occupancy grid, flights, noise."""

from sim.uam.flight import Aircraft
from sim.uam.model import PHASES, UamModel
from sim.uam.routing import RouteGrid, Weights, route_grid

__all__ = ["PHASES", "Aircraft", "RouteGrid", "UamModel", "Weights", "route_grid"]
