"""Adversarial cases from issue #13: hostile or damaged artifacts, killed saves, odd inputs.

Every case must end in the right result or in a NeuronkitError subclass with a next step; never a
raw traceback, lost user data or a silently wrong answer. Property-based where the input space is
large; each property runs a bounded number of examples so the suite stays well under a minute.
"""

import copy
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuronkit
from neuronkit import ArtifactError, CoreSpecError, InputError, NeuronkitError, RuntimeClosed
from neuronkit.artifact import MANIFEST, MAX_MANIFEST_BYTES

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
WEIGHTS = np.arange(12, dtype=np.float32).reshape(4, 3)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """One saved artifact file (the numpy test backend), its bytes and its manifest."""
    from conftest import NumpyPlugin

    from neuronkit import plugins

    plugins.register(NumpyPlugin(), name="adversarial-numpy")
    try:
        path = neuronkit.compile(WEIGHTS, "numpy-test").save(tmp_path_factory.mktemp("good") / "m.nk")
    finally:
        plugins.unregister("adversarial-numpy")
    with zipfile.ZipFile(path) as zf:
        entries = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    return path.read_bytes(), entries, json.loads(entries[MANIFEST])


def write_zip(path, entries, compression=zipfile.ZIP_STORED):
    """Write ``entries`` (a list of (name, bytes), duplicates allowed) as a zip archive."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which some cases want
        with zipfile.ZipFile(path, "w", compression) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def as_directory(tmp_path, entries, manifest=None):
    root = tmp_path / "art"
    root.mkdir()
    for name, data in entries.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    if manifest is not None:
        (root / MANIFEST).write_text(json.dumps(manifest))
    return root


def opens_or_refuses(path):
    """Open ``path``: the manifest, or None when refused with an ArtifactError (anything else fails)."""
    try:
        return neuronkit.open_artifact(path).manifest
    except ArtifactError as exc:
        message = str(exc)
        assert len(message) < 600, message
        return None


# -- 1. silently wrong: see test_big_endian_* below, with the runtime cases

# -- 2. save() replaces only an artifact

@pytest.mark.parametrize("kind", ["zip", "docx", "text-with-empty-zip-record", "dir-with-stray-manifest"])
def test_save_never_replaces_something_that_is_not_an_artifact(good, tmp_path, kind):
    art = neuronkit.open_artifact(write_zip(tmp_path / "src.nk", good[1].items()))
    if kind == "zip":
        dest = write_zip(tmp_path / "photos.zip", [("cat.jpg", b"\xff\xd8 a photo")])
    elif kind == "docx":
        dest = write_zip(tmp_path / "report.docx", [("[Content_Types].xml", b"<xml/>"), ("word/doc.xml", b"<w/>")])
    elif kind == "text-with-empty-zip-record":  # is_zipfile() says yes to any file ending like this
        dest = tmp_path / "notes.txt"
        dest.write_bytes(b"my notes\n" + b"PK\x05\x06" + b"\0" * 18)
    else:
        dest = tmp_path / "project"
        dest.mkdir()
        (dest / MANIFEST).write_text(json.dumps(good[2]))
        (dest / "thesis.tex").write_text("years of work")
    before = {p: p.read_bytes() for p in [dest, *dest.rglob("*")] if p.is_file()}
    with pytest.raises(ArtifactError, match=f"{dest.name} exists and is not a neuronkit artifact.*choose another"):
        art.save(dest, directory=dest.is_dir())
    assert {p: p.read_bytes() for p in [dest, *dest.rglob("*")] if p.is_file()} == before


@pytest.mark.parametrize("directory", [False, True])
def test_save_replaces_an_artifact_of_the_same_form(good, tmp_path, directory):
    art = neuronkit.open_artifact(write_zip(tmp_path / "src.nk", good[1].items()))
    dest = art.save(tmp_path / "out", directory=directory)
    assert art.save(dest, directory=directory) == dest
    assert neuronkit.open_artifact(dest).manifest == art.manifest


def test_save_errors_are_artifact_errors_with_a_next_step(good, tmp_path):
    art = neuronkit.open_artifact(write_zip(tmp_path / "src.nk", good[1].items()))
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ArtifactError, match="could not save the artifact.*choose a folder you can write to"):
        art.save(tmp_path / "a-file" / "m.nk")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ArtifactError, match="could not save"):
            art.save(locked / "m.nk")


# -- 3. a killed save loses nothing and leaves nothing behind

KILL_AT = textwrap.dedent("""
    import os, sys, zipfile, neuronkit
    from neuronkit import artifact
    src, dest, directory, step = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
    art = neuronkit.open_artifact(src)
    calls = []
    real_replace = os.replace
    def replace(a, b):
        calls.append(a)
        if step == f"replace{len(calls)}":
            os._exit(9)   # killed: no handler runs
        real_replace(a, b)
    def write(*args, **kwargs):
        os._exit(9)
    artifact.os.replace = replace
    if step == "write":
        zipfile.ZipFile.write = write
        artifact.shutil.copyfile = write
    art.save(dest, directory=directory)
