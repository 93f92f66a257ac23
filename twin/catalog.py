"""Shipped datasets: find them, read and validate their manifests (``dataset.toml``).

Manifests live in ``datasets/<name>/dataset.toml`` in the source tree and in
``twin/_datasets/<name>/`` inside an installed wheel (a top-level ``datasets``
module would shadow the PyPI library of that name).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.errors import InputError, format_validation_error

Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Positive = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Place(_Strict):
    name: str
    lat: Lat
    lon: Lon


class District(Place):
    population: Annotated[int, Field(ge=0)]


class Mountain(Place):
    peak_m: Positive
    radius_m: Positive


class River(_Strict):
    name: str
    width_m: Positive
    path: list[tuple[Lat, Lon]] = Field(min_length=2)


class Centre(Place):
    weight: Annotated[float, Field(gt=0, le=1)]
    radius_m: Positive


class Industrial(Place):
    semi_axes_m: tuple[Positive, Positive]


class Airport(Place):
    length_m: Positive
    width_m: Positive
    bearing_deg: float


class RoadClass(_Strict):
    lanes: Annotated[int, Field(ge=1, le=8)]
    free_speed_kmh: Positive
    capacity_vph: Positive
    jam_density_vpkm: Positive


class Roads(_Strict):
    spacing_m: Annotated[float, Field(ge=100)]
    arterial_every: Annotated[int, Field(ge=1)]
    ring_centre_lat: Lat
    ring_centre_lon: Lon
    ring_semi_axes_m: tuple[Positive, Positive]
    ring_node_spacing_m: Annotated[float, Field(ge=100)]
    local: RoadClass
    arterial: RoadClass
    ring: RoadClass


class Sensors(_Strict):
    loop_detectors: Annotated[int, Field(ge=0)]
    smart_meters: Annotated[int, Field(ge=0)]
    air: list[Place]


class Vertiport(Place):
    """An air-taxi vertiport: its pads (take-off and landing positions)."""

    pads: Annotated[int, Field(ge=1, le=50)] = 2
    note: str = ""


class NoFly(_Strict):
    """A volume air taxis may not enter: a polygon of (lat, lon) vertices between
    ``floor_m`` and ``ceiling_m`` above sea level."""

    name: str
    polygon: list[tuple[Lat, Lon]] = Field(min_length=3)
    floor_m: float = 0.0
    ceiling_m: float
    note: str = ""

    @model_validator(mode="after")
    def _heights_ordered(self):
        if not self.ceiling_m > self.floor_m:
            raise ValueError(
                f"no-fly volume {self.name!r}: ceiling_m ({self.ceiling_m:g}) must be above "
                f"floor_m ({self.floor_m:g})"
            )
        return self


class Uam(_Strict):
    """The city's urban air mobility sites: vertiports and no-fly volumes."""

    vertiports: list[Vertiport] = Field(min_length=2)
    no_fly: list[NoFly] = []


class Manifest(_Strict):
    """A validated ``dataset.toml``; ``folder`` is where it was read from."""

    schema_: Annotated[int, Field(alias="schema", ge=1, le=1)]
    name: str
    title: str
    crs: str
    bounds_m: tuple[float, float, float, float]
    base_elevation_m: float
    lot_spacing_m: Annotated[float, Field(ge=20)]
    source: str
    files: dict[str, str] = {}
    districts: list[District] = Field(min_length=1, max_length=127)
    mountains: list[Mountain] = []
    rivers: list[River] = []
    centres: list[Centre] = Field(min_length=1)
    industrial: list[Industrial] = []
    airport: Airport | None = None
    roads: Roads
    sensors: Sensors
    uam: Uam | None = None
    folder: Path = Path()

    @model_validator(mode="after")
    def _bounds_ordered(self):
        xmin, ymin, xmax, ymax = self.bounds_m
        if not (xmax > xmin and ymax > ymin):
            raise ValueError(
                "bounds_m must be [xmin, ymin, xmax, ymax] with xmax > xmin, ymax > ymin"
            )
        return self

    @model_validator(mode="after")
    def _files_inside_folder(self):
        for key, name in self.files.items():
            if not (self.folder / name).resolve().is_relative_to(self.folder.resolve()):
                raise ValueError(
                    f"files.{key} = {name!r} points outside the dataset folder; "
                    "dataset files must live inside it"
                )
        return self

    def file(self, key: str) -> Path:
        """Path of the existing file listed under ``[files] key``."""
        manifest = self.folder / "dataset.toml"
        if key not in self.files:
            raise InputError(f"{manifest}: [files] has no entry {key!r}; has: {sorted(self.files)}")
        path = (self.folder / self.files[key]).resolve()
        if not path.is_file():
            raise InputError(f"{manifest}: files.{key} = {self.files[key]!r}: no such file {path}")
        return path


def datasets_root() -> Path:
    """The folder holding shipped datasets (installed wheel first, then the source tree)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_datasets"
    return packaged if packaged.is_dir() else here.parent / "datasets"


def known_datasets() -> list[str]:
    root = datasets_root()
    return sorted(p.parent.name for p in root.glob("*/dataset.toml"))


def load_manifest(name_or_path: str | Path) -> Manifest:
    """Read and validate a dataset manifest by shipped name, folder or ``dataset.toml`` path."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        candidate = candidate / "dataset.toml"
    if not candidate.is_file():
        shipped = datasets_root() / str(name_or_path) / "dataset.toml"
        if not shipped.is_file():
            known = ", ".join(known_datasets()) or "none"
            raise InputError(
                f"unknown dataset {str(name_or_path)!r}: not a shipped dataset name "
                f"(known: {known}) nor a path to a dataset folder or dataset.toml"
            )
        candidate = shipped
    try:
        raw = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{candidate}: not valid TOML ({err})") from None
    try:
        manifest = Manifest.model_validate({**raw, "folder": candidate.parent})
    except ValidationError as err:
        raise InputError(format_validation_error(candidate, err)) from None
    return manifest
