"""The exact MXNet Neuron SDK calls, compile_args, contexts and runtime variables, against the
SIMULATED SDK modules in neuronkit.testing.sim. Nothing here runs on Inferentia."""

import json
import os
import sys
import textwrap

import pytest
from conftest import calls, checkpoint, images, imperative, small_net

import neuronkit
from neuronkit import BackendUnavailable, CompileError, CoreSpecError
from neuronkit.testing import NeuronCase, NeuronConformance, relative_error

mx = pytest.importorskip("mxnet")


@pytest.mark.parametrize("precision, fast_math", [("fp32", "none"), ("bf16", "all"), ("fp16", "fp32-cast-all-fp16")])
def test_precision_presets_become_neuron_cc_flags(mxn, precision, fast_math):
    art = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1", precision=precision)
    (call,) = calls(mxn, "compile")
    assert call["api"] == "mx_neuron" and call["kind"] == "gluon"  # MXNet 1.8 takes the Gluon block itself
    assert call["compile_args"] == {"flags": ["--fast-math", fast_math]}
    assert call["inputs"] == {"data": (1, 3, 32, 32)}
    m = art.manifest
    assert m.flags == ("--fast-math", fast_math, "mx_neuron.compile(block)") and m.precision == precision
    assert m.compiler.name == "neuron-cc (mx_neuron)" and "simulated" in m.compiler.version
    assert m.target == "inf1" and m.engine == "" and m.batch_size == 1 and not m.dynamic_batch


@pytest.mark.parametrize("precision, flags", [("fp32", ["--fast-math", "none"]), ("bf16", ["--fast-math", "all"]),
                                              ("fp16", ["--fast-math", "fp32-cast-all-fp16"])])
def test_exact_compile_args_per_preset_with_pipelining(mxn, tmp_path, precision, flags):
    """The neuron-cc flags come from the core's table; mx_neuron's transport takes them as
    compile_args['flags'] and the pipeline as its own key, as the SDK documents."""
    sym, args, aux = checkpoint(small_net(), tmp_path / "net")
    art = neuronkit.compile((sym, args, aux), "mxnet", example_inputs=images(1), target="inf1", precision=precision,
                            pipeline_cores=4, compiler_args="--verbose 35")
    (call,) = calls(mxn, "compile")
    assert call["compile_args"] == {"flags": [*flags, "--verbose", "35"], "--neuroncore-pipeline-cores": 4}
    assert art.manifest.flags == (*flags, "--verbose", "35", "--neuroncore-pipeline-cores=4",
                                  "mx_neuron.compile(symbol)")


def test_pipeline_cores_node_lists_and_extra_flags_reach_compile_args(mxn, tmp_path):
    sym, args, aux = checkpoint(small_net(), tmp_path / "net")
    art = neuronkit.compile((sym, args, aux), "mxnet", example_inputs=images(1), target="inf1", pipeline_cores=2,
                            excl_node_names=["hybridsequential0_dense0_fwd"], force_incl_node_names=["x"],
                            compiler_args=["--enable-fast-context-switch"])
    (call,) = calls(mxn, "compile")
    assert call["kind"] == "symbol"  # a (sym, args, aux) tuple goes in as the symbol
    assert call["compile_args"] == {
        "flags": ["--fast-math", "none", "--enable-fast-context-switch"], "--neuroncore-pipeline-cores": 2,
        "excl_node_names": ["hybridsequential0_dense0_fwd"], "force_incl_node_names": ["x"]}
    assert call["flags"]["neuroncore_pipeline_cores"] == 2  # as neuron-cc parses it
    assert art.manifest.pipeline_cores == 2 and "--neuroncore-pipeline-cores=2" in art.manifest.flags


