"""The Runtime: replicas of one artifact over core groups, with checked inputs and dispatch.

Each call goes to the least-busy replica (ties rotate); a replica runs one call at a time, so a
replica never oversubscribes its cores. Inputs are checked against the manifest before any
framework code runs. A model compiled for a fixed batch N that allows dynamic batching is fed
any batch: the batch is cut into chunks of N (the last one padded), the chunks run in parallel
over the replicas, and the outputs are joined and trimmed. A bucket model (compiled for several input
shapes, ``manifest.buckets``) gets each call padded with zeros to the smallest bucket that fits it
(:func:`choose_bucket`), and its outputs cut back to the call's batch on axis 0; other padded axes
come back as the bucket produced them.

Closing: :meth:`Runtime.close` refuses new calls at once, waits for the calls already running to
finish (their callers get their results), then releases the replicas. Any call after that raises
:class:`~neuronkit.errors.RuntimeClosed`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .artifact import Artifact
from .cores import CoreGroup
from .errors import InputError, NeuronkitError, RuntimeClosed
from .interfaces import Replica

Inputs = np.ndarray | Sequence | Mapping


class _Slot:
    def __init__(self, replica: Replica):
        self.replica = replica
        self.lock = threading.Lock()
        self.pending = 0


class Runtime:
    """A loaded artifact. Call it (or :meth:`predict`) with arrays; close it, or use ``with``."""

    def __init__(self, artifact: Artifact, groups: Sequence[CoreGroup], replicas: Sequence[Replica]):
        self.artifact = artifact
        self.groups = tuple(groups)
        self._slots = [_Slot(r) for r in replicas]
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when the last running call ends
        self._running = 0
        self._turn = itertools.count()
        self._pool = None
        self._closed = False
        self._dtypes = [np.dtype(spec.dtype) for spec in artifact.inputs]  # dtype.name is slow per call
        self._buckets = artifact.manifest.buckets

    @property
    def inputs(self):
        return self.artifact.inputs

    @property
    def outputs(self):
        return self.artifact.outputs

    @property
    def replicas(self) -> tuple:
        """The loaded :class:`~neuronkit.Replica` objects, one per core group, in group order.
        Look, don't call: the Runtime runs one call at a time on each."""
        return tuple(slot.replica for slot in self._slots)

    def __repr__(self) -> str:
        groups = ", ".join(str(g) for g in self.groups)
        return f"<Runtime {self.artifact.backend} target={self.artifact.target} groups=[{groups}]>"

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release every replica (and with them the cores). Safe to call twice, from any thread.

        New calls are refused from the moment ``close`` starts (:class:`RuntimeClosed`); calls
        already running finish normally, and ``close`` returns once they have and every replica
        is released. Do not call it from inside a call to this Runtime: it would wait for itself.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._idle.wait_for(lambda: self._running == 0)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for slot in self._slots:
            with slot.lock:
                slot.replica.close()

    # -- calling
    def __call__(self, inputs: Inputs) -> Any:
        return self.predict(inputs)

    def predict(self, inputs: Inputs) -> Any:
        """Run the model. Pass one array, a list in signature order, or a dict by input name.

        :return: an array when the model has one output, else a tuple in signature order.
        """
        with self._lock:
            if self._closed:
                raise RuntimeClosed("this Runtime is closed; load the artifact again (neuronkit.load) to run it")
            self._running += 1
        try:
            arrays = self.check_inputs(inputs)
            m = self.artifact.manifest
            n = arrays[0].shape[0] if m.inputs[0].shape else 0
            if self._buckets:
                outputs = self._run_bucket(arrays, n)
            elif m.batch_size is None or n == m.batch_size:
                outputs = self._dispatch(arrays)
            else:
                outputs = self._run_chunks(arrays, n, m.batch_size)
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self._idle.notify_all()
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def check_inputs(self, inputs: Inputs) -> list:
        """Inputs as arrays in signature order, or :class:`InputError` naming the expected signature."""
        specs = self.artifact.inputs
        if isinstance(inputs, Mapping):
            names = [s.name for s in specs]
            if set(inputs) != set(names):
                given_names = sorted(repr(k) for k in inputs)  # keys may be of any (mixed) type
                shown = ", ".join(given_names[:10]) + (", …" if len(given_names) > 10 else "")
                raise InputError(f"input names [{shown}] do not match the model's {names}; "
                                 f"expected {self._signature()}")
            given = [inputs[name] for name in names]
        elif isinstance(inputs, (list, tuple)):
            given = list(inputs)
        else:
            given = [inputs]
        if len(given) != len(specs):
            hint = ""
            if len(specs) == 1 and isinstance(inputs, (list, tuple)):
                hint = (f"; a list or tuple is read as one array per input, so to pass {len(given)} rows as one "
                        f"batch, stack them: rt(np.stack(rows))")
            raise InputError(f"got {len(given)} input(s), the model takes {len(specs)}: {self._signature()}{hint}")
        arrays = []
        m = self.artifact.manifest
        for spec, dtype, value in zip(specs, self._dtypes, given, strict=False):
            try:
                array = np.asarray(value)
            except (ValueError, TypeError) as exc:  # ragged nested lists, objects numpy cannot convert
                raise InputError(f"input {spec.name!r} is not an array ({exc}); pass a numpy array shaped like "
                                 f"{spec.describe()}") from None
            if array.dtype.name != spec.dtype:
                raise InputError(f"input {spec.name!r} has dtype {array.dtype.name}, expected {spec.dtype} "
                                 f"(convert with .astype('{spec.dtype}')); signature: {self._signature()}")
            if array.ndim != len(spec.shape):
                raise InputError(f"input {spec.name!r} has rank {array.ndim} (shape {array.shape}), expected rank "
                                 f"{len(spec.shape)}; signature: {self._signature()}")
            for axis, (got, want) in enumerate(zip(array.shape, spec.shape, strict=False)):
                batch_ok = axis == m.batch_axis and (want is None or m.dynamic_batch)
                if want is not None and got != want and not batch_ok:
                    raise InputError(f"input {spec.name!r} has shape {array.shape}, expected "
                                     f"{spec.describe()} (axis {axis} must be {want}"
                                     f"{'' if axis else '; this artifact was compiled without dynamic batch'}); "
                                     f"signature: {self._signature()}")
            # dtype.name ignores byte order: '>f4' is "float32" too, and backends read native order only.
            arrays.append(np.ascontiguousarray(array, dtype=dtype.newbyteorder("=")))
        batches = {a.shape[0] for a in arrays if a.ndim}
        if len(batches) > 1:
            raise InputError(f"inputs disagree on the batch size {[a.shape[0] for a in arrays]}; "
                             f"every input needs the same axis 0")
        if 0 in batches:
            raise InputError("got an empty batch (axis 0 has length 0); send at least one row")
        return arrays

    def _signature(self) -> str:
        return "(" + ", ".join(s.describe() for s in self.artifact.inputs) + ")"

    def _dispatch(self, arrays: list) -> list:
        with self._lock:
            turn = next(self._turn)
            count = len(self._slots)
            slot = min((self._slots[(turn + i) % count] for i in range(count)), key=lambda s: s.pending)
            slot.pending += 1
        try:
            with slot.lock:
                outputs = slot.replica.run(arrays)
        finally:
            with self._lock:
                slot.pending -= 1
        if len(outputs) != len(self.artifact.outputs):
            raise NeuronkitError(f"the {self.artifact.backend} backend returned {len(outputs)} outputs, the "
                                 f"manifest lists {len(self.artifact.outputs)}; report this to the plugin's authors")
        return [np.asarray(o) for o in outputs]

    def _run_chunks(self, arrays: list, n: int, size: int) -> list:
        starts = range(0, n, size)
        chunks = [[_pad(a[s:s + size], size) for a in arrays] for s in starts]
        if len(chunks) > 1 and len(self._slots) > 1:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(len(self._slots), thread_name_prefix="neuronkit")
            results = list(self._pool.map(self._dispatch, chunks))
        else:
            results = [self._dispatch(c) for c in chunks]
        return [np.concatenate([r[i] for r in results])[:n] for i in range(len(results[0]))]

    def _run_bucket(self, arrays: list, n: int) -> list:
        bucket = choose_bucket(self._buckets, [a.shape for a in arrays])
        padded = [np.pad(a, [(0, want - got) for got, want in zip(a.shape, shape)]) for a, shape in zip(arrays, bucket)]
        outputs = self._dispatch(padded)
        return [o[:n] if o.ndim and o.shape[0] > n else o for o in outputs]


def choose_bucket(buckets: Sequence, shapes: Sequence) -> tuple:
    """The smallest bucket (fewest elements over all inputs; the first listed on a tie) whose every axis
    is at least the input's, or :class:`InputError` naming the buckets."""
    def fits(bucket) -> bool:
        return len(bucket) == len(shapes) and all(
            len(want) == len(got) and all(g <= w for g, w in zip(got, want)) for got, want in zip(shapes, bucket))

    def size(bucket) -> int:
        return sum(int(np.prod(shape)) for shape in bucket)

    fitting = [b for b in buckets if fits(b)]
    if not fitting:
        given = ", ".join(str(tuple(s)) for s in shapes)
        listed = "; ".join(", ".join(str(tuple(s)) for s in b) for b in buckets)
        raise InputError(f"input shape {given} fits none of the buckets this model was compiled for ({listed}); "
                         f"send smaller inputs (split the batch), or compile with a bucket this large (shapes=)")
    return min(fitting, key=size)


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    """Fill a short last chunk up to the compiled batch by repeating its last row."""
    missing = size - array.shape[0]
    if missing <= 0:
        return array
    return np.concatenate([array, np.repeat(array[-1:], missing, axis=0)])
