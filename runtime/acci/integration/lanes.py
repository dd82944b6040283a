"""Lanes: how a consumer handles its messages at once while each stream of origin keeps its order.

Every message of one stream of origin goes to the same lane (by a hash of the origin), and a lane
handles its messages one after another. Batches overlap: the lane of a batch starts as soon as the
same lane of the batch before it is done, not when every lane of that batch is done, so one long
lane does not leave the others idle (at most `depth` batches are in flight). A lane that fails
abandons the later batches' part of that lane: those messages stay unacknowledged and come again,
in order, when the consumer is opened again.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from acci.integration.envelope import AGGREGATE_ID, AGGREGATE_TYPE, TENANT_ID
from acci.integration.transport import IncomingMessage

#: Handles one lane's messages of one batch, in order.
LaneHandler = Callable[[Sequence[IncomingMessage]], Awaitable[None]]


def lanes_of(messages: Sequence[IncomingMessage], lanes: int) -> list[list[IncomingMessage]]:
    """The messages split into at most `lanes` lanes, each in the messages' order: all messages of
    one stream of origin (read from the envelope headers) land in the same lane."""
    return list(_by_lane(messages, lanes).values())


def _by_lane(messages: Sequence[IncomingMessage], lanes: int) -> dict[int, list[IncomingMessage]]:
    if lanes <= 1:
        return {0: list(messages)}
    split: dict[int, list[IncomingMessage]] = {}
    for message in messages:
        split.setdefault(zlib.crc32(_origin_key(message)) % lanes, []).append(message)
    return split


def _origin_key(message: IncomingMessage) -> bytes:
    """The stream of origin as `Envelope.origin` spells it; a message without envelope headers
    (it goes to the dead letters) is a stream of its own."""
    headers = message.headers
    tenant, aggregate_type, aggregate_id = (
        headers.get(TENANT_ID),
        headers.get(AGGREGATE_TYPE),
        headers.get(AGGREGATE_ID),
    )
    if tenant and aggregate_type and aggregate_id:
        return f"{tenant}/{aggregate_type}/{aggregate_id}".encode()
    return f"unknown:{message.message_id}".encode()


class BlockedOrigins(set[str]):
    """The streams of origin with an unresolved dead letter, shared by every lane: parking adds to
    it at once; `refresh` reads the dead letters again (a replay resolves some) without losing an
    origin a lane parked while the read was under way.

    Only the active instance parks, and it adds what it parks here, while a replay (another process)
    only resolves letters: so while no origin is blocked, a read can find nothing new, and
    `refresh` reads only every `interval` seconds (for letters an instance that lost its lock
    parked while it ended its lanes). While some origin is blocked, it reads every time, so that a
    replay unblocks at once. That spares the consumer a round trip per batch."""

    def __init__(self, interval: float = 0.0) -> None:
        super().__init__()
        self._recent: set[str] = set()
        self._interval = interval
        self._read_at: float | None = None

    def add(self, origin: str) -> None:
        super().add(origin)
        self._recent.add(origin)

    async def refresh(self, read: Callable[[], Awaitable[set[str]]]) -> None:
        if not self and self._read_at is not None and time.monotonic() - self._read_at < self._interval:
            return
        # A lane parks (commits) before it adds: an origin is in the read, or added after this.
        self._recent.clear()
        current = await read()
        self._read_at = time.monotonic()
        self.intersection_update(current | self._recent)
        self.update(current)


class _Abandoned(Exception):
    """The same lane of an earlier batch failed: this part was not handled."""


class LanePipeline:
    """Batches handled in overlapping lanes (see the module docstring)."""

    def __init__(self, lanes: int, handle: LaneHandler, *, depth: int = 2) -> None:
        self._lanes = lanes
        self._handle = handle
        self._depth = depth
        self._last: dict[int, asyncio.Task[None]] = {}
        self._batches: deque[list[asyncio.Task[None]]] = deque()

    async def submit(self, messages: Sequence[IncomingMessage]) -> None:
        """Start handling `messages`; wait while `depth` batches are in flight. Raises the error
        of a lane of the oldest batch once that batch is done."""
        batch = []
        for index, lane in _by_lane(messages, self._lanes).items():
            task = asyncio.create_task(self._after(self._last.get(index), lane))
            self._last[index] = task
            batch.append(task)
        self._batches.append(batch)
        while len(self._batches) > self._depth:
            await self._settle(self._batches.popleft())
        await self.reap()

    async def reap(self) -> None:
        """Settle the oldest batches that are done: raise a lane error as soon as it is known."""
        while self._batches and all(task.done() for task in self._batches[0]):
            await self._settle(self._batches.popleft())

    async def drain(self) -> None:
        """Wait until every batch is handled; raise the first lane error."""
        while self._batches:
            await self._settle(self._batches.popleft())

    async def abort(self) -> None:
        """Stop every lane now (what they did not acknowledge comes again)."""
        tasks = [task for batch in self._batches for task in batch]
        self._batches.clear()
        self._last.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _after(self, before: asyncio.Task[None] | None, messages: Sequence[IncomingMessage]) -> None:
        if before is not None:
            try:
                await before
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this lane is cancelled itself
                raise _Abandoned from None
            except Exception:
                raise _Abandoned from None
        await self._handle(messages)

    @staticmethod
    async def _settle(batch: list[asyncio.Task[None]]) -> None:
        # Every lane of the batch runs to its end even when another one fails: what a lane
        # handled is acknowledged.
        results = await asyncio.gather(*batch, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, _Abandoned):
                raise result
