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

Precision presets map to neuron-cc ``--fast-math`` (inf1) and neuronx-cc
``--auto-cast``/``--auto-cast-type`` (inf2/trn1); the manifest records the preset and the flags.
The SDK packages on PyPI are placeholders whose import raises ``ImportError("WRONG PACKAGE...")``:
that, or no package at all, is :class:`neuronkit.BackendUnavailable` naming the Neuron repository.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import shlex
import shutil
import tempfile
import warnings
from pathlib import Path

from neuronkit import BackendUnavailable, CompileError, CompileReport, CompileResult, Component, TensorSpec

from .backend import SAVED_MODEL_DIR, SIGNATURE, count_ops, prepare, save_serving, signature_specs

NEURON_REPOSITORY = "https://pip.repos.neuron.amazonaws.com"
#: target -> (module, pip package, compiler)
SDK = {
    "inf1": ("tensorflow_neuron", "tensorflow-neuron", "neuron-cc"),
    "inf2": ("tensorflow_neuronx", "tensorflow-neuronx", "neuronx-cc"),
    "trn1": ("tensorflow_neuronx", "tensorflow-neuronx", "neuronx-cc"),
}
#: neuron-cc (--fast-math, --fp32-cast) per preset. "none" is the most accurate neuron-cc offers
#: (fp32-cast-matmult-bf16 no-fast-relayout): neuron-cc has no setting that casts nothing. The
#: matching --fp32-cast is given too: an explicit --fp32-cast overrides the cast part of --fast-math,
#: and tensorflow-neuron's NEURON_CC_FLAGS parser supplies --fp32-cast=matmult-fp16 when none is set.
FAST_MATH = {"fp32": ("none", "matmult-bf16"), "bf16": ("fp32-cast-all", "all"),
             "fp16": ("fp32-cast-all-fp16", "all-fp16")}
#: neuronx-cc --auto-cast/--auto-cast-type per preset
AUTO_CAST = {"fp32": ("--auto-cast", "none"), "bf16": ("--auto-cast", "all", "--auto-cast-type", "bf16"),
             "fp16": ("--auto-cast", "all", "--auto-cast-type", "fp16")}
WARN_RATIO = 0.5  # tensorflow-neuron warns below this share on Neuron; its examples treat it as failure
COMMON_OPTIONS = {"method", "strict", "min_on_neuron_ratio", "compiler_args", "compiler_workdir",
                  "signature_def_key"}
TRACE_OPTIONS = {"subgraph_builder_function"}
SAVED_MODEL_OPTIONS = {"minimum_segment_size", "no_fuse_ops", "force_fuse_ops"}


def import_sdk(target: str, module: str | None = None):
    """The Neuron SDK module for ``target``, or :class:`BackendUnavailable` saying where to get it."""
    name, package, _ = SDK[target]
    name = module or name
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        why = ("the package installed here is the PyPI placeholder (its import says WRONG PACKAGE)"
               if "WRONG PACKAGE" in str(exc) else f"{name} is not installed")
        raise BackendUnavailable(
            f"target {target} needs the Neuron SDK's {package} ({name}); {why}. Install the real one from the "
            f"Neuron repository on a machine with a TensorFlow version it supports: pip install {package} "
            f"--extra-index-url={NEURON_REPOSITORY}. Or compile with target='cpu'."
        ) from None


@contextlib.contextmanager
def neuron_cc_flags(flags: list):
    """Set ``NEURON_CC_FLAGS`` for one compile and restore it afterwards. Flags the user already
    set come last, so theirs win where the compiler takes the right-most value."""
    previous = os.environ.get("NEURON_CC_FLAGS")
    value = " ".join(shlex.quote(f) for f in flags)
    if previous:
        value = f"{value} {previous}".strip()
    if value:
        os.environ["NEURON_CC_FLAGS"] = value
    try:
        yield value
    finally:
        if previous is None:
            os.environ.pop("NEURON_CC_FLAGS", None)
        else:
            os.environ["NEURON_CC_FLAGS"] = previous


def compiler_flags(request) -> list:
    """The compiler's own flags for the preset, pipeline and any extra ``compiler_args``."""
    target, extra = request.target.name, request.options.get("compiler_args") or []
    if isinstance(extra, str):
        extra = shlex.split(extra)
    if target == "inf1":
        fast_math, fp32_cast = FAST_MATH[request.precision]
        flags = ["--fast-math", fast_math, "--fp32-cast", fp32_cast]
        if request.pipeline_cores > 1:
            flags += ["--neuroncore-pipeline-cores", str(request.pipeline_cores)]
    else:
        flags = ["--target", target, *AUTO_CAST[request.precision]]
    return flags + [str(f) for f in extra]


