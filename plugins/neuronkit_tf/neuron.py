"""inf1, inf2 and trn1 through the Neuron SDK's TensorFlow integrations, called as documented.

- inf1, ``method="trace"`` (default): TF2 ``tensorflow_neuron.trace(func, example_inputs)``; compiler
  flags go **only** through the ``NEURON_CC_FLAGS`` environment variable (with the tfn-specific
  ``--dynamic-batch-size`` and ``--workdir``). The returned model's ``on_neuron_ratio`` is recorded
  and the model is saved with ``tf.saved_model.save``.
- inf1, ``method="saved_model"``: the SavedModel path of the seed walkthrough,
  ``tfn.saved_model.compile(model_dir, new_model_dir, batch_size=..., model_feed_dict=...,
  compiler_args=[...])``, recording the ``OnNeuronRatio`` it returns. With tensorflow-neuron 2.x,
  whose ``saved_model.compile`` only takes ``(model_dir, new_model_dir, tags, model_feed_dict)``,
  the flags go through ``NEURON_CC_FLAGS`` instead (the signature is inspected, not guessed).
- inf2/trn1: ``tensorflow_neuronx.trace`` with neuronx-cc flags in ``NEURON_CC_FLAGS``.

The flags per precision preset are the core's (:mod:`neuronkit.neuron`); for neuron-cc the
matching ``--fp32-cast`` is given explicitly, because tensorflow-neuron puts
``--fast-math=none --fp32-cast=matmult-fp16`` ahead of the user's flags. The core applies
``strict=``/``min_on_neuron=`` to the report; here ``strict`` only adds ``--must-compile`` where the
SDK takes it (the TF1 ``saved_model.compile``).
"""

from __future__ import annotations

import inspect
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuronkit import CompileError, CompileReport, CompileRequest, CompileResult, Component
from neuronkit.neuron import extra_compiler_args, flags_in_environment, import_sdk, neuron_cc_flags, neuronx_cc_flags

from .model import (
    SAVED_MODEL_DIR,
    Prepared,
    ServingSignature,
    count_ops,
    prepare,
    save_serving,
    saved_model_load,
    signature_specs,
    source_function,
)

#: target -> (module, pip package, compiler)
SDK = {
    "inf1": ("tensorflow_neuron", "tensorflow-neuron", "neuron-cc"),
    "inf2": ("tensorflow_neuronx", "tensorflow-neuronx", "neuronx-cc"),
    "trn1": ("tensorflow_neuronx", "tensorflow-neuronx", "neuronx-cc"),
}
#: compile options (declared in the BackendSpec) that only one method takes
METHOD_OPTIONS = {"trace": ("subgraph_builder_function",),
                  "saved_model": ("minimum_segment_size", "no_fuse_ops", "force_fuse_ops")}


def compiler_flags(request) -> list:
    """The compiler's own flags for the preset and pipeline, then the user's ``compiler_args``."""
    target = request.target.name
    if target == "inf1":
        flags = neuron_cc_flags(request.precision, request.pipeline_cores, explicit_fp32_cast=True)
    else:
        flags = neuronx_cc_flags(target, request.precision, request.options.get("logical_cores"))
    return flags + extra_compiler_args(request.options)


@dataclass
class Job:
    """One Neuron compile: what :func:`_trace` and :func:`_saved_model_compile` work from."""

    tf: Any
    sdk: Any
    prepared: Prepared
    request: CompileRequest
    flags: list       # compiler flags (precision, pipeline, the user's)
    dynamic: bool     # dynamic_batch=True

    @property
    def options(self) -> dict:
        return self.request.options


def compile_neuron(tf, model, request) -> CompileResult:
    target = request.target.name
    method = request.options.get("method", "trace")
    if method not in METHOD_OPTIONS or (method == "saved_model" and target != "inf1"):
        raise CompileError(f"method={method!r}: {target} compiles with method='trace'"
                           + ("; inf1 also takes method='saved_model'" if target == "inf1" else ""))
    for other, names in METHOD_OPTIONS.items():
        given = sorted(set(names) & set(request.options))
        if other != method and given:
            raise CompileError(f"option(s) {given} are for method={other!r}; this compile uses method={method!r}")
    module, package, compiler = SDK[target]
    sdk = import_sdk(module, package, target=target)
    request.progress("reading the model")
    prepared = prepare(tf, model, request)
    # the SDKs compile a fixed batch unless asked
    job = Job(tf, sdk, prepared, request, compiler_flags(request), bool(request.dynamic_batch))
    if method == "trace":
        model_neuron, ratio, recorded, unsupported = _trace(job)
        request.progress("saving the traced model")
        # With --dynamic-batch-size (inf1) the traced model takes any batch; without it, the compiled one.
        concrete = save_serving(tf, prepared, model_neuron, request.workdir / SAVED_MODEL_DIR,
                                dynamic=job.dynamic and target == "inf1", keep=model_neuron)
        source = source_function(tf, prepared)
    else:
        ratio, recorded = _saved_model_compile(job)
        unsupported = ()
        concrete = source = source_function(tf, prepared)
    total = count_ops(source.graph.as_graph_def())
    note = (f"{package} {'trace' if method == 'trace' else 'saved_model.compile'}: {ratio:.1%} of operators on "
            f"Neuron ({'on_neuron_ratio' if method == 'trace' else 'OnNeuronRatio'}={ratio:.4f})")
    inputs, outputs = signature_specs(concrete, prepared, dynamic=False)
    return CompileResult(
        inputs=inputs, outputs=outputs,
        framework=Component("tensorflow", tf.__version__),
        compiler=Component(f"{package} ({compiler})", str(getattr(sdk, "__version__", ""))),
        flags=tuple(recorded),
        batch_size=prepared.batch, dynamic_batch=job.dynamic,
        report=CompileReport(ops_total=total, ops_on_target=math.floor(ratio * total),
                             unsupported_ops=tuple(unsupported), notes=(note,)),
        load={**saved_model_load(outputs), "sdk": module, "method": method},
    )


