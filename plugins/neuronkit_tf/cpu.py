"""The cpu target: the OpenVINO exporter, and the backend's own ``savedmodel`` and ``xla`` engines.

- ``openvino`` (the core's engine, the default when OpenVINO is installed): ``openvino.convert_model``
  reads the serving ``tf.function`` (the same graph and names the SavedModel would hold, without
  writing one: OpenVINO's SavedModel reader misses some Keras 3 variables), and
  :func:`neuronkit.engines.openvino.finish` writes the IR; the core loads it, without TensorFlow.
- ``savedmodel``: ``tf.saved_model.save`` with a ``serving_default`` signature (not
  ``model.export``, which stores the weights twice). bf16 is TensorFlow's oneDNN
  auto-mixed-precision graph rewrite, switched on while the replica instantiates the function
  (effective only on CPUs with AVX512-BF16/AMX; not verified on this project's AVX2 host).
- ``xla``: the same SavedModel with the serving function compiled by XLA (``jit_compile=True``,
  kept in the SavedModel); fp32 only (its EngineSpec says so: the bf16 rewrite does not reach XLA clusters).
"""

from __future__ import annotations

from neuronkit import CompileReport, CompileResult, Component
from neuronkit.engines import openvino as ov_engine

from .model import (
    BF16_REWRITE,
    SAVED_MODEL_DIR,
    ServingSignature,
    count_ops,
    prepare,
    save_serving,
    saved_model_load,
    serving_function,
    signature_specs,
)


def _dynamic(request) -> bool:
    """The cpu engines keep the batch axis free unless ``dynamic_batch=False``."""
    return True if request.dynamic_batch is None else bool(request.dynamic_batch)


def compile_openvino(tf, model, request) -> CompileResult:
    import openvino as ov

    request.progress("reading the model")
    prepared = prepare(tf, model, request)
    dynamic = _dynamic(request)
    _, concrete = serving_function(tf, prepared, prepared.func, dynamic)
    inputs, outputs = signature_specs(concrete, prepared, dynamic)
    ops = count_ops(concrete.graph.as_graph_def())
    request.progress("converting with OpenVINO")
    return ov_engine.finish(
        ov.convert_model(concrete), request, inputs, framework=Component("tensorflow", tf.__version__),
        output_names=[o.name for o in outputs], flags=("openvino.convert_model(serving tf.function)",),
        report=CompileReport(ops_total=ops, ops_on_target=ops))


def compile_savedmodel(tf, model, request) -> CompileResult:
    """The ``savedmodel`` and ``xla`` engines."""
    jit = request.engine == "xla"
    request.progress("reading the model")
    prepared = prepare(tf, model, request)
    dynamic = _dynamic(request)
    request.progress("saving the SavedModel" + (" (XLA)" if jit else ""))
    concrete = save_serving(tf, prepared, prepared.func, request.workdir / SAVED_MODEL_DIR, dynamic, jit=jit)
    inputs, outputs = signature_specs(concrete, prepared, dynamic)
    ops = count_ops(concrete.graph.as_graph_def())
    flags = ["tf.saved_model.save(signatures=serving_default)"] + (["jit_compile=True"] if jit else [])
    if request.precision == "bf16":
        flags.append(f"load: tf.config.optimizer {BF16_REWRITE}=True")
    return CompileResult(
        inputs=inputs, outputs=outputs,
        framework=Component("tensorflow", tf.__version__),
        compiler=Component("xla" if jit else "tensorflow", tf.__version__),
        flags=tuple(flags), engine=request.engine, batch_size=None if dynamic else prepared.batch,
        dynamic_batch=dynamic, report=CompileReport(ops_total=ops, ops_on_target=ops),
        load=saved_model_load(outputs),
    )


#: engine -> its compile step (the core chose the engine: ``request.engine``)
COMPILERS = {"openvino": compile_openvino, "savedmodel": compile_savedmodel, "xla": compile_savedmodel}


def load(tf, artifact) -> ServingSignature:
    """A ``savedmodel``/``xla`` artifact, with the bf16 rewrite on when it was compiled for bf16."""
    return ServingSignature(tf, artifact, bf16=artifact.manifest.precision == "bf16")
