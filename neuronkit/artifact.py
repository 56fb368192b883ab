"""The artifact: the framework's compiled files plus ``neuronkit.json``, as a directory or one file.

The one-file form is a ZIP archive (stored, not compressed: weights barely compress and users
copy artifacts between machines, so save and load speed matter more). Saving is atomic: the new
artifact is written aside and renamed over the old one only when complete; only an artifact is
ever replaced, and a directory save killed between its two renames is undone on the next open or
save. Opening treats both forms alike: it validates the manifest against the schema, checks that
the artifact holds exactly the listed files (no links, no extras, nothing outside it) with their
sha256 and size, and bounds what it reads, so a hostile file costs neither memory nor disk.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import shutil
import stat
import tempfile
import uuid
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from .errors import ArtifactError, IncompatibleArtifact
from .types import PRECISIONS, CompileReport, Component, Preprocess, TensorSpec

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
    logical_cores: int = 1               # physical NeuronCores per logical core it was compiled for (LNC)

    @property
    def buckets(self) -> tuple[tuple[tuple[int, ...], ...], ...]:
        """The shapes a bucket model was compiled for (``load["buckets"]``, read by the Runtime): one
        tuple of input shapes per bucket, in signature order; empty for any other model."""
        return tuple(tuple(tuple(shape) for shape in bucket) for bucket in self.load.get("buckets") or ())

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
            "logical_cores": self.logical_cores,
            "report": self.report.to_dict(),
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
            "load": self.load,
            "files": self.files,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        """Read a manifest, refusing any value of the wrong type or range (see :func:`validate_manifest`)."""
        validate_manifest(data)
        sig, backend, report = data["signature"], data["backend"], data["report"]
        return cls(
            backend=Component(backend["name"], backend.get("version", "")),
            plugin=backend.get("plugin", ""),
            framework=Component(data["framework"]["name"], data["framework"].get("version", "")),
            compiler=Component(data["compiler"]["name"], data["compiler"].get("version", "")),
            target=data["target"],
            engine=data.get("engine", ""),
            precision=data["precision"]["preset"],
            flags=tuple(data["precision"]["flags"]),
            inputs=tuple(TensorSpec.from_dict(t) for t in sig["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in sig["outputs"]),
            batch_size=sig.get("batch_size"),
            dynamic_batch=sig["dynamic_batch"],
            batch_axis=sig.get("batch_axis", 0),
            pipeline_cores=data["pipeline_cores"],
            logical_cores=data.get("logical_cores", 1),
            report=CompileReport.from_dict(report),
            files={k: {"sha256": v["sha256"], "size": v["size"]} for k, v in data["files"].items()},
            load=dict(data.get("load") or {}),
            preprocess=Preprocess.from_dict(data["preprocess"]) if data.get("preprocess") else None,
            neuronkit_version=data.get("neuronkit_version", ""),
            created=data.get("created", ""),
            schema_version=data["schema_version"],
        )


# -- the manifest's schema, checked on every open

_PRESETS = PRECISIONS[1:]    # what a manifest records: the resolved preset, never "auto"
_DTYPE_KINDS = "biufc"                  # bool, signed and unsigned integers, floats, complex
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def validate_manifest(data) -> None:
    """Check a parsed ``neuronkit.json`` against schema 1: every key's type, range and allowed values.

    A manifest is not covered by the files' checksums, so this is what stops an edited or damaged
    one (``pipeline_cores=-3``, ``dynamic_batch="false"``) from reaching a backend. Unknown keys are
    allowed: a later neuronkit may add some without raising the schema version.
    """
    from .targets import TARGETS

    version = data.get("schema_version") if isinstance(data, dict) else None
    if not _is_int(version):
        raise ArtifactError(f"{MANIFEST} has no integer schema_version: not a neuronkit artifact")
    if version > SCHEMA_VERSION:
        raise IncompatibleArtifact(
            f"this artifact uses manifest schema {version} (written by neuronkit "
            f"{_short(data.get('neuronkit_version', '?'))}); this neuronkit reads schema {SCHEMA_VERSION} and older. "
            f"Upgrade: pip install -U neuronkit"
        )
    _expect(version >= 1, "schema_version", "1 or more", version)
    for key in ("neuronkit_version", "created", "engine"):
        _expect(isinstance(data.get(key, ""), str), key, "a string", data.get(key))
    backend = _object(data, "backend")
    _expect(_is_name(backend.get("name")), "backend.name", "a non-empty string", backend.get("name"))
    for key in ("version", "plugin"):
        _expect(isinstance(backend.get(key, ""), str), f"backend.{key}", "a string", backend.get(key))
    for part in ("framework", "compiler"):
        component = _object(data, part)
        _expect(isinstance(component.get("name"), str), f"{part}.name", "a string", component.get("name"))
        _expect(isinstance(component.get("version", ""), str), f"{part}.version", "a string",
                component.get("version"))
    target = data.get("target")
    _expect(isinstance(target, str) and target in TARGETS, "target", f"one of {', '.join(TARGETS)}", target)
    precision = _object(data, "precision")
    _expect(precision.get("preset") in _PRESETS, "precision.preset", f"one of {', '.join(_PRESETS)}",
            precision.get("preset"))
    _expect(_is_list_of(precision.get("flags"), str), "precision.flags", "a list of strings", precision.get("flags"))
    _validate_signature(_object(data, "signature"))
    _expect(_is_int(data.get("pipeline_cores")) and data["pipeline_cores"] >= 1, "pipeline_cores",
            "an integer of 1 or more", data.get("pipeline_cores"))
    _expect(data.get("logical_cores", 1) in (1, 2) and _is_int(data.get("logical_cores", 1)), "logical_cores",
            "1 or 2", data.get("logical_cores"))
    _validate_report(_object(data, "report"))
    if data.get("preprocess") is not None:
        _validate_preprocess(_object(data, "preprocess"))
    _expect(isinstance(data.get("load", {}), dict), "load", "an object", data.get("load"))
    if (data.get("load") or {}).get("buckets") is not None:
        _validate_buckets(data["load"]["buckets"], data["signature"])
    _validate_files(_object(data, "files"))


def _validate_signature(sig: dict) -> None:
    for side in ("inputs", "outputs"):
        tensors = sig.get(side)
        _expect(isinstance(tensors, list) and tensors, f"signature.{side}", "a non-empty list", tensors)
        for i, tensor in enumerate(tensors):
            _validate_tensor(tensor, f"signature.{side}[{i}]")
        names = [t["name"] for t in tensors]
        _expect(len(set(names)) == len(names), f"signature.{side}", "a list with unique names", names)
    axis = sig.get("batch_axis", 0)
    _expect(_is_int(axis) and axis >= 0 and all(axis < len(t["shape"]) or not t["shape"] for t in sig["inputs"]),
            "signature.batch_axis", "an axis every input has", axis)
    size = sig.get("batch_size")
    _expect(size is None or (_is_int(size) and size >= 1), "signature.batch_size", "null or an integer of 1 or more",
            size)
    _expect(isinstance(sig.get("dynamic_batch"), bool), "signature.dynamic_batch", "true or false",
            sig.get("dynamic_batch"))


def _validate_buckets(buckets, sig: dict) -> None:
    """``load.buckets``: a non-empty list of buckets, each one shape per input that fits the input's signature."""
    inputs = sig["inputs"]
    _expect(isinstance(buckets, list) and buckets, "load.buckets", "a non-empty list of buckets", buckets)
    for i, bucket in enumerate(buckets):
        ok = isinstance(bucket, list) and len(bucket) == len(inputs) and all(
            isinstance(shape, list) and len(shape) == len(spec["shape"]) and all(
                _is_int(d) and d >= 1 and want in (None, d) for d, want in zip(shape, spec["shape"]))
            for shape, spec in zip(bucket, inputs))
        _expect(ok, f"load.buckets[{i}]", f"one shape per input ({len(inputs)}) of its rank, sizes >= 1 that "
                f"match the signature's fixed axes", bucket)
    _expect(sig.get("batch_size") is None and sig.get("dynamic_batch") is False, "signature.batch_size",
            "null (with dynamic_batch false) for a bucket model", sig.get("batch_size"))


