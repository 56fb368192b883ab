"""The Neuron conformance suite: what every backend with a Neuron target must do the same way,
checked against the SIMULATED SDK modules of :mod:`neuronkit.testing.sim` (nothing here runs on
Inferentia or Trainium).

In a backend's test module::

    from neuronkit.testing import NeuronCase, NeuronConformance

    class TestMyBackendOnNeuron(NeuronConformance):
        @pytest.fixture
        def neuron_case(self):
            return NeuronCase(framework="torch", make_model=small_net, make_inputs=images,
                              sdks={"inf1": ("torch_neuron", "torch-neuron"),
                                    "inf2": ("torch_neuronx", "torch-neuronx")})

``sdks`` maps each Neuron target to the simulation (a module name in :mod:`neuronkit.testing.sim`,
which is also the SDK module's own name) and the pip package a missing SDK must name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import neuronkit
from neuronkit import BackendUnavailable, CompileError, CoreSpecError, IncompatibleArtifact
from neuronkit.neuron import NEURON_REPOSITORY, neuron_cc_flags, neuronx_cc_flags
from neuronkit.targets import LNC_ENV, get_target, parse_core_list

from .conformance import relative_error
from .sim import FAKE_HOSTS, check_neuron_cc_args, check_neuronx_cc_args, installed

#: The flags of each compiler's command line that a precision preset or pipelining sets.
PRESET_FIELDS = {"neuron-cc": ("fast_math", "fp32_cast", "neuroncore_pipeline_cores"),
                 "neuronx-cc": ("target", "auto_cast", "auto_cast_type", "lnc")}


@dataclass
class NeuronCase:
    """A small model of the backend's framework and the simulated SDKs of its Neuron targets."""

    framework: str
    make_model: Callable[[], Any]                 # a fresh model object
    make_inputs: Callable[[int], tuple]           # batch -> numpy arrays in signature order
    sdks: dict                                    # target -> (simulation = SDK module name, pip package)
    compile_options: dict = field(default_factory=dict)
    #: tensorflow-neuron reads flags from NEURON_CC_FLAGS after its own defaults, so its backend gives
    #: --fp32-cast explicitly (neuronkit.neuron.NEURON_CC)
    explicit_fp32_cast: bool = False
    rtol: float = 1e-4


