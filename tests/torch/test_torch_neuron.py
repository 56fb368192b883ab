"""The exact Neuron SDK calls, flags and runtime variables, against the SIMULATED SDK modules in
neuronkit.testing.sim. Nothing here runs on Inferentia."""

import os

import numpy as np
import pytest
from conftest import calls, eager, images, small_net

import neuronkit
from neuronkit import CompileError
from neuronkit.testing import NeuronCase, NeuronConformance, relative_error

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("precision, fast_math", [("fp32", "none"), ("bf16", "all"), ("fp16", "fp32-cast-all-fp16")])
def test_inf1_precision_presets_become_neuron_cc_fast_math(tn, precision, fast_math):
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf1", precision=precision)
    (trace,) = calls(tn, "trace")
    assert trace["options"]["compiler_args"] == ["--fast-math", fast_math]
    assert trace["options"]["fallback"] is True and trace["options"]["dynamic_batch_size"] is False
    assert art.manifest.flags[:2] == ("--fast-math", fast_math) and art.manifest.precision == precision
    assert art.manifest.compiler.name == "neuron-cc (torch-neuron)" and "simulated" in art.manifest.compiler.version


def test_inf1_pipeline_dynamic_batch_and_extra_compiler_args(tn):
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf1", pipeline_cores=4,
                            dynamic_batch=True, compiler_args=["--enable-fast-context-switch"])
    (trace,) = calls(tn, "trace")
    assert trace["options"]["compiler_args"] == ["--fast-math", "none", "--neuroncore-pipeline-cores", "4",
                                                 "--enable-fast-context-switch"]
    assert trace["options"]["dynamic_batch_size"] is True
    assert art.manifest.pipeline_cores == 4 and art.manifest.dynamic_batch and art.manifest.batch_size is None


def test_inf1_report_counts_operators_from_analyze_model(tn):
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf1")
    (analysis,) = calls(tn, "analyze_model")
    report = art.manifest.report
    assert report.ops_total == analysis["result"]["total_count"] > 0
    assert report.on_target_ratio == 1.0 and report.unsupported_ops == ()


class WithUnsupportedOp(torch.nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=1).values


def test_strict_fails_instead_of_leaving_operators_on_the_cpu(tn):
    x = (np.ones((1, 4), np.float32),)
    with pytest.raises(CompileError, match="strict=True needs all.*aten::sort"):
        neuronkit.compile(WithUnsupportedOp(), "torch", example_inputs=x, target="inf1", strict=True)
    assert calls(tn, "trace") == []
    art = neuronkit.compile(WithUnsupportedOp(), "torch", example_inputs=x, target="inf1")  # allowed, and reported
    assert art.manifest.report.unsupported_ops == ("aten::sort",) and art.manifest.report.on_target_ratio < 1

def test_the_simulation_forwards_unknown_keywords_to_torch_jit_trace_which_refuses_them(tn):
    with pytest.raises(TypeError):
        tn.trace(small_net(), torch.zeros(1, 3, 32, 32), not_a_trace_option=True)


def test_inf1_load_sets_visible_cores_before_the_sdk_loads_and_uses_relative_device_ids(tn, fake_neuron_host):
    fake_neuron_host(4, 4, "NCv1")
    model = small_net()
    art = neuronkit.compile(model, "torch", example_inputs=images(1), target="inf1")
    with neuronkit.load(art, cores="4-7", group_size=1) as rt:
        parallel = calls(tn, "DataParallel")
        assert [c["device_ids"] for c in parallel] == [[0], [1], [2], [3]]
        assert all(c["env"]["NEURON_RT_VISIBLE_CORES"] == "4-7" for c in parallel)
        assert len(calls(tn, "disable_dynamic_batching")) == 4  # compiled without dynamic batch
        x = images(1, seed=3)
        assert relative_error(rt(x), eager(model, x)[0]) < 1e-4
    assert os.environ["NEURON_RT_VISIBLE_CORES"] == "4-7"


def test_inf1_count_of_cores_becomes_num_cores(tn, fake_neuron_host):
    fake_neuron_host(1, 4, "NCv1")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf1")
    with neuronkit.load(art, cores=2, group_size=1):
        assert [c["env"].get("NEURON_RT_NUM_CORES") for c in calls(tn, "DataParallel")] == ["2", "2"]

@pytest.mark.parametrize("target, precision, cast", [
    ("inf2", "fp32", ["--auto-cast", "none"]),
    ("inf2", "bf16", ["--auto-cast", "all", "--auto-cast-type", "bf16"]),
    ("trn1", "fp16", ["--auto-cast", "all", "--auto-cast-type", "fp16"]),
])
def test_neuronx_targets_and_casts(tnx, target, precision, cast):
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target=target, precision=precision)
    (trace,) = calls(tnx, "trace")
    assert trace["compiler_args"] == ["--target", target, *cast]
    assert art.manifest.target == target


