"""A city as a PyVista scene: terrain, buildings, roads, sensors, air taxis (viz.uam),
labels, sun and camera.

Scene coordinates are metres east and north of the city's south-west corner (the
projected CRS shifted, so single-precision GL and vtk.js keep centimetre detail).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

from twin.errors import InputError
from viz import geometry
from viz.layers import Layer
from viz.places import district_centroids, find_place, sun_position, sun_vector
from viz.source import Source, clock_label, utc64
from viz.uam import UamLayers

LAND_USE_RGB = {
    "water": "#6fa8dc",
    "forest": "#5b8c46",
    "cropland": "#d3dc9a",
    "residential": "#e6dcc8",
    "commercial": "#e0b8a6",
    "industrial": "#bfb3d1",
    "airport": "#c4c4c4",
}
BUILDING_USE_RGB = {
    "residential": "#f3ead8",
    "commercial": "#c5d0de",
    "industrial": "#cdb9dc",
    "public": "#f4b183",
}
ROAD_STYLE = {"local": ("#8a8a8a", 1.5), "arterial": ("#3c3c3c", 2.5), "ring": ("#e67e22", 4.0)}
SENSOR_RGB = {"air": "#d62728", "loop": "#1f77b4", "meter": "#2ca02c"}
# Glyph diameter / side: a share of the city's longer side, at most the sizes that suit
# the 36 km of Gwangju (150, 60, 40 m); 16 m for a monitor in a 2 km city, so no glyph
# hides the streets of a small one.
SENSOR_SIZE_M = {"air": 150.0, "loop": 60.0, "meter": 40.0}
SENSOR_SIZE_SHARE = {"air": 0.008, "loop": 0.003, "meter": 0.002}
UNKNOWN_RGB = "#cccccc"
CAMERAS = ("oblique", "top", "street")
GRID_LAYER_LIFT_M = 50.0  # a translucent grid layer floats this far above the terrain
GRID_LAYER_OPACITY = 0.65
ROAD_LIFT_M = 8.0  # keeps roads above the coarse terrain surface between its corners
LABEL_LIFT_M = GRID_LAYER_LIFT_M + 5.0  # labels sit on the ground, just above any layer
STREET_BACK_M, STREET_UP_M = 900.0, 160.0  # street camera: this far south, this high


def _rgb(hex_colours) -> np.ndarray:
    return np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in hex_colours], np.uint8)


def _flag_rgb(da, table: dict[str, str]) -> np.ndarray:
    """RGB per element of a CF flag variable (``flag_meanings``), grey for unknown flags."""
    meanings = str(da.attrs.get("flag_meanings", "")).split()
    palette = _rgb([table.get(m, UNKNOWN_RGB) for m in meanings] + [UNKNOWN_RGB])
    codes = np.asarray(da.values).astype(np.intp)
    codes[(codes < 0) | (codes >= len(meanings))] = len(meanings)
    return palette[codes]


@dataclass(frozen=True)
class Frame:
    """The city's extent in scene coordinates and the terrain on its cell corners."""

    origin: tuple[float, float]  # CRS (x, y) of the south-west corner [m]
    x_edges: np.ndarray
    y_edges: np.ndarray
    z_corners: np.ndarray

    @classmethod
    def of(cls, source: Source) -> Frame:
        g = source.city.grid
        res = source.city.resolution_m
        x, y = g["x"].values, g["y"].values
        origin = (float(x[0] - res / 2), float(y[0] - res / 2))
        x_edges = np.append(x - res / 2, x[-1] + res / 2) - origin[0]
        y_edges = np.append(y - res / 2, y[-1] + res / 2) - origin[1]
        return cls(origin, x_edges, y_edges, geometry.cell_corners(g["elevation"].values))

    @property
    def size(self) -> tuple[float, float]:
        return float(self.x_edges[-1]), float(self.y_edges[-1])

    def ground(self, x, y) -> np.ndarray:
        """Terrain height [m] under scene points, as the drawn surface has it."""
        return geometry.bilinear(self.x_edges, self.y_edges, self.z_corners, x, y)

    def local(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x) - self.origin[0], np.asarray(y) - self.origin[1]


