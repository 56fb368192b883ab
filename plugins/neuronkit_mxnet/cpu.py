"""The cpu target: MXNet's ONNX exporter into the core's engines, and the backend's own ``module`` engine.

- ``onnxruntime``: ``mx.onnx.export_model`` (with a free batch axis unless ``dynamic_batch=False``),
  then :func:`neuronkit.engines.onnxruntime.finish` (which also drops the weights the MXNet exporter
  lists as graph inputs: they would stop constant folding).
- ``openvino``: the same export converted by ``openvino.convert_model``, then
  :func:`neuronkit.engines.openvino.finish`. MXNet's own bf16 (``mx.contrib.amp``, oneDNN) does not
  run ResNet50 with the mxnet 1.9.1 wheel ("could not create a primitive descriptor iterator"), so
  bf16 goes through OpenVINO.
- ``module``: the symbol and params saved with ``mx.model.save_checkpoint`` and bound through the
  Module API (reshaped when a call brings another batch).

The core loads the first two with its own replicas. MXNet's CPU threads are process-wide:
``OMP_NUM_THREADS`` and ``MXNET_CPU_WORKER_NTHREADS`` are read when mxnet is imported, so a
``module`` replica loaded before mxnet is imported sets them from its group (unless the user did);
afterwards they cannot change.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import replace

from neuronkit import CompileError, CompileReport, CompileResult, Component
from neuronkit.engines import onnxruntime, openvino

from .model import PREFIX, MxnetModel, framework


@contextlib.contextmanager
def _onnx_export(m: MxnetModel, request, dynamic: bool):
    """``mx.onnx.export_model`` into the work directory: (the file, the flag that says how); removed after."""
    import mxnet as mx

    request.progress("exporting to ONNX (mx.onnx.export_model)")
    path = request.workdir / "export.onnx"
    try:
        with exporter_compat():
            mx.onnx.export_model(m.sym, {**m.args, **m.aux}, in_shapes=[e.shape for e in m.examples],
                                 in_types=[e.dtype for e in m.examples], onnx_file_path=str(path), dynamic=dynamic,
                                 dynamic_input_shapes=[[None, *e.shape[1:]] for e in m.examples] if dynamic else None)
        yield path, f"mx.onnx.export_model(dynamic={dynamic}, opset {EXPORT_OPSET})"
    finally:
        path.unlink(missing_ok=True)


#: MXNet 1.9's exporter has operator translations up to opset 13, but stamps the model with the newest opset
#: the installed onnx knows (28 for onnx 1.23, which ONNX Runtime 1.32 cannot run quantized): ask for 13.
EXPORT_OPSET = 13


@contextlib.contextmanager
def exporter_compat():
    """What ``mx.onnx.export_model`` needs to run with a current onnx: the ``onnx.mapping`` tables and
    opset :data:`EXPORT_OPSET` (see :func:`_provide_onnx_mapping`). benchmarks/mxnet_resnet50.py uses it too."""
    _provide_onnx_mapping()
    with warnings.catch_warnings(), _opset(EXPORT_OPSET):
        warnings.simplefilter("ignore", DeprecationWarning)  # onnx.mapping, deprecated since onnx 1.15
        yield


@contextlib.contextmanager
def _opset(version: int):
    """``onnx.defs.onnx_opset_version()`` answers ``version`` while the exporter runs."""
    import onnx.defs

    newest = onnx.defs.onnx_opset_version
    onnx.defs.onnx_opset_version = lambda: min(version, newest())
    try:
        yield
    finally:
        onnx.defs.onnx_opset_version = newest


def _provide_onnx_mapping() -> None:
    """MXNet 1.9's exporter reads ``onnx.mapping.NP_TYPE_TO_TENSOR_TYPE`` / ``TENSOR_TYPE_TO_NP_TYPE``, which
    onnx 1.16 removed; ONNX Runtime's int8 quantizer needs onnx >= 1.16. With a newer onnx, give the exporter
    those two tables, built from ``onnx.helper`` (the functions onnx documents in their place)."""
    import types

    import numpy as np
    import onnx

    if hasattr(onnx, "mapping"):
        return
    pairs = []
    for code in onnx.TensorProto.DataType.values():
        try:
            pairs.append((code, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(code))))
        except (KeyError, TypeError, ValueError):  # UNDEFINED, and types numpy has no name for
            continue
    mapping = types.ModuleType("onnx.mapping")
    mapping.TENSOR_TYPE_TO_NP_TYPE = dict(pairs)
    mapping.NP_TYPE_TO_TENSOR_TYPE = {}
    for code, dtype in pairs:  # the first code of a dtype wins (FLOAT before the float8 types, say)
        mapping.NP_TYPE_TO_TENSOR_TYPE.setdefault(dtype, code)
    onnx.mapping = sys.modules["onnx.mapping"] = mapping


def compile_onnxruntime(m: MxnetModel, request, dynamic: bool) -> CompileResult:
    with _onnx_export(m, request, dynamic) as (path, how):
        request = replace(request, example_inputs=m.examples, dynamic_batch=dynamic)
        result = onnxruntime.finish(str(path), request, framework=framework(), flags=(how,), output_names=m.out_names)
    # a dynamic export leaves every output axis free; MXNet's shape inference knows all but the batch
    return replace(result, outputs=m.outputs(dynamic))


def compile_openvino(m: MxnetModel, request, dynamic: bool) -> CompileResult:
    import openvino as ov

    with _onnx_export(m, request, dynamic) as (path, how):
        request.progress("converting to OpenVINO")
        return openvino.finish(
            ov.convert_model(str(path)), request, m.inputs(dynamic), framework=framework(), output_names=m.out_names,
            flags=(how, "openvino.convert_model"),
            report=CompileReport(notes=(f"every operator runs on the host CPU through OpenVINO ({m.ops} MXNet "
                                        f"nodes)",)))


def compile_module(m: MxnetModel, request, dynamic: bool) -> CompileResult:
    import mxnet as mx

    if dynamic:  # the symbol must take another batch: shape inference says whether a reshape baked it in
        try:
            _, other, _ = m.sym.infer_shape(**{n: (m.batch + 1, *e.shape[1:]) for n, e in zip(m.names, m.examples)})
        except mx.base.MXNetError:
            other = None
        if not other or any(tuple(s[:1]) != (m.batch + 1,) for s in other):
            raise CompileError("the symbol fixes its batch size; compile with dynamic_batch=False (neuronkit then "
                               "pads or splits other batches)")
    mx.model.save_checkpoint(str(request.workdir / PREFIX), 0, m.sym, m.args, m.aux)
    return CompileResult(
        inputs=m.inputs(dynamic), outputs=m.outputs(dynamic), framework=framework(),
        compiler=Component("mxnet.module", mx.__version__), engine="module",
        flags=("hybridize(static_alloc=True, static_shape=True)", "mx.model.save_checkpoint",
               "load: Module.bind(for_training=False)" + (", Module.reshape per batch" if dynamic else "")),
        batch_size=None if dynamic else m.batch, dynamic_batch=dynamic,
        report=CompileReport(notes=("every operator runs on the host CPU through MXNet",)),
        load={"prefix": PREFIX, "inputs": list(m.names)},
    )


#: the compile step of each cpu engine (the core chose ``request.engine``)
COMPILERS = {"onnxruntime": compile_onnxruntime, "openvino": compile_openvino, "module": compile_module}


def load(artifact, group):
    """A ``module`` artifact bound through the Module API: a function from input arrays to output arrays."""
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
