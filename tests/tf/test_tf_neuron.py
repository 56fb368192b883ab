"""inf1/inf2 contract tests against the SIMULATED tensorflow-neuron / tensorflow-neuronx.

They check the exact SDK calls, flags and environment variables neuronkit produces for each
option, and that the artifacts load on simulated NeuronCore groups. Nothing here runs on
Inferentia: the simulated SDK runs the traced model on the host.
"""

import math
import os
import sys

import numpy as np
import pytest
from tf_helpers import conv_model, eager, images

import neuronkit
from neuronkit import BackendUnavailable, CompileError, IncompatibleArtifact
from neuronkit.testing import NeuronCase, NeuronConformance, relative_error

tf = pytest.importorskip("tensorflow")

FP32_INF1 = "--fast-math none --fp32-cast matmult-bf16"


def _trace_calls(sim, name="trace"):
    return [c for c in sim.calls if c["function"] == name]


@pytest.mark.parametrize("precision, flags", [
    ("fp32", FP32_INF1),
    ("bf16", "--fast-math all --fp32-cast all"),  # the core's table: all = fp32-cast-all + fast-relayout
    ("fp16", "--fast-math fp32-cast-all-fp16 --fp32-cast all-fp16"),
])
def test_inf1_trace_passes_precision_through_neuron_cc_flags(tfn_sim, model, precision, flags):
    x = images(2)
    art = neuronkit.compile(model, "tf", example_inputs=x, target="inf1", precision=precision)
    (call,) = _trace_calls(tfn_sim)
    func, example = call["args"]
    assert func is model                                   # tfn.trace(model, example_inputs)
    assert isinstance(example, tf.Tensor) and example.shape == (2, 8, 8, 3)
    assert call["kwargs"] == {}                            # nothing else: no subgraph_builder_function given
    assert call["env"]["NEURON_CC_FLAGS"] == flags         # flags go only through the environment
    assert "NEURON_CC_FLAGS" not in os.environ             # and are restored afterwards
    m = art.manifest
    assert m.target == "inf1" and m.precision == precision and f"NEURON_CC_FLAGS={flags}" in m.flags
    assert m.batch_size == 2 and not m.dynamic_batch
    assert m.compiler.name == "tensorflow-neuron (neuron-cc)" and "simulated" in m.compiler.version
    assert m.report.on_target_ratio == 1.0
    assert any("SIMULATED" in n for n in m.report.notes)
    assert [c["function"] for c in tfn_sim.calls] == ["trace", "analyze_model"]


def test_inf1_pipeline_dynamic_batch_workdir_and_user_flags(tfn_sim, model, tmp_path, clean_neuron_env):
    clean_neuron_env.setenv("NEURON_CC_FLAGS", "--verbose info")
    art = neuronkit.compile(model, "tf", example_inputs=images(2), target="inf1", pipeline_cores=4,
                            dynamic_batch=True, compiler_workdir=str(tmp_path / "wd"))
    (call,) = _trace_calls(tfn_sim)
    assert call["env"]["NEURON_CC_FLAGS"] == (f"{FP32_INF1} --neuroncore-pipeline-cores 4 --dynamic-batch-size "
                                              f"--workdir {tmp_path / 'wd'} --verbose info")
    assert call["tfn_args"]["dynamic_batch_size"] and call["neuron_cc"]["neuroncore_pipeline_cores"] == 4
    assert (tmp_path / "wd" / "neuron-cc.log").is_file()
    assert os.environ["NEURON_CC_FLAGS"] == "--verbose info"
    m = art.manifest
    assert m.pipeline_cores == 4 and m.dynamic_batch and m.batch_size == 2


def test_inf1_extra_compiler_args_are_validated_like_neuron_cc(tfn_sim, model):
    art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1",
                            compiler_args=["--enable-fast-loading-neuron-binaries"])
    assert "--enable-fast-loading-neuron-binaries" in art.manifest.flags[0]
    with pytest.raises(CompileError, match="unrecognized arguments: --no-such-flag"):
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", compiler_args=["--no-such-flag"])


