"""A SIMULATED ``mxnet.contrib.neuron`` (MXNet 1.5, mxnet-neuron) for tests; not the AWS Neuron SDK.

Documented API (neuron-sdk-reference.md §3.1): ``compile(sym, args, aux, inputs, **compile_args)``
for Symbols only, ``compile_args`` keys ``'--neuroncore-pipeline-cores'``, ``'flags'`` and
``'excl_node_names'``; returns ``(sym, args, aux)``. MXNet 1.5 runs only on Neuron runtime 1.x
(``neuron-rtd``, ``NEURONCORE_GROUP_SIZES``), where ``ctx=mx.neuron(i)`` selects core group ``i``.
Everything else (subgraph marking, ``mx.neuron``, recorded calls, which go into the same
``calls`` list as :mod:`neuronkit.testing.sim.mx_neuron`'s) is shared with that simulation; see
its docs for what is simulated and how.
"""

from __future__ import annotations

import sys

from .mx_neuron import _install_context, _uninstall_context, calls, compile_symbol, neuron, reset  # noqa: F401

SIMULATED = True
__version__ = "1.5.1.1.5.12.0+simulated"
COMPILE_KEYS = ("--neuroncore-pipeline-cores", "flags", "excl_node_names")


def compile(sym, args, aux, inputs, **compile_args):  # noqa: A001 - the SDK's name
    """Partition a Symbol for Neuron (simulated: the host graph, marked)."""
    import mxnet as mx

    if not isinstance(sym, mx.sym.Symbol):
        raise TypeError(f"mxnet.contrib.neuron.compile takes a Symbol, not {type(sym).__name__} "
                        f"(MXNet 1.5 has no Gluon support for Neuron)")
    return compile_symbol(sym, args, aux, inputs, compile_args, COMPILE_KEYS, "mxnet.contrib.neuron")


def install():
    """Make this simulation importable as ``mxnet.contrib.neuron`` and give mxnet its ``mx.neuron()``."""
    import mxnet.contrib

    module = sys.modules[__name__]
    sys.modules["mxnet.contrib.neuron"] = module
    mxnet.contrib.neuron = module
    _install_context()
    return module


def uninstall() -> None:
    import mxnet.contrib

    if sys.modules.get("mxnet.contrib.neuron") is sys.modules[__name__]:
        del sys.modules["mxnet.contrib.neuron"]
    if getattr(mxnet.contrib, "neuron", None) is sys.modules[__name__]:
        del mxnet.contrib.neuron
    _uninstall_context()
