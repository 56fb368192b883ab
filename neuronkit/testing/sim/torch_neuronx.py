"""A SIMULATED torch-neuronx (``torch_neuronx``) for tests; not the AWS Neuron SDK.

Documented API (neuron-sdk-reference.md §7.1): ``trace(func, example_inputs, *_, input_output_aliases={},
compiler_workdir=None, compiler_args=None, partitioner_config=None, inline_weights_to_neff=True,
cpu_backend=False)``, ``dynamic_batch(neuron_script)``, ``DataParallel(model, device_ids=None, dim=0,
set_dynamic_batching=True)``. Compiled models are host TorchScript traces; flags are validated
and recorded, not applied.
"""

from __future__ import annotations

import sys
import warnings

from . import check_neuronx_cc_args, neuron_env, visible_core_count

SIMULATED = True
__version__ = "2.1.2.2.20.0+simulated"
calls: list = []


def install():
    sys.modules["torch_neuronx"] = sys.modules[__name__]
    return sys.modules[__name__]


def uninstall() -> None:
    sys.modules.pop("torch_neuronx", None)


def reset() -> None:
    calls.clear()


def _record(function: str, **details) -> dict:
    entry = {"function": function, "env": neuron_env(), **details}
    calls.append(entry)
    return entry


def trace(func, example_inputs, *_, input_output_aliases={}, compiler_workdir=None, compiler_args=None,  # noqa: B006
          partitioner_config=None, inline_weights_to_neff=True, cpu_backend=False):
    import torch

    if _:
        warnings.warn("passing trace() keyword arguments positionally is deprecated since torch-neuronx 2.15.0",
                      DeprecationWarning, stacklevel=2)
    flags = check_neuronx_cc_args(compiler_args)
    if cpu_backend and flags.target is None:
        raise ValueError("cpu_backend=True needs --target in compiler_args")
    examples = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    traced = torch.jit.trace(func, examples)
    _record("trace", flags=vars(flags), compiler_args=compiler_args, compiler_workdir=compiler_workdir,
            inline_weights_to_neff=inline_weights_to_neff, batch=int(examples[0].shape[0]))
    return traced


def dynamic_batch(neuron_script):
    _record("dynamic_batch")
    return neuron_script


class DataParallel:
    def __init__(self, model, device_ids=None, dim=0, set_dynamic_batching=True):
        available = visible_core_count()
        ids = [int(str(d).removeprefix("nc:")) for d in device_ids] if device_ids is not None else None
        if ids is not None and available is not None and max(ids) >= available:
            raise RuntimeError(f"NeuronCore(s) not available - Requested:nc{max(ids)} Available:{available}")
        self.module, self.device_ids, self.dim = model, ids, dim
        self.dynamic_batching = set_dynamic_batching
        self.num_workers = 2 * (len(ids) if ids else (available or 1))
        _record("DataParallel", device_ids=ids, dim=dim, set_dynamic_batching=set_dynamic_batching)

    def disable_dynamic_batching(self):
        self.dynamic_batching = False

    def __call__(self, *inputs):
        return self.module(*inputs)
