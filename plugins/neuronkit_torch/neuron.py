"""inf1, inf2 and trn1 through the Neuron SDK's PyTorch integrations, called as documented.

- inf1: ``torch.neuron.analyze_model(model, example_inputs)`` for the operator report, then
  ``torch.neuron.trace(model, example_inputs, compiler_args=[...], dynamic_batch_size=...,
  fallback=...)`` (NSDK ``archive/torch-neuron/api-compilation-python-api.rst``), saved with
  ``torch.jit.save``.
- inf2/trn1: ``torch_neuronx.trace(model, example_inputs, compiler_args=[...])`` (NSDK
  ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-trace.rst``).
- Loading: ``import torch_neuron`` (or ``torch_neuronx``) before ``torch.jit.load`` (else ``Unknown
  builtin op: neuron::forward``), then the SDK's ``DataParallel`` over the group's process-relative
  cores. The core set ``NEURON_RT_*`` before any of this, as the runtime requires.

Precision flags come from the core's tables (neuronkit.neuron); ``strict=`` and ``min_on_neuron=``
are checked by the core from the report; ``strict`` also turns off torch-neuron's CPU fallback.
In this project's tests these run against simulated SDK modules, never on Neuron hardware.
"""

from __future__ import annotations

import shutil

from neuronkit import CompileReport, CompileResult, Component, CoreSpecError
from neuronkit.neuron import check_placement, extra_compiler_args, import_sdk, neuron_cc_flags, neuronx_cc_flags

from .model import TorchModel, framework, run_module

MODEL_PT = "model.pt"
#: target -> (SDK module, pip package, compiler)
SDK = {"inf1": ("torch_neuron", "torch-neuron", "neuron-cc"),
       "inf2": ("torch_neuronx", "torch-neuronx", "neuronx-cc"),
       "trn1": ("torch_neuronx", "torch-neuronx", "neuronx-cc"),
       "trn2": ("torch_neuronx", "torch-neuronx", "neuronx-cc")}


def compile_inf1(m: TorchModel, request) -> CompileResult:
    import torch

    module, package, compiler = SDK["inf1"]
    sdk = import_sdk(module, package, target="inf1")
    strict = bool(request.options.get("strict", False))
    args = neuron_cc_flags(request.precision, request.pipeline_cores) + extra_compiler_args(request.options)
    dynamic = bool(request.dynamic_batch)
    request.progress("analysing operator support (torch.neuron.analyze_model)")
    analysis = torch.neuron.analyze_model(m.module, example_inputs=list(m.examples))
    report = CompileReport(ops_total=analysis.get("total_count"), ops_on_target=analysis.get("supported_count"),
                           unsupported_ops=tuple(sorted(analysis.get("unsupported_operators", ()))))
    check_placement(report, request.options)  # strict=/min_on_neuron=: refuse before the long compile
    request.progress("compiling with neuron-cc (torch.neuron.trace)")
    workdir = request.workdir / "neuron-cc"
    traced = torch.neuron.trace(m.module, example_inputs=list(m.examples), compiler_args=args,
                                dynamic_batch_size=dynamic, fallback=not strict, compiler_workdir=str(workdir))
    torch.jit.save(traced, str(request.workdir / MODEL_PT))
    shutil.rmtree(workdir, ignore_errors=True)
    return CompileResult(
        inputs=m.inputs(dynamic), outputs=m.outputs(dynamic), framework=framework(),
        compiler=Component(f"{compiler} ({package})", _version(sdk)),
        flags=tuple(args) + (f"dynamic_batch_size={dynamic}", f"fallback={not strict}"),
        batch_size=None if dynamic else m.batch, dynamic_batch=dynamic,
        report=report, load={"model": MODEL_PT, "sdk": module},
    )


def compile_neuronx(m: TorchModel, request) -> CompileResult:
    import torch

    target = request.target.name
    module, package, compiler = SDK[target]
    sdk = import_sdk(module, package, target=target)
    args = neuronx_cc_flags(target, request.precision, request.options.get("logical_cores")) + extra_compiler_args(
        request.options)
    request.progress("compiling with neuronx-cc (torch_neuronx.trace)")
    workdir = request.workdir / "neuronx-cc"
    traced = sdk.trace(m.module, m.examples, compiler_args=args, compiler_workdir=str(workdir))
    torch.jit.save(traced, str(request.workdir / MODEL_PT))
    shutil.rmtree(workdir, ignore_errors=True)
    dynamic = bool(request.dynamic_batch)
    return CompileResult(
        inputs=m.inputs(dynamic), outputs=m.outputs(dynamic), framework=framework(),
        compiler=Component(f"{compiler} ({package})", _version(sdk)),
        flags=tuple(args), batch_size=None if dynamic else m.batch, dynamic_batch=dynamic,
        report=CompileReport(notes=("torch_neuronx.trace compiles the whole graph for the NeuronCore",)),
        load={"model": MODEL_PT, "sdk": module},
    )


def load(artifact, group):
    """``run(inputs)`` on the group's NeuronCores, through the SDK's ``DataParallel``.

    Without dynamic batching ``DataParallel`` needs ``input.shape[0] / len(device_ids)`` to equal the
    compiled batch (api-torch-neuron-dataparallel-api.rst, api-torch-neuronx-data-parallel.rst), while
    the Runtime feeds a fixed-batch artifact exactly its batch: a group of several cores cannot run it.
    """
    import torch

    m = artifact.manifest
    module_name = m.load["sdk"]
    package = next(p for mod, p, _ in SDK.values() if mod == module_name)
    sdk = import_sdk(module_name, package, target=m.target)  # registers neuron::forward before the load
    module = torch.jit.load(str(artifact.file(m.load["model"])))
    cores = list(range(group.local_start, group.local_start + group.size))
    pipelined = m.pipeline_cores > 1
    if group.size > 1 and not m.dynamic_batch and not pipelined:
        raise CoreSpecError(
            f"this artifact was compiled for a fixed batch of {m.batch_size}; the SDK's DataParallel runs it on a "
            f"group of {group.size} cores only when fed {group.size} x {m.batch_size} rows at once. Load it with "
            f"group_size=1 (one replica per core: the same cores, the same throughput), or compile with "
            f"dynamic_batch=True")
    if pipelined:
        runner = module  # DataParallel cannot hold pipelined models; the runtime places it on the group
    elif module_name == "torch_neuron":
        runner = torch.neuron.DataParallel(module, device_ids=cores)
        if not m.dynamic_batch:
            runner.disable_dynamic_batching()
    else:
        runner = sdk.DataParallel(module, device_ids=cores, set_dynamic_batching=m.dynamic_batch)
    return lambda inputs: run_module(runner, inputs)


def _version(module) -> str:
    return str(getattr(module, "__version__", ""))