def _validate_tensor(tensor, where: str) -> None:
    _expect(isinstance(tensor, dict), where, "an object", tensor)
    _expect(_is_name(tensor.get("name")), f"{where}.name", "a non-empty string", tensor.get("name"))
    dtype = tensor.get("dtype")
    try:
        kind = np.dtype(dtype).kind if isinstance(dtype, str) else None
    except TypeError:
        kind = None
    _expect(kind is not None and kind in _DTYPE_KINDS, f"{where}.dtype", "a numeric numpy dtype name", dtype)
    shape = tensor.get("shape")
    _expect(isinstance(shape, list) and len(shape) <= 32 and all(d is None or (_is_int(d) and d >= 0) for d in shape),
            f"{where}.shape", "a list of sizes (integers >= 0, or null for a free one)", shape)


def _validate_report(report: dict) -> None:
    for key in ("ops_total", "ops_on_target"):
        value = report.get(key)
        _expect(value is None or (_is_int(value) and value >= 0), f"report.{key}", "null or an integer >= 0", value)
    for key in ("unsupported_ops", "notes"):
        _expect(_is_list_of(report.get(key, []), str), f"report.{key}", "a list of strings", report.get(key))
    seconds = report.get("compile_seconds", 0.0)
    _expect(_is_number(seconds) and seconds >= 0, "report.compile_seconds", "a number >= 0", seconds)
    accuracy = report.get("accuracy")
    _expect(accuracy is None or (isinstance(accuracy, dict) and all(
        isinstance(k, str) and (isinstance(v, str) or _is_number(v)) for k, v in accuracy.items())),
        "report.accuracy", "null or an object of names to numbers or strings", accuracy)


