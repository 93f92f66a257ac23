"""Content fingerprints of a run's input files, so a resume refuses changed inputs.

A run (an ensemble: of all its members) records, at creation, the SHA-256 of every file
its scenario names: the weather CSV (``weather.source``), the city store (``city.store``:
every regular file under it, with its relative path) and the dataset folder
(``city.dataset``: its manifest, climatology and data files). ``--resume`` (a re-run of
a sweep) recomputes them and refuses to continue when one differs, naming the field and
the file: the continued run would otherwise mix outputs of two different inputs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from twin.errors import InputError

__all__ = ["check_fingerprints", "fingerprints"]

_BLOCK = 1 << 20  # [bytes] read size while hashing


def _hash_file(digest, path: Path) -> None:
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)


def fingerprint(path: Path) -> str:
    """SHA-256 of a file, or of every regular file under a folder (sorted, with their
    relative paths, so a renamed or removed file changes it too); symlinks and
    lock files are left out."""
    digest = hashlib.sha256()
    if path.is_file():
        _hash_file(digest, path)
        return digest.hexdigest()
    for folder, dirs, files in os.walk(path, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            full = Path(folder, name)
            if full.is_symlink() or not full.is_file() or name.endswith((".lock", ".tmp")):
                continue
            digest.update(str(full.relative_to(path)).encode() + b"\0")
            _hash_file(digest, full)
            digest.update(b"\0")
    return digest.hexdigest()


def _input_paths(scenario) -> dict[str, Path]:
    """The files a scenario names, by field."""
    from twin.catalog import load_manifest
    from twin.store import RUN_KIND, store_kind

    paths = {"city.dataset": load_manifest(scenario.city.dataset).folder}
    if scenario.city.store:
        store = Path(scenario.city.store)
        paths["city.store"] = store / "city" if store_kind(store) == RUN_KIND else store
    if scenario.weather.source != "synthetic":
        paths["weather.source"] = Path(scenario.weather.source)
    return paths


def fingerprints(*scenarios) -> dict[str, dict[str, str]]:
    """``{field: {"path": ..., "sha256": ...}}`` of every input file of the scenarios (an
    ensemble's members), each file hashed once; a field naming different files in
    different members is recorded per member, as ``"<field> of member <i>"``."""
    paths = [_input_paths(s) for s in scenarios]
    hashes = {p: fingerprint(p) for p in {p for named in paths for p in named.values()}}
    out = {}
    for key in sorted({k for named in paths for k in named}):
        used = {named[key] for named in paths if key in named}
        for i, named in enumerate(paths):
            if key in named:
                label = key if len(used) == 1 else f"{key} of member {i}"
                out[label] = {"path": str(named[key]), "sha256": hashes[named[key]]}
    return out


def check_fingerprints(
    store: Path,
    recorded,
    now: dict[str, dict[str, str]],
    again: str = "run without --resume to start over",
) -> None:
    """Refuse a resume whose inputs (``now``, from :func:`fingerprints`) differ from
    those recorded in ``store``; ``again`` says how to start over instead.

    Raises
    ------
    InputError
        Naming the scenario field and the file whose content changed (or that is gone).
    """
    if recorded is None:  # a store written before fingerprints were recorded
        return
    if not isinstance(recorded, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in recorded.values()
    ):
        raise InputError(f"{store}: root attribute input_fingerprints is malformed")
    for key in sorted({*recorded, *now}):
        before, after = recorded.get(key, {}), now.get(key, {})
        if before.get("sha256") != after.get("sha256"):
            name = after.get("path") or before.get("path")
            raise InputError(
                f"{store}: the input {key} = {name} changed since this run started "
                "(its content fingerprint differs); refusing to resume, which would mix "
                f"outputs of two different inputs ({again})."
            )
