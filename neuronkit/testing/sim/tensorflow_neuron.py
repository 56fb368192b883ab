"""A SIMULATED tensorflow-neuron (``tensorflow.neuron`` / ``tensorflow_neuron``) for tests.

This is **not** the AWS Neuron SDK and never touches Inferentia. It exposes the documented
functions with the documented signatures and defaults, parses
``NEURON_CC_FLAGS`` as tensorflow-neuron does, validates the neuron-cc command it would run,
records every call (``calls``, the convention in :mod:`neuronkit.testing.sim`), and produces a
model that runs on the host: the traced function with its variables frozen into constants (as the
real compiled model drops the original variables). Operator placement is simulated: an operator
is "on Neuron" unless its type is in :data:`UNSUPPORTED_OPS`, a ``subgraph_builder_function``
returns False for it, or (TF1 path) it is named in ``no_fuse_ops``. Numerics are the host's fp32:
casting flags are validated and recorded, not applied.

Two packages, as the real ``tensorflow_neuron/__init__`` picks by TensorFlow major version (TFSRC
``api/__init__.py``); :func:`install` chooses one:

- ``"2.x"`` (default): tensorflow-neuron 2.10.1.2.12.2.0, the last one (neuron-sdk-2026.md §1):
  ``trace``, ``analyze_model``, ``auto_multicore`` and the reduced 2.x
  ``saved_model.compile(model_dir, new_model_dir, tags=None, model_feed_dict=None)``.
- ``"1.x"``: tensorflow-neuron 1.15.5.2.8.9.0 (the version in NSDK
  ``src/examples/tensorflow/tensorflow_resnet50/resnet50.ipynb``): the 1.x
  ``saved_model.compile(model_dir, new_model_dir, batch_size=1, ...)`` and ``auto_multicore``;
  no ``trace`` or ``analyze_model``. It runs on the host's TensorFlow 2 all the same.

Use::

    from neuronkit.testing.sim import tensorflow_neuron as tfn_sim
    tfn = tfn_sim.install()          # sys.modules["tensorflow_neuron"] and ["tensorflow.neuron"]
    ...; tfn_sim.calls               # [{"module": "tensorflow_neuron", "function": "trace", "args": ..., ...}]
    tfn_sim.uninstall()

Where the simulation is stricter than the SDK: a flag neuron-cc would reject raises
:class:`SimulatedCompilerError` from ``trace`` at once, where the real one leaves the subgraph on
the CPU. (The 1.x ``saved_model.compile`` does what the real one does: the subgraph stays on the
CPU unless ``--must-compile`` or ``compiler_recovery=False``.)

neuronkit/testing/sim/tensorflow_neuronx.py reuses this module's machinery.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import types
import warnings

from . import SimulatedCompilerError, _Parser, check_neuron_cc_args, note, recorder  # noqa: F401 (re-exported)

SIMULATED = True
MODULE = "tensorflow_neuron"
MODULE_NAMES = ("tensorflow_neuron", "tensorflow.neuron")
VERSIONS = {"1.x": "1.15.5.2.8.9.0+simulated", "2.x": "2.10.1.2.12.2.0+simulated"}

#: every call, in order (the convention in neuronkit.testing.sim)
calls: list = []
_recorded = recorder(MODULE, calls)
#: operator types the simulated compiler leaves on the CPU (illustrative, not neuron-cc's real list)
UNSUPPORTED_OPS = {"PrintV2", "StringFormat", "Unique", "Where", "RandomUniform", "NonMaxSuppressionV5", "Bincount"}
#: ops tensorflow-neuron leaves out of the on-Neuron ratio
IGNORED_OPS = {"Placeholder", "Identity", "ReadVariableOp", "NoOp", "Const", "_Arg", "_Retval"}
CALL_OPS = {"PartitionedCall", "StatefulPartitionedCall"}
INFERENCE_GRAPH_ARGS = (
    "sess", "input_tensors", "output_tensors", "signature_def", "shape_feed_dict", "feed_dict",
    "dynamic_batch_size", "protected_op_names", "supported_op_types", "no_fuse_ops", "force_fuse_ops",
    "minimum_segment_size", "grappler", "max_num_compilers", "compiler_args", "compiler_workdir",
    "compiler_timeout", "compiler_recovery", "compiler_verbose", "amp_pass",
)
#: --extract-weights choices (TFSRC python/utils.py): one parser for tensorflow-neuron and -neuronx;
#: each then asserts its own instance family (TFSRC python/_trace.py)
EXTRACT_WEIGHTS = ("inf1.xlarge", "inf1.2xlarge", "inf1.6xlarge", "inf1.24xlarge", "trn1.2xlarge", "trn1.32xlarge",
                   "inf2.xlarge", "inf2.8xlarge", "inf2.24xlarge", "inf2.48xlarge")
VERBOSE = ("debug", "info", "warning", "error", "critical", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
log = logging.getLogger("tensorflow")


def install(api: str = "2.x"):
    """Put a tensorflow-neuron ``api`` ("2.x" or "1.x", see the module docs) where ``import
    tensorflow_neuron`` / ``import tensorflow.neuron`` finds it; returns that module."""
    if api not in VERSIONS:
        raise ValueError(f"api={api!r}: the simulated tensorflow-neuron is '1.x' or '2.x'")
    module = types.ModuleType(MODULE, f"SIMULATED tensorflow-neuron {api} (neuronkit.testing.sim.tensorflow_neuron)")
    module.SIMULATED = True
    module.__version__ = VERSIONS[api]
    module.calls = calls
    module.saved_model = _SAVED_MODEL[api]
    module.auto_multicore = auto_multicore
    if api == "2.x":
        module.trace, module.analyze_model = trace, analyze_model
    for name in MODULE_NAMES:
        sys.modules[name] = module
    return module


def uninstall() -> None:
    for name in MODULE_NAMES:
        if getattr(sys.modules.get(name), "calls", None) is calls:
            del sys.modules[name]
    reset()


def reset() -> None:
    calls.clear()


# -- NEURON_CC_FLAGS and neuron-cc arguments

def parse_neuron_cc_flags(args=None):
    """tensorflow-neuron 2.x's split of NEURON_CC_FLAGS into its own flags and the compiler's.

    Doc: TFSRC ``python/utils.py`` ``parse_neuron_cc_flags``; the special flags ``--workdir``,
    ``--dynamic-batch-size``, ``--extract-weights`` in NSDK
    ``archive/tensorflow/tensorflow-neuron/api-tracing-python-api.rst`` ("Special Flags"), which
    also says ``--extract-weights`` does not work with ``--neuroncore-pipeline-cores`` or
    ``--dynamic-batch-size`` (refused here).
    """
    if args is None:
        args = shlex.split(os.environ.get("NEURON_CC_FLAGS", ""))
    parser = _Parser(prog="NEURON_CC_FLAGS")
    parser.add_argument("--workdir", dest="dump_prefix", default=None)
    parser.add_argument("--verbose", choices=VERBOSE, default=None)
    parser.add_argument("--dynamic-batch-size", action="store_true")
    parser.add_argument("--fp32-cast", default="matmult-fp16")
    parser.add_argument("--neuroncore-pipeline-cores", default=None)
    parser.add_argument("--extract-weights", default=None, choices=EXTRACT_WEIGHTS)
    tfn_args, compiler_args = parser.parse_known_args(args)
    if tfn_args.extract_weights and (tfn_args.dynamic_batch_size or tfn_args.neuroncore_pipeline_cores):
        raise SimulatedCompilerError("--extract-weights cannot be combined with --dynamic-batch-size or "
                                     "--neuroncore-pipeline-cores")
    return tfn_args, compiler_args


def parse_tf1_neuron_cc_flags():
    """tensorflow-neuron 1.x's split of NEURON_CC_FLAGS: it keeps ``--must-compile``, ``--workdir``
    and ``--verbose`` (an int) and appends everything else to ``compiler_args`` for neuron-cc.

    Doc: TFSRC ``python/graph_util.py`` ``inference_graph_from_session``.
    """
    parser = _Parser(prog="NEURON_CC_FLAGS")
    parser.add_argument("--must-compile", action="store_true")
    parser.add_argument("--workdir", dest="dump_prefix", default=None)
    parser.add_argument("--verbose", type=int, default=None)
    return parser.parse_known_args(shlex.split(os.environ.get("NEURON_CC_FLAGS", "")))


def check_extract_weights(tfn_args, families, package):
    """tensorflow-neuron(x) compiles extracted weights only for its own instance families (TFSRC ``_trace.py``)."""
    instance = tfn_args.extract_weights
    if instance and not instance.startswith(families):
        raise AssertionError(f"It appears you are attempting compile for an {instance} instance while using "
                             f"{package}")


def hlo_neuron_cc_command(tfn_args) -> list:
    """The neuron-cc command tensorflow-neuron 2.x runs for each subgraph, before the user's flags.

    Doc: TFSRC ``python/neuron_cc_hlo.py`` ``hlo_opt_to_neff_bytes``: ``--fast-math=none`` and the
    parsed ``--fp32-cast`` (default ``matmult-fp16``) come first, so a user's ``--fast-math``
    alone does not change the cast (an explicit ``--fp32-cast`` overrides it: NSDK
    ``compiler/neuron-cc/command-line-reference.rst``).
    """
    command = ["--framework", "XLA", f"--verbose={tfn_args.verbose or 35}", "--pipeline", "compile", "SaveTemps",
               "--output", "hlo_module.neff", "--fast-math=none", f"--fp32-cast={tfn_args.fp32_cast}"]
    if tfn_args.neuroncore_pipeline_cores is None:
        return command + ["--enable-fast-context-switch"]
    return command + [f"--neuroncore-pipeline-cores={tfn_args.neuroncore_pipeline_cores}"]


# -- operator placement

def count_ops(graph_def, builder=None, cpu_names=(), neuron_names=()):
    """(on_neuron, total, unsupported types) over a GraphDef and its function library."""
    nodes = list(graph_def.node)
    for fn in graph_def.library.function:
        nodes.extend(fn.node_def)
    total = on_neuron = 0
    unsupported = set()
    for node in nodes:
        if node.op in IGNORED_OPS or node.op in CALL_OPS:
            continue
        total += 1
        name = node.name.split("/")[-1]
        supported = node.name in neuron_names or name in neuron_names or (
            node.op not in UNSUPPORTED_OPS and node.name not in cpu_names and name not in cpu_names
            and (builder is None or bool(builder(node))))
        if supported:
            on_neuron += 1
        else:
            unsupported.add(node.op)
    return on_neuron, total, sorted(unsupported)


def _freeze(concrete):
    """The concrete function with its variables as constants (the real compiled model drops them)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    try:
        return convert_variables_to_constants_v2(concrete)
    except Exception:  # pragma: no cover - resources that do not freeze: keep the variables
        return concrete


