"""Compile and load TensorFlow models: cpu engines here, Neuron targets in :mod:`neuronkit_tf.neuron`.

What a model becomes on each target:

- ``cpu``/``openvino`` (the default when OpenVINO is installed): ``openvino.convert_model`` reads
  the serving ``tf.function``; the artifact holds the OpenVINO IR (``model.xml``/``model.bin``,
  fp32 weights). The replica sets ``INFERENCE_PRECISION_HINT`` explicitly (``f32`` or ``bf16``):
  OpenVINO's own default on an AMX CPU is bf16. A CPU without bf16 runs a bf16 hint in f32 (warned).
- ``cpu``/``savedmodel``: ``tf.saved_model.save`` with a ``serving_default`` signature (not
  ``model.export``, which stores the weights twice). bf16 is TensorFlow's oneDNN
  auto-mixed-precision graph rewrite, switched on while the replica instantiates the function
  (effective only on CPUs with AVX512-BF16/AMX; not verified on this project's AVX2 host).
- ``cpu``/``xla``: the same SavedModel with the serving function compiled by XLA
  (``jit_compile=True``, kept in the SavedModel); fp32 only.
- ``inf1``/``inf2``/``trn1``: the SavedModel the Neuron SDK produced (see neuron.py).

Every artifact reloads with ``tf.saved_model.load`` (or OpenVINO) in a fresh process, without the
Keras model's code.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuronkit import (
    BackendUnavailable,
    CompileError,
    Compiler,
    CompileReport,
    CompileResult,
    Component,
    Replica,
    TensorSpec,
)
from neuronkit.engines import OPENVINO_PRECISION as OV_PRECISION
from neuronkit.engines import openvino_model

SAVED_MODEL_DIR = "saved_model"
OV_MODEL = "model.xml"
SIGNATURE = "serving_default"
#: graph ops that do no work, left out of operator counts (tensorflow-neuron ignores the same ones)
IGNORED_OPS = frozenset({"Placeholder", "Identity", "ReadVariableOp", "NoOp", "Const", "_Arg", "_Retval"})
CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
BF16_REWRITE = "auto_mixed_precision_onednn_bfloat16"


def import_tf():
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise BackendUnavailable(f"the tf backend needs TensorFlow ({exc}). Install it: pip install "
                                 f'"neuronkit[tf]" (tensorflow-cpu)') from None
    return tf


def import_openvino():
    try:
        import openvino as ov
    except ImportError:
        raise BackendUnavailable("the tf backend's openvino engine needs OpenVINO: pip install openvino "
                                 "(or compile with engine='savedmodel')") from None
    return ov


# -- the model, whatever form it came in

@dataclass
class Prepared:
    """A model reduced to: a callable, how to call it, input names and example arrays."""

    func: Any                 # what the Neuron SDK traces: the keras model, the callable or a signature
    style: str                # "single": func(x); "list": func([x, y]); "tuple": func(*xs); "dict": func(**named)
    names: list               # input names in signature order
    examples: list            # numpy arrays, batch-adjusted
    keep: Any                 # the object that owns the variables (tracked when saving)
    source_dir: Path | None   # the SavedModel directory the user gave, if any

    def call(self, fn, args):
        if self.style == "single":
            return fn(args[0])
        if self.style == "list":
            return fn(list(args))
        if self.style == "dict":
            return fn(**dict(zip(self.names, args)))
        return fn(*args)

    def example_structure(self, tf):
        """Example inputs shaped as tfn.trace documents them: tensor -> func(x), list -> func([...]),
        tuple -> func(*xs), dict -> func(**xs)."""
        tensors = [tf.constant(a) for a in self.examples]
        if self.style == "single":
            return tensors[0]
        if self.style == "list":
            return tensors
        if self.style == "dict":
            return dict(zip(self.names, tensors))
        return tuple(tensors)

    def specs(self, tf, dynamic: bool):
        return [tf.TensorSpec((None if dynamic else a.shape[0],) + a.shape[1:], tf.as_dtype(a.dtype), name=n)
                for n, a in zip(self.names, self.examples)]


def prepare(tf, model, request) -> Prepared:
    """Accept a keras.Model, a tf.Module/callable or a SavedModel directory, and numpy or TF inputs."""
    import keras

    given = request.example_inputs
    names_given = list(given) if isinstance(given, dict) else None
    arrays = [_to_numpy(v) for v in (given.values() if isinstance(given, dict) else given)]
    source_dir = None
    if isinstance(model, (str, os.PathLike)):
        source_dir = Path(model)
        if not (source_dir / "saved_model.pb").is_file():
            raise CompileError(f"{source_dir} is not a SavedModel directory (no saved_model.pb)")
        loaded = tf.saved_model.load(str(source_dir))
        key = request.options.get("signature_def_key", SIGNATURE)
        if key not in loaded.signatures:
            raise CompileError(f"{source_dir} has no signature {key!r}; it has {sorted(loaded.signatures)}. "
                               f"Pass signature_def_key=...")
        sig = loaded.signatures[key]
        spec_map = sig.structured_input_signature[1]
        names = sorted(spec_map)
        if names_given is not None and set(names_given) != set(names):
            raise CompileError(f"example_inputs names {names_given} do not match the signature's {names}")
        if names_given is not None:
            arrays = [arrays[names_given.index(n)] for n in names]
        if not arrays:
            arrays = [_zeros(spec_map[n], request.batch_size) for n in names]
        prepared = Prepared(sig, "dict", names, arrays, loaded, source_dir)
    elif isinstance(model, keras.Model):
        if not arrays:
            try:
                arrays = [_zeros(t, request.batch_size) for t in model.inputs]
            except (AttributeError, ValueError, TypeError):
                raise CompileError("this Keras model has no known input shape; pass example_inputs=") from None
        names = _keras_input_names(model, len(arrays)) if names_given is None else names_given
        prepared = Prepared(model, "single" if len(arrays) == 1 else "list", names, arrays, model, None)
    elif isinstance(model, tf.Module) or callable(model):
        if not arrays:
            raise CompileError("example_inputs= is required for a tf.Module or function: one array or a tuple")
        names = names_given or [f"input_{i}" for i in range(len(arrays))]
        prepared = Prepared(model, "dict" if names_given else "tuple", names, arrays, model, None)
    else:
        raise CompileError(f"the tf backend compiles a keras.Model, a tf.Module, a tf.function or a SavedModel "
                           f"directory, not a {type(model).__module__}.{type(model).__qualname__}")
    if prepared.source_dir is None:  # a SavedModel's own signature keys stay as they are
        prepared.names = _unique([_sanitise(n) for n in prepared.names])
    if request.batch_size and arrays and arrays[0].ndim and arrays[0].shape[0] != request.batch_size:
        prepared.examples = [_with_batch(a, request.batch_size) for a in prepared.examples]
    for a in prepared.examples:
        if a.ndim == 0:
            raise CompileError("example inputs need a batch axis (axis 0); got a scalar")
    return prepared


def _to_numpy(value):
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype == np.float64:
        raise CompileError("example input is float64; models run in float32: pass x.astype('float32')")
    return array


def _zeros(spec, batch):
    shape = [d for d in spec.shape]
    if any(d is None for d in shape[1:]):
        raise CompileError(f"input {getattr(spec, 'name', '')} has a free non-batch dimension {tuple(shape)}; "
                           f"pass example_inputs= to fix it")
    shape[0] = batch or 1
    dtype = spec.dtype if isinstance(spec.dtype, str) else spec.dtype.name
    return np.zeros(shape, np.dtype(dtype))


def _with_batch(array, n):
    """The example repeated (or cut) to ``n`` rows: the batch to compile for."""
    return np.ascontiguousarray(array[np.arange(n) % array.shape[0]])


def _keras_input_names(model, count):
    try:
        names = [t.name for t in model.inputs]
        if len(names) == count:
            return names
    except (AttributeError, ValueError):
        pass
    return [f"input_{i}" for i in range(count)]


def _sanitise(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(name).split(":")[0])
    return name if re.match(r"[A-Za-z]", name) else f"input_{name}"


def _unique(names):
    seen, out = {}, []
    for n in names:
        seen[n] = seen.get(n, -1) + 1
        out.append(n if not seen[n] else f"{n}_{seen[n]}")
    return out


def output_dict(result) -> dict:
    """Model outputs as the dict a serving signature returns: output_0.. or the model's own keys."""
    if isinstance(result, dict):
        return {_sanitise(k): v for k, v in sorted(result.items())}
    if isinstance(result, (list, tuple)):
        return {f"output_{i}": v for i, v in enumerate(result)}
    return {"output_0": result}


