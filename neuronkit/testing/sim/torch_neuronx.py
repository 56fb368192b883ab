"""A SIMULATED torch-neuronx (``torch_neuronx``) for tests; not the AWS Neuron SDK.

Documented API: ``trace(func, example_inputs, *_, input_output_aliases={},
compiler_workdir=None, compiler_args=None, partitioner_config=None, inline_weights_to_neff=True,
cpu_backend=False)``, ``dynamic_batch(neuron_script)``, ``DataParallel(model, device_ids=None, dim=0,
set_dynamic_batching=True)``, ``replace_weights(neuron_model, weights)``, ``lazy_load(trace,
enable_lazy_load=True)``, ``async_load(trace, enable_async_load=True)``, ``BucketModelConfig(bucket_kernel,
*_, shared_state_buffer=None, shared_state_buffer_preprocessor=None, func_kwargs=None)`` and
``bucket_model_trace(func, example_inputs, bucket_config, compiler_workdir=None, compiler_args=None)``
(NSDK ``frameworks/torch/torch-neuronx/api-reference-guide/inference/``). Compiled models are host
TorchScript traces; flags are validated as the neuronx-cc of :data:`SDK_RELEASE` would, and recorded,
not applied. Calls are recorded in :data:`calls` (the convention in :mod:`neuronkit.testing.sim`).
"""

from __future__ import annotations

import sys
import warnings

try:  # the bucket model's TorchScript classes below need torch when this module is imported
    import torch
except ImportError:  # the core's environments: nothing here is called without torch
    torch = None

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


#: Attributes the simulated SDK stores on a TorchScript it returns or changes (they survive torch.jit.save and
#: load, as the real settings do): weights kept out of the NEFF, and the lazy / asynchronous load settings.
SEPARATED_WEIGHTS, LAZY_LOAD, ASYNC_LOAD = "_neuronkit_sim_separated", "_neuronkit_sim_lazy", "_neuronkit_sim_async"


def _set_flag(module, name: str, value: bool) -> None:
    import torch

    if hasattr(module, name):
        setattr(module, name, bool(value))
    else:
        module._c._register_attribute(name, torch._C.BoolType.get(), bool(value))


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
    _set_flag(traced, SEPARATED_WEIGHTS, not given["inline_weights_to_neff"])
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


@_recorded
def replace_weights(neuron_model, weights):
    """``torch_neuronx.replace_weights(neuron_model, weights)`` (SIMULATED): copies the new weights into the host trace.

    Doc: NSDK ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-replace-weights.rst``:
    ``weights`` is the original model with new weights or a state_dict; the replacement is in place and
    returns ``None``; "only applicable for models traced with ``inline_weights_to_neff=False``", and for
    a model without separated weights the function "will emit a warning" (so does this one, and changes
    nothing). What the real one does with a name the model lacks or a shape that differs is not
    documented: this simulation raises (KeyError, RuntimeError), so callers must check first.
    """
    import torch

    state = weights.state_dict() if isinstance(weights, torch.nn.Module) else dict(weights)
    if not getattr(neuron_model, SEPARATED_WEIGHTS, False):
        warnings.warn("the Neuron model does not contain any separated weights (it was traced with "
                      "inline_weights_to_neff=True); nothing was replaced", UserWarning, stacklevel=3)
        note(replaced=[])
        return None
    own = neuron_model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise KeyError(f"the Neuron model has no weights named {unknown[:5]}")
    with torch.no_grad():
        for name, value in state.items():
            own[name].copy_(value)  # the state_dict's tensors share the module's storage; copy_ refuses other shapes
    note(replaced=sorted(state))
    return None


@_recorded
def lazy_load(trace, enable_lazy_load=True):
    """``torch_neuronx.lazy_load(trace, enable_lazy_load=True)`` (SIMULATED: recorded and stored on the trace;
    the host trace has nothing to load). Doc: NSDK
    ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-async-lazy-load.rst``:
    "should be called immediately after torch_neuronx.trace returns, before saving the model via torch.jit.save".
    """
    _set_flag(trace, LAZY_LOAD, enable_lazy_load)


@_recorded
def async_load(trace, enable_async_load=True):
    """``torch_neuronx.async_load(trace, enable_async_load=True)`` (SIMULATED, as :func:`lazy_load`). Doc: NSDK
    ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-async-lazy-load.rst``."""
    _set_flag(trace, ASYNC_LOAD, enable_async_load)