def _trace(job: Job):
    tf, sdk, prepared, opts = job.tf, job.sdk, job.prepared, job.options
    if not hasattr(sdk, "trace"):  # tensorflow-neuron 1.x (TF 1.15) has only saved_model.compile
        raise CompileError(f"the {sdk.__name__} installed here ({getattr(sdk, '__version__', 'unknown version')}) "
                           f"is the TensorFlow 1.x package, which has no trace(): compile with "
                           f"method='saved_model'")
    env = list(job.flags)
    inf1 = job.request.target.name == "inf1"
    if job.dynamic and inf1:
        env.append("--dynamic-batch-size")  # a tensorflow-neuron flag, read from NEURON_CC_FLAGS only
    if opts.get("compiler_workdir"):
        env += ["--workdir", str(opts["compiler_workdir"])]
    kwargs = {}
    if opts.get("subgraph_builder_function") is not None:
        kwargs["subgraph_builder_function"] = opts["subgraph_builder_function"]
    example = prepared.example_structure(tf)
    job.request.progress(f"tracing with {sdk.__name__}.trace")
    with flags_in_environment(env) as value:
        model_neuron = sdk.trace(prepared.func, example, **kwargs)
    ratio = float(model_neuron.on_neuron_ratio)
    unsupported = ()
    if inf1 and hasattr(sdk, "analyze_model"):
        with flags_in_environment(env):
            analysis = sdk.analyze_model(prepared.func, example)
        unsupported = tuple(sorted(analysis.get("unsupported_operators") or ()))
    recorded = [f"NEURON_CC_FLAGS={value}", f"{sdk.__name__}.trace(func, example_inputs)"]
    return model_neuron, ratio, recorded, unsupported


def _saved_model_compile(job: Job):
    tf, sdk, prepared, opts = job.tf, job.sdk, job.prepared, job.options
    scratch = Path(tempfile.mkdtemp(prefix="neuronkit-tf-"))
    try:
        if prepared.source_dir is not None:
            source = prepared.source_dir
        else:
            source = scratch / "source"
            save_serving(tf, prepared, prepared.func, source, dynamic=True)
        compile_fn = sdk.saved_model.compile
        tf1_style = "batch_size" in inspect.signature(compile_fn).parameters  # 1.x (the documented signature)
        kwargs = {"model_feed_dict": dict(zip(prepared.names, prepared.examples))}
        env = []
        if tf1_style:
            if opts.get("signature_def_key"):
                kwargs["signature_def_key"] = opts["signature_def_key"]
            kwargs["batch_size"] = prepared.batch
            kwargs["compiler_args"] = list(job.flags)  # the SDK appends NEURON_CC_FLAGS to this list
            if job.dynamic:
                kwargs["dynamic_batch_size"] = True
            for key in sorted(set(METHOD_OPTIONS["saved_model"]) & set(opts)):
                kwargs[key] = opts[key]
            if opts.get("compiler_workdir"):
                kwargs["compiler_workdir"] = str(opts["compiler_workdir"])
            if opts.get("strict"):
                env.append("--must-compile")  # compile failures become exceptions, not silent CPU fallback
        else:  # tensorflow-neuron 2.x: compile(model_dir, new_model_dir, tags=None, model_feed_dict=None)
            given = sorted(set(METHOD_OPTIONS["saved_model"] + ("signature_def_key",)) & set(opts))
            if given:
                raise CompileError(f"this tensorflow-neuron's saved_model.compile takes no {given} (the 2.x API); "
                                   f"use method='trace'")
            env = job.flags + (["--dynamic-batch-size"] if job.dynamic else [])
            if opts.get("compiler_workdir"):
                env += ["--workdir", str(opts["compiler_workdir"])]
        # recorded as given: tensorflow-neuron 1.x appends what it forwards from NEURON_CC_FLAGS to compiler_args
        shown = {k: "<arrays>" if k == "model_feed_dict" else list(v) if isinstance(v, list) else v
                 for k, v in kwargs.items()}
        job.request.progress(f"compiling with {sdk.__name__}.saved_model.compile")
        with flags_in_environment(env) as value:
            result = compile_fn(str(source), str(job.request.workdir / SAVED_MODEL_DIR), **kwargs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        ratio = float(result["OnNeuronRatio"])
    except (TypeError, KeyError, ValueError):
        raise CompileError(f"{sdk.__name__}.saved_model.compile returned {result!r}, without OnNeuronRatio") from None
    recorded = [f"{sdk.__name__}.saved_model.compile(model_dir, new_model_dir, "
                + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"]
    if value:
        recorded.append(f"NEURON_CC_FLAGS={value}")
    return ratio, recorded


def load(tf, artifact) -> ServingSignature:
    """Import the SDK (it registers the Neuron ops) and load the SavedModel; the core has set the
    ``NEURON_RT_*`` variables for this replica's cores."""
    m = artifact.manifest
    module, package, _ = SDK[m.target]
    import_sdk(m.load.get("sdk") or module, package, target=m.target)
    return ServingSignature(tf, artifact)
