"""The PyTorch backend: torch.nn.Module and TorchScript models on cpu, inf1 and inf2/trn1.

cpu engines: ``onnxruntime`` (the default for fp32, fastest measured here), ``openvino`` (the
default for bf16: AMX makes it ~4x faster), ``torchscript`` and ``inductor`` (AOTInductor).
inf1 calls ``torch.neuron.trace`` (torch-neuron, neuron-cc); inf2/trn1 call
``torch_neuronx.trace`` (neuronx-cc).
Nothing here imports torch: backend.py does, when it compiles or loads.
"""

import os
import sys

from neuronkit import BackendSpec, hookimpl


@hookimpl
def neuronkit_backends():
    return [
        BackendSpec(
            name="torch",
            framework="PyTorch",
            aliases=("pytorch",),
            compiler="neuronkit_torch.backend:TorchCompiler",
            replica="neuronkit_torch.backend:TorchReplica",
            targets=("cpu", "inf1", "inf2", "trn1"),
            engines=("onnxruntime", "openvino", "torchscript", "inductor"),
            precisions=("fp32", "bf16", "fp16"),
            capabilities={"dynamic_batch", "pipeline"},
            requires=("torch",),
            install_hint='pip install "neuronkit[torch]"',
            selftest="neuronkit_torch.backend:tiny_model",
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
