"""Compile and load MXNet models: host engines on the cpu target, the MXNet Neuron SDK on inf1.

Every model is first brought to MXNet's deployable form, a symbol with its params (a Gluon
HybridBlock is hybridized with ``static_alloc``/``static_shape`` and exported; a checkpoint prefix
is read with ``mx.model.load_checkpoint``). Then, on the ``cpu`` target:

- ``onnxruntime`` (the fp32 default, the fastest fp32 engine measured here): ``mx.onnx.export_model``
  with a free batch axis, then the ONNX backend's optimisation and sessions (it also drops the
  weights the MXNet exporter lists as graph inputs, which would stop constant folding).
- ``openvino`` (the bf16 default): the same ONNX export converted by OpenVINO and saved as IR with
  fp32 weights; the precision is a load-time hint (``INFERENCE_PRECISION_HINT`` f32 or bf16).
  MXNet's own bf16 (``mx.contrib.amp``, oneDNN) does not run ResNet50 on this machine's build
  ("could not create a primitive descriptor iterator"), so bf16 goes through OpenVINO.
- ``module``: the symbol and params saved with ``mx.model.save_checkpoint`` and bound through the
  Module API (reshaped when a call brings another batch).

``inf1`` calls the documented SDK (neuron-sdk-reference.md §3), whichever is installed:
``mx_neuron.compile(obj, args, aux, inputs, **compile_args)`` (MXNet 1.8; a Gluon block is passed
as the block, as in the Gluon tutorial) or ``mx.contrib.neuron.compile(sym, args, aux, inputs,
**compile_args)`` (MXNet 1.5), saved with ``mx.model.save_checkpoint`` (or the partitioned block's
``export``, the same two files) and bound once per core group with ``ctx=mx.neuron(i)``. In this
project's tests these run against simulated SDK modules (``neuronkit.testing.sim``), never on
Neuron hardware.

MXNet's CPU threads are process-wide: ``OMP_NUM_THREADS`` and ``MXNET_CPU_WORKER_NTHREADS`` are
read when mxnet is imported. A ``module`` replica loaded before mxnet is imported sets them from
its group (unless the user did); afterwards they cannot change. ONNX Runtime and OpenVINO
replicas have their own thread counts.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import warnings
from dataclasses import replace

import numpy as np

from neuronkit import Compiler, CompileReport, CompileResult, Component, Replica, TensorSpec
from neuronkit.engines import OPENVINO_PRECISION, openvino_runner
from neuronkit.errors import BackendUnavailable, CompileError, CoreSpecError
from neuronkit.targets import NEURON_CC_FAST_MATH

PREFIX = "model"
MODEL_XML = "model.xml"
#: The Neuron SDK's MXNet packages, newest first: (module, MXNet version, how to install it).
SDKS = (("mx_neuron", "1.8", "MXNet 1.8: pip install mx_neuron (with the aws-mx wheel)"),
        ("mxnet.contrib.neuron", "1.5", "MXNet 1.5: pip install mxnet_neuron (needs Neuron runtime 1.x)"))
#: ``compile_args`` keys each SDK documents besides ``flags`` and ``--neuroncore-pipeline-cores``.
NODE_OPTIONS = {"mx_neuron": ("excl_node_names", "force_incl_node_names"), "mxnet.contrib.neuron": ("excl_node_names",)}
SUBGRAPH_OP = "_neuron_subgraph_op"
#: Where the simulated SDK (neuronkit.testing.sim.mx_neuron) marks the nodes the real one would put
#: into a ``_neuron_subgraph_op``: a graph holding that op runs only on a NeuronCore.
SIMULATED_MARK = "__neuron_sim_subgraph__"
RUNTIME_ENV = ("NEURON_RT_VISIBLE_CORES", "NEURON_RT_NUM_CORES")


OPTIONS = ("sdk", "strict", "epoch", "compiler_args", "excl_node_names", "force_incl_node_names")


class MxnetCompiler(Compiler):
    def compile(self, model, request):
        import mxnet as mx

        unknown = sorted(set(request.options) - set(OPTIONS))
        if unknown:
            raise CompileError(f"the mxnet backend has no option {', '.join(unknown)}; it takes {', '.join(OPTIONS)}")
        target = request.target.name
        if target != "inf1" and set(request.options) & {"sdk", "strict", "compiler_args", "excl_node_names",
                                                         "force_incl_node_names"}:
            raise CompileError(f"options {sorted(set(request.options) - {'epoch'})} apply to target='inf1' only")
        sdk = api = None
        if target == "inf1":  # before any export: a missing SDK fails fast
            sdk, api = import_sdk(request.options.get("sdk"))
        else:
            engine = _cpu_engine(request)
        request.progress("exporting the symbol and params")
        sym, args, aux, names = _as_symbol(model, request)
        examples = _example_arrays(request, names)
        shapes = {n: e.shape for n, e in zip(names, examples)}
        try:
            _, out_shapes, _ = sym.infer_shape(**shapes)
        except mx.base.MXNetError as exc:
            raise CompileError(f"the model does not take inputs {shapes}: {_first_line(exc)}") from None
        outputs = sym.list_outputs()
        _, out_types, _ = sym.infer_type(**{n: e.dtype for n, e in zip(names, examples)})
        out_shapes = [(s, np.dtype(t).name) for s, t in zip(out_shapes, out_types)]
        if target == "inf1":
            return _inf1(sdk, api, model, sym, args, aux, names, examples, outputs, out_shapes, request)
        if engine == "module":
            return _module(sym, args, aux, names, examples, outputs, out_shapes, request)
        return _onnx_engines(self.spec, engine, sym, args, aux, names, examples, outputs, out_shapes, request)


# -- cpu engines

def _cpu_engine(request) -> str:
    precision, engine = request.precision, request.engine
    if precision not in OPENVINO_PRECISION:
        raise CompileError(f"precision={precision} on the cpu target: MXNet runs fp32, and bf16 through "
                           f"engine='openvino'; fp16 applies to target='inf1'")
    if not engine:
        if precision == "bf16":
            engine = "openvino"
        elif all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
            engine = "onnxruntime"
        else:
            engine = "module"  # the fastest engine that needs nothing beyond mxnet
            request.progress("onnx/onnxruntime are not installed: using the Module API engine")
    if precision == "bf16" and engine != "openvino":
        raise CompileError(f"engine {engine!r} runs fp32 only; bf16 runs through engine='openvino' (MXNet's own "
                           f"bf16, mx.contrib.amp, does not run ResNet50 on this machine's MXNet build)")
    needs = {"onnxruntime": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino"), "module": ()}[engine]
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailable(f"engine {engine!r} needs {', '.join(missing)}: pip install "
                                 f"{' '.join('onnx<1.16' if m == 'onnx' else m for m in missing)!s} "
                                 f"(mxnet's ONNX exporter needs onnx<1.16)")
    return engine


def _module(sym, args, aux, names, examples, outputs, out_shapes, request):
    import mxnet as mx

    batch = int(examples[0].shape[0])
    dynamic = request.dynamic_batch is not False
    if dynamic:  # the symbol must take another batch: shape inference says whether a reshape baked it in
        try:
            _, other, _ = sym.infer_shape(**{n: (batch + 1, *e.shape[1:]) for n, e in zip(names, examples)})
        except mx.base.MXNetError:
            other = None
        if not other or any(tuple(s[:1]) != (batch + 1,) for s in other):
            raise CompileError("the symbol fixes its batch size; compile with dynamic_batch=False (neuronkit then "
                               "pads or splits other batches)")
    mx.model.save_checkpoint(str(request.workdir / PREFIX), 0, sym, args, aux)
    return CompileResult(
        inputs=_specs(names, examples, dynamic), outputs=_out_specs(outputs, out_shapes, dynamic),
        framework=_framework(), compiler=Component("mxnet.module", mx.__version__), engine="module",
        flags=("hybridize(static_alloc=True, static_shape=True)", "mx.model.save_checkpoint",
               "load: Module.bind(for_training=False)" + (", Module.reshape per batch" if dynamic else "")),
        batch_size=None if dynamic else batch, dynamic_batch=dynamic,
        report=CompileReport(notes=("every operator runs on the host CPU through MXNet",)),
        load={"prefix": PREFIX, "inputs": names},
    )


def _onnx_engines(spec, engine, sym, args, aux, names, examples, outputs, out_shapes, request):
    import mxnet as mx

    request.progress("exporting to ONNX (mx.onnx.export_model)")
    path = request.workdir / "export.onnx"
    dynamic = request.dynamic_batch is not False
    export_flag = f"mx.onnx.export_model(dynamic={dynamic})"
    with warnings.catch_warnings():  # the exporter uses onnx.mapping, deprecated in onnx 1.15
        warnings.simplefilter("ignore", DeprecationWarning)
        mx.onnx.export_model(sym, {**args, **aux}, in_shapes=[e.shape for e in examples],
                             in_types=[e.dtype for e in examples], onnx_file_path=str(path), dynamic=dynamic,
                             dynamic_input_shapes=[[None, *e.shape[1:]] for e in examples] if dynamic else None)
    request = replace(request, example_inputs=tuple(examples), dynamic_batch=dynamic)
    if engine == "onnxruntime":
        from neuronkit_onnx.backend import OnnxCompiler

        result = OnnxCompiler(spec).compile(str(path), request)
        path.unlink()
        return replace(result, framework=_framework(), engine="onnxruntime", flags=(export_flag,) + result.flags,
                       outputs=_out_specs(outputs, out_shapes, dynamic))
    import openvino as ov

    request.progress("converting to OpenVINO")
    ov_model = ov.convert_model(str(path))
    if not dynamic:
        ov_model.reshape({i: ov.PartialShape(list(e.shape)) for i, e in enumerate(examples)})
    ov.save_model(ov_model, str(request.workdir / MODEL_XML), compress_to_fp16=False)
    path.unlink()
    hint = OPENVINO_PRECISION[request.precision]
    ops = len(json.loads(sym.tojson())["nodes"])
    return CompileResult(
        inputs=_specs(names, examples, dynamic), outputs=_out_specs(outputs, out_shapes, dynamic),
        framework=_framework(), compiler=Component("openvino", ov.get_version()), engine="openvino",
        flags=(export_flag, "openvino.convert_model", "save_model(compress_to_fp16=False)",
               f"load: INFERENCE_PRECISION_HINT={hint}"),
        batch_size=None if dynamic else int(examples[0].shape[0]), dynamic_batch=dynamic,
        report=CompileReport(notes=(f"every operator runs on the host CPU through OpenVINO ({ops} MXNet nodes)",)),
        load={"model": MODEL_XML, "precision_hint": hint},
    )


# -- inf1

def _inf1(sdk, api, model, sym, args, aux, names, examples, outputs, out_shapes, request):
    import mxnet as mx

    options = request.options
    compile_args: dict = {"flags": ["--fast-math", NEURON_CC_FAST_MATH[request.precision],
                                    *options.get("compiler_args", ())]}
    if request.pipeline_cores > 1:
        compile_args["--neuroncore-pipeline-cores"] = request.pipeline_cores
    for key in ("excl_node_names", "force_incl_node_names"):
        if key in options:
            if key not in NODE_OPTIONS[api]:
                raise CompileError(f"{key} is not an option of {api}.compile (MXNet {_sdk_version(api)}); "
                                   f"it takes {', '.join(NODE_OPTIONS[api])}")
            compile_args[key] = list(options[key])
    inputs = {n: mx.nd.array(e) for n, e in zip(names, examples)}
    prefix = str(request.workdir / PREFIX)
    request.progress(f"compiling with neuron-cc ({api}.compile)")
    if api == "mx_neuron" and isinstance(model, mx.gluon.HybridBlock):
        model.hybridize()  # the Gluon tutorial: hybridize, compile the block, export the partitioned block
        compiled = sdk.compile(model, inputs=inputs, **compile_args)
        compiled.export(prefix, 0)
        csym = mx.sym.load(f"{prefix}-symbol.json")
        how = "block"
    else:
        csym, cargs, caux = sdk.compile(sym, args, aux, inputs, **compile_args)
        mx.model.save_checkpoint(prefix, 0, csym, cargs, caux)
        how = "symbol"
    subgraphs, on_cpu = neuron_placement(json.loads(csym.tojson()))
    total = _op_count(sym)
    if options.get("strict") and on_cpu:
        raise CompileError(f"strict: {len(on_cpu)} operator(s) stay on the CPU, not Neuron: "
                           f"{', '.join(sorted(set(on_cpu)))}; remove strict=True to allow that")
    simulated = getattr(sdk, "SIMULATED", False)
    notes = (f"{subgraphs} Neuron subgraph(s) "
             + ("(SIMULATED SDK: the host graph is kept, the nodes a real compile would move into "
                f"{SUBGRAPH_OP} are marked)" if simulated else f"({SUBGRAPH_OP} nodes)"),)
    if subgraphs == 0:
        notes += ("no operator was placed on Neuron: the whole model would run on the CPU",)
    dynamic = bool(request.dynamic_batch)
    return CompileResult(
        inputs=_specs(names, examples, False), outputs=_out_specs(outputs, out_shapes, False),
        framework=_framework(), compiler=Component(f"neuron-cc ({api})", str(getattr(sdk, "__version__", ""))),
        flags=tuple(compile_args["flags"]) + tuple(f"{k}={v}" for k, v in compile_args.items() if k != "flags")
        + (f"{api}.compile({how})",),
        # neuron-cc compiles one batch; with dynamic_batch neuronkit splits and pads other batches to it
        batch_size=int(examples[0].shape[0]), dynamic_batch=dynamic,
        report=CompileReport(ops_total=total, ops_on_target=max(total - len(on_cpu), 0),
                             unsupported_ops=tuple(sorted(set(on_cpu))), notes=notes),
        load={"prefix": PREFIX, "inputs": names, "sdk": api, "runtime": "1.x" if api != "mx_neuron" else "2.x"},
    )


def neuron_placement(graph: dict) -> tuple[int, list]:
    """(Neuron subgraphs, op names left on the CPU) of a compiled symbol's JSON graph.

    A real compile leaves ``_neuron_subgraph_op`` nodes (each holding a subgraph) among the CPU
    nodes; the simulated SDK keeps the host graph and marks the would-be subgraph nodes instead.
    """
    subgraphs, marks, on_cpu = 0, set(), []
    for node in graph["nodes"]:
        if node["op"] == "null":
            continue
        if node["op"] == SUBGRAPH_OP:
            subgraphs += 1
        elif SIMULATED_MARK in (node.get("attrs") or {}):
            marks.add(node["attrs"][SIMULATED_MARK])
        else:
            on_cpu.append(node["op"])
    return subgraphs + len(marks), on_cpu


def import_sdk(module: str | None = None):
    """The installed MXNet Neuron package: ``mx_neuron`` (1.8) first, then ``mxnet.contrib.neuron``
    (1.5), or the one named. PyPI's namesakes are placeholders that raise ``WRONG PACKAGE``."""
    known = [s for s in SDKS if module in (None, s[0])]
    if not known:
        raise CompileError(f"sdk={module!r}: choose one of {', '.join(s[0] for s in SDKS)}")
    placeholder = False
    for name, _, _ in known:
        try:
            return importlib.import_module(name), name
        except ImportError as exc:
            placeholder |= "WRONG PACKAGE" in str(exc)
            continue
    found = " (what is installed is the PyPI placeholder, not the SDK)" if placeholder else ""
    raise BackendUnavailable(f"no MXNet Neuron package is installed{found}. Install the real one from the Neuron "
                             f"repository (--extra-index-url=https://pip.repos.neuron.amazonaws.com): "
                             + "; ".join(hint for _, _, hint in known))


