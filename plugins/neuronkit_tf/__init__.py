"""The TensorFlow backend: Keras models, ``tf.Module`` objects and SavedModel directories.

Targets: ``cpu`` (engines ``openvino``, ``savedmodel``, ``xla``), ``inf1`` (tensorflow-neuron:
``tfn.trace`` or the TF1-style ``tfn.saved_model.compile``), ``inf2``/``trn1``
(``tensorflow_neuronx.trace``). See docs/backends/tf.md.

Modules: ``backend`` (compiler and replica: dispatch), ``cpu`` (the OpenVINO exporter and the
backend's own engines), ``neuron`` (the SDK calls), ``model`` (what both share), ``serving``
(the TensorFlow Serving layout). Registered through the ``neuronkit`` entry point exactly as a
third-party backend would be. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from neuronkit import BackendSpec, EngineSpec, ExportFormat, Option, hookimpl

NEURON = ("inf1", "inf2", "trn1")
_TF = {"requires": ("tensorflow",), "install_hint": 'pip install "neuronkit[tf]"'}


@hookimpl
def neuronkit_backends():
    return [
        BackendSpec(
            name="tf",
            framework="TensorFlow",
            compiler="neuronkit_tf.backend:TfCompiler",
            replica="neuronkit_tf.backend:TfReplica",
            targets=("cpu", *NEURON),
            # For a precision, the first installed engine that runs it is the default: OpenVINO reading the
            # TensorFlow graph is the fastest host engine measured here (docs/backends/tf.md,
            # benchmarks/tf_resnet50.py).
            engines=("openvino", EngineSpec("savedmodel", ("fp32", "bf16"), **_TF),
                     EngineSpec("xla", ("fp32",), **_TF)),
            precisions=("fp32", "bf16", "fp16"),  # on Neuron targets; the cpu engines say theirs
            aliases=("tensorflow", "keras"),
            capabilities={"dynamic_batch", "pipeline"},
            requires=("tensorflow",),
            install_hint='pip install "neuronkit[tf]"',
            selftest="neuronkit_tf:tiny_model",
            model_files="SavedModel folders (holding saved_model.pb)",
            compile_options=(
                Option("signature_def_key", str, "serving_default",
                       "the signature of a SavedModel directory to compile"),
                Option("method", str, "trace", "trace (tfn.trace) or, on inf1, saved_model (tfn.saved_model.compile)",
                       NEURON),
                Option("compiler_workdir", (str, os.PathLike), None, "where the compiler keeps its work files",
                       NEURON),
                Option("subgraph_builder_function", Callable, None,
                       "method='trace': node -> bool, whether the node may go on Neuron", NEURON),
                Option("minimum_segment_size", int, None, "method='saved_model': smallest subgraph put on Neuron",
                       ("inf1",)),
                Option("no_fuse_ops", (list, tuple), None, "method='saved_model': operator names kept on the CPU",
                       ("inf1",)),
                Option("force_fuse_ops", (list, tuple), None, "method='saved_model': operator names forced on Neuron",
                       ("inf1",)),
            ),
        )
    ]


@hookimpl
def neuronkit_claim_model(model):
    """Claim Keras models and ``tf.Module`` objects (only if TensorFlow/Keras is already imported),
    and directories holding a ``saved_model.pb``."""
    if isinstance(model, (str, os.PathLike)):
        return "tf" if os.path.isfile(os.path.join(os.fspath(model), "saved_model.pb")) else None
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, getattr(keras, "Model", ())):
        return "tf"
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(model, getattr(tf, "Module", ())):
        return "tf"
    return None


@hookimpl
def neuronkit_export_formats():
    return [ExportFormat("tf-serving", "TensorFlow Serving base path: writes DEST/<version>/saved_model.pb and "
                                       "variables/", "neuronkit_tf.serving:export", backends=("tf",))]


def tiny_model():
    """A small Keras model and an example input, for ``neuronkit selftest``."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,), name="x"), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(4)])
    return model, (np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32),)
