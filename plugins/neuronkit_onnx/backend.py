"""Compile an ONNX model: the core's ONNX Runtime engine does all of it (check, batch, optimise, load)."""

from __future__ import annotations

from neuronkit import Compiler
from neuronkit.engines import onnxruntime


class OnnxCompiler(Compiler):
    def compile(self, model, request):
        return onnxruntime.finish(model, request)

    def fingerprint(self, model):
        return model.SerializeToString(deterministic=True) if hasattr(model, "SerializeToString") else None