def _validate_preprocess(pre: dict) -> None:
    _expect(pre.get("layout") in ("NCHW", "NHWC"), "preprocess.layout", "NCHW or NHWC", pre.get("layout"))
    _expect(pre.get("channel_order") in ("RGB", "BGR"), "preprocess.channel_order", "RGB or BGR",
            pre.get("channel_order"))
    _expect(_is_number(pre.get("scale")), "preprocess.scale", "a number", pre.get("scale"))
    for key in ("mean", "std"):
        values = pre.get(key)
        _expect(_is_list_of(values, (int, float)) and len(values) in (1, 3) and all(_is_number(v) for v in values),
                f"preprocess.{key}", "a list of 1 or 3 numbers", values)
    _expect(all(v != 0 for v in pre["std"]), "preprocess.std", "non-zero numbers", pre["std"])
    _expect(isinstance(pre.get("labels", ""), str), "preprocess.labels", "a string", pre.get("labels"))


def _validate_files(files: dict) -> None:
    for name, entry in files.items():
        _check_member_name(name, MANIFEST)
        _expect(name != MANIFEST, "files", f"a list of files besides {MANIFEST}", name)
        where = f"files[{_short(name)}]"
        _expect(isinstance(entry, dict), where, "an object", entry)
        _expect(isinstance(entry.get("sha256"), str) and _SHA256_HEX.fullmatch(entry["sha256"]) is not None,
                f"{where}.sha256", "64 lower-case hex digits", entry.get("sha256"))
        _expect(_is_int(entry.get("size")) and entry["size"] >= 0, f"{where}.size", "an integer >= 0",
                entry.get("size"))
    # A name that is also another's folder ("a" and "a/b") cannot be written to a disk.
    folders = {str(parent) for name in files for parent in PurePosixPath(name).parents}
    clash = sorted(folders & set(files))
    _expect(not clash, "files", "names none of which is another's folder", clash)


def _object(data: dict, key: str) -> dict:
    value = data.get(key)
    _expect(isinstance(value, dict), key, "an object", value)
    return value


class InvalidManifest(ArtifactError):
    """A manifest value of the wrong type or range; :attr:`problem` names the field."""

    def __init__(self, problem: str):
        super().__init__(f"{MANIFEST} is invalid: {problem}; the artifact was altered or damaged: copy it again "
                         f"or compile the model again")
        self.problem = problem


