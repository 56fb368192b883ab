"""What the cpu engines and the Neuron targets share: the model reduced to a :class:`Prepared`
record, the ``serving_default`` SavedModel written from it, operator counts, the manifest's
signature, and loading that SavedModel back.

Signature keys are the model's input names and ``output_0``, ``output_1``... (or the model's own
output keys), so every artifact reloads with ``tf.saved_model.load`` in a fresh process, without
the Keras model's code.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuronkit import BackendUnavailable, CompileError, TensorSpec
from neuronkit.cache import object_fingerprint

SAVED_MODEL_DIR = "saved_model"
SIGNATURE = "serving_default"
#: graph ops that do no work, left out of operator counts (tensorflow-neuron ignores the same ones)
IGNORED_OPS = frozenset({"Placeholder", "Identity", "ReadVariableOp", "NoOp", "Const", "_Arg", "_Retval"})
CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
#: TensorFlow's oneDNN auto-mixed-precision graph rewrite: the savedmodel engine's bf16
BF16_REWRITE = "auto_mixed_precision_onednn_bfloat16"


def import_tf():
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise BackendUnavailable(f"the tf backend needs TensorFlow ({exc}). Install it: pip install "
                                 f'"neuronkit[tf]" (tensorflow-cpu)') from None
    return tf


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

    @property
    def batch(self) -> int:
        return int(self.examples[0].shape[0])

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


def fingerprint(model) -> bytes | None:
    """A Keras model's content for the compile cache: its config with the model's and layers' generated
    names replaced by their positions (two builds of one model differ only there), its input names
    (they name the artifact's signature), the source of its classes, and every weight byte for byte,
    in order. Other objects (tf.Module, functions) are not cached."""
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(model, keras.Model):
        return None
    positions = {model.name: "model", **{layer.name: f"layer{i}" for i, layer in enumerate(model.layers)}}

    def canonical(value):
        if isinstance(value, dict):
            return {k: canonical(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [canonical(v) for v in value]
        return positions.get(value, value) if isinstance(value, str) else value

    try:
        config = canonical(model.get_config())
    except (NotImplementedError, TypeError, ValueError):  # a subclassed model without get_config
        config = repr(type(model))
    inputs = [t.name for t in model.inputs] if getattr(model, "inputs", None) else []  # they name the signature
    structure = json.dumps([config, inputs], sort_keys=True, default=repr)
    classes = {type(model)} | {type(layer) for layer in model.layers}
    weights = ((str(i), np.asarray(w.numpy())) for i, w in enumerate(model.weights))
    return object_fingerprint(structure, classes, weights)


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


# -- the serving function, saved

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


def source_function(tf, prepared: Prepared):
    """The original model as one concrete function with the compiled input shapes."""
    def source(*args):
        return output_dict(prepared.call(prepared.func, args))

    return tf.function(source).get_concrete_function(*prepared.specs(tf, dynamic=False))


def count_ops(graph_def) -> int:
    """Operators in a GraphDef and its function library (calls and no-ops left out)."""
    nodes = list(graph_def.node)
    for fn in graph_def.library.function:
        nodes.extend(fn.node_def)
    return sum(1 for node in nodes if node.op not in IGNORED_OPS and node.op not in CALL_OPS)


def signature_specs(concrete, prepared: Prepared, dynamic: bool):
    """TensorSpecs of a serving function's inputs and outputs for the manifest."""
    batch = None if dynamic else prepared.batch
    inputs = tuple(TensorSpec(n, a.dtype.name, (batch,) + a.shape[1:])
                   for n, a in zip(prepared.names, prepared.examples))
    outputs = []
    for name, t in sorted(concrete.structured_outputs.items()):
        shape = t.shape.as_list()
        if shape:
            shape[0] = batch
        outputs.append(TensorSpec(name, t.dtype.name, tuple(shape)))
    return inputs, tuple(outputs)


def saved_model_load(outputs) -> dict:
    """The manifest's ``load`` entry of a SavedModel artifact (``outputs``: the signature's keys, in order)."""
    return {"format": "saved_model", "model": SAVED_MODEL_DIR, "signature": SIGNATURE,
            "outputs": [o.name for o in outputs]}


# -- loading

class ServingSignature:
    """An artifact's SavedModel loaded in this process: inputs by the manifest's names, outputs as it lists them.

    ``bf16`` switches TensorFlow's oneDNN bf16 rewrite on (else off) while the function is loaded and
    first run (Grappler rewrites a function when it first runs), then restores the previous setting.
    """

    def __init__(self, tf, artifact, bf16: bool = False):
        m = artifact.manifest
        if f"{m.load['model']}/saved_model.pb" not in m.files:
            raise CompileError(f"the artifact has no {m.load['model']}/saved_model.pb; compile it again")
        self._tf = tf
        self._names = [i.name for i in m.inputs]
        self._outputs = list(m.load.get("outputs") or [o.name for o in m.outputs])
        with _optimizer_options(tf, {BF16_REWRITE: bf16}):
            self._loaded = tf.saved_model.load(str(artifact.root / m.load["model"]))
            self._fn = self._loaded.signatures[m.load.get("signature", SIGNATURE)]
            batch = m.batch_size or 1
            self([np.zeros((batch,) + tuple(d or 1 for d in s.shape[1:]), s.dtype) for s in m.inputs])

    def __call__(self, inputs):
        tf = self._tf
        out = self._fn(**{n: tf.constant(a) for n, a in zip(self._names, inputs)})
        return [out[n].numpy() for n in self._outputs]

    def close(self):
        self._fn = self._loaded = None


@contextlib.contextmanager
def _optimizer_options(tf, options: dict):
    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options(options)
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({k: previous.get(k, False) for k in options})
