"""What the core checks for every backend: declared options, engine choice, Neuron placement rules,
the Neuron SDK layer (import, flag tables, simulated note) and runtime-generation placement."""

import json
import sys
import types

import numpy as np
import pytest
from click.testing import CliRunner

import neuronkit
from neuronkit import (
    BackendUnavailable,
    CompileError,
    CompileReport,
    CoreSpecError,
    EngineSpec,
    NeuronkitError,
    plugins,
)
from neuronkit import neuron as nk_neuron
from neuronkit.cli import cli
from neuronkit.cores import CoreGroup, neuron_runtime_env
from neuronkit.targets import Host, NeuronDevice


class PlacementCompiler(neuronkit.Compiler):
    """Reports ``placed`` of 10 operators on Neuron, and imports the (fake) SDK module ``sdk``."""

    def compile(self, model, request):
        if request.target.is_neuron and "fake_sdk_module" in sys.modules:
            nk_neuron.import_sdk("fake_sdk_module", "fake-sdk")
        np.save(request.workdir / "w.npy", model)
        placed = request.options.get("placed", 10)
        return neuronkit.CompileResult(
            inputs=(neuronkit.TensorSpec("x", "float32", (None, model.shape[0])),),
            outputs=(neuronkit.TensorSpec("y", "float32", (None, model.shape[1])),),
            framework=neuronkit.Component("numpy", np.__version__), compiler=neuronkit.Component("fake", "1"),
            dynamic_batch=True, engine=request.engine,
            report=CompileReport(ops_total=10, ops_on_target=placed,
                                 unsupported_ops=("op.sort",) if placed < 10 else ()),
            load={"weights": "w.npy"})


class PlacementPlugin:
    @neuronkit.hookimpl
    def neuronkit_backends(self):
        return [neuronkit.BackendSpec(
            name="placement", framework="NumPy", compiler=f"{__name__}:PlacementCompiler", replica="",
            targets=("cpu", "inf1", "inf2"), capabilities={"pipeline"},
            engines=(EngineSpec("fast", ("fp32",), ("no_such_module_for_neuronkit_tests",), "pip install fast"),
                     EngineSpec("steady", ("fp32", "bf16"))),
            compile_options=(neuronkit.Option("placed", int, 10, "operators on Neuron, of 10", ("inf1", "inf2")),))]


@pytest.fixture
def placement():
    plugins.register(PlacementPlugin(), name="placement-plugin")
    yield "placement"
    plugins.unregister("placement-plugin")


W = np.ones((4, 3), np.float32)


def test_an_unknown_option_is_refused_naming_the_closest(placement):
    with pytest.raises(CompileError, match="no compile option 'stirct'; did you mean 'strict'.*placed, strict"):
        neuronkit.compile(W, placement, target="inf1", stirct=True)


def test_an_option_for_another_target_or_of_another_type_is_refused(placement):
    with pytest.raises(CompileError, match="'strict' applies to target inf1, inf2, not cpu"):
        neuronkit.compile(W, placement, strict=True)
    with pytest.raises(CompileError, match="min_on_neuron='most' must be float"):
        neuronkit.compile(W, placement, target="inf1", min_on_neuron="most")
    with pytest.raises(CompileError, match="placed=True must be int"):
        neuronkit.compile(W, placement, target="inf1", placed=True)


def test_an_unknown_load_option_is_refused_naming_the_closest(numpy_backend, weights):
    art = neuronkit.compile(weights, numpy_backend)
    with pytest.raises(NeuronkitError, match="no load option 'delya'; did you mean 'delay'"):
        neuronkit.load(art, delya=0.1)


def test_the_engine_is_the_first_installed_one_that_runs_the_precision(placement):
    assert neuronkit.compile(W, placement).manifest.engine == "steady"  # 'fast' is not installed
    assert neuronkit.compile(W, placement, precision="bf16").manifest.engine == "steady"
    with pytest.raises(BackendUnavailable, match="engine 'fast'.*no_such_module_for_neuronkit_tests.*pip install fast"):
        neuronkit.compile(W, placement, engine="fast")
    with pytest.raises(CompileError, match="engine 'fast' runs fp32 only, not bf16; use engine='steady' for bf16"):
        neuronkit.compile(W, placement, engine="fast", precision="bf16")
    with pytest.raises(CompileError, match="supports precision fp32, bf16, not 'fp16'"):
        neuronkit.compile(W, placement, precision="fp16")


