"""A SIMULATED tensorflow-neuronx (``tensorflow_neuronx``) for tests: inf2/trn1, neuronx-cc.

**Not** the AWS Neuron SDK; nothing runs on Inferentia2 or Trainium. ``trace(func, example_inputs,
subgraph_builder_function=None)`` has the same contract as tensorflow-neuron's ``tfn.trace``
(neuron-sdk-reference.md §7.2): compiler flags come only from ``NEURON_CC_FLAGS``, are validated
as ``neuronx-cc compile`` would (§7.3), and the call is recorded with the ``NEURON_*`` environment.
The returned model runs the frozen traced graph on the host and carries ``.on_neuron_ratio``.
It reuses the machinery of :mod:`neuronkit.testing.sim.tensorflow_neuron` (and shares its
``calls`` list, so one test sees every simulated Neuron call in order).
"""

from __future__ import annotations

import shlex
import sys

from . import _Parser, check_neuronx_cc_args
from . import tensorflow_neuron as _tfn
from .tensorflow_neuron import SimulatedCompilerError, build_model, calls, record  # noqa: F401

SIMULATED = True
__version__ = "2.10.0.2.0.0+simulated"
MODULE_NAMES = ("tensorflow_neuronx",)


def install():
    module = sys.modules[__name__]
    for name in MODULE_NAMES:
        sys.modules[name] = module
    return module


def uninstall() -> None:
    for name in MODULE_NAMES:
        if sys.modules.get(name) is sys.modules[__name__]:
            del sys.modules[name]
    _tfn.reset()


def parse_neuron_cc_flags():
    import os

    parser = _Parser(prog="NEURON_CC_FLAGS")
    parser.add_argument("--workdir", dest="dump_prefix", default=None)
    tfnx_args, compiler_args = parser.parse_known_args(shlex.split(os.environ.get("NEURON_CC_FLAGS", "")))
    return tfnx_args, compiler_args


def trace(func, example_inputs, subgraph_builder_function=None):
    """tensorflow_neuronx.trace: compile ``func`` for NeuronCore-v2 (SIMULATED)."""
    entry = record("neuronx.trace", (func, example_inputs), {"subgraph_builder_function": subgraph_builder_function})
    tfnx_args, compiler_args = parse_neuron_cc_flags()
    cc = check_neuronx_cc_args(compiler_args)
    entry.update(tfn_args=vars(tfnx_args), compiler_args=compiler_args, neuronx_cc=vars(cc))
    _tfn._write_workdir(tfnx_args.dump_prefix, entry)
    model = build_model(func, example_inputs, subgraph_builder_function, False,
                        {"target": cc.target, "auto_cast": cc.auto_cast, "auto_cast_type": cc.auto_cast_type})
    entry["on_neuron_ratio"] = model.on_neuron_ratio
    return model
