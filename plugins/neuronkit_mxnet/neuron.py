"""inf1 through the MXNet Neuron SDK, whichever is installed, called as the Neuron SDK documents it
(aws-neuron/aws-neuron-sdk ``archive/mxnet-neuron/api-compilation-python-api.rst``; placement:
``archive/appnotes/mxnet-neuron/flex-eg.rst``):

- MXNet 1.8, ``mx_neuron.compile(obj, args, aux, inputs, **compile_args)``: a Gluon block is passed
  as the block (the Gluon tutorial) and its partitioned block exported; a symbol is passed with its
  params and saved with ``mx.model.save_checkpoint`` (the same two files).
- MXNet 1.5, ``mx.contrib.neuron.compile(sym, args, aux, inputs, **compile_args)``: symbols only.
- Loading binds once per core group: ``sym.bind(ctx=mx.neuron(i), args, aux_states, grad_req='null')``.

Precision flags come from the core's neuron-cc table (:func:`neuronkit.neuron.neuron_cc_flags`),
sent as MXNet's transport documents: ``compile_args={'flags': [...], '--neuroncore-pipeline-cores': N}``.
``strict=`` and ``min_on_neuron=`` are checked by the core from the report this module writes.
In this project's tests these run against simulated SDK modules, never on Neuron hardware.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from neuronkit import BackendUnavailable, CompileError, CompileReport, CompileResult, Component, CoreSpecError
from neuronkit.cores import parse_group_sizes
from neuronkit.neuron import extra_compiler_args, import_sdk, neuron_cc_flags

from .model import PREFIX, MxnetModel, framework

#: the op of the nodes a real compile puts the Neuron parts of the graph into (each holds a subgraph)
SUBGRAPH_OP = "_neuron_subgraph_op"
#: ``compile_args`` keys neuronkit passes from the options of the same name
NODE_OPTIONS = ("excl_node_names", "force_incl_node_names")


@dataclass(frozen=True)
class Sdk:
    """One of the Neuron SDK's MXNet packages."""

    module: str                  # what is imported
    package: str                 # what pip installs, from the Neuron repository
    mxnet: str                   # the MXNet version it extends
    runtime: str                 # the Neuron runtime it runs on
    node_options: tuple          # the NODE_OPTIONS its compile takes


#: newest first: with no ``sdk=`` option the first installed is used
SDKS = (Sdk("mx_neuron", "mx_neuron", "1.8", "2.x", ("excl_node_names", "force_incl_node_names")),
        Sdk("mxnet.contrib.neuron", "mxnet_neuron", "1.5", "1.x", ("excl_node_names",)))


def find_sdk(name: str | None = None):
    """``(Sdk, module)``: the one named, or the first installed. A missing SDK names both packages."""
    candidates = [s for s in SDKS if name in (None, s.module)]
    if not candidates:
        raise CompileError(f"sdk={name!r}: choose one of {', '.join(s.module for s in SDKS)}")
    missing = []
    for sdk in candidates:
        try:
            return sdk, import_sdk(sdk.module, sdk.package)
        except BackendUnavailable as exc:
            missing.append(f"MXNet {sdk.mxnet}: {exc}")
    raise BackendUnavailable(f"target inf1 needs an MXNet Neuron SDK, and none is installed. {'; '.join(missing)}. "
                             f"Or compile with target='cpu'")