def _sdk_version(api: str) -> str:
    return next(v for name, v, _ in SDKS if name == api)


# -- replicas

class MxnetReplica(Replica):
    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        m = artifact.manifest
        self._close = lambda: None
        if m.target == "inf1":
            self._run = _neuron_runner(artifact, group)
        elif m.engine == "onnxruntime":
            from neuronkit_onnx.backend import OnnxReplica

            onnx = OnnxReplica(artifact, group, options)
            self._run, self._close = onnx.run, onnx.close
        elif m.engine == "openvino":
            self._run = _openvino_runner(artifact, group)
        else:
            self._run = _module_runner(artifact, group)

    def run(self, inputs):
        return self._run(inputs)  # the core turns outputs into arrays

    def close(self):
        self._close()
        self._run = None


def _module_runner(artifact, group):
    _set_mxnet_threads(group)
    import mxnet as mx

    load = artifact.manifest.load
    artifact.file(f"{load['prefix']}-symbol.json")  # a clear error if the artifact lacks it
    sym, args, aux = mx.model.load_checkpoint(str(artifact.root / load["prefix"]), 0)
    names = load["inputs"]
    first = artifact.manifest.batch_size or 1
    shapes = [(n, (first, *t.shape[1:])) for n, t in zip(names, artifact.inputs)]
    module = mx.mod.Module(symbol=sym, data_names=names, label_names=None, context=mx.cpu())
    module.bind(data_shapes=shapes, for_training=False)
    module.set_params(args, aux)
    bound = [first]

    def run(inputs):
        if inputs[0].shape[0] != bound[0]:  # a dynamic-batch artifact: rebind for this batch
            module.reshape(data_shapes=[(n, x.shape) for n, x in zip(names, inputs)])
            bound[0] = inputs[0].shape[0]
        module.forward(mx.io.DataBatch([mx.nd.array(x) for x in inputs]), is_train=False)
        return [o.asnumpy() for o in module.get_outputs()]

    return run


