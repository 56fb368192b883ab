"""The batcher on its own: merging, splitting back, the bound, the delay, draining on close."""

import asyncio
import threading
import time

import numpy as np
import pytest

from neuronkit.serve.batching import Batcher
from neuronkit.serve.errors import ServeError, Unavailable


class Model:
    """``y = 2x``, recording each batch's rows; ``gate`` holds runs until it is set."""

    def __init__(self, batch_axis=True):
        self.batches, self.gate, self.batch_axis = [], threading.Event(), batch_axis
        self.gate.set()

    def __call__(self, arrays):
        self.gate.wait(10)
        self.batches.append(arrays[0].shape[0])
        return [2 * arrays[0]] if self.batch_axis else [arrays[0].sum(keepdims=True)[0]]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def request(i, rows=1):
    return [np.full((rows, 2), i, np.float32)]


def test_queued_requests_merge_up_to_the_limit_and_split_back():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_size=4, workers=1)
        batcher.start()
        model.gate.clear()                      # the first request runs alone and holds the worker
        first = asyncio.ensure_future(batcher.submit(request(0)))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(batcher.submit(request(i, rows=1 + i % 2))) for i in range(1, 7)]
        await asyncio.sleep(0.05)
        model.gate.set()
        results = await asyncio.gather(first, *rest)
        await batcher.close()
        return results

    results = run(main())
    for i, (y,) in enumerate(results):
        np.testing.assert_array_equal(y, 2 * request(i, rows=1 + i % 2 if i else 1)[0])
    assert model.batches[0] == 1 and all(b <= 4 for b in model.batches) and sum(model.batches) == 10
    assert len(model.batches) <= 4             # 9 queued rows in at most 3 batches of up to 4


def test_the_delay_waits_for_more_requests():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_size=8, max_delay=0.2, workers=1)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(request(0)))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.submit(request(1)))
        await asyncio.gather(first, second)
        await batcher.close()

    run(main())
    assert model.batches == [2]


def test_a_full_queue_refuses_at_once():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_size=1, max_queue=2, workers=1)
        batcher.start()
        model.gate.clear()
        running = asyncio.ensure_future(batcher.submit(request(0)))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(batcher.submit(request(i))) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(Unavailable, match="queue is full"):
            await batcher.submit(request(3))
        model.gate.set()
        await asyncio.gather(running, *queued)
        await batcher.close()

    run(main())


def test_close_finishes_queued_requests_then_refuses():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_size=1, workers=1)
        batcher.start()
        model.gate.clear()
        pending = [asyncio.ensure_future(batcher.submit(request(i))) for i in range(3)]
        await asyncio.sleep(0.05)
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0.05)
        with pytest.raises(Unavailable, match="unloading"):
            await batcher.submit(request(9))
        model.gate.set()
        await closing
        return await asyncio.gather(*pending)

    assert len(run(main())) == 3 and model.batches == [1, 1, 1]


def test_requests_of_other_shapes_do_not_merge():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_size=8, max_delay=0.1, workers=1)
        batcher.start()
        a = asyncio.ensure_future(batcher.submit([np.ones((1, 2), np.float32)]))
        b = asyncio.ensure_future(batcher.submit([np.ones((1, 3), np.float32)]))
        await asyncio.gather(a, b)
        await batcher.close()

    run(main())
    assert model.batches == [1, 1]


def test_outputs_without_a_batch_axis_cannot_be_split():
    model = Model(batch_axis=False)

    async def main():
        batcher = Batcher(model, max_batch_size=8, max_delay=0.1, workers=1)
        batcher.start()
        results = await asyncio.gather(batcher.submit(request(1)), batcher.submit(request(2)), return_exceptions=True)
        await batcher.close()
        return results

    results = run(main())
    assert all(isinstance(r, ServeError) and "--max-batch-size 1" in str(r) for r in results)


def test_a_failing_model_fails_its_batch_and_the_worker_goes_on():
    calls = []

    def flaky(arrays):
        calls.append(time.perf_counter())
        if len(calls) == 1:
            raise RuntimeError("device error")
        return [arrays[0]]

    async def main():
        batcher = Batcher(flaky, max_batch_size=1, workers=1)
        batcher.start()
        with pytest.raises(RuntimeError, match="device error"):
            await batcher.submit(request(0))
        (y,) = await batcher.submit(request(5))
        await batcher.close()
        return y

    np.testing.assert_array_equal(run(main()), request(5)[0])
