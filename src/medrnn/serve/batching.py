"""Micro-batching: concurrent requests to one model become one `Predictor.predict` call, and so one forward pass over
their joined samples (`Task.join`), on the model's own worker thread (the event loop never runs inference).

While the worker runs a batch, new requests wait in the queue; when it is free, everything queued (up to `max_batch`
requests, grouped by options and coverage) is taken at once, and with a window > 0 it waits that long for more. So
batching costs no latency to a lone client and grows with the load. The result is split back per request by input.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from medrnn.predict import Predictions, Served

log = logging.getLogger("medrnn.serve")


def release_memory() -> None:
    """Return freed heap pages to the OS (glibc `malloc_trim`; a no-op elsewhere): large joined batches otherwise leave
    the worker's allocator arena at its high water."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class QueueFull(Exception):
    """The model's queue is at its bound: the client should retry later (503 + Retry-After)."""


@dataclass
class Job:
    """One request's inputs waiting for the worker."""

    inputs: list[str]
    options: dict[str, Any]
    coverage: float | None
    future: asyncio.Future = field(repr=False)

    def key(self) -> str:
        """Requests with equal keys can share one predict call."""
        return json.dumps([self.options, self.coverage], sort_keys=True, default=str)


def split_predictions(result: Predictions, jobs: list[Job]) -> list[Predictions]:
    """One joined result -> one Predictions per job, by input (items come in input order, failed inputs have none)."""
    items = iter(result.items)
    out = []
    for job in jobs:
        mine = [next(items) for source in job.inputs if "error" not in result.failures.get(source, {})]
        failures = {s: result.failures[s] for s in job.inputs if s in result.failures}
        out.append(Predictions(result.task, result.columns, mine, failures))
    return out


class Batcher:
    """One model's queue (bounded), gathering window and worker thread."""

    def __init__(self, name: str, served: Served, window_ms: float, max_batch: int, max_queue: int) -> None:
        self.name, self.served = name, served
        self.window_s, self.max_batch, self.max_queue = window_ms / 1000.0, max(1, max_batch), max_queue
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"medrnn-{name}")
        self.queue: asyncio.Queue[Job] | None = None
        self.task: asyncio.Task | None = None
        self.waiting = 0
        self.batches = 0

    def start(self) -> None:
        """Start gathering (inside the running event loop)."""
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Finish what is queued, then stop the loop and the worker thread."""
        if self.queue is not None:
            while self.waiting:
                await asyncio.sleep(0.01)
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.executor.shutdown(wait=True)

    async def predict(self, inputs: list[str], options: dict[str, Any], coverage: float | None) -> Predictions:
        """Queue one request's inputs; QueueFull when the bound is reached."""
        if self.queue is None:
            raise RuntimeError("batcher not started")
        if self.waiting >= self.max_queue:
            raise QueueFull(self.name)
        job = Job(inputs, options, coverage, asyncio.get_running_loop().create_future())
        self.waiting += 1
        try:
            self.queue.put_nowait(job)
            return await job.future
        finally:
            self.waiting -= 1

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on this model's worker thread (explanations, outside the batching)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def _gather(self) -> list[Job]:
        """The next job (waiting for it), everything queued behind it, and with a window what arrives within it."""
        queue = self.queue
        if queue is None:
            raise RuntimeError("batcher not started")
        jobs = [await queue.get()]
        deadline = time.monotonic() + self.window_s
        while len(jobs) < self.max_batch:
            if not queue.empty():
                jobs.append(queue.get_nowait())
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                jobs.append(await asyncio.wait_for(queue.get(), left))
            except TimeoutError:
                break
        return jobs

    async def _loop(self) -> None:
        while True:  # one batch at a time: requests arriving meanwhile queue up and join the next batch
            groups: dict[str, list[Job]] = {}
            for job in await self._gather():
                groups.setdefault(job.key(), []).append(job)
            for group in groups.values():
                await self._run_group(group)

    async def _run_group(self, group: list[Job]) -> None:
        inputs = [s for job in group for s in job.inputs]
        first = group[0]
        self.batches += 1
        t0 = time.perf_counter()
        try:
            result = await self.run(lambda: self.served.predict(inputs, coverage=first.coverage, **first.options))
        except Exception as err:  # the call failed as a whole (a bad coverage, a defect): every request of it hears so
            for job in group:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        log.info("model=%s batch requests=%d inputs=%d ms=%.1f", self.name, len(group), len(inputs), 1000 * (time.perf_counter() - t0))
        for job, part in zip(group, split_predictions(result, group)):
            if not job.future.done():
                job.future.set_result(part)
        if len(group) > 1:  # a joined batch's buffers are freed now: hand the pages back, so memory stays flat under load
            await self.run(release_memory)  # (measured: +3 MB after warm-up with it, +73 MB without; at most once a second: +35)
