import os
import stat

import numpy as np
import pytest

import neuronkit
from neuronkit import CoreSpecError, IncompatibleArtifact
from neuronkit.cores import CoreGroup, neuron_runtime_env, plan_groups
from neuronkit.targets import NCV1, NCV2, Host, NeuronDevice, discover, get_target, parse_core_list

INF1 = get_target("inf1")
CPU = get_target("cpu")


def inf1_host(chips=4, visible=None):
    return Host(cpus=8, devices=tuple(NeuronDevice(i, 4, NCV1, "test") for i in range(chips)), visible_cores=visible)


def starts(groups):
    return [g.cores for g in groups]


@pytest.mark.parametrize("spec, group_size, expected", [
    (None, 1, [(i,) for i in range(16)]),
    ("0-3", 1, [(0,), (1,), (2,), (3,)]),
    ("0-3", 2, [(0, 1), (2, 3)]),
    ("4,5,6,7", None, [(4,), (5,), (6,), (7,)]),
    ("3-5,6", 2, [(3, 4), (5, 6)]),
    (2, None, [(0,), (1,)]),
    ([8, 9], 2, [(8, 9)]),
    ([[0, 1], [2, 3, 4]], None, [(0, 1), (2, 3, 4)]),
])
def test_core_specs_become_groups(spec, group_size, expected):
    assert starts(plan_groups(INF1, inf1_host(), spec, group_size)) == expected


def test_pipelined_model_takes_groups_of_its_pipeline_size():
    assert starts(plan_groups(INF1, inf1_host(), "0-7", pipeline_cores=4)) == [(0, 1, 2, 3), (4, 5, 6, 7)]
    with pytest.raises(CoreSpecError, match="pipelined over 4"):
        plan_groups(INF1, inf1_host(), "0-3", group_size=2, pipeline_cores=4)


@pytest.mark.parametrize("spec, message", [
    ("0-3x", "malformed"),
    ("3-1", "runs backwards"),
    ("0,2", "not contiguous"),
    ([3, 1], "not contiguous"),
    ([[0, 1], [3, 4]], "not contiguous"),
    (0, "at least 1"),
    ([], "empty"),
    (True, "not a core spec"),
])
def test_bad_core_specs_say_what_is_wrong(spec, message):
    with pytest.raises(CoreSpecError, match=message):
        plan_groups(INF1, inf1_host(), spec)


def test_too_many_cores_names_what_exists():
    with pytest.raises(CoreSpecError, match=r"asked for cores 0-19, but this process has 16 NeuronCores \(0-15\)"):
        plan_groups(INF1, inf1_host(), 20)
    with pytest.raises(CoreSpecError, match="cannot be split into groups of 2"):
        plan_groups(INF1, inf1_host(), "0-2", group_size=2)


def test_cpu_groups_are_thread_budgets():
    host = Host(cpus=2)
    assert starts(plan_groups(CPU, host)) == [(0, 1)]  # default: one replica with every thread
    assert starts(plan_groups(CPU, host, 2, group_size=1)) == [(0,), (1,)]
    with pytest.raises(CoreSpecError, match="this process has 2 CPUs"):
        plan_groups(CPU, host, 3)


def test_runtime_environment_for_each_runtime_generation():
    host = inf1_host()
    groups = [CoreGroup((4, 5)), CoreGroup((6, 7))]
    assert neuron_runtime_env(groups, host, "4-7") == {"NEURON_RT_VISIBLE_CORES": "4-7"}
    assert neuron_runtime_env([CoreGroup((0,)), CoreGroup((1,))], host, 2) == {"NEURON_RT_NUM_CORES": "2"}
    assert neuron_runtime_env(groups, host, None) == {}  # the process takes every core
    assert neuron_runtime_env(groups, host, "4-7", legacy=True) == {"NEURONCORE_GROUP_SIZES": "2,2"}
    # Set by the user already: indices are relative to it and nothing changes.
    assert neuron_runtime_env(groups, inf1_host(visible=(8, 9, 10, 11)), "0-1") == {}


