"""The host engines the core owns, declared as data: one module each, imported only when used.

A backend that can export its model to ONNX (or convert it with OpenVINO) gets both engines by
naming them in :attr:`neuronkit.BackendSpec.engines` and calling their ``finish`` step from its
compiler; loading is the core's (the engine's replica is chosen from the manifest), so a
backend writes no replica for them. Each module has:

- ``ENGINE``: its :class:`~neuronkit.types.EngineSpec` (requirements, precisions, any batch);
- ``finish(exported, request, ...)``: an exported model -> artifact files + ``CompileResult``;
- ``Replica``: one loaded copy on a core group (its size is the thread budget).

To add an engine: write such a module, add its ``ENGINE`` and replica path below, test it with
the ONNX backend (tests/core). docs/architecture.md walks through it.
"""

from __future__ import annotations

from ..types import EngineSpec

# int8 is post-training static quantization: ONNX Runtime's quantize_static (its pre-processing needs
# sympy) and OpenVINO through NNCF.
ONNXRUNTIME = EngineSpec("onnxruntime", precisions=("fp32", "int8"), requires=("onnx", "onnxruntime"),
                         install_hint='pip install "neuronkit[onnx]"',
                         precision_requires=(("int8", ("sympy",), 'pip install "neuronkit[onnx]" sympy'),))
OPENVINO = EngineSpec("openvino", precisions=("fp32", "bf16", "int8"), requires=("openvino",),
                      install_hint="pip install openvino",
                      precision_requires=(("int8", ("nncf",), 'pip install "neuronkit[int8]" (NNCF)'),))

HOST_ENGINES = {e.name: e for e in (ONNXRUNTIME, OPENVINO)}

#: Each core engine's replica, imported when an artifact of that engine is loaded.
REPLICAS = {"onnxruntime": "neuronkit.engines.onnxruntime:Replica",
            "openvino": "neuronkit.engines.openvino:Replica"}