def test_neuronx_load_uses_data_parallel_with_dynamic_batching(tnx, fake_neuron_host):
    fake_neuron_host(1, 2, "NCv2")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", dynamic_batch=True)
    with neuronkit.load(art, group_size=1) as rt:
        assert [(c["device_ids"], c["set_dynamic_batching"]) for c in calls(tnx, "DataParallel")] == [
            ([0], True), ([1], True)]
        assert rt(images(3)).shape == (3, 10)

def test_analyze_model_counts_primitives_as_the_documented_output_does(tn):
    """"100.00% of all operations (including primitives) (1645 of 1645)": prim::Constant and
    prim::ListConstruct count, arithmetic is a subset of the aten:: operators."""
    result = tn.analyze_model(small_net(), torch.zeros(1, 3, 32, 32))
    counts = result["operator_count"]
    primitives = sum(n for op, n in counts.items() if op.startswith("prim::"))
    assert primitives > 0 and "prim::Constant" in result["operators"] and "prim::GetAttr" not in counts
    assert result["total_count"] == sum(counts.values()) > result["total_count_arithmetic"] > 0
    assert result["percent_supported"] == 100.0 and result["supported_operators"] >= {"prim::Constant"}


def test_trace_validates_the_neuron_cc_command_torch_neuron_runs(tn):
    tn.trace(small_net(), torch.zeros(1, 3, 32, 32), compiler_args="-O2")  # one string, as the tutorial passes it
    (trace,) = calls(tn, "trace")
    assert trace["module"] == "torch_neuron" and trace["kwargs"] == {"compiler_args": "-O2"}
    assert trace["flags"]["o2"] and trace["flags"]["pipeline"] == ["compile", "SaveTemps"]
    assert trace["flags"]["framework"] == "TENSORFLOW"


def test_neuronx_trace_infers_positional_keywords_after_its_warning(tnx):
    net, x = small_net(), torch.zeros(1, 3, 32, 32)
    with pytest.warns(DeprecationWarning, match="inferred as input_output_aliases, compiler_workdir, compiler_args"):
        tnx.trace(net, x, {}, None, ["--target", "inf2", "--auto-cast", "all"])
    (trace,) = calls(tnx, "trace")
    assert trace["compiler_args"] == ["--target", "inf2", "--auto-cast", "all"] and trace["flags"]["auto_cast"] == "all"
    assert trace["inferred"] == ("input_output_aliases", "compiler_workdir", "compiler_args")
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="multiple values for .*'compiler_args'"):
        tnx.trace(net, x, {}, None, ["--target", "inf2"], compiler_args=["--target", "trn1"])


def test_neuronx_cc_defaults_follow_the_release_the_simulation_claims(tnx, monkeypatch):
    """--auto-cast defaulted to matmult until SDK 2.27, none since (release-notes/prev/2.27.0/compiler.rst)."""
    net, x = small_net(), torch.zeros(1, 3, 32, 32)
    assert tnx.SDK_RELEASE < (2, 27)
    tnx.trace(net, x, compiler_args="--target inf2")
    monkeypatch.setattr(tnx, "SDK_RELEASE", (2, 27))
    tnx.trace(net, x, compiler_args="--target inf2 --disable-mixed-precision-accumulation")
    tnx.trace(net, x, compiler_args="--target trn2 -lnc 1 --distribution-strategy llm-training")
    before, after, trn2 = (c["flags"] for c in calls(tnx, "trace"))
    assert (before["auto_cast"], before["mixed_precision_accumulation"]) == ("matmult", False)
    assert (after["auto_cast"], after["mixed_precision_accumulation"]) == ("none", False)
    assert (trn2["lnc"], trn2["distribution_strategy"]) == (1, "llm-training") and trn2["mixed_precision_accumulation"]


def test_a_fixed_batch_artifact_on_a_multi_core_group_is_refused_with_the_data_parallel_rule(tn, fake_neuron_host):
    """DataParallel without dynamic batching needs input rows / len(device_ids) == the compiled batch;
    the Runtime feeds a fixed-batch artifact exactly its batch, so a group of 2 cores would fail on hardware."""
    fake_neuron_host(1, 4, "NCv1")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(2), target="inf1")
    with pytest.raises(neuronkit.CoreSpecError, match="fed 2 x 2 rows.*group_size=1.*dynamic_batch=True"):
        neuronkit.load(art, cores="0-1", group_size=2)
    assert calls(tn, "DataParallel") == []
    with neuronkit.load(art, cores="0-1", group_size=1) as rt:  # one replica per core: the same cores
        assert rt(images(2)).shape == (2, 10)


