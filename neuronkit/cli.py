"""The ``neuronkit`` command. Errors neuronkit raises are printed without a traceback."""

from __future__ import annotations

import json
import math
import re
import sys
import zipfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import plugins
from .errors import NeuronkitError
from .neuron import AS_OF, UNSUPPORTED, support_rows
from .types import Preprocess

# markup=False: file names, manifests, plugin messages and install hints ("neuronkit[tf]") are
# printed as they are, never read as rich markup; colour comes only from Text styles below.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


class _Group(click.Group):
    """Turns :class:`NeuronkitError` into a one-line message and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NeuronkitError as exc:
            # soft_wrap: the terminal wraps, rich inserts no newlines, so commands in it copy whole
            err_console.print(Text.assemble(("Error:", "bold red"), f" {exc}"), highlight=False, soft_wrap=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="neuronkit")
def cli():
    """Compile, inspect, load and run models on AWS Inferentia/Trainium or this CPU."""


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_cmd(as_json):
    """List plugins, their distributions and the hooks they implement."""
    rows = plugins.plugins()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("plugin", "distribution", "version", "hooks", "status")
    for r in rows:
        status = Text(f"skipped: {r['error']}", "red") if r["error"] else Text("loaded", "green")
        table.add_row(r["name"], r["distribution"], r["version"], "\n".join(r["hooks"]), status)
    console.print(table)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--options", "options_of", metavar="NAME", help="Print the compile and load options of backend NAME.")
def backends(as_json, options_of):
    """List backends: targets, engines (cpu: * = installed; and per Neuron target where there is a choice),
    precisions, and whether they can run here."""
    if options_of:
        _print_options(plugins.find_backend(options_of), as_json)
        return
    specs = plugins.get_backends().values()
    rows = []
    for s in specs:
        missing = plugins.missing_requirements(s)
        rows.append({"name": s.name, "aliases": list(s.aliases), "framework": s.framework, "targets": list(s.targets),
                     "engines": [e.name for e in s.engines],
                     "engines_installed": [] if missing else [e.name for e in s.engines
                                                                if not plugins.missing_requirements(e)],
                     "neuron_engines": {t: [e.name for e in engines] for t, engines in s.neuron_engines.items()},
                     "precisions": {t: list(s.precisions_for(t)) for t in s.targets},
                     "capabilities": sorted(s.capabilities), "plugin": s.plugin,
                     "ready": not missing, "install": s.install_hint if missing else "",
                     "support": {t: [{"package": r.package, "status": r.status, "as_of": r.as_of}
                                     for r in support_rows(s.name, t)] for t in s.targets if t != "cpu"}})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("backend", "framework", "targets", "engines", "precisions", "plugin", "status")
    for r in rows:
        name = r["name"] + (f" ({', '.join(r['aliases'])})" if r["aliases"] else "")
        status = Text("ready", "green") if r["ready"] else Text("missing", "yellow")
        engines = "cpu: " + ", ".join(e + ("*" if e in r["engines_installed"] else "") for e in r["engines"]) \
            if r["engines"] else ""
        engines = "; ".join(filter(None, [engines] + [f"{t}: {', '.join(names)}"
                                                       for t, names in r["neuron_engines"].items()]))
        by_precisions: dict = {}  # targets that take the same precisions share one entry
        for target, offered in r["precisions"].items():
            by_precisions.setdefault(",".join(offered), []).append(target)
        precisions = "; ".join(f"{'/'.join(t)}: {p}" for p, t in by_precisions.items())
        table.add_row(name, r["framework"], ", ".join(r["targets"]), engines, precisions, r["plugin"], status)
    console.print(table)
    retired = [f"{r['name']} on {t}: {p['package']} is {p['status']}" for r in rows for t, packages in
               r["support"].items() for p in packages if p["status"] in UNSUPPORTED]
    if retired:  # what a user deciding on a target must know (neuronkit doctor says what to do instead)
        console.print(f"Neuron SDK support as of {AS_OF}: " + "; ".join(retired), soft_wrap=True, highlight=False)
    missing = [r for r in rows if not r["ready"]]
    if missing:  # below the table, one per line, never folded: users copy these commands
        console.print("To install a missing backend:")
        for r in missing:
            console.print(f"  {r['name']}: {r['install'] or 'see the plugin documentation'}", soft_wrap=True,
                          highlight=False)


def _print_options(spec, as_json: bool) -> None:
    from .neuron import OPTIONS as NEURON_OPTIONS
    from .targets import get_target

    neuron = NEURON_OPTIONS if any(get_target(t).is_neuron for t in spec.targets) else ()
    rows = [{"kind": kind, "name": o.name, "type": o.type_name(), "default": repr(o.default),
             "targets": list(o.targets) or list(spec.targets), "help": o.help}
            for kind, options in (("compile", neuron + spec.compile_options), ("load", spec.load_options))
            for o in options]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for kind in ("compile", "load"):  # one line each, never folded
        mine = [r for r in rows if r["kind"] == kind]
        console.print(f"{kind} options of the {spec.name} backend:" + ("" if mine else " none"))
        for r in mine:
            console.print(f"  {r['name']}={r['type']} (default {r['default']}; {', '.join(r['targets'])}): "
                          f"{r['help']}", soft_wrap=True, highlight=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def devices(as_json):
    """Show this host's CPUs and Neuron devices, and which targets can run here."""
    from .errors import IncompatibleArtifact
    from .targets import TARGETS, discover

    host = discover()
    runnable = {}
    for name, target in TARGETS.items():
        try:
            runnable[name] = host.cores_for(target)
        except IncompatibleArtifact:
            pass
    data = {"cpus": host.cpus, "instance_type": host.instance_type, "core_kind": host.core_kind,
            "neuron_cores": host.neuron_cores, "visible_cores": host.visible_cores,
            "devices": [{"index": d.index, "cores": d.cores, "core_kind": d.core_kind, "source": d.source}
                        for d in host.devices],
            "runnable_targets": runnable}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console.print(f"CPUs: {host.cpus}" + (f"   instance: {host.instance_type}" if host.instance_type else ""))
    if host.devices:
        table = Table("device", "cores", "kind", "found by")
        for d in host.devices:
            table.add_row(f"neuron{d.index}", str(d.cores), d.core_kind, d.source)
        console.print(table)
        if host.visible_cores is not None:
            console.print(f"NEURON_RT_VISIBLE_CORES limits this process to {len(host.visible_cores)} cores")
    else:
        console.print("No Neuron devices (no neuron-ls, /dev/neuron* or Neuron sysfs entries).")
    console.print("Targets that run here: " + ", ".join(f"{n} ({c} cores)" for n, c in runnable.items()))


