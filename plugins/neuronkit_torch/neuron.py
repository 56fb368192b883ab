"""inf1, inf2 and trn1 through the Neuron SDK's PyTorch integrations, called as documented.

- inf1: ``torch.neuron.analyze_model(model, example_inputs)`` for the operator report, then
  ``torch.neuron.trace(model, example_inputs, compiler_args=[...], dynamic_batch_size=...,
  fallback=...)`` (NSDK ``archive/torch-neuron/api-compilation-python-api.rst``), saved with
  ``torch.jit.save``.
- inf2/trn1/trn2: ``torch_neuronx.trace(model, example_inputs, compiler_args=[...],
  inline_weights_to_neff=...)`` (NSDK
  ``frameworks/torch/torch-neuronx/api-reference-guide/inference/api-torch-neuronx-trace.rst``), then
  ``lazy_load`` / ``async_load`` before ``torch.jit.save`` as ``api-torch-neuronx-async-lazy-load.rst``
  says; with ``shapes=`` ``torch_neuronx.bucket_model_trace(func, example_inputs, BucketModelConfig(kernel),
  compiler_args=...)`` (the trace document's Autobucketing section).
- Weights kept out of the NEFF (``inline_weights=False``) are replaced by :func:`replace_weights`: the new
  state_dict is stored beside the model and applied at load with ``torch_neuronx.replace_weights``
  (``api-torch-neuronx-replace-weights.rst``).
- Loading: ``import torch_neuron`` (or ``torch_neuronx``) before ``torch.jit.load`` (else ``Unknown
  builtin op: neuron::forward``), then the SDK's ``DataParallel`` over the group's process-relative
  cores. The core set ``NEURON_RT_*`` before any of this, as the runtime requires.

Precision flags come from the core's tables (neuronkit.neuron); ``strict=`` and ``min_on_neuron=``
are checked by the core from the report; ``strict`` also turns off torch-neuron's CPU fallback.
In this project's tests these run against simulated SDK modules, never on Neuron hardware.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Mapping

from neuronkit import CompileError, CompileReport, CompileResult, Component, CoreSpecError, NeuronkitError, TensorSpec
from neuronkit.neuron import check_placement, extra_compiler_args, import_sdk, neuron_cc_flags, neuronx_cc_flags

from .model import TorchModel, as_tuple, framework, run_module

MODEL_PT = "model.pt"
WEIGHTS_PT = "weights.pt"   # the state_dict replace_weights stores, applied at load
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

    target, options = request.target.name, request.options
    module, package, compiler = SDK[target]
    sdk = import_sdk(module, package, target=target)
    args = neuronx_cc_flags(target, request.precision, options.get("logical_cores")) + extra_compiler_args(options)
    inline = bool(options.get("inline_weights", True))
    lazy, eager_async = bool(options.get("lazy_load", False)), bool(options.get("async_load", False))
    buckets = _buckets(options["shapes"], m, request) if options.get("shapes") is not None else None
    workdir = request.workdir / "neuronx-cc"
    if buckets:
        request.progress(f"compiling {len(buckets)} buckets with neuronx-cc (torch_neuronx.bucket_model_trace)")
        examples = [_bucket_example(m.examples, shapes) for shapes in buckets]
        config = sdk.BucketModelConfig(functools.partial(bucket_kernel, _bucket_spec(buckets)))
        traced = sdk.bucket_model_trace(functools.partial(_model_and_aliases, m.module), examples, config,
                                        compiler_workdir=str(workdir), compiler_args=args)
    else:
        request.progress("compiling with neuronx-cc (torch_neuronx.trace)")
        traced = sdk.trace(m.module, m.examples, compiler_args=args, compiler_workdir=str(workdir),
                           inline_weights_to_neff=inline)
    if lazy:  # the SDK's load settings live in the saved TorchScript: set before torch.jit.save, as documented
        sdk.lazy_load(traced)
    if eager_async:
        sdk.async_load(traced)
    torch.jit.save(traced, str(request.workdir / MODEL_PT))
    shutil.rmtree(workdir, ignore_errors=True)
    dynamic = bool(request.dynamic_batch)
    load = {"model": MODEL_PT, "sdk": module, "inline_weights": inline, "lazy_load": lazy, "async_load": eager_async}
    inputs, outputs = m.inputs(dynamic), m.outputs(dynamic)
    if buckets:
        load["buckets"] = [[list(shape) for shape in bucket] for bucket in buckets]
        inputs, outputs = _bucket_signature(m, examples)
    if not inline:  # what replace_weights checks new weights against: the names and shapes the model was traced with
        load["weights"] = {name: {"dtype": _dtype(t), "shape": list(t.shape)}
                           for name, t in m.module.state_dict().items()}
    return CompileResult(
        inputs=inputs, outputs=outputs, framework=framework(),
        compiler=Component(f"{compiler} ({package})", _version(sdk)),
        flags=tuple(args) + (() if inline else ("inline_weights_to_neff=False",)),
        batch_size=None if dynamic or buckets else m.batch, dynamic_batch=dynamic,
        report=CompileReport(notes=("torch_neuronx.trace compiles the whole graph for the NeuronCore",)),
        load=load,
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
    if m.load.get("weights_file"):  # replace_weights stored them: swapped in on the loaded model, as documented
        sdk.replace_weights(module, torch.load(str(artifact.file(m.load["weights_file"])), weights_only=True))
    cores = list(range(group.local_start, group.local_start + group.size))
    pipelined = m.pipeline_cores > 1
    if m.load.get("buckets"):
        # The DataParallel document covers models from torch_neuronx.trace only: a bucket model is run as
        # torch.jit.load placed it (the runtime's round-robin over the visible cores), one core per replica.
        if group.size > 1:
            raise CoreSpecError(f"a bucket model (shapes=) runs on one NeuronCore per replica, not a group of "
                                f"{group.size}; load it with group_size=1")
        return lambda inputs: run_module(module, inputs)
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


def replace_weights(artifact, weights, workdir) -> dict:
    """Check ``weights`` against the names, shapes and dtypes the artifact was traced with and store them as
    :data:`WEIGHTS_PT` in ``workdir``; :func:`load` applies them with ``torch_neuronx.replace_weights``.

    The SDK's document says the replacement happens in place on the Neuron model and says nothing of it
    lasting through ``torch.jit.save``, so the new weights are kept as their own file, not saved into the model.
    """
    import torch

    m = artifact.manifest
    if m.target == "inf1":
        raise NeuronkitError("torch-neuron (inf1) has no replace_weights; it is a torch-neuronx API (inf2, trn1, "
                             "trn2): compile for one of those with inline_weights=False")
    if m.load.get("inline_weights", True) or "weights" not in m.load:
        raise NeuronkitError("this artifact was compiled with its weights inside the NEFF; torch_neuronx.replace_"
                             "weights works only on models traced with inline_weights_to_neff=False: compile with "
                             "inline_weights=False")
    if isinstance(weights, (str, bytes)) or hasattr(weights, "__fspath__"):
        weights = torch.load(weights, map_location="cpu", weights_only=True)
    if isinstance(weights, torch.nn.Module):  # the document takes "the original model with the new weights" too
        weights = weights.state_dict()
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise NeuronkitError(f"weights must be a state_dict (names to tensors), a module or a file saved with "
                             f"torch.save(model.state_dict(), path), not {type(weights).__name__}")
    expected = m.load["weights"]
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise NeuronkitError(f"the weights do not match the compiled model's: missing {_names(missing)}, unexpected "
                             f"{_names(unexpected)}; pass the state_dict of the same architecture")
    differ = [f"{name}: {_dtype(weights[name])}{list(weights[name].shape)}, compiled {want['dtype']}{want['shape']}"
              for name, want in expected.items()
              if list(weights[name].shape) != want["shape"] or _dtype(weights[name]) != want["dtype"]]
    if differ:
        raise NeuronkitError(f"weights differ in shape or dtype from the compiled model's ({'; '.join(differ[:5])}"
                             f"{'; …' if len(differ) > 5 else ''}); a new shape needs a new compile")
    torch.save({name: t.detach().cpu().contiguous() for name, t in weights.items()}, str(workdir / WEIGHTS_PT))
    return {**m.load, "weights_file": WEIGHTS_PT}


def bucket_kernel(spec: str, *_):
    """The ``bucket_kernel`` of ``BucketModelConfig``: returns a TorchScript function (``torch.jit.script``)
    that takes the list of input tensors and returns them with the index of the bucket whose shapes they
    have (autobucketing-dev-guide.rst). The core's Runtime pads every input to one bucket's shapes exactly,
    so this kernel only selects. The buckets come in as a string default argument: TorchScript takes
    immutable defaults, not closed-over lists ("1x3x32x32|1x4;4x3x32x32|4x4": buckets, inputs, axes)."""
    import torch

    def exact_bucket(tensors: list[torch.Tensor], buckets: str = spec) -> tuple[list[torch.Tensor], torch.Tensor]:
        index = 0
        for bucket in buckets.split(";"):
            shapes = bucket.split("|")
            same = len(shapes) == len(tensors)
            if same:
                for i, tensor in enumerate(tensors):
                    dims: list[int] = []
                    for d in shapes[i].split("x"):
                        dims.append(int(d))
                    if tensor.shape != dims:
                        same = False
            if same:
                return tensors, torch.tensor([index])
            index += 1
        raise RuntimeError("the input shapes match no compiled bucket (" + buckets + "); pad them to one")

    return torch.jit.script(exact_bucket)


def _model_and_aliases(module, *_, **__):
    """bucket_model_trace's ``func``: "returns a Model object and a dictionary of states, or input_output_aliases"."""
    return module, {}


