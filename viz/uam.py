"""Air taxis in a scene: routes as 3D tubes, vertiports, aircraft at the output step,
and a legend of their colours.

Drawn whenever the run store has ``/state/uam``; the noise map is the grid layer
``--var noise_lden`` (or ``noise_leq_hour``) like any other grid variable. The routes
shown at a step are those its vertiport pairs fly then (``pair_route``), so a route
update by a service shows up from the step after it.
"""

from __future__ import annotations

import numpy as np

ROUTE_RGB = "#7b3fa0"
VERTIPORT_RGB = "#111111"
# aircraft: not the red of the air monitors' spheres
AIRCRAFT_RGB = {"airborne": "#ff7f0e", "holding": "#e377c2", "landing": "#ffbf00"}
# sizes as fractions of the city's longer side, so a small city keeps them in scale: a
# route tube about 3 pixels wide in a 600-pixel picture, aircraft and pads larger than it
ROUTE_RADIUS, VERTIPORT_RADIUS, AIRCRAFT_RADIUS = 0.0028, 0.008, 0.006
_PHASES = {"airborne": 3, "holding": 4, "landing": 5}  # sim.uam.PHASES (viz reads stores)


class UamLayers:
    """The UAM meshes of one :class:`viz.scene.CityScene` (see the module docstring)."""

    def __init__(self, scene, uam):
        self.scene, self.uam = scene, uam
        self.span_m = max(scene.frame.size)
        self._legend()

    def _legend(self) -> None:
        """What the colours mean, upper right: coloured symbols, black text (VTK would
        colour the text like its symbol, unreadable in amber or pink on white)."""
        from pyvista.plotting.renderer import make_legend_face

        entries = [("air-taxi route", ROUTE_RGB, "rectangle"),
                   ("vertiport", VERTIPORT_RGB, "rectangle")]  # fmt: skip
        entries += [(f"aircraft {name}", rgb, "circle") for name, rgb in AIRCRAFT_RGB.items()]
        size = (0.3, 0.22) if self.scene.narrow else (0.15, 0.13)
        legend = self.scene.renderer.add_legend(
            [list(e) for e in entries], bcolor="white", border=True, size=size,
            loc="upper right", background_opacity=0.85,
        )  # fmt: skip
        for i, (text, rgb, face) in enumerate(entries):
            symbol = make_legend_face(face)
            rgb_u8 = np.array(self.scene.pv.Color(rgb).int_rgb, np.uint8)
            symbol.cell_data["rgb"] = np.tile(rgb_u8, (symbol.n_cells, 1))
            symbol.cell_data.active_scalars_name = "rgb"
            legend.SetEntry(i, symbol, text, [-1.0, -1.0, -1.0])  # -1: the text property's
        legend.ScalarVisibilityOn()
        legend.GetEntryTextProperty().SetColor(0.0, 0.0, 0.0)

    @classmethod
    def of(cls, scene) -> UamLayers | None:
        run = scene.source.run
        if run is None or "state" not in run.children or "uam" not in run["state"].children:
            return None
        return cls(scene, run["state/uam"].to_dataset())

    def routes(self, step: int) -> list[np.ndarray]:
        """(k, 3) scene points of each route flown at ``step``, repeats dropped."""
        u = self.uam.isel(time=step)
        out = []
        for r in np.unique(u["pair_route"].values.astype(int)):
            x, y = self.scene.frame.local(u["route_x"].values[r], u["route_y"].values[r])
            pts = np.column_stack([x, y, u["route_z"].values[r]]).astype(float)
            keep = np.r_[True, np.any(np.diff(pts, axis=0) != 0, axis=1)]
            if keep.sum() > 1:
                out.append(pts[keep])
        return out

    def set_step(self, step: int | None) -> None:
        """Draw the routes, vertiports and aircraft of output step ``step``."""
        if step is None or self.uam.sizes.get("time", 0) == 0:
            return
        pv, add = self.scene.pv, self.scene._add
        routes = self.routes(step)
        if routes:
            tubes = pv.merge(
                [pv.lines_from_points(p).tube(radius=ROUTE_RADIUS * self.span_m) for p in routes]
            )
            add("uam_routes", tubes, color=ROUTE_RGB, opacity=0.85, ambient=0.4)
            pads = np.unique(np.vstack([np.vstack([p[0], p[-1]]) for p in routes]), axis=0)
            disc = pv.Cylinder(direction=(0, 0, 1), radius=VERTIPORT_RADIUS * self.span_m,
                               height=30.0)  # fmt: skip
            add("uam_vertiports", pv.PolyData(pads).glyph(geom=disc, scale=False, orient=False),
                color=VERTIPORT_RGB)  # fmt: skip
        u = self.uam.isel(time=step)
        phase = u["flight_phase"].values
        x, y = self.scene.frame.local(u["flight_x"].values, u["flight_y"].values)
        z = u["flight_z"].values
        for name, code in _PHASES.items():
            pick = phase == code
            key = f"uam_aircraft_{name}"
            if not pick.any():
                if key in self.scene.meshes:
                    self.scene.plotter.remove_actor(key)
                    del self.scene.meshes[key]
                continue
            pts = np.column_stack([x[pick], y[pick], z[pick]]).astype(np.float32)
            ball = pv.Sphere(radius=AIRCRAFT_RADIUS * self.span_m)
            add(key, pv.PolyData(pts).glyph(geom=ball, scale=False, orient=False),
                color=AIRCRAFT_RGB[name])  # fmt: skip
