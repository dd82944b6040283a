"""Fetching ahead: the next batch of a durable consumer is fetched while the current one is handled.

Without it, a consumer's lanes wait for each fetch (a round trip to the broker, and up to
`poll_interval` when fewer messages than a batch are waiting) after every batch. With it, that
wait overlaps the handling of the batch before. Order is unchanged: a batch is still handled only
after the one before it is done, and the broker delivers in stream order. A batch fetched ahead
when the consumer stops is dropped unacknowledged: the durable consumer is opened again from its
acknowledgement floor (Transport.durable_consumer), so it comes first again, at once.
"""

from __future__ import annotations

import asyncio
import contextlib

from acci.integration.transport import IncomingMessage, MessageSource


class Prefetching(MessageSource):
    """`source`, fetching its next batch as soon as a non-empty one is handed out."""

    def __init__(self, source: MessageSource) -> None:
        self._source = source
        self._ahead: asyncio.Task[list[IncomingMessage]] | None = None

    async def fetch(self, max_messages: int, max_wait: float) -> list[IncomingMessage]:
        ahead, self._ahead = self._ahead, None
        batch = await (ahead if ahead is not None else self._source.fetch(max_messages, max_wait))
        if batch:
            # Only after a batch came: an empty fetch has waited its max_wait already, and
            # `catch_up` stops at the first empty one.
            self._ahead = asyncio.create_task(self._source.fetch(max_messages, max_wait))
        return batch

    async def pending(self) -> int:
        return await self._source.pending()

    async def close(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ahead  # its messages, if any came, are delivered again (see above)
        await self._source.close()
