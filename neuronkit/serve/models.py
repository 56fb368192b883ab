"""The models a server holds: versions loaded from artifacts or from a model repository.

A model repository is TensorFlow Serving's and Triton's layout: ``DIR/<name>/<version>/`` where
``<version>`` is a number and the folder holds one artifact (a ``.nk`` file or an artifact
directory), or is itself an artifact directory. The repository is read again every
``poll_seconds``: a new version is loaded and warmed up before it takes requests; a removed one
stops taking requests, finishes those it has, and is unloaded. Names and versions in requests
are only ever looked up here, never used as paths.
"""

from __future__ import annotations

import asyncio
import logging
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifact import MANIFEST, open_artifact
from ..errors import InputError, NeuronkitError
from .batching import Batcher
from .errors import InvalidArgument, NotFound, Unavailable

log = logging.getLogger("neuronkit.serve")

#: TensorFlow Serving's version states (``apis/get_model_status.proto``).
LOADING, AVAILABLE, UNLOADING, END = "LOADING", "AVAILABLE", "UNLOADING", "END"

#: The batch the server merges requests up to when an artifact takes any batch.
DEFAULT_MAX_BATCH = 8


@dataclass(frozen=True)
class ServeOptions:
    """How every model is loaded and batched (the ``neuronkit serve`` options)."""

    cores: object = None
    group_size: int | None = None
    max_batch_size: int | None = None     # None: the compiled batch, or DEFAULT_MAX_BATCH for any batch
    max_batch_delay_ms: float = 0.0
    max_queue: int = 256
    load_options: Mapping | None = None   # passed to neuronkit.load (backend options)


class ModelVersion:
    """One version of one model: its artifact, Runtime and batcher, and its state."""

    def __init__(self, name: str, version: int, source: Path):
        self.name, self.version, self.source = name, version, source
        self.state = LOADING
        self.error = ""
        self.artifact = self.runtime = self.batcher = None

    def __repr__(self) -> str:
        return f"<ModelVersion {self.name}/{self.version} {self.state}>"

    @property
    def inputs(self):
        return self.artifact.inputs

    @property
    def outputs(self):
        return self.artifact.outputs

    def load(self, options: ServeOptions) -> None:
        """Open, verify and load the artifact, then warm it up (blocking: run it in a thread)."""
        from ..api import load

        self.artifact = open_artifact(self.source)
        self.runtime = load(self.artifact, cores=options.cores, group_size=options.group_size,
                            **(options.load_options or {}))
        try:
            for rows in sorted({1, self.max_batch_size(options)}):
                self.runtime.predict(self._zeros(rows))
        except BaseException:
            self.runtime.close()
            raise

    def max_batch_size(self, options: ServeOptions) -> int:
        return options.max_batch_size or self.artifact.manifest.batch_size or DEFAULT_MAX_BATCH

    def mergeable(self) -> bool:
        """Requests can share a batch when every input has a batch axis the artifact lets vary."""
        m = self.artifact.manifest
        return all(s.shape for s in m.inputs) and (m.batch_size is None or m.dynamic_batch)

    def _zeros(self, rows: int) -> list:
        m = self.artifact.manifest
        if m.batch_size and not m.dynamic_batch:
            rows = m.batch_size
        return [np.zeros([rows if axis == 0 else (d or 1) for axis, d in enumerate(s.shape)], s.dtype)
                for s in m.inputs]

    def start(self, options: ServeOptions, on_batch) -> None:
        """Start taking requests (on the server's event loop)."""
        self.batcher = Batcher(self._predict, max_batch_size=self.max_batch_size(options),
                               max_delay=options.max_batch_delay_ms / 1000, max_queue=options.max_queue,
                               workers=len(self.runtime.groups), mergeable=self.mergeable(),
                               on_batch=on_batch, name=f"{self.name}/{self.version}")
        self.batcher.start()
        self.state = AVAILABLE

    def _predict(self, arrays: list) -> list:
        result = self.runtime.predict(arrays)
        return list(result) if isinstance(result, tuple) else [result]

    async def infer(self, inputs: Mapping) -> dict:
        """Run one request (input name -> array); outputs by name, in signature order."""
        try:
            arrays = self.runtime.check_inputs(dict(inputs))
        except InputError as exc:
            raise InvalidArgument(f"model {self.name} version {self.version}: {exc}") from None
        outputs = await self.batcher.submit(arrays)
        return {spec.name: value for spec, value in zip(self.outputs, outputs)}

    async def unload(self) -> None:
        """Stop taking requests, finish those queued and running, release the cores."""
        self.state = UNLOADING
        if self.batcher is not None:
            await self.batcher.close()
        if self.runtime is not None:
            await asyncio.to_thread(self.runtime.close)
        self.state = END