""")


@pytest.mark.parametrize("directory,step", [(True, "replace1"), (True, "replace2"), (True, "write"),
                                            (False, "replace1"), (False, "write")])
def test_a_save_killed_at_any_step_keeps_an_artifact_and_its_leftovers_are_cleaned(good, tmp_path, directory, step):
    src = write_zip(tmp_path / "src.nk", good[1].items())
    art = neuronkit.open_artifact(src)
    dest = art.save(tmp_path / "m", directory=directory)
    done = subprocess.run([sys.executable, "-c", KILL_AT, str(src), str(dest), "1" if directory else "0", step],
                          capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    assert neuronkit.open_artifact(dest).manifest == art.manifest  # restored if it was set aside
    art.save(dest, directory=directory)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "src.nk"]  # no .tmp-/.old- leftovers


def test_leftovers_of_a_save_still_running_are_left_alone(good, tmp_path):
    src = write_zip(tmp_path / "src.nk", good[1].items())
    live = tmp_path / f".m.nk.tmp-{os.getpid()}-0123abcd"   # this process: alive
    live.write_bytes(b"being written")
    neuronkit.open_artifact(src).save(tmp_path / "m.nk")
    assert live.exists()


# -- 4. the manifest is validated against the schema

BAD_VALUES = [
    ("schema_version", 0), ("schema_version", "1"), ("pipeline_cores", -3), ("pipeline_cores", 1.5),
    ("signature.dynamic_batch", "false"), ("target", 5), ("target", "gpu"), ("signature.batch_size", 0),
    ("signature.batch_size", -1), ("signature.batch_size", "3"), ("signature.inputs.0.dtype", "<U3"),
    ("signature.inputs.0.dtype", "object"), ("signature.inputs.0.shape", [-1, 4]), ("signature.inputs", []),
    ("signature.inputs.0.name", ""), ("precision.preset", "int4"), ("precision.flags", "--x"),
    ("backend", "numpy"), ("backend.name", None), ("files.w.npy.size", "12"), ("files.w.npy.sha256", "abc"),
    ("report.ops_total", -1), ("report.compile_seconds", "fast"), ("load", []), ("preprocess", {"layout": "X"}),
    ("signature.batch_axis", 9), ("framework", {"name": 1}),
]


def set_path(manifest, dotted, value):
    keys = dotted.replace("w.npy", "w\0npy").split(".")
    node = manifest
    for key in keys[:-1]:
        key = key.replace("\0", ".")
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1].replace("\0", ".")
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


@pytest.mark.parametrize("dotted,value", BAD_VALUES, ids=[f"{k}={v!r}" for k, v in BAD_VALUES])
@pytest.mark.parametrize("form", ["file", "directory"])
def test_badly_typed_manifest_values_are_refused_naming_the_field(good, tmp_path, dotted, value, form):
    manifest = copy.deepcopy(good[2])
    set_path(manifest, dotted, value)
    entries = {**good[1], MANIFEST: json.dumps(manifest).encode()}
    path = write_zip(tmp_path / "m.nk", entries.items()) if form == "file" else as_directory(tmp_path, entries)
    top = dotted.split(".")[0]
    with pytest.raises(ArtifactError, match=f"{MANIFEST} is invalid: {top}.*must be|no integer schema_version"):
        neuronkit.open_artifact(path)


def _leaf_paths(node, prefix=()):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    paths = [prefix] if prefix else []
    for key, value in items:
        paths += _leaf_paths(value, prefix + (key,))
    return paths


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                           | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@FAST
@given(data=st.data())
def test_any_edit_of_the_manifest_opens_or_is_an_artifact_error(good, tmp_path_factory, data):
    manifest = copy.deepcopy(good[2])
    where = data.draw(st.sampled_from(_leaf_paths(manifest)))
    node = manifest
    for key in where[:-1]:
        node = node[key]
    if data.draw(st.booleans()) and isinstance(node, dict):
        del node[where[-1]]
    else:
        node[where[-1]] = data.draw(json_values)
    root = tmp_path_factory.mktemp("edit")
    for name, blob in good[1].items():
        (root / name).write_bytes(blob)
    (root / MANIFEST).write_text(json.dumps(manifest))
    opened = opens_or_refuses(root)
    if opened is not None:  # what opens must be usable by the core: a describable signature, sane numbers
        assert opened.pipeline_cores >= 1 and all(t.describe() for t in opened.inputs)


# -- 5. duplicate names

@pytest.mark.parametrize("duplicate", ["w.npy", MANIFEST])
def test_archives_with_duplicate_names_are_refused(good, tmp_path, duplicate):
    entries = list(good[1].items())
    hostile = (duplicate, b"hostile first copy")
    path = write_zip(tmp_path / "m.nk", [hostile, *entries])
    with pytest.raises(ArtifactError, match="two entries named"):
        neuronkit.open_artifact(path)


# -- 6. the directory form follows the one-file form's rules

def test_directory_form_refuses_a_link_to_a_file_outside(good, tmp_path):
    root = as_directory(tmp_path, good[1])
    outside = tmp_path / "outside.npy"
    shutil.move(root / "w.npy", outside)
    (root / "w.npy").symlink_to(outside)  # same bytes, so only the link itself is wrong
    with pytest.raises(ArtifactError, match="symbolic link; refused"):
        neuronkit.open_artifact(root)


def test_directory_form_refuses_a_linked_folder_and_unlisted_files(good, tmp_path):
    root = as_directory(tmp_path, good[1])
    (root / "extra.bin").write_bytes(b"x")
    with pytest.raises(ArtifactError, match=r"unexpected: \['extra.bin'\]"):
        neuronkit.open_artifact(root)
    (root / "extra.bin").unlink()
    (root / "sub").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ArtifactError, match="'sub' is a symbolic link"):
        neuronkit.open_artifact(root)


def test_directory_form_refuses_a_fifo_inside(good, tmp_path):
    root = as_directory(tmp_path, good[1])
    os.mkfifo(root / "pipe")
    with pytest.raises(ArtifactError, match="not a regular file"):
        neuronkit.open_artifact(root)


# -- 7. resource exhaustion

def test_an_entry_larger_than_declared_is_refused_before_it_is_written(good, tmp_path, monkeypatch):
    manifest = copy.deepcopy(good[2])
    manifest["files"]["w.npy"]["size"] = 10
    big = b"\0" * (64 << 20)  # deflates to ~64 kB
    path = write_zip(tmp_path / "m.nk", [(MANIFEST, json.dumps(manifest)), ("w.npy", big)], zipfile.ZIP_DEFLATED)
    written = []
    real_open = zipfile.ZipFile.open
    def spy(self, entry, *args, **kwargs):
        written.append(getattr(entry, "filename", entry))
        return real_open(self, entry, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with pytest.raises(ArtifactError, match="67,108,864 bytes in the archive but 10 in the manifest"):
        neuronkit.open_artifact(path)
    assert "w.npy" not in written  # not one byte of the entry was inflated


def _patch_central(raw: bytes, name: bytes, offset: int, value: bytes) -> bytes:
    """Overwrite one field of the central-directory record of entry ``name`` (zipfile trusts these)."""
    raw = bytearray(raw)
    start = raw.find(b"PK\x01\x02")
    while start != -1:
        if raw[start + 46:start + 46 + len(name)] == name:
            raw[start + offset:start + offset + len(value)] = value
        start = raw.find(b"PK\x01\x02", start + 1)
    return bytes(raw)


def test_a_header_that_understates_the_size_is_caught_by_the_checksum(good, tmp_path):
    blob = good[1]["w.npy"]
    manifest = copy.deepcopy(good[2])
    manifest["files"]["w.npy"]["size"] = len(blob) - 8  # agrees with the lying header: only the bytes can tell
    path = write_zip(tmp_path / "m.nk", [(MANIFEST, json.dumps(manifest)), ("w.npy", blob)])
    path.write_bytes(_patch_central(path.read_bytes(), b"w.npy", 24, struct.pack("<I", len(blob) - 8)))
    with pytest.raises(ArtifactError, match="damaged|checksum mismatch"):
        neuronkit.open_artifact(path)


@pytest.mark.parametrize("form", ["file", "directory"])
def test_a_huge_manifest_is_refused_without_reading_it(good, tmp_path, form):
    huge = b" " * (MAX_MANIFEST_BYTES + 1) + json.dumps(good[2]).encode()
    entries = {**good[1], MANIFEST: huge}
    if form == "file":
        path = write_zip(tmp_path / "m.nk", entries.items(), zipfile.ZIP_DEFLATED)
    else:
        path = as_directory(tmp_path, entries)
    with pytest.raises(ArtifactError, match="far larger than any real"):
        neuronkit.open_artifact(path)


def test_a_fifo_is_refused_instead_of_blocking(tmp_path):
    fifo = tmp_path / "model.nk"
    os.mkfifo(fifo)
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(opens_or_refuses(fifo)), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive() and outcome == [None]
    from click.testing import CliRunner

    from neuronkit.cli import cli

    out = CliRunner().invoke(cli, ["inspect", str(fifo)])
    assert out.exit_code == 1 and "not a regular file" in out.output


def test_many_unexpected_entries_give_a_short_message(good, tmp_path):
    entries = list(good[1].items()) + [(f"junk/{i}", b"") for i in range(20000)]
    with pytest.raises(ArtifactError, match=r"… 19995 more") as caught:
        neuronkit.open_artifact(write_zip(tmp_path / "m.nk", entries))
    assert len(str(caught.value)) < 500


# -- zip header damage and odd manifests: ArtifactError, never a raw traceback

@pytest.mark.parametrize("field,offset,value", [
    ("compression method 99", 10, struct.pack("<H", 99)),
    ("encrypted flag", 8, struct.pack("<H", 0x1)),
    ("compressed patched data (bit 5)", 8, struct.pack("<H", 0x20)),
    ("zip version 9.9", 6, struct.pack("<H", 99)),
])
def test_zip_header_damage_is_an_artifact_error(good, tmp_path, field, offset, value):
    path = tmp_path / "m.nk"
    path.write_bytes(_patch_central(good[0], b"w.npy", offset, value))
    with pytest.raises(ArtifactError, match="encrypted|compression|zip version|damaged"):
        neuronkit.open_artifact(path)


def test_an_empty_entry_name_is_an_artifact_error(good, tmp_path):
    nameless = zipfile.ZipInfo("x")
    nameless.filename = ""  # zipfile writes it, but cannot read it back without IndexError
    path = write_zip(tmp_path / "m.nk", [*good[1].items(), (nameless, b"x")])
    with pytest.raises(ArtifactError, match="empty name|not a plain relative path"):
        neuronkit.open_artifact(path)


@pytest.mark.parametrize("name", ["./w.npy", "a//b", "dir/", "a/./b"])
def test_unusual_spellings_of_names_are_refused_or_harmless(good, tmp_path, name):
    path = write_zip(tmp_path / "m.nk", [*good[1].items(), (name, b"x")])
    opened = opens_or_refuses(path)
    assert opened is None or (name.endswith("/") and opened == neuronkit.Manifest.from_dict(good[2]))


def test_a_deeply_nested_manifest_is_an_artifact_error(good, tmp_path):
    entries = {**good[1], MANIFEST: b"[" * 200_000 + b"]" * 200_000}
    with pytest.raises(ArtifactError, match="not valid JSON"):
        neuronkit.open_artifact(write_zip(tmp_path / "m.nk", entries.items()))


def test_a_manifest_that_is_a_folder_is_an_artifact_error(good, tmp_path):
    root = as_directory(tmp_path, {k: v for k, v in good[1].items() if k != MANIFEST})
    (root / MANIFEST).mkdir()
    with pytest.raises(ArtifactError, match="not a file"):
        neuronkit.open_artifact(root)


@FAST
@given(position=st.integers(0, 10**9), bit=st.integers(0, 7))
def test_a_flipped_bit_anywhere_opens_identically_or_is_an_artifact_error(good, tmp_path_factory, position, bit):
    raw = bytearray(good[0])
    raw[position % len(raw)] ^= 1 << bit
    path = tmp_path_factory.mktemp("flip") / "m.nk"
    path.write_bytes(bytes(raw))
    opened = opens_or_refuses(path)
    if opened is not None:  # the flip hit bytes nobody reads (a timestamp, an unused field)
        assert opened == neuronkit.Manifest.from_dict(good[2])


def test_model_file_given_as_artifact_says_how_to_compile_it(tmp_path):
    from click.testing import CliRunner

    from neuronkit.cli import cli

    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x08 an onnx protobuf")
    out = CliRunner().invoke(cli, ["inspect", str(model)])
    assert out.exit_code == 1
    assert "a model file for the onnx backend, not a neuronkit artifact" in out.output
    assert "neuronkit compile" in out.output and "truncated" not in out.output



# -- predict inputs: byte order, generated values, closing while other threads run

def add_one_model(elem_type):
    """An ONNX model y = x + 1 over a [N, 3] input of ``elem_type``."""
    from onnx import helper, numpy_helper
    from onnx.helper import tensor_dtype_to_np_dtype

    one = numpy_helper.from_array(np.ones(3, tensor_dtype_to_np_dtype(elem_type)), "one")
    graph = helper.make_graph([helper.make_node("Add", ["x", "one"], ["y"])], "add",
                              [helper.make_tensor_value_info("x", elem_type, ["N", 3])],
                              [helper.make_tensor_value_info("y", elem_type, ["N", 3])], [one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.fixture(scope="module")
def onnx_runtimes():
    from onnx import TensorProto

    runtimes = {dtype: neuronkit.load(neuronkit.compile(add_one_model(elem)))
                for dtype, elem in (("float32", TensorProto.FLOAT), ("int64", TensorProto.INT64),
                                    ("float64", TensorProto.DOUBLE))}
    yield runtimes
    for rt in runtimes.values():
        rt.close()


@FAST
@given(dtype=st.sampled_from(["float32", "int64", "float64"]), rows=st.integers(1, 5),
       seed=st.integers(0, 2**32 - 1))
def test_big_endian_inputs_give_the_same_outputs_as_native_ones(onnx_runtimes, dtype, rows, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, 3)) * 1000).astype(dtype)
    swapped = x.astype(x.dtype.newbyteorder(">"))
    assert swapped.dtype.name == dtype and not swapped.dtype.isnative
    np.testing.assert_array_equal(onnx_runtimes[dtype](swapped), x + 1)


weird_inputs = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.binary(max_size=5),
    st.lists(st.lists(st.floats(allow_nan=False, width=32), max_size=4), max_size=4),  # read as several inputs
    st.lists(st.lists(st.floats(width=32), max_size=4), min_size=2, max_size=4).map(lambda rows: (rows,)),  # ragged
    st.dictionaries(st.one_of(st.sampled_from(["x", "y", "image"]), st.integers()), st.integers(), max_size=3),
    st.builds(lambda shape, kind: np.zeros(shape, kind),
              st.lists(st.integers(0, 4), max_size=4).map(tuple),
              st.sampled_from(["float32", "float16", ">f4", "int64", "<U3", "bool", "complex64", "O"])),
)


@FAST
@given(value=weird_inputs)
def test_any_input_gives_an_answer_or_an_input_error(onnx_runtimes, value):
    rt = onnx_runtimes["float32"]
    try:
        y = rt(value)
    except InputError as exc:
        assert "float32[N, 3]" in str(exc) or "not an array" in str(exc) or "empty batch" in str(exc)
    else:
        assert y.dtype == np.float32 and y.shape[1:] == (3,)


def test_a_list_of_rows_says_how_to_pass_one_batch(onnx_runtimes):
    rows = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    with pytest.raises(InputError, match=r"one array per input.*rt\(np.stack\(rows\)\)"):
        onnx_runtimes["float32"](rows)
    np.testing.assert_array_equal(onnx_runtimes["float32"](np.stack(rows)), np.stack(rows) + 1)


@pytest.mark.parametrize("batch", [1, 10])  # 10 rows on a batch-4 artifact: chunks through the thread pool
def test_close_waits_for_running_calls_and_later_calls_are_refused(numpy_backend, weights, batch):
    art = neuronkit.compile(weights, numpy_backend, batch_size=4, dynamic_batch=True)
    rt = neuronkit.load(art, cores=2, group_size=1, delay=0.01)
    x = np.random.default_rng(0).standard_normal((batch, 4)).astype(np.float32)
    outcomes, started = [], threading.Barrier(17)

    def caller():
        started.wait()
        while True:
            try:
                y = rt(x)
            except RuntimeClosed as exc:
                outcomes.append(str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - the point is that nothing else escapes
                outcomes.append(exc)
                return
            outcomes.append(np.allclose(y, x @ weights, rtol=1e-5))

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for t in threads:
        t.start()
    started.wait()
    import time

    time.sleep(0.1)
    rt.close()
    assert all(replica.closed for replica in rt.replicas)
    for t in threads:
        t.join(10)
    assert all(o is True or (isinstance(o, str) and "Runtime is closed" in o) for o in outcomes), outcomes[-3:]
    assert outcomes.count(True) > 0 and sum(isinstance(o, str) for o in outcomes) == 16
    with pytest.raises(RuntimeClosed, match="load the artifact again"):
        rt(x)
    rt.close()  # twice is fine


@pytest.mark.parametrize("edit", ["rename-input", "empty-load", "load-names-a-missing-file"])
def test_manifest_edits_the_backend_trips_on_are_artifact_errors(tmp_path, edit):
    from conftest import mlp

    root = neuronkit.compile(mlp()).save(tmp_path / "d", directory=True)
    manifest = json.loads((root / MANIFEST).read_text())
    if edit == "rename-input":
        manifest["signature"]["inputs"][0]["name"] = "z"
    elif edit == "empty-load":
        manifest["load"] = {}
    else:
        manifest["load"] = {"model": "elsewhere.onnx"}
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(NeuronkitError, match="altered|could not load this artifact"):
        with neuronkit.load(root) as rt:
            rt(np.ones((1, 4), np.float32))


def test_onnx_external_data_outside_the_artifact_is_an_artifact_error(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    # A weight stored as external data whose location leaves the model's folder.
    weight = numpy_helper.from_array(np.zeros((4, 3), np.float32), "W")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../../outside.bin"), ("offset", "0"), ("length", "48")):
        weight.external_data.add(key=key, value=value)
    (tmp_path / "outside.bin").write_bytes(b"\0" * 48)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    root = tmp_path / "a" / "b"
    art = neuronkit.compile(add_one_model(TensorProto.FLOAT)).save(root, directory=True)
    (art / "model.onnx").write_bytes(model.SerializeToString())
    manifest = json.loads((art / MANIFEST).read_text())
    from neuronkit.artifact import describe_files

    manifest["files"] = describe_files(art)
    manifest["signature"]["outputs"] = [{"name": "y", "dtype": "float32", "shape": [None, 3]}]
    manifest["signature"]["inputs"] = [{"name": "x", "dtype": "float32", "shape": [None, 4]}]
    (art / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(NeuronkitError, match="could not load this artifact|altered"):
        neuronkit.load(art)


# -- core specs: every refusal is a CoreSpecError that says which cores exist

def _inf1_host():
    from neuronkit.targets import NCV1, Host, NeuronDevice

    return Host(cpus=8, devices=tuple(NeuronDevice(i, 4, NCV1, "test") for i in range(4)))


@pytest.mark.parametrize("cores,group_size", [
    (2.0, None), (["0", "1"], None), (10**20, None), ([0, [1]], None), (["a"], None), ([0.5], None),
    ({0, 1}, None), (2, "1"), (2, 0), (2, True), (2, 1.0), ("0-99999999999", None), ([[0, 1], "23"], None),
    (b"0-1", None), (-1, None), ([[]], None), ("", None), (20, None), ([[0, 1], [2]], 2), ([0, 2], None),
])
def test_bad_core_specs_are_core_spec_errors_naming_what_exists(cores, group_size):
    from neuronkit.cores import plan_groups
    from neuronkit.targets import get_target

    with pytest.raises(CoreSpecError, match=r"this process has 16 NeuronCores \(0-15\)"):
        plan_groups(get_target("inf1"), _inf1_host(), cores, group_size)


core_specs = st.one_of(
    st.none(), st.integers(-3, 40), st.floats(), st.text("0123456789-, x", max_size=8),
    st.lists(st.integers(-2, 20), max_size=5), st.lists(st.lists(st.integers(-2, 20), max_size=3), max_size=3),
    st.lists(st.one_of(st.integers(0, 5), st.text(max_size=2), st.lists(st.integers(0, 5), max_size=2)), max_size=3),
    st.sets(st.integers(0, 5), max_size=3),
)


@FAST
@given(cores=core_specs, group_size=st.one_of(st.none(), st.integers(-1, 5), st.booleans(), st.text(max_size=2)))
def test_any_core_spec_gives_groups_of_existing_cores_or_a_core_spec_error(cores, group_size):
    from neuronkit.cores import plan_groups
    from neuronkit.targets import get_target

    try:
        groups = plan_groups(get_target("inf1"), _inf1_host(), cores, group_size)
    except CoreSpecError as exc:
        assert "this process has 16 NeuronCores (0-15)" in str(exc)
    else:
        flat = [c for g in groups for c in g.cores]
        assert flat == list(range(flat[0], flat[0] + len(flat))) and 0 <= flat[0] and flat[-1] < 16
        assert group_size is None or all(g.size == group_size for g in groups)


# -- broken plugins are reported and skipped; the rest keep working

BROKEN_PLUGINS = {
    "misspelt": "from neuronkit import hookimpl\n@hookimpl\ndef neuronkit_backendz():\n    return []\n",
    "exits": "raise SystemExit(3)\n",
    "notaspec": "from neuronkit import hookimpl\n@hookimpl\ndef neuronkit_backends():\n    return ['onnx']\n",
    "badcommands": ("from neuronkit import hookimpl\n@hookimpl\ndef neuronkit_register_commands(cli):\n"
                    "    raise RuntimeError('no commands today')\n"),
}


@pytest.fixture
def broken_plugins(tmp_path, monkeypatch):
    import importlib.metadata
    from importlib.metadata import EntryPoint

    from neuronkit import plugins

    for name, source in BROKEN_PLUGINS.items():
        (tmp_path / f"nk_broken_{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [EntryPoint(name, f"nk_broken_{name}", "neuronkit") for name in BROKEN_PLUGINS]
    points.append(EntryPoint("onnx", "neuronkit_onnx", "neuronkit"))

    class Selectable(list):
        def select(self, group):
            return [ep for ep in self if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: Selectable(points))
    plugins.reset()
    yield plugins
    plugins.reset()


def test_broken_plugins_are_skipped_and_the_rest_keep_working(broken_plugins):
    from click.testing import CliRunner

    from neuronkit.cli import cli

    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        assert list(neuronkit.get_backends()) == ["onnx"]
        broken_plugins.register_commands(cli)
    rows = {r["name"]: r["error"] for r in broken_plugins.plugins()}
    assert "neuronkit_backendz, which neuronkit does not define" in rows["misspelt"]
    assert "SystemExit: 3" in rows["exits"]
    assert "returned 'onnx', not neuronkit.BackendSpec" in rows["notaspec"]
    assert "RuntimeError: no commands today" in rows["badcommands"]
    assert rows["onnx"] == ""
    assert len([w for w in warned if "was skipped" in str(w.message)]) == 4
    out = CliRunner().invoke(cli, ["backends", "--json"])
    assert out.exit_code == 0 and [b["name"] for b in json.loads(out.output)] == ["onnx"]


def test_a_misspelt_load_plugins_switch_is_named(broken_plugins, monkeypatch):
    monkeypatch.setenv("NEURONKIT_LOAD_PLUGINS", "onxx")
    broken_plugins.reset()
    with pytest.raises(NeuronkitError, match=r"NEURONKIT_LOAD_PLUGINS='onxx' names 'onxx', which no installed plugin"):
        neuronkit.compile(object(), framework="onnx")


# -- the CLI prints user and manifest text as it is: never as rich markup

def cli_run(*args):
    from click.testing import CliRunner

    from neuronkit.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_a_file_name_with_markup_is_printed_as_it_is(tmp_path):
    (tmp_path / "a[").mkdir()
    odd = tmp_path / "a[" / "]b[bold].nk"  # the path reads a[/]b[bold].nk
    odd.write_text("not an artifact")
    out = cli_run("inspect", odd)
    assert out.exit_code == 1 and "MarkupError" not in out.output and "Traceback" not in repr(out.exc_info)
    assert "a[/]b[bold].nk" in out.output


def test_manifest_text_is_never_rendered_as_markup(good, tmp_path):
    manifest = copy.deepcopy(good[2])
    manifest["report"]["notes"] = ["[bold red]fake[/] [link=https://example.invalid]click[/link]"]
    root = as_directory(tmp_path, {**good[1], MANIFEST: json.dumps(manifest).encode()})
    out = cli_run("inspect", root)
    assert out.exit_code == 0, out.output
    assert "[bold red]fake[/] [link=https://example.invalid]click[/link]" in out.output


class FakeMissingBackend:
    from neuronkit import hookimpl

    @hookimpl
    def neuronkit_backends(self):
        from neuronkit import BackendSpec

        return [BackendSpec(name="fakefw", framework="Fake", compiler="x:Y", replica="x:Z",
                            requires=("no_such_module_for_neuronkit",), install_hint='pip install "neuronkit[tf]"',
                            selftest="x:tiny")]


@pytest.fixture
def fake_missing_backend():
    from neuronkit import plugins

    plugins.register(FakeMissingBackend(), name="fake-missing")
    yield "fakefw"
    plugins.unregister("fake-missing")


def test_install_hints_keep_their_extra_everywhere(fake_missing_backend, tmp_path):
    hint = 'pip install "neuronkit[tf]"'
    assert hint in cli_run("backends").output  # whole, on one line, at 80 columns
    assert hint in cli_run("selftest", "--framework", fake_missing_backend).output
    model = tmp_path / "model.bin"
    model.write_bytes(b"x")
    out = cli_run("compile", model, "-o", tmp_path / "m.nk", "-f", fake_missing_backend)
    assert out.exit_code == 1 and hint in out.output


# -- a backend's CompileResult is checked before the core builds on it

def _result_with(**changes):
    from neuronkit import CompileReport, CompileResult, Component, TensorSpec

    fields = dict(inputs=(TensorSpec("x", "float32", (None, 4)),), outputs=(TensorSpec("y", "float32", (None, 3)),),
                  framework=Component("numpy", "1"), compiler=Component("matmul", "1"), batch_size=None,
                  dynamic_batch=True, report=CompileReport(), load={"weights": "w.npy"})
    return CompileResult(**{**fields, **changes})


@pytest.mark.parametrize("field,result", [
    ("inputs", lambda: _result_with(inputs=(("x", "float32", (None, 4)),))),
    ("outputs", lambda: _result_with(outputs=())),
    ("framework", lambda: _result_with(framework=("numpy", "1"))),
    ("flags", lambda: _result_with(flags="--fast")),
    ("batch_size", lambda: _result_with(batch_size=np.int64(4))),
    ("batch_size", lambda: _result_with(batch_size=0)),
    ("dynamic_batch", lambda: _result_with(dynamic_batch="yes")),
    ("report", lambda: _result_with(report={"ops_total": 1})),
    ("load", lambda: _result_with(load={"rows": np.int64(3)})),
    ("load", lambda: _result_with(load={"scale": float("nan")})),
    ("value", lambda: None),
    ("dtype", lambda: _result_with(inputs=(neuronkit.TensorSpec("x", "str", (None, 4)),))),
])
def test_a_badly_typed_compile_result_is_a_compile_error_naming_the_field(numpy_backend, weights, monkeypatch,
                                                                          field, result):
    from conftest import NumpyCompiler

    monkeypatch.setattr(NumpyCompiler, "compile", lambda self, model, request: result())
    with pytest.raises(neuronkit.CompileError, match=f"numpy-test backend .*{field}.*report this"):
        neuronkit.compile(weights, numpy_backend)


@pytest.mark.parametrize("args", [
    ["bench", "ART", "--batch", "-1"], ["bench", "ART", "--seconds", "-1"], ["bench", "ART", "--threads", "0"],
    ["bench", "ART", "--group-size", "0"], ["bench", "ART", "--cores", "abc"], ["predict", "ART", "X", "--top", "-1"],
    ["predict", "ART", "X", "--cores", "0.5"], ["predict", "ART", "ART"],
    ["compile", "X", "-o", "Y", "--batch-size", "0"], ["compile", "X", "-o", "Y", "--pipeline-cores", "0"],
    ["compile", "X", "-o", "Y", "-t", "gpu", "-f", "onnx"],
])
def test_bad_command_line_values_are_usage_errors_or_one_line_errors(tmp_path, args):
    from conftest import mlp

    art = neuronkit.compile(mlp()).save(tmp_path / "m.nk")
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    paths = {"ART": art, "X": tmp_path / "x.npy", "Y": tmp_path / "y.nk"}
    out = cli_run(*[paths.get(a, a) for a in args])
    assert isinstance(out.exception, SystemExit) and out.exit_code in (1, 2), out.exception
    assert out.exit_code == 2 or out.output.startswith("Error:"), out.output


def test_a_very_short_bench_still_reports_latencies(tmp_path):
    from neuronkit.bench import measure

    result = measure("short", lambda x: None, None, batch=1, seconds=1e-9, warmup=0, threads=2)
    assert result.calls >= 2 and result.latency(50) >= 0


def test_registering_a_plugin_with_a_misspelt_hook_in_process_says_so():
    from neuronkit import PluginError, hookimpl, plugins

    class Misspelt:
        @hookimpl
        def neuronkit_backendz(self):
            return []

    with pytest.raises(PluginError, match="'misspelt'.*neuronkit_backendz, which neuronkit does not define"):
        plugins.register(Misspelt(), name="misspelt")
    assert not plugins.get_plugin_manager().has_plugin("misspelt")


def test_a_huge_core_list_gives_a_short_message():
    from neuronkit.cores import plan_groups
    from neuronkit.targets import get_target

    with pytest.raises(CoreSpecError, match="this process has 16 NeuronCores") as caught:
        plan_groups(get_target("inf1"), _inf1_host(), list(range(0, 20000, 2)))
    assert len(str(caught.value)) < 300


# -- the Python API: wrongly typed arguments are named, never a raw TypeError

any_value = st.one_of(st.none(), st.booleans(), st.integers(-3, 10), st.floats(), st.text(max_size=6),
                      st.sampled_from(["cpu", "inf1", "fp32", "bf16", "auto", "numpy-test", "onnxruntime"]),
                      st.lists(st.integers(0, 3), max_size=2))


@FAST
@given(framework=any_value, target=any_value, precision=any_value, engine=any_value, batch_size=any_value,
       dynamic_batch=any_value, pipeline_cores=any_value)
def test_any_compile_arguments_compile_or_raise_a_neuronkit_error(numpy_backend, weights, framework, target,
                                                                  precision, engine, batch_size, dynamic_batch,
                                                                  pipeline_cores):
    try:
        art = neuronkit.compile(weights, framework, target=target, precision=precision, engine=engine,
                                batch_size=batch_size, dynamic_batch=dynamic_batch, pipeline_cores=pipeline_cores)
    except NeuronkitError as exc:
        assert len(str(exc)) < 600
    else:
        assert art.manifest.pipeline_cores >= 1


@pytest.mark.parametrize("value", [5, None, b"m.nk", ["m.nk"]])
def test_open_and_load_take_paths_only(value):
    with pytest.raises(ArtifactError, match="takes the path of an artifact"):
        neuronkit.load(value)


@pytest.mark.parametrize("content", [b"\x93NUMPY garbage", b"", "object-array"])
def test_predict_refuses_a_damaged_or_pickled_npy_clearly(tmp_path, content):
    from conftest import mlp

    art = neuronkit.compile(mlp()).save(tmp_path / "m.nk")
    bad = tmp_path / "x.npy"
    if content == "object-array":
        np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        bad.write_bytes(content)
    out = cli_run("predict", art, bad)
    assert out.exit_code == 1 and out.output.startswith("Error: cannot read") and "numpy.save" in out.output


@pytest.mark.parametrize("content", [b"PK\x03\x04 damaged npz", b"", b"\x93NUMPY garbage"])
def test_compile_refuses_damaged_example_inputs_clearly(tmp_path, content):
    from conftest import mlp
    from onnx import save

    save(mlp(), tmp_path / "m.onnx")
    (tmp_path / "ex.npz").write_bytes(content)
    out = cli_run("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.nk", "--example-inputs", tmp_path / "ex.npz")
    assert out.exit_code == 2 and "cannot read" in out.output


def test_a_decompression_bomb_image_is_an_input_error(tmp_path):
    from PIL import Image

    art = neuronkit.compile(add_one_model_image(), "onnx", preprocess=neuronkit.Preprocess())
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 Mpixel, a few kB on disk: over PIL's bomb limit
    out = cli_run("predict", art.save(tmp_path / "m.nk"), bomb)
    assert out.exit_code == 1 and out.output.startswith("Error: cannot read") and "as an image" in out.output


def add_one_model_image():
    """[N, 3, 8, 8] -> itself: an image model small enough to build in a test."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["same"])], "same",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("same", TensorProto.FLOAT, ["N", 3, 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_odd_sysfs_entries_do_not_break_device_discovery(tmp_path, monkeypatch):
    from neuronkit.testing import make_fake_host

    root = make_fake_host(tmp_path, devices=2)
    (root / "dev" / "neuron1a").touch()
    (root / "sys/devices/virtual/neuron_device/neuron1/core_count").write_text("four\n")
    monkeypatch.setenv("NEURONKIT_SYSROOT", str(root))
    out = cli_run("devices", "--json")
    assert out.exit_code == 0, out.output
    devices = json.loads(out.output)["devices"]
    assert [(d["index"], d["cores"]) for d in devices] == [(0, 4), (1, 4)]  # neuron1 as /dev only: assumed 4
