"""A SIMULATED MXNet 1.8 Neuron integration (``mx_neuron``) for tests; not the AWS Neuron SDK.

Nothing here runs on Inferentia. Its MXNet 1.5 sibling is
:mod:`neuronkit.testing.sim.mxnet_contrib_neuron` (``mxnet.contrib.neuron``).

Documented API:

- ``compile(obj, args=None, aux=None, inputs=None, **compile_args)``: ``obj`` is a Symbol (returns
  ``(sym, args, aux)``) or a ``gluon.HybridBlock`` (returns the partitioned block).
  ``compile_args``: ``'flags'`` (compiler flags, each string split at spaces as in the tutorials'
  ``['--fp32-cast matmult']``), ``'excl_node_names'``, ``'force_incl_node_names'``, ``'work_dir'``,
  and any neuron-cc option as a key with its value (``'--neuroncore-pipeline-cores': 2``,
  ``'--verbose': 2``, NeuronPerf's ``'--fast-math': 'fp32-cast-matmult no-fast-relayout'``).
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
- The neuron-cc options (``'--...'`` keys, then ``flags``) are checked the way ``neuron-cc compile``
  parses them; any other unknown ``compile_args`` key raises ``ValueError`` (the real one's
  behaviour is not documented). Numerics are the host's fp32: casting flags are validated and
  recorded only.
- ``mx.neuron(i)`` returns ``mx.cpu(0)`` and records ``i``; it raises ``MXNetError`` with the
  documented "Neuron-RTD Status Code: 9" message when core ``i`` / group ``i`` does not exist, and
  when both ``NEURONCORE_GROUP_SIZES`` and ``NEURON_RT_VISIBLE_CORES``/``NEURON_RT_NUM_CORES`` are
  set (the reference says never to set both for MXNet; refusing is this simulation's choice).
- Every call is recorded in :data:`calls` (the convention in :mod:`neuronkit.testing.sim`);
  ``mx.neuron`` calls, as module ``"mxnet"``, in the ``calls`` of each installed MXNet simulation.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import tempfile
import warnings

from . import check_neuron_cc_args, new_record, note, recorder, visible_core_count

SIMULATED = True
__version__ = "1.8.0.2.4.147.0+simulated"  # mx_neuron of Neuron SDK 2.x (NSDK src/helperscripts/n2-manifest.json)
MODULE = "mx_neuron"
calls: list = []
_recorded = recorder(MODULE, calls)
#: the attribute this simulation puts on nodes the real compile would move into a Neuron subgraph
SUBGRAPH_MARK = "__neuron_sim_subgraph__"
#: operators the simulated neuron-cc leaves on the CPU (illustrative, not the real list)
UNSUPPORTED_OPS = {"argsort", "sort", "topk", "_contrib_box_nms", "_contrib_MultiBoxDetection", "where"}
#: compile_args keys that are not neuron-cc options ('--...' keys are)
COMPILE_KEYS = ("flags", "excl_node_names", "work_dir", "force_incl_node_names")

#: the ``calls`` lists of the installed MXNet simulations, once per install (mx.neuron records in each)
_installed_neuron: list = []


def install():
    """Make this simulation importable as ``mx_neuron`` and give mxnet its ``mx.neuron()``."""
    module = sys.modules[__name__]
    sys.modules["mx_neuron"] = module
    _install_context(calls)
    return module


def uninstall() -> None:
    if sys.modules.get("mx_neuron") is sys.modules[__name__]:
        del sys.modules["mx_neuron"]
    _uninstall_context(calls)


def reset() -> None:
    calls.clear()


def _install_context(owner: list) -> None:
    import mxnet

    if getattr(mxnet, "neuron", None) is not neuron:
        mxnet.neuron = neuron
    _installed_neuron.append(owner)


def _uninstall_context(owner: list) -> None:
    import mxnet

    for i, installed in enumerate(_installed_neuron):
        if installed is owner:  # by identity: two empty call lists are equal
            del _installed_neuron[i]
            break
    if not _installed_neuron and getattr(mxnet, "neuron", None) is neuron:
        del mxnet.neuron


# -- compile

@_recorded
def compile(obj, args=None, aux=None, inputs=None, **compile_args):  # noqa: A001 - the SDK's name
    """Partition ``obj`` for Neuron (simulated: the host graph, marked; see the module docs).

    Doc: NSDK ``archive/mxnet-neuron/api-compilation-python-api.rst`` (MXNet 1.8); ``compile_args``
    forms from NSDK ``src/examples/mxnet/data_parallel/data_parallel_tutorial.ipynb``
    (``'flags': ['--fp32-cast matmult']``), ``archive/helper-tools/tutorial-neuron-gatherinfo.rst``
    (``{'--verbose': 2, '--pipeline': 'compile', 'flags': ['SaveTemps']}``) and NeuronPerf
    (NSDK ``src/neuronperf/src/neuronperf/mxnet/mxnet.py``: its ``compiler_args`` dict as ``**compile_args``).
    """
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
    note(api=api, kind="symbol", compile_args=options, neuron_cc_args=_cc_args(options), flags=flags, inputs=shapes,
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
    note(api="mx_neuron", kind="gluon", compile_args=options, neuron_cc_args=_cc_args(options), flags=flags,
         inputs={k: tuple(v.shape) for k, v in inputs.items()}, subgraphs=subgraphs, on_cpu=on_cpu)
    return compiled


def _check_compile_args(compile_args: dict, allowed) -> dict:
    unknown = sorted(k for k in compile_args if not k.startswith("-") and k not in allowed)
    if unknown:
        raise ValueError(f"unknown compile_args {unknown}; this SDK takes neuron-cc options ('--...': value) and "
                         f"{list(allowed)}")
    options = dict(compile_args)
    for key in ("flags", "excl_node_names", "force_incl_node_names"):
        if key in options and not isinstance(options[key], (list, tuple)):
            raise TypeError(f"compile_args[{key!r}] must be a list of strings, not {type(options[key]).__name__}")
    return options


def _cc_args(options: dict) -> list:
    """The neuron-cc arguments: each ``'--option': value`` in order, then ``flags``; values and
    flags are split at spaces (``'--fast-math': 'fp32-cast-matmult no-fast-relayout'``,
    ``'--fp32-cast matmult'``), so ``'--pipeline': 'compile'`` and ``flags: ['SaveTemps']`` make
    ``--pipeline compile SaveTemps``."""
    args = []
    for key, value in options.items():
        if key.startswith("-"):
            args += [key, *shlex.split(str(value))]
    for flag in options.get("flags", ()):
        args += shlex.split(str(flag))
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
    """``mx.neuron(i)`` (simulated): the context a compiled model binds to; see the module docs.

    Doc: NSDK ``archive/appnotes/mxnet-neuron/flex-eg.rst`` (runtime 2.x: first core), OLD
    ``.../mxnet-neuron/tutorials/tutorial-neuroncore-groups.rst`` (runtime 1.x: group index), NSDK
    ``neuron-runtime/api/nrt_status.rst`` (status 9).
    """
    import mxnet as mx

    entry = new_record("mxnet", "neuron", (device_id,), {})
    for owner in {id(c): c for c in _installed_neuron}.values():  # each installed simulation once
        owner.append(entry)
    env = os.environ
    legacy = env.get("NEURONCORE_GROUP_SIZES")
    if legacy and (env.get("NEURON_RT_VISIBLE_CORES") or env.get("NEURON_RT_NUM_CORES")):
        entry["error"] = "MXNetError: both runtime generations' variables are set"
        raise mx.base.MXNetError("simulated: NEURONCORE_GROUP_SIZES and NEURON_RT_VISIBLE_CORES/NEURON_RT_NUM_CORES "
                                 "are both set; MXNet must not see both (runtime 1.x and 2.x placement)")
    if legacy:
        mode, available = "group", len(parse_group_sizes(legacy))
    else:
        mode, available = "flexeg", visible_core_count()
    entry.update(device_id=int(device_id), mode=mode)
    if device_id < 0 or (available is not None and device_id >= available):
        what = f"core group {device_id} of {available}" if mode == "group" else f"NeuronCore {device_id} of {available}"
        entry["error"] = "MXNetError: Neuron-RTD Status Code: 9"
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
