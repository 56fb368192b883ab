"""neuronkit doctor: checks, what each problem says to do, exit codes and JSON, on faked machines and this one."""

import json
import os
import subprocess
import sys
import types
from dataclasses import replace

import pytest
from click.testing import CliRunner

import neuronkit
from neuronkit import Artifact, Component
from neuronkit.cli import cli
from neuronkit.doctor import AS_OF, SUPPORT, cpu_precisions, diagnose, sdk_for
from neuronkit.neuron import NEURON_REPOSITORY
from neuronkit.targets import cpu_features, discover


def run(*args):
    return CliRunner().invoke(cli, ["doctor", *[str(a) for a in args]])


def by_name(report, section=None):
    return {c.name: c for c in report.checks if section in (None, c.section)}


@pytest.fixture
def real_host(clean_neuron_env):
    """This machine as it is: no faked root, no Neuron variables."""
    clean_neuron_env.delenv("NEURONKIT_SYSROOT", raising=False)
    return clean_neuron_env


@pytest.fixture
def inf1(fake_neuron_host):
    return fake_neuron_host()   # inf1.6xlarge: 4 chips, 16 NeuronCore-v1


def fake_cpu(root, flags):
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "proc/cpuinfo").write_text(f"processor\t: 0\nmodel name\t: Fake CPU\nflags\t\t: {' '.join(flags)}\n")


# -- this machine


def test_this_machine_has_no_neuron_device_or_sdk_and_says_what_the_cpu_target_does(real_host):
    if discover().devices:
        pytest.skip("this test describes a machine without Neuron devices")
    report = diagnose()
    checks = by_name(report)
    assert checks["neuron devices"].detail.startswith("no Neuron device")
    assert checks["neuron-sdk"].detail.startswith("no Neuron SDK package is installed")
    assert "sdk for these devices" not in checks    # nothing to warn about without devices
    features = cpu_features()
    for precision, (status, how) in cpu_precisions(features).items():
        assert checks[f"cpu target {precision}"].status == status
        assert checks[f"cpu target {precision}"].detail.startswith(how)
    assert checks["instruction sets"].data["flags"] == [f for f in checks["instruction sets"].data["flags"]
                                                        if f in features]
    past = checks["support status"].detail
    assert past.startswith(f"as of {AS_OF}: past end of support: torch-neuron, tensorflow-neuron, tensorflow-neuronx")
    assert "neuronx-cc" in past.split("supported: ")[-1]
    assert checks["backend onnx"].status == "ok" and report.ok
    out = run()
    assert out.exit_code == 0, out.output
    assert "no Neuron device" in out.output and "0 problem(s)" in out.output


def test_on_x86_without_bf16_or_vnni_bf16_is_emulated_and_int8_uses_reduce_range(clean_neuron_env, tmp_path):
    fake_cpu(tmp_path, ["sse2", "avx", "avx2", "fma"])
    clean_neuron_env.setenv("NEURONKIT_SYSROOT", str(tmp_path))
    checks = by_name(diagnose(), "cpu")
    assert checks["instruction sets"].data["model"] == "Fake CPU"
    assert checks["cpu target fp32"].status == "ok"
    assert checks["cpu target bf16"].status == "warn" and "emulated" in checks["cpu target bf16"].detail
    assert "fp32" in checks["cpu target bf16"].fix
    assert checks["cpu target int8"].status == "warn" and "reduce_range" in checks["cpu target int8"].detail
    fake_cpu(tmp_path, ["sse2", "avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_int8"])
    checks = by_name(diagnose(), "cpu")
    assert checks["cpu target bf16"].status == "ok" and "amx_bf16" in checks["cpu target bf16"].detail
    assert checks["cpu target int8"].status == "ok" and "avx512_vnni" in checks["cpu target int8"].detail


# -- devices


def test_a_faked_inf1_machine_versus_one_without_devices(inf1, clean_neuron_env, tmp_path):
    checks = by_name(diagnose())
    devices = checks["neuron devices"]
    assert devices.status == "ok" and devices.data["neuron_cores"] == 16 and len(devices.data["devices"]) == 4
    assert "NeuronCore-v1" in devices.detail and "inf1.6xlarge" in devices.detail
    assert checks["sdk for these devices"].status == "warn" and "torch-neuron" in checks["sdk for these devices"].fix
    (tmp_path / "bare").mkdir()
    clean_neuron_env.setenv("NEURONKIT_SYSROOT", str(tmp_path / "bare"))
    checks = by_name(diagnose())
    assert checks["neuron devices"].detail.startswith("no Neuron device") and "neuron driver" not in checks
    assert checks["neuron devices"].data["neuron_cores"] == 0


