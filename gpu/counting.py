"""A NumPy backend that counts what would stall or feed a GPU: for tests and benchmarks.

Arrays of this backend are NumPy arrays (:class:`CountingArray`, a subclass) and its
namespace (:data:`xp`) is NumPy's with every function wrapped, but its name is not
``numpy``, so code that branches on the backend takes the path it takes on CuPy. It counts:

- ``syncs``: every conversion of a device value to the host, which on a GPU waits for the
  queue to drain: ``bool()``, ``float()``, ``int()``, ``operator.index()``, ``.item()``,
  ``.tolist()``, :func:`gpu.to_host`;
- ``host_arrays``: every plain NumPy array mixed into a device operation (CuPy refuses
  them, or copies them to the device each time);
- ``uploads``: every ``asarray``/``array`` of host data with at least one element
  (a host-to-device copy);
- ``launches``: every array operation (a kernel launch on a GPU, roughly).

Operations whose output size depends on the data (``nonzero``, ``unique``, boolean-mask
indexing, ...) and ``bincount`` (CuPy reads ``max(x)`` to size it, even with
``minlength``) count as syncs too, as they are on CuPy.

Counts go to the module's :data:`counts`; :func:`reset` zeroes them, :func:`one_launch`
counts a block as one launch (a fused kernel) and :func:`traced` also records where each
sync or host array came from (file:line, for messages).
"""

from __future__ import annotations

import functools
import traceback
import types
from collections import Counter
from contextlib import contextmanager
from typing import Any

import numpy as np

from gpu.backend import Backend

counts: Counter = Counter()
_sites: Counter | None = None
_KINDS = ("syncs", "host_arrays", "uploads", "launches")


def reset() -> None:
    """Zero every count."""
    counts.clear()
    counts.update(dict.fromkeys(_KINDS, 0))
    if _sites is not None:
        _sites.clear()


@contextmanager
def traced():
    """Within the block, also count each sync and host array by the line that caused it;
    yields the :class:`~collections.Counter` of ``"kind file:line (function)"``."""
    global _sites
    previous, _sites = _sites, Counter()
    try:
        yield _sites
    finally:
        _sites = previous


_quiet_launches = 0  # > 0 inside one_launch()


@contextmanager
def one_launch():
    """Count the block's array operations as one launch: a fused kernel
    (:func:`gpu.ops.fuse`); syncs, uploads and host arrays still count."""
    global _quiet_launches
    _quiet_launches += 1
    try:
        yield
    finally:
        _quiet_launches -= 1
    if not _quiet_launches:
        _note("launches")


def _note(kind: str, n: int = 1) -> None:
    if kind == "launches" and _quiet_launches:
        return
    counts[kind] += n
    if _sites is not None and kind != "launches":
        for frame in reversed(traceback.extract_stack()[:-2]):
            if not frame.filename.endswith(("gpu/counting.py", "gpu/backend.py")):
                _sites[f"{kind} {frame.filename}:{frame.lineno} ({frame.name})"] += n
                break


def _plain(a: Any) -> Any:
    """Unwrap our arrays (recursively in lists/tuples/dicts) to plain ndarrays, counting
    host arrays that would be mixed into a device operation."""
    if isinstance(a, CountingArray):
        return a.view(np.ndarray)
    if isinstance(a, np.ndarray):
        _note("host_arrays")
        return a
    if isinstance(a, list | tuple):
        return type(a)(_plain(v) for v in a)
    if isinstance(a, dict):
        return {k: _plain(v) for k, v in a.items()}
    return a


def _wrap(a: Any) -> Any:
    """Device view of results: ndarrays and NumPy scalars become (0-d) CountingArrays,
    as CuPy returns 0-d device arrays where NumPy returns scalars."""
    if isinstance(a, np.ndarray):
        return a.view(CountingArray)
    if isinstance(a, np.generic):
        return np.asarray(a).view(CountingArray)
    if isinstance(a, tuple):
        return tuple(_wrap(v) for v in a)
    if isinstance(a, list):
        return [_wrap(v) for v in a]
    return a


