"""Core specifications -> core groups -> the environment the Neuron runtime reads.

A *core group* holds one model replica. On a Neuron target its cores are NeuronCores (a pipelined
model needs ``pipeline_cores`` of them); on the ``cpu`` target they are host threads, and a
replica's intra-op thread count is its group size.
"""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import CoreSpecError
from .targets import Host, Target, parse_core_list

CoreSpec = None | int | str | Sequence[int] | Sequence[Sequence[int]]


@dataclass(frozen=True)
class CoreGroup:
    """Contiguous core indices. ``base`` is the first core the process owns: the Neuron runtime
    re-bases indices to 0, so a backend addresses the group by :attr:`local_start`."""

    cores: tuple[int, ...]
    base: int = 0

    @property
    def start(self) -> int:
        return self.cores[0]

    @property
    def local_start(self) -> int:
        """The group's first core as the process's runtime numbers it (``nc:N``, ``start_nc``)."""
        return self.cores[0] - self.base

    @property
    def size(self) -> int:
        return len(self.cores)

    def __str__(self) -> str:
        return str(self.start) if self.size == 1 else f"{self.start}-{self.cores[-1]}"


def plan_groups(target: Target, host: Host, cores: CoreSpec = None, group_size: int | None = None,
                pipeline_cores: int = 1) -> list[CoreGroup]:
    """Validate a core spec against this host and split it into groups.

    ``cores`` is ``None`` (all), a count, a string (``"0-3"``, ``"0,1"``), a list of indices or a list
    of explicit groups. ``group_size`` defaults to the model's pipeline cores on Neuron targets and
    to all requested cores on the ``cpu`` target (one replica using every thread). Every
    :class:`CoreSpecError` says which cores this process has.
    """
    available = host.cores_for(target)
    unit = "NeuronCores" if target.is_neuron else "CPUs"
    seen = (f" (NEURON_RT_VISIBLE_CORES={os.environ['NEURON_RT_VISIBLE_CORES']}: the runtime fixes a "
            f"process's cores when it starts, so load on other cores in a new process)") if (
        target.is_neuron and host.visible_cores is not None) else ""
    exists = f"this process has {available} {unit} ({_span(range(available)) if available else 'none'}){seen}"
    try:
        groups = _split(cores, group_size, available, pipeline_cores if target.is_neuron else None)
    except _Bad as exc:
        raise CoreSpecError(f"{exc}; {exists}") from None
    except _OutOfRange as exc:
        raise CoreSpecError(f"asked for cores {exc}, but {exists}; ask for fewer") from None
    if target.is_neuron and any(g.size < pipeline_cores for g in groups):
        raise CoreSpecError(f"the model is pipelined over {pipeline_cores} NeuronCores, so each group needs "
                            f"{pipeline_cores}; got groups of {min(g.size for g in groups)}; {exists}")
    return groups


class _Bad(Exception):
    """A malformed spec; :func:`plan_groups` adds which cores exist."""


class _OutOfRange(Exception):
    """Cores that do not exist here (the message is their span)."""


_FORMS = "give a count (2), indices as text ('0-3', '0,1'), a list ([0, 1]) or groups ([[0, 1], [2, 3]])"


def _split(cores: CoreSpec, group_size, available: int, pipeline_cores: int | None) -> list[CoreGroup]:
    if group_size is not None and not (_is_index(group_size) and group_size >= 1):
        raise _Bad(f"group_size={group_size!r} must be a whole number of 1 or more")
    if _is_sequence(cores) and cores and all(_is_sequence(g) for g in cores):
        groups = [CoreGroup(_contiguous(_indices(g, f"group {_show(g)}"), f"group {_show(g)}")) for g in cores]
        _in_range(_contiguous([c for g in groups for c in g.cores], f"cores={_show(cores)}"), available)
        if group_size is not None and any(g.size != group_size for g in groups):
            raise _Bad(f"explicit groups {_show(cores)} do not all have group_size={group_size}")
        return groups
    flat = _in_range(_flat_cores(cores, available), available)
    size = group_size or pipeline_cores or len(flat)
    if len(flat) % size:
        raise _Bad(f"{len(flat)} cores ({_span(flat)}) cannot be split into groups of {size}; "
                   f"ask for a multiple of {size} cores")
    return [CoreGroup(tuple(flat[i:i + size])) for i in range(0, len(flat), size)]


def _flat_cores(cores: CoreSpec, available: int) -> Sequence[int]:
    if cores is None:
        return _contiguous(list(range(available)), "this process's set of cores")
    if _is_index(cores):
        if cores < 1:
            raise _Bad(f"cores={cores} must be at least 1")
        if cores > available:  # before building anything: cores=10**20 must not allocate
            raise _OutOfRange(f"0-{cores - 1}")
        return range(cores)
    if isinstance(cores, str):  # indices, read as NEURON_RT_VISIBLE_CORES reads them: "4" is core 4
        try:
            return parse_core_list(cores)
        except CoreSpecError as exc:
            raise _Bad(str(exc)) from None
    if _is_sequence(cores):
        return _contiguous(_indices(cores, f"cores={_show(cores)}"), f"cores={_show(cores)}")
    if isinstance(cores, (set, frozenset)):
        raise _Bad(f"cores={_show(cores)} is a set, which has no order; give a sorted list")
    raise _Bad(f"cores={_show(cores)} is not a core spec; {_FORMS}")


def _in_range(cores: Sequence[int], available: int) -> Sequence[int]:
    if cores[-1] >= available or cores[0] < 0:
        raise _OutOfRange(_span(cores))
    return cores


