"""A SIMULATED torch-neuronx (``torch_neuronx``) for tests; not the AWS Neuron SDK.

Documented API: ``trace(func, example_inputs, *_, input_output_aliases={},
compiler_workdir=None, compiler_args=None, partitioner_config=None, inline_weights_to_neff=True,
cpu_backend=False)``, ``dynamic_batch(neuron_script)``, ``DataParallel(model, device_ids=None, dim=0,
set_dynamic_batching=True)``. Compiled models are host TorchScript traces; flags are validated as
the neuronx-cc of :data:`SDK_RELEASE` would, and recorded, not applied. Calls are recorded in
:data:`calls` (the convention in :mod:`neuronkit.testing.sim`).
"""

from __future__ import annotations

import sys
import warnings

from . import ANY_BATCH, check_neuronx_cc_args, current_call, mark_compiled_batch, note, recorder
from . import DataParallel as SimulatedDataParallel

SIMULATED = True
#: the Neuron SDK release this simulates: its torch-neuronx, and the neuronx-cc defaults of that
#: release (NSDK src/helperscripts/n2-manifest.json: 2.21.0 ships torch-neuronx 2.5.1.2.4.0, the
#: first with ``cpu_backend``)
SDK_RELEASE = (2, 21)
__version__ = "2.5.1.2.4.0+simulated"
MODULE = "torch_neuronx"
calls: list = []
_recorded = recorder(MODULE, calls)
#: trace()'s keyword parameters in signature order: where positionally passed ones are put
TRACE_KEYWORDS = ("input_output_aliases", "compiler_workdir", "compiler_args", "partitioner_config",
                  "inline_weights_to_neff", "cpu_backend")


def install():
    sys.modules["torch_neuronx"] = sys.modules[__name__]
    return sys.modules[__name__]


def uninstall() -> None:
    sys.modules.pop("torch_neuronx", None)


def reset() -> None:
    calls.clear()




@_recorded
def trace(func, example_inputs, *_, input_output_aliases={}, compiler_workdir=None, compiler_args=None,  # noqa: B006
          partitioner_config=None, inline_weights_to_neff=True, cpu_backend=False):
    """``torch_neuronx.trace`` (SIMULATED): a host TorchScript trace, ``compiler_args`` checked as neuronx-cc would.

    Doc: NSDK ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-trace.rst``:
    the signature above; ``cpu_backend=True`` needs ``--target`` in ``compiler_args``; "Using args for
    kwargs is no longer supported starting from release 2.15.0 ... a warning will be raised, but
    torch_neuronx.trace() will attempt to infer the keyword arguments". How it infers them is not
    documented: this simulation warns and binds them to the keyword parameters in signature order
    (:data:`TRACE_KEYWORDS`), as Python would without the ``*_``.
    """
    import torch

    given = {"input_output_aliases": input_output_aliases, "compiler_workdir": compiler_workdir,
             "compiler_args": compiler_args, "partitioner_config": partitioner_config,
             "inline_weights_to_neff": inline_weights_to_neff, "cpu_backend": cpu_backend}
    if _:
        warnings.warn("passing trace() keyword arguments positionally is deprecated since torch-neuronx 2.15.0; "
                      f"inferred as {', '.join(TRACE_KEYWORDS[:len(_)])}", DeprecationWarning, stacklevel=3)
        if len(_) > len(TRACE_KEYWORDS):
            raise TypeError(f"trace() takes at most {2 + len(TRACE_KEYWORDS)} arguments ({2 + len(_)} given)")
        for key, value in zip(TRACE_KEYWORDS, _):
            if key in current_call()["kwargs"]:
                raise TypeError(f"trace() got multiple values for argument '{key}'")
            given[key] = value
    flags = check_neuronx_cc_args(given["compiler_args"], SDK_RELEASE)
    if given["cpu_backend"] and flags.target is None:
        raise ValueError("cpu_backend=True needs --target in compiler_args")
    examples = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    traced = torch.jit.trace(func, examples)
    note(flags=vars(flags), inferred=TRACE_KEYWORDS[:len(_)], batch=int(examples[0].shape[0]), **given)
    mark_compiled_batch(traced, int(examples[0].shape[0]), any_batch=False)
    return traced


@_recorded
def dynamic_batch(neuron_script):
    """``torch_neuronx.dynamic_batch(neuron_script)`` (SIMULATED: recorded; the host trace takes any batch).

    Doc: NSDK ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-trace.rst``
   .
    """
    setattr(neuron_script, ANY_BATCH, True)
    return neuron_script


def DataParallel(model, device_ids=None, dim=0, set_dynamic_batching=True):  # noqa: N802 - the SDK's class name
    """``torch_neuronx.DataParallel(model, device_ids=None, dim=0, set_dynamic_batching=True)`` (SIMULATED;
    see :class:`sim.DataParallel`). Doc: NSDK
    ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-data-parallel.rst``."""
    return SimulatedDataParallel(model, device_ids, dim, module=MODULE, calls=calls,
                                 set_dynamic_batching=set_dynamic_batching)
