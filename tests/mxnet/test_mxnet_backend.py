"""The MXNet backend on the cpu target: the shared conformance suite per engine, correctness against
imperative Gluon, the model forms it claims, and its errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import checkpoint, images, imperative, small_net

import neuronkit
from neuronkit import BackendUnavailable, CompileError, InputError
from neuronkit.testing import BackendConformance, ConformanceCase, relative_error

mx = pytest.importorskip("mxnet")
ENGINES = ["onnxruntime", "openvino", "module"]


class TestMxnetConformance(BackendConformance):
    @pytest.fixture(scope="class", params=ENGINES)
    @classmethod
    def case(cls, request):
        return ConformanceCase(framework="mxnet", make_model=small_net, make_inputs=images, reference=imperative,
                               compile_options={"engine": request.param})


@pytest.mark.parametrize("engine", ENGINES)
def test_compiled_matches_imperative_on_other_inputs_and_batches(engine):
    model = small_net()
    art = neuronkit.compile(model, "mxnet", example_inputs=images(2), engine=engine)
    assert art.manifest.dynamic_batch and art.manifest.batch_size is None and art.inputs[0].shape == (None, 3, 32, 32)
    assert art.outputs[0].shape == (None, 10) and art.outputs[0].dtype == "float32"
    with neuronkit.load(art) as rt:
        for batch in (5, 1, 3):
            fresh = images(batch, seed=batch)
            assert relative_error(rt(fresh), imperative(model, fresh)[0]) < 1e-4


def test_default_engines_are_the_fastest_measured():
    fp32 = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1))
    assert fp32.manifest.engine == "onnxruntime" and fp32.manifest.precision == "fp32"
    assert [t.name for t in fp32.inputs] == ["data"]  # the exporter's weight inputs are gone
    bf16 = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), precision="bf16")
    assert bf16.manifest.engine == "openvino" and "load: INFERENCE_PRECISION_HINT=bf16" in bf16.manifest.flags


@pytest.mark.filterwarnings("ignore:this CPU runs the model in f32")  # a CPU without bf16 runs it in f32
def test_bf16_through_openvino_stays_close_to_fp32():
    model = small_net()
    batch = images(16, seed=3)
    art = neuronkit.compile(model, "mxnet", example_inputs=batch, precision="bf16")
    with neuronkit.load(art) as rt:
        got = rt(batch)
    want = imperative(model, batch)[0]
    assert relative_error(got, want) < 2e-2
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.9


@pytest.mark.parametrize("engine", ENGINES)
def test_fixed_batch_compile_refuses_other_batches_clearly(engine):
    art = neuronkit.compile(small_net(), "mxnet", example_inputs=images(2), engine=engine, dynamic_batch=False,
                            batch_size=4)
    assert art.manifest.batch_size == 4 and art.inputs[0].shape == (4, 3, 32, 32)
    with neuronkit.load(art) as rt:
        assert rt(images(4)).shape == (4, 10)
        with pytest.raises(InputError, match="compiled without dynamic batch"):
            rt(images(3))


def test_symbol_tuple_and_checkpoint_prefix_are_claimed(tmp_path):
    model = small_net()
    sym, args, aux = checkpoint(model, tmp_path / "net", epoch=3)
    for source in ((sym, args, aux), str(tmp_path / "net")):
        assert neuronkit.plugins.claim_backend(source).name == "mxnet"
        art = neuronkit.compile(source, example_inputs=images(2))
        assert art.backend == "mxnet"
        with neuronkit.load(art) as rt:
            assert relative_error(rt(images(2)), imperative(model, images(2))[0]) < 1e-4


def test_symbol_inputs_may_be_given_by_name(tmp_path):
    model = small_net()
    sym, args, aux = checkpoint(model, tmp_path / "net")
    art = neuronkit.compile((sym, args, aux), "mx", example_inputs={"data": images(2)[0]}, engine="module")
    with neuronkit.load(art) as rt:
        assert relative_error(rt({"data": images(2)[0]}), imperative(model, images(2))[0]) < 1e-4


def test_aliases_select_the_backend():
    for alias in ("mx", "gluon", "MXNet"):
        assert neuronkit.plugins.find_backend(alias).name == "mxnet"


def test_plugin_registration_does_not_import_mxnet():
    script = ("import sys, neuronkit\n"
              "assert 'mxnet' in neuronkit.get_backends()\n"
              "print('mxnet' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_module_replicas_take_their_threads_from_the_group_in_a_fresh_process(tmp_path):
    path = neuronkit.compile(small_net(), "mxnet", example_inputs=images(2), engine="module").save(tmp_path / "m.nk")
    script = ("import os, sys, json, numpy as np, neuronkit\n"
              "os.environ.pop('OMP_NUM_THREADS', None); os.environ.pop('MXNET_CPU_WORKER_NTHREADS', None)\n"
              "with neuronkit.load(sys.argv[1], cores=2, group_size=1) as rt:\n"
              "    rt(np.zeros((2, 3, 32, 32), np.float32))\n"
              "    print(json.dumps([len(rt.replicas), os.environ['OMP_NUM_THREADS'], "
              "os.environ['MXNET_CPU_WORKER_NTHREADS']]))\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2, "1", "2"]


# -- errors

def test_bf16_needs_openvino_and_fp16_is_inf1_only():
    with pytest.raises(CompileError, match="engine 'module' runs fp32.*use engine='openvino' for bf16"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), precision="bf16", engine="module")
    with pytest.raises(CompileError, match="mxnet backend on cpu supports precision fp32.*not 'fp16'"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), precision="fp16")


def test_what_it_cannot_compile_is_named():
    with pytest.raises(CompileError, match="takes a gluon HybridBlock.*not Block"):
        neuronkit.compile(mx.gluon.nn.Block(), "mxnet", example_inputs=images(1))
    with pytest.raises(CompileError, match="needs example_inputs"):
        neuronkit.compile(small_net(), "mxnet")
    with pytest.raises(CompileError, match=r"takes inputs \['data'\]; got 2"):
        checkpoint_model = small_net()
        checkpoint_model.hybridize()
        neuronkit.compile(_as_tuple(checkpoint_model), "mxnet", example_inputs=images(1) * 2)
    with pytest.raises(CompileError, match="does not take inputs"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=(np.zeros((1, 3, 2, 2), np.float32),))


def test_options_are_checked():
    with pytest.raises(CompileError, match="no compile option 'fast'"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), fast=True)
    with pytest.raises(CompileError, match="no compile option 'stirct'; did you mean 'strict'"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), target="inf1", stirct=True)
    for inf1_only in ({"excl_node_names": ["x"]}, {"sdk": "mx_neuron"}, {"strict": True}):
        with pytest.raises(CompileError, match=f"option '{next(iter(inf1_only))}' applies to target inf1.*, not cpu"):
            neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), **inf1_only)
    with pytest.raises(CompileError, match="option epoch='3' must be int"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), epoch="3")


def test_declared_options_are_listed():
    spec = neuronkit.plugins.find_backend("mxnet")
    assert {o.name: o.targets for o in spec.compile_options} == {
        "sdk": ("inf1",), "epoch": (), "excl_node_names": ("inf1",), "force_incl_node_names": ("inf1",)}
    assert all(o.help for o in spec.compile_options) and spec.load_options == ()


def test_a_checkpoint_prefix_without_params_is_named(tmp_path):
    sym, _, _ = checkpoint(small_net(), tmp_path / "net")
    sym.save(str(tmp_path / "bare-symbol.json"))
    with pytest.raises(CompileError, match="no .*bare-NNNN.params"):
        neuronkit.compile(str(tmp_path / "bare"), example_inputs=images(1))


def hide(monkeypatch, *modules):
    """Make ``modules`` look not installed to the core's requirement check."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in modules else real(name, *a))
    for name in modules:
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_missing_host_engine_package_says_what_to_install(monkeypatch):
    hide(monkeypatch, "openvino")
    with pytest.raises(BackendUnavailable, match="pip install openvino"):
        neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), engine="openvino")


