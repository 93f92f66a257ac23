"""The city schema's constants, shared by :mod:`twin.city` and :mod:`twin.store`."""

SCHEMA_VERSION = 1
GROUPS = ("grid", "buildings", "roads", "districts", "sensors")
RESOLUTION_RANGE_M = (25.0, 500.0)  # [m] grid cell sizes a city can be built at