def compile_for_neuron(tf, model, request) -> CompileResult:
    target = request.target.name
    opts = request.options
    method = opts.get("method", "trace")
    if method not in ("trace", "saved_model") or (method == "saved_model" and target != "inf1"):
        raise CompileError(f"method={method!r}: {target} compiles with method='trace'"
                           + ("; inf1 also takes method='saved_model'" if target == "inf1" else ""))
    allowed = COMMON_OPTIONS | (TRACE_OPTIONS if method == "trace" else SAVED_MODEL_OPTIONS)
    unknown = set(opts) - allowed
    if unknown:
        raise CompileError(f"unknown option(s) {sorted(unknown)} for the tf backend on {target} with "
                           f"method={method!r}; it takes {sorted(allowed)}")
    if request.pipeline_cores > 1 and target != "inf1":
        raise CompileError(f"pipeline_cores is a neuron-cc (inf1) option; {target} (neuronx-cc) does not pipeline "
                           f"a model over NeuronCores: load replicas with group_size=1 instead")
    sdk = import_sdk(target)
    request.progress("reading the model")
    prepared = prepare(tf, model, request)
    batch = int(prepared.examples[0].shape[0])
    dynamic = bool(request.dynamic_batch)  # the SDKs compile a fixed batch unless asked
    flags = compiler_flags(request)
    if method == "trace":
        model_neuron, ratio, recorded, unsupported = _trace(tf, sdk, prepared, request, flags, dynamic)
        keep = model_neuron
    else:
        ratio, recorded = _saved_model_compile(tf, sdk, prepared, request, flags, dynamic)
        unsupported, keep = (), None
    total = sum(count_ops(_graph_def(tf, prepared)).values())
    notes = [f"{SDK[target][1]} {'trace' if method == 'trace' else 'saved_model.compile'}: "
             f"{ratio:.1%} of operators on Neuron ({'on_neuron_ratio' if method == 'trace' else 'OnNeuronRatio'}"
             f"={ratio:.4f})"]
    if getattr(sdk, "SIMULATED", False):
        notes.append("compiled by a SIMULATED Neuron SDK (neuronkit.testing.sim): the model runs on the host; "
                     "nothing ran on Inferentia")
    _check_ratio(ratio, opts, unsupported, notes)
    if method == "trace":
        request.progress("saving the traced model")
        # With --dynamic-batch-size (inf1) the traced model takes any batch; without it, the compiled one.
        concrete = save_serving(tf, prepared, model_neuron, request.workdir / SAVED_MODEL_DIR,
                                dynamic=dynamic and target == "inf1", keep=keep)
    else:
        concrete = _source_function(tf, prepared)
    inputs, outputs = signature_specs(concrete, prepared, False, batch)
    return CompileResult(
        inputs=inputs, outputs=outputs,
        framework=Component("tensorflow", tf.__version__),
        compiler=Component(f"{SDK[target][1]} ({SDK[target][2]})", str(getattr(sdk, "__version__", ""))),
        flags=tuple(recorded),
        batch_size=batch, dynamic_batch=dynamic,
        report=CompileReport(ops_total=total, ops_on_target=round(ratio * total), unsupported_ops=tuple(unsupported),
                             notes=tuple(notes)),
        load={"format": "saved_model", "model": SAVED_MODEL_DIR, "signature": SIGNATURE,
              "outputs": [o.name for o in outputs], "sdk": SDK[target][0], "method": method},
    )


def _trace(tf, sdk, prepared, request, flags, dynamic):
    env = list(flags)
    if dynamic and request.target.name == "inf1":
        env.append("--dynamic-batch-size")  # a tensorflow-neuron flag, read from NEURON_CC_FLAGS only
    if request.options.get("compiler_workdir"):
        env += ["--workdir", str(request.options["compiler_workdir"])]
    kwargs = {}
    if request.options.get("subgraph_builder_function") is not None:
        kwargs["subgraph_builder_function"] = request.options["subgraph_builder_function"]
    example = prepared.example_structure(tf)
    request.progress(f"tracing with {sdk.__name__}.trace")
    with neuron_cc_flags(env) as value:
        model_neuron = sdk.trace(prepared.func, example, **kwargs)
    ratio = float(model_neuron.on_neuron_ratio)
    unsupported = ()
    if request.target.name == "inf1" and hasattr(sdk, "analyze_model"):
        with neuron_cc_flags(env):
            analysis = sdk.analyze_model(prepared.func, example)
        unsupported = tuple(sorted(analysis.get("unsupported_operators") or ()))
    recorded = [f"NEURON_CC_FLAGS={value}", f"{sdk.__name__}.trace(func, example_inputs)"]
    return model_neuron, ratio, recorded, unsupported