def _buckets(given, m: TorchModel, request) -> list:
    """``shapes=``: a list of buckets, each the shapes of every input (a bare shape for a one-input model)."""
    ranks = [t.dim() for t in m.examples]
    if not isinstance(given, (list, tuple)) or not given:
        raise CompileError("shapes= takes a non-empty list of buckets, e.g. shapes=[(1, 3, 224, 224), "
                           "(8, 3, 224, 224)] (one input) or shapes=[[(1, 128), (1, 128)], ...] (two)")
    if request.dynamic_batch or request.batch_size or not request.options.get("inline_weights", True) \
            or request.options.get("lazy_load") or request.options.get("async_load"):
        raise CompileError("shapes= (bucket_model_trace) does not combine with dynamic_batch, batch_size, "
                           "inline_weights=False, lazy_load or async_load: bucket_model_trace's documented "
                           "signature takes none of them, and the buckets already fix every shape")
    buckets = []
    for bucket in given:
        one = len(ranks) == 1 and isinstance(bucket, (list, tuple)) and all(_is_size(d) for d in bucket)
        shapes = [bucket] if one else bucket
        ok = isinstance(shapes, (list, tuple)) and len(shapes) == len(ranks) and all(
            isinstance(s, (list, tuple)) and len(s) == rank and rank > 0 and all(_is_size(d) for d in s)
            for s, rank in zip(shapes, ranks))
        if not ok:
            raise CompileError(f"shapes= bucket {bucket!r} must give {len(ranks)} shape(s) of rank "
                               f"{', '.join(map(str, ranks))} (one per input, every size an int of 1 or more)")
        buckets.append(tuple(tuple(int(d) for d in s) for s in shapes))
    if len(set(buckets)) != len(buckets):
        raise CompileError(f"shapes= lists a bucket twice: {[list(b) for b in buckets]}")
    return buckets


