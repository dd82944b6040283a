"""A service's event store as its settings describe it: the primary's pool with the session
settings, and, when ACCI_DATABASE__READ_URL names a streaming replica, a second pool that query
handlers (and only they) read from.

Application code written for a generated service opens its store here, so that a read URL set in
the environment sends its queries to the replica without a code change:

    async with await open_store(load_settings(), url, projections=service.projections) as store:
        result = await handler.handle(command)                           # the primary
        rows = await Queries.of(store, position=result.position).get(...)  # the replica, its writes
"""

from __future__ import annotations

from collections.abc import Sequence

from acci.settings import Settings
from acci.store.base import InlineProjection
from acci.store.postgres import PostgresEventStore


async def open_store(
    settings: Settings,
    url: str,
    *,
    application_name: str = "acci",
    projections: Sequence[InlineProjection] = (),
) -> PostgresEventStore:
    """The store on `url` (the primary) with the settings' pool sizes and session timeouts, and a
    read pool on the replica when the settings have a read URL."""
    read_url = settings.read_url()
    return await PostgresEventStore.open(
        settings.conninfo(url, application_name=application_name),
        min_size=settings.database.pool_min_size,
        max_size=settings.database.pool_max_size,
        connect_timeout=settings.database.connect_timeout,
        projections=projections,
        read_conninfo=(
            None if read_url is None else settings.conninfo(read_url, application_name=application_name)
        ),
        read_your_writes_timeout=settings.database.read_your_writes_timeout,
    )