_model_class = None


def aws_neuron_model_class():
    """``AwsNeuronModel``: what ``trace`` returns: callable like the original, with ``.on_neuron_ratio``."""
    global _model_class
    if _model_class is not None:
        return _model_class
    import tensorflow as tf

    class AwsNeuronModel(tf.Module):
        """SIMULATED compiled model: runs the frozen traced graph on the host."""

        def __init__(self, function, structure, specs, on_neuron_ratio, info):
            super().__init__(name="aws_neuron_model")
            self._frozen = function
            self._structure = structure
            self.on_neuron_ratio = float(on_neuron_ratio)
            self.neuron_info = dict(info)
            self._serve = tf.function(self._run, input_signature=specs)

        def _run(self, *flat):
            return self._frozen(*flat)

        def __call__(self, *args, **kwargs):
            if kwargs:
                value = kwargs
            elif len(args) == 1:
                value = args[0]
            else:
                value = args
            flat = tf.nest.flatten(value)
            out = self._serve(*flat)
            return out

        def save(self, path, *args, **kwargs):
            tf.saved_model.save(self, str(path), *args, **kwargs)

    _model_class = AwsNeuronModel
    return AwsNeuronModel


def build_model(func, example_inputs, builder, dynamic, info):
    """Trace ``func`` as tfn.trace documents the call, freeze it, count placement."""
    import tensorflow as tf

    flat_examples = tf.nest.flatten(example_inputs)

    def call(*flat):
        value = tf.nest.pack_sequence_as(example_inputs, list(flat))
        if isinstance(example_inputs, dict):
            return func(**value)
        if isinstance(example_inputs, tuple):
            return func(*value)
        return func(value)

    specs = [tf.TensorSpec((None,) + tuple(t.shape[1:]) if dynamic else t.shape, t.dtype) for t in flat_examples]
    concrete = tf.function(call).get_concrete_function(*specs)
    frozen = _freeze(concrete)
    on_neuron, total, unsupported = count_ops(frozen.graph.as_graph_def(), builder)
    ratio = on_neuron / total if total else 0.0
    if ratio < 0.5:
        log.warning("tfn.trace (SIMULATED): only %.1f%% of operators are placed on Neuron", 100 * ratio)
    cls = aws_neuron_model_class()
    model = cls(frozen, example_inputs, specs, ratio,
                {**info, "on_neuron": on_neuron, "total": total, "unsupported": unsupported})
    return model