def test_a_driver_above_2_24_on_inf1_is_a_problem(inf1):
    (inf1 / "sys/module/neuron").mkdir(parents=True)
    (inf1 / "sys/module/neuron/version").write_text("2.25.4.0\n")
    driver = by_name(diagnose())["neuron driver"]
    assert driver.status == "problem" and "2.24.*" in driver.fix
    (inf1 / "sys/module/neuron/version").write_text("2.24.7.0\n")
    assert by_name(diagnose())["neuron driver"].status == "ok"


def test_neuron_ls_names_the_processes_holding_cores_and_the_runtime_version(real_host, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    process = {"pid": 4242, "command": "python serve.py", "neuron_runtime_version": "2.21.41.0"}
    listing = [{"neuron_device": 0, "nc_count": 2, "neuroncore_ids": [0, 1], "memory_size": 34359738368,
                "neuron_processes": [process]}]
    script = bin_dir / "neuron-ls"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(listing)}\nEOF\n")
    script.chmod(0o755)
    real_host.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    checks = by_name(diagnose())
    assert "neuron-ls" in checks["neuron devices"].detail and checks["neuron devices"].data["neuron_cores"] == 2
    busy = checks["neuroncores in use"]
    assert busy.status == "warn" and "pid 4242 (python serve.py) holds neuron0" in busy.detail
    assert checks["neuron runtime"].data["versions"] == ["2.21.41.0"]


# -- Neuron SDK packages


def test_a_pypi_placeholder_is_reported_as_such_with_the_command_that_fixes_it(real_host, tmp_path):
    (tmp_path / "torch_neuron.py").write_text(
        'raise ImportError("WRONG PACKAGE. Please install the package from Neuron Repository - '
        'pip.repos.neuron.amazonaws.com")\n')
    real_host.syspath_prepend(str(tmp_path))
    report = diagnose()
    check = by_name(report, "neuron-sdk")["torch-neuron"]
    assert check.status == "problem" and "PyPI placeholder" in check.detail
    assert check.fix.startswith(f"pip uninstall -y torch-neuron && pip install torch-neuron "
                                f"--extra-index-url={NEURON_REPOSITORY}")
    assert "torch_neuron" not in sys.modules
    assert any(line.startswith("torch-neuron: ") and "pip uninstall" in line for line in report.fix_lines())
    out = run()
    assert out.exit_code == 1
    assert "problem torch-neuron:" in out.output and "1 problem(s)" in out.output


def test_an_installed_sdk_is_never_imported_and_its_support_status_is_warned(real_host, tmp_path):
    (tmp_path / "neuronperf.py").write_text('raise RuntimeError("doctor imported a real SDK module")\n')
    real_host.syspath_prepend(str(tmp_path))
    report = diagnose()
    assert by_name(report, "neuron-sdk")["neuronperf"].status == "ok"
    support = by_name(report, "support")["neuronperf"]
    assert support.status == "warn" and support.detail.startswith(f"archived as of {AS_OF}")
    assert "installed here" in support.detail and "neuronkit bench" in support.fix
    assert support.data["source"] == "aws-neuron-sdk archive/index.rst"  # a public document users can read


def test_a_simulated_sdk_and_the_two_lines_of_torch_neuronx(real_host):
    sim = types.ModuleType("torch_neuronx")
    sim.SIMULATED, sim.__version__ = True, "2.9.0.2.15.32035"
    real_host.setitem(sys.modules, "torch_neuronx", sim)
    checks = diagnose().checks
    sdk = next(c for c in checks if c.section == "neuron-sdk" and c.name == "torch-neuronx")
    support = next(c for c in checks if c.section == "support" and c.name == "torch-neuronx")
    assert sdk.status == "warn" and "SIMULATED" in sdk.detail
    assert support.status == "warn" and support.data["status"] == "maintenance"
    sim.__version__ = "2.14.3.0"
    support = next(c for c in diagnose().checks if c.section == "support" and c.name == "torch-neuronx")
    assert support.data["status"] == "beta" and "trn2/trn3 only" in support.detail


def test_a_ready_backend_is_warned_about_the_unsupported_sdks_it_calls(real_host):
    real_host.setitem(sys.modules, "mxnet", types.ModuleType("mxnet"))   # makes the mxnet backend "ready"
    check = by_name(diagnose(), "support")["backend mxnet"]
    assert check.status == "warn"
    assert check.data["depends_on"] == ["mx_neuron", "mxnet_neuron", "mxnet"]
    assert "inf1 uses mx_neuron: archived" in check.detail and "ONNX" in check.fix