def test_inf1_saved_model_compile_tf1_style(tfn1_sim, model, fake_neuron_host):
    x = images(2)
    art = neuronkit.compile(model, "tf", example_inputs=x, target="inf1", method="saved_model", precision="fp16",
                            dynamic_batch=True, no_fuse_ops=["nothing"], strict=True)
    (call,) = [c for c in tfn1_sim.calls if c["function"] == "saved_model.compile"]
    model_dir, new_model_dir = call["args"]
    assert os.path.basename(new_model_dir) == "saved_model" and not model_dir.startswith(os.path.dirname(new_model_dir))
    kw = call["kwargs"]
    assert kw["batch_size"] == 2 and list(kw["model_feed_dict"]) == ["image"]
    np.testing.assert_array_equal(kw["model_feed_dict"]["image"], x)
    assert kw["compiler_args"] == ["--fast-math", "fp32-cast-all-fp16", "--fp32-cast", "all-fp16"]
    assert kw["dynamic_batch_size"] is True and kw["no_fuse_ops"] == ["nothing"]
    assert call["env"]["NEURON_CC_FLAGS"] == "--must-compile"  # strict: failures raise, no silent CPU fallback
    assert call["tfn_args"]["must_compile"] and call["neuron_cc"]["fp32_cast"] == "all-fp16"
    assert art.manifest.compiler.version.startswith("1.15.5")  # the TF1 API is tensorflow-neuron 1.x's
    m = art.manifest
    assert m.report.on_target_ratio == 1.0 and any("OnNeuronRatio=1.0000" in n for n in m.report.notes)
    assert m.load["method"] == "saved_model" and m.dynamic_batch and m.batch_size == 2
    fake_neuron_host()
    with neuronkit.load(art, cores=1) as rt:
        assert os.environ["NEURON_RT_NUM_CORES"] == "1"
        big = images(5, seed=4)
        assert relative_error(rt(big), eager(model, (big,))[0]) < 1e-4


def test_inf1_saved_model_compile_of_a_saved_model_directory(tfn1_sim, model, tmp_path):
    """The seed walkthrough's one line: compile(model_dir, compiled_model_dir)."""
    sm = tmp_path / "resnet_like"
    neuronkit.compile(model, "tf", example_inputs=images(1), engine="savedmodel").save(tmp_path / "a", directory=True)
    os.rename(tmp_path / "a" / "saved_model", sm)
    art = neuronkit.compile(str(sm), "tf", target="inf1", method="saved_model", batch_size=4)
    (call,) = [c for c in tfn1_sim.calls if c["function"] == "saved_model.compile"]
    assert call["args"][0] == str(sm) and call["kwargs"]["batch_size"] == 4
    assert call["kwargs"]["model_feed_dict"]["image"].shape == (4, 8, 8, 3)
    assert art.manifest.inputs[0].shape == (4, 8, 8, 3)


def test_inf1_saved_model_compile_with_the_2x_api_uses_the_environment(tfn_sim, model):
    with pytest.warns(UserWarning, match="not recommended"):
        art = neuronkit.compile(model, "tf", example_inputs=images(2), target="inf1", method="saved_model",
                                pipeline_cores=2)
    compile_call = [c for c in tfn_sim.calls if c["function"] == "saved_model.compile"][0]
    assert set(compile_call["kwargs"]) == {"model_feed_dict"}  # the 2.x signature has no batch_size, compiler_args
    (trace_call,) = _trace_calls(tfn_sim)
    assert trace_call["env"]["NEURON_CC_FLAGS"] == f"{FP32_INF1} --neuroncore-pipeline-cores 2"
    assert art.manifest.pipeline_cores == 2