# -- the documented API

@_recorded
def trace(func, example_inputs, subgraph_builder_function=None):
    """``tfn.trace`` (2.x): compile ``func`` for Inferentia (SIMULATED). Flags come only from NEURON_CC_FLAGS.

    Doc: NSDK ``archive/tensorflow/tensorflow-neuron/api-tracing-python-api.rst``; TFSRC
    ``python/_trace.py``.
    """
    tfn_args, compiler_args = parse_neuron_cc_flags()
    check_extract_weights(tfn_args, "inf1", "tensorflow_neuron")
    cc = check_neuron_cc_args(hlo_neuron_cc_command(tfn_args) + compiler_args)
    entry = note(tfn_args=vars(tfn_args), compiler_args=compiler_args, neuron_cc=vars(cc))
    _write_workdir(tfn_args.dump_prefix, entry)
    model = build_model(func, example_inputs, subgraph_builder_function, tfn_args.dynamic_batch_size,
                        {"pipeline_cores": cc.neuroncore_pipeline_cores, "fp32_cast": cc.fp32_cast,
                         "fast_math": cc.fast_math, "dynamic_batch_size": tfn_args.dynamic_batch_size})
    note(on_neuron_ratio=model.on_neuron_ratio)
    return model


@_recorded
def analyze_model(func, example_inputs):
    """``tfn.analyze_model`` (2.x): operator support of ``func`` (SIMULATED support list).

    Doc: NSDK ``archive/tensorflow/tensorflow-neuron/api-tfn-analyze-model-api.rst``.
    """
    import tensorflow as tf

    flat = tf.nest.flatten(example_inputs)

    def call(*args):
        value = tf.nest.pack_sequence_as(example_inputs, list(args))
        return func(**value) if isinstance(example_inputs, dict) else (
            func(*value) if isinstance(example_inputs, tuple) else func(value))

    graph_def = tf.function(call).get_concrete_function(*[tf.TensorSpec(t.shape, t.dtype) for t in flat]) \
        .graph.as_graph_def()
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    operators = sorted({n.op for n in nodes if n.op not in IGNORED_OPS | CALL_OPS})
    counts = {op: sum(1 for n in nodes if n.op == op) for op in operators}
    unsupported = sorted(op for op in operators if op in UNSUPPORTED_OPS)
    supported = [op for op in operators if op not in UNSUPPORTED_OPS]
    total = sum(counts.values())
    supported_count = sum(counts[op] for op in supported)
    return {"percent_supported": 100.0 * supported_count / total if total else 0.0,
            "supported_count": supported_count, "total_count": total, "supported_operators": supported,
            "unsupported_operators": unsupported, "operators": operators, "operator_count": counts}


