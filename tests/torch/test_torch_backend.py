import numpy as np
import pytest
from conftest import eager, images, small_net

import neuronkit
from neuronkit import CompileError, InputError
from neuronkit.testing import BackendConformance, ConformanceCase, relative_error

torch = pytest.importorskip("torch")


class TestTorchConformance(BackendConformance):
    @pytest.fixture(scope="class", params=["onnxruntime", "openvino", "torchscript", "inductor"])
    @classmethod
    def case(cls, request):
        return ConformanceCase(framework="torch", make_model=small_net, make_inputs=images, reference=eager,
                               compile_options={"engine": request.param})


@pytest.mark.parametrize("engine, precision, tolerance", [
    ("onnxruntime", "fp32", 1e-4), ("openvino", "fp32", 1e-4), ("torchscript", "fp32", 1e-4),
    ("inductor", "fp32", 1e-4),
    ("openvino", "bf16", 2e-2),
])
def test_each_engine_and_precision_matches_eager_fp32(engine, precision, tolerance):
    model = small_net()
    art = neuronkit.compile(model, "torch", example_inputs=images(2), engine=engine, precision=precision)
    assert art.manifest.engine == engine and art.manifest.precision == precision
    fresh = images(5, seed=11)  # other inputs, another batch than the example's
    with neuronkit.load(art) as rt:
        assert relative_error(rt(fresh), eager(model, fresh)[0]) < tolerance


def test_default_engine_is_the_fastest_for_the_precision():
    model = small_net()
    assert neuronkit.compile(model, "torch", example_inputs=images(1)).manifest.engine == "onnxruntime"
    art = neuronkit.compile(model, "torch", example_inputs=images(1), precision="bf16")
    assert art.manifest.engine == "openvino" and "load: INFERENCE_PRECISION_HINT=bf16" in art.manifest.flags


def test_openvino_fp32_is_really_fp32():
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), engine="openvino")
    with neuronkit.load(art) as rt:
        assert rt.replicas[0].precision == "f32"


def test_static_batch_takes_only_its_batch_and_refuses_others_before_running():
    model = small_net()
    art = neuronkit.compile(model, "torch", example_inputs=images(4), engine="torchscript", dynamic_batch=False)
    assert art.manifest.batch_size == 4 and art.inputs[0].shape == (4, 3, 32, 32)
    with neuronkit.load(art) as rt:
        assert rt(images(4, seed=2)).shape[0] == 4
        with pytest.raises(InputError, match="without dynamic batch"):
            rt(images(3, seed=2))


def test_batch_size_repeats_the_example_rows():
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), batch_size=8, dynamic_batch=False,
                            engine="openvino")
    assert art.inputs[0].shape == (8, 3, 32, 32)


def test_torchscript_file_is_claimed_and_compiled(tmp_path):
    model = small_net()
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.trace(model, torch.from_numpy(images(1)[0])), str(path))
    art = neuronkit.compile(str(path), example_inputs=images(2))  # framework=None: the .pt path is claimed
    assert art.backend == "torch"
    with neuronkit.load(art) as rt:
        assert relative_error(rt(images(2)), eager(model, images(2))[0]) < 1e-4


def test_forward_argument_names_become_input_names():
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1))
    assert [t.name for t in art.inputs] == ["image"] and [t.name for t in art.outputs] == ["output0"]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs example_inputs"),
    ({"example_inputs": {"image": images(1)[0]}}, "tensor or a tuple"),
    ({"example_inputs": images(1), "engine": "onnxruntime", "precision": "bf16"}, "runs fp32, int8, not bf16"),
    ({"example_inputs": images(1), "engine": "torchscript", "precision": "bf16"}, "fp32 only"),
    ({"example_inputs": images(1), "engine": "inductor", "precision": "bf16"}, "fp32 only"),
    ({"example_inputs": images(1), "engine": "openvino", "precision": "fp16"}, "runs fp32, bf16"),
])
def test_bad_compile_requests_say_what_to_do(kwargs, message):
    with pytest.raises(CompileError, match=message):
        neuronkit.compile(small_net(), "torch", **kwargs)


def test_a_model_that_fails_to_run_is_a_compile_error():
    with pytest.raises(CompileError, match="torch backend failed to compile the model: RuntimeError"):
        neuronkit.compile(small_net(), "torch", example_inputs=(np.ones((1, 4, 32, 32), np.float32),))

def test_inductor_compiles_a_dynamic_batch_from_a_batch_1_example():
    # torch.export specialises a size-1 dimension: the batch-1 example most users pass must still work.
    model = small_net()
    art = neuronkit.compile(model, "torch", example_inputs=images(1), engine="inductor")
    assert art.manifest.dynamic_batch and art.inputs[0].shape[0] is None
    with neuronkit.load(art) as rt:
        for batch in (1, 3):
            x = images(batch, seed=batch)
            assert relative_error(rt(x), eager(model, x)[0]) < 1e-4


def test_a_torchscript_file_compiles_from_the_command_line_with_input_shape(tmp_path):
    from click.testing import CliRunner

    from neuronkit.cli import cli

    scripted = tmp_path / "net.pt"
    torch.jit.script(small_net()).save(str(scripted))
    out = CliRunner().invoke(cli, ["compile", str(scripted), "-o", str(tmp_path / "net.nk"),
                                   "--input-shape", "x:1x3x32x32"])
    assert out.exit_code == 0, out.output
    assert neuronkit.open_artifact(tmp_path / "net.nk").inputs[0].shape == (None, 3, 32, 32)
    out = CliRunner().invoke(cli, ["compile", str(scripted), "-o", str(tmp_path / "bad.nk")])
    assert out.exit_code == 1 and "--input-shape" in out.output


def test_an_onnx_file_given_to_the_torch_backend_points_to_the_onnx_backend(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x08not torch")
    with pytest.raises(CompileError, match="looks like a model for the onnx backend.*-f onnx"):
        neuronkit.compile(str(path), "torch")


def test_the_compile_cache_knows_a_module_by_its_content(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONKIT_CACHE_DIR", str(tmp_path))
    first = neuronkit.compile(small_net(), "torch", example_inputs=images(1), cache=True)
    again = neuronkit.compile(small_net(), "torch", example_inputs=images(1), cache=True)  # rebuilt, same weights
    changed = small_net()
    with torch.no_grad():
        changed.head.bias[0] += 1
    assert (first.cache, again.cache) == ("stored", "hit")
    assert neuronkit.compile(changed, "torch", example_inputs=images(1), cache=True).cache == "stored"
    assert neuronkit.compile(small_net(), "torch", example_inputs=images(2), cache=True).cache == "stored"
