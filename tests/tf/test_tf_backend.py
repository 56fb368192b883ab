"""The TensorFlow backend on the cpu target: conformance, engines x precisions, model forms, errors."""

from pathlib import Path

import numpy as np
import pytest
from tf_helpers import conv_model, eager, images

import neuronkit
from neuronkit import BackendNotFound, CompileError, InputError
from neuronkit.testing import BackendConformance, ConformanceCase, relative_error

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


class TestOpenVinoConformance(BackendConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def case(cls):
        pytest.importorskip("openvino")
        return ConformanceCase(framework="tf", make_model=conv_model, make_inputs=lambda b: (images(b),),
                               reference=eager, compile_options={"engine": "openvino"})


class TestSavedModelConformance(BackendConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def case(cls):
        return ConformanceCase(framework="tensorflow", make_model=conv_model, make_inputs=lambda b: (images(b),),
                               reference=eager, compile_options={"engine": "savedmodel"})


@pytest.mark.parametrize("engine, precision", [("openvino", "fp32"), ("openvino", "bf16"), ("savedmodel", "fp32"),
                                               ("savedmodel", "bf16"), ("xla", "fp32")])
@pytest.mark.filterwarnings("ignore:this CPU runs the model in f32")  # the core OpenVINO replica's warning
def test_compiled_matches_eager(engine, precision, model):
    if engine == "openvino":
        pytest.importorskip("openvino")
    x = images(4)
    art = neuronkit.compile(model, "keras", example_inputs=x, engine=engine, precision=precision)
    assert art.manifest.engine == engine and art.manifest.precision == precision
    fresh = images(3, seed=99)  # another batch size: the cpu engines keep the batch axis free
    with neuronkit.load(art) as rt:
        got = rt(fresh)
    err = relative_error(got, eager(model, (fresh,))[0])
    assert err < (1e-4 if precision == "fp32" else 2e-2), err


@pytest.mark.filterwarnings("ignore:this CPU runs the model in f32")  # the core OpenVINO replica's warning
def test_precision_hint_is_explicit_on_openvino(model):
    """fp32 is f32 even where OpenVINO's own default would be bf16; bf16 runs bf16 where the CPU can."""
    ov = pytest.importorskip("openvino")
    bf16_cpu = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    x = images(8)
    outs = {}
    for precision in ("fp32", "bf16"):
        art = neuronkit.compile(model, "tf", example_inputs=x, precision=precision)
        assert f"load: INFERENCE_PRECISION_HINT={'f32' if precision == 'fp32' else 'bf16'}" in art.manifest.flags
        with neuronkit.load(art) as rt:
            outs[precision] = rt(x)
            effective = rt.replicas[0].precision  # the core's OpenVINO replica
        assert ("bf16" in effective) == (precision == "bf16" and bf16_cpu), effective
    want = eager(model, (x,))[0]
    assert relative_error(outs["fp32"], want) < 1e-5
    assert relative_error(outs["bf16"], want) < 2e-2
    if bf16_cpu:
        assert not np.array_equal(outs["bf16"], outs["fp32"])  # bf16 did run


def test_bf16_without_cpu_support_warns(model):
    ov = pytest.importorskip("openvino")
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU runs bf16")
    art = neuronkit.compile(model, "tf", example_inputs=images(1), precision="bf16")
    with pytest.warns(RuntimeWarning, match="no bf16 support"):
        neuronkit.load(art).close()


def test_default_engine_is_openvino_and_precision_fp32(model):
    pytest.importorskip("openvino")
    art = neuronkit.compile(model, example_inputs=images(2))  # claimed: no framework given
    m = art.manifest
    assert (m.backend.name, m.engine, m.precision, m.compiler.name) == ("tf", "openvino", "fp32", "openvino")
    assert set(m.files) == {"model.xml", "model.bin"}
    assert m.dynamic_batch and m.batch_size is None
    assert m.inputs[0].name == "image" and m.inputs[0].shape == (None, 8, 8, 3)
    assert m.outputs[0].shape == (None, 5)


def test_savedmodel_engine_holds_a_serving_signature_not_keras_export(model):
    art = neuronkit.compile(model, "tf", example_inputs=images(2), engine="savedmodel")
    files = set(art.manifest.files)
    assert "saved_model/saved_model.pb" in files and any(f.startswith("saved_model/variables/") for f in files)
    loaded = tf.saved_model.load(str(art.root / "saved_model"))
    sig = loaded.signatures["serving_default"]
    assert list(sig.structured_input_signature[1]) == ["image"]
    assert list(sig.structured_outputs) == ["output_0"]


def test_static_batch_fixes_the_batch(model):
    art = neuronkit.compile(model, "tf", example_inputs=images(2), engine="savedmodel", batch_size=4,
                            dynamic_batch=False)
    m = art.manifest
    assert m.batch_size == 4 and not m.dynamic_batch and m.inputs[0].shape == (4, 8, 8, 3)
    with neuronkit.load(art) as rt:
        assert rt(images(4)).shape == (4, 5)
        with pytest.raises(InputError, match="without dynamic batch"):
            rt(images(3))


def test_xla_engine_records_jit_compile(model):
    art = neuronkit.compile(model, "tf", example_inputs=images(2), engine="xla")
    assert "jit_compile=True" in art.manifest.flags and art.manifest.compiler.name == "xla"


def test_tf_module_with_two_inputs_and_dict_outputs():
    class Mixer(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3))

        def __call__(self, a, b):
            return {"sum": tf.matmul(a, self.w) + b, "prod": a[:, :3] * b}

    module = Mixer()
    a = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    art = neuronkit.compile(module, example_inputs=(a, b), engine="savedmodel")
    assert [i.name for i in art.inputs] == ["input_0", "input_1"]
    assert [o.name for o in art.outputs] == ["prod", "sum"]
    with neuronkit.load(art) as rt:
        prod, total = rt((a, b))
    want = module(a, b)
    np.testing.assert_allclose(total, np.asarray(want["sum"]), rtol=1e-6)
    np.testing.assert_allclose(prod, np.asarray(want["prod"]), rtol=1e-6)


def test_keras_model_with_two_inputs():
    keras.utils.set_random_seed(1)
    left, right = keras.Input((4,), name="left"), keras.Input((2,), name="right")
    out = keras.layers.Dense(3)(keras.layers.Concatenate()([left, right]))
    model = keras.Model([left, right], out)
    a, b = np.ones((2, 4), np.float32), np.full((2, 2), 0.5, np.float32)
    art = neuronkit.compile(model, "tf", example_inputs=(a, b), engine="savedmodel")
    assert [i.name for i in art.inputs] == ["left", "right"]
    with neuronkit.load(art) as rt:
        got = rt({"left": a, "right": b})
    np.testing.assert_allclose(got, model([a, b]).numpy(), rtol=1e-5)


def test_saved_model_directory_is_claimed_and_compiles_without_examples(model, tmp_path):
    sm = tmp_path / "sm"
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda x: {"logits": model(x)}, input_signature=[tf.TensorSpec([None, 8, 8, 3],
                                                                                              tf.float32, name="x")])
    tf.saved_model.save(module, str(sm), signatures={"serving_default": module.serve.get_concrete_function()})
    assert neuronkit.plugins.claim_backend(str(sm)).name == "tf"
    art = neuronkit.compile(str(sm), engine="savedmodel")  # shapes from the signature
    assert [i.name for i in art.inputs] == ["x"] and [o.name for o in art.outputs] == ["logits"]
    x = images(3)
    with neuronkit.load(art) as rt:
        assert relative_error(rt(x), eager(model, (x,))[0]) < 1e-5