def _is_size(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _bucket_spec(buckets) -> str:
    return ";".join("|".join("x".join(map(str, shape)) for shape in bucket) for bucket in buckets)


def _bucket_example(examples, shapes) -> tuple:
    """One bucket's example inputs: the user's example, cut or padded with zeros to the bucket's shapes."""
    import torch

    padded = []
    for example, shape in zip(examples, shapes):
        tensor = torch.zeros(shape, dtype=example.dtype)
        common = tuple(slice(0, min(a, b)) for a, b in zip(example.shape, shape))
        tensor[common] = example[common]
        padded.append(tensor)
    return tuple(padded)


def _bucket_signature(m: TorchModel, examples) -> tuple:
    """Inputs and outputs with the axes that differ between buckets free (``None``)."""
    import torch

    with torch.no_grad():
        outputs = [as_tuple(m.module(*example)) for example in examples]

    def specs(names, per_bucket):
        return tuple(TensorSpec(name, TensorSpec.of(name, tensors[0]).dtype,
                                tuple(dims[0] if len(set(dims)) == 1 else None
                                      for dims in zip(*(tuple(t.shape) for t in tensors))))
                     for name, tensors in zip(names, zip(*per_bucket)))

    return specs(m.names, examples), specs(m.out_names, outputs)


def _names(names) -> str:
    return "[" + ", ".join(names[:5]) + (f", … {len(names) - 5} more" if len(names) > 5 else "") + "]"


def _dtype(tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _version(module) -> str:
    return str(getattr(module, "__version__", ""))
