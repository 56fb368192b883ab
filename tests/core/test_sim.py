"""The SIMULATED Neuron SDK modules' shared parts, without any framework: the compiler argument
checks and the one call-recording convention. Nothing here runs on Inferentia."""

import importlib
import inspect

import pytest

from neuronkit.testing import sim
from neuronkit.testing.sim import SimulatedCompilerError, check_neuron_cc_args, check_neuronx_cc_args

SIMULATIONS = ("torch_neuron", "torch_neuronx", "tensorflow_neuron", "tensorflow_neuronx", "mx_neuron",
               "mxnet_contrib_neuron")


# -- neuron-cc

def test_neuron_cc_takes_the_arguments_the_frameworks_and_docs_pass():
    ns = check_neuron_cc_args(["--framework", "TENSORFLOW", "--pipeline", "compile", "SaveTemps", "--io-config",
                               '{"inputs": {}, "outputs": []}', "--fast-math", "fp32-cast-matmult", "no-fast-relayout"])
    assert ns.pipeline == ["compile", "SaveTemps"] and ns.framework == "TENSORFLOW"
    assert ns.fast_math == ["fp32-cast-matmult", "no-fast-relayout"]
    assert check_neuron_cc_args("-O2 --neuroncore-pipeline-cores 4").neuroncore_pipeline_cores == 4  # one string
    with pytest.raises(SimulatedCompilerError, match="mutually exclusive"):
        check_neuron_cc_args(["--fast-math", "all", "none"])
    with pytest.raises(SimulatedCompilerError, match="unrecognized arguments: --dynamic-batch-size"):
        check_neuron_cc_args(["--dynamic-batch-size"])  # a tensorflow-neuron flag, not neuron-cc's


# -- neuronx-cc, by Neuron SDK release

def test_neuronx_cc_auto_cast_default_changed_in_2_27():
    before, after = check_neuronx_cc_args("--target inf2", (2, 26)), check_neuronx_cc_args("--target inf2", (2, 27))
    assert (before.auto_cast, before.mixed_precision_accumulation) == ("matmult", False)
    assert (after.auto_cast, after.mixed_precision_accumulation) == ("none", True)
    assert not check_neuronx_cc_args("--disable-mixed-precision-accumulation", (2, 27)).mixed_precision_accumulation
    with pytest.raises(SimulatedCompilerError, match="unrecognized arguments: --disable-mixed-precision"):
        check_neuronx_cc_args("--disable-mixed-precision-accumulation", (2, 26))


def test_neuronx_cc_distribution_strategy_and_logical_nc_config():
    ns = check_neuronx_cc_args(["--target", "trn2", "-lnc", "1", "--distribution-strategy", "llm-training"], (2, 21))
    assert (ns.lnc, ns.distribution_strategy) == (1, "llm-training")
    assert check_neuronx_cc_args("--target trn2", (2, 21)).lnc == 2       # trn2's default
    assert check_neuronx_cc_args("--target trn1 --lnc 1", (2, 21)).lnc == 1
    assert check_neuronx_cc_args("--logical-nc-config 2 --target trn2", (2, 21)).lnc == 2
    with pytest.raises(SimulatedCompilerError, match="NCC_EARG001"):
        check_neuronx_cc_args("--target trn1 -lnc 2", (2, 21))
    with pytest.raises(SimulatedCompilerError, match="invalid choice: 'trn2'"):  # before trn2
        check_neuronx_cc_args("--target trn2", (2, 20))
    with pytest.raises(SimulatedCompilerError, match="unrecognized arguments: -lnc"):
        check_neuronx_cc_args("--target trn1 -lnc 1", (2, 20))
    assert check_neuronx_cc_args("--native-int64 enabled", (2, 32)).native_int64 == "enabled"
    with pytest.raises(SimulatedCompilerError):
        check_neuronx_cc_args("--native-int64 enabled", (2, 31))


# -- recorded calls

def test_a_recorded_call_has_the_module_function_arguments_and_environment(monkeypatch):
    calls: list = []
    record = sim.recorder("some_sdk", calls)

    @record(name="saved_model.compile")
    def compile_(model_dir, new_model_dir, batch_size=1):
        sim.note(parsed=batch_size * 2)
        if batch_size < 0:
            raise ValueError("no")
        return "done"

    monkeypatch.setenv("NEURON_CC_FLAGS", "--verbose 1")
    assert compile_("a", "b", batch_size=2) == "done"
    with pytest.raises(ValueError):
        compile_("a", "b", batch_size=-1)
    ok, failed = calls
    assert ok == {"module": "some_sdk", "function": "saved_model.compile", "args": ("a", "b"),
                  "kwargs": {"batch_size": 2}, "env": {"NEURON_CC_FLAGS": "--verbose 1"}, "parsed": 4}
    assert failed["error"] == "ValueError: no"
    assert list(inspect.signature(compile_).parameters) == ["model_dir", "new_model_dir", "batch_size"]


@pytest.mark.parametrize("name", SIMULATIONS)
def test_every_simulation_follows_the_convention_and_cites_its_docs(name):
    module = importlib.import_module(f"neuronkit.testing.sim.{name}")
    assert module.SIMULATED is True and isinstance(module.calls, list) and module.MODULE
    assert all(callable(getattr(module, f)) for f in ("install", "uninstall", "reset"))
    recorded = [f for f in vars(module).values() if callable(f) and hasattr(f, "__wrapped__")
                and f.__module__ == module.__name__]
    assert recorded, f"{name} records no SDK function"
    for function in recorded:
        assert "Doc:" in (function.__doc__ or ""), f"{name}.{function.__name__} does not cite the doc it follows"
    module.calls.append({"function": "x"})
    module.reset()
    assert module.calls == []
