"""The artifact: the framework's compiled files plus ``neuronkit.json``, as a directory or one file.

The one-file form is a ZIP archive (stored, not compressed: weights barely compress and users
copy artifacts between machines, so save and load speed matter more). Saving is atomic: the new
artifact is written aside and renamed over the old one only when complete. Opening verifies the
schema version, that every entry stays inside the artifact, and the sha256 and size of every file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import stat
import tempfile
import uuid
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import ArtifactError, IncompatibleArtifact
from .types import CompileReport, Component, Preprocess, TensorSpec

MANIFEST = "neuronkit.json"
SCHEMA_VERSION = 1
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    """Everything needed to check, load and describe a compiled model (schema version 1)."""

    backend: Component                   # backend name + version of the plugin that wrote it
    plugin: str                          # distribution that registered the backend
    framework: Component
    compiler: Component
    target: str
    engine: str
    precision: str                       # the preset asked for, resolved ("fp32", "bf16", ...)
    flags: tuple[str, ...]               # the exact compiler flags / environment used
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batch_size: int | None            # compiled batch; None when any batch runs natively
    dynamic_batch: bool
    pipeline_cores: int
    report: CompileReport
    files: dict                          # relative posix path -> {"sha256": ..., "size": ...}
    load: dict = field(default_factory=dict)
    preprocess: Preprocess | None = None
    neuronkit_version: str = ""
    created: str = ""
    schema_version: int = SCHEMA_VERSION
    batch_axis: int = 0

    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "neuronkit_version": self.neuronkit_version,
            "created": self.created,
            "backend": {**self.backend.to_dict(), "plugin": self.plugin},
            "framework": self.framework.to_dict(),
            "compiler": self.compiler.to_dict(),
            "target": self.target,
            "engine": self.engine,
            "precision": {"preset": self.precision, "flags": list(self.flags)},
            "signature": {
                "inputs": [t.to_dict() for t in self.inputs],
                "outputs": [t.to_dict() for t in self.outputs],
                "batch_axis": self.batch_axis,
                "batch_size": self.batch_size,
                "dynamic_batch": self.dynamic_batch,
            },
            "pipeline_cores": self.pipeline_cores,
            "report": self.report.to_dict(),
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
            "load": self.load,
            "files": self.files,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        version = data.get("schema_version") if isinstance(data, dict) else None
        if not isinstance(version, int):
            raise ArtifactError(f"{MANIFEST} has no integer schema_version: not a neuronkit artifact")
        if version > SCHEMA_VERSION:
            raise IncompatibleArtifact(
                f"this artifact uses manifest schema {version} (written by neuronkit "
                f"{data.get('neuronkit_version', '?')}); this neuronkit reads schema {SCHEMA_VERSION} and older. "
                f"Upgrade: pip install -U neuronkit"
            )
        try:
            sig = data["signature"]
            backend = data["backend"]
            return cls(
                backend=Component(backend["name"], backend.get("version", "")),
                plugin=backend.get("plugin", ""),
                framework=Component(**data["framework"]),
                compiler=Component(**data["compiler"]),
                target=data["target"],
                engine=data.get("engine", ""),
                precision=data["precision"]["preset"],
                flags=tuple(data["precision"]["flags"]),
                inputs=tuple(TensorSpec.from_dict(t) for t in sig["inputs"]),
                outputs=tuple(TensorSpec.from_dict(t) for t in sig["outputs"]),
                batch_size=sig["batch_size"],
                dynamic_batch=bool(sig["dynamic_batch"]),
                batch_axis=int(sig.get("batch_axis", 0)),
                pipeline_cores=int(data["pipeline_cores"]),
                report=CompileReport.from_dict(data["report"]),
                files={str(k): dict(v) for k, v in data["files"].items()},
                load=dict(data.get("load") or {}),
                preprocess=Preprocess.from_dict(data["preprocess"]) if data.get("preprocess") else None,
                neuronkit_version=data.get("neuronkit_version", ""),
                created=data.get("created", ""),
                schema_version=version,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"{MANIFEST} is malformed ({type(exc).__name__}: {exc}); "
                                f"compile the model again") from None


class Artifact:
    """A compiled model: its files in :attr:`root` and its :attr:`manifest`.

    Artifacts returned by :func:`neuronkit.compile` or opened from one file live in a temporary
    directory that is removed when the object is garbage-collected; :meth:`save` keeps them.
    """

    def __init__(self, root: str | Path, manifest: Manifest, *, temporary: bool = False):
        self.root = Path(root)
        self.manifest = manifest
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.root), True) if temporary else None

    # -- convenience views of the manifest
    @property
    def backend(self) -> str:
        return self.manifest.backend.name

    @property
    def target(self) -> str:
        return self.manifest.target

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.manifest.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self.manifest.outputs

    def file(self, name: str) -> Path:
        """The path of one of the artifact's files."""
        if name not in self.manifest.files:
            raise ArtifactError(f"artifact has no file {name!r}; it has {sorted(self.manifest.files)}")
        return self.root / name

    def __repr__(self) -> str:
        sig = ", ".join(t.describe() for t in self.inputs)
        return f"<Artifact {self.backend}/{self.manifest.engine or self.target} target={self.target} ({sig})>"

    # -- saving
    def save(self, path: str | Path, *, directory: bool = False) -> Path:
        """Write the artifact to ``path``: one file (default) or a directory. Atomic.

        An existing artifact at ``path`` is replaced only once the new one is complete; anything
        else at ``path`` is left alone and reported.
        """
        dest = Path(path).absolute()
        if dest.exists():
            _check_replaceable(dest, directory)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            if directory:
                tmp.mkdir()
                for name in self.manifest.files:
                    target = tmp / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(self.root / name, target)
                _write_json(tmp / MANIFEST, self.manifest.to_dict())
                _replace_dir(tmp, dest)
            else:
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                    zf.writestr(MANIFEST, json.dumps(self.manifest.to_dict(), indent=2) + "\n")
                    for name in sorted(self.manifest.files):
                        zf.write(self.root / name, name)
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            raise
        return dest


