"""Compile and load PyTorch models: host engines on the cpu target, the Neuron SDK on inf1/inf2/trn1.

cpu engines (defaults from the figures environment.md measured on the project's 2-core AMX machine;
this session's own, on an AVX2-only host, are in docs/performance.md):
- ``onnxruntime``: ``torch.onnx.export`` with a free batch axis, then the ONNX backend's
  optimisation and sessions. The fastest fp32 engine measured, so the fp32 default.
- ``openvino``: ``openvino.convert_model`` from the module, saved as IR with fp32 weights; the
  precision is a load-time hint (``INFERENCE_PRECISION_HINT`` f32 or bf16, always set
  explicitly because OpenVINO's default on AMX CPUs is bf16). The bf16 default.
- ``torchscript``: ``torch.jit.trace`` + ``freeze`` + ``optimize_for_inference`` (fp32).
- ``inductor``: ``torch.export`` (free batch axis) + AOTInductor ``aoti_compile_and_package``: a
  self-contained ``.pt2`` of generated C++ (fp32; compiling takes tens of seconds).

Neuron targets call the documented SDK functions (neuron-sdk-reference §1, §7):
``torch.neuron.trace(model, example_inputs, compiler_args=[...], dynamic_batch_size=...,
fallback=...)`` for inf1 and ``torch_neuronx.trace(model, example_inputs, compiler_args=[...])``
for inf2/trn1, saved with ``torch.jit.save``. In this project's tests they run against simulated
SDK modules (``neuronkit.testing.sim``), never on Neuron hardware.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import warnings

import numpy as np

from neuronkit import Compiler, CompileReport, CompileResult, Component, Replica, TensorSpec
from neuronkit.engines import OPENVINO_PRECISION, openvino_runner
from neuronkit.errors import BackendUnavailable, CompileError
from neuronkit.targets import NEURON_CC_FAST_MATH, NEURONX_CC_CAST

MODEL_PT = "model.pt"
MODEL_PT2 = "model.pt2"
MODEL_XML = "model.xml"

SDK_PACKAGE = {"torch_neuron": "torch-neuron", "torch_neuronx": "torch-neuronx"}


def import_sdk(module: str):
    """Import a Neuron SDK module, or say where to get it (PyPI's namesakes are placeholders)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        placeholder = "WRONG PACKAGE" in str(exc)
        raise BackendUnavailable(
            f"{module} is {'only the PyPI placeholder' if placeholder else 'not installed'} here. Install the real "
            f"package from the Neuron repository: pip install {SDK_PACKAGE[module]} "
            f"--extra-index-url=https://pip.repos.neuron.amazonaws.com (on a Neuron instance or build host)"
        ) from None


class TorchCompiler(Compiler):
    def compile(self, model, request):
        with quiet_jit():
            return self._compile(model, request)

    def _compile(self, model, request):
        import torch

        request.progress("preparing the model")
        if isinstance(model, (str, os.PathLike)):
            model = torch.jit.load(os.fspath(model))
        if not isinstance(model, torch.nn.Module):
            raise CompileError(f"the torch backend takes a torch.nn.Module or a TorchScript file, "
                               f"not {type(model).__name__}")
        model = model.eval()
        examples = _example_tensors(request)
        with torch.no_grad():
            expected = _as_tuple(model(*examples))
        names = _input_names(model, len(examples))
        out_names = [f"output{i}" for i in range(len(expected))]
        target = request.target.name
        if target == "cpu":
            dynamic = request.dynamic_batch is not False
            engine = request.engine or ("openvino" if request.precision == "bf16" else "onnxruntime")
            build = {"onnxruntime": _onnxruntime, "openvino": _openvino, "torchscript": _torchscript,
                     "inductor": _inductor}[engine]
            result = build(self.spec, model, examples, names, out_names, dynamic, request)
        elif target == "inf1":
            result = _inf1(model, examples, names, out_names, expected, request)
        else:
            result = _neuronx(model, examples, names, out_names, expected, request)
        return result


# -- cpu engines

def _onnxruntime(spec, model, examples, names, out_names, dynamic, request):
    import torch
    from neuronkit_onnx.backend import OnnxCompiler

    if request.precision != "fp32":
        raise CompileError("engine 'onnxruntime' runs fp32 only; use engine='openvino' for bf16")
    request.progress("exporting to ONNX")
    path = request.workdir / "export.onnx"
    axes = {n: {0: "batch"} for n in names + out_names} if dynamic else None
    torch.onnx.export(model, examples, str(path), input_names=names, output_names=out_names, dynamic_axes=axes,
                      opset_version=17, dynamo=False)
    result = OnnxCompiler(spec).compile(str(path), request)
    path.unlink()
    return _with(result, framework=_framework(), engine="onnxruntime",
                 flags=("torch.onnx.export(opset_version=17, dynamo=False)",) + result.flags)


def _openvino(spec, model, examples, names, out_names, dynamic, request):
    import openvino as ov

    if request.precision not in OPENVINO_PRECISION:
        raise CompileError(f"engine 'openvino' runs {', '.join(OPENVINO_PRECISION)}, not {request.precision}")
    request.progress("converting to OpenVINO")
    ov_model = ov.convert_model(model, example_input=examples)
    if dynamic:
        ov_model.reshape({i: ov.PartialShape([-1, *e.shape[1:]]) for i, e in enumerate(examples)})
    ov.save_model(ov_model, str(request.workdir / MODEL_XML), compress_to_fp16=False)
    hint = OPENVINO_PRECISION[request.precision]
    return CompileResult(
        inputs=_specs(names, examples, dynamic), outputs=_output_specs(out_names, ov_model, dynamic),
        framework=_framework(), compiler=Component("openvino", ov.get_version()), engine="openvino",
        flags=("openvino.convert_model(example_input)", "save_model(compress_to_fp16=False)",
               f"load: INFERENCE_PRECISION_HINT={hint}"),
        batch_size=None if dynamic else int(examples[0].shape[0]), dynamic_batch=dynamic,
        report=CompileReport(notes=("every operator runs on the host CPU through OpenVINO",)),
        load={"model": MODEL_XML, "precision_hint": hint},
    )


def _torchscript(spec, model, examples, names, out_names, dynamic, request):
    import torch

    if request.precision != "fp32":
        raise CompileError("engine 'torchscript' runs fp32 only; use engine='openvino' for bf16")
    request.progress("tracing with TorchScript")
    with torch.no_grad():
        # optimize_for_inference's prepacked weights do not serialize: it runs again at load.
        traced = torch.jit.freeze(torch.jit.trace(model, examples).eval())
        if dynamic:  # a traced graph can bake the batch in (a reshape, say): check another batch runs right
            other = tuple(torch.cat([e, e[:1]]) for e in examples)
            if not all(torch.allclose(a, b, rtol=1e-4, atol=1e-5)
                       for a, b in zip(_as_tuple(traced(*other)), _as_tuple(model(*other)))):
                raise CompileError("the traced model does not handle another batch size correctly; "
                                   "compile with dynamic_batch=False (neuronkit then pads batches to size)")
        outputs = _as_tuple(traced(*examples))
    torch.jit.save(traced, str(request.workdir / MODEL_PT))
    return CompileResult(
        inputs=_specs(names, examples, dynamic),
        outputs=tuple(TensorSpec.of(n, o.numpy(), dynamic) for n, o in zip(out_names, outputs)),
        framework=_framework(), compiler=Component("torch.jit", torch.__version__), engine="torchscript",
        flags=("torch.jit.trace", "torch.jit.freeze", "load: torch.jit.optimize_for_inference"),
        batch_size=None if dynamic else int(examples[0].shape[0]), dynamic_batch=dynamic,
        report=CompileReport(notes=("every operator runs on the host CPU through TorchScript",)),
        load={"model": MODEL_PT},
    )


def _inductor(spec, model, examples, names, out_names, dynamic, request):
    import torch

    if request.precision != "fp32":
        raise CompileError("engine 'inductor' runs fp32 only; use engine='openvino' for bf16")
    request.progress("exporting with torch.export")
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    shapes = tuple({0: batch} for _ in examples) if dynamic else None
    # torch.export specialises a dimension of size 1 to the constant 1 ("0/1 specialisation"), so a
    # batch-1 example, the one most users pass, would fail with a dynamic batch: trace two copies of it.
    traced = tuple(torch.cat([t, t]) if dynamic and t.shape[0] == 1 else t for t in examples)
    exported = torch.export.export(model, traced, dynamic_shapes=shapes)
    request.progress("compiling C++ with AOTInductor (tens of seconds)")
    torch._inductor.aoti_compile_and_package(exported, package_path=str(request.workdir / MODEL_PT2))
    with torch.no_grad():
        outputs = _as_tuple(model(*examples))
    return CompileResult(
        inputs=_specs(names, examples, dynamic),
        outputs=tuple(TensorSpec.of(n, o.numpy(), dynamic) for n, o in zip(out_names, outputs)),
        framework=_framework(), compiler=Component("aotinductor", torch.__version__), engine="inductor",
        flags=("torch.export.export(dynamic batch)" if dynamic else "torch.export.export",
               "torch._inductor.aoti_compile_and_package"),
        batch_size=None if dynamic else int(examples[0].shape[0]), dynamic_batch=dynamic,
        report=CompileReport(notes=("every operator runs on the host CPU as AOTInductor-generated C++",)),
        load={"model": MODEL_PT2},
    )


# -- Neuron targets

def _inf1(model, examples, names, out_names, expected, request):
    import torch

    torch_neuron = import_sdk("torch_neuron")
    strict = bool(request.options.get("strict", False))
    args = ["--fast-math", NEURON_CC_FAST_MATH[request.precision]]
    if request.pipeline_cores > 1:
        args += ["--neuroncore-pipeline-cores", str(request.pipeline_cores)]
    args += list(request.options.get("compiler_args", ()))
    dynamic = bool(request.dynamic_batch)
    request.progress("analysing operator support (torch.neuron.analyze_model)")
    analysis = torch.neuron.analyze_model(model, example_inputs=list(examples))
    unsupported = tuple(sorted(analysis.get("unsupported_operators", ())))
    if strict and unsupported:
        raise CompileError(f"strict: {len(unsupported)} operator(s) would run on the CPU, not Neuron: "
                           f"{', '.join(unsupported)}; remove strict=True to allow that")
    request.progress("compiling with neuron-cc (torch.neuron.trace)")
    traced = torch.neuron.trace(model, example_inputs=list(examples), compiler_args=args,
                                dynamic_batch_size=dynamic, fallback=not strict,
                                compiler_workdir=str(request.workdir / "neuron-cc"))
    torch.jit.save(traced, str(request.workdir / MODEL_PT))
    _remove(request.workdir / "neuron-cc")
    return CompileResult(
        inputs=_specs(names, examples, dynamic), outputs=_specs(out_names, expected, dynamic),
        framework=_framework(), compiler=Component("neuron-cc (torch-neuron)", _version(torch_neuron)),
        flags=tuple(args) + (f"dynamic_batch_size={dynamic}", f"fallback={not strict}"),
        batch_size=None if dynamic else int(examples[0].shape[0]), dynamic_batch=dynamic,
        report=CompileReport(ops_total=analysis.get("total_count"), ops_on_target=analysis.get("supported_count"),
                             unsupported_ops=unsupported),
        load={"model": MODEL_PT, "sdk": "torch_neuron"},
    )


def _neuronx(model, examples, names, out_names, expected, request):
    import torch

    torch_neuronx = import_sdk("torch_neuronx")
    if request.pipeline_cores > 1:
        raise CompileError("pipeline_cores is a neuron-cc (inf1) feature; torch-neuronx has no equivalent")
    args = ["--target", request.target.name, *NEURONX_CC_CAST[request.precision],
            *request.options.get("compiler_args", ())]
    request.progress("compiling with neuronx-cc (torch_neuronx.trace)")
    traced = torch_neuronx.trace(model, examples, compiler_args=args,
                                 compiler_workdir=str(request.workdir / "neuronx-cc"))
    torch.jit.save(traced, str(request.workdir / MODEL_PT))
    _remove(request.workdir / "neuronx-cc")
    dynamic = bool(request.dynamic_batch)
    return CompileResult(
        inputs=_specs(names, examples, dynamic), outputs=_specs(out_names, expected, dynamic),
        framework=_framework(), compiler=Component("neuronx-cc (torch-neuronx)", _version(torch_neuronx)),
        flags=tuple(args), batch_size=None if dynamic else int(examples[0].shape[0]), dynamic_batch=dynamic,
        report=CompileReport(notes=("torch_neuronx.trace compiles the whole graph for the NeuronCore",)),
        load={"model": MODEL_PT, "sdk": "torch_neuronx"},
    )


# -- replicas

class TorchReplica(Replica):
    """One loaded copy: a session of the artifact's engine, or the Neuron SDK's loader."""

    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        with quiet_jit():
            self._load(artifact, group, options)

    def _load(self, artifact, group, options):
        load = artifact.manifest.load
        path = str(artifact.file(load["model"]))
        self._close = lambda: None
        engine = artifact.manifest.engine
        if artifact.target != "cpu":
            self._run = _neuron_runner(artifact, path, group, load["sdk"])
        elif engine == "onnxruntime":
            from neuronkit_onnx.backend import OnnxReplica

            onnx = OnnxReplica(artifact, group, options)
            self._run, self._close = onnx.run, onnx.close
        elif engine == "openvino":
            self._run, self.precision = openvino_runner(path, load["precision_hint"], group.size)
        else:
            import torch

            if engine == "inductor":
                module = torch._inductor.aoti_load_package(path)
            else:
                module = torch.jit.optimize_for_inference(torch.jit.load(path))
            _set_torch_threads(group.size)

            def run(inputs):
                with torch.no_grad():
                    return [o.numpy() for o in _as_tuple(module(*(torch.from_numpy(x) for x in inputs)))]

            self._run = run

    def run(self, inputs):
        return self._run(inputs)  # the core turns outputs into arrays

    def close(self):
        self._close()
        self._run = None


def _neuron_runner(artifact, path, group, sdk_name):
    """Load on the group's NeuronCores. The core already set NEURON_RT_* before this import, as
    the runtime requires; ``import torch_neuron`` must precede ``torch.jit.load`` (else
    ``Unknown builtin op: neuron::forward``)."""
    import torch

    sdk = import_sdk(sdk_name)
    module = torch.jit.load(path)
    cores = list(range(group.local_start, group.local_start + group.size))
    m = artifact.manifest
    if sdk_name == "torch_neuron" and m.pipeline_cores > 1:
        runner = module  # DataParallel cannot hold pipelined models; the runtime places it on the group
    elif sdk_name == "torch_neuron":
        runner = torch.neuron.DataParallel(module, device_ids=cores)
        if not m.dynamic_batch:
            runner.disable_dynamic_batching()
    else:
        runner = sdk.DataParallel(module, device_ids=cores, set_dynamic_batching=m.dynamic_batch)

    def run(inputs):
        with torch.no_grad():
            return [o.numpy() for o in _as_tuple(runner(*(torch.from_numpy(x) for x in inputs)))]

    return run


# -- helpers

_torch_threads: list = []  # the intra-op thread count a replica set in this process


def _set_torch_threads(size: int) -> None:
    """``torch.set_num_threads`` is process-wide: every TorchScript/inductor replica in the process shares
    one intra-op thread count. Groups of one load have equal sizes; a later load that wants
    another count changes it for all, so say so."""
    import torch

    if _torch_threads and _torch_threads[-1] != size:
        warnings.warn(f"torch's intra-op thread count is process-wide: this load sets it to {size}, which also "
                      f"applies to the TorchScript replicas already loaded with {_torch_threads[-1]}",
                      RuntimeWarning, stacklevel=5)
    torch.set_num_threads(size)
    _torch_threads.append(size)


@contextlib.contextmanager
def quiet_jit():
    """torch 2.14 deprecates torch.jit; TorchScript is still what the Neuron SDK produces and loads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        yield


def _openvino_precision(compiled, hint: str) -> str:
    """The precision OpenVINO really runs: on a CPU without bf16 support (no AVX512-BF16 or AMX)
    it runs f32 whatever the hint, and says so only if asked. Say it."""
    import warnings

    actual = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    if actual != hint:
        warnings.warn(f"this CPU runs the model in {actual}, not {hint} as compiled (OpenVINO found no {hint} support "
                      f"here): results are fine, speed is {actual} speed", RuntimeWarning, stacklevel=4)
    return actual


def tiny_model():
    """A small convolutional model and an example input, for ``neuronkit selftest``."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4)).eval()
    return model, (np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32),)


