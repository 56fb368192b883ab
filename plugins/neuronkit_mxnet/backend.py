"""The mxnet Compiler and Replica: dispatch to cpu.py (host engines) or neuron.py (the MXNet Neuron SDK).

The core chose the engine (``request.engine``) and checked precision, options and pipelining; the
core's ``onnxruntime`` and ``openvino`` engines load with the core's replicas, so MxnetReplica
only loads the backend's own ``module`` engine and inf1 artifacts.
"""

from __future__ import annotations

from neuronkit import Compiler, Replica

from . import cpu, neuron
from .model import fingerprint, prepare


class MxnetCompiler(Compiler):
    def compile(self, model, request):
        if request.target.name == "inf1":
            sdk, module = neuron.find_sdk(request.options.get("sdk"))  # before the export: a missing SDK fails fast
            return neuron.compile_inf1(sdk, module, prepare(model, request), request)
        return cpu.COMPILERS[request.engine](prepare(model, request), request, request.dynamic_batch is not False)

    def fingerprint(self, model):
        return fingerprint(model)


class MxnetReplica(Replica):
    """One loaded copy of a ``module`` artifact, or of an inf1 one on its core group."""

    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        self._run = (cpu.load if artifact.target == "cpu" else neuron.load)(artifact, group)

    def run(self, inputs):
        return self._run(inputs)  # the core turns outputs into arrays

    def close(self):
        self._run = None
