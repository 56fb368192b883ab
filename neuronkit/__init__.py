"""neuronkit: compile, package, load and run models on AWS Inferentia/Trainium or the host CPU.

    art = neuronkit.compile(model, framework="torch", example_inputs=x)   # target="cpu" by default
    art.save("resnet50.nk")
    with neuronkit.load("resnet50.nk", cores=2, group_size=1) as rt:
        logits = rt(x)

Importing neuronkit imports no framework: backends import theirs when they compile or load.
"""

__version__ = "0.1.0"

from .api import compile, load, verify  # noqa: E402
from .artifact import Artifact, Manifest, open_artifact  # noqa: E402
from .bench import benchmark  # noqa: E402
from .cores import CoreGroup  # noqa: E402
from .errors import (  # noqa: E402
    ArtifactError,
    BackendNotFound,
    BackendUnavailable,
    CompileError,
    CoreSpecError,
    IncompatibleArtifact,
    InputError,
    NeuronkitError,
    PluginError,
    RuntimeClosed,
)
from .hookspecs import hookimpl  # noqa: E402
from .interfaces import Compiler, CompileRequest, CompileResult, Replica  # noqa: E402
from .plugins import get_backends  # noqa: E402
from .runtime import Runtime  # noqa: E402
from .types import (  # noqa: E402
    BackendSpec,
    CompileReport,
    Component,
    EngineSpec,
    ExportFormat,
    Option,
    Preprocess,
    TensorSpec,
)
from .verify import Verification, VerificationFailed  # noqa: E402
from .weights import replace_weights  # noqa: E402

__all__ = [
    "Artifact", "ArtifactError", "BackendNotFound", "BackendSpec", "BackendUnavailable", "CompileError",
    "CompileReport", "CompileRequest", "CompileResult", "Compiler", "Component", "CoreGroup", "CoreSpecError",
    "EngineSpec", "ExportFormat", "IncompatibleArtifact", "InputError", "Manifest", "NeuronkitError", "Option",
    "PluginError", "Preprocess", "Replica", "Runtime", "RuntimeClosed", "TensorSpec", "Verification",
    "VerificationFailed", "benchmark", "compile", "get_backends", "hookimpl", "load", "open_artifact", "verify",
    "replace_weights",
]
