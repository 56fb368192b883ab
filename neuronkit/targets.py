"""Targets (where a compiled model runs) and discovery of what this host has.

Figures come from the Neuron documentation (docs/targets-and-cores.md): an Inferentia chip has 4
NeuronCore-v1; an Inferentia2 or Trainium chip has 2 NeuronCore-v2; a Trainium2 chip 8 NeuronCore-v3
and a Trainium3 chip 8 NeuronCore-v4, shown as 4 logical cores at the default LNC=2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CoreSpecError, IncompatibleArtifact

HOST = "host"
NCV1 = "NeuronCore-v1"
NCV2 = "NeuronCore-v2"
NCV3 = "NeuronCore-v3"
NCV4 = "NeuronCore-v4"
#: Cores whose runtime groups physical cores into logical ones (LNC)
LOGICAL_KINDS = (NCV3, NCV4)
#: The presets every Neuron target runs (data-types.rst); fp8 (e4m3) is trn2's and later
NEURON_PRECISIONS = ("fp32", "bf16", "fp16")
#: The runtime variable that sets how many physical NeuronCores make one logical core (LNC), and what
#: it is where unset (logical-neuroncore-config.rst: 2 on trn2/trn3, 1 on inf2/trn1).
LNC_ENV = "NEURON_LOGICAL_NC_CONFIG"


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    core_kind: str                  # HOST, NCV1, NCV2, NCV3 or NCV4
    cores_per_chip: int = 0         # physical NeuronCores
    compiler: str = ""              # the Neuron compiler the framework integrations call
    instances: dict = field(default_factory=dict)  # instance type -> number of chips
    pipeline: bool = False          # the compiler pipelines one model over several cores (pipeline_cores)
    logical_cores: tuple[int, ...] = ()  # LNC values it takes (--logical-nc-config), the default first
    precisions: tuple[str, ...] = NEURON_PRECISIONS  # the presets its hardware runs (cpu: its engines decide)
    memory_gib: int = 0             # device memory per chip

    @property
    def is_neuron(self) -> bool:
        return self.core_kind != HOST


TARGETS = {
    t.name: t
    for t in (
        Target("cpu", "this host's CPU (threads are the cores)", HOST, precisions=()),
        # neuron-cc's --neuroncore-pipeline-cores; neuronx-cc has no equivalent
        Target("inf1", "AWS Inferentia", NCV1, 4, "neuron-cc",
               {"inf1.xlarge": 1, "inf1.2xlarge": 1, "inf1.6xlarge": 4, "inf1.24xlarge": 16}, pipeline=True,
               memory_gib=8),
        Target("inf2", "AWS Inferentia2", NCV2, 2, "neuronx-cc",
               {"inf2.xlarge": 1, "inf2.8xlarge": 1, "inf2.24xlarge": 6, "inf2.48xlarge": 12}, memory_gib=32),
        Target("trn1", "AWS Trainium", NCV2, 2, "neuronx-cc",
               {"trn1.2xlarge": 1, "trn1.32xlarge": 16, "trn1n.32xlarge": 16}, memory_gib=32),
        # trn2-arch.rst: 8 NeuronCore-v3 per chip, 4 logical at LNC=2 (the default) or 8 at LNC=1;
        # trn2.48xlarge and trn2u.48xlarge have 16 chips (trn2.3xlarge's count is unconfirmed: left out);
        # data-types.rst: FP8 from trn2
        Target("trn2", "AWS Trainium2", NCV3, 8, "neuronx-cc", {"trn2.48xlarge": 16, "trn2u.48xlarge": 16},
               logical_cores=(2, 1), precisions=NEURON_PRECISIONS + ("fp8",), memory_gib=96),
        # trn3-arch.rst: 8 NeuronCore-v4 per chip, LNC=2 by default (nccom-test.rst); sold as UltraServers
        # (64 or 144 chips): per-instance sizes are unconfirmed, so none are listed
        Target("trn3", "AWS Trainium3", NCV4, 8, "neuronx-cc", logical_cores=(2, 1),
               precisions=NEURON_PRECISIONS + ("fp8",), memory_gib=144),
    )
}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name.strip().lower()]
    except KeyError:
        raise CoreSpecError(f"unknown target {name!r}; choose one of: {', '.join(TARGETS)}") from None


@dataclass(frozen=True)
class NeuronDevice:
    index: int
    cores: int                      # physical NeuronCores
    core_kind: str
    source: str
    logical: int = 1                # physical cores per logical core (LNC) on this device

    @property
    def logical_cores(self) -> int:
        return self.cores // max(self.logical, 1)


@dataclass(frozen=True)
class Host:
    """What this machine offers: host CPUs and any Neuron devices (chips)."""

    cpus: int
    devices: tuple[NeuronDevice, ...] = ()
    visible_cores: tuple[int, ...] | None = None  # from NEURON_RT_VISIBLE_CORES, if the user set it
    instance_type: str = ""

    @property
    def core_kind(self) -> str:
        return self.devices[0].core_kind if self.devices else HOST

    @property
    def neuron_cores(self) -> int:
        """NeuronCores this process may use (indices are re-based to 0 by the runtime)."""
        if self.visible_cores is not None:
            return len(self.visible_cores)
        return sum(d.logical_cores for d in self.devices)

    def runs(self, target: Target) -> bool:
        """Whether this host can run ``target`` (:meth:`cores_for` says why not)."""
        return not target.is_neuron or self.core_kind == target.core_kind

    def cores_for(self, target: Target) -> int:
        """How many cores ``target`` has here; raises if this host cannot run it."""
        if not self.runs(target):
            found = (f"{len(self.devices)} Neuron device(s) with {self.core_kind}" if self.devices
                     else f"no Neuron devices, {self.cpus} CPUs")
            raise IncompatibleArtifact(
                f"target {target.name} needs {target.core_kind} ({target.description}); this host has {found}. "
                f"Run it on an {target.name} instance, or compile again with target='cpu'."
            )
        return self.neuron_cores if target.is_neuron else self.cpus


def discover(root: str | None = None) -> Host:
    """Find Neuron devices: ``neuron-ls -j`` when present, else ``/dev/neuron*`` and sysfs.

    ``root`` (or the environment variable ``NEURONKIT_SYSROOT``) prefixes every path, so tests can
    describe a machine with 4 or 16 NeuronCores; ``neuron-ls`` is only asked on the real root.
    """
    root = root if root is not None else os.environ.get("NEURONKIT_SYSROOT", "/")
    base = Path(root)
    instance_type = _read(base / "sys/devices/virtual/neuron_device/neuron0/info/architecture/instance_type")
    devices = _from_neuron_ls() if root == "/" else ()
    if not devices:
        devices = _from_sysfs(base, instance_type)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return Host(cpus=cpus, devices=_of_instance(devices, instance_type), visible_cores=_visible_cores_from_env(),
                instance_type=instance_type)


def core_kind_of_instance(instance_type: str) -> str | None:
    """The NeuronCore generation of an instance type (``trn1n.32xlarge`` -> v2, ``trn3...`` -> v4), by its
    family: the part before the dot, a target's name or one of its instances' families."""
    family = instance_type.strip().lower().split(".")[0]
    for target in TARGETS.values():
        if target.is_neuron and family in {target.name} | {name.split(".")[0] for name in target.instances}:
            return target.core_kind
    return None


def _of_instance(devices: tuple[NeuronDevice, ...], instance_type: str) -> tuple[NeuronDevice, ...]:
    """Devices whose generation neuron-ls left to inference (it prints none: trn3's chips look like trn2's)
    take the instance type's, where that is known."""
    kind = core_kind_of_instance(instance_type)
    if kind is None:
        return devices
    return tuple(NeuronDevice(d.index, d.cores, kind, d.source, d.logical) if d.source == "neuron-ls" else d
                 for d in devices)


