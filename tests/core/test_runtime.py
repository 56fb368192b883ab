import threading

import numpy as np
import pytest
from conftest import NumpyReplica

import neuronkit
from neuronkit import InputError, NeuronkitError


@pytest.fixture
def fixed4(numpy_backend, weights):
    """An artifact compiled for a fixed batch of 4 that accepts other batches."""
    return neuronkit.compile(weights, numpy_backend, batch_size=4, dynamic_batch=True)


def test_other_batches_are_split_and_padded_to_the_compiled_batch(fixed4, weights):
    x = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    with neuronkit.load(fixed4, cores=2, group_size=1) as rt:
        y = rt(x)
    np.testing.assert_allclose(y, x @ weights, rtol=1e-6)
    assert sorted(batch for _, batch in NumpyReplica.calls) == [4, 4, 4]  # 10 rows: 4 + 4 + (2 padded to 4)
    assert {group for group, _ in NumpyReplica.calls} == {"0", "1"}       # the chunks ran on both replicas


def test_a_small_batch_is_padded(fixed4, weights):
    x = np.ones((1, 4), np.float32)
    with neuronkit.load(fixed4) as rt:
        np.testing.assert_allclose(rt(x), x @ weights, rtol=1e-6)
    assert NumpyReplica.calls == [("0-1", 4)]


def test_fixed_batch_without_dynamic_batch_is_a_clear_error(numpy_backend, weights):
    art = neuronkit.compile(weights, numpy_backend, batch_size=4, dynamic_batch=False)
    with neuronkit.load(art) as rt, pytest.raises(InputError, match=r"x: float32\[4, 4\].*without dynamic batch"):
        rt(np.ones((3, 4), np.float32))
    assert NumpyReplica.calls == []  # rejected before any backend code ran


def test_inputs_by_position_name_or_alone(numpy_backend, weights):
    art = neuronkit.compile(weights, numpy_backend)
    x = np.ones((2, 4), np.float32)
    with neuronkit.load(art) as rt:
        for form in (x, [x], (x,), {"x": x}):
            np.testing.assert_allclose(rt.predict(form), x @ weights, rtol=1e-6)
        with pytest.raises(InputError, match=r"do not match the model's \['x'\]"):
            rt({"image": x})
        with pytest.raises(InputError, match="got 2 input"):
            rt((x, x))
        with pytest.raises(InputError, match="rank 1"):
            rt(np.ones(4, np.float32))
        with pytest.raises(InputError, match="empty batch"):
            rt(np.ones((0, 4), np.float32))


def test_least_busy_replica_takes_the_next_call(numpy_backend, weights):
    art = neuronkit.compile(weights, numpy_backend)
    x = np.ones((1, 4), np.float32)
    with neuronkit.load(art, cores=2, group_size=1, delay=0.2) as rt:
        threads = [threading.Thread(target=rt, args=(x,)) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert sorted(group for group, _ in NumpyReplica.calls) == ["0", "1"]  # two concurrent calls, two replicas


def test_many_threads_never_share_a_replica(numpy_backend, weights):
    art = neuronkit.compile(weights, numpy_backend)
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(64)]
    results = [None] * len(batches)
    with neuronkit.load(art, cores=2, group_size=1) as rt:
        def work(i):
            results[i] = rt(batches[i])  # NumpyReplica asserts it is never entered twice at once

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
        [t.start() for t in threads]
        [t.join() for t in threads]
    for x, y in zip(batches, results, strict=False):
        np.testing.assert_allclose(y, x @ weights, rtol=1e-6)


def test_close_releases_replicas_and_refuses_calls(numpy_backend, weights):
    rt = neuronkit.load(neuronkit.compile(weights, numpy_backend), cores=2, group_size=1)
    replicas = list(rt.replicas)
    rt.close()
    rt.close()
    assert all(r.closed for r in replicas)
    with pytest.raises(NeuronkitError, match="closed"):
        rt(np.ones((1, 4), np.float32))


def test_a_replica_that_fails_to_load_releases_the_others(numpy_backend, weights, monkeypatch):
    made = []
    original = NumpyReplica.__init__

    def flaky(self, artifact, group, options):
        original(self, artifact, group, options)
        made.append(self)
        if group.start == 1:
            raise RuntimeError("device busy")

    monkeypatch.setattr(NumpyReplica, "__init__", flaky)
    with pytest.raises(NeuronkitError, match="could not load this artifact on cores 1 .RuntimeError: device busy"):
        neuronkit.load(neuronkit.compile(weights, numpy_backend), cores=2, group_size=1)
    assert made[0].closed
