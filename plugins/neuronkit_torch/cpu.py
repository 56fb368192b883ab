"""The cpu target: exporters into the core's engines, and the backend's own TorchScript and AOTInductor.

- ``onnxruntime`` (fp32 default): ``torch.onnx.export`` with a free batch axis, then the core's
  ONNX Runtime engine (its optimisation and replica).
- ``openvino`` (bf16 default): ``openvino.convert_model`` from the module, then the core's OpenVINO engine.
- ``torchscript``: ``torch.jit.trace`` + ``freeze``; ``optimize_for_inference`` at load (fp32).
- ``inductor``: ``torch.export`` (free batch axis) + AOTInductor ``aoti_compile_and_package``: a
  self-contained ``.pt2`` of generated C++ (fp32; compiling takes tens of seconds).

The engine defaults come from the measurements in docs/performance.md.
"""

from __future__ import annotations

import warnings

from neuronkit import CompileError, CompileReport, CompileResult, Component
from neuronkit.engines import onnxruntime, openvino

from .model import TorchModel, as_tuple, framework, run_module

MODEL_PT = "model.pt"
MODEL_PT2 = "model.pt2"


def compile_onnxruntime(m: TorchModel, request, dynamic: bool) -> CompileResult:
    import torch

    request.progress("exporting to ONNX")
    path = request.workdir / "export.onnx"
    axes = {n: {0: "batch"} for n in m.names + m.out_names} if dynamic else None
    torch.onnx.export(m.module, m.examples, str(path), input_names=list(m.names), output_names=list(m.out_names),
                      dynamic_axes=axes, opset_version=17, dynamo=False)
    try:
        return onnxruntime.finish(str(path), request, framework=framework(),
                                  flags=("torch.onnx.export(opset_version=17, dynamo=False)",))
    finally:
        path.unlink()


def compile_openvino(m: TorchModel, request, dynamic: bool) -> CompileResult:
    import openvino as ov

    request.progress("converting to OpenVINO")
    ov_model = ov.convert_model(m.module, example_input=m.examples)
    return openvino.finish(ov_model, request, m.inputs(dynamic), output_names=m.out_names, framework=framework(),
                           flags=("openvino.convert_model(example_input)",))


def compile_torchscript(m: TorchModel, request, dynamic: bool) -> CompileResult:
    import torch

    request.progress("tracing with TorchScript")
    with torch.no_grad():
        # optimize_for_inference's prepacked weights do not serialize: it runs again at load.
        traced = torch.jit.freeze(torch.jit.trace(m.module, m.examples).eval())
        if dynamic:  # a traced graph can bake the batch in (a reshape, say): check another batch runs right
            other = tuple(torch.cat([e, e[:1]]) for e in m.examples)
            if not all(torch.allclose(a, b, rtol=1e-4, atol=1e-5)
                       for a, b in zip(as_tuple(traced(*other)), as_tuple(m.module(*other)))):
                raise CompileError("the traced model does not handle another batch size correctly; "
                                   "compile with dynamic_batch=False (neuronkit then pads batches to size)")
        outputs = as_tuple(traced(*m.examples))
    torch.jit.save(traced, str(request.workdir / MODEL_PT))
    return _own_engine_result(m, dynamic, "torchscript", Component("torch.jit", torch.__version__),
                              ("torch.jit.trace", "torch.jit.freeze", "load: torch.jit.optimize_for_inference"),
                              "TorchScript", MODEL_PT, outputs)


def compile_inductor(m: TorchModel, request, dynamic: bool) -> CompileResult:
    import torch

    request.progress("exporting with torch.export")
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    shapes = tuple({0: batch} for _ in m.examples) if dynamic else None
    # torch.export specialises a dimension of size 1 to the constant 1 ("0/1 specialisation"), so a
    # batch-1 example, the one most users pass, would fail with a dynamic batch: trace two copies of it.
    traced = tuple(torch.cat([t, t]) if dynamic and t.shape[0] == 1 else t for t in m.examples)
    exported = torch.export.export(m.module, traced, dynamic_shapes=shapes)
    request.progress("compiling C++ with AOTInductor (tens of seconds)")
    torch._inductor.aoti_compile_and_package(exported, package_path=str(request.workdir / MODEL_PT2))
    return _own_engine_result(m, dynamic, "inductor", Component("aotinductor", torch.__version__),
                              ("torch.export.export(dynamic batch)" if dynamic else "torch.export.export",
                               "torch._inductor.aoti_compile_and_package"),
                              "AOTInductor-generated C++", MODEL_PT2)


COMPILERS = {"onnxruntime": compile_onnxruntime, "openvino": compile_openvino, "torchscript": compile_torchscript,
             "inductor": compile_inductor}


def _own_engine_result(m, dynamic, engine, compiler, flags, runs_as, model_file, outputs=None) -> CompileResult:
    return CompileResult(
        inputs=m.inputs(dynamic), outputs=m.outputs(dynamic, outputs), framework=framework(), compiler=compiler,
        engine=engine, flags=flags, batch_size=None if dynamic else m.batch, dynamic_batch=dynamic,
        report=CompileReport(notes=(f"every operator runs on the host CPU as {runs_as}",)),
        load={"model": model_file},
    )


def load(artifact, group):
    """``run(inputs)`` for a TorchScript or AOTInductor artifact on a group of host cores."""
    import torch

    path = str(artifact.file(artifact.manifest.load["model"]))
    if artifact.manifest.engine == "inductor":
        module = torch._inductor.aoti_load_package(path)
    else:
        module = torch.jit.optimize_for_inference(torch.jit.load(path))
    _set_torch_threads(group.size)
    return lambda inputs: run_module(module, inputs)


_torch_threads: list = []  # the intra-op thread count a replica set in this process


def _set_torch_threads(size: int) -> None:
    """``torch.set_num_threads`` is process-wide: every TorchScript/inductor replica in the process shares
    one intra-op thread count. Groups of one load have equal sizes; a later load that wants
    another count changes it for all, so say so."""
    import torch

    if _torch_threads and _torch_threads[-1] != size:
        warnings.warn(f"torch's intra-op thread count is process-wide: this load sets it to {size}, which also "
                      f"applies to the TorchScript replicas already loaded with {_torch_threads[-1]}",
                      RuntimeWarning, stacklevel=6)
    torch.set_num_threads(size)
    _torch_threads.append(size)
