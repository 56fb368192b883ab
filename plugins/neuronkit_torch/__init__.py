"""The PyTorch backend: torch.nn.Module and TorchScript models on cpu, inf1 and inf2/trn1.

cpu engines, in order of preference: the core's ``onnxruntime`` (fp32; the fastest measured) and
``openvino`` (fp32, bf16: AMX makes bf16 ~4x faster), and the backend's own ``torchscript`` and
``inductor`` (AOTInductor). inf1 calls ``torch.neuron.trace`` (torch-neuron, neuron-cc); inf2/trn1
``torch_neuronx.trace`` (neuronx-cc). See docs/backends/torch.md.
Nothing here imports torch: backend.py and the modules it dispatches to do, when they compile or load.
"""

import os
import sys

import numpy as np

from neuronkit import BackendSpec, EngineSpec, hookimpl

TORCHSCRIPT = EngineSpec("torchscript", ("fp32",), ("torch",), 'pip install "neuronkit[torch]"')
INDUCTOR = EngineSpec("inductor", ("fp32",), ("torch",), 'pip install "neuronkit[torch]"')


@hookimpl
def neuronkit_backends():
    return [
        BackendSpec(
            name="torch",
            framework="PyTorch",
            aliases=("pytorch",),
            compiler="neuronkit_torch.backend:TorchCompiler",
            replica="neuronkit_torch.backend:TorchReplica",
            targets=("cpu", "inf1", "inf2", "trn1", "trn2"),
            engines=("onnxruntime", "openvino", TORCHSCRIPT, INDUCTOR),
            precisions=("fp32", "bf16", "fp16"),
            capabilities={"dynamic_batch", "pipeline"},
            requires=("torch",),
            install_hint='pip install "neuronkit[torch]"',
            selftest="neuronkit_torch:tiny_model",
            model_files="TorchScript files (.pt, .pth, .torchscript; give example inputs)",
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