@cli.command("compile")
@click.argument("model", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(), help="Where to save the artifact.")
@click.option("-f", "--framework", help="Backend name; by default the plugin that recognises MODEL.")
@click.option("-t", "--target", default="cpu", show_default=True, help="cpu, inf1, inf2, trn1, trn2 or trn3.")
@click.option("-p", "--precision", default="auto", show_default=True,
              help="auto, fp32, bf16, fp16, int8 (cpu) or fp8 (trn2).")
@click.option("--engine", help="Host engine for the cpu target, or the way to a Neuron target that has several "
                                "(torch on trn2: trace or native); see `neuronkit backends`.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Batch to compile for.")
@click.option("--dynamic-batch/--static-batch", default=None, help="Accept other batch sizes at run time.")
@click.option("--pipeline-cores", type=click.IntRange(min=1), default=1, show_default=True,
              help="NeuronCores per model copy.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="[NAME:]1x3x224x224[:DTYPE]",
              help="An example input of this shape (random values, float32 unless DTYPE is given); repeat it for "
                   "each input, in the model's order. TorchScript files need example inputs.")
@click.option("--example-inputs", type=click.Path(exists=True, dir_okay=False),
              help="Example inputs from a file: .npy (one input) or .npz (one array per input, in order).")
@click.option("--calibration", type=click.Path(exists=True),
              help="Calibration data (int8; measures any cpu precision against fp32): a folder of images (read "
                   "with ImageNet's NCHW RGB mean/std preprocessing), or a .npy / .npz whose rows (of each array, "
                   "one per input) are the samples.")
@click.option("--calibration-size", type=click.IntRange(min=1), default=300, show_default=True,
              help="Calibration samples to read.")
