"""The compile cache: an identical compile returns the artifact compiled before, verified.

An entry is keyed by a digest of everything that decides the compiled files: the model's content
(a model file or folder byte for byte; a model object as its backend serialises it, through
:meth:`neuronkit.Compiler.fingerprint`), the example inputs' signature, target, precision, engine,
batch and pipeline settings, backend options, preprocessing, the calibration data, and the versions
of neuronkit, the backend's plugin and the modules it and its engine need. Entries are artifact
folders (the directory form, verified in place without unpacking) in ``NEURONKIT_CACHE_DIR``
(default: the user cache folder, platformdirs), published
atomically under a file lock (two processes compiling the same model: one compiles, the other
waits and reuses it), verified when read (a corrupt entry is removed and compiled again), and
evicted least recently used beyond ``NEURONKIT_CACHE_MAX_GB`` (default 10).
``NEURONKIT_CACHE=off`` turns the default off (neuronkit's pytest plugin does, so tests compile).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import to_numpy
from .errors import ArtifactError

DEFAULT_MAX_GB = 10.0


def enabled(asked: bool | None) -> bool:
    if asked is not None:
        return asked
    return os.environ.get("NEURONKIT_CACHE", "on").strip().lower() not in ("0", "off", "false", "no")


def cache_dir() -> Path:
    configured = os.environ.get("NEURONKIT_CACHE_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("neuronkit")) / "compiled"


def max_bytes() -> int:
    try:
        return int(float(os.environ.get("NEURONKIT_CACHE_MAX_GB", DEFAULT_MAX_GB)) * 1e9)
    except ValueError:
        return int(DEFAULT_MAX_GB * 1e9)


def file_digest(path: str | os.PathLike) -> str | None:
    """The content of a model file, a model folder (names and bytes), or a checkpoint prefix's files."""
    path = Path(path)
    files = ([path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir()
             else sorted(path.parent.glob(f"{path.name}-*")))
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path.parent if not path.is_dir() else path)).encode() + b"\0")
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def arrays_digest(items: Iterable) -> str:
    """A digest of arrays (or tuples/dicts of them): dtype, shape and bytes of each, in order."""
    digest = hashlib.sha256()
    for item in items:
        values = item.items() if isinstance(item, dict) else enumerate(item if isinstance(item, (tuple, list))
                                                                      else (item,))
        for name, value in values:
            array = np.ascontiguousarray(to_numpy(value))
            digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def object_fingerprint(structure: str, classes: Iterable[type], arrays: Iterable[tuple[str, Any]]) -> bytes:
    """What a backend's :meth:`~neuronkit.Compiler.fingerprint` returns for a model object: its structure
    (a repr, a JSON config, a graph), the source of its classes (their names when the source cannot be
    read, as for classes defined interactively), and every weight ``(name, array)`` byte for byte."""
    digest = hashlib.sha256(structure.encode())
    for cls in sorted(set(classes), key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        digest.update(_source(cls).encode())
    for name, array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.reshape(-1).view(np.uint8))  # hashed in place, not copied
    return digest.digest()


@functools.lru_cache(maxsize=1024)
def _source(cls: type) -> str:
    """A class's source (read once per class object: finding it parses the whole module), or its name."""
    import inspect

    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return f"{cls.__module__}.{cls.__qualname__}"


def versions(modules: Iterable[str]) -> dict:
    """Installed versions of the distributions behind these modules (what compiled the files)."""
    found = {}
    for module in sorted(set(modules)):
        try:
            found[module] = metadata.version(module)
        except metadata.PackageNotFoundError:
            found[module] = next((metadata.version(d) for d in metadata.packages_distributions().get(module, ())), "")
    return found


def key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    key: str
    path: Path
    size: int
    used: float


def entries(root: Path | None = None) -> list[Entry]:
    """The cache's entries, most recently used first."""
    from .artifact import MANIFEST

    root = root or cache_dir()
    found = []
    for manifest in root.glob(f"*/*/{MANIFEST}") if root.is_dir() else ():
        path = manifest.parent
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        found.append(Entry(path.name, path, size, manifest.stat().st_mtime))
    return sorted(found, key=lambda e: e.used, reverse=True)


def cached(entry_key: str, build: Callable[[], Any], progress: Callable[[str], None]):
    """The artifact for ``entry_key``: the cached one (verified), or ``build()``'s, then published."""
    from filelock import FileLock

    from .artifact import MANIFEST, open_artifact

    root = cache_dir()
    path = root / entry_key[:2] / entry_key
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{path}.lock")
        lock.acquire()
    except OSError as exc:
        warnings.warn(f"the compile cache at {root} cannot be written ({exc}); compiling without it. Set "
                      f"NEURONKIT_CACHE_DIR to a writable folder, or NEURONKIT_CACHE=off", RuntimeWarning, stacklevel=3)
        return build()
    try:
        if path.exists():
            try:
                artifact = open_artifact(path)  # verified: schema, files, checksums
                os.utime(path / MANIFEST)  # most recently used
                artifact.cache = "hit"
                progress(f"compile cache hit ({path})")
                return artifact
            except ArtifactError as exc:
                warnings.warn(f"the compile cache entry {path} is damaged ({exc}); removed, compiling again",
                              RuntimeWarning, stacklevel=3)
                shutil.rmtree(path, ignore_errors=True)
        artifact = build()
        try:
            artifact.save(path, directory=True)
            artifact.cache = "stored"
        except (OSError, ArtifactError) as exc:
            warnings.warn(f"could not store the compiled artifact in the cache at {root} ({exc})", RuntimeWarning,
                          stacklevel=3)
        evict(root, keep=path)
        return artifact
    finally:
        lock.release()


def evict(root: Path, limit: int | None = None, keep: Path | None = None) -> list[Entry]:
    """Remove the least recently used entries beyond ``limit`` bytes (default ``NEURONKIT_CACHE_MAX_GB``)."""
    limit = max_bytes() if limit is None else limit
    current = entries(root)
    total, removed = sum(e.size for e in current), []
    for entry in reversed(current):  # least recently used first
        if total <= limit:
            break
        if entry.path == keep:
            continue
        remove(entry)
        total -= entry.size
        removed.append(entry)
    return removed


def remove(entry: Entry) -> None:
    shutil.rmtree(entry.path, ignore_errors=True)
    Path(f"{entry.path}.lock").unlink(missing_ok=True)


def clear(root: Path | None = None) -> int:
    gone = entries(root)
    for entry in gone:
        remove(entry)
    return len(gone)