class NeuronConformance:
    """Flags, refusals and core placement every Neuron backend shares. Provide a ``neuron_case`` fixture."""

    def _compile(self, case, target, **options):
        return neuronkit.compile(case.make_model(), case.framework, example_inputs=case.make_inputs(1),
                                 target=target, **{**case.compile_options, **options})

    def _last_compile(self, sim) -> dict:
        compiles = [c for c in sim.calls if "compiler" in c]
        assert compiles, f"no compiler command reached the simulated {sim.MODULE}"
        return compiles[-1]["compiler"]

    def test_each_precision_reaches_the_compiler_as_the_core_table_says(self, neuron_case):
        spec = neuronkit.plugins.find_backend(neuron_case.framework)
        for target, (simulation, _) in neuron_case.sdks.items():
            compiler = get_target(target).compiler
            for precision in spec.precisions_for(target):
                with installed(simulation) as sim:
                    art = self._compile(neuron_case, target, precision=precision)
                    got = self._last_compile(sim)
                if compiler == "neuron-cc":
                    want = check_neuron_cc_args(neuron_cc_flags(precision,
                                                                explicit_fp32_cast=neuron_case.explicit_fp32_cast))
                else:
                    want = check_neuronx_cc_args(neuronx_cc_flags(target, precision))
                assert got["name"] == compiler
                for name in PRESET_FIELDS[compiler]:
                    assert got[name] == getattr(want, name), (target, precision, name)
                assert art.manifest.precision == precision and art.target == target
                assert any("SIMULATED Neuron SDK" in note for note in art.manifest.report.notes)

    def test_a_flag_the_compiler_does_not_know_is_a_compile_error(self, neuron_case):
        for target, (simulation, _) in neuron_case.sdks.items():
            with installed(simulation), pytest.raises(CompileError, match="unrecognized arguments: --no-such-flag"):
                self._compile(neuron_case, target, compiler_args=["--no-such-flag"])

    def test_a_misspelt_option_names_the_right_one(self, neuron_case):
        target, (simulation, _) = next(iter(neuron_case.sdks.items()))
        with installed(simulation), pytest.raises(CompileError, match="did you mean 'strict'"):
            self._compile(neuron_case, target, stirct=True)

    def test_a_missing_sdk_names_its_package_and_the_neuron_repository(self, neuron_case):
        for target, (_, package) in neuron_case.sdks.items():
            with pytest.raises(BackendUnavailable) as err:
                self._compile(neuron_case, target)
            assert package in str(err.value) and f"--extra-index-url={NEURON_REPOSITORY}" in str(err.value)

    def test_the_pypi_placeholder_is_named_as_such(self, neuron_case, tmp_path, monkeypatch):
        for target, (simulation, package) in neuron_case.sdks.items():
            if "." in simulation:  # a submodule of the framework (mxnet.contrib.neuron) has no PyPI namesake
                continue
            (tmp_path / f"{simulation}.py").write_text(
                'raise ImportError("WRONG PACKAGE. Please install the package from Neuron Repository - '
                'pip.repos.neuron.amazonaws.com")\n')
            monkeypatch.syspath_prepend(str(tmp_path))
            with pytest.raises(BackendUnavailable, match=f"(?s)PyPI placeholder.*{package}"):
                self._compile(neuron_case, target)

    def test_pipelining_is_for_targets_whose_compiler_pipelines(self, neuron_case):
        spec = neuronkit.plugins.find_backend(neuron_case.framework)
        for target, (simulation, _) in neuron_case.sdks.items():
            with installed(simulation) as sim:
                if get_target(target).pipeline and "pipeline" in spec.capabilities:
                    art = self._compile(neuron_case, target, pipeline_cores=2)
                    assert self._last_compile(sim)["neuroncore_pipeline_cores"] == 2
                    assert art.manifest.pipeline_cores == 2
                else:
                    with pytest.raises(CompileError, match="compiler pipelines"):
                        self._compile(neuron_case, target, pipeline_cores=2)

    def test_an_artifact_refuses_a_host_without_neuron_cores(self, neuron_case, clean_neuron_env, tmp_path):
        clean_neuron_env.setenv("NEURONKIT_SYSROOT", str(tmp_path))  # a machine with no /dev/neuron*
        for target, (simulation, _) in neuron_case.sdks.items():
            with installed(simulation):
                art = self._compile(neuron_case, target)
                with pytest.raises(IncompatibleArtifact, match=f"target {target} needs NeuronCore"):
                    neuronkit.load(art)

    def test_loads_on_the_cores_asked_for_and_answers_as_the_host_model(self, neuron_case, fake_neuron_host):
        for target, (simulation, _) in neuron_case.sdks.items():
            fake_neuron_host(1, *FAKE_HOSTS[get_target(target).core_kind])
            with installed(simulation):
                art = self._compile(neuron_case, target)
                reference = neuronkit.compile(neuron_case.make_model(), neuron_case.framework,
                                              example_inputs=neuron_case.make_inputs(1))
                x = neuron_case.make_inputs(1)
                with neuronkit.load(art, cores="1", group_size=1) as rt, neuronkit.load(reference) as host:
                    assert parse_core_list(os.environ["NEURON_RT_VISIBLE_CORES"]) == (1,)
                    assert [g.local_start for g in rt.groups] == [0]  # the process's one core, numbered 0
                    got, want = rt(x), host(x)
                for g, w in zip(_tuple(got), _tuple(want), strict=True):
                    assert relative_error(g, w) < neuron_case.rtol
            for variable in ("NEURON_RT_VISIBLE_CORES", LNC_ENV):
                os.environ.pop(variable, None)
            neuronkit.cores.forget_applied_env()  # a real process keeps its cores; each target here is a new one

    def test_runtime_generations_are_never_mixed(self, neuron_case, fake_neuron_host):
        target, (simulation, _) = next(iter(neuron_case.sdks.items()))
        fake_neuron_host(1, *FAKE_HOSTS[get_target(target).core_kind][:2])
        with installed(simulation):
            art = self._compile(neuron_case, target)
            os.environ["NEURON_RT_VISIBLE_CORES"] = "0-1"  # the user's shell
            with pytest.raises(CoreSpecError, match="must not be set together"):
                neuronkit.load(art, cores=2, legacy_runtime=True)


def _tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


__all__ = ["NeuronCase", "NeuronConformance"]
