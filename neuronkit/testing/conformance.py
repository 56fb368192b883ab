"""The conformance suite every backend runs, built-in or third-party (the keras 3 habit).

In a backend's test module::

    from neuronkit.testing import BackendConformance, ConformanceCase

    class TestMyBackend(BackendConformance):
        @pytest.fixture(scope="class")
        @classmethod
        def case(cls):
            return ConformanceCase(framework="mine", make_model=build_small_model,
                                   make_inputs=lambda batch: (np.ones((batch, 4), "float32"),),
                                   reference=lambda model, inputs: [run_eagerly(model, *inputs)])

Every test compiles for the ``cpu`` target; a case may add compile options (an engine, say).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import neuronkit
from neuronkit import InputError


@dataclass
class ConformanceCase:
    """A small model of the backend's framework, its inputs and an eager reference."""

    framework: str
    make_model: Callable[[], Any]                        # a fresh model object
    make_inputs: Callable[[int], tuple]                  # batch -> numpy arrays in signature order
    reference: Callable[[Any, tuple], list]              # (model, inputs) -> outputs as numpy arrays
    compile_options: dict = field(default_factory=dict)  # e.g. {"engine": "torchscript"}
    rtol: float = 1e-4
    batch: int = 2


def relative_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-12))


class BackendConformance:
    """Round trips and error behaviour every backend must share. Provide a ``case`` fixture."""

    @pytest.fixture(scope="class")
    @classmethod
    def compiled(cls, case):
        model = case.make_model()
        inputs = case.make_inputs(case.batch)
        art = neuronkit.compile(model, case.framework, example_inputs=inputs, **case.compile_options)
        return model, inputs, art

    def _check_close(self, case, got, want):
        got = got if isinstance(got, tuple) else (got,)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=False):
            assert g.shape == np.asarray(w).shape
            assert relative_error(g, w) < case.rtol

    def test_compile_save_open_load_predict(self, case, compiled, tmp_path):
        model, inputs, art = compiled
        path = art.save(tmp_path / "model.nk")
        assert path.is_file()
        with neuronkit.load(path) as rt:
            self._check_close(case, rt(inputs), case.reference(model, inputs))

    def test_directory_form_round_trip(self, case, compiled, tmp_path):
        model, inputs, art = compiled
        path = art.save(tmp_path / "model_dir", directory=True)
        assert (path / "neuronkit.json").is_file()
        with neuronkit.load(path) as rt:
            self._check_close(case, rt(inputs), case.reference(model, inputs))

    def test_manifest_describes_the_compile(self, case, compiled):
        _, inputs, art = compiled
        m = art.manifest
        assert m.backend.name == neuronkit.plugins.find_backend(case.framework).name
        assert m.target == "cpu"
        assert m.framework.version and m.compiler.name
        assert len(m.inputs) == len(inputs)
        for spec, array in zip(m.inputs, inputs, strict=False):
            assert spec.dtype == array.dtype.name
            assert spec.shape[1:] == array.shape[1:]
        assert m.files and all(len(e["sha256"]) == 64 for e in m.files.values())
        assert m.report.compile_seconds > 0

    def test_wrong_shape_names_the_signature(self, case, compiled):
        _, inputs, art = compiled
        bad = list(inputs)
        bad[0] = np.zeros(inputs[0].shape[:-1] + (inputs[0].shape[-1] + 1,), inputs[0].dtype)
        with neuronkit.load(art) as rt, pytest.raises(InputError) as err:
            rt(tuple(bad))
        assert art.inputs[0].name in str(err.value)

    def test_wrong_dtype_says_how_to_convert(self, case, compiled):
        _, inputs, art = compiled
        bad = (inputs[0].astype(np.float64),) + tuple(inputs[1:])
        with neuronkit.load(art) as rt, pytest.raises(InputError, match="astype"):
            rt(bad)

    def test_replicas_called_from_threads_equal_serial(self, case, compiled):
        _, _, art = compiled
        batches = [case.make_inputs(case.batch) for _ in range(8)]
        with neuronkit.load(art, cores=min(2, neuronkit.targets.discover().cpus), group_size=1) as rt:
            serial = [rt(b) for b in batches]
            parallel: list = [None] * len(batches)

            def work(i):
                parallel[i] = rt(batches[i])

            threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for s, p in zip(serial, parallel, strict=False):
            s, p = (s if isinstance(s, tuple) else (s,)), (p if isinstance(p, tuple) else (p,))
            for a, b in zip(s, p, strict=False):
                np.testing.assert_array_equal(a, b)

    def test_loads_in_a_fresh_process(self, case, compiled, tmp_path):
        model, inputs, art = compiled
        path = art.save(tmp_path / "model.nk")
        for i, array in enumerate(inputs):
            np.save(tmp_path / f"in{i}.npy", array)
        script = (
            "import json, sys, numpy as np, neuronkit\n"
            f"inputs = tuple(np.load(sys.argv[2] + f'/in{{i}}.npy') for i in range({len(inputs)}))\n"
            "with neuronkit.load(sys.argv[1]) as rt:\n"
            "    out = rt(inputs)\n"
            "out = out if isinstance(out, tuple) else (out,)\n"
            "for i, o in enumerate(out): np.save(sys.argv[2] + f'/out{i}.npy', o)\n"
            "print(json.dumps(sorted(m for m in sys.modules if '.' not in m)))\n"
        )
        done = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
        assert not modules & {"torch", "tensorflow", "mxnet"} - _framework_modules(case.framework)
        outputs = tuple(np.load(tmp_path / f"out{i}.npy") for i in range(len(art.outputs)))
        self._check_close(case, outputs, case.reference(model, inputs))

    def test_plugin_claims_its_model(self, case):
        spec = neuronkit.plugins.claim_backend(case.make_model())
        assert spec.name == neuronkit.plugins.find_backend(case.framework).name


def _framework_modules(framework: str) -> set:
    """The one framework a backend may import (one framework per process): what its spec requires."""
    return set(neuronkit.plugins.find_backend(framework).requires)