def test_claims(tmp_path):
    from neuronkit_tf import neuronkit_claim_model

    assert neuronkit_claim_model(conv_model()) == "tf"
    assert neuronkit_claim_model(tf.Module()) == "tf"
    assert neuronkit_claim_model(str(tmp_path)) is None  # a directory without saved_model.pb
    assert neuronkit_claim_model(np.zeros(3)) is None
    with pytest.raises(BackendNotFound):
        neuronkit.compile(object())


def test_plugin_module_imports_no_framework():
    import subprocess
    import sys

    code = ("import sys, neuronkit, neuronkit_tf; neuronkit.get_backends(); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'openvino') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_errors_say_what_to_do(model):
    x = images(2)
    with pytest.raises(CompileError, match="supports precision fp32, bf16, int8, not 'fp16'"):
        neuronkit.compile(model, "tf", example_inputs=x, precision="fp16")
    with pytest.raises(CompileError, match="engine"):
        neuronkit.compile(model, "tf", example_inputs=x, engine="tensorrt")
    with pytest.raises(CompileError, match="no compile option 'fast'"):
        neuronkit.compile(model, "tf", example_inputs=x, engine="savedmodel", fast=True)
    with pytest.raises(CompileError, match="float64"):
        neuronkit.compile(model, "tf", example_inputs=x.astype(np.float64), engine="savedmodel")
    with pytest.raises(CompileError, match="pipeline_cores"):
        neuronkit.compile(model, "tf", example_inputs=x, pipeline_cores=2)
    with pytest.raises(CompileError, match="engine 'xla' runs fp32.*not bf16; use engine='openvino'"):
        neuronkit.compile(model, "tf", example_inputs=x, engine="xla", precision="bf16")
    with pytest.raises(CompileError, match="example_inputs"):
        neuronkit.compile(tf.Module(), "tf", engine="savedmodel")
    with pytest.raises(CompileError, match="not a SavedModel"):
        neuronkit.compile("/", "tf", engine="savedmodel")


def test_selftest_model_runs():
    from neuronkit.selftest import run_backend

    rows = run_backend("tf", ["cpu"])
    assert [r["status"] for r in rows] == ["ok"], rows


def test_options_are_declared(model):
    """The core checks options against the BackendSpec: a typo names the closest, a Neuron option is refused on cpu."""
    x = images(1)
    with pytest.raises(CompileError, match="no compile option 'stirct'; did you mean 'strict'"):
        neuronkit.compile(model, "tf", example_inputs=x, engine="savedmodel", stirct=True)
    with pytest.raises(CompileError, match="option 'strict' applies to target inf1, inf2, trn1, not cpu"):
        neuronkit.compile(model, "tf", example_inputs=x, engine="savedmodel", strict=True)
    with pytest.raises(CompileError, match="option 'method' applies to target"):
        neuronkit.compile(model, "tf", example_inputs=x, engine="savedmodel", method="trace")
    with pytest.raises(CompileError, match="signature_def_key=1 must be str"):
        neuronkit.compile(model, "tf", example_inputs=x, engine="savedmodel", signature_def_key=1)


def test_the_threads_load_option_is_gone(model):
    """The core group's size is an OpenVINO replica's thread budget; no backend load option sets it."""
    art = neuronkit.compile(model, "tf", example_inputs=images(1), engine="savedmodel")
    with pytest.raises(neuronkit.NeuronkitError, match="no load option 'threads'"):
        neuronkit.load(art, threads=2)


#: Artifacts written by the tf backend before the core owned the OpenVINO engine (neuronkit at commit
#: 2f66875: ``neuronkit.compile(conv_model(), "tf", example_inputs=images(2), engine=E, precision=P).save(...)``),
#: with the expected output of ``conv_model()`` on ``images(3, seed=7)``. The OpenVINO ones have the old
#: load keys (format, model, ov_inputs, ov_outputs with OpenVINO's own port names; no precision_hint).
OLD = Path(__file__).parent / "data"


@pytest.mark.parametrize("name, engine, precision", [("conv_openvino_fp32", "openvino", "fp32"),
                                                     ("conv_openvino_bf16", "openvino", "bf16"),
                                                     ("conv_savedmodel_fp32", "savedmodel", "fp32")])
@pytest.mark.filterwarnings("ignore:this CPU runs the model in f32")
def test_artifacts_written_before_the_engines_moved_still_load(name, engine, precision):
    art = neuronkit.open_artifact(OLD / f"{name}.nk")
    m = art.manifest
    assert (m.engine, m.precision) == (engine, precision)
    if engine == "openvino":
        pytest.importorskip("openvino")
        assert m.load["format"] == "openvino" and "precision_hint" not in m.load
        assert m.load["ov_outputs"] != ["output_0"]  # OpenVINO's port names, not the manifest's
    x = images(3, seed=7)
    with neuronkit.load(art, cores=2, group_size=1) as rt:
        got = rt(x)
        kinds = {type(r).__module__ for r in rt.replicas}
        if engine == "openvino":
            assert rt.replicas[0].precision in ("f32", "bf16")
    assert kinds == {"neuronkit.engines.openvino" if engine == "openvino" else "neuronkit_tf.backend"}
    want = np.load(OLD / "conv_want_images3_seed7.npy")
    assert relative_error(got, want) < (1e-4 if precision == "fp32" else 2e-2)


def test_int8_through_openvino_and_nncf(model):
    """precision='int8' for a Keras model: OpenVINO's engine quantizes it with NNCF on the calibration data."""
    calibration = [images(1, seed=s) for s in range(20)]
    with pytest.warns(RuntimeWarning, match="fewer than calibration_size"):
        art = neuronkit.compile(model, "tf", example_inputs=images(1), precision="int8", calibration=calibration)
    m = art.manifest
    assert m.precision == "int8" and m.engine == "openvino" and any(f.startswith("nncf.quantize(subset_size=16)")
                                                                    for f in m.flags)
    assert m.report.accuracy["samples"] == 4
    x = images(6, seed=99)
    assert neuronkit.verify(art, model, x).ok


def test_the_compile_cache_knows_a_keras_model_by_its_content(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONKIT_CACHE_DIR", str(tmp_path))
    first = neuronkit.compile(conv_model(), "tf", example_inputs=images(1), cache=True)
    again = neuronkit.compile(conv_model(), "tf", example_inputs=images(1), cache=True)  # new layer names
    assert (first.cache, again.cache) == ("stored", "hit")
    assert neuronkit.compile(conv_model(seed=1), "tf", example_inputs=images(1), cache=True).cache == "stored"
