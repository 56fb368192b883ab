"""trn2/trn3 with native TorchNeuron (engine="native"), trn3, fp8, and telling torch-neuronx's two
stacks apart, against the SIMULATED SDKs in neuronkit.testing.sim. Nothing here runs on Trainium."""

import os
import shlex

import numpy as np
import pytest
from conftest import calls, eager, images, small_net

import neuronkit
from neuronkit import BackendUnavailable, CompileError, CoreSpecError, NeuronkitError
from neuronkit.testing import relative_error
from neuronkit.testing.sim import installed

torch = pytest.importorskip("torch")


@pytest.fixture
def native(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_NEURONX_NEFF_CACHE_DIR", str(tmp_path / "neff-cache"))
    with installed("torch_neuronx_native") as sim:
        yield sim


def compiles(sim):
    return calls(sim, "torch.compile(backend='neuron')")


def test_native_on_a_build_host_exports_and_the_first_load_on_trn2_compiles(native, fake_neuron_host, tmp_path):
    model = small_net()
    art = neuronkit.compile(model, "torch", example_inputs=images(2), target="trn2", engine="native", precision="bf16")
    m = art.manifest
    assert (m.engine, m.load["program"], m.load["neffs"], m.batch_size) == ("native", "model.pt2", None, 2)
    assert m.flags == ("--auto-cast", "all", "--auto-cast-type", "bf16", "--logical-nc-config", "2")
    assert compiles(native) == [] and any("exported only" in n for n in m.report.notes)
    path = art.save(tmp_path / "native.nk")

    fake_neuron_host(1, 8, "NCv3", "trn2.48xlarge")
    with neuronkit.load(path, cores="0-1", group_size=1) as rt:
        assert [c["device"] for c in calls(native, "Module.to")] == ["neuron:0", "neuron:1"]
        (first, second) = compiles(native)
        assert shlex.split(first["env"]["NEURON_CC_FLAGS"]) == list(m.flags)
        assert first["torch_env"]["TORCH_NEURONX_DISABLE_FALLBACK_EXECUTION"] == "1"
        assert (first["cache_hit"], second["cache_hit"]) == (False, True)  # one graph, compiled once
        x = images(2, seed=1)  # the compiled batch
        assert relative_error(rt(x), eager(model, x)[0]) < 1e-4
    assert len(compiles(native)) == 2  # compiled at load: requests never wait for the compiler
    assert "NEURON_CC_FLAGS" not in os.environ and os.environ["NEURON_LOGICAL_NC_CONFIG"] == "2"


def test_compiled_on_a_device_the_artifact_carries_its_graphs_to_the_next_device(native, fake_neuron_host, tmp_path,
                                                                                   monkeypatch):
    fake_neuron_host(1, 8, "NCv3", "trn2.48xlarge")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", engine="native",
                            logical_cores=1)
    assert art.manifest.load["neffs"] == "neffs" and any(f.startswith("neffs/") for f in art.manifest.files)
    assert compiles(native)[0]["cache_hit"] is False
    path = art.save(tmp_path / "compiled.nk")
    monkeypatch.setenv("TORCH_NEURONX_NEFF_CACHE_DIR", str(tmp_path / "another-machine"))  # an empty cache
    native.reset()
    with neuronkit.load(path, cores=1) as rt:
        assert [c["cache_hit"] for c in compiles(native)] == [True]
        assert rt(images(1)).shape == (1, 10)
    assert shlex.split(compiles(native)[0]["env"]["NEURON_CC_FLAGS"])[-2:] == ["--logical-nc-config", "1"]


def test_trn3_compiles_natively_and_refuses_trace_with_the_reason(native, fake_neuron_host):
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn3")  # native: its only way
    assert art.manifest.engine == "native" and art.manifest.logical_cores == 2
    with pytest.raises(CompileError, match="no engine 'trace' for trn3; its engines there are native"):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn3", engine="trace")
    fake_neuron_host(2, 8, "NCv4", "trn3")
    with neuronkit.load(art, cores=8, group_size=1) as rt:
        assert neuronkit.targets.discover().neuron_cores == 8 and len(rt.groups) == 8
        assert rt(images(1)).shape == (1, 10)


def test_the_compiler_reference_lists_no_trn3_target():
    from neuronkit.neuron import neuronx_cc_flags

    with pytest.raises(CompileError, match="reference lists --target inf2, trn1, trn1n, trn2, not trn3"):
        neuronx_cc_flags("trn3", "fp32")


def test_native_refuses_what_torchneuron_does_not_do(native):
    with pytest.raises(CompileError, match="no engine 'native' for inf2.*engine 'native' is for trn2, trn3"):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", engine="native")
    with pytest.raises(CompileError, match="engine 'native' on trn2 supports precision fp32, bf16, fp16, not 'fp8'"):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", engine="native",
                          precision="fp8")
    with pytest.raises(CompileError, match="engine 'native' does not support dynamic_batch"):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", engine="native",
                          dynamic_batch=True)
    with pytest.raises(CompileError, match="lazy_load, shapes are torch_neuronx.trace's .*no such setting"):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", engine="native",
                          shapes=[(1, 3, 32, 32)], lazy_load=True)
    with pytest.raises(CompileError, match="torch.export.*not TorchScript"):
        neuronkit.compile(torch.jit.trace(small_net(), torch.zeros(1, 3, 32, 32)), "torch",
                          example_inputs=images(1), target="trn2", engine="native")


