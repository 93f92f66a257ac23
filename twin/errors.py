"""Errors shown to users: one message naming the file, the field and what is allowed."""

from __future__ import annotations

import difflib
import typing
from datetime import date, time
from pathlib import Path

from pydantic import BaseModel, ValidationError


class InputError(ValueError):
    """Bad user input (a file, a CLI option, an argument); the message says what and where."""


class ModelHealthError(RuntimeError):
    """A model produced NaN or Inf; the message names model, variable, place and time."""


def shown(value: object, limit: int = 60) -> str:
    """A user's value as it may be printed: a TOML-like text (datetimes in ISO 8601),
    control characters escaped (no ANSI escapes reach the terminal), at most ``limit``
    characters."""
    text = value.isoformat() if isinstance(value, date | time) else _safe_repr(value, limit)
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_repr(value: object, limit: int) -> str:
    if isinstance(value, str):
        return repr(value[: limit + 2])
    if isinstance(value, dict | list | tuple):  # deep or huge inputs: only a glimpse
        kind = type(value).__name__
        return f"a {kind} of {len(value)} item(s)"
    try:
        return repr(value)
    except (RecursionError, ValueError):
        return f"a {type(value).__name__}"


def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Field names of the (nested) model reached by ``loc`` (empty when none is)."""
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue  # an item of a list of models
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
    return list(model.model_fields) if model is not None else []


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def format_validation_error(
    path: Path | str, err: ValidationError, model: type[BaseModel] | None = None
) -> str:
    """Every problem of a pydantic validation as ``file: field.path: message`` lines.

    With ``model`` (the validated class) an unknown key comes with the closest known
    keys of its table ("did you mean ...?").
    """
    lines = [f"{path}: {err.error_count()} problem(s):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(file)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            known = _fields_at(model, e["loc"][:-1])
            close = difflib.get_close_matches(str(e["loc"][-1]), known, n=3, cutoff=0.6)
            msg = "unknown key" + (
                f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            )
            if known and not close:
                msg += f"; known keys: {', '.join(known)}"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] in ("model_type", "model_attributes_type", "dict_type"):
            msg = "must be a table (a [section] or { key = value, ... })"
        elif e["type"] == "timezone_aware":
            msg = "the time has no timezone: add an offset such as +09:00 (Korea Standard Time)"
        # whole-table checks (their message says what is wrong) and absent keys
        quiet = e["type"] in ("missing", "extra_forbidden") or isinstance(e.get("input"), dict)
        value = "" if quiet else f" (got {shown(e.get('input'))})"
        lines.append(f"  {loc}: {msg}{value}")
    return "\n".join(lines)