def test_strict_fails_below_the_threshold(tfn_sim, model):
    on_cpu = {"Conv2D", "MatMul"}

    def builder(node):
        return node.op not in on_cpu

    with pytest.raises(CompileError, match="strict=True needs all"):
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", strict=True,
                          subgraph_builder_function=builder)
    assert _trace_calls(tfn_sim)[0]["kwargs"]["subgraph_builder_function"] is builder
    art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", min_on_neuron=0.5,
                            subgraph_builder_function=builder)
    report = art.manifest.report
    assert 0.5 <= report.on_target_ratio < 1.0
    # the core's one meaning: ops on Neuron = floor(the SDK's on_neuron_ratio x operators), checked by the core
    ratio = _trace_calls(tfn_sim)[-1]["on_neuron_ratio"]
    assert 0 < ratio < 1 and report.ops_on_target == math.floor(ratio * report.ops_total)
    with pytest.raises(CompileError, match="min_on_neuron=0.99 needs at least 99.0%"):
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", min_on_neuron=0.99,
                          subgraph_builder_function=builder)
    with pytest.raises(CompileError, match="strict=True needs all"):  # strict needs all, whatever min_on_neuron says
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", strict=True, min_on_neuron=0.5,
                          subgraph_builder_function=builder)
    with pytest.warns(RuntimeWarning, match="most of the model will run on the host CPU"):
        art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1",
                                subgraph_builder_function=lambda node: False)
    assert art.manifest.report.on_target_ratio == 0.0


def test_unsupported_operators_are_reported(tfn_sim, model, monkeypatch):
    monkeypatch.setattr(tfn_sim, "UNSUPPORTED_OPS", tfn_sim.UNSUPPORTED_OPS | {"Mean"})
    art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1")
    assert "Mean" in art.manifest.report.unsupported_ops
    assert art.manifest.report.on_target_ratio < 1.0
    with pytest.raises(CompileError, match="operators left on the CPU: Mean"):
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", strict=True)


def test_tf1_must_compile_does_not_fail_on_operators_left_on_the_cpu(tfn1_sim, model, monkeypatch):
    """--must-compile turns neuron-cc failures into exceptions; an unsupported operator is not one: it is
    simply not fused (TFSRC graph_util.py), so strict=True fails on the OnNeuronRatio instead."""
    monkeypatch.setattr(tfn1_sim, "UNSUPPORTED_OPS", tfn1_sim.UNSUPPORTED_OPS | {"Mean"})
    with pytest.raises(CompileError, match="strict=True needs"):
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", method="saved_model", strict=True)
    (call,) = [c for c in tfn1_sim.calls if c["function"] == "saved_model.compile"]
    assert call["env"]["NEURON_CC_FLAGS"] == "--must-compile" and "error" not in call
    assert call["unsupported"] == ["Mean"] and 0 < call["on_neuron_ratio"] < 1


def test_tf1_neuron_cc_flags_keep_only_its_own_flags_and_forward_the_rest(tfn1_sim, model, tmp_path,
                                                                        clean_neuron_env):
    """tensorflow-neuron 1.x keeps --must-compile, --workdir and --verbose from NEURON_CC_FLAGS and
    appends the rest to compiler_args (TFSRC graph_util.py): pipeline cores and casts reach neuron-cc."""
    clean_neuron_env.setenv("NEURON_CC_FLAGS", f"--workdir {tmp_path / 'wd'} --verbose 1 "
                                               "--neuroncore-pipeline-cores 4 --fp32-cast matmult")
    neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", method="saved_model")
    (call,) = [c for c in tfn1_sim.calls if c["function"] == "saved_model.compile"]
    assert call["compiler_args"] == [*call["kwargs"]["compiler_args"], "--neuroncore-pipeline-cores", "4",
                                     "--fp32-cast", "matmult"]
    assert call["tfn_args"] == {"must_compile": False, "dump_prefix": str(tmp_path / "wd"), "verbose": 1}
    assert call["neuron_cc"]["neuroncore_pipeline_cores"] == 4 and call["neuron_cc"]["fp32_cast"] == "matmult"
    assert call["neuron_cc"]["pipeline"] == ["compile", "SaveTemps"]  # tensorflow-neuron's own neuron-cc arguments
    assert (tmp_path / "wd" / "neuron-cc.log").is_file()