class ModelRegistry:
    """Every model the server knows, by name and version.

    :param artifacts: ``{name: path}`` of artifacts served as version 1, or
    :param repository: a model repository folder, read with ``versions``: ``"latest"``, ``"all"``
        or a set of version numbers.
    """

    def __init__(self, options: ServeOptions, *, artifacts: Mapping | None = None, repository: Path | None = None,
                 versions: str | frozenset = "latest", on_batch=None, on_start=None):
        if (artifacts is None) == (repository is None):
            raise ValueError("give artifacts or a repository")
        self.options = options
        self.artifacts = dict(artifacts or {})
        self.repository = Path(repository) if repository is not None else None
        self.versions_policy = versions
        self.models: dict = {}          # name -> {version: ModelVersion}
        self.ready = False
        self._on_batch = on_batch or (lambda version, stats: None)
        self._on_start = on_start or (lambda version: None)  # a version starts taking requests
        self._failed: dict = {}         # (name, version) -> the source's mtime when it failed
        self._sync_lock = asyncio.Lock()

    # -- lookups (the request path: no awaits, no filesystem)
    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """The version that serves a request: the asked one, else the highest available."""
        versions = self.models.get(name)
        if not versions:
            raise NotFound(f"model {name!r} is not served here; served models: {', '.join(self.names()) or 'none'}")
        if version is None:
            available = [v for v in versions.values() if v.state == AVAILABLE]
            if not available:
                raise Unavailable(f"model {name!r} has no version ready yet; retry shortly")
            return max(available, key=lambda v: v.version)
        found = versions.get(version)
        if found is None or found.state == END:
            live = sorted(v.version for v in versions.values() if v.state != END)
            raise NotFound(f"model {name!r} has no version {version}; versions served: {live or 'none'}")
        if found.state != AVAILABLE:
            raise Unavailable(f"model {name!r} version {version} is {found.state.lower()}; retry, or omit the "
                              f"version to use the newest available one")
        return found

    def names(self) -> list:
        return sorted(n for n, vs in self.models.items() if any(v.state != END for v in vs.values()))

    def statuses(self, name: str, version: int | None = None) -> list:
        """Every version of ``name`` (or just ``version``) with its state, newest first."""
        versions = self.models.get(name)
        if not versions or (version is not None and version not in versions):
            raise NotFound(f"model {name!r}" + (f" version {version}" if version is not None else "")
                           + f" is not served here; served models: {', '.join(self.names()) or 'none'}")
        return sorted((v for v in versions.values() if version is None or v.version == version),
                      key=lambda v: -v.version)

    def all_versions(self) -> list:
        return [v for vs in self.models.values() for v in vs.values()]

    # -- loading and unloading
    def wanted(self) -> dict:
        """``{(name, version): source}`` that should be served now."""
        if self.repository is None:
            return {(name, 1): Path(path) for name, path in self.artifacts.items()}
        return scan_repository(self.repository, self.versions_policy)

    async def sync(self, *, initial: bool = False) -> None:
        """Load what is wanted and not loaded; then unload what is loaded and no longer wanted.

        At start-up (``initial``) a version that fails to load stops the server; later, a failed
        new version is logged and the versions already served go on serving.
        """
        async with self._sync_lock:
            wanted = self.wanted()
            for (name, version), source in sorted(wanted.items()):
                current = self.models.get(name, {}).get(version)
                if current is not None and current.state != END:
                    continue
                if self._failed.get((name, version)) == _mtime(source):
                    continue  # failed before and unchanged since: don't retry every poll
                await self._load(name, version, source, initial)
            for mv in self.all_versions():
                if mv.state == AVAILABLE and (mv.name, mv.version) not in wanted:
                    log.info("unloading %s version %d (gone from the repository)", mv.name, mv.version)
                    await mv.unload()
            self.ready = True

    async def _load(self, name: str, version: int, source: Path, initial: bool) -> None:
        mv = ModelVersion(name, version, source)
        self.models.setdefault(name, {})[version] = mv
        log.info("loading %s version %d from %s", name, version, source)
        try:
            await asyncio.to_thread(mv.load, self.options)
        except NeuronkitError as exc:
            mv.state, mv.error = END, str(exc)
            self._failed[(name, version)] = _mtime(source)
            if initial:
                raise NeuronkitError(f"cannot serve {name} version {version} from {source}: {exc}") from None
            log.error("cannot load %s version %d from %s: %s", name, version, source, exc)
            return
        mv.start(self.options, lambda stats: self._on_batch(mv, stats))
        self._on_start(mv)
        log.info("%s version %d is available (%d replica(s), batches up to %d)", name, version,
                 len(mv.runtime.groups), mv.batcher.max_batch_size)

    async def close(self) -> None:
        """Finish every request in flight and unload everything."""
        self.ready = False
        await asyncio.gather(*(mv.unload() for mv in self.all_versions() if mv.state == AVAILABLE))


def scan_repository(root: Path, policy: str | frozenset = "latest") -> dict:
    """``{(name, version): artifact path}`` in a model repository, chosen by the version policy."""
    if not root.is_dir():
        raise NeuronkitError(f"model repository {root} is not a folder; lay it out as DIR/<name>/<version>/<artifact>")
    found = {}
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        numbered = sorted((int(p.name), p) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())
        if policy == "latest":
            numbered = numbered[-1:]
        elif policy != "all":
            numbered = [(v, p) for v, p in numbered if v in policy]
        for version, folder in numbered:
            path = _artifact_in(folder)
            if path is not None:
                found[(model_dir.name, version)] = path
    return found


def _artifact_in(folder: Path) -> Path | None:
    if (folder / MANIFEST).is_file():
        return folder
    candidates = [p for p in sorted(folder.iterdir()) if not p.name.startswith(".")
                  and ((p.is_dir() and (p / MANIFEST).is_file()) or (p.is_file() and zipfile.is_zipfile(p)))]
    if len(candidates) != 1:
        log.warning("%s holds %s artifacts; a version folder must hold exactly one", folder,
                    len(candidates) or "no")
        return None
    return candidates[0]


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0