def _set_mxnet_threads(group) -> None:
    """MXNet reads its thread counts once, at import: set them from the group if that is still ahead."""
    if "mxnet" in sys.modules:
        return
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(group.size))  # threads inside one operator
    os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", str(max(cpus // group.size, 1)))  # operators at once


def _openvino_runner(artifact, group):
    run, _ = openvino_runner(artifact.file(artifact.manifest.load["model"]), artifact.manifest.load["precision_hint"],
                             group.size)
    return run


def _neuron_runner(artifact, group):
    """Bind once on the group's NeuronCores: ``sym.bind(ctx=mx.neuron(i), args, aux_states, grad_req='null')``
    (neuron-sdk-reference.md §3.3-3.4). The core set the runtime's variables before this."""
    import mxnet as mx

    load = artifact.manifest.load
    api = load["sdk"]
    import_sdk(api)  # registers mx.neuron() and the subgraph operator
    env = os.environ
    legacy = bool(env.get("NEURONCORE_GROUP_SIZES"))
    both = [v for v in RUNTIME_ENV if env.get(v)]
    if legacy and both:
        raise CoreSpecError(f"NEURONCORE_GROUP_SIZES and {', '.join(both)} are both set; MXNet must not see both "
                            f"(runtime 1.x and 2.x placement). Unset one and load in a new process")
    if load.get("runtime") == "1.x" and not legacy:
        raise CoreSpecError(f"this artifact was compiled with MXNet {_sdk_version(api)} ({api}), which runs only on "
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
    sizes = _parse_group_sizes(sizes_value)
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


def _parse_group_sizes(value: str) -> list:
    sizes: list = []
    for part in filter(None, (p.strip() for p in value.strip().strip("[]").split(","))):
        count, _, size = part.partition("x")
        sizes += [int(size)] * int(count) if size else [int(count)]
    return sizes


# -- helpers

def tiny_model():
    """A small Gluon network and an example input, for ``neuronkit selftest``."""
    import mxnet as mx
    from mxnet.gluon import nn

    mx.random.seed(0)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(4))
    net.initialize(mx.init.Xavier())
    return net, (np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32),)