def test_strict_and_min_on_neuron_have_one_meaning_for_every_backend(placement):
    with pytest.raises(CompileError, match="90.0% of the model's operators.*strict=True needs all.*op.sort"):
        neuronkit.compile(W, placement, target="inf1", placed=9, strict=True)
    with pytest.raises(CompileError, match="min_on_neuron=0.95 needs at least 95.0%"):
        neuronkit.compile(W, placement, target="inf2", placed=9, min_on_neuron=0.95)
    art = neuronkit.compile(W, placement, target="inf1", placed=9, min_on_neuron=0.9)
    assert art.manifest.report.on_target_ratio == 0.9
    assert neuronkit.compile(W, placement, target="inf1", strict=True).manifest.report.on_target_ratio == 1.0


def test_mostly_on_the_cpu_is_warned_about_and_noted(placement):
    with pytest.warns(RuntimeWarning, match="only 30.0% of operators are on Neuron"):
        art = neuronkit.compile(W, placement, target="inf1", placed=3)
    assert any("only 30.0%" in note for note in art.manifest.report.notes)


def test_a_simulated_sdk_is_noted_in_the_manifest_and_a_real_one_is_not(placement, monkeypatch):
    sdk = types.ModuleType("fake_sdk_module")
    monkeypatch.setitem(sys.modules, "fake_sdk_module", sdk)
    assert not any("SIMULATED" in n for n in neuronkit.compile(W, placement, target="inf1").manifest.report.notes)
    sdk.SIMULATED = True
    notes = neuronkit.compile(W, placement, target="inf1").manifest.report.notes
    assert any("SIMULATED Neuron SDK (fake_sdk_module" in n and "nothing ran on Inferentia" in n for n in notes)
    assert not any("SIMULATED" in n for n in neuronkit.compile(W, placement).manifest.report.notes)  # cpu


def test_pipeline_cores_need_a_target_that_pipelines(placement):
    with pytest.raises(CompileError, match="compiler pipelines"):
        neuronkit.compile(W, placement, target="inf2", pipeline_cores=2)
    assert neuronkit.compile(W, placement, target="inf1", pipeline_cores=2).manifest.pipeline_cores == 2


def test_import_sdk_names_the_package_and_the_neuron_repository(tmp_path, monkeypatch):
    (tmp_path / "placeholder_sdk_for_tests.py").write_text(
        'raise ImportError("WRONG PACKAGE. Please install the package from Neuron Repository")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BackendUnavailable, match="PyPI placeholder.*pip install placeholder-sdk "
                                                  "--extra-index-url=https://pip.repos.neuron.amazonaws.com"):
        nk_neuron.import_sdk("placeholder_sdk_for_tests", "placeholder-sdk")
    with pytest.raises(BackendUnavailable, match="target inf2 needs.*absent_sdk is not installed.*target='cpu'"):
        nk_neuron.import_sdk("absent_sdk", "absent-sdk", target="inf2")


@pytest.mark.parametrize("precision, neuron_cc, tf_transport, neuronx_cc", [
    ("fp32", ["--fast-math", "none"], ["--fast-math", "none", "--fp32-cast", "matmult-bf16"],
     ["--target", "inf2", "--auto-cast", "none"]),
    ("bf16", ["--fast-math", "all"], ["--fast-math", "all", "--fp32-cast", "all"],
     ["--target", "inf2", "--auto-cast", "all", "--auto-cast-type", "bf16"]),
    ("fp16", ["--fast-math", "fp32-cast-all-fp16"], ["--fast-math", "fp32-cast-all-fp16", "--fp32-cast", "all-fp16"],
     ["--target", "inf2", "--auto-cast", "all", "--auto-cast-type", "fp16"]),
])
def test_one_flag_table_per_compiler(precision, neuron_cc, tf_transport, neuronx_cc):
    assert nk_neuron.neuron_cc_flags(precision) == neuron_cc
    assert nk_neuron.neuron_cc_flags(precision, explicit_fp32_cast=True) == tf_transport
    assert nk_neuron.neuron_cc_flags(precision, 4)[-2:] == ["--neuroncore-pipeline-cores", "4"]
    assert nk_neuron.neuronx_cc_flags("inf2", precision) == neuronx_cc
    assert nk_neuron.extra_compiler_args({"compiler_args": "--verbose 35 -O2"}) == ["--verbose", "35", "-O2"]


