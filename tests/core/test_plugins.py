import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import neuronkit
from neuronkit import BackendNotFound, BackendUnavailable, PluginError, plugins
from neuronkit.cli import cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_plugins():
    """Plugins load again from entry points in this test and again after it."""
    plugins.reset()
    yield
    plugins.reset()


def test_hook_neuronkit_backends(numpy_backend):
    spec = neuronkit.get_backends()["numpy-test"]
    assert spec.plugin == "(registered in process)" and spec.aliases == ("np-test",)
    assert plugins.find_backend("NP_TEST") is spec  # aliases, normalised


def test_hook_neuronkit_claim_model(numpy_backend, weights):
    assert plugins.claim_backend(weights).name == "numpy-test"
    art = neuronkit.compile(weights)  # framework=None: the plugins decide
    assert art.backend == "numpy-test"


def test_hook_neuronkit_register_commands():
    class Plugin:
        @neuronkit.hookimpl
        def neuronkit_register_commands(self, cli):
            @cli.command(name="hello-test")
            def hello():
                print("hello from a plugin")

    plugins.register(Plugin(), name="commands-test")
    try:
        plugins.get_plugin_manager().hook.neuronkit_register_commands(cli=cli)
        result = CliRunner().invoke(cli, ["hello-test"])
        assert result.exit_code == 0 and "hello from a plugin" in result.output
    finally:
        plugins.unregister("commands-test")
        cli.commands.pop("hello-test", None)


def write_listing(artifact, dest, version):
    """An export format's exporter, for the test below: the artifact's files, one per line."""
    Path(dest).write_text("\n".join(sorted(artifact.manifest.files)) + f"\nversion {version}\n")
    return [f"listed {artifact.backend} into {dest}"]


def export_plugin(names, backends=()):
    class Plugin:
        @neuronkit.hookimpl
        def neuronkit_export_formats(self):
            return [neuronkit.ExportFormat(n, f"a listing ({n})", f"{__name__}:write_listing", backends)
                    for n in names]
    return Plugin()


def test_hook_neuronkit_export_formats(artifact, tmp_path):
    path = artifact.save(tmp_path / "m.nk")
    plugins.register(export_plugin(["listing-test"]), name="export-test")
    plugins.register(export_plugin(["listing-test", "tf-only-test"], backends=("tf",)), name="export-clash-test")
    try:
        with pytest.warns(RuntimeWarning, match="export format --listing-test clashes with the one from"):
            formats = plugins.get_export_formats()
        assert formats["listing-test"].backends == () and formats["tf-only-test"].backends == ("tf",)
        listing = str(tmp_path / "l.txt")
        out = CliRunner().invoke(cli, ["export", str(path), "--listing-test", listing, "--version", "3"])
        assert out.exit_code == 0 and f"listed onnx into {tmp_path / 'l.txt'}" in out.output
        assert (tmp_path / "l.txt").read_text().splitlines() == ["model.onnx", "version 3"]
        assert "--listing-test DEST" in CliRunner().invoke(cli, ["export", "--help"]).output
        out = CliRunner().invoke(cli, ["export", str(path), "--tf-only-test", str(tmp_path / "x")])
        assert out.exit_code == 1 and "--tf-only-test takes artifacts of the tf backend" in out.output
        out = CliRunner().invoke(cli, ["export", str(path)])
        assert out.exit_code == 2 and "give exactly one export format" in out.output and "--listing-test" in out.output
    finally:
        plugins.unregister("export-test")
        plugins.unregister("export-clash-test")


def test_plugin_commands_that_clash_are_reported_and_the_first_kept():
    import click

    def plugin(text, names):
        class Plugin:
            @neuronkit.hookimpl
            def neuronkit_register_commands(self, cli):
                for name in names:
                    cli.add_command(click.Command(name, callback=lambda: print(text)))
        return Plugin()

    group = click.Group(commands={"compile": click.Command("compile", callback=lambda: print("core compile"))})
    plugins.register(plugin("first", ["hello-test"]), name="first-commands")
    plugins.register(plugin("second", ["hello-test", "compile", "bye-test"]), name="second-commands")
    try:
        with pytest.warns(RuntimeWarning) as warned:
            plugins.register_commands(group)
        assert CliRunner().invoke(group, ["hello-test"]).output == "first\n"
        assert CliRunner().invoke(group, ["compile"]).output == "core compile\n"
        assert CliRunner().invoke(group, ["bye-test"]).output == "second\n"   # its other commands are kept
        messages = [str(w.message) for w in warned]
        assert any("'second-commands'" in m and "'hello-test' clashes with the one from" in m for m in messages)
        assert any("'compile' clashes with the one from neuronkit" in m for m in messages)
    finally:
        plugins.unregister("first-commands")
        plugins.unregister("second-commands")


def test_unknown_framework_lists_backends_and_how_to_add_one():
    with pytest.raises(BackendNotFound, match=r"no backend called 'caffe'.*Installed backends: .*onnx.*"
                                              r"pip install \"neuronkit\[torch\]\".*'neuronkit' entry point"):
        neuronkit.compile(object(), framework="caffe")


def test_model_no_backend_claims():
    with pytest.raises(BackendNotFound, match=r"no backend recognises a builtins.object; pass framework="):
        neuronkit.compile(object())


def test_missing_framework_says_what_to_install(numpy_backend, weights, monkeypatch):
    spec = plugins.find_backend("numpy-test")
    monkeypatch.setitem(plugins.get_backends(), "numpy-test",
                        type(spec)(**{**spec.__dict__, "requires": ("no_such_framework_xyz",),
                                      "install_hint": "pip install no-such-framework"}))
    with pytest.raises(BackendUnavailable, match="needs no_such_framework_xyz.*pip install no-such-framework"):
        neuronkit.compile(weights, "numpy-test")


