"""``neuronkit.compile`` and ``neuronkit.load``: the two calls the rest of the library serves."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import numbers
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import __version__, neuron, plugins
from .artifact import Artifact, InvalidManifest, Manifest, describe_files, now_iso, open_artifact, validate_manifest
from .cache import arrays_digest, cached, file_digest, versions
from .cache import enabled as cache_enabled
from .cache import key as cache_key
from .calibration import DEFAULT_SIZE as DEFAULT_CALIBRATION_SIZE
from .calibration import Calibration
from .cores import CoreGroup, CoreSpec, apply_env, neuron_runtime_env, plan_groups
from .engines import HOST_ENGINES, REPLICAS
from .errors import BackendUnavailable, CompileError, CoreSpecError, NeuronkitError
from .interfaces import Compiler, CompileRequest, CompileResult, Replica
from .runtime import Runtime
from .targets import LNC_ENV, discover, get_target
from .types import BackendSpec, CompileReport, Component, EngineSpec, Preprocess, TensorSpec
from .verify import (
    DEFAULT_SAMPLES,
    Verification,
    VerificationFailed,
    check_signatures,
    inputs_for,
    is_artifact,
    judge,
    rows,
)
from .verify import run as run_all


def compile(
    model: Any,
    framework: str | None = None,
    *,
    example_inputs: Any = None,
    target: str = "cpu",
    precision: str = "auto",
    engine: str | None = None,
    batch_size: int | None = None,
    dynamic_batch: bool | None = None,
    pipeline_cores: int = 1,
    preprocess: Preprocess | None = None,
    calibration: Any = None,
    calibration_size: int = DEFAULT_CALIBRATION_SIZE,
    verify: bool = False,
    cache: bool | None = None,
    progress: Callable[[str], None] | None = None,
    **backend_options: Any,
) -> Artifact:
    """Compile ``model`` for ``target`` and return an :class:`Artifact` (save it with ``.save(path)``).

    :param framework: backend name (``torch``, ``tf``, ``mxnet``, ``onnx`` or a plugin's); ``None``
        asks the installed plugins which one recognises ``model``.
    :param example_inputs: one array/tensor or a tuple of them, shaped like real inputs.
    :param target: ``cpu`` (this host), ``inf1``, ``inf2``, ``trn1``, ``trn2`` or ``trn3``.
    :param precision: ``auto``, ``fp32``, ``bf16``, ``fp16``, ``int8`` (cpu) or ``fp8`` (trn2/trn3); each
        backend maps it to its compiler's flags and the manifest records both.
    :param engine: host engine for the ``cpu`` target (by default the backend's fastest for the
        precision), or where a backend has several ways to a Neuron target, one of them (torch on
        trn2: ``trace`` or ``native``).
    :param batch_size: the batch to compile for (default: the example's).
    :param dynamic_batch: accept other batch sizes at run time.
    :param pipeline_cores: NeuronCores one model copy is pipelined over (Neuron targets).
    :param preprocess: how images become inputs (for ``neuronkit predict ART cat.png``); recorded in
        the manifest. Backends may supply a default for models they know.
    :param calibration: for ``precision="int8"`` (required) and to measure any cpu precision against
        fp32: an iterable of inputs shaped like ``example_inputs``, or a folder of images (read as
        ``preprocess`` says). A held-out fifth measures the compiled model (``report.accuracy``).
    :param calibration_size: how many samples to read from ``calibration`` (NNCF suggests 300).
    :param verify: compare the compiled model with the fp32 model on the host right away
        (:func:`neuronkit.verify`), and raise :class:`VerificationFailed` beyond the precision's tolerance.
    :param cache: look the compile up in the compile cache and store it there (:mod:`neuronkit.cache`);
        ``None``: on unless ``NEURONKIT_CACHE=off``. ``artifact.cache`` says "hit" or "stored".
    :param progress: called with a short message at each compile stage.
    """
    _check_arguments(framework=framework, target=target, precision=precision, engine=engine, batch_size=batch_size,
                     dynamic_batch=dynamic_batch, pipeline_cores=pipeline_cores)
    batch_size, pipeline_cores = None if batch_size is None else int(batch_size), int(pipeline_cores)
    spec = plugins.find_backend(framework) if framework else plugins.claim_backend(model)
    plugins.ensure_available(spec)
    tgt = get_target(target)
    if tgt.name not in spec.targets:
        raise CompileError(f"the {spec.name} backend compiles for {', '.join(spec.targets)}, not {tgt.name}")
    check_options(spec, tgt.name, backend_options, "compile")
    chosen = _choose_neuron_engine(spec, tgt, engine) if tgt.is_neuron else _choose_engine(spec, engine, precision)
    offered = spec.precisions_for(tgt.name)
    if chosen:
        offered = tuple(p for p in chosen.precisions if not tgt.is_neuron or p in offered)
    precision = offered[0] if precision == "auto" else precision
    if precision == "int8" and tgt.is_neuron:
        raise CompileError(f"int8 is a cpu-target preset (post-training quantization in ONNX Runtime or OpenVINO); "
                           f"{tgt.compiler} for {tgt.name} takes {', '.join(offered)}")
    if precision not in offered:
        where = f"engine {chosen.name!r}" if engine else f"the {spec.name} backend on {tgt.name}"
        where += f" on {tgt.name}" if engine and tgt.is_neuron else ""
        raise CompileError(f"{where} supports precision {', '.join(offered)}, not {precision!r}")
    logical_cores = backend_options.get("logical_cores") or next(iter(tgt.logical_cores), 1)
    takes = tgt.logical_cores or (1,)
    if logical_cores not in takes:
        raise CompileError(f"logical_cores={logical_cores}: {tgt.name} takes {' or '.join(map(str, takes))} "
                           f"(neuronx-cc NCC_EARG001: LNC=2 is for trn2 and later)")
    if pipeline_cores != 1 and not (tgt.pipeline and "pipeline" in spec.capabilities):
        raise CompileError(f"pipeline_cores={pipeline_cores} needs a target whose compiler pipelines (inf1: neuron-cc) "
                           f"and a backend that pipelines; {spec.name} on {tgt.name} does not: load replicas with "
                           f"group_size=1 instead")
    if dynamic_batch and ("dynamic_batch" not in spec.capabilities or (chosen and not chosen.any_batch)):
        raise CompileError(f"the {spec.name} backend{f' engine {chosen.name!r}' if chosen else ''} does not support "
                           f"dynamic_batch")
    if example_inputs is not None and not isinstance(example_inputs, (tuple, list, dict)):
        example_inputs = (example_inputs,)
    if calibration is not None and tgt.is_neuron:
        raise CompileError(f"calibration= is for the cpu target's engines; {tgt.name} uses {tgt.compiler}")
    if precision == "int8" and calibration is None:
        raise CompileError("precision='int8' needs calibration=: a few hundred inputs shaped like example_inputs "
                           "(an iterable of arrays or tuples, real data the model will see), or a folder of images "
                           "with preprocess=; neuronkit never calibrates on random data")
    if isinstance(calibration_size, bool) or not isinstance(calibration_size, int) or calibration_size < 1:
        raise CompileError(f"calibration_size={calibration_size!r} must be a whole number of 1 or more")
    if tgt.is_neuron and (unsupported := neuron.support_warning(spec.name, tgt.name)):
        warnings.warn(unsupported, FutureWarning, stacklevel=2)
    if verify and tgt.is_neuron and not discover().runs(tgt):
        raise CompileError(f"verify=True runs the compiled model, and this host cannot run {tgt.name}: compile "
                           f"without it, then run neuronkit verify ART --reference MODEL on the {tgt.name} instance")

    calibration = _read_once(calibration, calibration_size)
    calib = None if calibration is None else Calibration(calibration, calibration_size, preprocess)
    compiler: Compiler = plugins.load_object(spec.compiler)(spec)

    def build() -> Artifact:
        workdir = Path(tempfile.mkdtemp(prefix="neuronkit-compile-"))
        request = CompileRequest(
            target=tgt,
            precision=precision,
            engine=chosen.name if chosen else "",
            example_inputs=example_inputs if example_inputs is not None else (),
            batch_size=batch_size,
            dynamic_batch=dynamic_batch,
            pipeline_cores=pipeline_cores,
            workdir=workdir,
            options=backend_options,
            progress=progress or (lambda message: None),
            calibration=calib,
        )
        start = time.perf_counter()
        try:
            with neuron.recording_imports() as sdks:
                result = compiler.compile(model, request)
            _check_result(result)
            if tgt.is_neuron:
                neuron.check_placement(result.report, backend_options)
            notes = neuron.placement_notes(result.report) + neuron.simulated_note(sdks) if tgt.is_neuron else ()
        except BaseException as exc:  # Ctrl-C in a long compile too: leave no work directory behind
            shutil.rmtree(workdir, ignore_errors=True)
            if isinstance(exc, InvalidResult):
                raise CompileError(f"the {spec.name} backend returned a CompileResult whose {exc}; report this to "
                                   f"the authors of {spec.plugin or 'its plugin'}") from None
            if isinstance(exc, NeuronkitError) or not isinstance(exc, Exception):
                raise
            raise CompileError(f"the {spec.name} backend failed to compile the model: {type(exc).__name__}: "
                               f"{str(exc)[:500]}{_other_backend_hint(model, spec.name)}") from exc
        seconds = time.perf_counter() - start
        manifest = Manifest(
            backend=Component(spec.name, _plugin_version(spec)),
            plugin=spec.plugin,
            framework=result.framework,
            compiler=result.compiler,
            target=tgt.name,
            engine=result.engine or request.engine or ("" if tgt.is_neuron or not spec.engines else spec.engines[0]),
            precision=request.precision,
            flags=tuple(result.flags),
            inputs=tuple(result.inputs),
            outputs=tuple(result.outputs),
            batch_size=result.batch_size,
            dynamic_batch=result.dynamic_batch,
            pipeline_cores=pipeline_cores,
            logical_cores=logical_cores,
            report=replace(result.report, compile_seconds=seconds, notes=result.report.notes + notes),
            files=describe_files(workdir),
            load=result.load,
            preprocess=preprocess or result.preprocess,
            neuronkit_version=__version__,
            created=now_iso(),
        )
        try:  # never hand out an artifact that open_artifact would refuse
            validate_manifest(json.loads(json.dumps(manifest.to_dict())))
        except InvalidManifest as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise CompileError(f"the {spec.name} backend returned a CompileResult that makes an invalid manifest: "
                               f"{exc.problem}; report this to the authors of {spec.plugin or 'its plugin'}") from None
        return Artifact(workdir, manifest, temporary=True)

    entry = _cache_key(spec, compiler, model, example_inputs, tgt, precision, chosen, batch_size,
                       dynamic_batch, pipeline_cores, backend_options, preprocess, calibration) \
        if cache_enabled(cache) else None
    artifact = cached(entry, build, progress or (lambda message: None)) if entry else build()
    if verify:
        (progress or (lambda message: None))("verifying against the fp32 model on this host")
        checked = _verify(artifact, model, calib.held_out(artifact.inputs) if calib else None)
        if not checked.ok:
            raise VerificationFailed(checked)
    return artifact


def verify(artifact: Artifact | str | Path, reference: Any, data: Any = None, *, samples: int = DEFAULT_SAMPLES,
           atol: float | None = None, rtol: float | None = None, top1_agreement: float | None = None,
           seed: int = 0) -> Verification:
    """Run ``artifact`` and ``reference`` on the same inputs and compare them (:mod:`neuronkit.verify`).

    :param reference: an artifact (object or path), or the model (an object, or a model file) to
        compile at fp32 for this host with the artifact's backend.
    :param data: inputs: arrays in signature order (one array, a tuple, or a ``.npy`` / ``.npz``
        path), or a folder of images read as the manifest's ``preprocess`` says; ``None`` draws
        ``samples`` rows from the signature (seeded by ``seed``).
    :param atol, rtol, top1_agreement: tolerances instead of the precision's defaults
        (:data:`neuronkit.accuracy.TOLERANCES`); ``atol`` is checked only when given.
    :return: a :class:`Verification`; ``.ok`` says whether it is within tolerance.
    """
    art = artifact if isinstance(artifact, Artifact) else open_artifact(artifact)
    inputs = inputs_for(art, data, samples, seed)
    if is_artifact(reference):
        ref = reference if isinstance(reference, Artifact) else open_artifact(reference)
    else:
        free = art.manifest.dynamic_batch or art.manifest.batch_size is None
        examples = tuple(rows(x, art.manifest.batch_size or 1) for x in inputs)
        ref = compile(reference, art.backend, example_inputs=examples, precision="fp32",
                      dynamic_batch=True if free else None)
    check_signatures(art.inputs, ref.inputs)
    with load(art) as rt, load(ref) as reference_rt:
        got, want = run_all(rt, inputs), run_all(reference_rt, inputs)
    return judge(got, want, art.manifest.precision, int(inputs[0].shape[0]) if inputs[0].ndim else 1, atol=atol,
                 rtol=rtol, top1_agreement=top1_agreement)


_verify = verify  # compile()'s verify= parameter hides the name there


def _read_once(calibration: Any, size: int) -> Any:
    """Calibration data read into a list (a generator can be read only once; the cache key and the
    engine both need it); a folder stays a path."""
    if calibration is None or isinstance(calibration, (str, os.PathLike, list)):
        return calibration
    try:
        return list(itertools.islice(iter(calibration), size))
    except TypeError:
        return calibration  # Calibration names what it takes


def _cache_key(spec: BackendSpec, compiler: Compiler, model: Any, example_inputs: Any, target, precision: str,
               engine: EngineSpec | None, batch_size: int | None, dynamic_batch: bool | None, pipeline_cores: int,
               options: dict, preprocess: Preprocess | None, calibration: Any) -> str | None:
    """The compile cache's key, or None when the model's content cannot be told (no fingerprint)."""
    if isinstance(model, (str, os.PathLike)):
        content = file_digest(model)
    else:
        fingerprint = compiler.fingerprint(model)
        content = None if fingerprint is None else hashlib.sha256(
            fingerprint if isinstance(fingerprint, bytes) else str(fingerprint).encode()).hexdigest()
    if content is None:
        return None
    examples = example_inputs.items() if isinstance(example_inputs, dict) else enumerate(example_inputs or ())
    if calibration is None:
        calibrated = None
    elif isinstance(calibration, (str, os.PathLike)):
        calibrated = file_digest(calibration)
    else:
        calibrated = arrays_digest(calibration)
    modules = spec.requires + (engine.requires_for(precision)[0] if engine else ())
    return cache_key({
        "model": content, "backend": spec.name, "plugin": [spec.plugin, _plugin_version(spec)],
        "neuronkit": __version__, "versions": versions(modules), "target": target.name, "precision": precision,
        # a compile on the target's own machine may carry more (native TorchNeuron's compiled graphs)
        "on_target": target.is_neuron and discover().runs(target),
        "engine": engine.name if engine else "", "batch_size": batch_size, "dynamic_batch": dynamic_batch,
        "pipeline_cores": pipeline_cores, "options": {k: repr(v) for k, v in sorted(options.items())},
        "preprocess": preprocess.to_dict() if preprocess else None, "calibration": calibrated,
        "examples": [[str(k), list(getattr(x, "shape", ())), str(getattr(x, "dtype", type(x).__name__))]
                     for k, x in examples],
    })


_ARGUMENTS = {  # compile()'s arguments: accepted types, and what to say when a value has another
    "framework": ((str, type(None)), "a backend name such as 'torch', or None"),
    "target": (str, "a target name: cpu, inf1, inf2, trn1, trn2 or trn3"),
    "precision": (str, "auto, fp32, bf16, fp16, int8 or fp8"),
    "engine": ((str, type(None)), "an engine name from `neuronkit backends`, or None"),
    "batch_size": ((numbers.Integral, type(None)), "a whole number of 1 or more, or None"),
    "dynamic_batch": ((bool, type(None)), "True, False or None"),
    "pipeline_cores": (numbers.Integral, "a whole number of 1 or more"),
}


def _check_arguments(**given: Any) -> None:
    """Refuse a wrongly typed argument to :func:`compile` by name, before any backend sees it."""
    for name, value in given.items():
        kinds, what = _ARGUMENTS[name]
        whole = name in ("batch_size", "pipeline_cores")
        if not isinstance(value, kinds) or (whole and isinstance(value, bool)) or (whole and value is not None
                                                                                 and value < 1):
            raise CompileError(f"{name}={repr(value)[:60]} must be {what}")


class InvalidResult(CompileError):
    """A backend's CompileResult has a wrongly typed field (a bug in the backend, not the user's)."""


def _check_result(result: Any) -> None:
    """Check a backend's :class:`CompileResult` field by field; the message names the first wrong one."""
    def expect(ok: bool, name: str, what: str, value: Any) -> None:
        if not ok:
            raise InvalidResult(f"{name} is {repr(value)[:80]}, not {what}")

    expect(isinstance(result, CompileResult), "value", "a neuronkit.CompileResult", result)
    for side in ("inputs", "outputs"):
        specs = getattr(result, side)
        expect(isinstance(specs, (tuple, list)) and len(specs) > 0 and all(isinstance(t, TensorSpec) for t in specs),
               side, "a non-empty tuple of neuronkit.TensorSpec", specs)
    for part in ("framework", "compiler"):
        expect(isinstance(getattr(result, part), Component), part, "a neuronkit.Component", getattr(result, part))
    expect(isinstance(result.flags, (tuple, list)) and all(isinstance(f, str) for f in result.flags), "flags",
           "a tuple of strings", result.flags)
    expect(isinstance(result.engine, str), "engine", "a string", result.engine)
    size = result.batch_size
    expect(size is None or (type(size) is int and size >= 1), "batch_size", "None or an int of 1 or more", size)
    expect(isinstance(result.dynamic_batch, bool), "dynamic_batch", "a bool", result.dynamic_batch)
    expect(isinstance(result.report, CompileReport), "report", "a neuronkit.CompileReport", result.report)
    expect(result.preprocess is None or isinstance(result.preprocess, Preprocess), "preprocess",
           "None or a neuronkit.Preprocess", result.preprocess)
    try:
        json.dumps(result.load, allow_nan=False)
        loadable = isinstance(result.load, dict) and all(isinstance(k, str) for k in result.load)
    except (TypeError, ValueError):  # numpy scalars, paths, NaN...
        loadable = False
    expect(loadable, "load", "a dict with str keys and JSON values (str, int, float, bool, None, lists, dicts)",
           result.load)


def _choose_neuron_engine(spec: BackendSpec, target, name: str | None) -> EngineSpec | None:
    """The way to compile for a Neuron target: the one named, or the backend's first there (None when
    it declares only one way, its compiler)."""
    offered = spec.neuron_engines.get(target.name, ())
    if not name:
        return offered[0] if offered else None
    chosen = next((e for e in offered if e.name == name), None)
    if chosen is None:
        choices = (f"its engines there are {', '.join(e.name for e in offered)}" if offered else
                   f"it compiles with {target.compiler} and has no engines to choose from there: leave out engine=")
        elsewhere = [t for t, engines in spec.neuron_engines.items() if any(e.name == name for e in engines)]
        raise CompileError(f"the {spec.name} backend has no engine {name!r} for {target.name}; {choices}"
                           + (f" (engine {name!r} is for {', '.join(elsewhere)})" if elsewhere else ""))
    return chosen


def _choose_engine(spec: BackendSpec, name: str | None, precision: str) -> EngineSpec | None:
    """The host engine: the one named, or the first of the backend's that runs ``precision`` and is installed."""
    if not spec.engines:
        if name:
            raise CompileError(f"the {spec.name} backend has no host engines to choose from; leave out engine=")
        return None
    if name:
        chosen = spec.engine(name)
        if chosen is None:
            raise CompileError(f"the {spec.name} backend has no engine {name!r}; choose one of "
                               f"{', '.join(e.name for e in spec.engines)}")
        if precision != "auto" and precision not in chosen.precisions:
            others = [e.name for e in spec.engines if precision in e.precisions]
            runs = ", ".join(chosen.precisions) + (" only" if len(chosen.precisions) == 1 else "")
            raise CompileError(f"engine {name!r} runs {runs}, not {precision}"
                               + (f"; use engine={others[0]!r} for {precision}" if others else ""))
        wanted, candidates = chosen.precisions[0] if precision == "auto" else precision, [chosen]
    else:
        wanted = spec.precisions_for("cpu")[0] if precision == "auto" else precision
        candidates = [e for e in spec.engines if wanted in e.precisions]
        if not candidates:
            return None  # the precision check that follows names what the backend runs
    for engine in candidates:
        if not plugins.missing_modules(engine.requires_for(wanted)[0]):
            return engine
    modules, hint = candidates[0].requires_for(wanted)
    missing = ", ".join(plugins.missing_modules(modules))
    raise BackendUnavailable(f"engine {candidates[0].name!r} of the {spec.name} backend needs {missing} for {wanted}, "
                             f"which is not installed here. Install it: {hint or 'pip install ' + missing}")


def check_options(spec: BackendSpec, target: str, given: dict, what: str) -> None:
    """Refuse an option the backend (or the core) does not declare for ``target``, or one of the wrong type."""
    error = CompileError if what == "compile" else NeuronkitError
    declared = spec.compile_options if what == "compile" else spec.load_options
    if what == "compile" and any(get_target(t).is_neuron for t in spec.targets):
        declared = neuron.OPTIONS + declared
    known = {o.name: o for o in declared}
    for name, value in given.items():
        option = known.get(name)
        if option is None:
            close = difflib.get_close_matches(name, known, n=1)
            raise error(f"the {spec.name} backend has no {what} option {name!r}"
                        + (f"; did you mean {close[0]!r}?" if close else ".")
                        + f" It takes: {', '.join(sorted(known)) or 'none'} (see: neuronkit backends --options "
                          f"{spec.name})")
        if option.targets and target not in option.targets:
            applies = [t for t in option.targets if t in spec.targets] or list(option.targets)  # this backend's
            raise error(f"option {name!r} applies to target {', '.join(applies)}, not {target}")
        if not option.accepts(value):
            raise error(f"option {name}={repr(value)[:60]} must be {option.type_name()}")


def load(
    artifact: Artifact | str | Path,
    cores: CoreSpec = None,
    group_size: int | None = None,
    *,
    legacy_runtime: bool = False,
    **options: Any,
) -> Runtime:
    """Load an artifact (object or saved path) on a group of cores and return a :class:`Runtime`.

    :param cores: ``None`` (all), a count, ``"0-3"``/``"0,1"`` (indices as ``NEURON_RT_VISIBLE_CORES``
        reads them), a list of indices, or explicit groups ``[[0, 1], [2, 3]]``.
    :param group_size: cores per replica: ``cores="0-3", group_size=1`` loads four replicas.
    :param legacy_runtime: place cores for Neuron runtime 1.x (``NEURONCORE_GROUP_SIZES``) instead of 2.x.
    :param options: passed to the backend's replica: the load options it declares
        (``neuronkit backends --options NAME``).
    """
    art = artifact if isinstance(artifact, Artifact) else open_artifact(artifact)
    m = art.manifest
    spec = plugins.find_backend(m.backend.name)
    target = get_target(m.target)
    check_options(spec, target.name, options, "load")
    if target.logical_cores:  # the runtime's LNC must be the compiler's; discovery below counts logical cores
        current = os.environ.get(LNC_ENV)
        if current and current != str(m.logical_cores):
            raise CoreSpecError(f"this artifact was compiled for {m.logical_cores} physical NeuronCores per logical "
                                f"core (--logical-nc-config {m.logical_cores}) but {LNC_ENV}={current} is set: they "
                                f"must match. Unset it, or compile with logical_cores={current}")
        apply_env({LNC_ENV: str(m.logical_cores)})
    engine = None if target.is_neuron else HOST_ENGINES.get(m.engine)
    if engine is None:
        plugins.ensure_available(spec)
        if not spec.replica:
            raise NeuronkitError(f"the {spec.name} backend declares no replica for {m.target} artifacts (engine "
                                 f"{m.engine!r}); report this to the authors of {spec.plugin or 'its plugin'}")
    elif plugins.missing_requirements(engine):  # the core's engines load without the backend's framework
        missing = ", ".join(plugins.missing_requirements(engine))
        raise BackendUnavailable(f"this artifact runs on the {engine.name} engine, which needs {missing}: "
                                 f"{engine.install_hint}")
    host = discover()
    groups = plan_groups(target, host, cores, group_size, m.pipeline_cores)
    if target.is_neuron:
        env = neuron_runtime_env(groups, host, cores, legacy=legacy_runtime)
        apply_env(env)
        if "NEURON_RT_VISIBLE_CORES" in env:
            groups = [replace(g, base=groups[0].start) for g in groups]
        elif host.visible_cores is not None:  # fixed before this load (by the user, or Ray): name host cores
            first = host.visible_cores[0]
            groups = [CoreGroup(tuple(first + c for c in g.cores), base=first) for g in groups]
    replica_cls: type[Replica] = plugins.load_object(REPLICAS[engine.name] if engine else spec.replica)
    replicas: list = []
    try:
        for group in groups:
            replicas.append(replica_cls(art, group, options))
    except BaseException as exc:
        for replica in replicas:
            replica.close()
        if isinstance(exc, NeuronkitError) or not isinstance(exc, Exception):
            raise
        # Not a traceback from deep inside a framework: say which backend, which cores, and what to try.
        raise NeuronkitError(f"the {spec.name} backend could not load this artifact on cores {group} "
                             f"({type(exc).__name__}: {str(exc)[:300]}); if the artifact was altered or written by "
                             f"another version of the backend, compile the model again") from exc
    return Runtime(art, groups, replicas)


def _other_backend_hint(model: Any, asked: str) -> str:
    """When the user named a backend for a file another backend recognises, say so: the named
    backend's own error (torch's "PytorchStreamReader failed" for an .onnx file) does not."""
    if not isinstance(model, (str, Path)):
        return ""
    try:
        claimed = plugins.get_plugin_manager().hook.neuronkit_claim_model(model=model)
    except Exception:  # a broken plugin must not hide the real error
        return ""
    if claimed and claimed != asked:
        return (f". {model} looks like a model for the {claimed} backend: compile it with framework='{claimed}' "
                f"(-f {claimed})")
    return ""


def _plugin_version(spec) -> str:
    for row in plugins.plugins():
        if row["distribution"] == spec.plugin:
            return row["version"]
    return ""
