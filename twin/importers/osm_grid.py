"""The imported city's grid: cell lookup and rasterizing polygons, lines and a DEM onto it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.errors import InputError

MAX_CELLS = 25_000_000  # 5,000 x 5,000: a 125 km square at 25 m


@dataclass(frozen=True)
class Grid:
    """Cells of ``res`` metres from the south-west corner ``(x0, y0)`` [m]; row 0 south."""

    x0: float
    y0: float
    res: float
    nx: int
    ny: int

    @classmethod
    def covering(cls, xmin: float, ymin: float, xmax: float, ymax: float, res: float) -> Grid:
        """The grid of whole cells on multiples of ``res`` that covers the box [m]."""
        x0, y0 = math.floor(xmin / res) * res, math.floor(ymin / res) * res
        nx = max(1, math.ceil((xmax - x0) / res))
        ny = max(1, math.ceil((ymax - y0) / res))
        if nx * ny > MAX_CELLS:
            raise InputError(
                f"the area ({(xmax - xmin) / 1e3:.1f} x {(ymax - ymin) / 1e3:.1f} km) at "
                f"--resolution {res:g} m needs {nx * ny:,} cells, more than {MAX_CELLS:,}; "
                "choose a coarser resolution or a smaller --bbox"
            )
        return cls(x0, y0, float(res), nx, ny)

    @property
    def shape(self) -> tuple[int, int]:
        return self.ny, self.nx

    @property
    def x(self) -> np.ndarray:
        return self.x0 + (np.arange(self.nx) + 0.5) * self.res

    @property
    def y(self) -> np.ndarray:
        return self.y0 + (np.arange(self.ny) + 0.5) * self.res

    def index(self, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and whether each point [m] lies on the grid."""
        ix = np.floor((np.asarray(x) - self.x0) / self.res).astype(np.int64)
        iy = np.floor((np.asarray(y) - self.y0) / self.res).astype(np.int64)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        return iy, ix, inside

    def cells_in(self, geom) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the cells whose centre lies in the shapely polygon ``geom``."""
        import shapely

        xmin, ymin, xmax, ymax = shapely.bounds(geom)
        i0 = max(math.ceil((xmin - self.x0) / self.res - 0.5), 0)
        i1 = min(math.floor((xmax - self.x0) / self.res - 0.5) + 1, self.nx)
        j0 = max(math.ceil((ymin - self.y0) / self.res - 0.5), 0)
        j1 = min(math.floor((ymax - self.y0) / self.res - 0.5) + 1, self.ny)
        if i0 >= i1 or j0 >= j1:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        jj, ii = np.mgrid[j0:j1, i0:i1]
        if jj.size > 4:
            shapely.prepare(geom)
        cx, cy = self.x0 + (ii + 0.5) * self.res, self.y0 + (jj + 0.5) * self.res
        inside = shapely.contains_xy(geom, cx, cy)
        return jj[inside], ii[inside]

    def cells_on_line(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the cells a polyline [m] passes through (sampled at res/4)."""
        if x.size < 2:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        seg = np.hypot(np.diff(x), np.diff(y))
        n = np.maximum(1, np.ceil(seg / (self.res / 4))).astype(np.int64)
        t = np.concatenate([np.arange(k) / k for k in n] + [np.ones(1)])
        start = np.append(np.repeat(np.arange(seg.size), n), seg.size - 1)
        px = x[start] + t * (x[start + 1] - x[start])
        py = y[start] + t * (y[start + 1] - y[start])
        iy, ix, inside = self.index(px, py)
        return iy[inside], ix[inside]


def resample_dem(path: str | Path, grid: Grid, crs: str) -> tuple[np.ndarray, int]:
    """Terrain [m] from a GeoTIFF (any CRS) at the grid's cell centres, bilinear.

    Cells the DEM does not cover (or marks as nodata) take the mean of those it does;
    returns the elevation (y, x) float32 and the number of such cells.
    """
    try:
        import rioxarray  # noqa: F401 (registers the .rio accessor)
        from affine import Affine
        from rasterio.enums import Resampling
    except ImportError:
        raise InputError(
            "--dem needs rioxarray: install the 'geo' extra (pip install 'gwangju-twin[geo]')"
        ) from None
    import xarray as xr

    if not Path(path).is_file():
        raise InputError(f"--dem {path}: no such file")
    try:
        dem = xr.open_dataarray(path, engine="rasterio", mask_and_scale=True)
    except Exception as err:  # rasterio raises its own error types for unreadable rasters
        raise InputError(f"--dem {path}: not a readable raster ({err})") from None
    if dem.rio.crs is None:
        raise InputError(f"--dem {path}: the raster has no CRS; write one into the file")
    north = grid.y0 + grid.ny * grid.res
    out = dem.isel(band=0, drop=True) if "band" in dem.dims else dem
    out = out.rio.reproject(
        crs,
        shape=(grid.ny, grid.nx),
        transform=Affine(grid.res, 0.0, grid.x0, 0.0, -grid.res, north),
        resampling=Resampling.bilinear,
        nodata=np.nan,
    )
    z = np.asarray(out.values, dtype=np.float64)[::-1]  # north-up raster -> row 0 south
    missing = ~np.isfinite(z)
    if missing.all():
        raise InputError(f"--dem {path}: the raster covers none of the city's grid")
    z[missing] = z[~missing].mean()
    return z.astype(np.float32), int(missing.sum())
