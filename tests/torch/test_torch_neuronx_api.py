"""torch_neuronx's weights-outside-the-NEFF, lazy/async load and bucketing APIs, as neuronkit calls them,
against the SIMULATED torch_neuronx in neuronkit.testing.sim. Nothing here runs on Inferentia or Trainium."""

import numpy as np
import pytest
from conftest import calls, eager, images, small_net

import neuronkit
from neuronkit import CompileError, InputError, NeuronkitError
from neuronkit.testing import relative_error
from neuronkit.testing.sim import installed

torch = pytest.importorskip("torch")
from neuronkit_torch import neuron  # noqa: E402


def doubled(model):
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2)
    return model


# -- weights outside the NEFF

def test_inline_weights_false_traces_weights_separated_and_records_them(tnx):
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", inline_weights=False,
                            cache=False)
    (trace,) = calls(tnx, "trace")
    assert trace["kwargs"]["inline_weights_to_neff"] is False
    assert art.manifest.load["inline_weights"] is False and "inline_weights_to_neff=False" in art.manifest.flags
    assert art.manifest.load["weights"]["head.weight"] == {"dtype": "float32", "shape": [10, 32]}
    neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", cache=False)
    assert calls(tnx, "trace")[-1]["kwargs"]["inline_weights_to_neff"] is True


def test_replace_weights_gives_a_new_artifact_that_loads_with_the_new_weights(tnx, fake_neuron_host, tmp_path):
    fake_neuron_host(1, 2, "NCv2")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", inline_weights=False,
                            cache=False)
    path = art.save(tmp_path / "old.nk")
    new_model = doubled(small_net())
    new = neuronkit.replace_weights(path, new_model.state_dict())
    assert new.root != art.root and "weights.pt" in new.manifest.files and "weights.pt" not in art.manifest.files
    assert new.manifest.load["weights_file"] == "weights.pt"
    reopened = neuronkit.open_artifact(new.save(tmp_path / "new.nk"))  # checksums of every file, verified
    x = images(1, seed=3)
    with neuronkit.load(reopened, cores=1) as rt:
        assert relative_error(rt(x), eager(new_model, x)[0]) < 1e-4
    (swap,) = calls(tnx, "replace_weights")
    assert set(swap["args"][1]) == set(new_model.state_dict()) and "error" not in swap
    with neuronkit.load(path, cores=1) as rt:  # the original is untouched: its own weights
        assert relative_error(rt(x), eager(small_net(), x)[0]) < 1e-4
    assert len(calls(tnx, "replace_weights")) == 1


def test_replace_weights_reads_a_torch_save_file_and_the_cli_writes_the_artifact(tnx, tmp_path):
    from click.testing import CliRunner

    from neuronkit.cli import cli

    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn1", inline_weights=False,
                            cache=False)
    art.save(tmp_path / "a.nk")
    torch.save(doubled(small_net()).state_dict(), tmp_path / "w.pt")
    result = CliRunner().invoke(cli, ["replace-weights", str(tmp_path / "a.nk"), str(tmp_path / "w.pt"), "-o",
                                       str(tmp_path / "b.nk")])
    assert result.exit_code == 0, result.output
    out = neuronkit.open_artifact(tmp_path / "b.nk")
    stored = torch.load(out.file("weights.pt"), weights_only=True)
    assert torch.equal(stored["head.weight"], doubled(small_net()).state_dict()["head.weight"])


def test_replace_weights_names_missing_unexpected_and_differing_weights(tnx):
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", inline_weights=False,
                            cache=False)
    state = small_net().state_dict()
    with pytest.raises(NeuronkitError, match=r"missing \[head.bias\], unexpected \[extra\]"):
        neuronkit.replace_weights(art, {**{k: v for k, v in state.items() if k != "head.bias"},
                                        "extra": torch.zeros(1)})
    with pytest.raises(NeuronkitError, match=r"head.weight: float32\[10, 31\], compiled float32\[10, 32\]"):
        neuronkit.replace_weights(art, {**state, "head.weight": torch.zeros(10, 31)})
    with pytest.raises(NeuronkitError, match=r"head.weight: float16\[10, 32\]"):
        neuronkit.replace_weights(art, {**state, "head.weight": torch.zeros(10, 32, dtype=torch.float16)})
    assert calls(tnx, "replace_weights") == []