@click.option("--verify", is_flag=True, help="Compare the compiled model with the fp32 model on this host; fail "
                                             "beyond the precision's tolerance (see neuronkit verify).")
@click.option("--directory", is_flag=True, help="Save as a directory instead of one file.")
def compile_cmd(model, output, framework, target, precision, engine, batch_size, dynamic_batch, pipeline_cores,
                input_shapes, example_inputs, calibration, calibration_size, verify, directory):
    """Compile a model file (an .onnx file, a TorchScript file, a SavedModel directory...)."""
    from .api import compile as nk_compile
    from .errors import CompileError

    if input_shapes and example_inputs:
        raise click.UsageError("give --input-shape or --example-inputs, not both")
    named = [_parse_input_shape(text) for text in input_shapes]
    examples = tuple(array for _, array in named) or _read_example_inputs(example_inputs)
    with console.status("compiling") as status:
        try:
            art = nk_compile(model, framework, example_inputs=examples or None, target=target, precision=precision,
                             engine=engine, batch_size=batch_size, dynamic_batch=dynamic_batch,
                             pipeline_cores=pipeline_cores, calibration=_calibration(calibration),
                             calibration_size=calibration_size, verify=verify,
                             preprocess=Preprocess() if calibration and Path(calibration).is_dir() else None,
                             progress=lambda message: status.update(Text(message)))
        except CompileError as exc:
            if examples or "example_inputs" not in str(exc):
                raise
            raise CompileError(f"{exc}. On the command line, give them with --input-shape 1x3x224x224 (once per "
                               f"input) or --example-inputs FILE.npy") from exc
    path = art.save(output, directory=directory)
    seconds = art.manifest.report.compile_seconds
    console.print(Text.assemble(("saved", "green"), f" {path} ({seconds:.1f} s to compile)"))
    for (name, _), spec in zip(named, art.inputs, strict=False):
        if name and name != spec.name:
            console.print(f"note: you named an input {name!r}; the compiled model calls it {spec.name!r}")
    _print_manifest(art.manifest)


def _calibration(path):
    """``--calibration``: a folder as it is, or the rows of a .npy / .npz as samples (one per row)."""
    if not path or Path(path).is_dir():
        return path
    arrays = _read_example_inputs(path)
    return [tuple(a[i:i + 1] for a in arrays) for i in range(len(arrays[0]))]


_INPUT_SHAPE = re.compile(r"(?:(?P<name>[^:]+):)?(?P<dims>\d+(?:[xX]\d+)*)(?::(?P<dtype>\w+))?")


def _parse_input_shape(text: str):
    """``"x:1x3x224x224:float16"`` -> ``("x", random array of that shape and dtype)``; NAME and DTYPE are optional."""
    import numpy as np

    match = _INPUT_SHAPE.fullmatch(text.strip())
    try:
        dtype = np.dtype(match["dtype"] or "float32") if match else None
    except TypeError:
        dtype = None
    shape = tuple(int(d) for d in match["dims"].lower().split("x")) if match else ()
    if dtype is None or dtype.kind not in "biuf" or 0 in shape or math.prod(shape) > 1 << 28:
        raise click.BadParameter(f"{text!r} is not [NAME:]DIMS[:DTYPE] with sizes of 1 or more (at most 2**28 values) "
                                 f"and a numeric dtype, "
                                 f"e.g. image:1x3x224x224 or 1x3x224x224:float16", param_hint="--input-shape")
    rng = np.random.default_rng(0)
    array = rng.standard_normal(shape).astype(dtype) if dtype.kind == "f" else rng.integers(0, 2, shape).astype(dtype)
    return match["name"] or "", array


def _read_example_inputs(path) -> tuple:
    import numpy as np

    if not path:
        return ()
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise click.BadParameter(f"cannot read {path} as .npy or .npz ({exc})", param_hint="--example-inputs") \
            from None
    if isinstance(loaded, np.ndarray):
        return (loaded,)
    with loaded:
        return tuple(loaded[name] for name in loaded.files)