def test_a_dynamic_batch_artifact_is_split_over_the_group_by_data_parallel(tnx, fake_neuron_host):
    fake_neuron_host(1, 2, "NCv2")
    model = small_net()
    art = neuronkit.compile(model, "torch", example_inputs=images(1), target="inf2", dynamic_batch=True)
    with neuronkit.load(art, cores="0-1", group_size=2) as rt:
        x = images(5, seed=4)
        assert relative_error(rt(x), eager(model, x)[0]) < 1e-4
    (parallel,) = calls(tnx, "DataParallel")
    assert parallel["device_ids"] == [0, 1] and parallel["set_dynamic_batching"] is True
    (forward,) = calls(tnx, "forward")
    assert forward["rows"] == 5 and forward["chunks"] == [1, 1, 1, 1, 1]  # the compiled batch of 1, per core


def test_the_simulated_data_parallel_enforces_the_documented_batch_rule(tn):
    traced = tn.trace(small_net(), torch.zeros(2, 3, 32, 32))
    parallel = tn.DataParallel(traced, device_ids=[0, 1])
    parallel.disable_dynamic_batching()
    assert parallel(torch.zeros(4, 3, 32, 32)).shape == (4, 10)  # 4 / 2 cores == 2
    with pytest.raises(RuntimeError, match=r"len\(device_ids\) == the compiled batch: 2 / 2 != 2"):
        parallel(torch.zeros(2, 3, 32, 32))
    dynamic = tn.DataParallel(traced, device_ids=[0, 1])  # dynamic batching on: any batch, in chunks of 2
    assert dynamic(torch.zeros(3, 3, 32, 32)).shape == (3, 10)
    assert calls(tn, "forward")[-1]["chunks"] == [2, 2]


class TestTorchOnNeuron(NeuronConformance):
    @pytest.fixture
    def neuron_case(self):
        return NeuronCase(framework="torch", make_model=small_net, make_inputs=images,
                          sdks={"inf1": ("torch_neuron", "torch-neuron"), "inf2": ("torch_neuronx", "torch-neuronx"),
                                "trn1": ("torch_neuronx", "torch-neuronx"), "trn2": ("torch_neuronx", "torch-neuronx")})


def test_compiling_for_inf1_says_torch_neuron_is_archived(tn, monkeypatch):
    from neuronkit import neuron

    monkeypatch.setattr(neuron, "_warned", set())
    with pytest.warns(FutureWarning, match="torch-neuron, which the torch backend calls for inf1, is archived.*"
                                           "compile for inf2/trn1"):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf1")


@pytest.mark.parametrize("logical, cores", [(2, 64), (1, 128)])
def test_trn2_compiles_with_its_logical_cores_and_loads_with_the_runtime_set_to_match(tnx, fake_neuron_host, logical,
                                                                                      cores):
    """trn2-arch.rst: 8 NeuronCore-v3 per chip; at LNC=2 (the default) a trn2.48xlarge shows 64 cores,
    at LNC=1 128. The compiler's --logical-nc-config and the runtime's NEURON_LOGICAL_NC_CONFIG must match."""
    fake_neuron_host(16, 8, "NCv3", "trn2.48xlarge")
    options = {} if logical == 2 else {"logical_cores": 1}
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", dynamic_batch=True,
                            **options)
    (trace,) = calls(tnx, "trace")
    assert trace["compiler"]["target"] == "trn2" and trace["compiler"]["lnc"] == logical
    assert art.manifest.logical_cores == logical and "--logical-nc-config" in art.manifest.flags
    with neuronkit.load(art, cores=f"0-{cores - 1}", group_size=cores // 2) as rt:
        assert os.environ["NEURON_LOGICAL_NC_CONFIG"] == str(logical) and len(rt.groups) == 2
        assert neuronkit.targets.discover().neuron_cores == cores and rt(images(3)).shape == (3, 10)


def test_logical_cores_must_fit_the_target_and_the_runtime(tnx, fake_neuron_host):
    with pytest.raises(CompileError, match="logical_cores=2: inf2 takes 1 .*NCC_EARG001"):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", logical_cores=2)
    fake_neuron_host(1, 8, "NCv3", "trn2.48xlarge")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2")  # LNC 2
    os.environ["NEURON_LOGICAL_NC_CONFIG"] = "1"
    with pytest.raises(neuronkit.CoreSpecError, match="compiled for 2 .* NEURON_LOGICAL_NC_CONFIG=1 is set: they "
                                                      "must match"):
        neuronkit.load(art)