def _as_symbol(model, request):
    """(sym, args, aux, input names) of a HybridBlock, a (sym, args, aux) tuple or a checkpoint prefix."""
    import mxnet as mx

    if isinstance(model, (str, os.PathLike)):
        prefix = os.fspath(model)
        epoch = request.options.get("epoch", _latest_epoch(prefix))
        sym, args, aux = mx.model.load_checkpoint(prefix, epoch)
    elif isinstance(model, tuple) and len(model) == 3 and isinstance(model[0], mx.sym.Symbol):
        sym, args, aux = model
        args, aux = dict(args or {}), dict(aux or {})
    elif isinstance(model, mx.gluon.HybridBlock):
        examples = _example_arrays(request, None)
        model.hybridize(static_alloc=True, static_shape=True)
        try:
            model(*[mx.nd.array(e) for e in examples])  # builds the cached graph that export writes
        except mx.base.MXNetError as exc:
            shapes = [e.shape for e in examples]
            raise CompileError(f"the model does not take inputs of shapes {shapes}: {_first_line(exc)}") from None
        export = request.workdir / "export"
        export.mkdir(exist_ok=True)
        model.export(str(export / PREFIX), epoch=0)
        sym, args, aux = mx.model.load_checkpoint(str(export / PREFIX), 0)
        import shutil

        shutil.rmtree(export)
    else:
        raise CompileError(f"the mxnet backend takes a gluon HybridBlock, a (sym, args, aux) tuple or a checkpoint "
                           f"prefix, not {type(model).__name__}")
        # HybridBlock.export names the inputs data (one) or data0, data1, ... in call order
        names = ["data"] if len(examples) == 1 else [f"data{i}" for i in range(len(examples))]
        return sym, args, aux, names
    names = [n for n in sym.list_arguments() if n not in args]
    return sym, args, aux, names