class WithUnsupportedOp(torch.nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=1).values


def test_an_operator_torchneuron_cannot_compile_fails_the_load_instead_of_running_on_the_cpu(native,
                                                                                           fake_neuron_host,
                                                                                           monkeypatch):
    fake_neuron_host(1, 8, "NCv3", "trn2.48xlarge")
    x = (np.ones((1, 4), np.float32),)
    with pytest.raises(CompileError, match=r"could not compile aten\.sort.*no fallback"):
        neuronkit.compile(WithUnsupportedOp(), "torch", example_inputs=x, target="trn2", engine="native")
    monkeypatch.setenv("TORCH_NEURONX_DISABLE_FALLBACK_EXECUTION", "0")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", engine="native")
    with pytest.raises(NeuronkitError, match="DISABLE_FALLBACK_EXECUTION=0 is set: .*eagerly on the CPU"):
        neuronkit.load(art, cores=1)


def test_one_replica_holds_one_core(native, fake_neuron_host):
    fake_neuron_host(1, 8, "NCv3", "trn2.48xlarge")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", engine="native")
    with pytest.raises(CoreSpecError, match="one NeuronCore.*group_size=1"):
        neuronkit.load(art, cores="0-1", group_size=2)


def test_the_simulated_backend_refuses_dynamic_shapes_as_torchneuron_does(native, fake_neuron_host):
    fake_neuron_host(1, 8, "NCv3", "trn2.48xlarge")
    compiled = torch.compile(small_net(), backend="neuron", fullgraph=True, dynamic=True)
    with pytest.raises(Exception, match="dynamic=True is not supported"):
        compiled(torch.zeros(3, 3, 32, 32))


def test_each_stack_of_torch_neuronx_is_told_apart_by_version(fake_neuron_host):
    with installed("torch_neuronx_native"):
        with pytest.raises(BackendUnavailable, match=r"torch-neuronx 2\.14\.3\.0\+simulated is native TorchNeuron, "
                                                     r"which has no torch_neuronx\.trace.*engine='native'.*2\.9"):
            neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2")
    with installed("torch_neuronx"):
        with pytest.raises(BackendUnavailable, match=r"is the XLA stack.*needs native TorchNeuron, torch-neuronx 2\.13 "
                                                     r"or later.*2\.14"):
            neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", engine="native")


def test_native_torchneuron_must_match_the_installed_pytorch(native, monkeypatch):
    monkeypatch.setattr(native, "__version__", "2.13.3.0")
    with pytest.raises(BackendUnavailable, match=r"built for PyTorch 2\.13, and PyTorch 2\.14"):
        neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", engine="native")


def test_the_native_device_module_never_merges_with_inf1s_torch_neuron():
    with installed("torch_neuron"), pytest.raises(RuntimeError, match="clashes"):
        with installed("torch_neuronx_native"):
            pass


def test_fp8_on_trn2_is_neuronx_cc_fp8_e4m3_and_nowhere_before():
    with installed("torch_neuronx") as sim:
        art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", precision="fp8")
        (trace,) = [c for c in sim.calls if c["function"] == "trace"]
        assert trace["compiler"]["auto_cast"] == "all" and trace["compiler"]["auto_cast_type"] == "fp8_e4m3"
        assert art.manifest.precision == "fp8" and art.manifest.engine == "trace"
        with pytest.raises(CompileError, match="supports precision fp32, bf16, fp16, not 'fp8'"):
            neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="inf2", precision="fp8")


def test_the_compile_cache_keeps_a_build_hosts_compile_apart_from_a_devices(native, fake_neuron_host, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("NEURONKIT_CACHE_DIR", str(tmp_path / "cache"))
    options = dict(example_inputs=images(1), target="trn2", engine="native", cache=True)
    exported = neuronkit.compile(small_net(), "torch", **options)
    fake_neuron_host(1, 8, "NCv3", "trn2.48xlarge")
    compiled = neuronkit.compile(small_net(), "torch", **options)
    assert (exported.cache, exported.manifest.load["neffs"]) == ("stored", None)
    assert (compiled.cache, compiled.manifest.load["neffs"]) == ("stored", "neffs")  # not the NEFF-less one
    assert neuronkit.compile(small_net(), "torch", **options).cache == "hit"


def test_a_neff_cache_it_cannot_write_is_said_and_the_load_compiles(native, fake_neuron_host, monkeypatch):
    import shutil

    fake_neuron_host(1, 8, "NCv3", "trn2.48xlarge")
    art = neuronkit.compile(small_net(), "torch", example_inputs=images(1), target="trn2", engine="native")
    native.reset()

    def refused(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(shutil, "copy2", refused)
    with pytest.warns(RuntimeWarning, match="could not put the artifact's compiled graphs in the NEFF cache .*"
                                            "compiles the model again"), neuronkit.load(art, cores=1) as rt:
        assert rt(images(1)).shape == (1, 10)
    assert len(compiles(native)) == 1
