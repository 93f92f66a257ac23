"""Physics of the twin: traffic, air, energy, solar and weather models over ``xp`` arrays.

Nothing here imports xarray, zarr, ray or pyvista; arrays come from :mod:`gpu`.
"""
