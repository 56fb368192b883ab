"""The TensorFlow backend: Keras models, ``tf.Module`` objects and SavedModel directories.

Targets: ``cpu`` (engines ``openvino``, ``savedmodel``, ``xla``), ``inf1`` (tensorflow-neuron:
``tfn.trace`` or the TF1-style ``tfn.saved_model.compile``), ``inf2``/``trn1``
(``tensorflow_neuronx.trace``). See docs/backends/tf.md.

Registered through the ``neuronkit`` entry point exactly as a third-party backend would be.
Nothing here imports TensorFlow: :mod:`neuronkit_tf.backend` does, when it compiles or loads.
"""

from __future__ import annotations

import os
import sys

from neuronkit import BackendSpec, hookimpl


@hookimpl
def neuronkit_backends():
    return [
        BackendSpec(
            name="tf",
            framework="TensorFlow",
            compiler="neuronkit_tf.backend:TfCompiler",
            replica="neuronkit_tf.backend:TfReplica",
            targets=("cpu", "inf1", "inf2", "trn1"),
            # The default engine comes first: OpenVINO reading the TensorFlow graph is the fastest
            # host engine measured here (docs/backends/tf.md, benchmarks/tf_resnet50.py).
            engines=("openvino", "savedmodel", "xla"),
            precisions=("fp32", "bf16", "fp16"),  # fp16: Neuron targets only
            aliases=("tensorflow", "keras"),
            capabilities={"dynamic_batch", "pipeline"},
            requires=("tensorflow",),
            install_hint='pip install "neuronkit[tf]"',
            selftest="neuronkit_tf.backend:tiny_model",
            model_files="SavedModel folders (holding saved_model.pb)",
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
def neuronkit_register_commands(cli):
    import click

    @cli.command("export")
    @click.argument("artifact", type=click.Path(exists=True))
    @click.option("--tf-serving", "tf_serving", required=True, type=click.Path(),
                  help="TensorFlow Serving base path: writes BASE/<version>/saved_model.pb and variables/.")
    @click.option("--version", "version", type=int, default=None,
                  help="Version folder number (default: the next free one, starting at 1).")
    def export_cmd(artifact, tf_serving, version):
        """Lay a TensorFlow artifact out as TensorFlow Serving expects (BASE/N/saved_model.pb)."""
        from neuronkit import open_artifact
        from neuronkit_tf.serving import export_tf_serving, server_command

        art = open_artifact(artifact)
        path = export_tf_serving(art, tf_serving, version=version)
        click.echo(f"wrote {path}")
        click.echo(f"serve it with: {server_command(art, tf_serving)}")
