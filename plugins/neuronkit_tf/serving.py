"""The TensorFlow Serving layout: ``BASE/<version>/saved_model.pb`` + ``variables/``.

``tensorflow_model_server`` (cpu artifacts), ``tensorflow_model_server_neuron`` (inf1) or
``tensorflow_model_server_neuronx`` (inf2/trn1) serve ``--model_base_path=BASE`` (an absolute
path) and pick the highest version. Nothing here imports TensorFlow: the SavedModel the artifact
holds is copied as it is, written aside and renamed into place, so a server watching BASE never
sees a half-written version.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from neuronkit import Artifact, ArtifactError, NeuronkitError, open_artifact

SERVERS = {"cpu": "tensorflow_model_server", "inf1": "tensorflow_model_server_neuron",
           "inf2": "tensorflow_model_server_neuronx", "trn1": "tensorflow_model_server_neuronx"}


def export_tf_serving(artifact: Artifact | str | os.PathLike, base: str | os.PathLike,
                      version: int | None = None) -> Path:
    """Write the artifact's SavedModel as version ``version`` (default: the next free number) under
    ``base`` and return that version's directory. An existing version is never overwritten."""
    art = artifact if isinstance(artifact, Artifact) else open_artifact(artifact)
    m = art.manifest
    if m.backend.name != "tf":
        raise NeuronkitError(f"TensorFlow Serving serves SavedModels; this artifact was compiled by the "
                             f"{m.backend.name} backend")
    if m.load.get("format") != "saved_model":
        raise NeuronkitError(f"this artifact holds no SavedModel (engine {m.engine!r}); TensorFlow Serving "
                             f"needs one: compile with engine='savedmodel' (or 'xla'), or for an inf1/inf2 target")
    prefix = m.load["model"] + "/"
    files = sorted(name for name in m.files if name.startswith(prefix))
    if prefix + "saved_model.pb" not in files:
        raise ArtifactError(f"the artifact has no {prefix}saved_model.pb; compile it again")
    base = Path(base).absolute()
    base.mkdir(parents=True, exist_ok=True)
    if version is None:
        taken = [int(p.name) for p in base.iterdir() if p.name.isdigit()]
        version = max(taken, default=0) + 1
    if version < 0:
        raise NeuronkitError(f"version {version} must be a non-negative integer")
    dest = base / str(version)
    if dest.exists():
        raise NeuronkitError(f"{dest} already exists; TensorFlow Serving versions are immutable: "
                             f"pick another --version or leave it out for the next free one")
    tmp = base / f".{version}.tmp-{uuid.uuid4().hex[:8]}"   # hidden, non-numeric: servers ignore it
    try:
        tmp.mkdir()
        for name in files:
            target = tmp / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(art.root / name, target)
        (tmp / "variables").mkdir(exist_ok=True)
        os.rename(tmp, dest)  # fails rather than replace if another export took the number meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def server_command(artifact: Artifact | str | os.PathLike, base: str | os.PathLike, name: str = "") -> str:
    """The TensorFlow Serving command line for ``base`` (gRPC on 8500, REST on 8501)."""
    art = artifact if isinstance(artifact, Artifact) else open_artifact(artifact)
    base = Path(base).absolute()
    return (f"{SERVERS.get(art.target, 'tensorflow_model_server')} --port=8500 --rest_api_port=8501 "
            f"--model_name={name or base.name} --model_base_path={base}")


def export(artifact: Artifact, base: str, version: int | None = None) -> list:
    """``neuronkit export ART --tf-serving BASE [--version N]``: what to print."""
    path = export_tf_serving(artifact, base, version=version)
    return [f"wrote {path}", f"serve it with: {server_command(artifact, base)}"]