def _saved_model_compile(tf, sdk, prepared, request, flags, dynamic):
    scratch = Path(tempfile.mkdtemp(prefix="neuronkit-tf-"))
    try:
        if prepared.source_dir is not None:
            source = prepared.source_dir
        else:
            source = scratch / "source"
            save_serving(tf, prepared, prepared.func, source, dynamic=True)
        compile_fn = sdk.saved_model.compile
        params = inspect.signature(compile_fn).parameters
        tf1_style = "batch_size" in params  # tensorflow-neuron 1.x (and the documented signature)
        kwargs = {"model_feed_dict": dict(zip(prepared.names, prepared.examples))}
        opts, env = request.options, []
        if opts.get("signature_def_key"):
            kwargs["signature_def_key"] = opts["signature_def_key"]
        if tf1_style:
            kwargs["batch_size"] = int(prepared.examples[0].shape[0])
            kwargs["compiler_args"] = flags
            if dynamic:
                kwargs["dynamic_batch_size"] = True
            for key in sorted(SAVED_MODEL_OPTIONS & set(opts)):
                kwargs[key] = opts[key]
            if opts.get("compiler_workdir"):
                kwargs["compiler_workdir"] = str(opts["compiler_workdir"])
            if opts.get("strict"):
                env.append("--must-compile")  # compile failures become exceptions, not silent CPU fallback
        else:  # tensorflow-neuron 2.x: compile(model_dir, new_model_dir, tags=None, model_feed_dict=None)
            kwargs.pop("signature_def_key", None)
            given = sorted((SAVED_MODEL_OPTIONS | {"signature_def_key"}) & set(opts))
            if given:
                raise CompileError(f"this tensorflow-neuron's saved_model.compile takes no {given} (the 2.x API); "
                                   f"use method='trace'")
            env = flags + (["--dynamic-batch-size"] if dynamic else [])
            if opts.get("compiler_workdir"):
                env += ["--workdir", str(opts["compiler_workdir"])]
        request.progress(f"compiling with {sdk.__name__}.saved_model.compile")
        with neuron_cc_flags(env) as value:
            result = compile_fn(str(source), str(request.workdir / SAVED_MODEL_DIR), **kwargs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        ratio = float(result["OnNeuronRatio"])
    except (TypeError, KeyError, ValueError):
        raise CompileError(f"{sdk.__name__}.saved_model.compile returned {result!r}, without OnNeuronRatio") from None
    shown = {k: ("<arrays>" if k == "model_feed_dict" else v) for k, v in kwargs.items()}
    recorded = [f"{sdk.__name__}.saved_model.compile(model_dir, new_model_dir, "
                + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"]
    if value:
        recorded.append(f"NEURON_CC_FLAGS={value}")
    return ratio, recorded


def _check_ratio(ratio, opts, unsupported, notes):
    strict = bool(opts.get("strict", False))
    threshold = float(opts.get("min_on_neuron_ratio", 1.0 if strict else 0.0))
    detail = f"; unsupported operators: {', '.join(unsupported)}" if unsupported else ""
    if strict and ratio < threshold:
        raise CompileError(f"only {ratio:.1%} of the model's operators were placed on Neuron; strict=True needs at "
                           f"least {threshold:.1%}{detail}. Remove or replace the operators left on CPU, lower "
                           f"min_on_neuron_ratio=, or pass strict=False to accept CPU fallback")
    if ratio < WARN_RATIO:
        message = f"only {ratio:.1%} of operators are on Neuron: most of the model will run on the host CPU{detail}"
        notes.append(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _graph_def(tf, prepared):
    return _source_function(tf, prepared).graph.as_graph_def()


def _source_function(tf, prepared):
    """The original model as one concrete function with the compiled input shapes."""
    from .backend import output_dict

    def source(*args):
        return output_dict(prepared.call(prepared.func, args))

    return tf.function(source).get_concrete_function(*prepared.specs(tf, dynamic=False))


__all__ = ["AUTO_CAST", "FAST_MATH", "NEURON_REPOSITORY", "SDK", "TensorSpec", "compile_for_neuron", "import_sdk"]
