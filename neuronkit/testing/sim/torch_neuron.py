"""A SIMULATED torch-neuron (``torch_neuron`` / ``torch.neuron``) for tests; not the AWS Neuron SDK.

Documented API: ``trace(model, example_inputs, **kwargs)`` with the
documented keyword arguments and defaults, any other keyword forwarded to ``torch.jit.trace``
(which rejects what it does not know, as with the real one); ``analyze_model``;
``DataParallel(model, device_ids=None, dim=0)``. Operator support is simulated: an operator is
unsupported if it is in :data:`UNSUPPORTED_OPS`. Compiled models are plain TorchScript traces that
run on the host; numerics are the host's fp32 (casting flags are validated and recorded only).
Calls are recorded in :data:`calls` (the convention in :mod:`neuronkit.testing.sim`).
"""

from __future__ import annotations

import json
import sys

from . import DataParallel as SimulatedDataParallel
from . import check_neuron_cc_args, mark_compiled_batch, note, recorder, split_args

SIMULATED = True
#: torch-neuron of Neuron SDK 2.20.0 (NSDK release-notes/archive/torch-neuron.rst)
__version__ = "1.13.1.2.11.6.0+simulated"
MODULE = "torch_neuron"
calls: list = []
_recorded = recorder(MODULE, calls)
#: operators the simulated neuron-cc leaves on the CPU (illustrative, not the real list)
UNSUPPORTED_OPS = {"aten::nonzero", "aten::unique", "aten::_unique2", "aten::sort", "aten::multinomial"}
#: operators analyze_model counts as arithmetic (illustrative)
ARITHMETIC_OPS = {"aten::_convolution", "aten::conv2d", "aten::linear", "aten::matmul", "aten::addmm", "aten::mm",
                  "aten::bmm", "aten::batch_norm", "aten::relu", "aten::relu_", "aten::add", "aten::add_"}
#: graph nodes analyze_model does not count: attribute reads. The documented ResNet50 output counts
#: prim::Constant and prim::ListConstruct among its 1645 operations, and no prim::GetAttr.
NOT_OPERATIONS = {"prim::GetAttr"}
TRACE_DEFAULTS = {"compiler_args": None, "compiler_timeout": None, "compiler_workdir": None,
                  "subgraph_builder_function": None, "minimum_segment_size": 2, "single_fusion_ratio_threshold": 0.6,
                  "fallback": True, "dynamic_batch_size": False, "optimizations": None, "separate_weights": False}


def install():
    import torch

    module = sys.modules[__name__]
    sys.modules["torch_neuron"] = module
    torch.neuron = module
    return module


def uninstall() -> None:
    import torch

    sys.modules.pop("torch_neuron", None)
    if getattr(torch, "neuron", None) is sys.modules[__name__]:
        del torch.neuron


def reset() -> None:
    calls.clear()


def is_available() -> bool:
    """``torch_neuron.is_available()`` (NSDK release-notes/archive/torch-neuron.rst, 2.0.318.0): no
    NeuronCore behind a simulation."""
    return False




@_recorded
def analyze_model(model, example_inputs):
    """Operator counts of the traced model, with the keys ``torch.neuron.analyze_model`` returns.

    Doc: OLD ``docs-rtd/neuron-guide/neuron-frameworks/pytorch-neuron/tutorials/getting_started.rst``
    step 3.3: "100.00% of all operations (including primitives) (1645 of 1645)",
    so primitives (``prim::Constant``, ``prim::ListConstruct``...) count as operations, and
    "arithmetic operations" are a subset of the ``aten::`` ones.
    """
    import torch

    traced = torch.jit.trace(model, _tuple(example_inputs))
    ops = [n.kind() for n in traced.inlined_graph.nodes()
           if n.kind().startswith(("aten::", "prim::")) and n.kind() not in NOT_OPERATIONS]
    counts: dict = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    unsupported = sorted(set(ops) & UNSUPPORTED_OPS)
    supported = [op for op in ops if op not in UNSUPPORTED_OPS]
    arithmetic = [op for op in ops if op in ARITHMETIC_OPS]
    arithmetic_ok = [op for op in arithmetic if op not in UNSUPPORTED_OPS]
    result = {"percent_supported": 100.0 * len(supported) / max(len(ops), 1),
              "percent_supported_arithmetic": 100.0 * len(arithmetic_ok) / max(len(arithmetic), 1),
              "supported_count": len(supported), "total_count": len(ops),
              "supported_count_arithmetic": len(arithmetic_ok), "total_count_arithmetic": len(arithmetic),
              "supported_operators": set(supported), "unsupported_operators": unsupported,
              "operators": sorted(set(ops)), "operator_count": counts}
    note(result=result)
    return result


@_recorded
def trace(model, example_inputs, **kwargs):
    """``torch.neuron.trace`` (SIMULATED): a host TorchScript trace, its neuron-cc command validated.

    Doc: NSDK ``archive/torch-neuron/api-compilation-python-api.rst``: the keyword
    arguments of :data:`TRACE_DEFAULTS`, any other keyword forwarded to ``torch.jit.trace``;
    ``fallback=False`` with an unsupported operator raises ``AttributeError``. The neuron-cc
    command is the one the torch-neuron log shows (OLD ``getting_started.rst`` step 3.3):
    ``--framework TENSORFLOW --pipeline compile SaveTemps --output ... --io-config ...`` and then
    ``compiler_args`` (a list, or one string as in that tutorial's ``compiler_args="-O2"``).
    """
    import torch

    options = {key: kwargs.pop(key, default) for key, default in TRACE_DEFAULTS.items()}
    examples = _tuple(example_inputs)
    flags = check_neuron_cc_args(_neuron_cc_command(examples) + split_args(options["compiler_args"]))
    traced = torch.jit.trace(model, examples, **kwargs)  # the rest goes to torch.jit.trace, as documented
    ops = {n.kind() for n in traced.inlined_graph.nodes()}
    unsupported = sorted(ops & UNSUPPORTED_OPS)
    if unsupported and not options["fallback"]:
        raise AttributeError(f"Neuron compile failed. Operator {unsupported[0]} is not supported (fallback=False)")
    note(options=options, flags=vars(flags), trace_kwargs=kwargs, batch=int(examples[0].shape[0]),
         unsupported=unsupported)
    mark_compiled_batch(traced, int(examples[0].shape[0]), options["dynamic_batch_size"])
    return traced


def _neuron_cc_command(examples) -> list:
    inputs = {f"{i}:0": [list(getattr(x, "shape", ())), str(getattr(x, "dtype", "")).removeprefix("torch.")]
              for i, x in enumerate(examples)}
    io_config = {"inputs": inputs, "outputs": []}
    return ["--framework", "TENSORFLOW", "--pipeline", "compile", "SaveTemps", "--output", "graph_def.neff",
            "--io-config", json.dumps(io_config)]


def DataParallel(model, device_ids=None, dim=0):  # noqa: N802 - the SDK's class name
    """``torch.neuron.DataParallel(model, device_ids=None, dim=0)`` (SIMULATED; see :class:`sim.DataParallel`).

    Doc: NSDK ``archive/torch-neuron/api-torch-neuron-dataparallel-api.rst``: no ``set_dynamic_batching``
    argument on Inf1; dynamic batching is on when ``dim == 0`` until ``disable_dynamic_batching()``.
    """
    return SimulatedDataParallel(model, device_ids, dim, module=MODULE, calls=calls)


def _tuple(example_inputs):
    import torch

    return (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