def _indices(values, what: str) -> list[int]:
    if not all(_is_index(v) for v in values):
        raise _Bad(f"{what} must hold whole core numbers only; {_FORMS}")
    return [int(v) for v in values]


def _show(value) -> str:
    """A spec as the user wrote it, cut short: a 10,000-core list must not make a 10,000-core message."""
    text = repr(list(value) if isinstance(value, (tuple, range)) else value)
    return text if len(text) <= 60 else text[:59] + "…"


def _is_index(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_sequence(value) -> bool:
    return isinstance(value, (list, tuple, range))


def _contiguous(cores: list[int], what: str) -> tuple[int, ...]:
    if not cores:
        raise _Bad(f"{what} is empty; ask for at least one core")
    if any(b != a + 1 for a, b in zip(cores, cores[1:], strict=False)):
        raise _Bad(f"{what} is not contiguous and increasing (the Neuron runtime requires it)")
    return tuple(cores)


def _span(cores: Sequence[int]) -> str:
    return str(cores[0]) if len(cores) == 1 else f"{cores[0]}-{cores[-1]}"


def neuron_runtime_env(groups: Sequence[CoreGroup], host: Host, cores: CoreSpec = None,
                       legacy: bool = False) -> dict:
    """The variables to set before the framework's Neuron runtime starts.

    Runtime 2.x (Neuron >= 1.16): a count (``cores=4``) becomes ``NEURON_RT_NUM_CORES`` (the runtime
    takes any 4 free cores, which suits hosts shared by several processes); indices become
    ``NEURON_RT_VISIBLE_CORES`` (exactly those); ``None`` sets nothing (the process takes every
    core). If the user already set ``NEURON_RT_VISIBLE_CORES``, the groups are relative to it and
    nothing changes. Replicas address their group relative to the process's cores either way.
    Runtime 1.x (``legacy``): ``NEURONCORE_GROUP_SIZES`` lists group sizes in load order. Never
    both generations' variables at once: MXNet misbehaves when both are set.
    """
    both = [f"{k}={os.environ[k]}" for k in RUNTIME_2_ENV if os.environ.get(k)]
    if both and os.environ.get("NEURONCORE_GROUP_SIZES"):  # from the user's shell, say
        raise CoreSpecError(
            f"NEURONCORE_GROUP_SIZES={os.environ['NEURONCORE_GROUP_SIZES']} and {', '.join(both)} are both set; the "
            f"runtime (and MXNet) must not see both generations' placement variables: unset one and load in a new "
            f"process")
    if legacy:
        if both:  # the runtime-1.x variable beside runtime 2.x's: never both (introducing-libnrt.rst)
            raise CoreSpecError(
                f"legacy_runtime=True sets NEURONCORE_GROUP_SIZES, but {', '.join(both)} is already set (by your "
                f"shell or an earlier load in this process); the two runtime generations' variables must not be set "
                f"together: unset them and load in a new process")
        return {"NEURONCORE_GROUP_SIZES": ",".join(str(g.size) for g in groups)}
    if host.visible_cores is not None or cores is None:
        return {}
    if os.environ.get("NEURONCORE_GROUP_SIZES"):
        raise CoreSpecError(
            f"NEURONCORE_GROUP_SIZES={os.environ['NEURONCORE_GROUP_SIZES']} (Neuron runtime 1.x) is set in this "
            f"process; runtime 2.x placement (cores=...) must not be added to it: unset it, load with cores=None, "
            f"or load with legacy_runtime=True")
    if isinstance(cores, int) and not isinstance(cores, bool):
        return {"NEURON_RT_NUM_CORES": str(cores)}
    return {"NEURON_RT_VISIBLE_CORES": f"{groups[0].start}-{groups[-1].cores[-1]}"}


def parse_group_sizes(text: str) -> list[int]:
    """``NEURONCORE_GROUP_SIZES`` (Neuron runtime 1.x) as one size per group, in load order: ``2,4``;
    ``4x1`` (four groups of one core, parallel-ncgs.rst); ``[1,2,1]`` (the MXNet tutorials' form).
    Raises ValueError when it is malformed."""
    sizes: list[int] = []
    for item in text.strip().strip("[]").replace(" ", "").split(","):
        m = re.fullmatch(r"(\d{1,6})(?:x(\d{1,6}))?", item)
        if not m:
            raise ValueError(f"NEURONCORE_GROUP_SIZES={text!r} is malformed")
        sizes += [int(m.group(2))] * int(m.group(1)) if m.group(2) else [int(m.group(1))]
    return sizes


#: Runtime 2.x's placement variables.
RUNTIME_2_ENV = ("NEURON_RT_VISIBLE_CORES", "NEURON_RT_NUM_CORES")


def apply_env(env: dict) -> None:
    """Set runtime variables, refusing to change ones an earlier load in this process fixed."""
    for key, value in env.items():
        current = os.environ.get(key)
        if current is not None and current != value and key in _applied:
            raise CoreSpecError(
                f"this process already runs on {key}={current}; the Neuron runtime fixes a process's cores "
                f"when it starts, so load on {key}={value} in a new process"
            )
        os.environ[key] = value
        _applied.add(key)


_applied: set = set()


def forget_applied_env() -> None:
    """Forget which runtime variables earlier loads in this process set, so a later load may set
    them again. Only for tests that undo those variables themselves (the ``clean_neuron_env``
    fixture does both): a real process cannot move its Neuron runtime to other cores."""
    _applied.clear()