def _latest_epoch(prefix: str) -> int:
    import glob
    import re

    epochs = [int(m.group(1)) for p in glob.glob(f"{glob.escape(prefix)}-*.params")
              if (m := re.search(r"-(\d{4,})\.params$", p))]
    if not epochs:
        raise CompileError(f"no {prefix}-NNNN.params next to {prefix}-symbol.json; pass the prefix that "
                           f"mx.model.save_checkpoint or HybridBlock.export wrote")
    return max(epochs)


def _example_arrays(request, names):
    """Example inputs as numpy arrays in ``names`` order, repeated or cut to ``batch_size``."""
    given = request.example_inputs
    if not given:
        raise CompileError("the mxnet backend needs example_inputs= (an array, a tuple in the model's input order, "
                           "or a dict by input name)")
    if isinstance(given, dict):
        if names is None:
            given = tuple(given.values())
        elif sorted(given) != sorted(names):
            raise CompileError(f"example_inputs names {sorted(given)} do not match the model's inputs {names}")
        else:
            given = tuple(given[n] for n in names)
    arrays = [np.ascontiguousarray(e.asnumpy() if hasattr(e, "asnumpy") else np.asarray(e)) for e in given]
    if names is not None and len(arrays) != len(names):
        raise CompileError(f"the model takes inputs {names}; got {len(arrays)} example_inputs")
    size = request.batch_size
    if size and arrays[0].shape[0] != size:
        arrays = [a[np.arange(size) % a.shape[0]] for a in arrays]
    return arrays


def _first_line(exc) -> str:
    """MXNet errors carry a C++ stack trace; the check that failed is the line worth showing."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    checks = [line for line in lines if "Check failed" in line or "Error in operator" in line]
    return (checks or lines or [type(exc).__name__])[-1].strip()


def _op_count(sym) -> int:
    return sum(1 for n in json.loads(sym.tojson())["nodes"] if n["op"] != "null")


def _specs(names, arrays, dynamic):
    return tuple(TensorSpec.of(n, a, dynamic) for n, a in zip(names, arrays))


def _out_specs(names, shapes, dynamic):
    """Output specs from ``[(shape, dtype), ...]`` as shape and type inference gave them."""
    return tuple(TensorSpec(n, t, (None, *s[1:]) if dynamic and s else s) for n, (s, t) in zip(names, shapes))


def _framework():
    import mxnet as mx

    return Component("mxnet", mx.__version__)