def test_report_counts_neuron_subgraphs_and_operators_left_on_the_cpu(mxn, tmp_path):
    whole = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1").manifest.report
    assert whole.on_target_ratio == 1.0 and whole.unsupported_ops == ()
    assert whole.notes[0] == "1 Neuron subgraph(s)"
    assert whole.notes[1].startswith("compiled by a SIMULATED Neuron SDK")  # the core's note
    model = checkpoint(small_net(), tmp_path / "net")
    nodes = json.loads(model[0].tojson())["nodes"]
    relu = next(n["name"] for n in nodes if n["op"] == "Activation")
    split = neuronkit.compile(model, "mxnet", example_inputs=images(1), target="inf1",
                              excl_node_names=[relu]).manifest.report
    assert split.notes[0] == "2 Neuron subgraph(s)"
    assert split.unsupported_ops == ("Activation",) and split.ops_total - split.ops_on_target == 1
    assert calls(mxn, "compile")[-1]["subgraphs"] == 2
    with pytest.raises(CompileError, match="strict=True needs all; operators left on the CPU: Activation"):
        neuronkit.compile(model, "mxnet", example_inputs=images(1), target="inf1", strict=True,
                          excl_node_names=[relu])
    with pytest.raises(CompileError, match="min_on_neuron=0.99 needs at least 99.0%.*Activation"):
        neuronkit.compile(model, "mxnet", example_inputs=images(1), target="inf1", min_on_neuron=0.99,
                          excl_node_names=[relu])


def test_real_neuron_subgraph_nodes_are_counted():
    from neuronkit_mxnet.neuron import neuron_placement

    graph = {"nodes": [{"op": "null", "name": "data"}, {"op": "_neuron_subgraph_op", "name": "neuron_0"},
                       {"op": "argsort", "name": "sort0"}, {"op": "_neuron_subgraph_op", "name": "neuron_1"}]}
    assert neuron_placement(graph) == (2, ["argsort"])
    # a simulated SDK's marks count only when the SDK module names its mark (SUBGRAPH_MARK)
    marked = {"nodes": [{"op": "relu", "name": "a", "attrs": {"mark": "0"}}, {"op": "sort", "name": "b"},
                        {"op": "relu", "name": "c", "attrs": {"mark": "1"}}]}
    assert neuron_placement(marked, "mark") == (2, ["sort"])
    assert neuron_placement(marked) == (0, ["relu", "sort", "relu"])

def test_mxnet_1_5_is_used_when_mx_neuron_is_absent(contrib):
    model = small_net()
    art = neuronkit.compile(model, "mxnet", example_inputs=images(1), target="inf1")
    (call,) = calls(contrib, "compile")
    assert call["api"] == "mxnet.contrib.neuron" and call["kind"] == "symbol"  # 1.5 has no Gluon path
    assert art.manifest.compiler.name == "neuron-cc (mxnet.contrib.neuron)"
    assert art.manifest.load["runtime"] == "1.x" and art.manifest.report.on_target_ratio == 1.0
    with pytest.raises(CompileError, match="force_incl_node_names is not an option of mxnet.contrib.neuron"):
        neuronkit.compile(model, "mxnet", example_inputs=images(1), target="inf1", force_incl_node_names=["x"])