def test_tf1_a_flag_neuron_cc_refuses_leaves_the_model_on_the_cpu_unless_must_compile(tfn1_sim, model,
                                                                                      clean_neuron_env):
    clean_neuron_env.setenv("NEURON_CC_FLAGS", "--dynamic-batch-size")  # a TF2 flag: neuron-cc does not know it
    with pytest.warns(RuntimeWarning, match="most of the model will run on the host CPU"):
        art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", method="saved_model")
    assert art.manifest.report.on_target_ratio == 0.0 and not art.manifest.dynamic_batch
    (call,) = [c for c in tfn1_sim.calls if c["function"] == "saved_model.compile"]
    assert "unrecognized arguments: --dynamic-batch-size" in call["neuron_cc_error"]
    with pytest.raises(CompileError, match="unrecognized arguments: --dynamic-batch-size"):
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", method="saved_model", strict=True)


def test_the_two_tensorflow_neuron_packages_are_each_coherent(clean_neuron_env):
    """1.x has saved_model.compile with batch_size and no trace; 2.x has trace and the reduced compile
    (TFSRC api/__init__.py); each with its own version."""
    import importlib
    import inspect

    from neuronkit.testing.sim import tensorflow_neuron as sim

    try:
        tfn = sim.install("1.x")
        assert tfn.__version__.startswith("1.15.") and not hasattr(tfn, "trace") and not hasattr(tfn, "analyze_model")
        assert "batch_size" in inspect.signature(tfn.saved_model.compile).parameters
        assert importlib.import_module("tensorflow.neuron") is tfn and callable(tfn.auto_multicore)
        tfn = sim.install("2.x")
        assert tfn.__version__.startswith("2.10.") and callable(tfn.trace) and callable(tfn.analyze_model)
        assert list(inspect.signature(tfn.saved_model.compile).parameters) == [
            "model_dir", "new_model_dir", "tags", "model_feed_dict"]
        with pytest.raises(ValueError, match="'1.x' or '2.x'"):
            sim.install("2.10")
    finally:
        sim.uninstall()
    assert "tensorflow_neuron" not in sys.modules


@pytest.mark.parametrize("target, precision, flags", [
    ("inf2", "fp32", "--target inf2 --auto-cast none"),
    ("inf2", "bf16", "--target inf2 --auto-cast all --auto-cast-type bf16"),
    ("trn1", "fp16", "--target trn1 --auto-cast all --auto-cast-type fp16"),
])
def test_neuronx_trace(tfnx_sim, model, target, precision, flags):
    art = neuronkit.compile(model, "tf", example_inputs=images(2), target=target, precision=precision,
                            dynamic_batch=True)
    (call,) = _trace_calls(tfnx_sim)
    assert call["module"] == "tensorflow_neuronx" and call["args"][0] is model
    assert call["env"]["NEURON_CC_FLAGS"] == flags
    m = art.manifest
    assert m.compiler.name == "tensorflow-neuronx (neuronx-cc)" and m.load["sdk"] == "tensorflow_neuronx"
    # no --dynamic-batch-size for neuronx: the core splits and pads to the compiled batch
    assert m.dynamic_batch and m.batch_size == 2


def test_neuronx_refuses_pipeline_and_the_tf1_method(tfnx_sim, model):
    with pytest.raises(CompileError, match="pipeline_cores=2 needs a target whose compiler pipelines"):
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf2", pipeline_cores=2)
    with pytest.raises(CompileError, match="method='trace'"):
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf2", method="saved_model")


