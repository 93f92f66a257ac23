"""One writer per run store: an exclusive OS lock held by the writing process.

The lock is ``flock(2)`` on a small sibling file ``<store>.lock`` (``run.zarr.lock``),
taken without waiting for the whole run. The kernel releases it when the process ends
in any way (``kill -9`` included), so a lock file left by a dead process is never
"stale": the next writer simply takes it. The file holds the holder's pid, host and
start time, only to name the holder in the refusal message. Readers take no lock, so
``twin info``, ``twin kpi`` and pictures work while a run writes.

The holder deletes the file when it lets go; a writer that opened the file just before
that deletion would lock a deleted inode, so a writer checks after locking that the
file it holds is still the one at the path, and retries otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from twin.errors import InputError

__all__ = ["WriterLock", "lock_holder", "lock_path", "writes_store"]


def lock_path(store: str | Path) -> Path:
    """The lock file of ``store``: ``<store>.lock`` beside it."""
    store = Path(store)
    return store.with_name(store.name + ".lock")


def _describe(fd: int, path: Path) -> str:
    """The holder as recorded in the lock file (bounded read; never trusted further)."""
    with contextlib.suppress(OSError, ValueError):
        doc = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        if isinstance(doc, dict):
            pid, host, since = (str(doc.get(k))[:80] for k in ("pid", "host", "since"))
            return f"pid {pid} on host {host} (since {since})"
    return f"another process (lock file {path})"


def _try_exclusive(fd: int) -> bool:
    """Lock ``fd`` exclusively without waiting; a few quick retries ride over a reader
    that is probing the lock at this very moment (:func:`lock_holder`)."""
    for attempt in range(5):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.01 * (attempt + 1))
    return False


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


class WriterLock:
    """The exclusive writer lock of a run store; a context manager.

    Raises
    ------
    InputError
        When another live process holds the lock; the message names its pid and host.
    """

    def __init__(self, store: str | Path):
        self.store = Path(store)
        self.path = lock_path(self.store)
        self.fd: int | None = None

    def acquire(self) -> WriterLock:
        while True:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = _open(self.path)
            except OSError as err:
                raise InputError(
                    f"{self.path}: cannot create the run store's lock ({err})"
                ) from None
            if not _try_exclusive(fd):
                holder = _describe(fd, self.path)
                os.close(fd)
                raise InputError(
                    f"{self.store} is being written by {holder}; refusing to write it too "
                    "(wait for that run to end, stop it, or choose another --output)"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder removed the file after we opened it: retry
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still locked: see the module docstring
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(store: str | Path) -> str | None:
    """Who holds the writer lock of ``store`` now (None: nobody; its writer is gone)."""
    path = lock_path(store)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _describe(fd, path)
    finally:
        os.close(fd)
    return None


def writes_store(func: Callable) -> Callable:
    """Run ``func`` holding the :class:`WriterLock` of the store named by its ``store``
    argument, for the whole call (an ensemble driver: its members write under it)."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def locked(*args, **kwargs):
        with WriterLock(signature.bind(*args, **kwargs).arguments["store"]):
            return func(*args, **kwargs)

    return locked
