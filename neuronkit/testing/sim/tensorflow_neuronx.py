"""A SIMULATED tensorflow-neuronx (``tensorflow_neuronx``) for tests: inf2/trn1, neuronx-cc.

**Not** the AWS Neuron SDK; nothing runs on Inferentia2 or Trainium. ``trace(func, example_inputs,
subgraph_builder_function=None)`` has the same contract as tensorflow-neuron's ``tfn.trace``
(the documents each function below cites): compiler flags come only from ``NEURON_CC_FLAGS``; the special
flags ``--workdir``, ``--dynamic-batch-size`` and ``--extract-weights`` are the package's own, the
rest is validated as the ``neuronx-cc compile`` of :data:`SDK_RELEASE` would. The returned model
runs the frozen traced graph on the host and carries ``.on_neuron_ratio``. Calls are recorded in
this module's :data:`calls` (the convention in :mod:`neuronkit.testing.sim`). It reuses the
machinery of :mod:`neuronkit.testing.sim.tensorflow_neuron`.
"""

from __future__ import annotations

import sys

from . import check_neuronx_cc_args, note, recorder
from . import tensorflow_neuron as _tfn
from .tensorflow_neuron import SimulatedCompilerError, build_model  # noqa: F401

SIMULATED = True
#: the Neuron SDK release this simulates, which decides neuronx-cc's defaults (NSDK
#: src/helperscripts/n2-manifest.json: tensorflow-neuronx 2.10.1.2.1.0 shipped from 2.21 to 2.28)
SDK_RELEASE = (2, 21)
__version__ = "2.10.1.2.1.0+simulated"
MODULE = "tensorflow_neuronx"
MODULE_NAMES = ("tensorflow_neuronx",)
calls: list = []
_recorded = recorder(MODULE, calls)


def install():
    module = sys.modules[__name__]
    for name in MODULE_NAMES:
        sys.modules[name] = module
    return module


def uninstall() -> None:
    for name in MODULE_NAMES:
        if sys.modules.get(name) is sys.modules[__name__]:
            del sys.modules[name]
    reset()


def reset() -> None:
    calls.clear()


@_recorded
def trace(func, example_inputs, subgraph_builder_function=None):
    """``tensorflow_neuronx.trace``: compile ``func`` for NeuronCore-v2 (SIMULATED).

    Doc: NSDK ``archive/tensorflow/tensorflow-neuronx/tfneuronx-python-tracing-api.rst``, including
    its "Special Flags" (``--workdir``, ``--dynamic-batch-size``, ``--extract-weights`` for trn1 and
    inf2 instance types). NEURON_CC_FLAGS is split by the parser tensorflow-neuron shares (TFSRC
    ``python/utils.py``); neuronx-cc has no ``--neuroncore-pipeline-cores``.
    """
    tfnx_args, compiler_args = _tfn.parse_neuron_cc_flags()
    _tfn.check_extract_weights(tfnx_args, ("trn1", "inf2"), "tensorflow_neuronx")
    if tfnx_args.neuroncore_pipeline_cores is not None:
        raise SimulatedCompilerError("neuronx-cc compile: error: unrecognized arguments: --neuroncore-pipeline-cores")
    cc = check_neuronx_cc_args(["--framework", "XLA", *compiler_args], SDK_RELEASE)
    entry = note(tfn_args=vars(tfnx_args), compiler_args=compiler_args, neuronx_cc=vars(cc))
    _tfn._write_workdir(tfnx_args.dump_prefix, entry)
    model = build_model(func, example_inputs, subgraph_builder_function, tfnx_args.dynamic_batch_size,
                        {"target": cc.target, "auto_cast": cc.auto_cast, "auto_cast_type": cc.auto_cast_type,
                         "dynamic_batch_size": tfnx_args.dynamic_batch_size,
                         "extract_weights": tfnx_args.extract_weights})
    note(on_neuron_ratio=model.on_neuron_ratio)
    return model