def _from_neuron_ls() -> tuple[NeuronDevice, ...]:
    exe = shutil.which("neuron-ls")
    if not exe:
        return ()
    entries = None
    for args in (["--output-format", "json"], ["-j"]):  # the announced form first, then the older flag
        try:
            out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=20, check=True).stdout
            entries = json.loads(out)
            break
        except (OSError, subprocess.SubprocessError, ValueError):
            continue
    if not isinstance(entries, list):
        return ()  # a neuron-ls without JSON output: fall back to sysfs
    try:
        return tuple(_device_from_neuron_ls(e) for e in entries)
    except (KeyError, TypeError, ValueError):
        return ()  # output this version does not know: fall back to sysfs


def _device_from_neuron_ls(entry: dict) -> NeuronDevice:
    """neuron-ls does not print the core generation: a chip with 4 cores is Inferentia (v1); one with 8, or
    reporting ``logical_neuroncore_config`` above 1, is NeuronCore-v3 (trn2; an inference: UNCONFIRMED)."""
    cores, logical = int(entry["nc_count"]), int(entry.get("logical_neuroncore_config") or 1)
    if "neuroncore_ids" in entry and logical > 1:  # nc_count may already count logical cores
        cores = len(entry["neuroncore_ids"]) * logical
    kind = NCV1 if cores == 4 and logical == 1 else NCV3 if logical > 1 or cores >= 8 else NCV2
    return NeuronDevice(int(entry["neuron_device"]), cores, kind, "neuron-ls", logical)


