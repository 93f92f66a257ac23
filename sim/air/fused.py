"""The air model's sub-step loop on a fused kernel (:func:`gpu.fused_air_substep`).

:class:`sim.air.AirModel` takes this path where ``gpu`` offers a fused sub-step for its
arrays (CuPy; tests plug in the kernel's CPU build). One kernel launch does a whole
sub-step for every species (see :mod:`gpu.kernels.air`, which performs the operations of
:mod:`sim.air.scheme` in the same order), ping-ponging between two persistent buffers;
the step's numbers go to a small device array first, so the ``n`` launches of a step
take only fixed pointers and are replayed from a CUDA graph (:func:`gpu.capture`) keyed
by ``n``.
"""

from __future__ import annotations

from typing import Any

import gpu
from gpu.kernels.air import pack


def fused_params(model: Any, wind: dict[int, float], known: dict[int, tuple[int, bool]],
                 sub: float, keeps: list, gain: bool, background: list[float]) -> list[float]:
    """The kernel's parameters (:func:`gpu.kernels.air.pack`) for one step of ``model``:
    ``wind`` per axis (1 x, 0 y) [m s-1], ``known`` per axis (sign, factor varies),
    sub-step ``sub`` [s], per-species ``keeps``, whether a gain is added, the step's
    per-species ``background`` [ug m-3]. The numbers
    are those the array code uses (:func:`sim.air.sweeps.advection_sweep`,
    :func:`~sim.air.sweeps.diffusion_sweep`, :func:`~sim.air.sweeps.with_exchange`)."""
    delta = float(model.diffusivity) * (sub / model.dx_m**2)
    return pack(
        lam=sub / model.dx_m,
        wind_x=wind[1],
        wind_y=wind[0],
        exchange_x=bool(wind[1] and known[1][1]),
        exchange_y=bool(wind[0] and known[0][1]),
        diffusion_a=-0.5 * delta * delta,
        diffusion_b=delta * delta - delta,
        diffuse=delta > 0,
        open_edges=model.boundary == "open",
        gain=gain,
        background=[float(b) for b in background],
        keep=[float(k) for k in keeps],
    )


class FusedLoop:
    """Persistent buffers and the captured launches of the fused sub-steps.

    Attributes
    ----------
    a, b : (species, y, x) ping-pong fields; a step's input goes into ``a``.
    gain : (species, y, x) gain of one sub-step, filled by the step when it has one.
    params : the kernel's parameter array.
    """

    def __init__(self, kernel: Any, shape: tuple[int, int, int], dtype: Any, xp: Any):
        self.kernel, self.shape, self.dtype, self.xp = kernel, tuple(shape), dtype, xp
        self.a, self.b = xp.empty(shape, dtype=dtype), xp.empty(shape, dtype=dtype)
        self.gain = xp.zeros(shape, dtype=dtype)
        self.params = kernel.params(xp)
        self.launch = gpu.capture(self._launch, xp)

    def matches(self, kernel: Any, shape: tuple, dtype: Any, xp: Any) -> bool:
        return (kernel, self.shape, self.dtype, self.xp) == (kernel, tuple(shape), dtype, xp)

    def _launch(self, n: int, factor: Any) -> None:
        bufs = (self.a, self.b)
        for i in range(n):
            self.kernel(bufs[i % 2], bufs[1 - i % 2], factor, self.gain, self.params, i % 2)

    def run(self, values: list[float], n: int, factor: Any) -> Any:
        """``n`` sub-steps (sweep orders xy, yx, xy, ...) from ``a`` with ``values``
        (:func:`fused_params`); returns the result as a new array."""
        self.kernel.set_params(self.params, values)
        self.launch(n, factor)
        return (self.a if n % 2 == 0 else self.b).copy()