class CityScene:
    """One city in one renderer (a whole window, or one panel of a comparison).

    Parameters
    ----------
    source : the city (and run) to draw.
    plotter : a ``pyvista.Plotter`` whose active renderer receives the scene.
    layer : optional state layer colouring buildings, roads or a grid overlay.
    camera : ``oblique``, ``top``, ``street`` or ``street:<place>``.
    step : output step whose state and sun are shown (``None`` for a city).
    when : timezone-aware time that lights a city store (which has no clock of its own).
    caption : lines printed above the clock (a panel's name, a comparison's stores).
    """

    def __init__(
        self,
        source: Source,
        plotter,
        layer: Layer | None,
        camera: str,
        step,
        when=None,
        caption: str = "",
    ):
        import pyvista as pv

        self.pv, self.source, self.plotter, self.layer = pv, source, plotter, layer
        self.renderer = plotter.renderer
        self.frame = Frame.of(source)
        self.viewpoint = set_camera(self, camera)  # first: a bad camera fails before work
        self.meshes: dict[str, object] = {}
        self.marks: tuple[list[str], np.ndarray] = ([], np.empty((0, 3)))  # N, scale
        self.caption = caption
        self.clock = None
        self.clock_text = ""  # the caption block as drawn (wrapped in a narrow renderer)
        self.caption_lines: list[str] = []  # its lines unwrapped
        self.when = when
        self._terrain()
        self._buildings()
        self._roads()
        self._sensors()
        self.uam = UamLayers.of(self)
        self._overlay()
        self._labels()
        self._north_arrow_and_scale()
        self._lights()
        self.set_step(step)
        self.renderer.reset_camera_clipping_range()

    @property
    def narrow(self) -> bool:
        """A small renderer (a thumbnail or a panel of a comparison): smaller text."""
        return self.renderer.GetSize()[0] < 700

    # ------------------------------------------------------------ pieces
    def _add(self, name, mesh, **kwargs):
        self.meshes[name] = mesh
        return self.plotter.add_mesh(mesh, name=name, reset_camera=False, **kwargs)

    def _layer_args(self, kind: str, mesh) -> dict | None:
        """Scalars for ``mesh`` when the layer colours this kind of element."""
        if self.layer is None or self.layer.kind != kind:
            return None
        mesh.cell_data["value"] = np.zeros(mesh.n_cells)
        return {
            "scalars": "value",
            "cmap": self.layer.cmap,
            "clim": self.layer.clim,
            "nan_color": "#9e9e9e",
            "nan_opacity": 1.0 if self.layer.floor is None else 0.0,  # below the floor
            "scalar_bar_args": {
                "title": self.layer.title,
                "vertical": False,
                "position_x": 0.3,
                "position_y": 0.02,
                "width": 0.4,
                "height": 0.1,
                "fmt": "%.4g",
                "n_labels": 3 if self.narrow else 5,
                "color": "black",
                "background_color": "white",
                "fill": True,
            },
        }

    def _terrain(self):
        f = self.frame
        points, faces = geometry.grid_surface(f.x_edges, f.y_edges, f.z_corners)
        mesh = self.pv.PolyData(points, faces)
        mesh.cell_data["rgb"] = _flag_rgb(self.source.city.grid["land_use"], LAND_USE_RGB).reshape(
            -1, 3
        )
        self._add("terrain", mesh, scalars="rgb", rgb=True, ambient=0.25, diffuse=0.75)

    def _buildings(self):
        b = self.source.city["buildings"]
        x, y = self.frame.local(b["x"].values, b["y"].values)
        w, d = b["width"].values, b["depth"].values
        corners = [
            self.frame.ground(x + sx * w / 2, y + sy * d / 2) for sx in (-1, 1) for sy in (-1, 1)
        ]
        base = np.min(corners, axis=0) - 1.0  # sunk so no floor floats on a slope
        top = self.frame.ground(x, y) + b["height"].values
        points, faces = geometry.boxes(x, y, w, d, base, top)
        mesh = self.pv.PolyData(points, faces)
        args = self._layer_args("building", mesh)
        if args is None:
            mesh.cell_data["rgb"] = np.repeat(
                _flag_rgb(b["use"], BUILDING_USE_RGB), geometry.FACES_PER_BOX, axis=0
            )
            args = {"scalars": "rgb", "rgb": True}
        self._add("buildings", mesh, ambient=0.3, diffuse=0.7, **args)

    def _road_mesh(self, links: np.ndarray):
        r = self.source.city["roads"]
        nx, ny = self.frame.local(r["x"].values, r["y"].values)
        frm, to = r["from_node"].values[links], r["to_node"].values[links]
        seg = geometry.directed_segments(nx[frm], ny[frm], nx[to], ny[to], offset_m=15.0)
        # a dataset's roads may run beyond the grid: draw only their part over the terrain
        seg, keep = geometry.clip_segments(seg, *self.frame.size)
        self.drawn_links = links[keep]
        n = int(keep.sum())
        xy = seg.reshape(-1, 2)
        z = self.frame.ground(xy[:, 0], xy[:, 1]) + ROAD_LIFT_M
        points = np.column_stack([xy, z]).astype(np.float32)
        lines = np.column_stack([np.full(n, 2), 2 * np.arange(n), 2 * np.arange(n) + 1])
        return self.pv.PolyData(points, lines=lines.ravel())

    def _roads(self):
        r = self.source.city["roads"]
        n = r.sizes["link"]
        if self.layer is not None and self.layer.kind == "link":
            mesh = self._road_mesh(np.arange(n))
            self._add(
                "roads", mesh, line_width=3.0, lighting=False, **self._layer_args("link", mesh)
            )
            return
        if "road_class" in r:
            cls = np.asarray(r["road_class"].values)
            meanings = str(r["road_class"].attrs.get("flag_meanings", "local")).split()
        else:
            cls, meanings = np.zeros(n, int), ["local"]
        for code, meaning in enumerate(meanings):
            links = np.flatnonzero(cls == code)
            if links.size:
                colour, width = ROAD_STYLE.get(meaning, (UNKNOWN_RGB, 1.5))
                mesh = self._road_mesh(links)
                if mesh.n_points:
                    self._add(
                        f"roads_{meaning}", mesh, color=colour, line_width=width, lighting=False
                    )

    def _sensors(self):
        """Monitors as spheres on the ground; loop detectors and meters as small cubes
        (meters on their building's roof)."""
        s = self.source.city["sensors"]
        kinds = np.asarray(s["kind"].values).astype(str)
        x, y = self.frame.local(s["x"].values, s["y"].values)
        z = self.frame.ground(x, y)
        heights = self.source.city["buildings"]["height"].values
        target = s["target"].values
        meter = (kinds == "meter") & (target >= 0) & (target < heights.size)
        z[meter] += heights[target[meter]]
        w, h = self.frame.size
        inside = (x >= 0) & (x <= w) & (y >= 0) & (y <= h)  # a dataset may list sites beyond
        for kind, colour in SENSOR_RGB.items():
            pick = (kinds == kind) & inside
            if not pick.any():
                continue
            size = sensor_size_m(kind, max(w, h))
            pts = np.column_stack([x[pick], y[pick], z[pick] + size / 2])
            geom = (
                self.pv.Sphere(radius=size / 2)
                if kind == "air"
                else self.pv.Cube(x_length=size, y_length=size, z_length=size)
            )
            glyphs = self.pv.PolyData(pts.astype(np.float32)).glyph(
                geom=geom, scale=False, orient=False
            )
            self._add(f"sensors_{kind}", glyphs, color=colour)

    def _overlay(self):
        """Grid and district layers: a translucent sheet over the terrain."""
        if self.layer is None or self.layer.kind not in ("grid", "district"):
            return
        f = self.frame
        points, faces = geometry.grid_surface(f.x_edges, f.y_edges, f.z_corners + GRID_LAYER_LIFT_M)
        mesh = self.pv.PolyData(points, faces)
        args = self._layer_args(self.layer.kind, mesh)
        self._add("overlay", mesh, opacity=GRID_LAYER_OPACITY, lighting=False, **args)

    def _district_points(self) -> tuple[list[str], np.ndarray]:
        """District names and their label points on the ground (scene coordinates)."""
        centroids = district_centroids(self.source.city)
        xy = np.array(list(centroids.values())).reshape(-1, 2)
        x, y = self.frame.local(xy[:, 0], xy[:, 1])
        return list(centroids), np.column_stack([x, y, self.frame.ground(x, y) + LABEL_LIFT_M])

    def _labels(self):
        names, points = self._district_points()
        if not names:
            return
        self.plotter.add_point_labels(
            points,
            names,
            font_size=10 if self.narrow else 14,
            show_points=False,
            shape_opacity=0.6,
            shape_color="white",
            text_color="black",
            always_visible=True,
            reset_camera=False,
        )

    def ground_text(self) -> None:
        """District names, the north mark and the scale's length as flat text on the
        ground (geometry, so the HTML scene, which carries no text overlays, shows them)."""
        names, points = self._district_points()
        height = 0.025 * max(self.frame.size)
        for i, (name, point) in enumerate(
            zip([*names, *self.marks[0]], [*points, *self.marks[1]], strict=True)
        ):
            text = self.pv.Text3D(name, depth=0.0, height=height, center=tuple(point))
            # on a slope, lift the whole name over the highest ground under it
            x0, x1, y0, y1, _, _ = text.bounds
            gx, gy = np.meshgrid(np.linspace(x0, x1, 9), np.linspace(y0, y1, 3))
            top = float(self.frame.ground(gx.ravel(), gy.ravel()).max()) + LABEL_LIFT_M
            text.points[:, 2] = max(top, point[2])
            self._add(f"ground_text_{i}", text, color="black", lighting=False)

    def _north_arrow_and_scale(self):
        if self.viewpoint:  # a street view says it looks north; a scale means nothing there
            return
        w, h = self.frame.size
        span = max(w, h)
        # north arrow in the south-east corner (district names crowd the north), flat
        ax, ay = w - 0.1 * w, 0.15 * h
        az = float(self.frame.ground(ax, ay)) + LABEL_LIFT_M
        length = 0.08 * span
        arrow = self.pv.Arrow(start=(ax, ay, az), direction=(0, 1, 0), scale=length)
        self._add("north_arrow", arrow, color="#c0392b")
        # scale bar in the south-west corner: alternating black/white halves
        bar = nice_length(w / 5)
        x0, y0 = 0.04 * w, 0.05 * h
        thick = 0.006 * span
        z0 = float(self.frame.ground(x0 + bar / 2, y0)) + LABEL_LIFT_M
        centres = x0 + bar * np.array([0.25, 0.75])
        points, faces = geometry.boxes(
            centres, [y0] * 2, [bar / 2] * 2, [thick] * 2, [z0] * 2, [z0 + thick / 2] * 2
        )
        scale = self.pv.PolyData(points, faces)
        scale.cell_data["rgb"] = np.repeat(_rgb(["#111111", "#f5f5f5"]), geometry.FACES_PER_BOX, 0)
        self._add("scale_bar", scale, scalars="rgb", rgb=True, lighting=False)
        label = f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m"
        points = np.array([[ax, ay + length * 1.15, az], [x0 + bar / 2, y0 + 3 * thick, z0]])
        self.marks = (["N", label], points)
        self.plotter.add_point_labels(
            points,
            ["N", label],
            font_size=16,
            show_points=False,
            shape=None,
            text_color="black",
            always_visible=True,
            reset_camera=False,
        )

    def _lights(self):
        self.sun = self.pv.Light(light_type="scene light", positional=False)
        self.sky = self.pv.Light(light_type="headlight")
        self.renderer.add_light(self.sun)
        self.renderer.add_light(self.sky)

    # ------------------------------------------------------------ per step
    def set_step(self, step) -> None:
        """Show output step ``step``: layer values, air taxis, sunlight and clock."""
        if self.layer is not None:
            self._set_layer_values(self.layer.values(step))
        if self.uam is not None:
            self.uam.set_step(step)
        time_utc, label = None, None
        if step is not None:
            time_utc = self.source.times[step]
            label = self.source.clock_label(time_utc)
        elif self.when is not None:
            time_utc, label = utc64(self.when), clock_label(self.when)
        elevation, azimuth = sun_position(self.source.city, time_utc)
        w, h = self.frame.size
        centre = np.array([w / 2, h / 2, float(np.median(self.frame.z_corners))])
        self.sun.focal_point = tuple(centre)
        self.sun.position = tuple(centre + sun_vector(elevation, azimuth) * max(w, h))
        # full sunlight from 20 deg up, fading through dusk to none below the horizon
        daylight = float(np.clip(np.sin(np.deg2rad(elevation)) / np.sin(np.deg2rad(20)), 0, 1))
        self.sun.intensity = 0.85 * daylight
        self.sun.color = (1.0, 0.93 + 0.07 * daylight, 0.82 + 0.18 * daylight)
        self.sky.intensity = 0.25 + 0.25 * (1 - daylight)
        self.sky.color = (0.8 + 0.2 * daylight, 0.85 + 0.15 * daylight, 1.0)
        lines = [self.caption] if self.caption else []
        if label is not None:
            sep = "\n" if self.narrow else "   "
            lines.append(f"{label}{sep}sun {elevation:.0f}° up, {azimuth:.0f}° from N")
        if self.viewpoint:
            lines.append(self.viewpoint)
        if self.layer is not None and self.layer.note:  # the legend's range in words
            lines.append(f"{self.layer.title}: {self.layer.note}")
        self.caption_lines = lines
        width = 60 if self.narrow else 200
        parts = [part for line in lines for part in line.split("\n")]
        wrapped = [textwrap.wrap(p, width) if len(p) > width else [p] for p in parts]
        self.clock_text = "\n".join(w for part in wrapped for w in part)
        if not self.clock_text:
            return
        if self.clock is None:
            self.clock = self.plotter.add_text(
                self.clock_text,
                position="upper_left",
                font_size=8 if self.narrow else 11,
                color="black",
            )
        else:
            self.clock.set_text("upper_left", self.clock_text)

    def _set_layer_values(self, values: np.ndarray) -> None:
        kind = self.layer.kind
        if kind == "district":
            values = values[np.asarray(self.source.city.grid["district"].values).ravel()]
        values = np.asarray(values, dtype=np.float64).ravel()
        if self.layer.floor is not None:
            values = np.where(values < self.layer.floor, np.nan, values)
        name = {"building": "buildings", "link": "roads"}.get(kind, "overlay")
        mesh = self.meshes[name]
        if kind == "building":
            values = np.repeat(values, geometry.FACES_PER_BOX)
        elif kind == "link":
            values = values[self.drawn_links]
        mesh.cell_data["value"] = values
        mesh.Modified()


