"""Every error neuronkit raises derives from :class:`NeuronkitError`.

Each message says what went wrong and what to do next; the CLI prints it without a traceback.
"""


class NeuronkitError(Exception):
    """Base class of every neuronkit error."""


class PluginError(NeuronkitError):
    """A plugin is broken or two plugins claim the same name."""


class BackendNotFound(NeuronkitError):
    """No installed backend has the asked-for name, or none claims a model object."""


class BackendUnavailable(NeuronkitError):
    """The backend is registered but its framework or SDK is not installed."""


class CompileError(NeuronkitError):
    """The model could not be compiled as asked."""


class ArtifactError(NeuronkitError):
    """An artifact is missing, malformed, tampered with or unsafe."""


class IncompatibleArtifact(ArtifactError):
    """The artifact is valid but cannot run here (newer schema, another target)."""


class CoreSpecError(NeuronkitError):
    """A core specification is malformed or asks for cores that do not exist."""


class InputError(NeuronkitError, ValueError):
    """Inputs do not match the artifact's signature."""


class RuntimeClosed(NeuronkitError):
    """A call reached a :class:`~neuronkit.Runtime` after :meth:`~neuronkit.Runtime.close`."""