def test_the_support_table_has_a_status_release_and_source_for_every_package():
    assert {"torch-neuron", "tensorflow-neuron", "tensorflow-neuronx", "mx_neuron", "torch-neuronx", "neuronx-cc",
            "mxnet"} <= set(SUPPORT)
    for row in SUPPORT.values():
        assert row.status and row.as_of and row.source and row.detail
        assert row.supported or row.instead, row.package
    assert SUPPORT["tensorflow-neuronx"].status == "end of support" and "2.29" in SUPPORT["tensorflow-neuronx"].detail
    assert SUPPORT["mxnet"].status == "retired" and SUPPORT["mxnet"].kind == "framework"
    assert [r.package for r in sdk_for("torch", "inf1")] == ["torch-neuron"]
    assert [r.package for r in sdk_for("tf", "inf2")] == ["tensorflow-neuronx"]
    assert [r.package for r in sdk_for("mxnet", "inf1", "mxnet.contrib.neuron")] == ["mxnet_neuron"]


# -- runtime and thread variables


def test_both_runtime_generations_set_is_a_problem_that_says_what_to_unset(inf1, clean_neuron_env):
    clean_neuron_env.setenv("NEURONCORE_GROUP_SIZES", "2,2")
    clean_neuron_env.setenv("NEURON_RT_VISIBLE_CORES", "0-3")
    check = by_name(diagnose(), "environment")["runtime generations"]
    assert check.status == "problem" and "both set" in check.detail
    assert check.fix.startswith("unset NEURONCORE_GROUP_SIZES")
    clean_neuron_env.delenv("NEURON_RT_VISIBLE_CORES")
    check = by_name(diagnose(), "environment")["runtime generations"]
    assert check.status == "warn" and "runtime 1.x" in check.detail


def test_visible_cores_that_do_not_exist_or_are_malformed(inf1, clean_neuron_env):
    clean_neuron_env.setenv("NEURON_RT_VISIBLE_CORES", "8-31")
    check = by_name(diagnose(), "environment")["NEURON_RT_VISIBLE_CORES"]
    assert check.status == "problem" and "names cores 8-31, but this host has 16 NeuronCores (0-15)" in check.detail
    assert "0-15" in check.fix
    clean_neuron_env.setenv("NEURON_RT_VISIBLE_CORES", "3,5")
    report = diagnose()
    check = by_name(report, "environment")["NEURON_RT_VISIBLE_CORES"]
    assert check.status == "problem" and "contiguous" in check.detail
    assert by_name(report)["neuron devices"].data["neuron_cores"] == 16   # devices found all the same
    assert os.environ["NEURON_RT_VISIBLE_CORES"] == "3,5"                 # and the variable left as it was
    clean_neuron_env.setenv("NEURON_RT_VISIBLE_CORES", "4-7")
    assert by_name(diagnose(), "environment")["NEURON_RT_VISIBLE_CORES"].status == "ok"


def test_core_counts_beyond_the_host(inf1, clean_neuron_env):
    clean_neuron_env.setenv("NEURON_RT_NUM_CORES", "64")
    assert by_name(diagnose(), "environment")["NEURON_RT_NUM_CORES"].status == "problem"
    clean_neuron_env.delenv("NEURON_RT_NUM_CORES")
    clean_neuron_env.setenv("NEURONCORE_GROUP_SIZES", "8x4")
    check = by_name(diagnose(), "environment")["NEURONCORE_GROUP_SIZES"]
    assert check.status == "problem" and "needs 32 NeuronCores; this host has 16" in check.detail


def test_threads_times_replicas_beyond_the_cpus_is_a_warning(inf1, clean_neuron_env):
    cpus = discover().cpus
    clean_neuron_env.setenv("OMP_NUM_THREADS", str(cpus))
    report = diagnose()
    check = by_name(report, "environment")["OMP_NUM_THREADS"]
    assert check.status == "warn" and "x 16 replica(s)" in check.detail and "oversubscribed" in check.detail
    assert report.ok   # warnings do not fail
    clean_neuron_env.setenv("NEURON_RT_VISIBLE_CORES", "0")
    assert by_name(diagnose(), "environment")["OMP_NUM_THREADS"].status == "ok"


def test_user_text_is_printed_as_is_never_as_markup(inf1, clean_neuron_env):
    clean_neuron_env.setenv("NEURON_RT_VISIBLE_CORES", "[red]x[/red]")
    out = run()
    assert out.exit_code == 1
    assert "NEURON_RT_VISIBLE_CORES='[red]x[/red]'" in out.output.replace("\n", "")


