"""Micro-batching: concurrent requests to one model, gathered for a few milliseconds, become one `Predictor.predict`
call on the model's own worker thread (the event loop never runs inference).

What is joined is the *call*: the inputs of every gathered request go to one `predict` (same options and coverage),
and the result is split back per request by input. The Predictor reads and scores input by input, so joining saves
per-call overhead and thread hand-offs, not forward passes (no task hook joins samples yet; see docs/serve.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from medrnn.predict import Predictions, Served

log = logging.getLogger("medrnn.serve")


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
        self.in_flight = asyncio.Semaphore(2)  # one batch running, the next gathered meanwhile (gathering overlaps compute)
        self.running: set[asyncio.Task] = set()

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
            await asyncio.gather(self.task, *self.running, return_exceptions=True)
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
        while True:
            jobs = await self._gather() if self.window_s > 0 else [await self.queue.get()]  # type: ignore[union-attr]
            groups: dict[str, list[Job]] = {}
            for job in jobs:
                groups.setdefault(job.key(), []).append(job)
            for group in groups.values():
                await self.in_flight.acquire()
                task = asyncio.get_running_loop().create_task(self._run_group(group))
                self.running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self.running.discard(task)
        self.in_flight.release()

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
