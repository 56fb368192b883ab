"""``neuronkit selftest``: compile a tiny model with each backend for every target this host can
run, run it, and compare each Neuron result with the same model on the ``cpu`` target: a target
whose relative error exceeds its precision's tolerance (:data:`neuronkit.accuracy.TOLERANCES`)
fails (exit status 1).

This is the check to run on a real inf1/inf2/trn1 instance: it exercises the installed SDK,
driver and runtime end to end, which the project's own tests (against a simulated SDK) cannot.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from . import plugins
from .accuracy import TOLERANCES, compare
from .errors import NeuronkitError
from .targets import discover, get_target


def run_backend(name: str, targets: list | None = None) -> list:
    """Selftest one backend in this process (it imports that backend's framework)."""
    from .api import compile, load

    spec = plugins.find_backend(name)
    if not spec.selftest:
        return [_row(spec.name, "-", "skipped", "the backend names no selftest model")]
    missing = plugins.missing_requirements(spec)
    if missing:
        return [_row(spec.name, "-", "skipped", f"not installed: {spec.install_hint or ', '.join(missing)}")]
    host = discover()
    wanted = targets or [t for t in spec.targets if host.runs(get_target(t))]
    model, inputs = plugins.load_object(spec.selftest)()
    rows, reference = [], None
    for target in ["cpu"] + [t for t in wanted if t != "cpu"]:
        start = time.perf_counter()
        try:
            art = compile(model, spec.name, example_inputs=inputs, target=target)
            with load(art, cores=1) as rt:
                out = rt(inputs)
        except NeuronkitError as exc:
            rows.append(_row(spec.name, target, "FAIL", str(exc)))
            continue
        out = np.asarray(out[0] if isinstance(out, tuple) else out)
        ratio = art.manifest.report.on_target_ratio
        detail = f"{time.perf_counter() - start:.1f} s" + ("" if ratio is None else f", {ratio:.0%} on target")
        status = "ok"
        if reference is None:
            reference = out
        else:
            status, verdict = compare_with_cpu(out, reference, art.manifest.precision)
            detail += f", {verdict}"
        if target == "cpu" and "cpu" not in wanted:
            continue  # only the reference
        rows.append(_row(spec.name, target, status, detail))
    return rows


def compare_with_cpu(out: np.ndarray, reference: np.ndarray, precision: str) -> tuple:
    """``("ok" | "FAIL", detail)`` for one target's output against the cpu target's, at the precision's
    relative-error tolerance (:data:`neuronkit.accuracy.TOLERANCES`)."""
    tolerance = TOLERANCES.get(precision, TOLERANCES["fp32"]).rel_error
    if out.shape != reference.shape:
        return "FAIL", f"output shape {out.shape} differs from cpu's {reference.shape}"
    err = compare([out], [reference])["rel_error"]
    if not np.isfinite(err) or err > tolerance:
        return "FAIL", (f"relative error vs cpu {err:.1e} exceeds the {precision} tolerance {tolerance:.0e}: this "
                        f"target computes wrong results; report it with the output of neuronkit selftest --json")
    return "ok", f"relative error vs cpu {err:.1e} (tolerance {tolerance:.0e} at {precision})"


def run_all(targets: list | None = None) -> list:
    """Selftest every ready backend, each in its own process (one framework per process)."""
    rows = []
    for name in sorted(plugins.get_backends()):
        cmd = [sys.executable, "-m", "neuronkit.cli", "selftest", "--framework", name, "--json"]
        for t in targets or ():
            cmd += ["--target", t]
        done = subprocess.run(cmd, capture_output=True, text=True)
        try:
            rows.extend(json.loads(done.stdout))
        except ValueError:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            rows.append(_row(name, "-", "FAIL", f"the selftest process failed: {last}"))
    return rows


def _row(backend: str, target: str, status: str, detail: str) -> dict:
    return {"backend": backend, "target": target, "status": status, "detail": detail}
