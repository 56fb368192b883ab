"""A SIMULATED tensorflow-neuron (``tensorflow.neuron`` / ``tensorflow_neuron``) for tests.

This is **not** the AWS Neuron SDK and never touches Inferentia. It exposes the documented
functions with the documented signatures and defaults (neuron-sdk-reference.md §2), parses
``NEURON_CC_FLAGS`` as tensorflow-neuron does, validates the neuron-cc flags it would pass on,
records every call together with the ``NEURON_*`` environment it saw, and produces a model
that runs on the host: the traced function with its variables frozen into constants (as the
real compiled model drops the original variables). Operator placement is simulated: an operator
is "on Neuron" unless its type is in :data:`UNSUPPORTED_OPS`, a ``subgraph_builder_function``
returns False for it, or (TF1 path) it is named in ``no_fuse_ops``. Numerics are the host's fp32:
casting flags are validated and recorded, not applied.

Use::

    from neuronkit.testing.sim import tensorflow_neuron as tfn_sim
    tfn = tfn_sim.install()          # sys.modules["tensorflow_neuron"] and ["tensorflow.neuron"]
    ...; tfn_sim.calls               # [{"function": "trace", "args": ..., "kwargs": ..., "env": {...}}]
    tfn_sim.uninstall()

The simulation is stricter than the SDK in one way: a flag neuron-cc would reject raises
:class:`SimulatedCompilerError` at once instead of leaving the subgraph on the CPU.

The neuron-cc argument checks are shared with the other simulations (``neuronkit.testing.sim``);
neuronkit/testing/sim/tensorflow_neuronx.py reuses this module's machinery.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import types
import warnings

from . import SimulatedCompilerError, _Parser, check_neuron_cc_args, neuron_env  # noqa: F401 (re-exported)

SIMULATED = True
__version__ = "2.10.1.2.12.2.0+simulated"
MODULE_NAMES = ("tensorflow_neuron", "tensorflow.neuron")

#: every call, in order: {"function", "args", "kwargs", "env", ...parsed flags}
calls: list = []
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
EXTRACT_WEIGHTS = ("inf1.xlarge", "inf1.2xlarge", "inf1.6xlarge", "inf1.24xlarge")
log = logging.getLogger("tensorflow")


def install(saved_model_api: str = "v1"):
    """Put this simulation where ``import tensorflow_neuron`` / ``import tensorflow.neuron`` finds it.

    :param saved_model_api: ``"v1"``: ``saved_model.compile`` with the tensorflow-neuron 1.x signature
        (the documented one); ``"v2"``: the reduced tensorflow-neuron 2.x ``compile(model_dir,
        new_model_dir, tags=None, model_feed_dict=None)``.
    """
    module = sys.modules[__name__]
    module.saved_model = _SAVED_MODEL[saved_model_api]
    for name in MODULE_NAMES:
        sys.modules[name] = module
    return module


def uninstall() -> None:
    for name in MODULE_NAMES:
        if sys.modules.get(name) is sys.modules[__name__]:
            del sys.modules[name]
    reset()


def reset() -> None:
    calls.clear()


def record(function: str, args: tuple, kwargs: dict, **extra) -> dict:
    entry = {"function": function, "args": args, "kwargs": dict(kwargs), "env": neuron_env(), **extra}
    calls.append(entry)
    return entry


# -- NEURON_CC_FLAGS and neuron-cc arguments

def parse_neuron_cc_flags(args=None, tf1: bool = False):
    """tensorflow-neuron's split of NEURON_CC_FLAGS into its own flags and neuron-cc's."""
    if args is None:
        args = shlex.split(os.environ.get("NEURON_CC_FLAGS", ""))
    parser = _Parser(prog="NEURON_CC_FLAGS")
    parser.add_argument("--workdir", dest="dump_prefix", default=None)
    parser.add_argument("--verbose", default=None)
    parser.add_argument("--dynamic-batch-size", action="store_true")
    parser.add_argument("--fp32-cast", default="matmult-fp16")
    parser.add_argument("--neuroncore-pipeline-cores", default=None)
    parser.add_argument("--extract-weights", default=None, choices=EXTRACT_WEIGHTS)
    if tf1:
        parser.add_argument("--must-compile", action="store_true")
    tfn_args, compiler_args = parser.parse_known_args(args)
    if tfn_args.extract_weights and (tfn_args.dynamic_batch_size or tfn_args.neuroncore_pipeline_cores):
        raise SimulatedCompilerError("--extract-weights cannot be combined with --dynamic-batch-size or "
                                     "--neuroncore-pipeline-cores")
    return tfn_args, compiler_args


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

def trace(func, example_inputs, subgraph_builder_function=None):
    """tfn.trace: compile ``func`` for Inferentia (SIMULATED). Flags come only from NEURON_CC_FLAGS."""
    entry = record("trace", (func, example_inputs), {"subgraph_builder_function": subgraph_builder_function})
    tfn_args, compiler_args = parse_neuron_cc_flags()
    cc = check_neuron_cc_args(compiler_args + ["--fp32-cast", tfn_args.fp32_cast]
                              + (["--neuroncore-pipeline-cores", tfn_args.neuroncore_pipeline_cores]
                                 if tfn_args.neuroncore_pipeline_cores else []))
    entry.update(tfn_args=vars(tfn_args), compiler_args=compiler_args, neuron_cc=vars(cc))
    _write_workdir(tfn_args.dump_prefix, entry)
    model = build_model(func, example_inputs, subgraph_builder_function, tfn_args.dynamic_batch_size,
                        {"pipeline_cores": cc.neuroncore_pipeline_cores, "fp32_cast": cc.fp32_cast,
                         "fast_math": cc.fast_math, "dynamic_batch_size": tfn_args.dynamic_batch_size})
    entry["on_neuron_ratio"] = model.on_neuron_ratio
    return model


def analyze_model(func, example_inputs):
    """tfn.analyze_model: operator support of ``func`` (SIMULATED support list)."""
    import tensorflow as tf

    record("analyze_model", (func, example_inputs), {})
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


def auto_multicore(model, example_inputs, num_cores=1):
    """tfn.auto_multicore (beta): replicate a traced model over ``num_cores`` (recorded; SIMULATED)."""
    record("auto_multicore", (model, example_inputs), {"num_cores": num_cores})
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


def _compile_v1(model_dir, new_model_dir, batch_size=1, model_shape_feed_dict=None, model_feed_dict=None, tags=None,
                signature_def_key=None, strip_default_attrs=False, config_proto=None, constant_size_to_exclude=1024,
                convert_constants_to_variables=False, compiler_workdir=None, **kwargs):
    """tfn.saved_model.compile (tensorflow-neuron 1.x signature; SIMULATED). Returns {'OnNeuronRatio': r}."""
    import tensorflow as tf

    entry = record("saved_model.compile", (model_dir, new_model_dir), {
        "batch_size": batch_size, "model_shape_feed_dict": model_shape_feed_dict, "model_feed_dict": model_feed_dict,
        "tags": tags, "signature_def_key": signature_def_key, "compiler_workdir": compiler_workdir, **kwargs})
    for key in kwargs:
        if key not in INFERENCE_GRAPH_ARGS:
            raise TypeError(f"inference_graph_from_session() got an unexpected keyword argument '{key}'")
    if os.path.exists(new_model_dir):
        raise AssertionError("Export directory already exists, and isn't empty. Please choose a different export "
                             f"directory, or delete all the contents of the specified directory: {new_model_dir}")
    tfn_args, env_args = parse_neuron_cc_flags(tf1=True)
    compiler_args = list(kwargs.get("compiler_args") or []) + env_args
    if tfn_args.fp32_cast and "--fp32-cast" not in compiler_args:
        pass  # the TF1 path passes compiler_args through as given
    cc = check_neuron_cc_args(compiler_args)
    entry.update(tfn_args=vars(tfn_args), compiler_args=compiler_args, neuron_cc=vars(cc))
    _write_workdir(compiler_workdir or tfn_args.dump_prefix, entry)
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
    dynamic = bool(kwargs.get("dynamic_batch_size", False) or tfn_args.dynamic_batch_size)
    ratio, unsupported = _save_signature_model(
        sig, key, shapes, dynamic, {"cpu_names": set(kwargs.get("no_fuse_ops") or ()),
                                    "neuron_names": set(kwargs.get("force_fuse_ops") or ())},
        new_model_dir, {"simulated": True, "pipeline_cores": cc.neuroncore_pipeline_cores})
    if tfn_args.must_compile and unsupported:
        raise SimulatedCompilerError(f"--must-compile: operators {unsupported} could not be compiled for Neuron")
    entry.update(on_neuron_ratio=ratio, dynamic_batch_size=dynamic)
    log.info("Number of operations placed on Neuron runtime (SIMULATED): %.1f%%", 100 * ratio)
    return {"OnNeuronRatio": ratio}


def _compile_v2(model_dir, new_model_dir, tags=None, model_feed_dict=None):
    """tfn.saved_model.compile in tensorflow-neuron 2.x (SIMULATED): traces the serving signature."""
    import tensorflow as tf

    warnings.warn("tfn.saved_model.compile is not recommended in tensorflow-neuron 2.x; please use tfn.trace",
                  stacklevel=2)
    record("saved_model.compile", (model_dir, new_model_dir), {"tags": tags, "model_feed_dict": model_feed_dict})
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
    "v1": types.ModuleType("tensorflow_neuron.saved_model", "SIMULATED tfn.saved_model (1.x API)"),
    "v2": types.ModuleType("tensorflow_neuron.saved_model", "SIMULATED tfn.saved_model (2.x API)"),
}
_SAVED_MODEL["v1"].compile = _compile_v1
_SAVED_MODEL["v2"].compile = _compile_v2
for _m in _SAVED_MODEL.values():
    _m.SIMULATED = True
saved_model = _SAVED_MODEL["v1"]