@cli.command()
@click.argument("artifact", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def inspect(artifact, as_json):
    """Verify an artifact and print its manifest."""
    from .artifact import open_artifact

    art = open_artifact(artifact)
    if as_json:
        click.echo(json.dumps(art.manifest.to_dict(), indent=2))
    else:
        _print_manifest(art.manifest)


class _ExportCommand(click.Command):
    """``export``'s ``--FORMAT DEST`` options come from the plugins' export formats, read when it is used."""

    def get_params(self, ctx):
        formats = plugins.get_export_formats().values()
        extra = [click.Option([f"--{f.name}", f"to_{f.name.replace('-', '_')}"], type=click.Path(), metavar="DEST",
                              help=f.help + (f" (artifacts of the {', '.join(f.backends)} backend)" if f.backends
                                             else "")) for f in formats]
        return super().get_params(ctx)[:-1] + extra + super().get_params(ctx)[-1:]  # --help stays last


@cli.command(cls=_ExportCommand)
@click.argument("artifact", type=click.Path(exists=True))
@click.option("--version", "version", type=click.IntRange(min=0), default=None,
              help="Version number, for layouts that keep versions (default: the next free one).")
def export(artifact, version, **destinations):
    """Lay an artifact out for another server or tool: one --FORMAT DEST (see the options below)."""
    from .artifact import open_artifact

    formats = plugins.get_export_formats()
    chosen = {name[3:].replace("_", "-"): dest for name, dest in destinations.items() if dest is not None}
    if len(chosen) != 1:
        known = ", ".join(f"--{n}" for n in formats) or "none: install a plugin that provides one (the tf backend)"
        raise click.UsageError(f"give exactly one export format; the installed ones are: {known}")
    (name, dest), = chosen.items()
    fmt = formats[name]
    art = open_artifact(artifact)
    if fmt.backends and art.backend not in fmt.backends:
        raise NeuronkitError(f"--{name} takes artifacts of the {', '.join(fmt.backends)} backend; this one was "
                             f"compiled by the {art.backend} backend")
    for line in plugins.load_object(fmt.exporter)(art, dest, version):
        console.print(line, soft_wrap=True, highlight=False)


@cli.command("replace-weights")
@click.argument("artifact", type=click.Path(exists=True))
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(), help="Where to save the new artifact.")
def replace_weights_cmd(artifact, weights, output):
    """Save ARTIFACT with the WEIGHTS file (torch: torch.save(model.state_dict(), path)) in place of its own,
    without compiling again. ARTIFACT must keep its weights outside the compiled graph (torch: inline_weights=False)."""
    from .weights import replace_weights

    path = replace_weights(artifact, weights).save(output)
    console.print(Text.assemble(("saved", "green"), f" {path}"), highlight=False, soft_wrap=True)


@cli.command("verify")
@click.argument("artifact", type=click.Path(exists=True))
@click.option("--reference", required=True, help="An artifact, or the model file to compile at fp32 for this host.")
@click.option("--data", type=click.Path(exists=True),
              help="Inputs: a .npy (one input) or .npz (one array per input, in order), or a folder of images "
                   "(read as the manifest's preprocess says). Default: --samples rows drawn from the signature.")
@click.option("--samples", type=click.IntRange(min=1), default=8, show_default=True,
              help="Rows to draw without --data.")
@click.option("--rtol", type=click.FloatRange(min=0), help="Largest relative error (default: the precision's).")
@click.option("--atol", type=click.FloatRange(min=0),
              help="Largest absolute error of one value (default: not checked).")