def test_replace_weights_refuses_inline_weights_cpu_artifacts_and_backends_without_it(tnx):
    inline = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", cache=False)
    with pytest.raises(NeuronkitError, match="inside the NEFF.*compile with inline_weights=False"):
        neuronkit.replace_weights(inline, small_net().state_dict())
    cpu = neuronkit.compile(small_net(), "torch", example_inputs=images(1), engine="torchscript", cache=False)
    with pytest.raises(NeuronkitError, match="a cpu artifact"):
        neuronkit.replace_weights(cpu, small_net().state_dict())
    from neuronkit.plugins import find_backend

    with pytest.raises(NeuronkitError, match="the onnx backend cannot replace the weights"):
        neuronkit.Compiler.replace_weights(type("C", (neuronkit.Compiler,), {"compile": None})(find_backend("onnx")),
                                           inline, {}, None)


def test_simulated_replace_weights_warns_on_a_model_without_separated_weights_as_documented(tnx):
    net = small_net()
    traced = tnx.trace(net, torch.zeros(1, 3, 32, 32), compiler_args=["--target", "inf2"])
    with pytest.warns(UserWarning, match="does not contain any separated weights"):
        assert tnx.replace_weights(traced, doubled(small_net()).state_dict()) is None
    assert torch.equal(traced.state_dict()["head.weight"], net.state_dict()["head.weight"])
    separated = tnx.trace(net, torch.zeros(1, 3, 32, 32), compiler_args=["--target", "inf2"],
                          inline_weights_to_neff=False)
    tnx.replace_weights(separated, doubled(small_net()))  # "the original model with the new weights" works too
    assert torch.equal(separated.state_dict()["head.weight"], 2 * small_net().state_dict()["head.weight"])


# -- lazy and asynchronous loading: set before torch.jit.save, so compile options

def test_lazy_and_async_load_are_applied_before_saving(tnx, fake_neuron_host):
    fake_neuron_host(1, 2, "NCv2")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", lazy_load=True,
                            async_load=True, cache=False)
    assert [c["function"] for c in tnx.calls] == ["trace", "lazy_load", "async_load"]
    assert art.manifest.load["lazy_load"] is True and art.manifest.load["async_load"] is True
    saved = torch.jit.load(str(art.file("model.pt")))  # the settings are in the saved TorchScript
    assert getattr(saved, tnx.LAZY_LOAD) is True and getattr(saved, tnx.ASYNC_LOAD) is True
    with neuronkit.load(art, cores=1) as rt:
        assert rt(images(1)).shape == (1, 10)
    with pytest.raises(NeuronkitError, match="no load option 'lazy_load'"):
        neuronkit.load(art, cores=1, lazy_load=True)


def test_the_new_options_apply_to_torch_neuronx_targets_only(tnx):
    with installed("torch_neuron"):
        with pytest.raises(CompileError, match="'inline_weights' applies to target inf2, trn1, trn2, not inf1"):
            neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf1", inline_weights=False)
    with pytest.raises(CompileError, match="lazy_load=.* must be bool"):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", lazy_load="yes")


# -- buckets

def test_buckets_compile_one_artifact_and_run_the_smallest_that_fits(tnx, fake_neuron_host, tmp_path):
    fake_neuron_host(1, 2, "NCv2")
    model = small_net()
    art = neuronkit.compile(model, "torch", example_inputs=images(1), target="inf2",
                            shapes=[(4, 3, 32, 32), (1, 3, 32, 32)], cache=False)
    (bucketed,) = calls(tnx, "bucket_model_trace")
    assert bucketed["buckets"] == [[[4, 3, 32, 32]], [[1, 3, 32, 32]]] and calls(tnx, "trace") == []
    assert bucketed["kwargs"]["compiler_args"] == ["--target", "inf2", "--auto-cast", "none"]
    config = bucketed["args"][2]
    assert isinstance(config, tnx.BucketModelConfig) and isinstance(config.bucket_kernel(), torch.jit.ScriptFunction)
    m = neuronkit.open_artifact(art.save(tmp_path / "b.nk")).manifest
    assert m.buckets == (((4, 3, 32, 32),), ((1, 3, 32, 32),)) and m.batch_size is None
    assert m.inputs[0].shape == (None, 3, 32, 32) and m.outputs[0].shape == (None, 10)
    with neuronkit.load(tmp_path / "b.nk", cores=1) as rt:
        for rows in (1, 3, 4):
            x = images(rows, seed=rows)
            out = rt(x)
            assert out.shape == (rows, 10) and relative_error(out, eager(model, x)[0]) < 1e-4
        with pytest.raises(InputError, match=r"\(5, 3, 32, 32\) fits none of the buckets.*\(4, 3, 32, 32\); "
                                             r"\(1, 3, 32, 32\)"):
            rt(images(5))
    kernel = neuron.bucket_kernel("4x3x32x32;1x3x32x32")
    assert int(kernel([torch.zeros(1, 3, 32, 32)])[1][0]) == 1
    with pytest.raises(Exception, match="match no compiled bucket"):
        kernel([torch.zeros(2, 3, 32, 32)])


