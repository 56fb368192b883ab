"""Compile and load MXNet models: host engines on the cpu target, mx_neuron on inf1.

Every model is first brought to MXNet's deployable form, a symbol with its params (a Gluon
HybridBlock is hybridized with ``static_alloc``/``static_shape`` and exported). Then:

- ``onnxruntime`` (the default): ``mx.onnx.export_model`` with a free batch axis, then the ONNX
  backend's optimisation and sessions (it also drops the weights the exporter lists as inputs).
- ``module``: the symbol and params saved with ``mx.model.save_checkpoint`` and bound through the
  Module API for the compiled batch (neuronkit pads or splits other batches).
- ``inf1``: ``mx_neuron.compile(sym, args, aux, inputs, **compile_args)`` (MXNet 1.8) or
  ``mx.contrib.neuron.compile`` (MXNet 1.5), whichever is installed; saved with
  ``mx.model.save_checkpoint`` and bound on ``mx.neuron(i)``. In this project's tests these run
  against a simulated SDK (``neuronkit.testing.sim.mx_neuron``), never on Neuron hardware.

MXNet's CPU threads are process-wide (``OMP_NUM_THREADS`` when mxnet is imported): replicas in
one process share them, whatever their group size.
"""

from __future__ import annotations

import importlib
import json
import os

import numpy as np

from neuronkit import Compiler, CompileReport, CompileResult, Component, Replica, TensorSpec
from neuronkit.errors import BackendUnavailable, CompileError
from neuronkit.targets import NEURON_CC_FAST_MATH

PREFIX = "model"
SDKS = (("mx_neuron", "MXNet 1.8: pip install mx_neuron"),
        ("mxnet.contrib.neuron", "MXNet 1.5: pip install mxnet_neuron"))


class MxnetCompiler(Compiler):
    def compile(self, model, request):
        import mxnet as mx

        examples = _example_arrays(request)
        request.progress("exporting the symbol and params")
        sym, args, aux = _as_symbol(model, examples, request.workdir / "export" / "model")
        names = [n for n in sym.list_inputs() if n not in args and n not in aux]
        if len(names) != len(examples):
            raise CompileError(f"the model takes inputs {names}; give that many example_inputs, in that order")
        shapes = {n: e.shape for n, e in zip(names, examples)}
        _, out_shapes, _ = sym.infer_shape(**shapes)
        out_names = [f"output{i}" for i in range(len(out_shapes))]
        target = request.target.name
        if target == "inf1":
            return _inf1(sym, args, aux, names, examples, out_names, out_shapes, request)
        engine = request.engine or "onnxruntime"
        if request.precision != "fp32":
            raise CompileError(f"MXNet on the cpu target runs fp32 (measured: its bf16 paths are not faster "
                               f"here); precision={request.precision} applies to target='inf1'")
        if engine == "onnxruntime":
            return _onnxruntime(self.spec, sym, args, aux, names, examples, request)
        dynamic = request.dynamic_batch is not False
        mx.model.save_checkpoint(str(request.workdir / PREFIX), 0, sym, args, aux)
        return CompileResult(
            inputs=_specs(names, examples), outputs=_out_specs(out_names, out_shapes),
            framework=_framework(), compiler=Component("mxnet.module", mx.__version__), engine="module",
            flags=("hybridize(static_alloc=True, static_shape=True)", "Module.bind(for_training=False)"),
            batch_size=int(examples[0].shape[0]), dynamic_batch=dynamic,
            report=CompileReport(notes=("every operator runs on the host CPU through MXNet",)),
            load={"prefix": PREFIX, "inputs": names},
        )


def _onnxruntime(spec, sym, args, aux, names, examples, request):
    import mxnet as mx
    from neuronkit_onnx.backend import OnnxCompiler

    request.progress("exporting to ONNX (mx.onnx)")
    path = request.workdir / "export.onnx"
    mx.onnx.export_model(sym, {**args, **aux}, in_shapes=[e.shape for e in examples],
                         in_types=[e.dtype for e in examples], onnx_file_path=str(path), dynamic=True,
                         dynamic_input_shapes=[[None, *e.shape[1:]] for e in examples])
    result = OnnxCompiler(spec).compile(str(path), request)
    path.unlink()
    from dataclasses import replace

    return replace(result, framework=_framework(), engine="onnxruntime",
                   flags=("mx.onnx.export_model(dynamic=True)",) + result.flags)


def _inf1(sym, args, aux, names, examples, out_names, out_shapes, request):
    import mxnet as mx

    sdk, api = import_sdk()
    compile_args: dict = {"flags": ["--fast-math", NEURON_CC_FAST_MATH[request.precision],
                                    *request.options.get("compiler_args", ())]}
    if request.pipeline_cores > 1:
        compile_args["--neuroncore-pipeline-cores"] = request.pipeline_cores
    for key in ("excl_node_names", "force_incl_node_names"):
        if key in request.options:
            compile_args[key] = list(request.options[key])
    request.progress(f"compiling with neuron-cc ({api}.compile)")
    inputs = {n: mx.nd.array(e) for n, e in zip(names, examples)}
    csym, cargs, caux = sdk.compile(sym, args, aux, inputs, **compile_args)
    mx.model.save_checkpoint(str(request.workdir / PREFIX), 0, csym, cargs, caux)
    total, on_neuron, subgraphs = _count_ops(sym, csym)
    notes = (f"{subgraphs} Neuron subgraph(s) (_neuron_subgraph_op)",)
    if subgraphs == 0:
        notes += ("no operator was placed on Neuron: the whole model would run on the CPU",)
    return CompileResult(
        inputs=_specs(names, examples), outputs=_out_specs(out_names, out_shapes), framework=_framework(),
        compiler=Component(f"neuron-cc ({api})", str(getattr(sdk, "__version__", ""))),
        flags=tuple(f"{k}={v}" for k, v in compile_args.items()),
        batch_size=int(examples[0].shape[0]), dynamic_batch=bool(request.dynamic_batch),
        report=CompileReport(ops_total=total, ops_on_target=on_neuron, notes=notes),
        load={"prefix": PREFIX, "inputs": names, "sdk": api},
    )


