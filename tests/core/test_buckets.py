"""Bucket models (compiled for several input shapes): the Runtime pads each call to the smallest bucket
that fits and cuts the outputs back; the manifest's load.buckets is validated. Framework-free: the
in-process numpy backend stands in for a compiled bucket model."""

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import NumpyReplica

import neuronkit
from neuronkit import InputError, NeuronkitError
from neuronkit.artifact import Artifact, InvalidManifest, Manifest, validate_manifest
from neuronkit.runtime import choose_bucket


def test_the_smallest_bucket_that_fits_is_chosen_by_element_count_then_order():
    buckets = [((8, 4),), ((2, 4),), ((4, 16),), ((2, 4),)]
    assert choose_bucket(buckets, [(1, 4)]) == ((2, 4),)
    assert choose_bucket(buckets, [(3, 4)]) == ((8, 4),)       # 32 elements, before (4, 16)'s 64
    assert choose_bucket(buckets, [(3, 5)]) == ((4, 16),)      # only one is wide enough
    two = [((1, 128), (1, 128)), ((1, 512), (1, 512))]
    assert choose_bucket(two, [(1, 100), (1, 300)]) == ((1, 512), (1, 512))  # every input must fit
    with pytest.raises(InputError, match=r"input shape \(9, 4\) fits none of the buckets .*\(8, 4\); \(2, 4\)"):
        choose_bucket(buckets[:2], [(9, 4)])


@pytest.fixture
def bucketed(numpy_backend, weights):
    art = neuronkit.compile(weights, numpy_backend, target="inf2", dynamic_batch=True)
    m = art.manifest
    manifest = replace(m, load={**m.load, "buckets": [[[2, 4]], [[8, 4]]]}, batch_size=None, dynamic_batch=False)
    validate_manifest(json.loads(json.dumps(manifest.to_dict())))
    return Artifact(art.root, manifest), art


def test_the_runtime_pads_with_zeros_to_a_bucket_and_cuts_the_outputs(bucketed, weights, fake_neuron_host):
    fake_neuron_host(1, 2, "NCv2")
    art, keep = bucketed
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    with neuronkit.load(art, cores=1) as rt:
        np.testing.assert_allclose(rt(x), x @ weights, rtol=1e-6)
        np.testing.assert_allclose(rt(x[:1]), x[:1] @ weights, rtol=1e-6)
        with pytest.raises(InputError, match=r"\(9, 4\) fits none of the buckets .*\(2, 4\); \(8, 4\)"):
            rt(np.ones((9, 4), np.float32))
    assert [batch for _, batch in NumpyReplica.calls] == [8, 2]  # one call each, padded to the bucket


def test_manifest_buckets_are_validated_and_old_manifests_have_none(bucketed):
    art, _ = bucketed
    data = art.manifest.to_dict()
    assert Manifest.from_dict(data).buckets == (((2, 4),), ((8, 4),))
    without = {**data, "load": {k: v for k, v in data["load"].items() if k != "buckets"}}
    assert Manifest.from_dict(without).buckets == ()
    for bad in ([], [[[2]]], [[[2, 5]]], [[[0, 4]]], [[[2, 4], [2, 4]]], "2x4"):
        with pytest.raises(InvalidManifest, match="load.buckets"):
            validate_manifest({**data, "load": {**data["load"], "buckets": bad}})
    fixed = {**data, "signature": {**data["signature"], "batch_size": 2}}
    with pytest.raises(InvalidManifest, match="signature.batch_size"):
        validate_manifest(fixed)


def test_replace_weights_is_refused_by_a_backend_that_does_not_offer_it(numpy_backend, weights):
    art = neuronkit.compile(weights, numpy_backend, target="inf2")
    with pytest.raises(NeuronkitError, match="the numpy-test backend cannot replace the weights"):
        neuronkit.replace_weights(art, {"w": weights})
    cpu = neuronkit.compile(weights, numpy_backend)
    with pytest.raises(NeuronkitError, match="a cpu artifact"):
        neuronkit.replace_weights(cpu, {"w": weights})
