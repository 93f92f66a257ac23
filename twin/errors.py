"""Errors shown to users: one message naming the file, the field and what is allowed."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


class InputError(ValueError):
    """Bad user input (a file, a CLI option, an argument); the message says what and where."""


class ModelHealthError(RuntimeError):
    """A model produced NaN or Inf; the message names model, variable, place and time."""


def format_validation_error(path: Path | str, err: ValidationError) -> str:
    """Every problem of a pydantic validation as ``file: field.path: message`` lines."""
    lines = [f"{path}: {err.error_count()} problem(s):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(file)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "required key is missing"
        shown = repr(e.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        quiet = e["type"] in ("missing", "extra_forbidden") or not e["loc"]  # whole-file checks
        value = "" if quiet else f" (got {shown})"
        lines.append(f"  {loc}: {msg}{value}")
    return "\n".join(lines)
