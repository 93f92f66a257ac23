"""Building the hand-written kernels: the CPU build of a source with the system C
compiler, the CUDA parameter setter, and the one-log-line fallback where NVRTC fails.

Each kernel source in this folder compiles both as CUDA (NVRTC, on CuPy) and as plain C
(:func:`cc_library`, how the tests check it on machines without a GPU), without
contraction into fused multiply-adds in either, so both round each operation once, as
NumPy does.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FMAD_OFF = "--fmad=false"  # NVRTC: no fused multiply-adds (cc: -ffp-contract=off)


@functools.cache
def cc_library(source: Path, defines: tuple[str, ...] = ()) -> ctypes.CDLL:
    """``source`` built as a C shared library with ``cc`` (once per source and
    ``defines``, e.g. ``("REAL=float",)``)."""
    cc = shutil.which("cc")
    if cc is None:
        raise RuntimeError(f"the CPU build of {source.name} needs a C compiler ('cc')")
    tag = "_".join(d.replace("=", "-") for d in defines) or "default"
    out = Path(tempfile.mkdtemp(prefix="twin-kernel-")) / f"{source.stem}_{tag}.so"
    subprocess.run(
        [cc, "-std=c99", "-O2", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
         *(f"-D{d}" for d in defines), "-x", "c", str(source), "-o", str(out)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return ctypes.CDLL(str(out))


def setter_source(name: str, real: str, n: int) -> str:
    """CUDA source of a one-thread kernel ``name(real* p, int count, real v0, ...)`` that
    writes its first ``count`` of ``n`` value arguments into ``p``: numbers reach the
    device without a host-to-device copy, so later launches take only pointers."""
    args = ", ".join(f"{real} v{i}" for i in range(n))
    values = ", ".join(f"v{i}" for i in range(n))
    return (
        f'\nextern "C" __global__ void {name}({real}* p, int count, {args}) {{\n'
        f"    {real} v[{n}] = {{{values}}};\n"
        "    for (int i = 0; i < count; ++i) p[i] = v[i];\n}\n"
    )


def set_values(setter: Any, params: Any, values: Sequence[float], n: int, dtype: Any) -> None:
    """Write ``values`` (at most ``n``) into ``params`` with ``setter`` (a compiled
    :func:`setter_source` kernel): one launch."""
    padded = [*values, *[0.0] * (n - len(values))]
    real = np.dtype(dtype).type
    setter((1,), (1,), (params, np.int32(len(values)), *(real(v) for v in padded)))


def compiled_or_none(build: Callable[[], Any], what: str) -> Any:
    """``build()``, or None with one log line where it fails (a CompileException, a CUDA
    driver without NVRTC, ...): the model then runs its array code."""
    try:
        return build()
    except Exception as err:
        log.warning("The %s does not compile (%s: %s); the model runs its array code "
                    "instead.", what, type(err).__name__, err)  # fmt: skip
        return None