class BucketModelConfig:
    """``torch_neuronx.BucketModelConfig(bucket_kernel, *_, shared_state_buffer=None,
    shared_state_buffer_preprocessor=None, func_kwargs=None)`` (SIMULATED: holds its arguments).

    Doc: NSDK ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-trace.rst``
    (Autobucketing). What the real class does with extra positional arguments (``*_``) is not documented:
    this simulation refuses them.
    """

    def __init__(self, bucket_kernel, *_, shared_state_buffer=None, shared_state_buffer_preprocessor=None,
                 func_kwargs=None):
        if _:
            raise TypeError("BucketModelConfig takes bucket_kernel positionally and the rest by keyword "
                            "(the simulation refuses what the documentation does not describe)")
        if not callable(bucket_kernel):
            raise TypeError(f"bucket_kernel must be a function returning a TorchScript function, not "
                            f"{type(bucket_kernel).__name__}")
        self.bucket_kernel = bucket_kernel
        self.shared_state_buffer = shared_state_buffer
        self.shared_state_buffer_preprocessor = shared_state_buffer_preprocessor
        self.func_kwargs = func_kwargs


@_recorded
def bucket_model_trace(func, example_inputs, bucket_config, compiler_workdir=None, compiler_args=None):
    """``torch_neuronx.bucket_model_trace(func, example_inputs, bucket_config, compiler_workdir=None,
    compiler_args=None)`` (SIMULATED): one host trace per bucket behind the bucket kernel, as one TorchScript.

    Doc: NSDK ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-trace.rst``
    (Autobucketing) and ``frameworks/torch/torch-neuronx/programming-guide/inference/autobucketing-dev-guide.rst``:
    ``func`` returns ``(model, input_output_aliases)``; ``example_inputs`` is a list, one input (a tensor
    or a tuple) per bucket; ``bucket_config.bucket_kernel()`` returns a TorchScript function (made with
    ``torch.jit.script``) taking the list of input tensors and returning ``(tensors, bucket index tensor)``.
    Not documented, so chosen here: ``func`` is called with no positional arguments (the guide's
    ``get_bert_model(*args)`` ignores them) and with ``func_kwargs`` as keywords; shared state buffers are
    not simulated (refused); the combined model takes at most 4 inputs (a limit of this simulation only).
    """
    import torch

    flags = check_neuronx_cc_args(compiler_args, SDK_RELEASE)
    if not isinstance(bucket_config, BucketModelConfig):
        raise TypeError(f"bucket_config must be a torch_neuronx.BucketModelConfig, not {type(bucket_config).__name__}")
    if bucket_config.shared_state_buffer is not None:
        raise NotImplementedError("the simulated torch_neuronx does not model shared state buffers")
    if not isinstance(example_inputs, list) or not example_inputs:
        raise TypeError("example_inputs must be a non-empty list: one input (a tensor or a tuple) per bucket")
    kernel = bucket_config.bucket_kernel()
    if not isinstance(kernel, torch.jit.ScriptFunction):
        raise TypeError(f"bucket_kernel() must return a TorchScript function (torch.jit.script), not "
                        f"{type(kernel).__name__}")
    per_bucket = bucket_config.func_kwargs
    if isinstance(per_bucket, list) and len(per_bucket) != len(example_inputs):
        raise ValueError(f"func_kwargs has {len(per_bucket)} dictionaries for {len(example_inputs)} buckets")
    traces, shapes = [], []
    for i, example in enumerate(example_inputs):
        examples = (example,) if isinstance(example, torch.Tensor) else tuple(example)
        if len(examples) > 4:
            raise NotImplementedError("the simulated bucket model takes at most 4 inputs")
        kwargs = (per_bucket[i] if isinstance(per_bucket, list) else per_bucket) or {}
        model, _aliases = func(**kwargs)
        traces.append(torch.jit.trace(_ListInputs(torch.jit.trace(model, examples)), (list(examples),)))
        shapes.append([list(t.shape) for t in examples])
    note(flags=vars(flags), buckets=shapes, compiler_workdir=compiler_workdir, compiler_args=compiler_args)
    return torch.jit.script(_Buckets(kernel, traces))


class _ListInputs(torch.nn.Module if torch else object):
    """One bucket's trace called with the list of tensors the bucket kernel returns."""

    def __init__(self, traced):
        super().__init__()
        self.traced = traced

    def forward(self, tensors: list[torch.Tensor]):
        return self.traced(*tensors)


class _Buckets(torch.nn.Module if torch else object):
    """The bucket model: the kernel picks the bucket (and may reshape the inputs), that bucket's trace runs."""

    def __init__(self, kernel, traces):
        super().__init__()
        self.kernel = kernel
        self.buckets = torch.nn.ModuleList(traces)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor | None = None, x2: torch.Tensor | None = None,
                x3: torch.Tensor | None = None):
        tensors: list[torch.Tensor] = [x0]
        for x in [x1, x2, x3]:
            if x is not None:
                tensors.append(x)
        chosen, index = self.kernel(tensors)
        bucket = int(index[0])
        for i, traced in enumerate(self.buckets):
            if i == bucket:
                return traced(chosen)
        raise RuntimeError("the bucket kernel returned an index past the last bucket")
