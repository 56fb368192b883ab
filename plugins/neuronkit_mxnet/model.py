"""The model as every mxnet compile path takes it: a :class:`MxnetModel` record, and small helpers.

Every model is first brought to MXNet's deployable form, a symbol with its params: a Gluon
HybridBlock is hybridized with ``static_alloc``/``static_shape``, run once on the example and
exported; a checkpoint prefix is read with ``mx.model.load_checkpoint``.
cpu.py and neuron.py both import from here (and never from backend.py), so the modules form no circle.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuronkit import CompileError, Component, TensorSpec
from neuronkit.cache import object_fingerprint

#: the checkpoint prefix of the symbol and params an artifact holds (``model-symbol.json``, ``model-0000.params``)
PREFIX = "model"


@dataclass(frozen=True)
class MxnetModel:
    """A symbol with its params, its input names and batch-adjusted example arrays, and its outputs
    as shape and type inference give them."""

    sym: Any                       # mx.sym.Symbol
    args: dict                     # arg params (the weights)
    aux: dict                      # aux params (BatchNorm statistics...)
    names: tuple[str, ...]         # input names, in the model's order
    examples: tuple                # numpy arrays, in ``names`` order
    out_names: tuple[str, ...]     # output names (``sym.list_outputs()``)
    out_types: tuple               # ``(shape, dtype name)`` per output
    block: Any = None              # the HybridBlock, when the model was one (mx_neuron compiles the block)

    @property
    def batch(self) -> int:
        return int(self.examples[0].shape[0])

    @property
    def ops(self) -> int:
        """Operators in the symbol (its non-``null`` nodes)."""
        return op_count(self.sym)

    def inputs(self, dynamic: bool) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec.of(n, a, dynamic) for n, a in zip(self.names, self.examples))

    def outputs(self, dynamic: bool) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(n, t, (None, *s[1:]) if dynamic and s else s)
                     for n, (s, t) in zip(self.out_names, self.out_types))


def prepare(model, request) -> MxnetModel:
    """A HybridBlock, a ``(sym, args, aux)`` tuple or a checkpoint prefix, with ``request``'s example inputs."""
    import mxnet as mx

    request.progress("exporting the symbol and params")
    sym, args, aux, block = _as_symbol(model, request)
    names = [n for n in sym.list_arguments() if n not in args]
    examples = example_arrays(request, names)
    shapes = {n: e.shape for n, e in zip(names, examples)}
    try:
        _, out_shapes, _ = sym.infer_shape(**shapes)
    except mx.base.MXNetError as exc:
        raise CompileError(f"the model does not take inputs {shapes}: {first_line(exc)}") from None
    _, out_dtypes, _ = sym.infer_type(**{n: e.dtype for n, e in zip(names, examples)})
    return MxnetModel(sym, args, aux, tuple(names), tuple(examples), tuple(sym.list_outputs()),
                      tuple((tuple(s), np.dtype(t).name) for s, t in zip(out_shapes, out_dtypes)), block)


def _as_symbol(model, request):
    """(sym, args, aux, the block or None) of a HybridBlock, a (sym, args, aux) tuple or a checkpoint prefix."""
    import mxnet as mx

    if isinstance(model, (str, os.PathLike)):
        prefix = os.fspath(model)
        epoch = request.options.get("epoch", _latest_epoch(prefix))
        sym, args, aux = mx.model.load_checkpoint(prefix, epoch)
        return sym, args, aux, None
    if isinstance(model, tuple) and len(model) == 3 and isinstance(model[0], mx.sym.Symbol):
        sym, args, aux = model
        return sym, dict(args or {}), dict(aux or {}), None
    if not isinstance(model, mx.gluon.HybridBlock):
        raise CompileError(f"the mxnet backend takes a gluon HybridBlock, a (sym, args, aux) tuple or a checkpoint "
                           f"prefix, not {type(model).__name__}")
    examples = example_arrays(request, None)
    model.hybridize(static_alloc=True, static_shape=True)
    try:
        model(*[mx.nd.array(e) for e in examples])  # builds the cached graph that export writes
    except mx.base.MXNetError as exc:
        shapes = [e.shape for e in examples]
        raise CompileError(f"the model does not take inputs of shapes {shapes}: {first_line(exc)}") from None
    export = request.workdir / "export"
    export.mkdir(exist_ok=True)
    model.export(str(export / PREFIX), epoch=0)  # names the inputs data (one) or data0, data1, ...
    sym, args, aux = mx.model.load_checkpoint(str(export / PREFIX), 0)
    shutil.rmtree(export)
    return sym, args, aux, model


