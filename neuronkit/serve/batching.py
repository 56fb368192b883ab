"""Dynamic batching: requests for one model version are queued, merged and split back.

As Triton's dynamic batcher does: a batch takes every queued request that fits, up to
``max_batch_size`` rows, waiting at most ``max_delay`` after its first request arrived for more
(0, the default, waits for nothing and merges what queued up while the replicas were busy).
There is one batching worker per replica, so a batch forms while others run and goes to
whichever replica is free. The queue is bounded: a request that finds it full is refused at once
(:class:`~neuronkit.serve.errors.Unavailable`), never left to hang.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .errors import ServeError, Unavailable


@dataclass
class _Request:
    arrays: list
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)

    @property
    def rows(self) -> int:
        return self.arrays[0].shape[0]

    def fits_with(self, other: _Request) -> bool:
        """Requests merge when every input agrees beyond the batch axis."""
        return all(a.shape[1:] == b.shape[1:] for a, b in zip(self.arrays, other.arrays))


@dataclass(frozen=True)
class BatchStats:
    """What one batch did, for metrics: queue wait of each request, rows, and run time."""

    queue_seconds: tuple
    rows: int
    run_seconds: float


class Batcher:
    """Queues requests for ``predict`` (a blocking call taking a list of arrays in signature
    order) and runs merged batches on ``workers`` threads.

    :param mergeable: ``False`` for artifacts that only take their compiled batch: each request
        then runs alone (still queued, bounded and spread over the replicas).
    :param on_batch: called with a :class:`BatchStats` after each batch (metrics).
    """

    def __init__(self, predict: Callable, *, max_batch_size: int, max_delay: float = 0.0, max_queue: int = 256,
                 workers: int = 1, mergeable: bool = True, on_batch: Callable | None = None, name: str = "model"):
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_delay = max_delay
        self.max_queue = max_queue
        self.mergeable = mergeable
        self.on_batch = on_batch or (lambda stats: None)
        self.busy = 0
        self._pending: deque = deque()
        self._cond: asyncio.Condition | None = None
        self._closing = False
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=f"neuronkit-{name}")
        self._workers_count = workers
        self._workers: list = []
        self._name = name

    def start(self) -> None:
        """Start the batching workers on the running event loop."""
        self._cond = asyncio.Condition()
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(self._workers_count)]

    @property
    def queued(self) -> int:
        return len(self._pending)

    async def submit(self, arrays: list) -> list:
        """Queue one request (arrays already checked against the signature); its outputs."""
        if self._closing or self._cond is None:
            raise Unavailable(f"model {self._name} is unloading; retry, or ask for another version")
        if len(self._pending) >= self.max_queue:
            raise Unavailable(f"model {self._name}: the queue is full ({self.max_queue} requests waiting); retry "
                              f"later, or start the server with a larger --max-queue")
        request = _Request(arrays, asyncio.get_running_loop().create_future())
        self._pending.append(request)
        async with self._cond:
            self._cond.notify()
        return await request.future

    async def close(self) -> None:
        """Refuse new requests, finish every queued and running one, then stop the workers."""
        self._closing = True
        if self._cond is not None:
            async with self._cond:
                self._cond.notify_all()
            await asyncio.gather(*self._workers, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def _work(self) -> None:
        while True:
            async with self._cond:
                await self._cond.wait_for(lambda: self._pending or self._closing)
                if not self._pending:
                    return  # closing, and nothing left to run
                batch = [self._pending.popleft()]
            if self.mergeable:
                await self._gather(batch)
            await self._run(batch)

    async def _gather(self, batch: list) -> None:
        """Add queued requests that fit to ``batch``, waiting up to the delay for more."""
        first, rows = batch[0], batch[0].rows
        deadline = first.enqueued + self.max_delay
        while rows < self.max_batch_size:
            async with self._cond:
                if not self._pending and not self._closing:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        return
                    try:
                        await asyncio.wait_for(self._cond.wait_for(lambda: self._pending or self._closing), remaining)
                    except asyncio.TimeoutError:
                        return
                if not self._pending:
                    return
                candidate = self._pending[0]
                if rows + candidate.rows > self.max_batch_size or not candidate.fits_with(first):
                    return
                batch.append(self._pending.popleft())
                rows += candidate.rows

    async def _run(self, batch: list) -> None:
        start = time.perf_counter()
        arrays = batch[0].arrays if len(batch) == 1 else [
            np.concatenate([r.arrays[i] for r in batch]) for i in range(len(batch[0].arrays))]
        self.busy += 1
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(self._executor, self.predict, arrays)
        except Exception as exc:  # every request of the batch gets the error; the worker goes on
            return _fail(batch, exc)
        finally:
            self.busy -= 1
        rows = sum(r.rows for r in batch)
        if len(batch) > 1 and any(o.shape[:1] != (rows,) for o in outputs):
            return _fail(batch, ServeError(f"model {self._name} returned outputs without a batch axis, so merged "
                                           f"requests cannot be split back; serve it with --max-batch-size 1"))
        offset = 0
        for r in batch:
            n = r.rows
            if not r.future.done():  # a client that went away cancelled its future
                r.future.set_result([o[offset:offset + n] for o in outputs])
            offset += n
        self.on_batch(BatchStats(tuple(start - r.enqueued for r in batch), offset, time.perf_counter() - start))


def _fail(batch: list, error: Exception) -> None:
    for r in batch:
        if not r.future.done():  # a client that went away cancelled its future
            r.future.set_exception(error)
