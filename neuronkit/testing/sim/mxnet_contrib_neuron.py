"""A SIMULATED ``mxnet.contrib.neuron`` (MXNet 1.5, mxnet-neuron) for tests; not the AWS Neuron SDK.

Documented API: ``compile(sym, args, aux, inputs, **compile_args)``
for Symbols only, ``compile_args`` keys ``'flags'``, ``'excl_node_names'`` and neuron-cc options
(``'--neuroncore-pipeline-cores': N``, ``'--verbose': 2``...); returns ``(sym, args, aux)``. MXNet
1.5 runs only on Neuron runtime 1.x (``neuron-rtd``, ``NEURONCORE_GROUP_SIZES``), where
``ctx=mx.neuron(i)`` selects core group ``i``. Calls are recorded in this module's :data:`calls`
(the convention in :mod:`neuronkit.testing.sim`). Everything else (subgraph marking,
``mx.neuron``) is shared with :mod:`neuronkit.testing.sim.mx_neuron`; see its docs for what is
simulated and how.
"""

from __future__ import annotations

import sys

from . import recorder
from .mx_neuron import SUBGRAPH_MARK, _install_context, _uninstall_context, compile_symbol, neuron  # noqa: F401

SIMULATED = True
__version__ = "1.5.1.1.5.12.0+simulated"
MODULE = "mxnet.contrib.neuron"
calls: list = []
_recorded = recorder(MODULE, calls)
#: compile_args keys that are not neuron-cc options ('--...' keys are)
COMPILE_KEYS = ("flags", "excl_node_names")


def reset() -> None:
    calls.clear()


@_recorded
def compile(sym, args, aux, inputs, **compile_args):  # noqa: A001 - the SDK's name
    """Partition a Symbol for Neuron (simulated: the host graph, marked).

    Doc: NSDK ``archive/mxnet-neuron/api-compilation-python-api.rst`` (MXNet 1.5); neuron-cc options
    as keys: NSDK ``archive/helper-tools/tutorial-neuron-gatherinfo.rst``.
    """
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
    _install_context(calls)
    return module


def uninstall() -> None:
    import mxnet.contrib

    if sys.modules.get("mxnet.contrib.neuron") is sys.modules[__name__]:
        del sys.modules["mxnet.contrib.neuron"]
    if getattr(mxnet.contrib, "neuron", None) is sys.modules[__name__]:
        del mxnet.contrib.neuron
    _uninstall_context(calls)