def fingerprint(model) -> bytes | None:
    """A Gluon block's or a (sym, args, aux) tuple's content for the compile cache: its structure (the
    block's repr and class sources, or the symbol's JSON) and every parameter byte for byte."""
    mx = sys.modules.get("mxnet")
    if mx is None:
        return None
    if isinstance(model, mx.gluon.HybridBlock):  # parameters by position: their names carry generated prefixes
        params = sorted(model.collect_params().items())
        return object_fingerprint(repr(model), _block_classes(model),
                                  ((str(i), p.data().asnumpy()) for i, (_, p) in enumerate(params)))
    if isinstance(model, tuple) and len(model) == 3 and isinstance(model[0], mx.sym.Symbol):
        sym, args, aux = model
        arrays = [(f"arg:{k}", v.asnumpy()) for k, v in sorted((args or {}).items())]
        arrays += [(f"aux:{k}", v.asnumpy()) for k, v in sorted((aux or {}).items())]
        return object_fingerprint(sym.tojson(), (), arrays)
    return None


def _block_classes(block) -> set:
    classes = {type(block)}
    for child in block._children.values():
        classes |= _block_classes(child)
    return classes


def _latest_epoch(prefix: str) -> int:
    import glob
    import re

    epochs = [int(m.group(1)) for p in glob.glob(f"{glob.escape(prefix)}-*.params")
              if (m := re.search(r"-(\d{4,})\.params$", p))]
    if not epochs:
        raise CompileError(f"no {prefix}-NNNN.params next to {prefix}-symbol.json; pass the prefix that "
                           f"mx.model.save_checkpoint or HybridBlock.export wrote")
    return max(epochs)


def example_arrays(request, names) -> list:
    """Example inputs as numpy arrays in ``names`` order, repeated or cut to ``batch_size``."""
    given = request.example_inputs
    if not given:
        raise CompileError("the mxnet backend needs example_inputs= (an array, a tuple in the model's input order, "
                           "or a dict by input name)")
    if isinstance(given, dict):
        if names is None:
            given = tuple(given.values())
        elif sorted(given) != sorted(names):
            raise CompileError(f"example_inputs names {sorted(given)} do not match the model's inputs {names}")
        else:
            given = tuple(given[n] for n in names)
    arrays = [np.ascontiguousarray(e.asnumpy() if hasattr(e, "asnumpy") else np.asarray(e)) for e in given]
    if names is not None and len(arrays) != len(names):
        raise CompileError(f"the model takes inputs {names}; got {len(arrays)} example_inputs")
    size = request.batch_size
    if size and arrays[0].shape[0] != size:
        arrays = [a[np.arange(size) % a.shape[0]] for a in arrays]
    return arrays


def first_line(exc) -> str:
    """MXNet errors carry a C++ stack trace; the check that failed is the line worth showing."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    checks = [line for line in lines if "Check failed" in line or "Error in operator" in line]
    return (checks or lines or [type(exc).__name__])[-1].strip()


def op_count(sym) -> int:
    return sum(1 for n in json.loads(sym.tojson())["nodes"] if n["op"] != "null")


def framework() -> Component:
    import mxnet as mx

    return Component("mxnet", mx.__version__)