class TwoInputs(torch.nn.Module):
    def forward(self, ids, mask):
        return (ids * mask).sum(dim=1, keepdim=True), ids * 2


def test_two_input_buckets_pad_the_sequence_axis_with_zeros(tnx, fake_neuron_host):
    fake_neuron_host(1, 2, "NCv2")
    ids = np.arange(8, dtype=np.float32).reshape(1, 8)
    art = neuronkit.compile(TwoInputs(), "torch", example_inputs=(ids, np.ones_like(ids)), target="trn1",
                            shapes=[[(1, 8), (1, 8)], [(1, 16), (1, 16)]], cache=False)
    assert [s.shape for s in art.manifest.inputs] == [(1, None), (1, None)]
    x = np.ones((1, 10), np.float32)
    with neuronkit.load(art, cores=1) as rt:
        total, twice = rt((x, x))
    assert total.tolist() == [[10.0]]  # the zero padding adds nothing
    assert twice.shape == (1, 16) and twice[0, 10:].tolist() == [0.0] * 6  # the padded axis comes back padded


@pytest.mark.parametrize("options, message", [
    ({"shapes": []}, "non-empty list of buckets"),
    ({"shapes": [(1, 3, 32)]}, r"must give 1 shape\(s\) of rank 4"),
    ({"shapes": [(1, 3, 32, 32), (1, 3, 32, 32)]}, "lists a bucket twice"),
    ({"shapes": [(1, 3, 32, 32)], "dynamic_batch": True}, "does not combine with dynamic_batch"),
    ({"shapes": [(1, 3, 32, 32)], "inline_weights": False}, "does not combine"),
])
def test_bucket_shapes_are_validated(tnx, options, message):
    with pytest.raises(CompileError, match=message):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", cache=False, **options)
    assert calls(tnx, "bucket_model_trace") == []


def test_a_bucket_model_loads_one_core_per_replica(tnx, fake_neuron_host):
    fake_neuron_host(1, 2, "NCv2")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2",
                            shapes=[(1, 3, 32, 32)], cache=False)
    with pytest.raises(NeuronkitError, match="group_size=1"):
        neuronkit.load(art, cores="0-1", group_size=2)
    assert calls(tnx, "DataParallel") == []


def test_the_simulated_bucket_api_keeps_the_documented_signatures(tnx):
    kernel = neuron.bucket_kernel
    with pytest.raises(TypeError):
        tnx.BucketModelConfig(kernel, not_an_option=1)
    with pytest.raises(TypeError):
        tnx.bucket_model_trace(lambda: (small_net(), {}), [torch.zeros(1, 3, 32, 32)],
                               tnx.BucketModelConfig(lambda: kernel("1x3x32x32")), inline_weights_to_neff=False)
    with pytest.raises(TypeError, match="TorchScript function"):
        tnx.bucket_model_trace(lambda: (small_net(), {}), [torch.zeros(1, 3, 32, 32)],
                               tnx.BucketModelConfig(lambda: (lambda tensors: (tensors, torch.tensor([0])))))


def test_data_parallel_is_called_with_its_documented_signature(tnx, fake_neuron_host):
    """torch_neuronx.DataParallel(model, device_ids=None, dim=0, set_dynamic_batching=True)
    (api-torch-neuronx-data-parallel.rst): neuronkit passes device_ids and set_dynamic_batching by keyword."""
    fake_neuron_host(1, 2, "NCv2")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", cache=False)
    with neuronkit.load(art, cores=1):
        (parallel,) = calls(tnx, "DataParallel")
    assert parallel["device_ids"] == [0] and parallel["dim"] == 0 and parallel["set_dynamic_batching"] is False
