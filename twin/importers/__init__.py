"""Importers of real-world city data (extra ``geo``): ``import_osm`` builds a City from
an OpenStreetMap extract (see :mod:`twin.importers.osm`)."""

from __future__ import annotations

__all__ = ["import_osm"]


def __getattr__(name: str):
    # pyosmium and shapely load only when an import actually runs
    if name == "import_osm":
        from twin.importers.osm import import_osm

        return import_osm
    raise AttributeError(f"module 'twin.importers' has no attribute {name!r}")