def _example_tensors(request):
    import torch

    given = request.example_inputs
    if isinstance(given, dict):
        raise CompileError("the torch backend takes example_inputs as a tensor or a tuple in forward()'s order")
    if not given:
        raise CompileError("the torch backend needs example_inputs= (a tensor or array shaped like real inputs)")
    tensors = tuple(t if isinstance(t, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(t)) for t in given)
    size = request.batch_size
    if size and tensors[0].shape[0] != size:  # the compiled batch: repeat or cut the example rows
        tensors = tuple(t[np.arange(size) % t.shape[0]] for t in tensors)
    return tensors


def _input_names(model, count):
    try:
        params = [p.name for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) >= count and len(set(params[:count])) == count and "input" not in params[:count]:
        return params[:count]
    return [f"input{i}" for i in range(count)]


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _specs(names, tensors, dynamic):
    return tuple(TensorSpec.of(n, t, dynamic) for n, t in zip(names, tensors))


def _output_specs(names, ov_model, dynamic):
    specs = []
    for name, out in zip(names, ov_model.outputs):
        shape = [d.get_length() if d.is_static else None for d in out.get_partial_shape()]
        specs.append(TensorSpec(name, out.get_element_type().to_dtype().name, (None, *shape[1:]) if dynamic else shape))
    return tuple(specs)


def _framework():
    import torch

    return Component("torch", torch.__version__)


def _version(module) -> str:
    return str(getattr(module, "__version__", ""))


def _with(result, **changes):
    from dataclasses import replace

    return replace(result, **changes)


def _remove(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)
