import json
import zipfile

import numpy as np
import pytest

import neuronkit
from neuronkit import ArtifactError, IncompatibleArtifact
from neuronkit.artifact import MANIFEST, SCHEMA_VERSION


@pytest.fixture
def saved(numpy_backend, weights, tmp_path):
    art = neuronkit.compile(weights, numpy_backend)
    return art.save(tmp_path / "m.nk")


def _rewrite(path, change):
    """Copy an artifact file entry by entry, letting ``change(name, data)`` alter or drop entries."""
    with zipfile.ZipFile(path) as zf:
        entries = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            for new in change(name, data):
                zf.writestr(*new)


def test_manifest_records_the_compile(numpy_backend, weights):
    m = neuronkit.compile(weights, numpy_backend, target="cpu").manifest
    d = m.to_dict()
    assert d["schema_version"] == SCHEMA_VERSION and d["neuronkit_version"] == neuronkit.__version__
    assert d["backend"]["name"] == "numpy-test" and d["framework"]["name"] == "numpy"
    assert d["precision"] == {"preset": "fp32", "flags": ["--target=cpu"]}
    assert d["signature"]["inputs"] == [{"name": "x", "dtype": "float32", "shape": [None, 4]}]
    assert d["files"]["w.npy"]["size"] > 0 and len(d["files"]["w.npy"]["sha256"]) == 64
    assert neuronkit.Manifest.from_dict(json.loads(json.dumps(d))) == m


def test_one_file_and_directory_forms_round_trip(saved, tmp_path, weights):
    art = neuronkit.open_artifact(saved)
    as_dir = art.save(tmp_path / "dir", directory=True)
    again = neuronkit.open_artifact(as_dir)
    assert again.manifest == art.manifest
    np.testing.assert_array_equal(np.load(again.file("w.npy")), weights)


def test_tampered_file_fails_its_checksum(saved):
    _rewrite(saved, lambda n, d: [(n, d if n == MANIFEST else d[:-1] + bytes([d[-1] ^ 1]))])
    with pytest.raises(ArtifactError, match="checksum mismatch for 'w.npy'"):
        neuronkit.open_artifact(saved)


def test_tampered_directory_fails_its_checksum(saved, tmp_path):
    path = neuronkit.open_artifact(saved).save(tmp_path / "d", directory=True)
    with open(path / "w.npy", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        neuronkit.load(path)


def test_truncated_file_is_reported_as_damaged(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated|damaged"):
        neuronkit.open_artifact(saved)


@pytest.mark.parametrize("evil", ["../escape.npy", "/etc/evil", "a/../../b", "C:\\x"])
def test_entries_outside_the_artifact_are_refused(saved, evil):
    _rewrite(saved, lambda n, d: [(n, d)] + ([(evil, b"x")] if n == MANIFEST else []))
    with pytest.raises(ArtifactError, match="outside the artifact"):
        neuronkit.open_artifact(saved)


def test_manifest_naming_a_path_outside_is_refused(saved, tmp_path):
    path = neuronkit.open_artifact(saved).save(tmp_path / "d", directory=True)
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["files"]["../../etc/passwd"] = manifest["files"].pop("w.npy")
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="outside the artifact"):
        neuronkit.open_artifact(path)


def test_unlisted_entry_is_refused(saved):
    _rewrite(saved, lambda n, d: [(n, d)] + ([("extra.bin", b"x")] if n == MANIFEST else []))
    with pytest.raises(ArtifactError, match="unexpected: \\['extra.bin'\\]"):
        neuronkit.open_artifact(saved)


def test_newer_schema_asks_for_an_upgrade(saved):
    def bump(name, data):
        if name == MANIFEST:
            manifest = json.loads(data)
            manifest["schema_version"] = SCHEMA_VERSION + 1
            data = json.dumps(manifest).encode()
        return [(name, data)]

    _rewrite(saved, bump)
    with pytest.raises(IncompatibleArtifact, match="pip install -U neuronkit"):
        neuronkit.open_artifact(saved)


def test_malformed_manifest_and_non_artifacts(saved, tmp_path):
    _rewrite(saved, lambda n, d: [(n, b"{not json" if n == MANIFEST else d)])
    with pytest.raises(ArtifactError, match="not valid JSON"):
        neuronkit.open_artifact(saved)
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(ArtifactError, match="not a neuronkit artifact"):
        neuronkit.open_artifact(other)
    with pytest.raises(ArtifactError, match="no artifact at"):
        neuronkit.open_artifact(tmp_path / "missing.nk")


@pytest.mark.parametrize("directory", [False, True])
def test_failed_save_keeps_the_old_artifact(numpy_backend, weights, tmp_path, monkeypatch, directory):
    dest = tmp_path / "model.nk"
    neuronkit.compile(weights, numpy_backend).save(dest, directory=directory)
    before = neuronkit.open_artifact(dest).manifest

    new = neuronkit.compile(weights * 2, numpy_backend)
    import shutil
    import zipfile as zf_module

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(shutil if directory else zf_module.ZipFile, "copyfile" if directory else "write", fail)
    with pytest.raises(ArtifactError, match="disk full"):
        new.save(dest, directory=directory)
    monkeypatch.undo()
    assert neuronkit.open_artifact(dest).manifest == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.nk"]  # no temporary left behind


def test_save_will_not_replace_something_else(numpy_backend, weights, tmp_path):
    art = neuronkit.compile(weights, numpy_backend)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not a neuronkit artifact"):
        art.save(precious, directory=True)
    assert (precious / "data.txt").read_text() == "keep me"
    art.save(tmp_path / "one.nk")
    with pytest.raises(ArtifactError, match="directory=False"):
        art.save(tmp_path / "one.nk", directory=True)


def test_compiled_artifact_cleans_up_its_temporary_files(numpy_backend, weights):
    import gc

    art = neuronkit.compile(weights, numpy_backend)
    root = art.root
    assert root.exists()
    del art
    gc.collect()
    assert not root.exists()
