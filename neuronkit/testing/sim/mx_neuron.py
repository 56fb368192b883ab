"""A SIMULATED MXNet 1.8 Neuron integration (``mx_neuron``) for tests; not the AWS Neuron SDK.

Nothing here runs on Inferentia. Its MXNet 1.5 sibling is
:mod:`neuronkit.testing.sim.mxnet_contrib_neuron` (``mxnet.contrib.neuron``).

Documented API (neuron-sdk-reference.md §3.2-3.4):

- ``compile(obj, args=None, aux=None, inputs=None, **compile_args)``: ``obj`` is a Symbol (returns
  ``(sym, args, aux)``) or a ``gluon.HybridBlock`` (returns the partitioned block);
  ``compile_args`` keys ``'--neuroncore-pipeline-cores'``, ``'flags'``, ``'excl_node_names'``,
  ``'work_dir'``, ``'force_incl_node_names'``.
- ``mx.neuron(i)``: the context a compiled symbol binds to. Under Neuron runtime 2.x ("FlexEG",
  no ``NEURONCORE_GROUP_SIZES``) ``i`` is the first NeuronCore the model takes; under runtime 1.x
  (``NEURONCORE_GROUP_SIZES`` set) it is the index of a core group.

What is simulated, and how:

- The real compile replaces the parts neuron-cc supports by nodes whose op is
  ``_neuron_subgraph_op`` (each holding its subgraph). Such a graph cannot run without the SDK, so
  this simulation **keeps the host graph** and marks every node the real one would have moved
  into a subgraph with the attribute :data:`SUBGRAPH_MARK` (the value is the subgraph's index).
  ``neuronkit_mxnet`` counts both forms. Operator support is illustrative: ops in
  :data:`UNSUPPORTED_OPS` and nodes named in ``excl_node_names`` stay on the CPU (unless named in
  ``force_incl_node_names``); consecutive supported nodes form one subgraph.
- ``flags`` and ``'--neuroncore-pipeline-cores'`` are checked the way ``neuron-cc compile`` parses
  them; an unknown ``compile_args`` key raises ``ValueError`` (the real one's message is not
  documented). Numerics are the host's fp32: casting flags are validated and recorded only.
- ``mx.neuron(i)`` returns ``mx.cpu(0)`` and records ``i``; it raises ``MXNetError`` with the
  documented "Neuron-RTD Status Code: 9" message when core ``i`` / group ``i`` does not exist, and
  when both ``NEURONCORE_GROUP_SIZES`` and ``NEURON_RT_VISIBLE_CORES``/``NEURON_RT_NUM_CORES`` are
  set (the reference says never to set both for MXNet; refusing is this simulation's choice).
- Every call is recorded in :data:`calls` with the ``NEURON*`` environment it saw.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import warnings

from . import check_neuron_cc_args, neuron_env, visible_core_count

SIMULATED = True
__version__ = "1.8.0.2.4.147.0+simulated"
calls: list = []
#: the attribute this simulation puts on nodes the real compile would move into a Neuron subgraph
SUBGRAPH_MARK = "__neuron_sim_subgraph__"
#: operators the simulated neuron-cc leaves on the CPU (illustrative, not the real list)
UNSUPPORTED_OPS = {"argsort", "sort", "topk", "_contrib_box_nms", "_contrib_MultiBoxDetection", "where"}
COMPILE_KEYS = ("--neuroncore-pipeline-cores", "flags", "excl_node_names", "work_dir", "force_incl_node_names")

_installed_neuron: list = []


def install():
    """Make this simulation importable as ``mx_neuron`` and give mxnet its ``mx.neuron()``."""
    module = sys.modules[__name__]
    sys.modules["mx_neuron"] = module
    _install_context()
    return module


def uninstall() -> None:
    if sys.modules.get("mx_neuron") is sys.modules[__name__]:
        del sys.modules["mx_neuron"]
    _uninstall_context()


def reset() -> None:
    calls.clear()


def _install_context() -> None:
    import mxnet

    if getattr(mxnet, "neuron", None) is not neuron:
        mxnet.neuron = neuron
    _installed_neuron.append(True)


def _uninstall_context() -> None:
    import mxnet

    if _installed_neuron:
        _installed_neuron.pop()
    if not _installed_neuron and getattr(mxnet, "neuron", None) is neuron:
        del mxnet.neuron


def _record(function: str, **details) -> dict:
    entry = {"function": function, "env": neuron_env(), **details}
    calls.append(entry)
    return entry


# -- compile

def compile(obj, args=None, aux=None, inputs=None, **compile_args):  # noqa: A001 - the SDK's name
    """Partition ``obj`` for Neuron (simulated: the host graph, marked; see the module docs)."""
    import mxnet as mx

    if isinstance(obj, mx.gluon.HybridBlock):
        if args is not None or aux is not None:
            raise ValueError("args and aux are only for a Symbol; a HybridBlock carries its parameters")
        return _compile_block(obj, inputs, compile_args)
    if not isinstance(obj, mx.sym.Symbol):
        raise TypeError(f"compile takes a Symbol or a gluon.HybridBlock, not {type(obj).__name__}")
    return compile_symbol(obj, args, aux, inputs, compile_args, COMPILE_KEYS, "mx_neuron")


def compile_symbol(sym, args, aux, inputs, compile_args, allowed, api):
    """The shared Symbol path (also ``mxnet.contrib.neuron.compile`` in the 1.5 simulation)."""
    options = _check_compile_args(compile_args, allowed)
    flags = vars(check_neuron_cc_args(_cc_args(options)))
    args, aux = dict(args or {}), dict(aux or {})
    if not isinstance(inputs, dict) or not inputs:
        raise ValueError("inputs must be a dict {input_name: NDArray} naming every input of the symbol")
    free = [n for n in sym.list_arguments() if n not in args] + [n for n in sym.list_auxiliary_states()
                                                                   if n not in aux]
    missing = [n for n in free if n not in inputs]
    unknown = [n for n in inputs if n not in free]
    if missing or unknown:
        raise ValueError(f"inputs {sorted(inputs)} do not match the symbol's free arguments {free}")
    shapes = {name: tuple(array.shape) for name, array in inputs.items()}
    sym.infer_shape(**shapes)  # raises MXNetError on a shape the graph cannot take, as neuron-cc would fail
    marked, subgraphs, on_cpu = _mark(sym, options)
    _record("compile", api=api, kind="symbol", compile_args=options, flags=flags, inputs=shapes,
            subgraphs=subgraphs, on_cpu=on_cpu)
    return marked, {k: v.copy() for k, v in args.items()}, {k: v.copy() for k, v in aux.items()}


def _compile_block(block, inputs, compile_args):
    import mxnet as mx

    options = _check_compile_args(compile_args, COMPILE_KEYS)
    flags = vars(check_neuron_cc_args(_cc_args(options)))
    if not isinstance(inputs, dict) or not inputs:
        raise ValueError("inputs must be a dict {input_name: NDArray}")
    if not block._active:
        block.hybridize()
    block(*inputs.values())  # builds the cached graph the export below reads
    with tempfile.TemporaryDirectory(prefix="sim-mx-neuron-") as tmp:
        prefix = os.path.join(tmp, "block")
        block.export(prefix, 0)
        sym, _, _ = mx.model.load_checkpoint(prefix, 0)
        marked, subgraphs, on_cpu = _mark(sym, options)
        marked.save(f"{prefix}-symbol.json")
        names = [n for n in marked.list_inputs() if n in inputs]
        if sorted(names) != sorted(inputs):
            raise ValueError(f"inputs {sorted(inputs)} do not match the block's inputs {names}")
        with warnings.catch_warnings():  # "Cannot decide type for the following arguments": the inputs, known
            warnings.simplefilter("ignore", UserWarning)
            compiled = mx.gluon.SymbolBlock.imports(f"{prefix}-symbol.json", list(inputs),
                                                    f"{prefix}-0000.params", ctx=mx.cpu())
    compiled.hybridize()
    compiled(*inputs.values())  # the block comes back ready to export, as the tutorial uses it
    _record("compile", api="mx_neuron", kind="gluon", compile_args=options, flags=flags,
            inputs={k: tuple(v.shape) for k, v in inputs.items()}, subgraphs=subgraphs, on_cpu=on_cpu)
    return compiled


def _check_compile_args(compile_args: dict, allowed) -> dict:
    unknown = sorted(set(compile_args) - set(allowed))
    if unknown:
        raise ValueError(f"unknown compile_args {unknown}; this SDK takes {list(allowed)}")
    options = dict(compile_args)
    for key in ("flags", "excl_node_names", "force_incl_node_names"):
        if key in options and not isinstance(options[key], (list, tuple)):
            raise TypeError(f"compile_args[{key!r}] must be a list of strings, not {type(options[key]).__name__}")
    return options


def _cc_args(options: dict) -> list:
    args = list(options.get("flags", ()))
    if "--neuroncore-pipeline-cores" in options:
        args += ["--neuroncore-pipeline-cores", str(options["--neuroncore-pipeline-cores"])]
    return args


def _mark(sym, options):
    """The host graph with the would-be Neuron nodes marked; (symbol, subgraph count, CPU op names)."""
    import mxnet as mx

    graph = json.loads(sym.tojson())
    excluded = set(options.get("excl_node_names", ()))
    forced = set(options.get("force_incl_node_names", ()))
    subgraph, open_run, on_cpu = -1, False, []
    for node in graph["nodes"]:
        if node["op"] == "null":
            continue
        supported = node["name"] in forced or (node["op"] not in UNSUPPORTED_OPS and node["name"] not in excluded)
        if supported:
            if not open_run:
                subgraph, open_run = subgraph + 1, True
            node.setdefault("attrs", {})[SUBGRAPH_MARK] = str(subgraph)
        else:
            open_run = False
            on_cpu.append(node["op"])
    return mx.sym.load_json(json.dumps(graph)), subgraph + 1, on_cpu


# -- placement

def neuron(device_id: int = 0):
    """``mx.neuron(i)`` (simulated): the context a compiled model binds to; see the module docs."""
    import mxnet as mx

    env = os.environ
    legacy = env.get("NEURONCORE_GROUP_SIZES")
    if legacy and (env.get("NEURON_RT_VISIBLE_CORES") or env.get("NEURON_RT_NUM_CORES")):
        raise mx.base.MXNetError("simulated: NEURONCORE_GROUP_SIZES and NEURON_RT_VISIBLE_CORES/NEURON_RT_NUM_CORES "
                                 "are both set; MXNet must not see both (runtime 1.x and 2.x placement)")
    if legacy:
        groups = parse_group_sizes(legacy)
        mode, available = "group", len(groups)
    else:
        mode, available = "flexeg", visible_core_count()
    _record("neuron", device_id=int(device_id), mode=mode)
    if device_id < 0 or (available is not None and device_id >= available):
        what = f"core group {device_id} of {available}" if mode == "group" else f"NeuronCore {device_id} of {available}"
        raise mx.base.MXNetError(f"[simulated] Failed load model with Neuron-RTD Error. Neuron-RTD Status Code: 9 "
                                 f"({what})")
    return mx.cpu(0)


def parse_group_sizes(value: str) -> list:
    """``NEURONCORE_GROUP_SIZES``: ``2,2``, the tutorial's ``[1,2,1]``, or ``4x1``."""
    text = value.strip().strip("[]")
    sizes: list = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"(\d+)x(\d+)", part)
        sizes += [int(match.group(2))] * int(match.group(1)) if match else [int(part)]
    return sizes
