"""The models of a coupled run, built from a City and a Scenario: the model registry.

A :class:`Component` is one model of a run with everything the loop needs: the model
(:class:`sim.protocol.Model`), its init inputs on the backend, and its stage, the
function that builds its forcing each coupling step from the :class:`~twin.stages.Exchange`
(the weather and the other models' latest outputs). :data:`REGISTRY` maps names to the
factories that build them, in step order; the runner steps whatever the factories return.

Adding a model is its code in ``sim/<model>/``, a factory here (or passed to
:func:`register` from anywhere, e.g. a test) and its stage: no change to the runner,
the store or the CLI.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import gpu
from sim.air import AirModel
from sim.energy import EnergyModel, heating
from sim.protocol import Model
from sim.traffic import Demand, Detectors, Network, TrafficModel, gravity_od
from sim.weather import Weather
from twin import tariffs
from twin.city import City
from twin.errors import InputError
from twin.kpi import KpiModel, traffic_kpis
from twin.scenario import Scenario
from twin.stages import EvArrivals, Exchange, HeatingEmissions, RoadEmissions, grid_cells


@dataclass
class Component:
    """One model of a coupled run.

    Attributes
    ----------
    name : its group in the run store (``/state/<name>``) and key in the exchange.
    model : the model.
    forcing : its stage: the forcing of a step from the exchange.
    inputs : init inputs (backend arrays).
    stage : label of the stage in timings (default ``"<name> inputs"``).
    sizes : lengths of output dims the city does not define (the city's are known).
    coords : label coordinates of those dims for the store,
        ``{name: (dims, values, attrs)}`` (the city's dims get theirs from the city).
    kpis : the component's KPIs from its state (host floats, names in
        :data:`twin.kpi.KPIS`), or None.
    """

    name: str
    model: Model
    forcing: Callable[[Exchange], Mapping[str, Any]]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    stage: str = ""
    sizes: Mapping[str, int] = field(default_factory=dict)
    coords: Mapping[str, tuple[tuple[str, ...], np.ndarray, dict]] = field(default_factory=dict)
    kpis: Callable[[Mapping[str, Any]], dict[str, float]] | None = None

    def __post_init__(self):
        self.stage = self.stage or f"{self.name} inputs"


@dataclass
class Assembly:
    """What a factory gets: the city, the scenario, the backend and the run's weather."""

    city: City
    scenario: Scenario
    backend: gpu.Backend
    weather: Weather
    with_sensors: bool = False  # a run with services: the sensors join the loop

    @property
    def xp(self):
        return self.backend.xp

    @functools.cached_property
    def network(self) -> Network:
        """The road network of the city for the traffic model."""
        r = self.city["roads"]
        return Network.from_arrays(
            *(r[k].values for k in ("x", "y", "signalized", "from_node", "to_node", "length")),
            *(r[k].values for k in ("lanes", "free_speed", "capacity", "jam_density")),
        )

    @functools.cached_property
    def zones(self) -> tuple:
        """The traffic zones of :func:`traffic_zones`."""
        return traffic_zones(self.city, self.network, self.scenario.traffic.zone_size_m)


Factory = Callable[[Assembly], Component | None]


# ------------------------------------------------------------------------------- traffic
def traffic_zones(city: City, roads: Network, zone_size_m: float):
    """Traffic zones: square blocks of the grid with people, each served by one node.

    Returns zone node indices, zone population, population-weighted centroids (zone, 2)
    and the district of each zone.
    """
    g = city.grid
    pop = g["population"].values.astype(np.float64)
    if not pop.sum() > 0:
        raise InputError(
            f"city {city.name!r} has no residents (its population grid is all zero), so there "
            "is no traffic demand; an imported city needs `twin city import-osm --population N`"
        )
    gx, gy = np.meshgrid(g["x"].values, g["y"].values)
    bx = ((gx - gx.min()) // zone_size_m).astype(np.int64)
    by = ((gy - gy.min()) // zone_size_m).astype(np.int64)
    block = (by * (bx.max() + 1) + bx).ravel()
    n = int(block.max()) + 1
    people = np.bincount(block, weights=pop.ravel(), minlength=n)
    cx = np.bincount(block, weights=(pop * gx).ravel(), minlength=n)
    cy = np.bincount(block, weights=(pop * gy).ravel(), minlength=n)
    # blocks with under 0.5 % of the people are left to the nearest zone's local streets
    keep = people > 0.005 * people.sum()
    people, cx, cy = people[keep], cx[keep] / people[keep], cy[keep] / people[keep]
    d2 = (cx[:, None] - roads.node_x[None, :]) ** 2 + (cy[:, None] - roads.node_y[None, :]) ** 2
    nodes = d2.argmin(axis=1)
    nodes, inverse = np.unique(nodes, return_inverse=True)
    merged = np.bincount(inverse, weights=people)
    xy = (
        np.column_stack(
            [np.bincount(inverse, weights=people * cx), np.bincount(inverse, weights=people * cy)]
        )
        / merged[:, None]
    )
    district = g["district"].values
    iy = np.clip(np.searchsorted(g["y"].values, xy[:, 1]), 0, district.shape[0] - 1)
    ix = np.clip(np.searchsorted(g["x"].values, xy[:, 0]), 0, district.shape[1] - 1)
    return nodes, merged, xy, district[iy, ix].astype(np.int64)


def loop_detectors(a: Assembly) -> Detectors:
    """The city's loop sensors (``/sensors`` of kind ``loop``, ``target`` link) as the
    traffic model's detectors. Their setback from the stop line is the sensors' optional
    ``setback`` variable [m] where it is finite, else ``[traffic] detector_setback_m``;
    the sensors' ``x``, ``y`` only place them in pictures. In runs with services and
    ``[sensors] approach_cameras``, a camera on every approach of a signal follows them."""
    s, ts = a.city["sensors"], a.scenario.traffic
    loops = np.array([str(k) == "loop" for k in s["kind"].values], dtype=bool)
    setback = np.full(int(loops.sum()), ts.detector_setback_m)
    if "setback" in s:
        given = s["setback"].values[loops].astype(np.float64)
        setback = np.where(np.isfinite(given), given, setback)
    links = s["target"].values[loops].astype(np.int64)
    if a.with_sensors and a.scenario.sensors.approach_cameras:
        # services see every signal approach (queue cameras), after the loops
        cameras = np.flatnonzero(a.network.signalized[a.network.to_node])
        links = np.concatenate([links, cameras])
        setback = np.concatenate([setback, np.full(cameras.size, ts.detector_setback_m)])
    interval = ts.detector_interval_s or a.scenario.output_interval.total_seconds()
    return Detectors(
        links,
        setback,
        interval_s=interval,
        effective_length_m=ts.effective_vehicle_length_m,
    )


def traffic(a: Assembly) -> Component:
    ts = a.scenario.traffic
    nodes = a.zones[0]
    if nodes.size < 2:
        extent = [float(v.max() - v.min()) / 1e3 for v in (a.city.grid["x"], a.city.grid["y"])]
        raise InputError(
            f"[traffic] zone_size_m = {ts.zone_size_m:g} m makes {nodes.size} traffic zone of "
            f"the {extent[0]:.1f} x {extent[1]:.1f} km city {a.city.name!r}; traffic needs 2 or "
            "more: set [traffic] zone_size_m smaller (100 m at least)"
        )
    signal_nodes = np.flatnonzero(a.network.signalized)
    try:
        model = traffic_model(a, traffic_parts(a))
    except ValueError as err:  # settings that do not fit this city's roads or sensors
        raise InputError(f"scenario [traffic] on city {a.city.name!r}: {err}") from None

    def forcing(ex: Exchange) -> dict:
        # the city's clock (the climatology's UTC offset), whatever offset the start has
        return {
            "time_of_day_s": float(ex.weather["local_hour"]) * 3600.0,
            "demand_scale": ts.demand_scale,
        }

    return Component(
        "traffic",
        model,
        forcing,
        stage="demand",
        sizes={"signal": signal_nodes.size, "detector": model.n_detectors},
        coords={
            "signal": (
                ("signal",),
                signal_nodes,
                {"units": "1", "long_name": "node of the signal"},
            ),
            "detector_link": (
                ("detector",),
                model.detectors.link if model.detectors is not None else np.zeros(0, np.int64),
                {"units": "1", "long_name": "link of the detector"},
            ),
        },
        kpis=lambda st: traffic_kpis(model.counters(st)),
    )


def traffic_parts(a: Assembly) -> dict[str, Any]:
    """What the traffic model of ``a`` is built on: ``network``, ``demand`` (the zones'
    gravity OD matrix), ``detectors``, ``signal_control`` ({node: mode}) and
    ``signal_phases`` ({node: phases}) (the learning environments join copies of them)."""
    ts = a.scenario.traffic
    nodes, people, xy, _ = a.zones
    signal_nodes = np.flatnonzero(a.network.signalized)
    return {
        "network": a.network,
        "demand": Demand(nodes, gravity_od(people, xy, ts.trips_per_day)),
        "detectors": loop_detectors(a),
        "signal_control": dict.fromkeys(signal_nodes.tolist(), ts.signal_control)
        | ts.signal_control_nodes,
        "signal_phases": ts.signal_phases,
    }


def traffic_model(a: Assembly, parts: Mapping[str, Any]) -> TrafficModel:
    """The traffic model of ``a``'s scenario settings on ``parts`` (:func:`traffic_parts`)."""
    ts = a.scenario.traffic
    return TrafficModel(
        parts["network"],
        parts["demand"],
        route_interval_s=ts.route_interval_s,
        route_spread_s=ts.route_spread_s,
        route_band_s=ts.route_band_s,
        green_s=ts.signal_cycle_s / 2 - ts.amber_s - ts.all_red_s,
        amber_s=ts.amber_s,
        all_red_s=ts.all_red_s,
        signal_phases=parts["signal_phases"],
        signal_control=parts["signal_control"],
        min_green_s=ts.min_green_s,
        max_green_s=ts.max_green_s,
        passage_s=ts.passage_s,
        detectors=parts["detectors"],
        demand_noise=ts.demand_noise,
        seed=ts.seed,
        exit_before_signal=ts.exit_before_signal,
    )


# ----------------------------------------------------------------------------------- air
def air(a: Assembly) -> Component:
    sa, xp, city = a.scenario.air, a.xp, a.city
    species = tuple(sa.species)
    seed = a.scenario.weather.seed
    base = {s: sa.background_ugm3[s] for s in species if s in sa.background_ugm3}
    start = sa.background_factor(seed, a.scenario.start)
    model = AirModel(
        dx_m=city.resolution_m,
        species=species,
        background_ugm3={s: b * start for s, b in base.items()},
    )
    roads = RoadEmissions(city, species, xp)
    gas = HeatingEmissions(city, species, a.scenario.energy.electric_heating_share, xp)
    scale = sa.emission_scale

    def forcing(ex: Exchange) -> dict:
        w = ex.weather
        road = roads(ex.outputs["traffic"])
        boilers = gas(ex.outputs["energy"]["heating_power"])  # the last energy step's
        factor = sa.background_factor(seed, ex.time)
        return {
            **{k: w[k] for k in ("wind_speed", "wind_from_direction", "mixing_height")},
            **{f"emission_{s}": (road[s] + boilers[s]) * scale for s in species},
            **{f"background_{s}": b * factor for s, b in base.items()},
        }

    inputs = {"building_height": xp.asarray(city.grid["building_height"].values)}
    return Component("air", model, forcing, inputs, stage="emissions")


# -------------------------------------------------------------------------------- energy
_WEATHER_TO_ENERGY = (
    "time_utc", "local_hour", "air_temperature", "ghi", "dni", "dhi",
    "solar_elevation", "solar_azimuth", "wind_speed",
)  # fmt: skip


def energy(a: Assembly) -> Component:
    e, xp, city = a.scenario.energy, a.xp, a.city
    b, g = city["buildings"], city.grid
    price, co2 = tariffs.scenario_tables(e)
    model = EnergyModel(
        pv_coverage=e.pv_coverage,
        ev_share=e.ev_share,
        electric_heating_share=e.electric_heating_share,
        ev_deadlines=e.ev_deadlines,
        tou_price_krw_per_kwh=price,
        grid_co2_hourly_t_per_mwh=co2,
    )
    n_districts = city["districts"].sizes["district"]
    ev = EvArrivals(a.zones[3], n_districts, xp)

    def forcing(ex: Exchange) -> dict:
        arrivals = ev(ex.models["traffic"].zone_arrivals(ex.states["traffic"]))
        return {k: ex.weather[k] for k in _WEATHER_TO_ENERGY} | {
            "ev_arrivals": model.ev_sessions_from_arrivals(arrivals)
        }

    inputs = {k: xp.asarray(b[k].values) for k in b.data_vars}
    inputs |= {
        "n_districts": n_districts,
        "district_population": xp.asarray(city["districts"]["population"].values, xp.float64),
        "building_height": xp.asarray(g["building_height"].values),
        "elevation": xp.asarray(g["elevation"].values),
        "grid_x": xp.asarray(g["x"].values),
        "grid_y": xp.asarray(g["y"].values),
    }
    return Component("energy", model, forcing, inputs, stage="ev arrivals", kpis=model.kpis)


# ---------------------------------------------------------------------------------- KPIs
def kpi(a: Assembly) -> Component:
    city, xp = a.city, a.xp
    g, s = city.grid, city["sensors"]
    air_sites = np.array([str(k) == "air" for k in s["kind"].values])
    model = KpiModel(
        population=xp.asarray(g["population"].values, dtype=xp.float64),
        population_total=float(g["population"].sum()),
        monitor_cells=xp.asarray(grid_cells(g, s["x"].values[air_sites], s["y"].values[air_sites])),
        link_length=xp.asarray(city["roads"]["length"].values, dtype=xp.float64),
        gas_gj_per_kw_s=heating.fuel_gj_per_kw_s(a.scenario.energy.electric_heating_share),
        species=a.scenario.air.species,
        cell_district=xp.asarray(g["district"].values.astype(np.int64)),
        n_districts=city["districts"].sizes["district"],
    )

    def forcing(ex: Exchange) -> dict:
        t, air_out = ex.outputs["traffic"], ex.outputs["air"]
        return {
            **{k: air_out[k] for k in ("pm25", "no2") if k in air_out},
            "density": t["density"],
            "speed": t["speed"],
            "heating_power": ex.outputs["energy"]["heating_power"],
            "hour_done": ex.hour_done,
        }

    return Component("kpi", model, forcing, stage="kpi", kpis=model.values)


def sensors(a: Assembly) -> Component | None:
    """The city's sensors (:mod:`twin.services.sensors`), in runs with services only."""
    if not a.with_sensors:
        return None
    from twin.services.sensors import sensor_component

    return sensor_component(a, a.scenario.sensors)


# ----------------------------------------------------------------------------------- UAM
def uam(a: Assembly) -> Component | None:
    """Air taxis (:mod:`twin.uam`), in runs whose scenario has a ``[uam]`` table only.

    Routing runs on the host side here (and at route updates), never in the step; the
    stage gives the step the run's clock as host numbers.
    """
    if a.scenario.uam is None:
        return None
    from twin.catalog import load_manifest
    from twin.uam import start_local_hour, uam_model

    model = uam_model(a.city, load_manifest(a.scenario.city.dataset), a.scenario, a.weather)
    first_hour = start_local_hour(a.scenario, a.weather)

    def forcing(ex: Exchange) -> dict:
        t = ex.step * ex.dt_s
        return {
            "time_s": t,
            "local_hour": (first_hour + t / 3600.0) % 24.0,
            "hour_done": ex.hour_done,
        }

    sizes = {
        "flight": model.n_flights,
        "vertiport": model.n_vertiports,
        "route": model.n_routes,
        "route_point": model.n_points,
        "pair": len(model.pairs),
    }
    return Component("uam", model, forcing, stage="uam clock", sizes=sizes, kpis=model.kpis)


REGISTRY: dict[str, Factory] = {
    "traffic": traffic,
    "air": air,
    "energy": energy,
    "uam": uam,
    "sensors": sensors,
    "kpi": kpi,
}


def register(name: str, factory: Factory, *, before: str | None = "kpi") -> None:
    """Add a model to every run built from now on, stepped before ``before`` (default:
    after the physical models, before the KPI sums; None: last). A factory may return
    None to leave its model out of a run (e.g. when the scenario does not ask for it)."""
    if name in REGISTRY:
        raise ValueError(f"a model named {name!r} is registered already")
    items = list(REGISTRY.items())
    at = len(items) if before is None else [k for k, _ in items].index(before)
    items.insert(at, (name, factory))
    REGISTRY.clear()
    REGISTRY.update(items)


def unregister(name: str) -> None:
    """Remove a model added with :func:`register`."""
    del REGISTRY[name]


def build(assembly: Assembly) -> list[Component]:
    """Every registered model's component for this run, in step order."""
    return [c for factory in REGISTRY.values() if (c := factory(assembly)) is not None]