def serving_function(tf, prepared: Prepared, fn, dynamic: bool, jit: bool = False, keep=None):
    """A ``tf.Module`` holding the model and a serving ``tf.function`` that takes the inputs by name
    and returns a dict; ``fn`` is called the way ``prepared.style`` says (the original model, or what
    the Neuron SDK returned). Returns ``(module, concrete serving function)``."""
    module = tf.Module()
    module.model = keep if keep is not None else prepared.keep  # tracked, so its variables are saved

    def serve(*args):
        return output_dict(prepared.call(fn, args))

    module.serve = tf.function(serve, input_signature=prepared.specs(tf, dynamic), jit_compile=True if jit else None)
    return module, module.serve.get_concrete_function()


def save_serving(tf, prepared: Prepared, fn, path: Path, dynamic: bool, jit: bool = False, keep=None):
    """``tf.saved_model.save`` with a ``serving_default`` signature; returns the concrete function."""
    module, concrete = serving_function(tf, prepared, fn, dynamic, jit, keep)
    tf.saved_model.save(module, str(path), signatures={SIGNATURE: concrete})
    return concrete


def count_ops(graph_def) -> dict:
    """Operator types and counts in a GraphDef and its function library (calls and no-ops left out)."""
    counts: dict = {}
    nodes = list(graph_def.node)
    for fn in graph_def.library.function:
        nodes.extend(fn.node_def)
    for node in nodes:
        if node.op in IGNORED_OPS or node.op in CALL_OPS:
            continue
        counts[node.op] = counts.get(node.op, 0) + 1
    return counts


