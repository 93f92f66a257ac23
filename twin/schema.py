"""The city schema's constants, shared by :mod:`twin.city` and :mod:`twin.store`."""

SCHEMA_VERSION = 1
GROUPS = ("grid", "buildings", "roads", "districts", "sensors")
RESOLUTION_RANGE_M = (10.0, 500.0)  # [m] grid cell sizes a city can be built at (Gwangju
# at 10 m: 2,400 x 3,600 cells, built in about 110 s with 1.5 GB peak memory on the dev VM)