# -- an artifact


@pytest.fixture
def inf1_artifact(numpy_backend, weights, tmp_path):
    path = tmp_path / "w-inf1.nk"
    neuronkit.compile(weights, numpy_backend, target="inf1").save(path)
    return path


def test_an_artifact_whose_target_this_host_cannot_run(inf1_artifact, clean_neuron_env, tmp_path):
    (tmp_path / "bare").mkdir()
    clean_neuron_env.setenv("NEURONKIT_SYSROOT", str(tmp_path / "bare"))
    report = diagnose(inf1_artifact)
    target = by_name(report, "artifact")["target"]
    assert target.status == "problem" and "target inf1 needs NeuronCore-v1" in target.detail
    assert "target='cpu'" in target.fix
    out = run(inf1_artifact)
    assert out.exit_code == 1 and "problem target:" in out.output


def test_the_same_artifact_on_a_faked_inf1_machine(inf1_artifact, inf1):
    report = diagnose(inf1_artifact)
    checks = by_name(report, "artifact")
    assert checks["target"].status == "ok" and "inf1 runs here on 16 NeuronCores" in checks["target"].detail
    assert checks["backend"].status == "ok" and report.ok
    assert run(inf1_artifact).exit_code == 0


def test_an_artifact_on_an_unsupported_sdk_needs_it_and_is_warned_about(inf1_artifact, inf1):
    art = neuronkit.open_artifact(inf1_artifact)
    tf_art = Artifact(art.root, replace(art.manifest, backend=Component("tf", "0.1.0"),
                                        load={**art.manifest.load, "sdk": "tensorflow_neuron"}))
    checks = by_name(diagnose(tf_art), "artifact")
    assert checks["backend"].status == "problem" and "tensorflow" in checks["backend"].detail
    assert checks["neuron sdk"].status == "problem" and "tensorflow-neuron" in checks["neuron sdk"].detail
    assert f"--extra-index-url={NEURON_REPOSITORY}" in checks["neuron sdk"].fix
    support = checks["support of tensorflow-neuron"]
    assert support.status == "warn" and f"end of support as of {AS_OF}" in support.detail


def test_a_cpu_artifact_runs_here_and_its_precision_is_checked_against_the_cpu(artifact, clean_neuron_env, tmp_path):
    checks = by_name(diagnose(artifact), "artifact")
    assert checks["target"].status == "ok" and checks["engine"].status == "ok"
    fake_cpu(tmp_path, ["sse2", "avx2"])
    clean_neuron_env.setenv("NEURONKIT_SYSROOT", str(tmp_path))
    bf16 = Artifact(artifact.root, replace(artifact.manifest, precision="bf16"))
    check = by_name(diagnose(bf16), "artifact")["precision"]
    assert check.status == "warn" and "emulated" in check.detail


def test_a_path_that_is_no_artifact_is_a_problem(tmp_path, real_host):
    out = run(tmp_path / "missing.nk")
    assert out.exit_code == 1 and "problem artifact:" in out.output


# -- output


def test_json_has_every_check_and_one_fix_line_per_problem(inf1, clean_neuron_env):
    clean_neuron_env.setenv("NEURON_RT_VISIBLE_CORES", "0-63")
    out = run("--json")
    assert out.exit_code == 1
    data = json.loads(out.output)
    assert set(data) == {"neuronkit", "support_as_of", "ok", "problems", "warnings", "checks", "fix"}
    assert data["ok"] is False and data["support_as_of"] == AS_OF and data["neuronkit"] == neuronkit.__version__
    sections = {c["section"] for c in data["checks"]}
    assert {"python", "plugins", "frameworks", "neuron-sdk", "support", "devices", "environment", "cpu"} <= sections
    for check in data["checks"]:
        assert set(check) == {"section", "name", "status", "detail", "fix", "data"}
        assert check["status"] in ("ok", "warn", "problem")
        assert check["fix"] or check["status"] != "problem"
    problems = [c for c in data["checks"] if c["status"] == "problem"]
    assert data["problems"] == len(problems) == len(data["fix"]) >= 1
    json.dumps(data)   # all of it serialisable


def test_doctor_imports_no_framework():
    code = ("import sys; from neuronkit.doctor import diagnose; diagnose(); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'mxnet', 'onnx', 'onnxruntime', 'openvino') "
            "if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "NEURONKIT_SYSROOT"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