def signature_specs(concrete, prepared: Prepared, dynamic: bool, batch: int):
    """TensorSpecs of a serving function's inputs and outputs for the manifest."""
    inputs = tuple(TensorSpec(n, a.dtype.name, (None if dynamic else batch,) + a.shape[1:])
                   for n, a in zip(prepared.names, prepared.examples))
    outputs = []
    for name, t in sorted(concrete.structured_outputs.items()):
        shape = t.shape.as_list()
        if shape:
            shape[0] = None if dynamic else batch
        outputs.append(TensorSpec(name, t.dtype.name, tuple(shape)))
    return inputs, tuple(outputs)


# -- the compiler

class TfCompiler(Compiler):
    def compile(self, model, request):
        tf = import_tf()
        if request.target.is_neuron:
            from .neuron import compile_for_neuron

            return compile_for_neuron(tf, model, request)
        if request.precision not in OV_PRECISION:
            raise CompileError(f"precision {request.precision} is for Neuron targets; the cpu target runs fp32 or "
                               f"bf16 (this CPU has no fast fp16)")
        engine = request.engine or default_engine()
        if engine == "xla" and request.precision != "fp32":
            raise CompileError("the xla engine runs fp32 only (TensorFlow's bf16 rewrite does not reach XLA clusters); "
                               "use engine='openvino' for bf16")
        _check_options(request, {"signature_def_key"})
        ov = import_openvino() if engine == "openvino" else None
        request.progress("reading the model")
        prepared = prepare(tf, model, request)
        dynamic = True if request.dynamic_batch is None else bool(request.dynamic_batch)
        batch = prepared.examples[0].shape[0]
        if engine == "openvino":
            return self._openvino(tf, ov, prepared, request, dynamic, batch)
        jit = engine == "xla"
        request.progress("saving the SavedModel" + (" (XLA)" if jit else ""))
        concrete = save_serving(tf, prepared, prepared.func, request.workdir / SAVED_MODEL_DIR, dynamic, jit=jit)
        inputs, outputs = signature_specs(concrete, prepared, dynamic, batch)
        ops = sum(count_ops(concrete.graph.as_graph_def()).values())
        flags = ["tf.saved_model.save(signatures=serving_default)"] + (["jit_compile=True"] if jit else [])
        if request.precision == "bf16":
            flags.append(f"load: tf.config.optimizer {BF16_REWRITE}=True")
        return CompileResult(
            inputs=inputs, outputs=outputs,
            framework=Component("tensorflow", tf.__version__),
            compiler=Component("xla" if jit else "tensorflow", tf.__version__),
            flags=tuple(flags), engine=engine, batch_size=None if dynamic else batch, dynamic_batch=dynamic,
            report=CompileReport(ops_total=ops, ops_on_target=ops),
            load={"format": "saved_model", "model": SAVED_MODEL_DIR, "signature": SIGNATURE,
                  "outputs": [o.name for o in outputs]},
        )

    def _openvino(self, tf, ov, prepared, request, dynamic, batch):
        # OpenVINO reads the serving function itself: the same graph and names the SavedModel would
        # hold, without writing one (its SavedModel reader misses some Keras 3 variables).
        _, concrete = serving_function(tf, prepared, prepared.func, dynamic)
        inputs, outputs = signature_specs(concrete, prepared, dynamic, batch)
        ops = sum(count_ops(concrete.graph.as_graph_def()).values())
        request.progress("converting with OpenVINO")
        ov_model = ov.convert_model(concrete)
        in_names = _match_ports(ov_model.inputs, [i.name for i in inputs], "input")
        out_names = _match_ports(ov_model.outputs, [o.name for o in outputs], "output")
        if not dynamic:
            ov_model.reshape({name: list(spec.shape) for name, spec in zip(in_names, inputs)})
        ov.save_model(ov_model, str(request.workdir / OV_MODEL), compress_to_fp16=False)
        hint = OV_PRECISION[request.precision]
        return CompileResult(
            inputs=inputs, outputs=outputs,
            framework=Component("tensorflow", tf.__version__),
            compiler=Component("openvino", ov.__version__),
            flags=("openvino.convert_model(serving tf.function)", "openvino.save_model(compress_to_fp16=False)",
                   f"load: INFERENCE_PRECISION_HINT={hint}"),
            engine="openvino", batch_size=None if dynamic else batch, dynamic_batch=dynamic,
            report=CompileReport(ops_total=ops, ops_on_target=ops),
            load={"format": "openvino", "model": OV_MODEL, "ov_inputs": in_names, "ov_outputs": out_names,
                  "outputs": [o.name for o in outputs]},
        )