@click.option("--top1-agreement", type=click.FloatRange(0, 1),
              help="Least share of rows with the reference's best class (classifiers; default: the precision's).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_cmd(artifact, reference, data, samples, rtol, atol, top1_agreement, as_json):
    """Run ARTIFACT and a reference on the same inputs; exit 1 when they differ beyond the tolerance."""
    from .api import verify

    result = verify(artifact, reference, data, samples=samples, atol=atol, rtol=rtol, top1_agreement=top1_agreement)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        tolerance = ", ".join(f"{k} {v:g}" for k, v in result.tolerances.items())
        console.print(Text.assemble(("OK" if result.ok else "FAIL", "green" if result.ok else "bold red"),
                                    f" {result.summary()} (tolerance: {tolerance})"), soft_wrap=True)
    if not result.ok:
        sys.exit(1)


def _print_manifest(m) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    report = m.report
    ratio = report.on_target_ratio
    rows = [
        ("backend", f"{m.backend.name} {m.backend.version} (plugin {m.plugin})"),
        ("framework", f"{m.framework.name} {m.framework.version}"),
        ("compiler", f"{m.compiler.name} {m.compiler.version}"),
        ("target", m.target + (f", engine {m.engine}" if m.engine else "")),
        ("precision", f"{m.precision}  flags: {' '.join(m.flags) or '-'}"),
        ("inputs", "\n".join(t.describe() for t in m.inputs)),
        ("outputs", "\n".join(t.describe() for t in m.outputs)),
        ("batch", f"{m.batch_size or 'any'}" + (", dynamic" if m.dynamic_batch else ", fixed")),
        ("pipeline cores", str(m.pipeline_cores)),
        ("on target", "-" if ratio is None else f"{ratio:.1%} of {report.ops_total} operators"),
        ("unsupported", ", ".join(report.unsupported_ops) or "-"),
        ("compile time", f"{report.compile_seconds:.1f} s"),
        ("accuracy", _describe_accuracy(report.accuracy)),
        ("notes", "\n".join(report.notes) or "-"),
        ("files", "\n".join(f"{n}  {e['size']:,} B  sha256 {e['sha256'][:12]}…" for n, e in m.files.items())),
        ("written", f"{m.created} by neuronkit {m.neuronkit_version} (schema {m.schema_version})"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table, highlight=False)


def _describe_accuracy(measured: dict | None) -> str:
    if not measured:
        return "- (compile with calibration= to measure it)"
    from .accuracy import describe

    return f"vs {measured['reference']} on {measured['samples']} held-out samples: {describe(measured)}"


@cli.command()
@click.argument("artifact", type=click.Path(exists=True))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--cores", help="Cores to load on: a count or indices like 0-3.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="Classes to show for a classifier.")
@click.option("-o", "--output", type=click.Path(), help="Save the (first) output as .npy.")
def predict(artifact, inputs, cores, top, output):
    """Run an artifact on INPUTS: image files (resized and normalised as the manifest says) or .npy arrays.

    For a model with one input, several files make one batch (predict ART a.png b.png); for a model
    with several inputs, give one file per input, in order.
    """
    import numpy as np

    from .api import load
    from .artifact import open_artifact
    from .errors import InputError
    from .images import imagenet_labels, load_image, top_k

    art = open_artifact(artifact)
    specs = art.inputs
    if len(specs) > 1 and len(inputs) != len(specs):
        raise click.UsageError(f"the model takes {len(specs)} inputs, one file each; got {len(inputs)}")

    def read(path, spec):
        if not path.endswith(".npy"):
            return load_image(path, spec, art.manifest.preprocess)
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # damaged, empty, or pickled objects (never unpickled)
            raise InputError(f"cannot read {path} as a .npy array ({exc}); save it with numpy.save") from None

    if len(specs) == 1:  # one input: every file is part of one batch, in the order given
        parts = [read(path, specs[0]) for path in inputs]
        rows = [(path, len(p) if p.ndim else 1) for path, p in zip(inputs, parts, strict=False)]
        arrays = [parts[0] if len(parts) == 1 else _concatenate(parts, inputs)]
    else:
        rows = [(", ".join(inputs), None)]
        arrays = [read(path, spec) for path, spec in zip(inputs, specs, strict=False)]
    with load(art, cores=_core_spec(cores)) as rt:
        result = rt(arrays)
    first = result[0] if isinstance(result, tuple) else result
    if output:
        np.save(output, first)
        console.print(f"saved {output} {first.dtype}{list(first.shape)}")
    pre = art.manifest.preprocess
    if pre and pre.labels == "imagenet" and first.ndim == 2:
        labels = imagenet_labels()
        names = [name for name, count in rows for _ in range(count or len(first))]
        for name, row in zip(names, first, strict=False):
            table = Table("class", "label", "probability", title=name if len(first) > 1 else None)
            for index, label, prob in top_k(row, top, labels):
                table.add_row(str(index), label, f"{prob:.4f}")
            console.print(table)
    elif not output:
        for spec, value in zip(art.outputs, result if isinstance(result, tuple) else (result,), strict=False):
            console.print(f"{spec.name}: {value.dtype}{list(value.shape)}")
            console.print(np.array2string(value, threshold=20, precision=4))


@cli.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--batch", "batches", multiple=True, type=click.IntRange(min=1),
              help="Batch size; repeat to sweep (default: each artifact's compiled batch, else 1).")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Measuring time per configuration and round.")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True,
              help="Untimed calls per replica before measuring.")