def _expect(ok, field_name: str, what: str, value) -> None:
    if not ok:
        raise InvalidManifest(f"{field_name} must be {what}, not {_short(value)}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_name(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_list_of(value, kind) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)


def _short(value, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters: messages stay one line whatever a file holds."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _short_list(names, limit: int = 5) -> str:
    names = sorted(names)
    shown = ", ".join(_short(n) for n in names[:limit])
    return f"[{shown}{f', … {len(names) - limit} more' if len(names) > limit else ''}]"


class Artifact:
    """A compiled model: its files in :attr:`root` and its :attr:`manifest`.

    Artifacts returned by :func:`neuronkit.compile` or opened from one file live in a temporary
    directory that is removed when the object is garbage-collected; :meth:`save` keeps them.
    """

    def __init__(self, root: str | Path, manifest: Manifest, *, temporary: bool = False):
        self.root = Path(root)
        self.manifest = manifest
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.root), True) if temporary else None
        #: what the compile cache did: "hit" (this came from it), "stored" (compiled, then stored), or ""
        self.cache = ""

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
            raise ArtifactError(f"artifact has no file {_short(name)}; it has {_short_list(self.manifest.files)}: it "
                                f"was altered, or its backend is broken: compile the model again")
        return self.root / name

    def __repr__(self) -> str:
        sig = ", ".join(t.describe() for t in self.inputs)
        return f"<Artifact {self.backend}/{self.manifest.engine or self.target} target={self.target} ({sig})>"

    # -- saving
    def save(self, path: str | Path, *, directory: bool = False) -> Path:
        """Write the artifact to ``path``: one file (default) or a directory. Atomic.

        If ``path`` exists it must be a neuronkit artifact of the same form, holding nothing its
        manifest does not list: it is replaced only once the new one is complete. Anything else at
        ``path`` (your zip, a folder with other files in it) is refused, never touched. Leftovers of
        earlier saves that were killed midway are cleaned up first. Errors are :class:`ArtifactError`.
        """
        dest = Path(path).absolute()
        _recover(dest)
        if os.path.lexists(dest):
            _check_replaceable(dest, directory)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._write(dest, directory)
        except OSError as exc:
            raise ArtifactError(f"could not save the artifact to {dest} ({exc.strerror or exc}); choose a folder "
                                f"you can write to, with free space, or another path") from exc
        return dest

    def _write(self, dest: Path, directory: bool) -> None:
        tmp = _aside(dest, "tmp")
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
        _fsync_dir(dest.parent)


# -- replacing safely, and recovering from a save that was killed

# Temporaries beside the destination carry the writer's process id, so a later save or open can
# tell a dead writer's leftovers (to clean up or restore) from a save still running (left alone).
_ASIDE = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}")


