"""A SIMULATED mx_neuron (MXNet 1.8) and ``mxnet.contrib.neuron`` (MXNet 1.5) for tests; not the
AWS Neuron SDK. Documented API (neuron-sdk-reference.md §3): ``compile(obj, args=None, aux=None,
inputs=None, **compile_args)`` with the compile_args keys ``--neuroncore-pipeline-cores``,
``flags``, ``excl_node_names``, ``force_incl_node_names`` and ``work_dir``; the ``mx.neuron(i)``
context. The real compile returns a graph with ``_neuron_subgraph_op`` nodes that only a
NeuronCore runs; this one returns the graph unchanged (so it runs on the host and reports no
operator on Neuron), after validating the neuron-cc flags and recording the call.
"""

from __future__ import annotations

import sys
import types

from . import check_neuron_cc_args, neuron_env

SIMULATED = True
__version__ = "1.8.0.2.4.40.0+simulated"
calls: list = []
COMPILE_ARGS = {"--neuroncore-pipeline-cores", "flags", "excl_node_names", "force_incl_node_names", "work_dir"}


def _compile(api, obj, args=None, aux=None, inputs=None, **compile_args):
    unknown = set(compile_args) - COMPILE_ARGS
    if unknown:
        raise ValueError(f"unknown compile_args {sorted(unknown)}; expected some of {sorted(COMPILE_ARGS)}")
    flags = list(compile_args.get("flags", ()))
    if "--neuroncore-pipeline-cores" in compile_args:
        flags += ["--neuroncore-pipeline-cores", str(compile_args["--neuroncore-pipeline-cores"])]
    check_neuron_cc_args(flags)
    calls.append({"function": "compile", "api": api, "compile_args": compile_args, "env": neuron_env(),
                  "inputs": {k: tuple(v.shape) for k, v in (inputs or {}).items()}})
    import mxnet as mx

    if isinstance(obj, mx.gluon.HybridBlock):
        return obj
    return obj, args, aux


def compile(obj, args=None, aux=None, inputs=None, **compile_args):  # noqa: A001 - the SDK's name
    return _compile("mx_neuron", obj, args, aux, inputs, **compile_args)


def neuron(device_id=0):
    """``mx.neuron(i)``: recorded, and run on the host CPU."""
    import mxnet as mx

    calls.append({"function": "neuron", "device_id": device_id, "env": neuron_env()})
    return mx.cpu()


#: ``mxnet.contrib.neuron`` of MXNet 1.5: ``compile(sym, args, aux, inputs, **compile_args)``.
contrib = types.ModuleType("mxnet.contrib.neuron")
contrib.compile = lambda sym, args, aux, inputs, **compile_args: _compile("mxnet.contrib.neuron", sym, args, aux,
                                                                         inputs, **compile_args)
contrib.SIMULATED = True


def install(api: str = "mx_neuron"):
    """Make the simulation importable: as ``mx_neuron`` (MXNet 1.8) or ``mxnet.contrib.neuron`` (1.5)."""
    import mxnet as mx

    if api == "mx_neuron":
        sys.modules["mx_neuron"] = sys.modules[__name__]
    else:
        sys.modules["mxnet.contrib.neuron"] = contrib
    mx.neuron = neuron
    return sys.modules[__name__]


def uninstall() -> None:
    import mxnet as mx

    sys.modules.pop("mx_neuron", None)
    sys.modules.pop("mxnet.contrib.neuron", None)
    if getattr(mx, "neuron", None) is neuron:
        del mx.neuron


def reset() -> None:
    calls.clear()
