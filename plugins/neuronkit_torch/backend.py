"""The torch Compiler and Replica: dispatch to cpu.py (host engines), neuron.py (the Neuron SDK's
trace paths) or native.py (native TorchNeuron on trn2/trn3).

The core chose the engine (``request.engine``) and checked precision, options and pipelining; the
core's ``onnxruntime`` and ``openvino`` engines load with the core's replicas, so TorchReplica
only loads the backend's own engines and Neuron artifacts.
"""

from __future__ import annotations

from neuronkit import Compiler, Replica

from . import cpu, native, neuron
from .model import fingerprint, prepare, quiet_jit


class TorchCompiler(Compiler):
    def compile(self, model, request):
        with quiet_jit():
            m = prepare(model, request)
            target = request.target.name
            if target == "cpu":
                return cpu.COMPILERS[request.engine](m, request, request.dynamic_batch is not False)
            if target == "inf1":
                return neuron.compile_inf1(m, request)
            if request.engine == "native":
                return native.compile_native(m, request)
            native.import_stack(target, "trace")  # the package name covers two stacks: say which this needs
            return neuron.compile_neuronx(m, request)

    def fingerprint(self, model):
        return fingerprint(model)

    def replace_weights(self, artifact, weights, workdir):
        return neuron.replace_weights(artifact, weights, workdir)


class TorchReplica(Replica):
    """One loaded copy of a TorchScript/AOTInductor artifact, or of a Neuron one on its core group."""

    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        m = artifact.manifest
        if m.engine == "native":
            self._run = native.load(artifact, group)
            return
        if m.load.get("sdk") == native.MODULE:
            native.import_stack(m.target, "trace")
        with quiet_jit():
            self._run = (cpu.load if artifact.target == "cpu" else neuron.load)(artifact, group)

    def run(self, inputs):
        return self._run(inputs)

    def close(self):
        self._run = None