def _from_sysfs(base: Path, instance_type: str) -> tuple[NeuronDevice, ...]:
    # Only /dev/neuronN with a number N; a core_count that is not a number counts as absent.
    nodes = sorted((p for p in (base / "dev").glob("neuron[0-9]*") if p.name[6:].isdigit()),
                   key=lambda p: int(p.name[6:]))
    devices = []
    for node in nodes:
        index = int(node.name[6:])
        sysdir = base / f"sys/devices/virtual/neuron_device/neuron{index}"
        arch = _read(sysdir / "info/architecture/arch_type")
        cores = _read(sysdir / "core_count")
        if cores.isdigit() and int(cores) > 0:
            # "NCv4" for Trainium3 follows NCv1..NCv3 (the sysfs guide's value for it is UNCONFIRMED); an
            # arch_type not known here takes the instance type's generation
            kind = {"NCV1": NCV1, "NCV2": NCV2, "NCV3": NCV3, "NCV4": NCV4}.get(arch.upper()) or \
                core_kind_of_instance(instance_type) or (NCV1 if not arch and cores == "4" else NCV2)
            devices.append(NeuronDevice(index, int(cores), kind, "sysfs", logical_config(kind)))
        else:  # Inf1-era drivers may lack sysfs: a bare /dev/neuronN is an Inferentia chip
            devices.append(NeuronDevice(index, 4, NCV1, "/dev (assumed Inferentia: no sysfs)"))
    return tuple(devices)


def logical_config(kind: str) -> int:
    """Physical NeuronCores per logical core for a device of this kind: ``NEURON_LOGICAL_NC_CONFIG``,
    else the runtime's default (2 on NeuronCore-v3 and v4, 1 before)."""
    if kind not in LOGICAL_KINDS:
        return 1
    value = os.environ.get(LNC_ENV, "").strip()
    return int(value) if value in ("1", "2") else 2


def _visible_cores_from_env() -> tuple[int, ...] | None:
    # Once set (by the user, or by neuronkit for an earlier load), these are all the cores this
    # process will ever have: the runtime fixes them at start-up and re-bases their indices to 0.
    value = os.environ.get("NEURON_RT_VISIBLE_CORES")
    return parse_core_list(value, what="NEURON_RT_VISIBLE_CORES") if value else None


#: Far above any machine's core count; indices past it are refused before a range is built.
MAX_CORE_INDEX = 1 << 16


def parse_core_list(text: str, what: str = "cores") -> tuple[int, ...]:
    """Parse ``"0-3"``, ``"0,1"``, ``"3-5,6"``: contiguous and increasing, as the Neuron runtime requires."""
    cores: list[int] = []
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise CoreSpecError(f"{what}={text!r} is malformed; write a range like '0-3', a list like '0,1', or both")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi > MAX_CORE_INDEX:  # before building a range: '0-99999999999' must not allocate
            raise CoreSpecError(f"{what}={text!r} names core {hi}; no machine has that many, ask for fewer")
        if hi < lo:
            raise CoreSpecError(f"{what}={text!r}: range {part!r} runs backwards; write '{hi}-{lo}'")
        cores.extend(range(lo, hi + 1))
    if any(b != a + 1 for a, b in zip(cores, cores[1:], strict=False)):
        raise CoreSpecError(f"{what}={text!r} is not contiguous and increasing (the Neuron runtime requires it); "
                            f"for example '{cores[0]}-{cores[0] + len(cores) - 1}'")
    return tuple(cores)


def cpu_features(path: str = "/proc/cpuinfo") -> frozenset:
    """The host CPU's feature flags (``avx512_vnni``, ``amx_int8``...), as Linux lists them; empty elsewhere."""
    for line in _read(Path(path)).splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
