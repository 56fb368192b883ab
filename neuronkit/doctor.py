"""``neuronkit doctor``: what this host has, what is wrong with it, and what to do about each problem.

:func:`diagnose` returns a :class:`Report` of :class:`Check` s, each ``ok``, ``warn`` or ``problem``;
every problem carries one line saying what to do. It looks at Python and neuronkit, the plugins and
their backends, the frameworks and Neuron SDK packages installed (a PyPI placeholder is named as
such), the support status of every Neuron SDK package (:data:`SUPPORT`, the one table of it), the
Neuron devices (:func:`neuronkit.targets.discover`, so ``NEURONKIT_SYSROOT`` fakes a machine), the
variables that steer core placement and threads, the host CPU's instruction sets and what the
``cpu`` target runs natively on them, and, given an artifact, whether this host can run it.

Nothing here imports a framework: packages are found with :func:`importlib.util.find_spec` and their
versions read from their metadata. The one import it attempts is of an SDK module whose source says
``WRONG PACKAGE`` (PyPI's placeholders are a few lines that raise it), to confirm it is one.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .cores import parse_group_sizes
from .errors import CoreSpecError, IncompatibleArtifact, NeuronkitError
from .neuron import AS_OF, NEURON_REPOSITORY, SUPPORT, SdkSupport, version_tuple  # noqa: F401 (re-exported)

OK, WARN, PROBLEM = "ok", "warn", "problem"


#: Frameworks and engines whose installation the report lists: module -> distribution names to ask.
FRAMEWORKS = {"torch": ("torch",), "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel"),
              "keras": ("keras",), "mxnet": ("mxnet", "mxnet-mkl"), "onnx": ("onnx",),
              "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"), "openvino": ("openvino",),
              "nncf": ("nncf",)}

#: Variables that steer placement and threads; the report shows the ones set.
PLACEMENT_ENV = ("NEURON_RT_VISIBLE_CORES", "NEURON_RT_NUM_CORES", "NEURONCORE_GROUP_SIZES", "NEURON_LOGICAL_NC_CONFIG",
                 "NEURON_CC_FLAGS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS",
                 "NEURONKIT_SYSROOT", "NEURONKIT_LOAD_PLUGINS", "NEURONKIT_DISABLE_PLUGINS")
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: CPU flags (as Linux lists them) that decide what the cpu target runs natively.
NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16"})
FAST_INT8 = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})   # as neuronkit.engines.onnxruntime.int8_settings
SHOWN_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
               "amx_tile", "amx_bf16", "amx_int8", "asimd", "asimddp", "i8mm", "bf16", "sve", "sve2")

#: "Drivers above 2.24 do not support Inf1" (announce-correction-neuron-driver-support-inf1.rst).
INF1_LAST_DRIVER = (2, 24)


@dataclass
class Check:
    """One finding. A ``problem`` always says what to do (:attr:`fix`); a ``warn`` may."""

    section: str
    name: str
    status: str
    detail: str
    fix: str = ""
    data: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in (OK, WARN, PROBLEM):
            raise ValueError(f"status {self.status!r}")
        if self.status == PROBLEM and not self.fix:
            raise ValueError(f"problem {self.name!r} without a fix")

    def to_dict(self) -> dict:
        return {"section": self.section, "name": self.name, "status": self.status, "detail": self.detail,
                "fix": self.fix, "data": self.data}


@dataclass
class Report:
    checks: list

    @property
    def problems(self) -> list:
        return [c for c in self.checks if c.status == PROBLEM]

    @property
    def warnings(self) -> list:
        return [c for c in self.checks if c.status == WARN]

    @property
    def ok(self) -> bool:
        return not self.problems

    def fix_lines(self) -> list:
        """One line per problem: what is wrong, then what to do."""
        return [f"{c.name}: {c.detail} -> {c.fix}" for c in self.problems]

    def to_dict(self) -> dict:
        from . import __version__

        return {"neuronkit": __version__, "support_as_of": AS_OF, "ok": self.ok,
                "problems": len(self.problems), "warnings": len(self.warnings),
                "checks": [c.to_dict() for c in self.checks], "fix": self.fix_lines()}


def diagnose(artifact=None) -> Report:
    """Check this host (and, given one, whether ``artifact``, an :class:`~neuronkit.Artifact` or a path,
    can run on it)."""
    checks: list = []
    checks += _versions()
    backends, plugin_checks = _plugins()
    checks += plugin_checks
    checks.append(_frameworks())
    sdks = {row.package: _probe(row.module, row.package) for row in SUPPORT.values() if row.kind == "Neuron SDK"}
    checks += _sdk_checks(sdks)
    checks += _support_checks(sdks, backends)
    root = os.environ.get("NEURONKIT_SYSROOT", "/")
    host, env_error = _discover(root)
    checks += _device_checks(host, root, sdks)
    checks += _env_checks(host, env_error)
    features, cpu_model = _cpu(root)
    checks += _cpu_checks(features, cpu_model, host.cpus)
    if artifact is not None:
        checks += _artifact_checks(artifact, host, backends, sdks, features)
    return Report(checks)


# -- versions, plugins, frameworks


def _versions() -> list:
    from . import __version__

    return [Check("python", "python", OK, f"Python {platform.python_version()} ({sys.executable}) on "
                                          f"{platform.system()} {platform.machine()}",
                  data={"version": platform.python_version(), "executable": sys.executable}),
            Check("python", "neuronkit", OK, f"neuronkit {__version__}", data={"version": __version__})]


def _plugins() -> tuple[dict, list]:
    from . import plugins

    checks = []
    for row in plugins.plugins():
        if row["error"]:
            checks.append(Check("plugins", f"plugin {row['name']}", PROBLEM,
                                f"skipped: {row['error']}",
                                f"fix or uninstall {row['distribution'] or row['name']}, or set "
                                f"NEURONKIT_DISABLE_PLUGINS={row['name']}", data=row))
        else:
            checks.append(Check("plugins", f"plugin {row['name']}", OK,
                                f"{row['distribution']} {row['version']}".strip() + f": {', '.join(row['hooks'])}",
                                data=row))
    try:
        backends = plugins.get_backends()
    except NeuronkitError as exc:
        checks.append(Check("plugins", "backends", PROBLEM, str(exc), "uninstall or disable one of the two plugins"))
        return {}, checks
    for spec in backends.values():
        missing = plugins.missing_requirements(spec)
        engines = [e.name for e in spec.engines if not missing and not plugins.missing_requirements(e)]
        data = {"targets": list(spec.targets), "ready": not missing, "missing": missing,
                "engines_installed": engines, "plugin": spec.plugin}
        if missing:
            checks.append(Check("plugins", f"backend {spec.name}", WARN,
                                f"not ready: needs {', '.join(missing)}",
                                spec.install_hint or f"pip install {' '.join(missing)}", data=data))
        else:
            checks.append(Check("plugins", f"backend {spec.name}", OK,
                                f"ready: targets {', '.join(spec.targets)}; cpu engines installed: "
                                f"{', '.join(engines) or 'none'}", data=data))
    return backends, checks


def _frameworks() -> Check:
    found = {}
    for module, dists in FRAMEWORKS.items():
        if _find(module):
            found[module] = _dist_version(*dists) or "version unknown"
        else:
            found[module] = None
    have = [f"{m} {v}" for m, v in found.items() if v]
    lacking = [m for m, v in found.items() if not v]
    return Check("frameworks", "frameworks", OK,
                 f"installed: {', '.join(have) or 'none'}; not installed: {', '.join(lacking) or 'none'}",
                 data={"installed": {m: v for m, v in found.items() if v}, "not_installed": lacking})


def _find(module: str) -> bool:
    """Whether ``module`` (top-level) can be imported, without importing it."""
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _dist_version(*names: str) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


# -- Neuron SDK packages


def _probe(module: str, package: str) -> dict:
    """What is installed as ``module``: ``absent``, ``installed``, ``placeholder`` (PyPI's namesake),
    ``simulated`` (neuronkit.testing.sim), ``imported`` or ``broken``; with its version and origin."""
    version = _dist_version(package)
    loaded = sys.modules.get(module)
    if loaded is not None:
        simulated = getattr(loaded, "SIMULATED", False) is True
        return {"state": "simulated" if simulated else "imported", "version": version or
                str(getattr(loaded, "__version__", "")), "origin": str(getattr(loaded, "__file__", "") or "")}
    top, _, rest = module.partition(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return {"state": "absent", "version": "", "origin": ""}
    if rest:  # a submodule (mxnet.contrib.neuron): look for its file, without importing the framework
        parts = rest.split(".")
        for location in spec.submodule_search_locations or ():
            path = Path(location, *parts)
            if path.is_dir() or path.with_suffix(".py").is_file():
                return {"state": "installed", "version": version, "origin": str(path)}
        return {"state": "absent", "version": "", "origin": ""}
    origin = spec.origin or ""
    if _says_wrong_package(origin):  # a placeholder is a few lines: importing it only raises
        try:
            importlib.import_module(module)
        except ImportError as exc:
            if "WRONG PACKAGE" in str(exc):
                return {"state": "placeholder", "version": version, "origin": origin, "message": str(exc)[:300]}
            return {"state": "broken", "version": version, "origin": origin, "message": str(exc)[:300]}
        except Exception as exc:  # noqa: BLE001 - whatever a broken package raises is reported, not raised
            return {"state": "broken", "version": version, "origin": origin,
                    "message": f"{type(exc).__name__}: {str(exc)[:300]}"}
    return {"state": "installed", "version": version, "origin": origin}


def _says_wrong_package(origin: str) -> bool:
    try:
        path = Path(origin)
        return path.is_file() and path.stat().st_size <= 64 * 1024 and b"WRONG PACKAGE" in path.read_bytes()
    except OSError:
        return False


def _sdk_checks(sdks: dict) -> list:
    checks = []
    for package, found in sdks.items():
        state, row = found["state"], SUPPORT[package]
        version = f" {found['version']}" if found["version"] else ""
        data = {"package": package, "module": row.module, **found}
        if state == "placeholder":
            checks.append(Check("neuron-sdk", package, PROBLEM,
                                f"{row.module} is the PyPI placeholder of {package} (its import says WRONG PACKAGE), "
                                f"not the Neuron SDK",
                                f"pip uninstall -y {package} && pip install {package} "
                                f"--extra-index-url={NEURON_REPOSITORY} (on a Neuron instance or build host)",
                                data=data))
        elif state == "broken":
            checks.append(Check("neuron-sdk", package, PROBLEM, f"importing {row.module} fails: {found['message']}",
                                f"reinstall it: pip install --force-reinstall {package} "
                                f"--extra-index-url={NEURON_REPOSITORY}", data=data))
        elif state == "simulated":
            checks.append(Check("neuron-sdk", package, WARN,
                                f"{row.module} is a SIMULATED SDK module (neuronkit.testing.sim): nothing runs on "
                                f"Inferentia or Trainium", "outside tests, install the real one from the Neuron "
                                                           "repository", data=data))
        elif state in ("installed", "imported"):
            checks.append(Check("neuron-sdk", package, OK, f"{package}{version} installed ({row.module})", data=data))
    present = [p for p, f in sdks.items() if f["state"] != "absent"]
    checks.insert(0, Check("neuron-sdk", "neuron-sdk", OK,
                           (f"found: {', '.join(present)}" if present else "no Neuron SDK package is installed")
                           + f"; looked for {', '.join(sdks)}",
                           data={p: f["state"] for p, f in sdks.items()}))
    return checks


#: Statuses the summary groups as "past end of support".
_PAST = {"end of support": "past end of support", "archived": "past end of support", "retired": "past end of support"}


def _support_checks(sdks: dict, backends: dict) -> list:
    """The status of every package in :data:`SUPPORT`; a warning for each one installed, or that a ready
    backend calls, that is not supported."""
    from . import plugins

    by_status: dict = {}
    for row in SUPPORT.values():
        by_status.setdefault(_PAST.get(row.status, row.status), []).append(row.package)
    checks = [Check("support", "support status", OK, f"as of {AS_OF}: " + "; ".join(
        f"{status}: {', '.join(packages)}" for status, packages in by_status.items()), data=by_status)]
    for package, row in SUPPORT.items():
        found = sdks.get(package) or {"state": "installed" if row.kind == "framework" and _find(row.module)
                                      else "absent", "version": _dist_version(package)}
        here = found["state"] in ("installed", "imported", "simulated")
        status, detail = row.for_version(found.get("version", "")) if here else (row.status, row.detail)
        text = f"{status} as of {row.as_of}: {detail}" + (
            f"; installed here{' (' + found['version'] + ')' if found.get('version') else ''}" if here else
            "; not installed here")
        data = {"package": package, "module": row.module, "kind": row.kind, "status": status, "as_of": row.as_of,
                "source": row.source, "targets": list(row.targets), "backends": list(row.backends),
                "python": list(row.python), "installed": here}
        warn = here and status != "supported"
        checks.append(Check("support", package, WARN if warn else OK, text, row.instead if warn else "", data=data))
    for spec in backends.values():
        if plugins.missing_requirements(spec):
            continue
        uses = [(row, "/".join(t for t in row.targets if t in spec.targets) or "every target")
                for row in SUPPORT.values() if spec.name in row.backends and not row.supported
                and (not row.targets or set(row.targets) & set(spec.targets))]
        if uses:
            checks.append(Check("support", f"backend {spec.name}", WARN,
                                "; ".join(f"{where} uses {row.package}: {row.status} as of {row.as_of}"
                                          for row, where in uses),
                                "; ".join(dict.fromkeys(row.instead for row, _ in uses if row.instead)),
                                data={"depends_on": [row.package for row, _ in uses]}))
    return checks


def sdk_for(backend: str, target: str, module: str = "") -> list:
    """The Neuron SDK packages an artifact of ``backend`` for ``target`` runs on: the module its
    manifest names (``load["sdk"]``), else every package that backend calls for that target."""
    if module:
        return [row for row in SUPPORT.values() if row.module == module]
    return [row for row in SUPPORT.values() if row.kind == "Neuron SDK" and backend in row.backends
            and target in row.targets]


# -- devices


def _discover(root: str):
    """The host as :func:`~neuronkit.targets.discover` sees it, and the error a malformed
    ``NEURON_RT_VISIBLE_CORES`` raised (the devices are then found without it, and it is put back)."""
    from .targets import discover

    try:
        return discover(root), None
    except CoreSpecError as exc:
        saved = os.environ.pop("NEURON_RT_VISIBLE_CORES")
        try:
            return discover(root), exc
        finally:
            os.environ["NEURON_RT_VISIBLE_CORES"] = saved


def _neuron_ls() -> list:
    """``neuron-ls -j`` on the real machine (the processes holding NeuronCores, their runtime versions)."""
    exe = shutil.which("neuron-ls")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "-j"], capture_output=True, text=True, timeout=20, check=True).stdout
        entries = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _device_checks(host, root: str, sdks: dict) -> list:
    base = Path(root)
    devices = [{"index": d.index, "cores": d.cores, "core_kind": d.core_kind, "source": d.source}
               for d in host.devices]
    where = "" if root == "/" else f" under NEURONKIT_SYSROOT={root}"
    if host.devices:
        kinds = sorted({d.core_kind for d in host.devices})
        text = (f"{len(host.devices)} Neuron device(s), {sum(d.cores for d in host.devices)} {', '.join(kinds)} "
                f"(found by {', '.join(sorted({d.source for d in host.devices}))}{where})"
                + (f"; instance {host.instance_type}" if host.instance_type else ""))
    else:
        text = f"no Neuron device: no neuron-ls, /dev/neuron* or Neuron sysfs entries{where}"
    checks = [Check("devices", "neuron devices", OK, text,
                    data={"devices": devices, "instance_type": host.instance_type, "cpus": host.cpus,
                          "neuron_cores": host.neuron_cores, "root": root})]
    if not host.devices:
        return checks
    driver = _read(base / "sys/module/neuron/version")
    if driver:
        inf1_too_new = host.core_kind == "NeuronCore-v1" and version_tuple(driver)[:2] > INF1_LAST_DRIVER
        checks.append(Check("devices", "neuron driver", PROBLEM if inf1_too_new else OK,
                            f"driver {driver}" + (" on Inferentia (Inf1): drivers above 2.24 do not support Inf1"
                                                  if inf1_too_new else ""),
                            "install aws-neuronx-dkms 2.24.* and pin it (Neuron 2.27+ drivers dropped Inf1)"
                            if inf1_too_new else "", data={"version": driver}))
    else:
        checks.append(Check("devices", "neuron driver", OK, "driver version not found in "
                            "/sys/module/neuron/version; modinfo neuron shows the one installed", data={"version": ""}))
    entries = _neuron_ls() if root == "/" else []
    processes = [{"device": e.get("neuron_device"), "cores": e.get("neuroncore_ids") or e.get("nc_count"), **p}
                 for e in entries for p in e.get("neuron_processes") or () if isinstance(p, dict)]
    runtimes = sorted({str(p.get("neuron_runtime_version")) for p in processes if p.get("neuron_runtime_version")})
    others = [p for p in processes if p.get("pid") != os.getpid()]
    if others:
        held = "; ".join(f"pid {p.get('pid')} ({p.get('command', '?')}) holds neuron{p['device']}" for p in others)
        checks.append(Check("devices", "neuroncores in use", WARN, f"{held} (from neuron-ls)",
                            "a NeuronCore belongs to one process: stop those, or load on other cores "
                            "(cores=..., NEURON_RT_VISIBLE_CORES)", data={"processes": processes}))
    else:
        checks.append(Check("devices", "neuroncores in use", OK,
                            "no process holds NeuronCores (neuron-ls)" if entries else
                            "not known which processes hold NeuronCores: neuron-ls " + (
                                "is not asked about a faked machine" if root != "/" else
                                "gave no JSON (-j is documented from Neuron 2.22)" if shutil.which("neuron-ls")
                                else "was not found"),
                            data={"processes": processes}))
    checks.append(Check("devices", "neuron runtime", OK,
                        f"runtime {', '.join(runtimes)} (neuron-ls)" if runtimes else
                        "runtime version unknown: neuron-ls shows it only for a process running the runtime",
                        data={"versions": runtimes}))
    if not any(f["state"] in ("installed", "imported", "simulated") for f in sdks.values()):
        wanted = "torch-neuron (inf1)" if host.core_kind == "NeuronCore-v1" else "torch-neuronx and neuronx-cc"
        checks.append(Check("devices", "sdk for these devices", WARN,
                            "this host has NeuronCores but no Neuron SDK package is installed",
                            f"install the framework's Neuron package, e.g. {wanted}, with "
                            f"--extra-index-url={NEURON_REPOSITORY}"))
    return checks


# -- environment


def _env_checks(host, env_error) -> list:
    from .cores import RUNTIME_2_ENV

    env = {k: os.environ[k] for k in PLACEMENT_ENV if os.environ.get(k) is not None}
    checks = [Check("environment", "variables", OK,
                    ", ".join(f"{k}={v}" for k, v in env.items()) or "none of the placement or thread variables "
                    "is set", data={"set": env})]
    total = sum(d.cores for d in host.devices)
    gen2 = [f"{k}={env[k]}" for k in RUNTIME_2_ENV if env.get(k)]
    legacy = env.get("NEURONCORE_GROUP_SIZES")
    if legacy and gen2:
        checks.append(Check("environment", "runtime generations", PROBLEM,
                            f"NEURONCORE_GROUP_SIZES={legacy} (runtime 1.x) and {', '.join(gen2)} (runtime 2.x) are "
                            f"both set: the runtime (and MXNet) must not see both generations' placement variables",
                            "unset NEURONCORE_GROUP_SIZES (runtime 2.x reads NEURON_RT_*), or unset "
                            f"{' and '.join(k for k in RUNTIME_2_ENV if env.get(k))} for an MXNet 1.5 "
                            f"(runtime 1.x) process"))
    elif legacy:
        # parallel-ncgs.rst, maintenance.rst: deprecated in 1.16.0, end of support 1.19.0 or 1.20.0 (pages disagree)
        checks.append(Check("environment", "runtime generations", WARN,
                            f"NEURONCORE_GROUP_SIZES={legacy} is runtime 1.x's variable (end of support in Neuron "
                            f"1.19/1.20); only mxnet_neuron (MXNet 1.5) still reads it",
                            "on runtime 2.x, unset it and place cores with neuronkit.load(cores=..., group_size=...)"))
    if env_error is not None:
        checks.append(Check("environment", "NEURON_RT_VISIBLE_CORES", PROBLEM, str(env_error),
                            "set it to a contiguous range like 0-3, or unset it"))
    elif host.visible_cores is not None:
        span = f"{host.visible_cores[0]}-{host.visible_cores[-1]}"
        if not host.devices:
            checks.append(Check("environment", "NEURON_RT_VISIBLE_CORES", WARN,
                                f"names cores {span}, but this host has no NeuronCores", "unset it on this host"))
        elif host.visible_cores[-1] >= total:
            checks.append(Check("environment", "NEURON_RT_VISIBLE_CORES", PROBLEM,
                                f"names cores {span}, but this host has {total} NeuronCores (0-{total - 1})",
                                f"name cores within 0-{total - 1}, or unset it"))
        else:
            checks.append(Check("environment", "NEURON_RT_VISIBLE_CORES", OK,
                                f"this process may use NeuronCores {span} of 0-{total - 1}"))
    num = env.get("NEURON_RT_NUM_CORES")
    if num is not None:
        if not num.strip().isdigit():
            checks.append(Check("environment", "NEURON_RT_NUM_CORES", PROBLEM, f"{num!r} is not a whole number",
                                "set a count of NeuronCores like 4, or unset it"))
        elif env.get("NEURON_RT_VISIBLE_CORES"):
            checks.append(Check("environment", "NEURON_RT_NUM_CORES", WARN,
                                "ignored: NEURON_RT_VISIBLE_CORES is also set and takes precedence",
                                "unset one of the two"))
        elif host.devices and int(num) > total:
            checks.append(Check("environment", "NEURON_RT_NUM_CORES", PROBLEM,
                                f"asks for {int(num)} NeuronCores; this host has {total}",
                                f"ask for {total} or fewer, or unset it"))
    if legacy:
        try:
            need = sum(parse_group_sizes(legacy))
        except ValueError:
            checks.append(Check("environment", "NEURONCORE_GROUP_SIZES", PROBLEM, f"{legacy!r} is malformed",
                                "write sizes like 2,2 or 4x1, or unset it"))
        else:
            if host.devices and need > total:
                checks.append(Check("environment", "NEURONCORE_GROUP_SIZES", PROBLEM,
                                    f"{legacy} needs {need} NeuronCores; this host has {total}",
                                    f"give groups of {total} cores in all, or fewer"))
    checks += _thread_checks(host, env, total)
    return checks


def _replicas(host, env: dict) -> tuple[int, str]:
    """How many replicas (each with its own intra-op threads) the placement variables imply."""
    legacy = env.get("NEURONCORE_GROUP_SIZES")
    if legacy:
        try:
            return max(len(parse_group_sizes(legacy)), 1), f"NEURONCORE_GROUP_SIZES={legacy}"
        except ValueError:
            pass
    if host.devices and host.neuron_cores:
        num = env.get("NEURON_RT_NUM_CORES", "")
        count = int(num) if num.isdigit() and not env.get("NEURON_RT_VISIBLE_CORES") else host.neuron_cores
        return max(count, 1), "one replica per NeuronCore (neuronkit.load's default group size on Neuron)"
    return 1, "one replica (the cpu target's default)"


def _thread_checks(host, env: dict, total: int) -> list:
    checks = []
    for var in THREAD_ENV:
        value = env.get(var)
        if value is None:
            continue
        first = value.split(",")[0].strip()
        if not first.isdigit() or int(first) < 1:
            checks.append(Check("environment", var, WARN, f"{value!r} is not a thread count",
                                f"set {var} to a whole number like 4, or unset it"))
            continue
        threads = int(first)
        replicas, why = _replicas(host, env)
        if threads * replicas > host.cpus:
            checks.append(Check("environment", var, WARN,
                                f"{var}={threads} x {replicas} replica(s) ({why}) = {threads * replicas} threads on "
                                f"{host.cpus} CPUs: oversubscribed, threads wait on each other",
                                f"set {var}={max(host.cpus // replicas, 1)} or fewer, or run fewer replicas"))
        else:
            checks.append(Check("environment", var, OK,
                                f"{var}={threads} x {replicas} replica(s) fits {host.cpus} CPUs"))
    return checks


# -- CPU


def _cpu(root: str) -> tuple[frozenset, str]:
    """The CPU flags and model name: ``NEURONKIT_SYSROOT/proc/cpuinfo`` when a faked machine has one."""
    from .targets import cpu_features

    path = Path(root, "proc/cpuinfo")
    if root == "/" or not path.is_file():
        path = Path("/proc/cpuinfo")
    model = ""
    for line in _read(path).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("model name", "Model", "Processor") and not model:
            model = value.strip()
    return cpu_features(str(path)), model or platform.processor() or platform.machine() or "unknown CPU"


def _arch(features: frozenset) -> str:
    machine = platform.machine().lower()
    if features & {"sse2", "avx", "avx2"} or (not features and machine in ("x86_64", "amd64", "i686", "x86")):
        return "x86"
    if "asimd" in features or (not features and machine in ("aarch64", "arm64")):
        return "arm"
    return "other"


def cpu_precisions(features: frozenset) -> dict:
    """For each precision of the cpu target: ``(status, how it runs on a CPU with these flags)``."""
    arch = _arch(features)
    if arch == "x86":
        fp32 = ((OK, "native (AVX2 or AVX-512)") if features & {"avx2", "avx512f"} else
                (WARN, "runs, without AVX2: ONNX Runtime and OpenVINO use slower code paths"))
        bf16 = ((OK, f"native ({', '.join(sorted(features & NATIVE_BF16))}) on the openvino engine")
                if features & NATIVE_BF16 else
                (WARN, "emulated: without AVX512-BF16 or AMX-BF16 OpenVINO runs a bf16 artifact in f32 (warned at "
                       "load), no faster than fp32"))
        int8 = ((OK, f"fast ({', '.join(sorted(features & FAST_INT8))}): U8S8 quantization, VNNI's VPDPBUSD")
                if features & FAST_INT8 else
                (WARN, "without VNNI or AMX: U8S8 with reduce_range (7-bit) so AVX2's VPMADDUBSW does not saturate; "
                       "less speed-up over fp32, a little less accuracy") if "avx2" in features else
                (WARN, "no VNNI, AMX or AVX2: int8 gains little over fp32"))
    elif arch == "arm":
        fp32 = (OK, "native (NEON)")
        bf16 = (WARN, "not assessed on ARM: measure it with neuronkit bench")
        int8 = (OK, "S8S8 (ONNX Runtime's default on ARM)" + (f"; {', '.join(sorted(features & {'asimddp', 'i8mm'}))}"
                                                             if features & {"asimddp", "i8mm"} else ""))
    else:
        unknown = (WARN, "not assessed: no CPU flags could be read")
        fp32, bf16, int8 = (OK, "runs"), unknown, unknown
    return {"fp32": fp32, "bf16": bf16, "int8": int8}


def _cpu_checks(features: frozenset, model: str, cpus: int) -> list:
    from . import plugins
    from .engines import HOST_ENGINES

    shown = [f for f in SHOWN_FLAGS if f in features]
    checks = [Check("cpu", "instruction sets", OK,
                    f"{model}, {cpus} CPUs: {', '.join(shown) or 'no flags read (not Linux?)'}",
                    data={"model": model, "cpus": cpus, "flags": shown, "arch": _arch(features)})]
    for precision, (status, how) in cpu_precisions(features).items():
        fix = {"bf16": "compile for the cpu target at fp32 (as fast here, and exact), or run on a CPU with "
                       "AVX512-BF16/AMX", "int8": "compare int8 with fp32 here: neuronkit bench A.nk B.nk, "
                                                   "neuronkit verify"}.get(precision, "")
        engines = {e.name: not plugins.missing_modules(e.requires_for(precision)[0]) for e in HOST_ENGINES.values()
                   if precision in e.precisions}
        ready = [name for name, installed in engines.items() if installed]
        how += (f"; engines installed for it: {', '.join(ready)}" if ready else
                f"; no engine for it is installed ({', '.join(engines)}; see neuronkit backends)")
        checks.append(Check("cpu", f"cpu target {precision}", status, how, fix if status == WARN else "",
                            data={"precision": precision, "engines": engines}))
    return checks


# -- an artifact


def _artifact_checks(artifact, host, backends: dict, sdks: dict, features: frozenset) -> list:
    from . import plugins
    from .artifact import Artifact, open_artifact
    from .engines import HOST_ENGINES
    from .targets import get_target

    name = "artifact"
    try:
        art = artifact if isinstance(artifact, Artifact) else open_artifact(artifact)
    except NeuronkitError as exc:
        return [Check("artifact", name, PROBLEM, f"cannot open {artifact}: {exc}",
                      "give the path of a neuronkit artifact (.nk file or directory); compile the model again if it "
                      "was altered")]
    m = art.manifest
    about = {"backend": m.backend.name, "target": m.target, "engine": m.engine, "precision": m.precision,
             "pipeline_cores": m.pipeline_cores}
    checks = [Check("artifact", name, OK, f"{m.backend.name} artifact for {m.target}"
                    + (f" (engine {m.engine})" if m.engine else "") + f", {m.precision}, written by neuronkit "
                    f"{m.neuronkit_version or '?'}", data=about)]
    try:
        target = get_target(m.target)
    except NeuronkitError as exc:
        checks.append(Check("artifact", "target", PROBLEM, str(exc), "upgrade neuronkit, or compile the model again"))
        return checks
    try:
        available = host.cores_for(target)
    except IncompatibleArtifact as exc:
        checks.append(Check("artifact", "target", PROBLEM, f"this host cannot run it: {exc}",
                            f"run it on an {target.name} instance, or compile again with target='cpu'",
                            data={"target": target.name, "host": host.core_kind}))
    else:
        unit = "NeuronCores" if target.is_neuron else "CPUs"
        if target.is_neuron and available < m.pipeline_cores:
            checks.append(Check("artifact", "target", PROBLEM,
                                f"pipelined over {m.pipeline_cores} NeuronCores; this process has {available}",
                                "run it where that many cores are free, or compile with fewer pipeline_cores"))
        else:
            checks.append(Check("artifact", "target", OK, f"{target.name} runs here on {available} {unit}"))
    spec = backends.get(m.backend.name)
    engine = None if target.is_neuron else HOST_ENGINES.get(m.engine)
    if engine is not None:  # the core's engines load without the backend's framework
        missing = plugins.missing_requirements(engine)
        checks.append(Check("artifact", "engine", PROBLEM if missing else OK,
                            f"the {engine.name} engine needs {', '.join(missing)}" if missing else
                            f"the {engine.name} engine is installed", engine.install_hint if missing else ""))
    elif spec is None:
        checks.append(Check("artifact", "backend", PROBLEM, f"no backend called {m.backend.name!r} is installed "
                            f"(from {m.plugin or 'an unknown plugin'})",
                            f"install the plugin that provides it ({m.plugin or m.backend.name})"))
    else:
        missing = plugins.missing_requirements(spec)
        checks.append(Check("artifact", "backend", PROBLEM if missing else OK,
                            f"the {spec.name} backend needs {', '.join(missing)}" if missing else
                            f"the {spec.name} backend is ready",
                            (spec.install_hint or f"pip install {' '.join(missing)}") if missing else ""))
    if target.is_neuron:
        checks += _artifact_sdk_checks(m, sdks)
    elif m.precision in ("bf16", "int8"):
        status, how = cpu_precisions(features)[m.precision]
        checks.append(Check("artifact", "precision", status, f"{m.precision} on this CPU: {how}",
                            "compile it at fp32 for this host, or measure both with neuronkit bench"
                            if status == WARN else ""))
    return checks


def _artifact_sdk_checks(m, sdks: dict) -> list:
    rows = sdk_for(m.backend.name, m.target, str(m.load.get("sdk", "")))
    if not rows:
        return [Check("artifact", "neuron sdk", OK, f"neuronkit knows no Neuron SDK package for the "
                                                     f"{m.backend.name} backend on {m.target}; its plugin checks it "
                                                     f"when loading")]
    checks = []
    found = [(row, sdks.get(row.package, {"state": "absent"})) for row in rows]
    usable = [(row, f) for row, f in found if f["state"] in ("installed", "imported", "simulated")]
    python = ".".join(platform.python_version_tuple()[:2])
    if not usable:
        row = rows[0]
        names = " or ".join(r.package for r in rows)
        placeholder = [r.package for r, f in found if f["state"] == "placeholder"]
        pythons = f" (it ships for Python {', '.join(row.python)}; this is {python})" if (
            row.python and python not in row.python) else ""
        checks.append(Check("artifact", "neuron sdk", PROBLEM,
                            f"loading it needs {names}" + (f"; {', '.join(placeholder)} here is the PyPI placeholder"
                                                           if placeholder else ", which is not installed") + pythons,
                            f"pip install {row.package} --extra-index-url={NEURON_REPOSITORY}" +
                            (f" in a Python {row.python[-1]} environment" if pythons else "")))
    for row, f in usable or found[:1]:
        status, detail = row.for_version(f.get("version", ""))
        if status != "supported":
            checks.append(Check("artifact", f"support of {row.package}", WARN,
                                f"this artifact runs on {row.package}: {status} as of {row.as_of}: {detail}",
                                row.instead, data={"package": row.package, "status": status, "source": row.source}))
    return checks


# -- small helpers


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""
