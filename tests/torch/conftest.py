import numpy as np
import pytest

from neuronkit.testing.sim import installed

torch = pytest.importorskip("torch")


@pytest.fixture
def tn():
    """The SIMULATED torch-neuron (inf1) installed as torch_neuron for the test."""
    with installed("torch_neuron") as sim:
        yield sim


@pytest.fixture
def tnx():
    """The SIMULATED XLA torch-neuronx installed as torch_neuronx for the test."""
    with installed("torch_neuronx") as sim:
        yield sim


def calls(sim, function):
    """The simulated SDK's recorded calls of ``function``."""
    return [c for c in sim.calls if c["function"] == function]


class SmallNet(torch.nn.Module):
    """A small CNN: the engine x precision matrix runs on it, ResNet50 only where it must."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16),
                                            torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, stride=2, padding=1),
                                            torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Linear(32, 10)

    def forward(self, image):
        return self.head(self.features(image))


def small_net():
    return SmallNet().eval()


def images(batch, seed=0):
    return (np.random.default_rng(seed).standard_normal((batch, 3, 32, 32)).astype(np.float32),)


def eager(model, inputs):
    with torch.no_grad():
        return [model(*(torch.from_numpy(x) for x in inputs)).numpy()]