def sensor_size_m(kind: str, span_m: float) -> float:
    """Glyph size [m] of a ``kind`` sensor in a city whose longer side is ``span_m``."""
    return min(SENSOR_SIZE_M[kind], SENSOR_SIZE_SHARE[kind] * span_m)


def nice_length(target_m: float) -> float:
    """The longest 1, 2 or 5 x 10^k metres not above ``target_m`` (scale-bar length)."""
    magnitude = 10.0 ** np.floor(np.log10(target_m))
    return float(max(s * magnitude for s in (1, 2, 5) if s * magnitude <= target_m))


def set_camera(scene: CityScene, spec: str) -> str:
    """Camera presets: ``oblique`` (whole city from the south-south-west), ``top`` (north
    up, parallel projection, so distances read the same everywhere) and ``street`` or
    ``street:<place>`` (low over a named place, looking north).

    Returns where the camera stands in words for a street view (``""`` otherwise)."""
    name, _, place = str(spec).partition(":")
    if name not in CAMERAS or (place and name != "street"):
        raise InputError(f"camera {spec!r}: expected one of {', '.join(CAMERAS)} or street:<place>")
    cam = scene.renderer.camera
    w, h = scene.frame.size
    width_px, height_px = scene.renderer.GetSize()
    aspect = max(width_px, 1) / max(height_px, 1)
    zc = float(np.median(scene.frame.z_corners))
    centre = np.array([w / 2, h / 2, zc])
    if name == "top":
        cam.focal_point = tuple(centre)
        cam.position = tuple(centre + np.array([0, 0, 3 * max(w, h)]))
        cam.up = (0, 1, 0)
        cam.enable_parallel_projection()
        cam.parallel_scale = 0.5 * max(h, w / aspect) * 1.15  # room for the caption block
    elif name == "oblique":
        cam.disable_parallel_projection()
        cam.view_angle = 30.0
        half_fov = np.arctan(np.tan(np.deg2rad(15.0)) * aspect)
        distance = 0.62 * w / np.tan(half_fov)
        direction = sun_vector(35.0, 200.0)
        cam.focal_point = tuple(centre + np.array([0, 0.04 * h, 0]))
        cam.position = tuple(centre + direction * distance)
        cam.up = (0, 0, 1)
    else:
        found, (px, py) = find_place(scene.source.city, place or None)
        lx, ly = scene.frame.local(px, py)
        ground = float(scene.frame.ground(lx, ly))
        cam.disable_parallel_projection()
        cam.view_angle = 55.0
        cam.focal_point = (float(lx), float(ly), ground + 25.0)
        cam.position = (float(lx), float(ly) - STREET_BACK_M, ground + STREET_UP_M)
        cam.up = (0, 0, 1)
        return (
            f"street view of {found}: camera {STREET_BACK_M:g} m south, "
            f"{STREET_UP_M:g} m up, looking north"
        )
    return ""
