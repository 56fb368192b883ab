"""What a backend implements: a :class:`Compiler` and a :class:`Replica`.

The core owns everything around them: choosing the backend, validating options, writing the
manifest and checksums, core groups and runtime environment, dispatch, input checks, batching.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import NeuronkitError
from .types import BackendSpec, CompileReport, Component, Preprocess, TensorSpec

if TYPE_CHECKING:
    from .artifact import Artifact
    from .calibration import Calibration
    from .cores import CoreGroup
    from .targets import Target


@dataclass(frozen=True)
class CompileRequest:
    """Everything the user asked for, validated against the backend's spec."""

    target: Target
    precision: str                      # resolved preset: never "auto"
    engine: str                         # "" when the user named none: the backend picks (and reports it)
    example_inputs: tuple               # as the user gave them (framework tensors or arrays)
    batch_size: int | None
    dynamic_batch: bool | None       # None: the backend's default
    pipeline_cores: int
    workdir: Path                       # write the compiled files here
    options: dict = field(default_factory=dict)
    progress: Callable[[str], None] = lambda message: None
    calibration: Calibration | None = None   # int8: the user's calibration data, read by the engine


@dataclass(frozen=True)
class CompileResult:
    """What a backend hands back; the core adds checksums, versions and timing."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    framework: Component
    compiler: Component
    flags: tuple[str, ...] = ()         # the exact compiler arguments / environment used
    engine: str = ""                    # the cpu engine used, when the backend chose it
    batch_size: int | None = None    # the compiled batch; None when any batch runs natively
    dynamic_batch: bool = False
    report: CompileReport = CompileReport()
    load: dict = field(default_factory=dict)   # backend data needed to reload (entry file names...)
    preprocess: Preprocess | None = None


class Compiler(ABC):
    """Turns a framework model object into files in ``request.workdir``."""

    def __init__(self, spec: BackendSpec):
        self.spec = spec

    @abstractmethod
    def compile(self, model: Any, request: CompileRequest) -> CompileResult:
        """Compile ``model`` as ``request`` says and write its files into ``request.workdir``."""

    def fingerprint(self, model: Any) -> str | bytes | None:
        """The model object's content (graph and weights) as bytes or text, for the compile cache; ``None``
        (the default) when the backend cannot say, and the object is compiled every time. Model files
        and folders are fingerprinted by the core."""
        return None

    def replace_weights(self, artifact: Artifact, weights: Any, workdir: Path) -> dict:
        """Optional: put new ``weights`` into a copy of ``artifact`` without compiling again
        (:func:`neuronkit.replace_weights`).

        ``workdir`` already holds a copy of every file of the artifact; change or add files there (the
        core lists them and their checksums afterwards) and return the new manifest ``load`` dict.
        ``weights`` is what the user passed: a mapping of names to tensors, or the path of a weights file.
        Refuse (with :class:`~neuronkit.NeuronkitError`) weights that do not fit, naming what differs. The
        default refuses: the backend cannot replace weights.
        """
        raise NeuronkitError(f"the {self.spec.name} backend cannot replace the weights of a compiled artifact; "
                             f"compile the model again with the new weights")


class Replica(ABC):
    """One loaded copy of a compiled model on one core group.

    The core calls :meth:`run` from one thread at a time per replica, with arrays already checked
    against the signature (and split or padded to the compiled batch when it is fixed).
    """

    def __init__(self, artifact: Artifact, group: CoreGroup, options: dict):
        self.artifact = artifact
        self.group = group
        self.options = options

    @abstractmethod
    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run one batch; inputs and outputs follow the manifest's signature order."""

    def close(self) -> None:  # noqa: B027 - optional: many replicas hold nothing to release
        """Release the replica's cores and memory."""