def test_neuronx_special_flags_and_the_neuronx_cc_defaults_of_its_release(tfnx_sim, model, clean_neuron_env,
                                                                          tmp_path, monkeypatch):
    """tensorflow-neuronx's own flags in NEURON_CC_FLAGS (tfneuronx-python-tracing-api.rst, "Special
    Flags"); the rest goes to neuronx-cc, whose --auto-cast default changed in SDK 2.27."""
    clean_neuron_env.setenv("NEURON_CC_FLAGS", f"--dynamic-batch-size --workdir {tmp_path} --target inf2")
    traced = tfnx_sim.trace(model, tf.constant(images(2)))
    assert tf.nest.flatten(traced(tf.constant(images(3))))[0].shape == (3, 5)  # dynamic on dim 0
    (call,) = _trace_calls(tfnx_sim)
    assert call["tfn_args"]["dynamic_batch_size"] and call["compiler_args"] == ["--target", "inf2"]
    assert tfnx_sim.SDK_RELEASE < (2, 27) and call["neuronx_cc"]["auto_cast"] == "matmult"
    clean_neuron_env.setenv("NEURON_CC_FLAGS", "--extract-weights inf2.xlarge --target inf2")
    assert tfnx_sim.trace(model, tf.constant(images(1))).neuron_info["extract_weights"] == "inf2.xlarge"
    clean_neuron_env.setenv("NEURON_CC_FLAGS", "--extract-weights inf1.xlarge --target inf2")
    with pytest.raises(AssertionError, match="inf1.xlarge instance while using tensorflow_neuronx"):
        tfnx_sim.trace(model, tf.constant(images(1)))
    monkeypatch.setattr(tfnx_sim, "SDK_RELEASE", (2, 27))
    clean_neuron_env.setenv("NEURON_CC_FLAGS", "--target inf2")
    tfnx_sim.trace(model, tf.constant(images(1)))
    assert _trace_calls(tfnx_sim)[-1]["neuronx_cc"]["auto_cast"] == "none"


def test_tf2_trace_runs_neuron_cc_as_tensorflow_neuron_does(tfn_sim, model, clean_neuron_env):
    """tensorflow-neuron 2.x puts --fast-math=none and its --fp32-cast (default matmult-fp16) ahead of the
    user's flags and adds --pipeline compile SaveTemps (TFSRC neuron_cc_hlo.py)."""
    tfn_sim.trace(model, tf.constant(images(1)))
    (call,) = _trace_calls(tfn_sim)
    cc = call["neuron_cc"]
    assert cc["fast_math"] == ["none"] and cc["fp32_cast"] == "matmult-fp16" and cc["enable_fast_context_switch"]
    assert cc["pipeline"] == ["compile", "SaveTemps"] and cc["framework"] == "XLA"
    clean_neuron_env.setenv("NEURON_CC_FLAGS", "--extract-weights inf2.xlarge")
    with pytest.raises(AssertionError, match="inf2.xlarge instance while using tensorflow_neuron"):
        tfn_sim.trace(model, tf.constant(images(1)))
    assert _trace_calls(tfn_sim)[-1]["error"].startswith("AssertionError")  # a call that raised is recorded

def test_unknown_neuron_option(tfn_sim, tfnx_sim, model):
    x = images(1)
    with pytest.raises(CompileError, match="no compile option 'fallback'"):
        neuronkit.compile(model, "tf", example_inputs=x, target="inf1", fallback=True)
    with pytest.raises(CompileError, match="no compile option 'stirct'; did you mean 'strict'"):
        neuronkit.compile(model, "tf", example_inputs=x, target="inf1", stirct=True)
    with pytest.raises(CompileError, match="did you mean 'min_on_neuron'"):  # the core's name for the old option
        neuronkit.compile(model, "tf", example_inputs=x, target="inf1", min_on_neuron_ratio=0.5)
    with pytest.raises(CompileError, match=r"\['no_fuse_ops'\] are for method='saved_model'"):  # TF1-only argument
        neuronkit.compile(model, "tf", example_inputs=x, target="inf1", no_fuse_ops=["x"])
    with pytest.raises(CompileError, match="option 'minimum_segment_size' applies to target inf1, not inf2"):
        neuronkit.compile(model, "tf", example_inputs=x, target="inf2", minimum_segment_size=2)
    assert not [c for c in tfn_sim.calls + tfnx_sim.calls if "trace" in c["function"] or "compile" in c["function"]]


