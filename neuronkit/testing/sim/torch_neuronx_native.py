"""A SIMULATED native TorchNeuron (pip ``torch-neuronx`` 2.13+, module ``torch_neuronx``) for tests;
not the AWS Neuron SDK.

The same package name as the XLA torch-neuronx (:mod:`.torch_neuronx`), another stack: the version
tells them apart (neuron-sdk-2026.md §1), so this simulation installs as ``torch_neuronx`` too, with
a 2.14 version, and never together with the XLA one. What it stands in for (neuron-sdk-2026.md §2):

- a ``neuron`` device: ``model.to("neuron:N")`` and ``tensor.to("neuron:N")`` (RTD torchneuron.html,
  "move the model and its inputs to neuron"). Here they are recorded and leave the tensors on the
  host (stock PyTorch has no such device): ``install()`` wraps ``torch.Tensor.to`` and
  ``torch.nn.Module.to`` for device strings naming ``neuron``, and ``uninstall()`` restores them.
- the device module ``torch.neuron`` (``is_available``, ``device_count``, ``current_device``,
  ``set_device``, ``synchronize``, ``get_amp_supported_dtype``; from an unofficial source snapshot,
  [SNAP]). Its namesake, the Inf1 package's ``torch.neuron.trace``, is another thing: installing
  this while the simulated torch-neuron is installed fails, as the reference warns they clash.
- ``torch.compile(model, backend="neuron", fullgraph=True)`` (RTD how-to-optimize-with-torch-compile):
  compiled on the first call per input signature, on a Trainium2/3 device only; ``dynamic=True`` is
  refused; compiler flags come from ``NEURON_CC_FLAGS`` ([SNAP]), checked as neuronx-cc would;
  ``TORCH_NEURONX_DISABLE_FALLBACK_EXECUTION`` (default true, RTD env-vars.html; false in [SNAP])
  decides whether an operator it cannot compile raises or runs eagerly on the CPU.
- the NEFF cache: compiled graphs are written to ``TORCH_NEURONX_NEFF_CACHE_DIR`` (default
  ``/tmp/neff_cache``; both from [SNAP], UNCONFIRMED for 2.33) and a graph found there is not
  compiled again. The file names and contents here are the simulation's own.

Calls are recorded in :data:`calls` (the convention in :mod:`neuronkit.testing.sim`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from pathlib import Path

from . import check_neuronx_cc_args, note, recorder

SIMULATED = True
#: Neuron 2.33.0 ships TorchNeuron 2.13.3.0 and 2.14.3.0 (release-notes/components/torchneuron.html);
#: this one pairs with the PyTorch 2.14 the torch test environment installs
SDK_RELEASE = (2, 33)
__version__ = "2.14.3.0+simulated"
MODULE = "torch_neuronx"
DEVICE = "neuron"
FALLBACK_ENV = "TORCH_NEURONX_DISABLE_FALLBACK_EXECUTION"
NEFF_CACHE_ENV, NEFF_CACHE_DEFAULT = "TORCH_NEURONX_NEFF_CACHE_DIR", "/tmp/neff_cache"
#: Operators this simulation cannot compile (as the torch-neuron simulation leaves aten::sort on the CPU)
UNSUPPORTED = ("aten.sort",)
calls: list = []
_recorded = recorder(MODULE, calls)
_saved: dict = {}
_registered = False


class DeviceModule:
    """``torch.neuron`` of native TorchNeuron (SIMULATED; [SNAP] ``torch_neuronx/neuron.py``): the
    device count is the logical NeuronCores this process sees (the simulated runtime's)."""

    def __init__(self):
        self._current = 0

    def is_available(self) -> bool:
        return self.device_count() > 0

    def device_count(self) -> int:
        from neuronkit.targets import LOGICAL_KINDS, discover

        host = discover()
        return host.neuron_cores if host.core_kind in LOGICAL_KINDS else 0

    def current_device(self) -> int:
        return self._current

    def set_device(self, index: int) -> None:
        self._current = int(index)

    def synchronize(self, device=None) -> None:
        return None

    def get_amp_supported_dtype(self):
        import torch

        return [torch.float16, torch.bfloat16]


device_module = DeviceModule()


def install():
    import torch

    if isinstance(getattr(torch, "neuron", None), type(sys)) and hasattr(torch.neuron, "trace"):
        raise RuntimeError("torch.neuron is the Inf1 torch-neuron package here; native TorchNeuron's device "
                           "module clashes with it: use one of them per environment")
    global _registered
    if not _registered:  # dynamo refuses a second backend of one name; this one asks which simulation is in
        from torch._dynamo import register_backend

        register_backend(name=DEVICE)(_backend)
        _registered = True
    _saved.update(tensor_to=torch.Tensor.to, module_to=torch.nn.Module.to)
    torch.Tensor.to = _tensor_to
    torch.nn.Module.to = _module_to
    torch.neuron = device_module
    sys.modules["torch_neuronx"] = sys.modules[__name__]
    return sys.modules[__name__]


def uninstall() -> None:
    import torch

    if _saved:
        torch.Tensor.to, torch.nn.Module.to = _saved.pop("tensor_to"), _saved.pop("module_to")
    if getattr(torch, "neuron", None) is device_module:
        del torch.neuron
    if sys.modules.get("torch_neuronx") is sys.modules[__name__]:
        del sys.modules["torch_neuronx"]


def reset() -> None:
    calls.clear()


def _neuron_index(args, kwargs) -> int | None:
    """The core index of a ``.to("neuron:N")`` call (0 for ``"neuron"``), else None."""
    device = args[0] if args else kwargs.get("device")
    if not isinstance(device, str) or device.split(":")[0] != DEVICE:
        return None
    index = int(device.split(":")[1]) if ":" in device else device_module.current_device()
    if index >= device_module.device_count():
        raise RuntimeError(f"Neuron device {device!r} is not available: this process sees "
                           f"{device_module.device_count()} NeuronCore(s)")
    return index


def _tensor_to(self, *args, **kwargs):
    index = _neuron_index(args, kwargs)
    return _saved["tensor_to"](self, *args, **kwargs) if index is None else self


def _module_to(self, *args, **kwargs):
    index = _neuron_index(args, kwargs)
    if index is None:
        return _saved["module_to"](self, *args, **kwargs)
    calls.append({"module": MODULE, "function": "Module.to", "device": f"{DEVICE}:{index}",
                  "env": {k: v for k, v in os.environ.items() if k.startswith(("NEURON", "TORCH_NEURONX"))}})
    return self


@_recorded(name="torch.compile(backend='neuron')")
def _compile(gm, example_inputs):
    import torch

    if sys.modules.get("torch_neuronx") is not sys.modules[__name__]:
        raise RuntimeError("the 'neuron' backend needs torch_neuronx (the simulation is not installed)")
    shapes = [n.meta.get("example_value") for n in gm.graph.nodes if n.op == "placeholder"]
    if any(isinstance(x, torch.SymInt) for x in example_inputs) or any(
            isinstance(d, torch.SymInt) for x in shapes if isinstance(x, torch.Tensor) for d in x.shape):
        raise RuntimeError("dynamic=True is not supported by the neuron backend: compile with dynamic=False; "
                           "a new input shape compiles a new graph")
    if not device_module.is_available():
        raise RuntimeError("the neuron backend compiles on a Trainium2/Trainium3 device; none is visible")
    flags = os.environ.get("NEURON_CC_FLAGS", "")
    check_neuronx_cc_args(flags, SDK_RELEASE)
    ops = sorted({str(n.target) for n in gm.graph.nodes if n.op == "call_function"})
    unsupported = [op for op in ops if op.startswith(UNSUPPORTED)]
    fallback_disabled = os.environ.get(FALLBACK_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
    note(fullgraph_ops=ops, unsupported=unsupported, fallback_disabled=fallback_disabled,
         torch_env={k: v for k, v in os.environ.items() if k.startswith("TORCH_NEURONX")})
    if unsupported:
        if fallback_disabled:
            raise RuntimeError(f"neuronx-cc could not compile {', '.join(unsupported)} "
                               f"({FALLBACK_ENV}=1: no fallback to eager execution on the CPU)")
        warnings.warn(f"compilation failed for {', '.join(unsupported)}; running eagerly on the CPU", RuntimeWarning,
                      stacklevel=2)
        return gm.forward
    signature = [(tuple(x.shape), str(x.dtype)) for x in example_inputs if isinstance(x, torch.Tensor)]
    key = hashlib.sha256(repr((gm.code, signature, flags)).encode()).hexdigest()[:32]
    cache = Path(os.environ.get(NEFF_CACHE_ENV) or NEFF_CACHE_DEFAULT)
    neff = cache / f"{key}.neff"
    note(neff_cache=str(cache), cache_hit=neff.is_file())
    if not neff.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        neff.write_bytes(b"SIMULATED NEFF (neuronkit.testing.sim): not a Neuron binary\n" + key.encode())
    return gm.forward


def _backend(gm, example_inputs, **kwargs):
    """The dynamo backend registered as ``"neuron"`` (native TorchNeuron registers one of that name)."""
    return _compile(gm, example_inputs)