@_recorded
def auto_multicore(model, example_inputs, num_cores=1):
    """``tfn.auto_multicore`` (beta): replicate a traced model over ``num_cores`` (recorded; SIMULATED).

    Doc: NSDK ``archive/tensorflow/tensorflow-neuron/api-auto-replication-api.rst``; TFSRC
    ``python/multicore.py``.
    """
    if not isinstance(model, aws_neuron_model_class()):
        raise ValueError("Invalid model is not AwsNeuronModel")
    model.neuron_info["num_cores"] = int(num_cores)
    return model


def _write_workdir(workdir, entry):
    if workdir:
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "neuron-cc.log"), "a") as fh:
            fh.write(f"SIMULATED tensorflow-neuron {entry['function']}: compiler args "
                     f"{entry.get('compiler_args')} (nothing was compiled for Inferentia)\n")


def _signature_inputs(loaded, tags, signature_def_key):
    keys = list(loaded.signatures)
    key = signature_def_key or ("serving_default" if "serving_default" in keys else keys[0])
    sig = loaded.signatures[key]
    return key, sig, sig.structured_input_signature[1]


def _feed_lookup(feed, key):
    if not feed:
        return None
    for name in (key, f"{key}:0"):
        if name in feed:
            return feed[name]
    return None


def _save_signature_model(loaded_sig, sig_key, shapes, dynamic, builder_kwargs, new_model_dir, info):
    """Freeze a loaded signature at the given input shapes and save it under the same signature."""
    import tensorflow as tf

    names = sorted(shapes)
    specs = [tf.TensorSpec((None,) + tuple(shapes[n][1:]) if dynamic else shapes[n], shapes[n].dtype_, name=n)
             for n in names]
    concrete = tf.function(lambda *a: loaded_sig(**dict(zip(names, a)))).get_concrete_function(*specs)
    frozen = _freeze(concrete)
    on_neuron, total, unsupported = count_ops(frozen.graph.as_graph_def(), **builder_kwargs)
    module = tf.Module()
    module.info = dict(info)

    def serve(*args):
        return frozen(*args)

    module.serve = tf.function(serve, input_signature=specs)
    tf.saved_model.save(module, str(new_model_dir), signatures={sig_key: module.serve.get_concrete_function()})
    return (on_neuron / total if total else 0.0), unsupported


