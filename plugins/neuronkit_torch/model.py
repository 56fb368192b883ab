"""The model as every torch compile path takes it: a :class:`TorchModel` record, and small helpers.

cpu.py and neuron.py both import from here (and never from backend.py), so the modules form no circle.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuronkit import CompileError, Component, TensorSpec
from neuronkit.cache import object_fingerprint


@dataclass(frozen=True)
class TorchModel:
    """A module in eval mode with its example inputs (batch-adjusted), names, and eager outputs."""

    module: Any                  # torch.nn.Module
    examples: tuple              # torch tensors, in forward()'s order
    names: tuple[str, ...]       # input names
    out_names: tuple[str, ...]   # output names
    expected: tuple              # the eager outputs on the examples

    @property
    def batch(self) -> int:
        return int(self.examples[0].shape[0])

    def inputs(self, dynamic: bool) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec.of(n, t, dynamic) for n, t in zip(self.names, self.examples))

    def outputs(self, dynamic: bool, values=None) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec.of(n, o, dynamic) for n, o in zip(self.out_names, values or self.expected))


def prepare(model, request) -> TorchModel:
    """A ``torch.nn.Module`` or a TorchScript path, with ``request``'s example inputs."""
    import torch

    if isinstance(model, (str, os.PathLike)):
        model = torch.jit.load(os.fspath(model))
    if not isinstance(model, torch.nn.Module):
        raise CompileError(f"the torch backend takes a torch.nn.Module or a TorchScript file, "
                           f"not {type(model).__name__}")
    model = model.eval()
    examples = _example_tensors(request)
    with torch.no_grad():
        expected = as_tuple(model(*examples))
    return TorchModel(model, examples, tuple(_input_names(model, len(examples))),
                      tuple(f"output{i}" for i in range(len(expected))), expected)


def fingerprint(model) -> bytes | None:
    """A module's content for the compile cache: its structure and code (TorchScript's graph, or the
    source of every module class in it), and every parameter and buffer byte for byte."""
    import torch

    if not isinstance(model, torch.nn.Module):
        return None
    scripted = isinstance(model, torch.jit.ScriptModule)
    structure = repr(model) + (str(model.inlined_graph) if scripted else "")
    weights = ((f"{name}:{t.dtype}", t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
               for name, t in model.state_dict().items())
    return object_fingerprint(structure, () if scripted else {type(m) for m in model.modules()}, weights)


def framework() -> Component:
    import torch

    return Component("torch", torch.__version__)


def as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def run_module(module, inputs) -> list:
    """Call a TorchScript/exported module on numpy arrays; numpy arrays out."""
    import torch

    with torch.no_grad():
        return [o.numpy() for o in as_tuple(module(*(torch.from_numpy(x) for x in inputs)))]


@contextlib.contextmanager
def quiet_jit():
    """torch 2.14 deprecates torch.jit; TorchScript is still what the Neuron SDK produces and loads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        yield


def _example_tensors(request) -> tuple:
    import torch

    given = request.example_inputs
    if isinstance(given, dict):
        raise CompileError("the torch backend takes example_inputs as a tensor or a tuple in forward()'s order")
    if not given:
        raise CompileError("the torch backend needs example_inputs= (a tensor or array shaped like real inputs)")
    tensors = tuple(t if isinstance(t, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(t)) for t in given)
    size = request.batch_size
    if size and tensors[0].shape[0] != size:  # the compiled batch: repeat or cut the example rows
        tensors = tuple(t[np.arange(size) % t.shape[0]] for t in tensors)
    return tensors


def _input_names(model, count) -> list:
    try:
        params = [p.name for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) >= count and len(set(params[:count])) == count and "input" not in params[:count]:
        return params[:count]
    return [f"input{i}" for i in range(count)]