@pytest.mark.parametrize("target, precision, pipeline, flags", [
    ("inf1", "fp32", 1, "--fast-math none --fp32-cast matmult-bf16"),
    ("inf1", "bf16", 1, "--fast-math all --fp32-cast all"),
    ("inf1", "fp16", 1, "--fast-math fp32-cast-all-fp16 --fp32-cast all-fp16"),
    ("inf1", "bf16", 4, "--fast-math all --fp32-cast all --neuroncore-pipeline-cores 4"),
    ("inf2", "fp32", 1, "--target inf2 --auto-cast none"),
    ("inf2", "bf16", 1, "--target inf2 --auto-cast all --auto-cast-type bf16"),
    ("inf2", "fp16", 1, "--target inf2 --auto-cast all --auto-cast-type fp16"),
    ("trn1", "fp32", 1, "--target trn1 --auto-cast none"),
    ("trn1", "bf16", 1, "--target trn1 --auto-cast all --auto-cast-type bf16"),
    ("trn1", "fp16", 1, "--target trn1 --auto-cast all --auto-cast-type fp16"),
])
def test_compiler_flags_per_preset(target, precision, pipeline, flags):
    """The exact flags per preset: the core's neuron-cc table with tensorflow-neuron's explicit --fp32-cast
    (it puts --fast-math=none --fp32-cast=matmult-fp16 first), and its neuronx-cc table; compiler_args last."""
    from types import SimpleNamespace

    from neuronkit_tf.neuron import compiler_flags

    from neuronkit.targets import get_target

    request = SimpleNamespace(target=get_target(target), precision=precision, pipeline_cores=pipeline,
                              options={"compiler_args": "--verbose 1"})
    assert " ".join(compiler_flags(request)) == f"{flags} --verbose 1"


# -- loading on (simulated) NeuronCore groups

def test_inf1_replicas_on_core_groups(tfn_sim, model, fake_neuron_host):
    x = images(2)
    art = neuronkit.compile(model, "tf", example_inputs=x, target="inf1", dynamic_batch=True)
    fake_neuron_host()  # inf1.6xlarge: 4 Inferentia chips, 16 NeuronCore-v1
    with neuronkit.load(art, cores="0-3", group_size=1) as rt:
        assert len(rt.replicas) == 4 and os.environ["NEURON_RT_VISIBLE_CORES"] == "0-3"
        replicas = list(rt.replicas)
        assert [r.group.local_start for r in replicas] == [0, 1, 2, 3]
        assert all(r.neuron_env["NEURON_RT_VISIBLE_CORES"] == "0-3" for r in replicas)
        assert relative_error(rt(x), eager(model, (x,))[0]) < 1e-4
        big = images(7, seed=3)  # split into batches of 2 over the replicas, the last one padded
        assert relative_error(rt(big), eager(model, (big,))[0]) < 1e-4


def test_inf1_pipelined_groups(tfn_sim, model, fake_neuron_host):
    art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", pipeline_cores=2)
    fake_neuron_host()
    with neuronkit.load(art, cores="4-7") as rt:
        assert len(rt.replicas) == 2 and os.environ["NEURON_RT_VISIBLE_CORES"] == "4-7"
        assert [(r.group.local_start, r.group.size) for r in rt.replicas] == [(0, 2), (2, 2)]
        with pytest.raises(neuronkit.InputError, match="without dynamic batch"):
            rt(images(3))


def test_inf1_runtime_1x_placement(tfn_sim, model, fake_neuron_host):
    art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1")
    fake_neuron_host()
    with neuronkit.load(art, cores=4, group_size=2, legacy_runtime=True) as rt:
        assert os.environ["NEURONCORE_GROUP_SIZES"] == "2,2" and len(rt.replicas) == 2
        assert "NEURON_RT_VISIBLE_CORES" not in os.environ


def test_inf1_artifact_refuses_other_hosts(tfn_sim, model, fake_neuron_host):
    art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1")
    with pytest.raises(IncompatibleArtifact, match="inf1"):
        neuronkit.load(art)  # this machine: no Neuron devices
    fake_neuron_host(devices=1, cores_per_device=2, arch="NCv2", instance_type="inf2.xlarge")
    with pytest.raises(IncompatibleArtifact, match="NeuronCore-v1"):
        neuronkit.load(art)