def test_the_onnx_engines_need_the_onnx_that_mxnet_exports_to(monkeypatch):
    hide(monkeypatch, "onnx")
    for engine in ("onnxruntime", "openvino"):
        with pytest.raises(BackendUnavailable, match=f"engine '{engine}' .*needs onnx.*pip install .*\"numpy<1.24\""):
            neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), engine=engine)


@pytest.mark.parametrize("hidden, engine", [(("onnxruntime",), "openvino"), (("onnx",), "module"),
                                            (("onnxruntime", "openvino"), "module")])
def test_the_default_engine_is_the_first_installed(monkeypatch, hidden, engine):
    hide(monkeypatch, *hidden)
    art = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1))
    assert art.manifest.engine == engine and art.manifest.precision == "fp32"


def _as_tuple(model):
    model(mx.nd.array(images(1)[0]))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        model.export(f"{tmp}/m", 0)
        return mx.model.load_checkpoint(f"{tmp}/m", 0)


def test_int8_through_onnx_runtime():
    """precision='int8' for a Gluon block: the ONNX export, quantized by the core's ONNX Runtime engine."""
    net = small_net()
    calibration = [images(1, seed=s)[0] for s in range(20)]
    with pytest.warns(RuntimeWarning, match="fewer than calibration_size"):
        art = neuronkit.compile(net, "mxnet", example_inputs=images(1), precision="int8", calibration=calibration)
    m = art.manifest
    assert m.precision == "int8" and m.engine == "onnxruntime" and m.flags[1].startswith("quantize_static(QDQ")
    assert m.report.accuracy["samples"] == 4
    assert neuronkit.verify(art, net, images(6, seed=99)).ok


def test_the_compile_cache_knows_a_block_by_its_content(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONKIT_CACHE_DIR", str(tmp_path))
    first = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), cache=True)
    again = neuronkit.compile(small_net(), "mxnet", example_inputs=images(1), cache=True)  # new name prefixes
    assert (first.cache, again.cache) == ("stored", "hit")
    changed = small_net()
    next(iter(changed.collect_params().values())).data()[:] += 1
    assert neuronkit.compile(changed, "mxnet", example_inputs=images(1), cache=True).cache == "stored"
