"""Crash-safe file operations of the stores (part of :mod:`twin.store`).

* :func:`write_json` replaces a metadata document atomically (and, on a full disk,
  still records a shorter one, such as a ``failed`` status);
* a run store (an ensemble's too) is created in ``<name>.creating`` beside its path and
  renamed into place complete (:func:`create`), so a kill at any step of a creation
  leaves the old store, the new one, or nothing; never a half-made store.
  :data:`creation_hook` is the fault-injection seam the tests use to kill a creation
  at each of its steps.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "abandon_creation",
    "begin_creation",
    "create",
    "creation_hook",
    "creation_step",
    "finish_creation",
    "remove_leftovers",
    "write_json",
]


def write_json(path: Path, doc: dict) -> None:
    """Replace a JSON file atomically: a reader (or a crash) sees the old or the new one.

    On a full disk the temporary copy is removed, and a document no longer than the
    old one (a status becoming ``failed``) is written over it in place, padded with
    blanks: that needs no new blocks, so a failed run never stays marked ``running``.
    """
    text = json.dumps(doc, indent=1).encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(text)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if err.errno not in (errno.ENOSPC, errno.EDQUOT) or not overwrite(path, text):
            raise


def overwrite(path: Path, text: bytes) -> bool:
    """Write ``text`` over ``path`` in place when it fits in the file's current size."""
    size = path.stat().st_size
    if len(text) > size:
        return False
    with open(path, "r+b") as f:
        f.write(text + b" " * (size - len(text)))
        f.flush()
        os.fsync(f.fileno())
    return True


# ---------------------------------------------------------------- atomic creation
# Fault-injection seam: tests set it to a callable(step name) that raises or kills
# the process, to check that a creation interrupted at any step is recoverable.
creation_hook: Callable[[str], None] | None = None


def creation_step(name: str) -> None:
    if creation_hook is not None:
        creation_hook(name)


def sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.name}.{suffix}")


def remove_leftovers(target: Path) -> None:
    """Remove what a killed creation left beside ``target`` (``<name>.creating``,
    ``<name>.replaced``); the caller holds the writer lock, so these names are this
    store's own."""
    for leftover in (sibling(target, "creating"), sibling(target, "replaced")):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        elif os.path.lexists(leftover):
            leftover.unlink()


def begin_creation(target: Path) -> Path:
    """The folder a run store is built in, ``<name>.creating`` beside ``target``, after
    :func:`remove_leftovers`."""
    remove_leftovers(target)
    return sibling(target, "creating")


def finish_creation(work: Path, target: Path) -> Path:
    """Put the complete store ``work`` at ``target`` by renames: a store there is moved
    aside first and removed last, so a kill at any point leaves at ``target`` the old
    store, the new one, or nothing (and a plain run then creates it)."""
    old = sibling(target, "replaced")
    if os.path.lexists(target):
        os.rename(target, old)
        creation_step("old store moved aside")
    os.rename(work, target)
    creation_step("new store in place")
    if os.path.lexists(old):
        old.unlink() if old.is_symlink() else shutil.rmtree(old)
        creation_step("old store removed")
    return target


def abandon_creation(work: Path, target: Path) -> None:
    """Undo a creation that failed with an error (not a kill): before the rename, the old
    store goes back in place and the half-made one is removed; after it, the old store
    that waited for removal is removed."""
    old = sibling(target, "replaced")
    if os.path.lexists(work):
        with contextlib.suppress(OSError):
            if old.exists() and not os.path.lexists(target):
                os.rename(old, target)
        shutil.rmtree(work, ignore_errors=True)
    else:
        shutil.rmtree(old, ignore_errors=True)


def create(target: Path, write: Callable[[Path], None]) -> Path:
    """Create a store at ``target`` atomically: ``write(folder)`` builds it in the creation
    folder, which is then renamed into place (an error undoes it; a kill leaves what
    :func:`finish_creation` says). The caller holds the store's writer lock."""
    work = begin_creation(target)
    try:
        write(work)
        return finish_creation(work, target)
    except Exception:
        abandon_creation(work, target)
        raise
