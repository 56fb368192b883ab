"""The ONNX backend: ONNX models on the cpu target through ONNX Runtime.

Registered through the ``neuronkit`` entry point exactly as a third-party backend would be.
Nothing here imports onnx or onnxruntime; backend.py does, when it compiles or loads.
"""

import os
import sys

from neuronkit import BackendSpec, hookimpl


@hookimpl
def neuronkit_backends():
    return [
        BackendSpec(
            name="onnx",
            framework="ONNX",
            compiler="neuronkit_onnx.backend:OnnxCompiler",
            replica="neuronkit_onnx.backend:OnnxReplica",
            targets=("cpu",),
            engines=("onnxruntime",),
            precisions=("fp32",),
            capabilities={"dynamic_batch"},
            requires=("onnx", "onnxruntime"),
            install_hint='pip install "neuronkit[onnx]"',
            selftest="neuronkit_onnx.backend:tiny_model",
            model_files="ONNX files (.onnx)",
        )
    ]


@hookimpl
def neuronkit_claim_model(model):
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(model, onnx.ModelProto):
        return "onnx"
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".onnx"):
        return "onnx"
    return None