class _Shape(tuple):
    dtype_ = None


def _shape(dims, dtype):
    shape = _Shape(int(d) for d in dims)
    shape.dtype_ = dtype
    return shape


@_recorded(name="saved_model.compile")
def _compile_v1(model_dir, new_model_dir, batch_size=1, model_shape_feed_dict=None, model_feed_dict=None, tags=None,
                signature_def_key=None, strip_default_attrs=False, config_proto=None, constant_size_to_exclude=1024,
                convert_constants_to_variables=False, compiler_workdir=None, **kwargs):
    """``tfn.saved_model.compile`` (1.x; SIMULATED). Returns ``{'OnNeuronRatio': r}``.

    Doc: TFSRC ``python/saved_model.py`` (the signature) and ``python/graph_util.py``
    (``**kwargs`` go to ``inference_graph_from_session``; NEURON_CC_FLAGS); NSDK
    ``archive/tensorflow/tensorflow-neuron/api-compilation-python-api.rst``. The
    neuron-cc flags in NEURON_CC_FLAGS are appended to the caller's ``compiler_args`` list itself. neuron-cc
    runs as TFSRC ``graph_util.py`` calls it: ``--framework TENSORFLOW --pipeline compile SaveTemps
    --output ... --io-config ...`` then ``compiler_args``. When it fails, the subgraph stays on the
    CPU (``compiler_recovery=True``), unless ``--must-compile`` or ``compiler_recovery=False``.
    """
    import tensorflow as tf

    for key in kwargs:
        if key not in INFERENCE_GRAPH_ARGS:
            raise TypeError(f"inference_graph_from_session() got an unexpected keyword argument '{key}'")
    if os.path.exists(new_model_dir):
        raise AssertionError("Export directory already exists, and isn't empty. Please choose a different export "
                             f"directory, or delete all the contents of the specified directory: {new_model_dir}")
    tfn_args, env_args = parse_tf1_neuron_cc_flags()
    compiler_args = kwargs.get("compiler_args")
    if env_args and compiler_args is None:
        compiler_args = env_args
    elif env_args:
        compiler_args.extend(env_args)  # as TFSRC graph_util.py does it: the caller's own list grows
    compiler_args = list(compiler_args or [])
    verbose = tfn_args.verbose if tfn_args.verbose is not None else kwargs.get("compiler_verbose")
    command = ["--framework", "TENSORFLOW", "--pipeline", "compile", "SaveTemps", "--output", "graph_def.neff",
               "--io-config", json.dumps({"inputs": {}, "outputs": []})] + compiler_args
    recovery = kwargs.get("compiler_recovery", True) and not tfn_args.must_compile
    try:
        cc, failed = check_neuron_cc_args(command + (["--verbose", str(verbose)] if verbose is not None else [])), None
    except SimulatedCompilerError as exc:
        if not recovery:
            raise
        cc, failed = None, str(exc)
        log.warning("neuron-cc failed (SIMULATED): %s; the subgraph stays on the CPU", exc)
    entry = note(tfn_args=vars(tfn_args), compiler_args=compiler_args, neuron_cc=vars(cc) if cc else None,
                 neuron_cc_error=failed)
    _write_workdir(tfn_args.dump_prefix or compiler_workdir, entry)
    if isinstance(tags, str):
        tags = tags.split(",")
    loaded = tf.saved_model.load(str(model_dir), tags=tags)
    key, sig, inputs = _signature_inputs(loaded, tags, signature_def_key)
    shapes = {}
    for name, spec in inputs.items():
        fed = _feed_lookup(model_feed_dict, name)
        if fed is not None:
            dims = fed.shape
        elif _feed_lookup(model_shape_feed_dict, name) is not None:
            dims = _feed_lookup(model_shape_feed_dict, name)
        else:
            dims = [batch_size if d is None and i == 0 else d for i, d in enumerate(spec.shape.as_list())]
            if any(d is None for d in dims):
                raise ValueError(f"cannot infer the shape of input {name!r}; give model_feed_dict or "
                                 f"model_shape_feed_dict")
        shapes[name] = _shape(dims, spec.dtype)
    dynamic = bool(kwargs.get("dynamic_batch_size", False))
    ratio, unsupported = _save_signature_model(
        sig, key, shapes, dynamic, {"cpu_names": set(kwargs.get("no_fuse_ops") or ()),
                                    "neuron_names": set(kwargs.get("force_fuse_ops") or ())},
        new_model_dir, {"simulated": True, "pipeline_cores": cc.neuroncore_pipeline_cores if cc else 1})
    if failed:
        ratio = 0.0
    note(on_neuron_ratio=ratio, dynamic_batch_size=dynamic, unsupported=unsupported)
    log.info("Number of operations placed on Neuron runtime (SIMULATED): %.1f%%", 100 * ratio)
    return {"OnNeuronRatio": ratio}