def test_user_visible_cores_limit_what_a_spec_may_ask(clean_neuron_env, fake_neuron_host):
    fake_neuron_host()
    clean_neuron_env.setenv("NEURON_RT_VISIBLE_CORES", "4-5")
    host = discover()
    assert host.neuron_cores == 2
    with pytest.raises(CoreSpecError, match="NEURON_RT_VISIBLE_CORES=4-5"):
        plan_groups(INF1, host, "0-3")


def test_parse_core_list_reads_neuron_rt_visible_cores_syntax():
    assert parse_core_list("0") == (0,)
    assert parse_core_list("3-5,6") == (3, 4, 5, 6)
    with pytest.raises(CoreSpecError, match="contiguous"):
        parse_core_list("3,5,6")


@pytest.mark.parametrize("devices, per_device, arch, kind, total", [(1, 4, "NCv1", NCV1, 4), (4, 4, "NCv1", NCV1, 16),
                                                                    (6, 2, "NCv2", NCV2, 12)])
def test_discovery_reads_dev_and_sysfs(fake_neuron_host, devices, per_device, arch, kind, total):
    fake_neuron_host(devices, per_device, arch)
    host = discover()
    assert host.core_kind == kind and host.neuron_cores == total and len(host.devices) == devices
    assert host.instance_type == "inf1.6xlarge"


def test_discovery_without_sysfs_assumes_inferentia(tmp_path, clean_neuron_env):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "neuron0").touch()
    host = discover(str(tmp_path))
    assert host.neuron_cores == 4 and host.core_kind == NCV1 and "assumed" in host.devices[0].source