def test_sdk_option_picks_one_when_both_are_installed(mxn, contrib):
    first = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1")
    assert first.manifest.compiler.name == "neuron-cc (mx_neuron)" and calls(mxn, "compile")[-1]["api"] == "mx_neuron"
    named = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1", sdk="mxnet.contrib.neuron")
    assert named.manifest.compiler.name == "neuron-cc (mxnet.contrib.neuron)"
    assert calls(contrib, "compile")[-1]["api"] == "mxnet.contrib.neuron"
    with pytest.raises(CompileError, match="sdk='mx-neuron': choose one of mx_neuron, mxnet.contrib.neuron"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1", sdk="mx-neuron")


def test_missing_sdk_names_both_packages_and_the_neuron_repository(clean_neuron_env):
    with pytest.raises(BackendUnavailable, match="mx_neuron.*mxnet_neuron") as err:
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1")
    assert "pip.repos.neuron.amazonaws.com" in str(err.value)


def test_the_pypi_placeholder_counts_as_absent(clean_neuron_env, tmp_path, monkeypatch):
    (tmp_path / "mx_neuron.py").write_text(textwrap.dedent("""
        raise ImportError("WRONG PACKAGE. Please install the package from Neuron Repository - "
                          "pip.repos.neuron.amazonaws.com")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mx_neuron", raising=False)
    with pytest.raises(BackendUnavailable, match="PyPI placeholder"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1")


# -- placement

def neuron_contexts(sim):
    return [(c["device_id"], c["mode"]) for c in calls(sim, "neuron")]


def runtime_env(call):
    """The Neuron runtime variables a call saw (not neuronkit's own NEURONKIT_SYSROOT)."""
    return {k: v for k, v in call["env"].items() if k == "NEURONCORE_GROUP_SIZES" or k.startswith("NEURON_RT_")}


def test_flexeg_binds_each_pipelined_group_at_its_first_core(mxn, fake_neuron_host):
    fake_neuron_host(1, 4, "NCv1", "inf1.xlarge")
    model = small_net()
    art = neuronkit.compile(model, "mxnet", example_inputs=images(2), target="inf1", pipeline_cores=2,
                            dynamic_batch=True)
    with neuronkit.load(art) as rt:
        assert neuron_contexts(mxn) == [(0, "flexeg"), (2, "flexeg")]
        assert runtime_env(calls(mxn, "neuron")[-1]) == {}  # the process takes every core
        # neuron-cc compiled batch 2; neuronkit splits and pads batch 3 over the two replicas
        assert relative_error(rt(images(3)), imperative(model, images(3))[0]) < 1e-4


def test_flexeg_indices_are_relative_to_the_visible_cores(mxn, fake_neuron_host):
    fake_neuron_host(1, 4, "NCv1", "inf1.xlarge")
    art = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1")
    with neuronkit.load(art, cores="2-3", group_size=1):
        assert neuron_contexts(mxn) == [(0, "flexeg"), (1, "flexeg")]
        assert runtime_env(calls(mxn, "neuron")[-1]) == {"NEURON_RT_VISIBLE_CORES": "2-3"}


def test_legacy_runtime_binds_group_indices(mxn, fake_neuron_host):
    fake_neuron_host(1, 4, "NCv1", "inf1.xlarge")
    model = small_net()
    art = neuronkit.compile(model, "mxnet", example_inputs=images(1), target="inf1", pipeline_cores=2)
    with neuronkit.load(art, cores=4, legacy_runtime=True) as rt:
        assert neuron_contexts(mxn) == [(0, "group"), (1, "group")]
        assert runtime_env(calls(mxn, "neuron")[-1]) == {"NEURONCORE_GROUP_SIZES": "2,2"}  # never both generations
        assert relative_error(rt(images(1)), imperative(model, images(1))[0]) < 1e-4


def test_legacy_runtime_cannot_place_groups_by_core_index(mxn, fake_neuron_host):
    fake_neuron_host(1, 4, "NCv1", "inf1.xlarge")
    art = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1")
    with pytest.raises(CoreSpecError, match="load with a core count"):
        neuronkit.load(art, cores="2-3", group_size=1, legacy_runtime=True)


def test_both_runtime_generations_variables_are_refused(mxn, fake_neuron_host):
    fake_neuron_host(1, 4, "NCv1", "inf1.xlarge")
    art = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1")
    os.environ["NEURON_RT_VISIBLE_CORES"] = "0-3"  # the user's own, then a legacy load: the core refuses
    with pytest.raises(CoreSpecError, match="must not be set together"):
        neuronkit.load(art, cores=4, group_size=1, legacy_runtime=True)
    os.environ["NEURONCORE_GROUP_SIZES"] = "4"  # both from the user's shell, and a load that sets nothing
    with pytest.raises(CoreSpecError, match="are both set; the runtime \\(and MXNet\\) must not see both"):
        neuronkit.load(art)
    assert calls(mxn, "neuron") == []


def test_mxnet_1_5_artifacts_need_the_legacy_runtime(contrib, fake_neuron_host):
    fake_neuron_host(1, 4, "NCv1", "inf1.xlarge")
    model = small_net()
    art = neuronkit.compile(model, "mxnet", example_inputs=images(1), target="inf1")
    with pytest.raises(CoreSpecError, match="legacy_runtime=True"):
        neuronkit.load(art, cores=2, group_size=1)
    os.environ.pop("NEURON_RT_NUM_CORES")  # what a new process would start without
    neuronkit.cores.forget_applied_env()
    with neuronkit.load(art, cores=2, group_size=1, legacy_runtime=True) as rt:
        assert neuron_contexts(contrib) == [(0, "group"), (1, "group")]
        assert relative_error(rt(images(1)), imperative(model, images(1))[0]) < 1e-4


def test_a_context_past_the_cores_fails_like_the_runtime(mxn, clean_neuron_env):
    os.environ["NEURON_RT_VISIBLE_CORES"] = "0-1"
    with pytest.raises(mx.base.MXNetError, match="Status Code: 9"):
        mx.neuron(2)


def test_documented_compile_args_forms_reach_neuron_cc(mxn, contrib, tmp_path):
    """compile_args as the docs pass them: neuron-cc options as keys ('--verbose': 2 and '--pipeline' in the
    gatherinfo tutorial; NeuronPerf's '--fast-math'), a flag and its value in one string (the data-parallel
    tutorial's flags: ['--fp32-cast matmult'])."""
    from neuronkit.testing.sim import SimulatedCompilerError

    sym, args, aux = checkpoint(small_net(), tmp_path / "net")
    inputs = {"data": mx.nd.array(images(1)[0])}
    mxn.compile(sym, args, aux, inputs=inputs, **{"--verbose": 2, "--pipeline": "compile", "flags": ["SaveTemps"]})
    mxn.compile(sym, args, aux, inputs=inputs, flags=["--fp32-cast matmult"])
    mxn.compile(sym, args, aux, inputs=inputs,
                **{"--fast-math": "fp32-cast-matmult no-fast-relayout", "--neuroncore-pipeline-cores": 2})
    gatherinfo, tutorial, neuronperf = (c["flags"] for c in calls(mxn, "compile"))
    assert gatherinfo["pipeline"] == ["compile", "SaveTemps"] and gatherinfo["verbose"] == "2"
    assert tutorial["fp32_cast"] == "matmult"
    assert neuronperf["fast_math"] == ["fp32-cast-matmult", "no-fast-relayout"]
    assert neuronperf["neuroncore_pipeline_cores"] == 2
    contrib.compile(sym, args, aux, inputs, **{"--verbose": 2, "--pipeline": "compile", "flags": ["SaveTemps"]})
    (call,) = calls(contrib, "compile")
    assert call["module"] == "mxnet.contrib.neuron" and call["flags"]["pipeline"] == ["compile", "SaveTemps"]
    with pytest.raises(ValueError, match=r"unknown compile_args \['work_dir'\]"):  # a 1.8 key
        contrib.compile(sym, args, aux, inputs, work_dir=str(tmp_path))
    with pytest.raises(SimulatedCompilerError, match="unrecognized arguments: --no-such-flag"):
        mxn.compile(sym, args, aux, inputs=inputs, **{"--no-such-flag": 1})
    assert calls(mxn, "compile")[-1]["error"].startswith("SimulatedCompilerError")


def test_mx_neuron_contexts_are_recorded_by_every_installed_simulation(mxn, contrib):
    mx.neuron(1)
    (mx_call,), (contrib_call,) = calls(mxn, "neuron"), calls(contrib, "neuron")
    assert mx_call is contrib_call and mx_call["module"] == "mxnet" and mx_call["args"] == (1,)


class TestMxnetOnNeuron(NeuronConformance):
    @pytest.fixture
    def neuron_case(self):
        return NeuronCase(framework="mxnet", make_model=small_net, make_inputs=images,
                          sdks={"inf1": ("mx_neuron", "mx_neuron")})