def test_two_plugins_claiming_one_name_is_an_error_naming_both(numpy_backend):
    from conftest import NumpyPlugin

    plugins.register(NumpyPlugin(), name="impostor")
    try:
        with pytest.raises(PluginError, match=r"two plugins claim the backend name 'numpy-test'.*"
                                              r"\(registered in process\).*\(registered in process\)"):
            plugins.get_backends()
    finally:
        plugins.unregister("impostor")


def test_broken_plugins_are_reported_and_skipped(fresh_plugins, monkeypatch):
    fake = [EntryPoint("ghost", "no_such_module_for_neuronkit", "neuronkit"),
            EntryPoint("onnx", "neuronkit_onnx", "neuronkit"),
            EntryPoint("onnx", "neuronkit_onnx", "neuronkit")]
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: _Selectable(fake))
    with pytest.warns(RuntimeWarning) as warned:
        backends = neuronkit.get_backends()
    messages = [str(w.message) for w in warned]
    assert any("'ghost'" in m and "skipped: ModuleNotFoundError" in m for m in messages)
    assert any("'onnx'" in m and "already taken by another plugin" in m for m in messages)
    assert "onnx" in backends  # the good plugin still works
    rows = {r["name"]: r for r in plugins.plugins()}
    assert "ModuleNotFoundError" in rows["ghost"]["error"]
    assert any("already taken" in r["error"] for r in rows.values())


def test_a_hook_that_raises_is_skipped(numpy_backend):
    class Broken:
        @neuronkit.hookimpl
        def neuronkit_backends(self):
            raise RuntimeError("boom")

    plugins.register(Broken(), name="broken-hook")
    try:
        with pytest.warns(RuntimeWarning, match="'broken-hook'.*RuntimeError: boom"):
            assert "numpy-test" in neuronkit.get_backends()
    finally:
        plugins.unregister("broken-hook")


class _Selectable(list):
    def select(self, group):
        return [ep for ep in self if ep.group == group]


@pytest.mark.parametrize("var, value, expect_onnx", [
    ("NEURONKIT_LOAD_PLUGINS", "", False),
    ("NEURONKIT_LOAD_PLUGINS", "onnx", True),
    ("NEURONKIT_LOAD_PLUGINS", "neuronkit", True),  # a distribution name works too
    ("NEURONKIT_DISABLE_PLUGINS", "onnx", False),
])
def test_environment_switches(fresh_plugins, monkeypatch, var, value, expect_onnx):
    monkeypatch.setenv(var, value)
    assert ("onnx" in neuronkit.get_backends()) is expect_onnx


@pytest.mark.slow
def test_third_party_plugin_installed_with_pip_is_found_through_its_entry_point(tmp_path, fresh_plugins):
    source = tmp_path / "neuronkit-demo"
    shutil.copytree(REPO / "examples" / "plugins" / "neuronkit-demo", source)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(pip + ["install", "--no-deps", "--quiet", str(source)], check=True)
    try:
        plugins.reset()
        weights = np.arange(6, dtype=np.float32).reshape(3, 2)
        art = neuronkit.compile(weights, framework="demo")
        assert art.manifest.plugin == "neuronkit-demo" and art.manifest.backend.version == "0.1.0"
        with neuronkit.load(art.save(tmp_path / "demo.nk")) as rt:
            np.testing.assert_array_equal(rt(np.ones((2, 3), np.float32)), np.ones((2, 3)) @ weights)
        # the core's ONNX Runtime engine, had for free by exporting ONNX: loaded with the core's replica
        art = neuronkit.compile(weights, framework="demo", engine="onnxruntime")
        assert art.manifest.engine == "onnxruntime" and art.manifest.compiler.name == "onnxruntime"
        with neuronkit.load(art) as rt:
            assert type(rt.replicas[0]).__module__ == "neuronkit.engines.onnxruntime"
            np.testing.assert_allclose(rt(np.ones((5, 3), np.float32)), np.ones((5, 3)) @ weights, rtol=1e-6)
        rows = {r["name"]: r for r in plugins.plugins()}
        assert rows["demo"]["hooks"] == ["neuronkit_backends", "neuronkit_claim_model", "neuronkit_register_commands"]
        done = subprocess.run([sys.executable, "-m", "neuronkit.cli", "demo-info"], capture_output=True, text=True)
        assert "neuronkit-demo: y = x @ W" in done.stdout, done.stderr
    finally:
        subprocess.run(pip + ["uninstall", "--yes", "--quiet", "neuronkit-demo"], check=True)


@pytest.mark.parametrize("error, raised", [(RuntimeError("trace failed"), neuronkit.CompileError),
                                           (KeyboardInterrupt(), KeyboardInterrupt)])
def test_a_failing_compile_leaves_no_work_directory(numpy_backend, weights, monkeypatch, tmp_path, error, raised):
    import tempfile

    from conftest import NumpyCompiler

    def fail(self, model, request):
        (request.workdir / "half-written.bin").write_bytes(b"x")
        raise error

    monkeypatch.setattr(NumpyCompiler, "compile", fail)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(raised) as err:
        neuronkit.compile(weights, numpy_backend)
    if raised is neuronkit.CompileError:
        assert "numpy-test backend failed to compile the model: RuntimeError: trace failed" in str(err.value)
    assert list(tmp_path.iterdir()) == []