@click.option("--rounds", type=click.IntRange(min=1),
              help="Rounds interleaving the artifacts (default: 1 for one artifact, 3 for several).")
@click.option("--cores", "cores", multiple=True, help="Cores to load on: a count or indices like 0-3; repeat to sweep.")
@click.option("--group-size", "group_sizes", multiple=True, type=click.IntRange(min=1),
              help="Cores per replica; repeat to sweep.")
@click.option("--workers", multiple=True, type=click.IntRange(min=1),
              help="Callers per replica (default: 2); repeat to sweep.")
@click.option("--threads", type=click.IntRange(min=1), help="Concurrent callers in all, instead of --workers.")
@click.option("--cost-per-hour", type=click.FloatRange(min=0, min_open=True),
              help="The host's price per hour: adds cost_per_1m_inf.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the report to OUTPUT.json and OUTPUT.csv.")
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Draw throughput vs p99 latency per configuration to this PNG (needs matplotlib).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a table.")
def bench(artifacts, batches, seconds, warmup, rounds, cores, group_sizes, workers, threads, cost_per_hour, output,
          plot, as_json):
    """Benchmark artifacts on random inputs over batch sizes and replica layouts, every replica kept busy.

    One row per configuration with NeuronPerf's report fields. Several artifacts run side by side
    (bench A.nk B.nk), interleaved in rounds, with each one's ratio to the first. A configuration
    that cannot run here is a row with its reason; Ctrl-C stops, prints and writes what was measured.
    """
    import io

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .bench import Interrupted, benchmark

    if plot:  # before measuring: a missing matplotlib should not cost a whole benchmark
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise click.UsageError('--plot needs matplotlib: pip install "neuronkit[bench]"') from None
    options = dict(batch_sizes=list(batches) or None, cores=[_core_spec(c) for c in cores] or None,
                   group_size=list(group_sizes) or None, workers_per_replica=list(workers) or 2, threads=threads,
                   duration=seconds, warmup=warmup, rounds=rounds, cost_per_hour=cost_per_hour)
    interrupted = False
    try:
        if as_json or not err_console.is_terminal:  # plain progress lines on stderr
            report = benchmark(list(artifacts), **options)
        else:
            progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=err_console, transient=True)
            task = progress.add_task("starting", total=None)
            with progress:
                report = benchmark(list(artifacts), log=io.StringIO(), **options,
                                   progress=lambda done, total, message: progress.update(
                                       task, completed=done, total=total, description=message))
    except Interrupted as exc:
        report, interrupted = exc.report, True
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:  # to a file or pipe 160 columns wide (not 80), so the table stays readable there
        (console if console.is_terminal else Console(markup=False, width=160)).print(report.table())
    notes = err_console if as_json else console
    if output:
        base = Path(output)
        base = base.with_suffix("") if base.suffix.lower() in (".json", ".csv") else base
        written = [report.write_json(base.with_name(base.name + ".json")),
                   report.write_csv(base.with_name(base.name + ".csv"))]
        notes.print(f"wrote {written[0]} and {written[1]}", soft_wrap=True, highlight=False)
    if plot:
        notes.print(f"wrote {report.plot(plot)}", soft_wrap=True, highlight=False)
    if interrupted:
        notes.print("interrupted: the report holds what was measured before Ctrl-C", highlight=False)
        sys.exit(130)
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.option("-f", "--framework", help="Test one backend, in this process.")
@click.option("-t", "--target", "targets", multiple=True, help="Targets to test (default: all that run here).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def selftest(framework, targets, as_json):
    """Compile and run a tiny model with each backend on every target this host can run."""
    from .selftest import run_all, run_backend

    rows = run_backend(framework, list(targets)) if framework else run_all(list(targets))
    if as_json:
        click.echo(json.dumps(rows))
    else:
        table = Table("backend", "target", "status", "detail")
        colour = {"ok": "green", "FAIL": "red", "skipped": "yellow"}
        for r in rows:
            table.add_row(r["backend"], r["target"], Text(r["status"], colour[r["status"]]), r["detail"])
        console.print(table)
    if any(r["status"] == "FAIL" for r in rows):
        sys.exit(1)


def _concatenate(parts: list, paths) -> object:
    import numpy as np

    if any(p.ndim == 0 for p in parts) or len({(p.shape[1:], p.dtype) for p in parts}) > 1:
        shapes = ", ".join(f"{path}: {p.dtype}{list(p.shape)}" for path, p in zip(paths, parts, strict=False))
        raise click.UsageError(f"the files do not stack into one batch ({shapes}); give files of one shape")
    return np.concatenate(parts)


@cli.command()
@click.argument("artifacts", nargs=-1, type=click.Path(exists=True))
@click.option("--name", help="Model name when serving one artifact (default: the file's stem).")
@click.option("--model-repository", type=click.Path(exists=True, file_okay=False),
              help="Serve DIR/<name>/<version>/<artifact> instead of ARTIFACTS.")
@click.option("--versions", default="latest", show_default=True,
              help="Repository versions to serve: latest, all, or numbers like 1,3.")
@click.option("--poll-seconds", type=float, default=0, show_default=True,
              help="Re-read the repository this often, loading new versions and unloading removed ones (0: never).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@click.option("--rest-port", type=int, default=8501, show_default=True, help="REST port (TF Serving's default).")
@click.option("--grpc-port", type=int, default=8500, show_default=True, help="gRPC port (TF Serving's default).")
@click.option("--cores", help="Cores each model loads on: a count or indices like 0-3.")
@click.option("--group-size", type=int, help="Cores per replica.")
@click.option("--max-batch-size", type=int, help="Merge requests up to this many rows (default: the compiled "
              "batch, or 8 when the artifact takes any batch).")
@click.option("--max-batch-delay-ms", type=float, default=0.0, show_default=True,
              help="How long a batch waits for more requests (0: merge only what is already queued).")
@click.option("--max-queue", type=int, default=256, show_default=True,
              help="Requests queued per model before the server answers 503 / UNAVAILABLE.")
@click.option("--max-body-mb", type=float, default=64.0, show_default=True, help="Largest request body.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="debug logs one line per request.")
def serve(artifacts, name, model_repository, versions, poll_seconds, host, rest_port, grpc_port, cores, group_size,
          max_batch_size, max_batch_delay_ms, max_queue, max_body_mb, log_level):
    """Serve artifacts over TensorFlow Serving's and KServe v2's REST and gRPC APIs."""
    import logging
    from pathlib import Path

    from .serve import ServeOptions, ServerConfig, run

    if bool(artifacts) == bool(model_repository):
        raise click.UsageError("give ARTIFACTS or --model-repository DIR (one of the two)")
    if name and len(artifacts) != 1:
        raise click.UsageError("--name names the model when serving one artifact")
    named = {}
    for path in artifacts:
        model = name or Path(path).name.split(".")[0]
        if model in named:
            raise click.UsageError(f"two artifacts would both be served as {model!r}; rename one file")
        named[model] = path
    if versions not in ("latest", "all"):
        try:
            versions = frozenset(int(v) for v in versions.split(","))
        except ValueError:
            raise click.UsageError("--versions takes latest, all, or version numbers like 1,3") from None
    for option, value in (("--max-batch-size", max_batch_size), ("--max-queue", max_queue)):
        if value is not None and value < 1:
            raise click.UsageError(f"{option} must be at least 1")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        artifacts=named or None, repository=Path(model_repository) if model_repository else None,
        versions=versions, poll_seconds=poll_seconds, host=host, rest_port=rest_port, grpc_port=grpc_port,
        max_body_mb=max_body_mb,
        options=ServeOptions(cores=_core_spec(cores), group_size=group_size, max_batch_size=max_batch_size,
                             max_batch_delay_ms=max_batch_delay_ms, max_queue=max_queue))

    def ready(server):
        models = ", ".join(f"{v.name}/{v.version}" for v in server.registry.all_versions() if v.state == "AVAILABLE")
        click.echo(f"serving {models} on REST {server.rest_url} and gRPC {server.grpc_target}", err=True)

    run(config, on_ready=ready)


def _core_spec(cores):
    """``--cores 2`` is a count, ``--cores 0-3`` indices (as ``neuronkit.load`` reads them)."""
    return int(cores) if cores and cores.isdigit() else cores


@cli.command()
@click.argument("artifact", required=False, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON (for a support bundle).")
def doctor(artifact, as_json):
    """Check this host: Python, plugins, frameworks, Neuron SDK packages and their support status, devices,
    placement and thread variables, the CPU; with ARTIFACT, whether it can run here. Exit 1 on any problem."""
    from .doctor import diagnose

    report = diagnose(artifact)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        colour = {"ok": "green", "warn": "yellow", "problem": "bold red"}
        table = Table("section", "check", "status", "detail")
        for c in report.checks:
            table.add_row(c.section, c.name, Text(c.status, colour[c.status]),
                          c.detail + (f"\n-> {c.fix}" if c.fix and c.status == "warn" else ""))
        console.print(table, highlight=False)
        for line in report.fix_lines():  # one line per problem, never folded: users copy these commands
            console.print(Text.assemble(("problem ", "bold red"), line), soft_wrap=True, highlight=False)
        console.print(f"{len(report.problems)} problem(s), {len(report.warnings)} warning(s)", highlight=False)
    if report.problems:
        sys.exit(1)


@cli.group("cache")
def cache_cmd():
    """The compile cache: identical compiles are read back from it (NEURONKIT_CACHE_DIR; NEURONKIT_CACHE=off)."""


@cache_cmd.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_info(as_json):
    """Where the cache is, how full, and its limit."""
    from . import cache

    found = cache.entries()
    info = {"folder": str(cache.cache_dir()), "enabled": cache.enabled(None), "entries": len(found),
            "bytes": sum(e.size for e in found), "limit_bytes": cache.max_bytes()}
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    console.print(f"{info['folder']}: {info['entries']} entries, {info['bytes'] / 1e6:,.1f} MB of "
                  f"{info['limit_bytes'] / 1e9:g} GB (NEURONKIT_CACHE_MAX_GB); "
                  f"{'on' if info['enabled'] else 'off (NEURONKIT_CACHE)'} by default", soft_wrap=True)


@cache_cmd.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_ls(as_json):
    """The entries, most recently used first."""
    import datetime

    from . import cache
    from .artifact import open_artifact

    rows = []
    for entry in cache.entries():
        try:
            m = open_artifact(entry.path).manifest
            what = f"{m.backend.name} -> {m.target}{'/' + m.engine if m.engine else ''} {m.precision}"
        except NeuronkitError as exc:
            what = f"damaged ({exc})"
        used = datetime.datetime.fromtimestamp(entry.used).isoformat(timespec="seconds")
        rows.append({"key": entry.key, "model": what, "bytes": entry.size, "used": used})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("key", "compiled", "size", "last used")
    for r in rows:
        table.add_row(r["key"][:16], r["model"], f"{r['bytes'] / 1e6:,.1f} MB", r["used"])
    console.print(table)


@cache_cmd.command("rm")
@click.argument("keys", nargs=-1, required=True)
def cache_rm(keys):
    """Remove entries by key (or a unique start of one)."""
    from . import cache

    found = cache.entries()
    for key in keys:
        matches = [e for e in found if e.key.startswith(key)]
        if len(matches) != 1:
            raise NeuronkitError(f"{key!r} matches {len(matches)} cache entries; give more of the key "
                                 f"(neuronkit cache ls)")
        cache.remove(matches[0])
        console.print(f"removed {matches[0].key}")


@cache_cmd.command("clear")
def cache_clear():
    """Remove every entry."""
    from . import cache

    console.print(f"removed {cache.clear()} entries from {cache.cache_dir()}")


def main():
    plugins.register_commands(cli)
    cli()


if __name__ == "__main__":
    main()