def compile_inf1(sdk: Sdk, module, m: MxnetModel, request) -> CompileResult:
    """Compile with ``module`` (the imported ``sdk``) and save the result as a checkpoint."""
    import mxnet as mx

    options = request.options
    compile_args: dict = {"flags": neuron_cc_flags(request.precision) + extra_compiler_args(options)}
    if request.pipeline_cores > 1:
        compile_args["--neuroncore-pipeline-cores"] = request.pipeline_cores
    for key in NODE_OPTIONS:
        if key in options:
            if key not in sdk.node_options:
                raise CompileError(f"{key} is not an option of {sdk.module}.compile (MXNet {sdk.mxnet}); "
                                   f"it takes {', '.join(sdk.node_options)}")
            compile_args[key] = list(options[key])
    inputs = {n: mx.nd.array(e) for n, e in zip(m.names, m.examples)}
    prefix = str(request.workdir / PREFIX)
    request.progress(f"compiling with neuron-cc ({sdk.module}.compile)")
    if sdk.module == "mx_neuron" and m.block is not None:
        m.block.hybridize()  # the Gluon tutorial: hybridize, compile the block, export the partitioned block
        compiled = module.compile(m.block, inputs=inputs, **compile_args)
        compiled.export(prefix, 0)
        csym = mx.sym.load(f"{prefix}-symbol.json")
        how = "block"
    else:
        csym, cargs, caux = module.compile(m.sym, m.args, m.aux, inputs, **compile_args)
        mx.model.save_checkpoint(prefix, 0, csym, cargs, caux)
        how = "symbol"
    # A simulated SDK keeps the host graph and names the attribute it marks would-be subgraph nodes with.
    subgraphs, on_cpu = neuron_placement(json.loads(csym.tojson()), getattr(module, "SUBGRAPH_MARK", None))
    total = m.ops
    return CompileResult(
        inputs=m.inputs(False), outputs=m.outputs(False), framework=framework(),
        compiler=Component(f"neuron-cc ({sdk.module})", str(getattr(module, "__version__", ""))),
        flags=tuple(compile_args["flags"]) + tuple(f"{k}={v}" for k, v in compile_args.items() if k != "flags")
        + (f"{sdk.module}.compile({how})",),
        # neuron-cc compiles one batch; with dynamic_batch neuronkit splits and pads other batches to it
        batch_size=m.batch, dynamic_batch=bool(request.dynamic_batch),
        report=CompileReport(ops_total=total, ops_on_target=max(total - len(on_cpu), 0),
                             unsupported_ops=tuple(sorted(set(on_cpu))), notes=(f"{subgraphs} Neuron subgraph(s)",)),
        load={"prefix": PREFIX, "inputs": list(m.names), "sdk": sdk.module, "runtime": sdk.runtime},
    )


def neuron_placement(graph: dict, mark: str | None = None) -> tuple[int, list]:
    """(Neuron subgraphs, op names left on the CPU) of a compiled symbol's JSON graph.

    A real compile leaves ``_neuron_subgraph_op`` nodes (each holding a subgraph) among the CPU
    nodes; a simulated SDK keeps the host graph and sets the attribute ``mark`` on the nodes a real
    one would move into a subgraph (its value: the subgraph's index).
    """
    subgraphs, marked, on_cpu = 0, set(), []
    for node in graph["nodes"]:
        attrs = node.get("attrs") or {}
        if node["op"] == "null":
            continue
        if node["op"] == SUBGRAPH_OP:
            subgraphs += 1
        elif mark and mark in attrs:
            marked.add(attrs[mark])
        else:
            on_cpu.append(node["op"])
    return subgraphs + len(marked), on_cpu


def load(artifact, group):
    """Bind once on the group's NeuronCores: a function from input arrays to output arrays. The core
    set the runtime's variables before this; ``mx.neuron(i)`` takes the group's first core (runtime
    2.x, FlexEG) or its index among ``NEURONCORE_GROUP_SIZES`` (runtime 1.x)."""
    import mxnet as mx

    load = artifact.manifest.load
    sdk, _ = find_sdk(load["sdk"])  # registers mx.neuron() and the subgraph operator
    env = os.environ
    legacy = bool(env.get("NEURONCORE_GROUP_SIZES"))
    if load.get("runtime") == "1.x" and not legacy:
        raise CoreSpecError(f"this artifact was compiled with MXNet {sdk.mxnet} ({sdk.module}), which runs only on "
                            f"Neuron runtime 1.x (neuron-rtd): load it with neuronkit.load(..., legacy_runtime=True)")
    index = _group_index(group, env["NEURONCORE_GROUP_SIZES"]) if legacy else group.local_start
    ctx = mx.neuron(index)
    sym, args, aux = mx.model.load_checkpoint(str(artifact.root / load["prefix"]), 0)
    names = load["inputs"]
    for name, spec in zip(names, artifact.inputs):
        args[name] = mx.nd.zeros(spec.shape, dtype=spec.dtype)
    exe = sym.bind(ctx=ctx, args=args, aux_states=aux, grad_req="null")

    def run(inputs):
        exe.forward(is_train=False, **{n: mx.nd.array(x, dtype=x.dtype) for n, x in zip(names, inputs)})
        return [o.asnumpy() for o in exe.outputs]

    return run


def _group_index(group, sizes_value: str) -> int:
    """``mx.neuron(i)`` under runtime 1.x: ``i`` is a group of ``NEURONCORE_GROUP_SIZES``, counted from
    the first core neuron-rtd gives the process."""
    sizes = parse_group_sizes(sizes_value)
    start = 0
    for index, size in enumerate(sizes):
        if start == group.local_start:
            if size < group.size:
                break
            return index
        start += size
    raise CoreSpecError(f"core group {group} is not a group of NEURONCORE_GROUP_SIZES={sizes_value}: runtime 1.x "
                        f"numbers its groups from the first core it gives the process, so load with a core count "
                        f"(cores=N) rather than core indices")