def default_engine() -> str:
    """The fastest engine installed: OpenVINO (measured ~2x tf.function on ResNet50 fp32, docs/backends/tf.md),
    else the SavedModel."""
    import importlib.util

    return "openvino" if importlib.util.find_spec("openvino") is not None else "savedmodel"


def _match_ports(ports, names, what):
    """OpenVINO's name for each of our signature names (it may add ':0' or a prefix)."""
    found = []
    for i, name in enumerate(names):
        match = None
        for port in ports:
            pnames = port.get_names()
            if name in pnames or f"{name}:0" in pnames or any(p.split(":")[0].endswith(name) for p in pnames):
                match = port.get_any_name()
                break
        if match is None:
            if len(ports) != len(names):
                raise CompileError(f"OpenVINO's converted model has {len(ports)} {what}s, the signature "
                                   f"{len(names)}; compile with engine='savedmodel'")
            match = ports[i].get_any_name()
        found.append(match)
    return found


def _check_options(request, allowed):
    unknown = set(request.options) - set(allowed)
    if unknown:
        where = "the cpu target" if not request.target.is_neuron else request.target.name
        raise CompileError(f"unknown option(s) {sorted(unknown)} for the tf backend on {where}; "
                           f"it takes {sorted(allowed) or 'none'}")


# -- loading

class TfReplica(Replica):
    """One loaded copy. TensorFlow is not fork-safe with the Neuron runtime, so every replica of a
    Runtime lives in this process: one load per core group."""

    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        m = artifact.manifest
        self._outputs = list(m.load.get("outputs") or [o.name for o in m.outputs])
        self._names = [i.name for i in m.inputs]
        if m.load.get("format") == "openvino":
            self._load_openvino(artifact, group, m)
        else:
            self._load_saved_model(artifact, m)

    # OpenVINO IR: needs only openvino in the loading process
    def _load_openvino(self, artifact, group, m):
        import_openvino()  # says how to install it when it is missing
        #: what OpenVINO really computes in: a CPU without bf16 support runs a bf16 hint in f32
        self._compiled, self.effective_precision = openvino_model(
            artifact.file(m.load["model"]), OV_PRECISION[m.precision], int(self.options.get("threads", group.size)))
        self._request = self._compiled.create_infer_request()
        self._ov_inputs = list(m.load["ov_inputs"])
        self._ov_outputs = [self._compiled.output(n) for n in m.load["ov_outputs"]]
        self._tf = None

    def _load_saved_model(self, artifact, m):
        tf = import_tf()
        self._tf = tf
        if m.target != "cpu":
            from .neuron import import_sdk

            import_sdk(m.target, m.load.get("sdk"))  # registers the Neuron ops before the SavedModel loads
            self.neuron_env = {k: v for k, v in os.environ.items() if k.startswith("NEURON")}
        directory = artifact.root / m.load["model"]
        if f"{m.load['model']}/saved_model.pb" not in m.files:
            raise CompileError(f"the artifact has no {m.load['model']}/saved_model.pb; compile it again")
        bf16 = m.target == "cpu" and m.precision == "bf16"
        previous = tf.config.optimizer.get_experimental_options().get(BF16_REWRITE, False)
        tf.config.optimizer.set_experimental_options({BF16_REWRITE: bf16})
        try:
            self._loaded = tf.saved_model.load(str(directory))
            self._fn = self._loaded.signatures[m.load.get("signature", SIGNATURE)]
            # Grappler rewrites a function when it is first run: run it now, under this replica's precision.
            batch = m.batch_size or 1
            self.run([np.zeros((batch,) + tuple(d or 1 for d in s.shape[1:]), s.dtype) for s in m.inputs])
        finally:
            tf.config.optimizer.set_experimental_options({BF16_REWRITE: previous})

    def run(self, inputs):
        if self._tf is None:
            result = self._request.infer(dict(zip(self._ov_inputs, inputs)))
            return [np.array(result[port]) for port in self._ov_outputs]
        tf = self._tf
        out = self._fn(**{n: tf.constant(a) for n, a in zip(self._names, inputs)})
        return [out[n].numpy() for n in self._outputs]

    def close(self):
        self._fn = self._loaded = None
        self._compiled = self._request = None


def tiny_model():
    """A small Keras model and an example input, for ``neuronkit selftest``."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,), name="x"), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(4)])
    return model, (np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32),)
