"""A subscription: catch up on the global order from a checkpoint, then follow it live."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING

from acci.events import RecordedEvent
from acci.streams import Position

if TYPE_CHECKING:
    from acci.store.base import EventStore, Waiter


class Subscription:
    """Delivers every event after a position exactly once, in the global order, in batches.

    It reads pages until it has caught up, then waits for a wake-up (NOTIFY on PostgreSQL) or
    for `poll_interval` seconds, whichever comes first, and reads again. Polling stays on because
    a notification is only a hint: it can arrive while the new rows are still behind an older,
    open transaction, and so not yet readable.

    The subscription does not store checkpoints: the consumer keeps `position` (or each event's
    `.position`) in its own transaction, and resumes from it.
    """

    def __init__(
        self,
        store: EventStore,
        after: Position,
        *,
        event_types: Sequence[str] | None,
        tenant_id: str | None,
        batch_size: int,
        poll_interval: float,
    ) -> None:
        self._store = store
        self.position = after
        self._event_types = list(event_types) if event_types is not None else None
        self._tenant_id = tenant_id
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._waiter: Waiter | None = None
        self._stopped = False

    def stop(self) -> None:
        """End the iteration after the batch being handled."""
        self._stopped = True

    async def batches(self) -> AsyncGenerator[list[RecordedEvent], None]:
        """Yield batches of events until `stop()` is called. A generator: `aclose()` it when leaving
        early, so that its LISTEN connection goes back at once."""
        # Listen before the first read, so that nothing committed between the read and the
        # wait goes unannounced.
        self._waiter = await self._store.waiter()
        try:
            while not self._stopped:
                page = await self._store.read_all(
                    self.position,
                    limit=self._batch_size,
                    event_types=self._event_types,
                    tenant_id=self._tenant_id,
                )
                if page:
                    self.position = page[-1].position
                    yield page
                    if len(page) == self._batch_size:
                        continue  # more may be waiting: read on without sleeping
                if not self._stopped:
                    await self._waiter.wait(self._poll_interval)
        finally:
            await self._waiter.close()
            self._waiter = None

    async def events(self) -> AsyncGenerator[RecordedEvent, None]:
        """Yield events one by one until `stop()` is called."""
        async for batch in self.batches():
            for event in batch:
                yield event
                if self._stopped:
                    return