class CountingArray(np.ndarray):
    """A NumPy array standing in for a device array (see the module docstring)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _note("launches")
        kwargs = _plain(kwargs)
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*_plain(inputs), **kwargs)
        if out is not None and method != "at":
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        _note("launches")
        return _wrap(func(*_plain(args), **_plain(kwargs)))

    def __getitem__(self, key):
        if _has_array(key):
            _note("launches")
            if _has_mask(key):
                _note("syncs")
        return _wrap(np.ndarray.__getitem__(self.view(np.ndarray), _plain(key)))

    def __setitem__(self, key, value):
        _note("launches")
        np.ndarray.__setitem__(self.view(np.ndarray), _plain(key), _plain(value))

    def _sync(self):
        _note("syncs")
        return self.view(np.ndarray)

    def __bool__(self):
        return bool(self._sync())

    def __float__(self):
        return float(self._sync())

    def __int__(self):
        return int(self._sync())

    def __index__(self):
        return self._sync().__index__()

    def __complex__(self):
        return complex(self._sync())

    def item(self, *args):
        return self._sync().item(*args)

    def tolist(self):
        return self._sync().tolist()

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        return f"counting.{np.ndarray.__repr__(self.view(np.ndarray))}"

    def __format__(self, spec):
        return format(self._sync(), spec)


def _has_array(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray | list) for k in keys)


def _has_mask(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(getattr(k, "dtype", None) == np.bool_ for k in keys)


def to_host(a: CountingArray) -> np.ndarray:
    """The host copy of ``a`` (counted as a sync)."""
    _note("syncs")
    return np.array(a.view(np.ndarray), copy=True)


def _upload(func):
    @functools.wraps(func)
    def wrapper(obj, *args, **kwargs):
        if (
            not isinstance(obj, CountingArray)
            and np.size(obj) > 0
            and (isinstance(obj, np.ndarray | list | tuple))
        ):
            _note("uploads")
        _note("launches")
        return _wrap(func(_plain_quiet(obj), *args, **kwargs))

    return wrapper


def _plain_quiet(a):
    return a.view(np.ndarray) if isinstance(a, CountingArray) else a


_DATA_SIZED = frozenset(
    ("nonzero", "flatnonzero", "argwhere", "unique", "bincount", "compress", "extract")
)


def _function(func):
    sized = func.__name__ in _DATA_SIZED

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _note("launches")
        if sized:
            _note("syncs")
        result = _wrap(func(*_plain(args), **_plain(kwargs)))
        out = kwargs.get("out")
        return result if out is None else out  # the caller's array, as NumPy returns it

    return wrapper


class _Ufunc:
    """A NumPy ufunc behind the counting namespace (call and methods such as ``at``)."""

    def __init__(self, ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        return _function(self._ufunc)(*args, **kwargs)

    def __getattr__(self, name):
        attr = getattr(self._ufunc, name)
        return _function(attr) if callable(attr) else attr


_UPLOADS = ("asarray", "array", "ascontiguousarray", "asanyarray")


def _namespace() -> types.ModuleType:
    ns = types.ModuleType("gpu.counting.xp", "NumPy, counted (see gpu.counting).")
    for name in dir(np):
        if name.startswith("_"):
            continue
        attr = getattr(np, name)
        if name in _UPLOADS:
            attr = _upload(attr)
        elif isinstance(attr, np.ufunc):
            attr = _Ufunc(attr)
        elif isinstance(attr, types.FunctionType | types.BuiltinFunctionType) or (
            callable(attr) and type(attr).__name__ == "_ArrayFunctionDispatcher"
        ):
            attr = _function(attr)
        setattr(ns, name, attr)
    return ns


class CountingBackend(Backend):
    """The counting backend; :meth:`synchronize` counts as a sync, as it stalls a GPU."""

    def synchronize(self) -> None:
        _note("syncs")


xp = _namespace()
CountingArray._twin_namespace = xp
CountingArray._twin_to_host = staticmethod(to_host)
BACKEND = CountingBackend("counting", xp, "cpu (counting syncs and launches)")
reset()
