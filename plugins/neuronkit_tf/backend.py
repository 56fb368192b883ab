"""The tf backend's compiler and replica: dispatch to :mod:`.cpu` (host engines) or :mod:`.neuron` (the Neuron SDK).

The core chose the engine (``request.engine``) and checked precision, options and pipelining;
artifacts of the core's ``openvino`` engine load with the core's replica, never with :class:`TfReplica`.
"""

from __future__ import annotations

import os

from neuronkit import Compiler, Replica

from . import cpu, neuron
from .model import fingerprint, import_tf


class TfCompiler(Compiler):
    def compile(self, model, request):
        tf = import_tf()
        if request.target.is_neuron:
            return neuron.compile_neuron(tf, model, request)
        return cpu.COMPILERS[request.engine](tf, model, request)

    def fingerprint(self, model):
        return fingerprint(model)


class TfReplica(Replica):
    """One loaded SavedModel. TensorFlow is not fork-safe with the Neuron runtime, so every replica
    of a Runtime lives in this process: one load per core group."""

    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        tf = import_tf()
        if artifact.manifest.target == "cpu":
            self._signature = cpu.load(tf, artifact)
        else:
            self._signature = neuron.load(tf, artifact)
            self.neuron_env = {k: v for k, v in os.environ.items() if k.startswith("NEURON")}

    def run(self, inputs):
        return self._signature(inputs)

    def close(self):
        self._signature.close()
