"""The PyTorch backend: torch.nn.Module and TorchScript models on cpu, inf1, inf2/trn1 and trn2/trn3.

cpu engines, in order of preference: the core's ``onnxruntime`` (fp32; the fastest measured) and
``openvino`` (fp32, bf16: AMX makes bf16 ~4x faster), and the backend's own ``torchscript`` and
``inductor`` (AOTInductor). inf1 calls ``torch.neuron.trace`` (torch-neuron, neuron-cc); inf2/trn1
``torch_neuronx.trace`` (neuronx-cc); trn2 that too (``engine="trace"``, the default) or native
TorchNeuron (``engine="native"``), trn3 native TorchNeuron only. See docs/neuron-hardware.md.
Nothing here imports torch: backend.py and the modules it dispatches to do, when they compile or load.
"""

import os
import sys

import numpy as np

from neuronkit import BackendSpec, EngineSpec, Option, hookimpl

TORCHSCRIPT = EngineSpec("torchscript", ("fp32",), ("torch",), 'pip install "neuronkit[torch]"')
NEURONX = ("inf2", "trn1", "trn2")   # torch_neuronx's targets
INDUCTOR = EngineSpec("inductor", ("fp32",), ("torch",), 'pip install "neuronkit[torch]"')
#: The two ways to trn2, both in the pip package torch-neuronx (told apart by its version): XLA's
#: torch_neuronx.trace (2.9, ahead of time, fp8 through neuronx-cc) and native TorchNeuron (2.13+:
#: torch.compile(backend="neuron") on the device; fixed shapes, dynamic=True is unsupported)
TRACE = EngineSpec("trace", ("fp32", "bf16", "fp16", "fp8"), ("torch",), any_batch=True)
NATIVE = EngineSpec("native", ("fp32", "bf16", "fp16"), ("torch",), any_batch=False)


@hookimpl
def neuronkit_backends():
    return [
        BackendSpec(
            name="torch",
            framework="PyTorch",
            aliases=("pytorch",),
            compiler="neuronkit_torch.backend:TorchCompiler",
            replica="neuronkit_torch.backend:TorchReplica",
            targets=("cpu", "inf1", "inf2", "trn1", "trn2", "trn3"),
            engines=("onnxruntime", "openvino", TORCHSCRIPT, INDUCTOR),
            precisions=("fp32", "bf16", "fp16", "fp8"),
            neuron_engines={"trn2": (TRACE, NATIVE), "trn3": (NATIVE,)},
            capabilities={"dynamic_batch", "pipeline"},
            requires=("torch",),
            install_hint='pip install "neuronkit[torch]"',
            selftest="neuronkit_torch:tiny_model",
            model_files="TorchScript files (.pt, .pth, .torchscript; give example inputs)",
            compile_options=(
                Option("inline_weights", bool, True, "False: weights outside the NEFF (torch_neuronx.trace "
                       "inline_weights_to_neff=False), replaceable with neuronkit.replace_weights", NEURONX),
                Option("lazy_load", bool, False, "torch_neuronx.lazy_load before saving: torch.jit.load leaves the "
                       "model off the cores until DataParallel places it", NEURONX),
                Option("async_load", bool, False, "torch_neuronx.async_load before saving: loading onto the cores "
                       "runs in the background", NEURONX),
                Option("shapes", (list, tuple), None, "buckets for torch_neuronx.bucket_model_trace: each the "
                       "input shape(s); the runtime pads to the smallest that fits", NEURONX),
            ),
        )
    ]


@hookimpl
def neuronkit_claim_model(model):
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith((".pt", ".pth", ".torchscript")):
        return "torch"
    return None


def tiny_model():
    """A small convolutional model and an example input, for ``neuronkit selftest``."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4)).eval()
    return model, (np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32),)
