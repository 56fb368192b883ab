import json
import sys
from pathlib import Path

import pytest
from conftest import images, imperative, small_net

import neuronkit
from neuronkit import CompileError
from neuronkit.testing import BackendConformance, ConformanceCase, relative_error
from neuronkit.testing.sim import installed

mx = pytest.importorskip("mxnet")
REPO = Path(__file__).resolve().parents[2]


class TestMxnetConformance(BackendConformance):
    @pytest.fixture(scope="class", params=["onnxruntime", "module"])
    @classmethod
    def case(cls, request):
        return ConformanceCase(framework="mxnet", make_model=small_net, make_inputs=images, reference=imperative,
                               compile_options={"engine": request.param})


@pytest.mark.parametrize("engine", ["onnxruntime", "module"])
def test_compiled_matches_imperative_on_other_inputs_and_batches(engine):
    model = small_net()
    art = neuronkit.compile(model, "mxnet", example_inputs=images(2), engine=engine)
    fresh = images(5, seed=9)
    with neuronkit.load(art) as rt:
        assert relative_error(rt(fresh), imperative(model, fresh)[0]) < 1e-4


def test_symbol_tuple_and_checkpoint_prefix_are_claimed(tmp_path):
    model = small_net()
    model.hybridize()
    model(mx.nd.array(images(1)[0]))
    model.export(str(tmp_path / "net"), epoch=0)
    sym, args, aux = mx.model.load_checkpoint(str(tmp_path / "net"), 0)
    for source in ((sym, args, aux), str(tmp_path / "net")):
        art = neuronkit.compile(source, example_inputs=images(2))
        assert art.backend == "mxnet"
        with neuronkit.load(art) as rt:
            assert relative_error(rt(images(2)), imperative(model, images(2))[0]) < 1e-4


def test_onnx_export_keeps_weights_out_of_the_inputs():
    art = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1))
    assert [t.name for t in art.inputs] == ["data"] and art.manifest.engine == "onnxruntime"


def test_bf16_on_the_cpu_target_is_refused_with_the_reason():
    with pytest.raises(CompileError, match="runs fp32.*target='inf1'"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), precision="bf16")


def test_missing_sdk_names_both_packages():
    with pytest.raises(neuronkit.BackendUnavailable, match="mx_neuron.*mxnet_neuron"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1")


@pytest.fixture
def mxn():
    from neuronkit.testing.sim import mx_neuron

    with installed("mx_neuron"):
        yield mx_neuron


@pytest.mark.parametrize("precision, fast_math", [("fp32", "none"), ("bf16", "all")])
def test_inf1_compile_args_against_the_simulated_mx_neuron(mxn, precision, fast_math):
    art = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1", precision=precision,
                            pipeline_cores=2, excl_node_names=["dense0_fwd"])
    (call,) = [c for c in mxn.calls if c["function"] == "compile"]
    assert call["api"] == "mx_neuron" and call["inputs"] == {"data": (1, 3, 32, 32)}
    assert call["compile_args"] == {"flags": ["--fast-math", fast_math], "--neuroncore-pipeline-cores": 2,
                                    "excl_node_names": ["dense0_fwd"]}
    report = art.manifest.report
    # The simulation leaves the graph unchanged: the report must say nothing runs on Neuron.
    assert report.ops_on_target == 0 and any("whole model would run on the CPU" in n for n in report.notes)


def test_inf1_falls_back_to_the_mxnet_1_5_api(clean_neuron_env):
    from neuronkit.testing.sim import mx_neuron

    mx_neuron.reset()
    mx_neuron.install(api="contrib")
    try:
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1")
    finally:
        mx_neuron.uninstall()
    assert [c["api"] for c in mx_neuron.calls] == ["mxnet.contrib.neuron"]


@pytest.mark.parametrize("legacy, expected", [(False, [0, 2]), (True, [0, 1])])
def test_inf1_context_index_is_the_first_core_or_the_group_index(mxn, fake_neuron_host, legacy, expected):
    fake_neuron_host(1, 4, "NCv1")
    model = small_net()
    art = neuronkit.compile(model, "mxnet", example_inputs=images(2), target="inf1", pipeline_cores=2,
                            dynamic_batch=True)
    with neuronkit.load(art, legacy_runtime=legacy) as rt:
        assert [c["device_id"] for c in mxn.calls if c["function"] == "neuron"] == expected
        env = mxn.calls[-1]["env"]
        # never both runtime generations' variables at once
        assert ("NEURONCORE_GROUP_SIZES" in env) is legacy and "NEURON_RT_VISIBLE_CORES" not in env
        assert relative_error(rt(images(3)), imperative(model, images(3))[0]) < 1e-4


@pytest.mark.slow
def test_resnet50_example_runs_unchanged_with_framework_mxnet(tmp_path):
    import subprocess

    done = subprocess.run([sys.executable, str(REPO / "examples" / "resnet50.py"), "--framework", "mxnet",
                           "--out", str(tmp_path / "r50.nk")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "on 2 replica(s), core groups [0, 1]" in done.stdout and "random weights" in done.stdout
    manifest = json.loads(json.dumps(neuronkit.open_artifact(tmp_path / "r50.nk").manifest.to_dict()))
    assert manifest["framework"]["name"] == "mxnet" and manifest["preprocess"]["labels"] == "imagenet"
