"""Coalescing: concurrent requests of one process share one flush (one round trip, one commit).

The commit (the WAL flush) bounds a writer that commits each append alone. A request that finds
nothing in flight and nobody queued is flushed at once, in the caller's own task: without
concurrency nothing waits and nothing is handed to another task. Otherwise it queues, and a flush
starts one pass of the event loop later with everything queued by then, as soon as fewer than
`max_in_flight` flushes are in flight (at once, or after `max_wait`: see CoalesceSettings). While
that many are in flight, requests queue, and the next flush carries all of them (up to
`max_batch`). A flush that ends starts the next one pass of the event loop later, so the callers
it answers, if they request again at once, go with it.

The flush function gets a list of requests and returns one outcome per request (its result, or
the exception for that caller alone), so that one caller's failure is never another's.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from acci import metrics
from acci.errors import ConfigurationError

T = TypeVar("T")
R = TypeVar("R")

#: A flush: one outcome per request, in order; an exception instance is raised to its caller only.
Flush = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]

#: What a coalescer flushes, and the histograms (seconds per flush, requests per flush) it feeds.
Kind = Literal["append", "load"]
_METRICS = {
    "append": (metrics.APPEND_FLUSH_SECONDS, metrics.APPEND_BATCH_SIZE),
    "load": (metrics.LOAD_FLUSH_SECONDS, metrics.LOAD_BATCH_SIZE),
}


@dataclass(frozen=True, slots=True)
class CoalesceSettings:
    """How a PostgresEventStore lets concurrent appends share a commit (docs/runtime.md,
    "Coalesced appends"). `CoalesceSettings(enabled=False)` commits every append alone."""

    enabled: bool = True
    #: The most appends in one flush.
    max_batch: int = 128
    #: The most events in one flush; a larger append is written alone (from 1,000 events on by COPY).
    max_events: int = 1000
    #: How many flushes may be in flight at once, each on its own pooled connection.
    max_in_flight: int = 2
    #: How long (seconds) queued appends wait for the flush in flight to end before another one
    #: starts for them (while fewer than `max_in_flight` are in flight): the bound on the wait
    #: behind a slow flush. Two flushes at once without a wait split the writers into two halves
    #: that take turns, each flush carrying half as much; one flush at a time lets a stuck flush
    #: hold up every append. The defaults measured best for 8 to 128 writers and senders.
    max_wait: float = 0.001

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_events < 1 or self.max_in_flight < 1 or self.max_wait < 0:
            raise ConfigurationError(
                f"{self} is not valid: max_batch, max_events and max_in_flight must be at least 1 and "
                "max_wait (seconds) at least 0."
            )


class _Waiting(Generic[T, R]):
    __slots__ = ("future", "request", "since", "size")

    def __init__(self, request: T, size: int, future: asyncio.Future[R]) -> None:
        self.request = request
        self.size = size
        self.future = future
        self.since = time.monotonic()


class Coalescer(Generic[T, R]):
    """Queues requests and flushes them in batches within the bounds of `settings`.

    `size(request)` is what counts against `max_events`.
    """

    def __init__(
        self,
        flush: Flush[T, R],
        settings: CoalesceSettings,
        size: Callable[[T], int],
        *,
        kind: Kind = "append",
    ) -> None:
        self._flush = flush
        self._flush_seconds, self._batch_sizes = _METRICS[kind]
        self._settings = settings
        self._size = size
        self._queue: deque[_Waiting[T, R]] = deque()
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        #: Set each time a flush ends (for drain).
        self._flushed = asyncio.Event()
        self._kick_soon = False

    async def submit(self, request: T) -> R:
        """The request's outcome: its result, or its exception raised."""
        if self._in_flight == 0 and not self._queue:
            # Nothing in flight: flush now, in this task. A cancellation of the caller then
            # cancels its own append only, as without coalescing.
            self._in_flight += 1
            try:
                (outcome,) = await self._timed([request])
            finally:
                self._release()
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        loop = asyncio.get_running_loop()
        waiting = _Waiting[T, R](request, self._size(request), loop.create_future())
        self._queue.append(waiting)
        if not self._kick_soon:
            # One pass of the event loop later: the appends made in this pass go together.
            self._kick_soon = True
            loop.call_soon(self._kick)
        try:
            return await waiting.future
        except asyncio.CancelledError:
            # Not sent yet: take it back. Already in a flush: that flush goes on for the others,
            # and this append's outcome is unknown to its caller, as for any cancelled append.
            if waiting in self._queue:
                self._queue.remove(waiting)
            raise

    async def drain(self) -> None:
        """Wait until every queued request has been flushed (before the connections close)."""
        while self._queue or self._in_flight:
            self._flushed.clear()
            self._kick(force=True)
            await self._flushed.wait()

    # -- flushing ----------------------------------------------------------------------------

    def _kick(self, *, force: bool = False) -> None:
        """Start flushes for the queue while the bounds allow."""
        self._kick_soon = False
        settings = self._settings
        while self._queue and self._in_flight < settings.max_in_flight:
            if self._in_flight > 0 and not force:
                waited = time.monotonic() - self._queue[0].since
                if waited < settings.max_wait:
                    if self._timer is None:
                        self._timer = asyncio.get_running_loop().call_later(
                            settings.max_wait - waited, self._on_timer
                        )
                    return
            batch = [self._queue.popleft()]
            events = batch[0].size
            while self._queue and len(batch) < settings.max_batch:
                size = self._queue[0].size
                if events + size > settings.max_events:
                    break
                batch.append(self._queue.popleft())
                events += size
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _on_timer(self) -> None:
        self._timer = None
        self._kick()

    async def _run(self, batch: list[_Waiting[T, R]]) -> None:
        try:
            outcomes = await self._timed([w.request for w in batch])
        except Exception as error:  # a defect in the flush itself: every caller of the batch hears of it
            outcomes = [error] * len(batch)
        except BaseException:  # cancelled (the loop is closing): so are the callers' waits
            for waiting in batch:
                waiting.future.cancel()
            self._release()
            raise
        self._settle(batch, outcomes)
        # The next flush starts one pass of the event loop later: the callers just answered run
        # first, and those that append again at once (a busy writer does) join it, instead of
        # waiting a whole flush behind a batch that left without them.
        asyncio.get_running_loop().call_soon(self._release)

    def _release(self) -> None:
        self._in_flight -= 1
        self._flushed.set()
        self._kick()

    @staticmethod
    def _settle(batch: list[_Waiting[T, R]], outcomes: Sequence[R | BaseException]) -> None:
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if waiting.future.done():  # its caller was cancelled
                continue
            if isinstance(outcome, BaseException):
                waiting.future.set_exception(outcome)
            else:
                waiting.future.set_result(outcome)

    async def _timed(self, requests: list[T]) -> Sequence[R | BaseException]:
        started = time.perf_counter()
        outcomes = await self._flush(requests)
        self._flush_seconds.observe(time.perf_counter() - started)
        self._batch_sizes.observe(len(requests))
        return outcomes