def inf1_host():
    return Host(cpus=8, devices=tuple(NeuronDevice(i, 4, "NeuronCore-v1", "sysfs") for i in range(4)))


def test_the_two_runtime_generations_are_never_mixed(clean_neuron_env):
    groups = [CoreGroup((0, 1)), CoreGroup((2, 3))]
    clean_neuron_env.setenv("NEURON_RT_NUM_CORES", "4")
    with pytest.raises(CoreSpecError, match="legacy_runtime=True sets NEURONCORE_GROUP_SIZES, but "
                                            "NEURON_RT_NUM_CORES=4 is already set"):
        neuron_runtime_env(groups, inf1_host(), 4, legacy=True)
    clean_neuron_env.delenv("NEURON_RT_NUM_CORES")
    clean_neuron_env.setenv("NEURONCORE_GROUP_SIZES", "2,2")
    with pytest.raises(CoreSpecError, match="NEURONCORE_GROUP_SIZES=2,2 .* must not be added"):
        neuron_runtime_env(groups, inf1_host(), "0-3")
    assert neuron_runtime_env(groups, inf1_host(), None) == {}  # adds nothing: allowed


def test_backends_lists_engines_and_prints_options(placement):
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(cli, ["backends", "--json"]).output)}
    assert rows["placement"]["engines"] == ["fast", "steady"] and rows["placement"]["engines_installed"] == ["steady"]
    assert rows["placement"]["precisions"] == {"cpu": ["fp32", "bf16"], "inf1": ["fp32"], "inf2": ["fp32"]}
    out = CliRunner().invoke(cli, ["backends", "--options", "placement", "--json"])
    options = {r["name"]: r for r in json.loads(out.output)}
    assert set(options) == {"strict", "min_on_neuron", "compiler_args", "logical_cores", "placed"}
    assert options["placed"]["targets"] == ["inf1", "inf2"] and options["strict"]["type"] == "bool"
    table = CliRunner().invoke(cli, ["backends", "--options", "placement"]).output
    assert "operators on Neuron, of 10" in table


def test_both_generations_from_the_shell_are_refused_even_when_a_load_sets_nothing(clean_neuron_env):
    clean_neuron_env.setenv("NEURONCORE_GROUP_SIZES", "4")
    clean_neuron_env.setenv("NEURON_RT_VISIBLE_CORES", "0-3")
    with pytest.raises(CoreSpecError, match="NEURONCORE_GROUP_SIZES=4 and NEURON_RT_VISIBLE_CORES=0-3 are both set"):
        neuron_runtime_env([CoreGroup((0,))], inf1_host(), None)


def test_a_target_whose_sdk_is_past_end_of_support_is_warned_about_once(monkeypatch):
    monkeypatch.setattr(nk_neuron, "_warned", set())
    message = nk_neuron.support_warning("tf", "inf2")
    assert message.startswith(f"tensorflow-neuronx, which the tf backend calls for inf2, is end of support as of "
                              f"{nk_neuron.AS_OF}") and "torch backend on inf2/trn1" in message
    assert nk_neuron.support_warning("tf", "inf2") is None          # once per process
    assert nk_neuron.support_warning("torch", "inf2") is None       # torch-neuronx: maintenance, still the way
    assert nk_neuron.support_warning("torch", "inf1").startswith("torch-neuron, which the torch backend calls")


def test_backends_shows_the_sdk_support_status_per_target():
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(cli, ["backends", "--json"]).output)}
    assert rows["tf"]["support"]["inf1"] == [{"package": "tensorflow-neuron", "status": "end of support",
                                              "as_of": nk_neuron.AS_OF}]
    assert [p["status"] for p in rows["torch"]["support"]["inf2"]] == ["maintenance"]
    text = CliRunner().invoke(cli, ["backends"]).output
    assert f"Neuron SDK support as of {nk_neuron.AS_OF}:" in text and "tf on inf1: tensorflow-neuron is end of" in text
