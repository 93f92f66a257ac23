"""Array backends: NumPy on the CPU, CuPy on an NVIDIA GPU.

This is the only package that imports :mod:`cupy`. Physics code gets its
namespace from :func:`array_namespace` (from its inputs) or from a
:class:`Backend` returned by :func:`select`. Hand-written kernels are in
:mod:`gpu.kernels` (:func:`fused_air_substep` and :func:`fused_ctm_substeps` pick the air
and traffic models' on CuPy), CUDA graph capture in :mod:`gpu.graphs` (:func:`capture`),
copies to the host off the critical path in :mod:`gpu.transfer` (:class:`HostCopier`).
"""

from gpu.backend import (
    Backend,
    GPUUnavailableError,
    array_namespace,
    device_memory,
    select,
    to_host,
)
from gpu.graphs import capture
from gpu.kernels.air import for_namespace as fused_air_substep
from gpu.kernels.ctm import for_namespace as fused_ctm_substeps
from gpu.ops import bincount, fuse
from gpu.transfer import HostCopier

__all__ = [
    "Backend",
    "GPUUnavailableError",
    "HostCopier",
    "array_namespace",
    "bincount",
    "capture",
    "device_memory",
    "fuse",
    "fused_air_substep",
    "fused_ctm_substeps",
    "select",
    "to_host",
]
