"""Array backends: NumPy on the CPU, CuPy on an NVIDIA GPU.

This is the only package that imports :mod:`cupy`. Physics code gets its
namespace from :func:`array_namespace` (from its inputs) or from a
:class:`Backend` returned by :func:`select`.
"""

from gpu.backend import Backend, GPUUnavailableError, array_namespace, select, to_host
from gpu.ops import bincount

__all__ = ["Backend", "GPUUnavailableError", "array_namespace", "bincount", "select", "to_host"]