def _aside(dest: Path, kind: str) -> Path:
    return dest.with_name(f".{dest.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _replace_dir(new: Path, dest: Path) -> None:
    """Move ``new`` to ``dest``. Two renames, so a kill between them leaves ``dest`` missing and the
    old artifact under its ``.old-`` name: :func:`_recover` puts it back on the next open or save."""
    old = None
    if os.path.lexists(dest):
        old = _aside(dest, "old")
        os.replace(dest, old)
    try:
        os.replace(new, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _recover(dest: Path) -> None:
    """Undo what saves to ``dest`` that were killed midway left: restore the newest artifact set
    aside when ``dest`` is missing, and remove every other leftover of a writer that is gone."""
    try:
        leftovers = [(entry.stat(follow_symlinks=False).st_mtime_ns, Path(entry.path), match["kind"])
                     for entry in os.scandir(dest.parent)
                     if (match := _ASIDE.fullmatch(entry.name)) and match["name"] == dest.name
                     and not _process_alive(int(match["pid"]))]
    except OSError:
        return  # no parent folder yet, or not readable: nothing to recover
    for _, path, kind in sorted(leftovers, reverse=True):
        try:
            if kind == "old" and not os.path.lexists(dest):
                os.replace(path, dest)
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            pass  # another process recovered it first


def _process_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no safe liveness check: never touch what might be another save in progress
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _check_replaceable(dest: Path, directory: bool) -> None:
    why = _why_not_replaceable(dest)
    if why:
        raise ArtifactError(f"{dest} exists and is not a neuronkit artifact ({why}); only an artifact is "
                            f"replaced: choose another path, or remove it yourself")
    if dest.is_dir() != directory:
        form = "a directory" if dest.is_dir() else "a file"
        raise ArtifactError(f"{dest} is {form} artifact; save with directory={dest.is_dir()} "
                            f"or choose another path")


def _why_not_replaceable(path: Path) -> str:
    """Why ``path`` may not be replaced by a save, or '' when it is an artifact holding only the
    files its manifest lists (so replacing it loses nothing else)."""
    if path.is_symlink():
        return "it is a symbolic link; save to the path it points to"
    try:
        if path.is_dir():
            names = _tree_files(path)
            raw = _read_capped(path / MANIFEST) if (path / MANIFEST).is_file() else None
        elif path.is_file() and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [i.filename for i in zf.infolist() if not i.filename.endswith("/")]
                small = MANIFEST in names and zf.getinfo(MANIFEST).file_size <= MAX_MANIFEST_BYTES
                raw = zf.read(MANIFEST) if small else None
        else:
            return "it is neither a folder nor an artifact file"
        manifest = json.loads(raw) if raw is not None else None
    except (OSError, ValueError, RecursionError, RuntimeError, NotImplementedError, ArtifactError,
            zipfile.BadZipFile) as exc:
        return f"it could not be read as one: {_short(str(exc), 120)}"
    if not (isinstance(manifest, dict) and _is_int(manifest.get("schema_version"))
            and isinstance(manifest.get("files"), dict)):
        return f"it has no readable {MANIFEST}"
    unlisted = set(names) - set(manifest["files"]) - {MANIFEST}
    if unlisted:
        return f"it holds files its {MANIFEST} does not list: {_short_list(unlisted)}"
    return ""


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename durable; best effort (not every platform or filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- building and opening

#: The largest manifest read: a real one is a few kB, even with thousands of files.
MAX_MANIFEST_BYTES = 16 << 20
#: Stored is what neuronkit writes; deflated is what re-zipping an artifact directory gives.
_COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}


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
    """Open and verify an artifact saved as one file or as a directory.

    Both forms follow the same rules: the manifest must match schema 1, the artifact must hold
    exactly the files it lists (no symbolic links, nothing else), each with its size and sha256.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ArtifactError(f"open_artifact takes the path of an artifact (str or pathlib.Path), not "
                            f"{type(path).__name__}")
    path = Path(path)
    if not os.path.lexists(path):
        _recover(path.absolute())  # a directory save killed midway leaves the old artifact aside
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ArtifactError(f"no artifact at {path}; check the path") from None
    except OSError as exc:
        raise ArtifactError(f"cannot read {path} ({exc.strerror or exc}); check the path and its permissions") \
            from None
    if stat.S_ISDIR(mode):
        return _open_directory(path)
    if not stat.S_ISREG(mode):
        raise ArtifactError(f"{path} is not a regular file or a directory (a pipe, socket or device?); "
                            f"give the path of an artifact file or directory")
    if not zipfile.is_zipfile(path):
        raise ArtifactError(_not_an_artifact(path))
    tmp = Path(tempfile.mkdtemp(prefix="neuronkit-artifact-"))
    try:
        return Artifact(tmp, _extract(path, tmp), temporary=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _not_an_artifact(path: Path) -> str:
    from . import plugins

    try:
        backend = plugins.get_plugin_manager().hook.neuronkit_claim_model(model=str(path))
    except Exception:  # a broken plugin must not hide the real message
        backend = None
    if backend:
        return (f"{path} is a model file for the {backend} backend, not a neuronkit artifact; compile it first: "
                f"neuronkit compile {path} -o {path.stem}.nk")
    return (f"{path} is not a neuronkit artifact (one is a file or folder written by `neuronkit compile` or "
            f"Artifact.save, holding {MANIFEST}); if it was one, it may be truncated: copy it again")


def _open_directory(root: Path) -> Artifact:
    manifest_path = root / MANIFEST
    if not manifest_path.is_file() or manifest_path.is_symlink():
        what = "no" if not os.path.lexists(manifest_path) else "a link, folder or pipe, not a file, as its"
        raise ArtifactError(f"{root} has {what} {MANIFEST}: not a neuronkit artifact; give the path of one")
    manifest = Manifest.from_dict(_parse_json(_read_capped(manifest_path), root))
    _match_manifest(root, set(_tree_files(root)) - {MANIFEST}, manifest)
    for name, entry in manifest.files.items():
        _compare(name, entry, _sha256(root / name), (root / name).stat().st_size)
    return Artifact(root, manifest)


def _tree_files(root: Path) -> list:
    """Every file under ``root`` as posix paths; symbolic links and special files are refused,
    as in the one-file form."""
    names = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(folder, name)
            mode = os.lstat(full).st_mode
            rel = Path(full).relative_to(root).as_posix()
            if stat.S_ISLNK(mode):
                raise ArtifactError(f"{root}: {rel!r} is a symbolic link; refused (an artifact holds only its "
                                    f"own files): copy the artifact again or compile the model again")
            if not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
                raise ArtifactError(f"{root}: {rel!r} is not a regular file; refused: remove it")
            if stat.S_ISREG(mode):
                names.append(rel)
    return names


def _read_capped(path: Path) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ArtifactError(f"{path} is over {MAX_MANIFEST_BYTES >> 20} MiB, far larger than any real "
                            f"{MANIFEST}; the artifact is damaged or hostile: compile the model again")
    return raw


def _match_manifest(where: Path, names: set, manifest: Manifest) -> None:
    if names != set(manifest.files):
        extra, missing = names - set(manifest.files), set(manifest.files) - names
        raise ArtifactError(f"{where} does not match its manifest (unexpected: {_short_list(extra)}, "
                            f"missing: {_short_list(missing)}); it was altered after saving: copy it again or "
                            f"compile it again")


def _extract(path: Path, dest: Path) -> Manifest:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_entries(infos, path)
            info = zf.NameToInfo.get(MANIFEST)
            if info is None:
                raise ArtifactError(f"{path} has no {MANIFEST}: not a neuronkit artifact")
            if info.file_size > MAX_MANIFEST_BYTES:
                raise ArtifactError(f"{path}: {MANIFEST} is {info.file_size:,} bytes, far larger than any real "
                                    f"one; the artifact is damaged or hostile: compile the model again")
            manifest = Manifest.from_dict(_parse_json(zf.read(info), path))
            _match_manifest(path, {i.filename for i in infos if not i.filename.endswith("/")} - {MANIFEST},
                            manifest)
            for name, entry in manifest.files.items():
                _extract_one(zf, zf.getinfo(name), dest / name, entry)
            return manifest
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise ArtifactError(f"{path} is damaged ({_short(str(exc), 120)}); copy it again or compile it again") \
            from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ArtifactError(f"{path} could not be read ({exc}); it may be truncated: copy it again") from None


def _check_entries(infos: list, path: Path) -> None:
    """Refuse what could make the archive mean something other than what its manifest checks."""
    seen = set()
    for info in infos:
        name = info.filename
        if not name:
            raise ArtifactError(f"{path} has an entry with an empty name; the file is damaged: copy it again")
        _check_member_name(name.rstrip("/"), path)
        if name in seen:  # zipfile reads the last copy of a name; a checker could have seen another
            raise ArtifactError(f"{path} holds two entries named {_short(name)}; refused (the file was altered): "
                                f"copy it again or compile the model again")
        seen.add(name)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArtifactError(f"{path}: entry {name!r} is a symbolic link; refused")
        if info.flag_bits & 0x1:
            raise ArtifactError(f"{path}: entry {_short(name)} is encrypted; artifacts are never encrypted: "
                                f"copy the artifact again or compile the model again")
        if info.compress_type not in _COMPRESSIONS or info.flag_bits & 0x20:
            raise ArtifactError(f"{path}: entry {_short(name)} uses a compression neuronkit does not read "
                                f"(method {info.compress_type}); re-create it with Artifact.save or neuronkit compile")
        if info.extract_version > zipfile.MAX_EXTRACT_VERSION:
            raise ArtifactError(f"{path}: entry {_short(name)} needs zip version {info.extract_version / 10}; the "
                                f"file is damaged or was written by another tool: re-create it with Artifact.save")


def _extract_one(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, entry: dict) -> None:
    # Compare the size the archive declares first: nothing is written for an entry that lies.
    if info.file_size != entry["size"]:
        raise ArtifactError(f"{info.filename!r} is {info.file_size:,} bytes in the archive but {entry['size']:,} in "
                            f"the manifest: the artifact was altered; copy it again or compile it again")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with zf.open(info) as src, open(target, "wb") as out:
        while chunk := src.read(_CHUNK):
            size += len(chunk)
            if size > entry["size"]:  # never write more than declared, whatever the header says
                break
            digest.update(chunk)
            out.write(chunk)
    _compare(info.filename, entry, digest.hexdigest(), size)


def _parse_json(raw: bytes, where: Path) -> dict:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"{where}: {MANIFEST} is not valid JSON ({_short(str(exc), 120)}); "
                            f"compile the model again") from None


def _check_member_name(name: str, where) -> None:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name or (p.parts and ":" in p.parts[0]):
        raise ArtifactError(f"{where}: entry {_short(name)} points outside the artifact; refused (the file is unsafe)")
    if not name or str(p) != name or "\0" in name:  # "a//b", "./a", "a/": one file, several spellings
        raise ArtifactError(f"{where}: entry name {_short(name)} is not a plain relative path; refused "
                            f"(the artifact was altered): compile the model again")


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