def _check_replaceable(dest: Path, directory: bool) -> None:
    is_artifact = (dest / MANIFEST).is_file() if dest.is_dir() else zipfile.is_zipfile(dest)
    if not is_artifact:
        raise ArtifactError(f"{dest} exists and is not a neuronkit artifact; choose another path "
                            f"or remove it yourself")
    if dest.is_dir() != directory:
        form = "a directory" if dest.is_dir() else "a file"
        raise ArtifactError(f"{dest} is {form} artifact; save with directory={dest.is_dir()} "
                            f"or choose another path")


def _replace_dir(new: Path, dest: Path) -> None:
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(dest, old)
    try:
        os.replace(new, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


# -- building and opening

def describe_files(root: Path) -> dict:
    """sha256 and size of every regular file under ``root`` (the manifest's ``files``)."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        name = path.relative_to(root).as_posix()
        if name == MANIFEST:
            continue
        files[name] = {"sha256": _sha256(path), "size": path.stat().st_size}
    return files


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def open_artifact(path: str | Path) -> Artifact:
    """Open and verify an artifact saved as one file or as a directory."""
    path = Path(path)
    if path.is_dir():
        manifest = _read_manifest(path / MANIFEST, path)
        for name, entry in manifest.files.items():
            _check_member_name(name, path)
            _verify(path / name, name, entry)
        return Artifact(path, manifest)
    if not path.exists():
        raise ArtifactError(f"no artifact at {path}")
    if not zipfile.is_zipfile(path):
        raise ArtifactError(f"{path} is not a neuronkit artifact (neither a directory nor an artifact file); "
                            f"it may be truncated: copy it again")
    tmp = Path(tempfile.mkdtemp(prefix="neuronkit-artifact-"))
    try:
        return Artifact(tmp, _extract(path, tmp), temporary=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _extract(path: Path, dest: Path) -> Manifest:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member_name(info.filename, path)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ArtifactError(f"{path}: entry {info.filename!r} is a symbolic link; refused")
            try:
                raw = zf.read(MANIFEST)
            except KeyError:
                raise ArtifactError(f"{path} has no {MANIFEST}: not a neuronkit artifact") from None
            manifest = Manifest.from_dict(_parse_json(raw, path))
            names = {i.filename for i in infos if not i.is_dir()} - {MANIFEST}
            if names != set(manifest.files):
                extra, missing = sorted(names - set(manifest.files)), sorted(set(manifest.files) - names)
                raise ArtifactError(f"{path} does not match its manifest (unexpected: {extra}, missing: {missing}); "
                                    f"it was altered after saving: copy or compile it again")
            for name, entry in manifest.files.items():
                _check_member_name(name, path)
                target = dest / name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                size = 0
                with zf.open(name) as src, open(target, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                _compare(name, entry, digest.hexdigest(), size)
            return manifest
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise ArtifactError(f"{path} is damaged ({exc}); copy it again or compile it again") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ArtifactError(f"{path} could not be read ({exc}); it may be truncated: copy it again") from None


def _read_manifest(manifest_path: Path, where: Path) -> Manifest:
    try:
        raw = manifest_path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{where} has no {MANIFEST}: not a neuronkit artifact") from None
    return Manifest.from_dict(_parse_json(raw, where))


def _parse_json(raw: bytes, where: Path) -> dict:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ArtifactError(f"{where}: {MANIFEST} is not valid JSON ({exc}); compile the model again") from None


def _check_member_name(name: str, where: Path) -> None:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name or (p.parts and ":" in p.parts[0]):
        raise ArtifactError(f"{where}: entry {name!r} points outside the artifact; refused (the file is unsafe)")


def _verify(path: Path, name: str, entry: dict) -> None:
    if not path.is_file():
        raise ArtifactError(f"artifact file {name!r} is missing from {path.parent}; copy the artifact again")
    _compare(name, entry, _sha256(path), path.stat().st_size)


def _compare(name: str, entry: dict, sha256: str, size: int) -> None:
    if size != entry.get("size") or sha256 != entry.get("sha256"):
        raise ArtifactError(f"checksum mismatch for {name!r} (size {size}, expected {entry.get('size')}): the "
                            f"artifact is corrupted or was altered; copy it again or compile it again")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
