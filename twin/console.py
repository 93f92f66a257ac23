"""The terminal of the ``twin`` commands: one rich console and one way to fail."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["console", "escape", "fail"]

console = Console(soft_wrap=True)  # paths and messages stay on one line, whatever the width


def fail(err: Exception) -> typer.Exit:
    """Print ``error: <message>`` (no traceback) and return the exit (status 2) to raise."""
    console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
    return typer.Exit(code=2)
