"""Off-screen rendering: pick the EGL window on a display-less machine and probe it once.

A missing GL library does not make VTK raise: the process dies with a segfault
inside the driver loader. So before the first render the probe opens an off-screen
render window in a child process; if the child dies, we raise a readable error
naming the Debian packages to install. The result is cached per process.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys

DEBIAN_PACKAGES = ("libegl1", "libegl-mesa0", "libgl1-mesa-dri")
_WINDOW_VAR = "VTK_DEFAULT_OPENGL_WINDOW"
_PROBE_TIMEOUT_S = 120.0
# Only VTK's own modules: opening one 8 x 8 window exercises the whole GL stack.
_PROBE = """
import vtkmodules.vtkRenderingOpenGL2  # registers the OpenGL render window factory
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow

window = vtkRenderWindow()
window.SetOffScreenRendering(1)
window.AddRenderer(vtkRenderer())
window.SetSize(8, 8)
window.Render()
print(window.GetClassName())
"""

_result: tuple[bool, str] | None = None


class HeadlessRenderError(RuntimeError):
    """Off-screen rendering is impossible here; the message says what to install."""


def _use_egl_without_display() -> None:
    # Without a display VTK would first try X11, log an error, then fall back to EGL;
    # choosing EGL up front is quiet and what a server or CI machine needs.
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault(_WINDOW_VAR, "vtkEGLRenderWindow")


def _probe() -> tuple[bool, str]:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            env=os.environ.copy(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"opening an off-screen window hung for {_PROBE_TIMEOUT_S:g} s"
    if done.returncode == 0:
        return True, done.stdout.strip()
    if done.returncode < 0:
        why = f"the probe process was killed by {signal.Signals(-done.returncode).name}"
    else:
        why = f"the probe process exited with status {done.returncode}"
    tail = "\n".join(done.stderr.strip().splitlines()[-5:])
    return False, why + (f":\n{tail}" if tail else "")


def ensure_offscreen() -> str:
    """Check once per process that VTK can render off screen; return the window class.

    Raises
    ------
    HeadlessRenderError
        When the probe fails, with the Debian packages that provide EGL and Mesa's
        software OpenGL driver.
    """
    global _result
    if importlib.util.find_spec("vtkmodules") is None:
        raise ImportError("3D pictures need PyVista and VTK: pip install 'gwangju-twin[viz]'")
    _use_egl_without_display()
    if _result is None:
        _result = _probe()
    ok, detail = _result
    if not ok:
        raise HeadlessRenderError(
            "cannot render off screen: VTK could not open an OpenGL window "
            f"({detail}).\nInstall EGL and Mesa's software OpenGL, e.g. on Debian/Ubuntu:\n"
            f"    apt-get install {' '.join(DEBIAN_PACKAGES)}\n"
            f"and, on a machine without a display, set {_WINDOW_VAR}=vtkEGLRenderWindow."
        )
    return detail