def test_discovery_prefers_neuron_ls_json(tmp_path, clean_neuron_env, monkeypatch):
    tool = tmp_path / "bin" / "neuron-ls"
    tool.parent.mkdir()
    tool.write_text('#!/bin/sh\n[ "$1" = "-j" ] || exit 2\necho \'[{"neuron_device": 0, "nc_count": 2, '
                    '"memory_size": 34359738368}, {"neuron_device": 1, "nc_count": 2}]\'\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("NEURONKIT_SYSROOT", raising=False)
    host = discover()
    assert [(d.index, d.cores, d.core_kind, d.source) for d in host.devices] == [
        (0, 2, NCV2, "neuron-ls"), (1, 2, NCV2, "neuron-ls")]


def test_plain_host_has_no_neuron_cores(clean_neuron_env, tmp_path):
    host = discover(str(tmp_path))
    assert host.devices == () and host.cpus >= 1
    with pytest.raises(IncompatibleArtifact, match="inf1 needs NeuronCore-v1.*no Neuron devices.*target='cpu'"):
        host.cores_for(INF1)


def test_loading_a_neuron_artifact_on_the_wrong_host_names_both(numpy_backend, weights, fake_neuron_host):
    art = neuronkit.compile(weights, numpy_backend, target="inf2")
    fake_neuron_host(4, 4, "NCv1")
    wrong_host = r"inf2 needs NeuronCore-v2.*4 Neuron device\(s\) with NeuronCore-v1"
    with pytest.raises(IncompatibleArtifact, match=wrong_host):
        neuronkit.load(art)


def test_load_sets_the_runtime_environment_before_replicas_start(numpy_backend, weights, fake_neuron_host):
    fake_neuron_host()
    art = neuronkit.compile(weights, numpy_backend, target="inf1")
    with neuronkit.load(art, cores="4-7", group_size=2) as rt:
        assert os.environ["NEURON_RT_VISIBLE_CORES"] == "4-7"
        assert [str(g) for g in rt.groups] == ["4-5", "6-7"]
        assert [g.local_start for g in rt.groups] == [0, 2]  # what the replicas pass to the runtime
        np.testing.assert_allclose(rt(np.ones((3, 4), np.float32)), np.ones((3, 4)) @ weights, rtol=1e-6)
    with pytest.raises(CoreSpecError, match="has 4 NeuronCores.*NEURON_RT_VISIBLE_CORES=4-7.*new process"):
        neuronkit.load(art, cores="8-11")
    with neuronkit.load(art, cores="0-3", group_size=2) as rt:  # the same cores, numbered as the process sees them
        assert [g.local_start for g in rt.groups] == [0, 2]


def test_changing_a_variable_an_earlier_load_set_is_refused(clean_neuron_env):
    from neuronkit.cores import apply_env

    apply_env({"NEURON_RT_NUM_CORES": "2"})
    apply_env({"NEURON_RT_NUM_CORES": "2"})
    with pytest.raises(CoreSpecError, match="already runs on NEURON_RT_NUM_CORES=2.*new process"):
        apply_env({"NEURON_RT_NUM_CORES": "4"})


def test_trn2_counts_logical_cores_and_inf2_48xlarge_its_chips(fake_neuron_host, clean_neuron_env, tmp_path):
    """trn2-arch.rst: a trn2.48xlarge shows 64 cores at LNC=2 (the default), 128 at LNC=1."""
    from neuronkit.targets import NCV3, discover
    from neuronkit.testing import make_fake_host

    fake_neuron_host(16, 8, "NCv3", "trn2.48xlarge")
    host = discover()
    assert host.core_kind == NCV3 and host.neuron_cores == 64 and host.instance_type == "trn2.48xlarge"
    clean_neuron_env.setenv("NEURON_LOGICAL_NC_CONFIG", "1")
    assert discover().neuron_cores == 128
    inf2 = make_fake_host(tmp_path / "inf2", 12, 2, "NCv2", "inf2.48xlarge")
    assert discover(str(inf2)).neuron_cores == 24  # LNC does not apply to NeuronCore-v2


def test_neuron_ls_json_output_format_first_then_the_older_flag(tmp_path, monkeypatch):
    """neuron-ls's announced --output-format json is tried first, then -j; its logical fields are read."""
    script = tmp_path / "neuron-ls"
    script.write_text('#!/bin/sh\n[ "$1" = "-j" ] || exit 2\n'
                      'echo \'[{"neuron_device": 0, "nc_count": 4, "logical_neuroncore_config": 2, '
                      '"neuroncore_ids": [0, 1, 2, 3]}, {"neuron_device": 1, "nc_count": 4}]\'\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    from neuronkit.targets import NCV1, NCV3, _from_neuron_ls

    trn2, inf1 = _from_neuron_ls()
    assert (trn2.core_kind, trn2.cores, trn2.logical_cores) == (NCV3, 8, 4)
    assert (inf1.core_kind, inf1.logical_cores) == (NCV1, 4)


def test_the_instance_type_tells_trn3_chips_from_trn2_ones_where_neuron_ls_cannot():
    """neuron-ls prints no core generation: 8 cores at LNC=2 could be trn2 or trn3; the instance type
    (sysfs info/architecture/instance_type) says which."""
    from neuronkit.targets import NCV2, NCV3, NCV4, NeuronDevice, _of_instance, core_kind_of_instance

    assert [core_kind_of_instance(t) for t in ("trn1n.32xlarge", "trn2u.48xlarge", "trn3.anything", "inf2.xlarge",
                                               "m7i.large", "")] == [NCV2, NCV3, NCV4, NCV2, None, None]
    listed = (NeuronDevice(0, 8, NCV3, "neuron-ls", 2), NeuronDevice(1, 8, NCV3, "sysfs", 2))
    assert [d.core_kind for d in _of_instance(listed, "trn3.foo")] == [NCV4, NCV3]  # sysfs' arch_type stands
    assert _of_instance(listed, "") == listed


def test_an_arch_type_not_known_here_takes_the_instance_types_generation(tmp_path, clean_neuron_env):
    from neuronkit.targets import NCV4
    from neuronkit.testing import make_fake_host

    host = discover(str(make_fake_host(tmp_path, 2, 8, "Trainium3-something", "trn3.example")))
    assert host.core_kind == NCV4 and host.neuron_cores == 8  # LNC=2 by default: 4 logical cores per chip