def import_sdk():
    """The installed MXNet Neuron package: mx_neuron (1.8) first, then mxnet.contrib.neuron (1.5)."""
    for module, _ in SDKS:
        try:
            return importlib.import_module(module), module
        except ImportError:
            continue
    raise BackendUnavailable("no MXNet Neuron package is installed. Install from the Neuron repository "
                             "(--extra-index-url=https://pip.repos.neuron.amazonaws.com): "
                             + "; ".join(hint for _, hint in SDKS))


class MxnetReplica(Replica):
    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        load = artifact.manifest.load
        if artifact.manifest.engine == "onnxruntime":
            from neuronkit_onnx.backend import OnnxReplica

            onnx = OnnxReplica(artifact, group, options)
            self._run, self._close = onnx.run, onnx.close
            return
        import mxnet as mx

        prefix = str(artifact.root / load["prefix"])
        sym, args, aux = mx.model.load_checkpoint(prefix, 0)
        names = load["inputs"]
        shapes = [(n, tuple(t.shape)) for n, t in zip(names, artifact.inputs)]
        self._close = lambda: None
        if artifact.target == "inf1":
            import_sdk()  # registers the Neuron context and subgraph operator
            ctx = mx.neuron(_neuron_index(group))
            arrays = {**args, **{n: mx.nd.zeros(s, ctx=ctx) for n, s in shapes}}
            exe = sym.bind(ctx=ctx, args=arrays, aux_states=aux, grad_req="null")

            def run(inputs):
                exe.forward(is_train=False, **{n: mx.nd.array(x) for n, x in zip(names, inputs)})
                return [o.asnumpy() for o in exe.outputs]
        else:
            module = mx.mod.Module(symbol=sym, data_names=names, label_names=None, context=mx.cpu())
            module.bind(data_shapes=shapes, for_training=False)
            module.set_params(args, aux)

            def run(inputs):
                module.forward(mx.io.DataBatch([mx.nd.array(x) for x in inputs]), is_train=False)
                return [o.asnumpy() for o in module.get_outputs()]
        self._run = run

    def run(self, inputs):
        return [np.asarray(o) for o in self._run(inputs)]

    def close(self):
        self._close()
        self._run = None


def _neuron_index(group) -> int:
    """``mx.neuron(i)``: under Neuron runtime 2.x ("FlexEG") ``i`` is the group's first core; under
    runtime 1.x (``NEURONCORE_GROUP_SIZES``, ``load(..., legacy_runtime=True)``) it is the group's index."""
    if os.environ.get("NEURONCORE_GROUP_SIZES"):
        return group.local_start // group.size
    return group.local_start


def tiny_model():
    """A small Gluon network and an example input, for ``neuronkit selftest``."""
    import mxnet as mx
    from mxnet.gluon import nn

    mx.random.seed(0)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(4))
    net.initialize(mx.init.Xavier())
    return net, (np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32),)


def _as_symbol(model, examples, export_prefix):
    import mxnet as mx

    if isinstance(model, (str, os.PathLike)):
        return mx.model.load_checkpoint(os.fspath(model), 0)
    if isinstance(model, tuple) and len(model) == 3:
        return model
    if isinstance(model, mx.gluon.HybridBlock):
        model.hybridize(static_alloc=True, static_shape=True)
        model(*[mx.nd.array(e) for e in examples])  # builds the cached graph
        export_prefix.parent.mkdir(exist_ok=True)
        model.export(str(export_prefix), epoch=0)
        loaded = mx.model.load_checkpoint(str(export_prefix), 0)
        import shutil

        shutil.rmtree(export_prefix.parent)
        return loaded
    raise CompileError(f"the mxnet backend takes a gluon HybridBlock, a (sym, args, aux) tuple or a checkpoint "
                       f"prefix, not {type(model).__name__}")


def _count_ops(original, compiled):
    """(operators, operators inside Neuron subgraphs, Neuron subgraphs) of the compiled graph."""
    def ops(sym):
        return [n for n in json.loads(sym.tojson())["nodes"] if n["op"] != "null"]

    total = len(ops(original))
    subgraphs = [n for n in ops(compiled) if n["op"] == "_neuron_subgraph_op"]
    on_cpu = len(ops(compiled)) - len(subgraphs)
    return total, max(total - on_cpu, 0), len(subgraphs)


def _example_arrays(request):
    given = request.example_inputs
    if isinstance(given, dict) or not given:
        raise CompileError("the mxnet backend needs example_inputs= as an array or a tuple in the model's input order")
    return [np.ascontiguousarray(e.asnumpy() if hasattr(e, "asnumpy") else e) for e in given]


def _specs(names, arrays):
    return tuple(TensorSpec.of(n, a) for n, a in zip(names, arrays))


def _out_specs(names, shapes):
    return tuple(TensorSpec(n, "float32", s) for n, s in zip(names, shapes))


def _framework():
    import mxnet as mx

    return Component("mxnet", mx.__version__)
