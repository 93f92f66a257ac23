"""The terminal of the ``twin`` commands: one rich console and one way to fail.

The console writes to the current ``sys.stdout`` through :class:`PipeSafe`, so a closed
pipe (``twin run ... | head``) or a closed terminal silences the output instead of
failing or hanging the run: a run never depends on its terminal.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["PipeSafe", "console", "escape", "fail", "install_hint", "missing_dependency"]

# the optional dependencies and the extra that installs each
EXTRAS = {
    "pyvista": "viz", "vtk": "viz", "imageio": "viz", "matplotlib": "viz", "trame": "viz",
    "cupy": "gpu", "ray": "ray",
    "osmium": "geo", "shapely": "geo", "scipy": "geo", "rioxarray": "geo", "rasterio": "geo",
}  # fmt: skip


class PipeSafe(io.TextIOBase):
    """A text stream that writes to ``sys.<name>`` (looked up at every write, so test
    runners that swap it are followed) until the stream breaks, then to nothing.

    On the first broken pipe the stream's file descriptor is pointed at ``/dev/null``,
    so neither later writes nor Python's final flush at exit raise or print
    "Exception ignored ... BrokenPipeError".
    """

    def __init__(self, name: str = "stdout"):
        super().__init__()
        self.name = name
        self.broken = False

    @property
    def target(self):
        stream = getattr(sys, self.name)
        # while a rich progress bar runs, sys.stdout is its proxy that prints to the console
        return getattr(stream, "rich_proxied_file", stream)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.target.write(text)
            except (OSError, ValueError):  # EPIPE, EIO of a closed terminal, a closed file
                self._break()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.target.flush()
            except (OSError, ValueError):
                self._break()

    def _break(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.target.fileno())
            os.close(devnull)

    def isatty(self) -> bool:
        try:
            return not self.broken and self.target.isatty()
        except (OSError, ValueError, AttributeError):
            return False

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True


# paths and messages stay on one line, whatever the width
console = Console(file=PipeSafe("stdout"), soft_wrap=True)


def fail(err: Exception | str) -> typer.Exit:
    """Print ``error: <message>`` (no traceback) and return the exit (status 2) to raise."""
    console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
    return typer.Exit(code=2)


def install_hint(extra: str) -> str:
    """``pip install 'gwangju-twin[extra]'``, as plain text (escape it for rich markup)."""
    return f"pip install 'gwangju-twin[{extra}]'"


def missing_dependency(err: ImportError, needed_by: str) -> str:
    """What a missing optional package means and how to install it, from its ImportError
    (a message of ours that already says so is kept)."""
    top = (err.name or "").split(".")[0]
    if top not in EXTRAS:
        return str(err)
    extra = EXTRAS[top]
    return f"{needed_by} needs {top}, from the {extra!r} extra: {install_hint(extra)}"
