"""Road network: nodes, directed links and each link's triangular fundamental diagram.

Arrays are stored exactly as the city stores them (``/roads``, docs/variables.md units):
node ``x``, ``y`` [m] and ``signalized`` (0/1); link ``from_node``, ``to_node``,
``length`` [m], ``lanes``, ``free_speed`` [m s-1], ``capacity`` [veh s-1 per lane]
and ``jam_density`` [veh m-1 per lane]. Everything here is host NumPy: the network is
static, and the model moves what it needs to the array backend once.

References
----------
Newell, G. F. (1993). A simplified theory of kinematic waves in highway traffic,
part I. Transportation Research Part B 27(4), 281-287.
https://doi.org/10.1016/0191-2615(93)90038-C
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _vector(name: str, values, n: int | None, dtype) -> np.ndarray:
    """``values`` as a 1-D array of ``dtype`` (length ``n`` if given), or a ValueError."""
    try:
        a = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: cannot be read as {np.dtype(dtype).name} ({err})") from None
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name}: expected {n} values (one per item), got {a.shape[0]}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        bad = np.flatnonzero(~np.isfinite(a))
        raise ValueError(f"{name}: non-finite value at index {format_indices(bad)}")
    return a


def _integers(name: str, values, n: int | None) -> np.ndarray:
    """``values`` as int64, refusing fractional numbers instead of truncating them."""
    a = _vector(name, values, n, np.float64)
    frac = np.flatnonzero(a != np.round(a))
    if frac.size:
        raise ValueError(f"{name}: must be whole numbers; index {format_indices(frac)} is not")
    return a.astype(np.int64)


def format_indices(indices: np.ndarray, limit: int = 5) -> str:
    """'3, 7, 9' or '3, 7, 9, ... (12 in all)'."""
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return shown if indices.size <= limit else f"{shown}, ... ({indices.size} in all)"


def _require(mask: np.ndarray, what: str, values: np.ndarray, rule: str) -> None:
    bad = np.flatnonzero(~mask)
    if bad.size:
        first = bad[0]
        raise ValueError(
            f"{what} {format_indices(bad)}: {rule} "
            f"(e.g. {what} {first} has {values[first].item()!r})"
        )


def padded_groups(groups: np.ndarray, n_groups: int, fill: int) -> np.ndarray:
    """Members of each group as rows of a padded table.

    Parameters
    ----------
    groups : (n,) int, the group of each member (e.g. the downstream node of each link).
    n_groups : number of groups (rows).
    fill : value of the unused slots.

    Returns
    -------
    (n_groups, width) int64, member indices in ascending order then ``fill``; width is the
    largest group size (at least 1).
    """
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    slot = np.arange(groups.size) - np.repeat(starts, counts)
    table = np.full((n_groups, max(1, int(counts.max(initial=0)))), fill, dtype=np.int64)
    table[groups[order], slot] = order
    return table


@dataclass(frozen=True, eq=False)
class Network:
    """A directed road network with a triangular fundamental diagram on every link.

    Build it with :meth:`from_arrays`, which validates the input. All arrays are host
    NumPy arrays; links and nodes are referred to by their index.
    """

    node_x: np.ndarray
    node_y: np.ndarray
    signalized: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray
    length: np.ndarray
    lanes: np.ndarray
    free_speed: np.ndarray
    capacity: np.ndarray
    jam_density: np.ndarray

    @classmethod
    def from_arrays(
        cls,
        node_x,
        node_y,
        signalized,
        from_node,
        to_node,
        length,
        lanes,
        free_speed,
        capacity,
        jam_density,
    ) -> Network:
        """Validate the city's ``/roads`` arrays and build a network.

        Parameters
        ----------
        node_x, node_y : (node,) [m] projected coordinates.
        signalized : (node,) 0/1, 1 where a traffic signal controls the node.
        from_node, to_node : (link,) node indices (whole numbers).
        length : (link,) [m], > 0.
        lanes : (link,) number of lanes, > 0.
        free_speed : (link,) [m s-1], > 0.
        capacity : (link,) [veh s-1 per lane], > 0.
        jam_density : (link,) [veh m-1 per lane], with
            ``capacity < free_speed * jam_density`` so that the critical density lies
            below the jam density.

        Raises
        ------
        ValueError
            Naming the array and the offending node or link indices.
        """
        node_x = _vector("node x", node_x, None, np.float64)
        n = node_x.shape[0]
        node_y = _vector("node y", node_y, n, np.float64)
        signalized = _integers("node signalized", signalized, n)
        _require(np.isin(signalized, (0, 1)), "node", signalized, "signalized must be 0 or 1")
        if n == 0:
            raise ValueError("node x: a network needs at least one node")
        from_node = _integers("link from_node", from_node, None)
        m = from_node.shape[0]
        if m == 0:
            raise ValueError("link from_node: a network needs at least one link")
        to_node = _integers("link to_node", to_node, m)
        for name, ends in (("from_node", from_node), ("to_node", to_node)):
            _require(
                (ends >= 0) & (ends < n),
                "link",
                ends,
                f"{name} is not a node index (0..{n - 1})",
            )
        _require(from_node != to_node, "link", from_node, "from_node equals to_node (a loop)")
        fields = {}
        for name, values in (
            ("length", length),
            ("lanes", lanes),
            ("free_speed", free_speed),
            ("capacity", capacity),
            ("jam_density", jam_density),
        ):
            a = _vector(f"link {name}", values, m, np.float64)
            _require(a > 0, "link", a, f"{name} must be > 0")
            fields[name] = a
        _require(
            fields["lanes"] == np.round(fields["lanes"]),
            "link",
            fields["lanes"],
            "lanes must be a whole number",
        )
        max_flow = fields["free_speed"] * fields["jam_density"]
        _require(
            fields["capacity"] < max_flow,
            "link",
            fields["capacity"],
            "capacity must be below free_speed * jam_density (per lane), or the triangular "
            "fundamental diagram has no congested branch",
        )
        return cls(node_x, node_y, signalized, from_node, to_node, **fields)

    @property
    def n_nodes(self) -> int:
        return self.node_x.shape[0]

    @property
    def n_links(self) -> int:
        return self.from_node.shape[0]

    @property
    def link_capacity(self) -> np.ndarray:
        """Capacity of the link, all lanes [veh s-1]."""
        return self.capacity * self.lanes

    @property
    def link_jam_density(self) -> np.ndarray:
        """Jam density of the link, all lanes [veh m-1]."""
        return self.jam_density * self.lanes

    @property
    def critical_density(self) -> np.ndarray:
        """Density at capacity, all lanes [veh m-1]."""
        return self.link_capacity / self.free_speed

    @property
    def wave_speed(self) -> np.ndarray:
        """Backward (congested) wave speed of the triangular diagram [m s-1], positive."""
        return self.capacity / (self.jam_density - self.capacity / self.free_speed)

    @property
    def free_flow_time(self) -> np.ndarray:
        """Link travel time at free flow [s]."""
        return self.length / self.free_speed

    def in_links(self) -> np.ndarray:
        """(node, max in-degree) links ending at each node, padded with ``n_links``."""
        return padded_groups(self.to_node, self.n_nodes, self.n_links)

    def out_links(self) -> np.ndarray:
        """(node, max out-degree) links leaving each node, padded with ``n_links``."""
        return padded_groups(self.from_node, self.n_nodes, self.n_links)


def nearest_nodes(network: Network, x, y) -> np.ndarray:
    """Index of the node nearest to each point (e.g. a district centroid) [m]."""
    px = _vector("x", np.atleast_1d(x), None, np.float64)
    py = _vector("y", np.atleast_1d(y), px.shape[0], np.float64)
    d2 = (px[:, None] - network.node_x) ** 2 + (py[:, None] - network.node_y) ** 2
    return np.argmin(d2, axis=1)