def test_inf2_load_without_sdk_says_so(tfnx_sim, model, fake_neuron_host):
    art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf2")
    fake_neuron_host(devices=1, cores_per_device=2, arch="NCv2", instance_type="inf2.xlarge")
    tfnx_sim.uninstall()
    with pytest.raises(BackendUnavailable, match="tensorflow-neuronx"):
        neuronkit.load(art, cores=1)
    tfnx_sim.install()
    with neuronkit.load(art, cores="0-1", group_size=1) as rt:
        assert len(rt.replicas) == 2 and os.environ["NEURON_RT_VISIBLE_CORES"] == "0-1"


def test_auto_multicore_is_simulated_with_its_documented_check(tfn_sim, model):
    traced = tfn_sim.trace(model, tf.constant(images(1)))
    assert tfn_sim.auto_multicore(traced, tf.constant(images(1)), num_cores=4).neuron_info["num_cores"] == 4
    with pytest.raises(ValueError, match="not AwsNeuronModel"):
        tfn_sim.auto_multicore(model, images(1))


def test_tf1_saved_model_compile_appends_the_environment_flags_to_the_callers_list(tfn1_sim, model, tmp_path,
                                                                                 clean_neuron_env):
    """TFSRC graph_util.py extends the compiler_args list it was given; the record keeps what was passed."""
    source = tmp_path / "sm"
    neuronkit.compile(model, "tf", example_inputs=images(1), engine="savedmodel").save(tmp_path / "a", directory=True)
    os.rename(tmp_path / "a" / "saved_model", source)
    clean_neuron_env.setenv("NEURON_CC_FLAGS", "--must-compile --fp32-cast matmult")
    mine = ["--fast-math", "none"]
    tf_neuron = sys.modules["tensorflow_neuron"]
    tf_neuron.saved_model.compile(str(source), str(tmp_path / "out"), compiler_args=mine)
    assert mine == ["--fast-math", "none", "--fp32-cast", "matmult"]
    (call,) = tfn1_sim.calls
    assert call["kwargs"]["compiler_args"] == ["--fast-math", "none"] and call["tfn_args"]["must_compile"]


def test_tensorflow_neuron_1x_has_no_trace_and_says_to_use_saved_model(tfn1_sim, model):
    with pytest.raises(CompileError, match="TensorFlow 1.x package, which has no trace\\(\\).*method='saved_model'"):
        neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1")


def test_the_tf1_compile_is_recorded_as_called_not_as_the_sdk_left_its_arguments(tfn1_sim, model, monkeypatch):
    """tensorflow-neuron 1.x appends the flags it forwards from NEURON_CC_FLAGS to the compiler_args list."""
    monkeypatch.setenv("NEURON_CC_FLAGS", "--enable-fast-context-switch")
    art = neuronkit.compile(model, "tf", example_inputs=images(1), target="inf1", method="saved_model")
    (call,) = [c for c in tfn1_sim.calls if c["function"] == "saved_model.compile"]
    assert call["kwargs"]["compiler_args"] == ["--fast-math", "none", "--fp32-cast", "matmult-bf16"]
    compile_record, env_record = art.manifest.flags
    assert "compiler_args=['--fast-math', 'none', '--fp32-cast', 'matmult-bf16']" in compile_record
    assert env_record == "NEURON_CC_FLAGS=--enable-fast-context-switch"


class TestTfOnNeuron(NeuronConformance):
    @pytest.fixture
    def neuron_case(self):
        return NeuronCase(framework="tf", make_model=conv_model, make_inputs=lambda batch: (images(batch),),
                          sdks={"inf1": ("tensorflow_neuron", "tensorflow-neuron"),
                                "inf2": ("tensorflow_neuronx", "tensorflow-neuronx"),
                                "trn1": ("tensorflow_neuronx", "tensorflow-neuronx")},
                          explicit_fp32_cast=True)