@_recorded(name="saved_model.compile")
def _compile_v2(model_dir, new_model_dir, tags=None, model_feed_dict=None):
    """``tfn.saved_model.compile`` in tensorflow-neuron 2.x (SIMULATED): traces the serving signature.

    Doc: TFSRC ``python/saved_model_v2.py``: warns, calls ``trace`` (so flags come
    from NEURON_CC_FLAGS), returns ``{'OnNeuronRatio': r}``.
    """
    import tensorflow as tf

    warnings.warn("tfn.saved_model.compile is not recommended in tensorflow-neuron 2.x; please use tfn.trace",
                  stacklevel=3)
    if os.path.exists(new_model_dir):
        raise AssertionError(f"Export directory already exists, and isn't empty: {new_model_dir}")
    loaded = tf.saved_model.load(str(model_dir), tags=tags)
    key, sig, inputs = _signature_inputs(loaded, tags, None)
    example = {name: tf.constant(_feed_lookup(model_feed_dict, name)) for name in sorted(inputs)}
    model = trace(sig, example)
    names = sorted(inputs)
    specs = [tf.TensorSpec(model._serve.input_signature[i].shape, example[n].dtype, name=n)
             for i, n in enumerate(names)]
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda *a: model(**dict(zip(names, a))), input_signature=specs)
    tf.saved_model.save(module, str(new_model_dir), signatures={key: module.serve.get_concrete_function()})
    return {"OnNeuronRatio": model.on_neuron_ratio}


_SAVED_MODEL = {
    "1.x": types.ModuleType("tensorflow_neuron.saved_model", "SIMULATED tfn.saved_model (1.x API)"),
    "2.x": types.ModuleType("tensorflow_neuron.saved_model", "SIMULATED tfn.saved_model (2.x API)"),
}
_SAVED_MODEL["1.x"].compile = _compile_v1
_SAVED_MODEL["2.x"].compile = _compile_v2
for _m in _SAVED_MODEL.values():
    _m.SIMULATED = True
