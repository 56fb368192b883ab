"""New weights for a compiled artifact, without compiling again: :func:`replace_weights`.

The core copies the artifact, lets its backend's :meth:`~neuronkit.Compiler.replace_weights` put the
weights in (the torch backend: ``torch_neuronx.replace_weights`` for models compiled with
``inline_weights=False``), then lists the files and checksums anew, as :func:`neuronkit.compile` does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import __version__, plugins
from .artifact import Artifact, InvalidManifest, describe_files, now_iso, open_artifact, validate_manifest
from .errors import NeuronkitError


def replace_weights(artifact: Artifact | str | os.PathLike, weights: Any) -> Artifact:
    """A new artifact: ``artifact`` with ``weights`` in place of the ones it was compiled with.

    :param artifact: an :class:`Artifact` or the path of a saved one; it is left as it is.
    :param weights: what the artifact's backend takes: for torch a state_dict (names to tensors), the
        model itself, or the path of a file saved with ``torch.save(model.state_dict(), path)``. Every
        name, shape and dtype must be the compiled model's.
    :return: a temporary :class:`Artifact`, like :func:`neuronkit.compile` returns; save it with ``.save(path)``.
    """
    art = artifact if isinstance(artifact, Artifact) else open_artifact(artifact)
    m = art.manifest
    if m.target == "cpu":
        raise NeuronkitError("replace_weights is for Neuron artifacts compiled with their weights outside the "
                             "compiled graph (torch: inline_weights=False on inf2, trn1 or trn2); a cpu artifact's "
                             "engine holds its weights in its own files: compile the model again")
    spec = plugins.find_backend(m.backend.name)
    plugins.ensure_available(spec)
    method = getattr(plugins.load_object(spec.compiler)(spec), "replace_weights", None)
    if method is None:  # a Compiler that does not subclass neuronkit.Compiler has no default to refuse with
        raise NeuronkitError(f"the {spec.name} backend cannot replace the weights of a compiled artifact; compile "
                             f"the model again with the new weights")
    workdir = Path(tempfile.mkdtemp(prefix="neuronkit-weights-"))
    try:
        for name in m.files:
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(art.file(name), workdir / name)
        load = method(art, weights, workdir)
        manifest = replace(m, load=load, files=describe_files(workdir), neuronkit_version=__version__,
                           created=now_iso())
        try:  # never hand out an artifact that open_artifact would refuse
            validate_manifest(json.loads(json.dumps(manifest.to_dict())))
        except (InvalidManifest, TypeError, ValueError) as exc:
            raise NeuronkitError(f"the {spec.name} backend's replace_weights returned a load dict that makes an "
                                 f"invalid manifest ({exc}); report this to the authors of "
                                 f"{spec.plugin or 'its plugin'}") from None
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return Artifact(workdir, manifest, temporary=True)
