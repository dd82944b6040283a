"""A service for the shutdown tests: the runtime's User example with a projection whose batches
take SLOW_BATCH_SECONDS (so that a SIGTERM arrives while one is being applied)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import ClassVar

from acci import RecordedEvent
from acci.examples.users import UserProjection, migrations, registry
from acci.projections.base import Connection
from acci.service import Service
from psycopg import sql

log = logging.getLogger("tests.slow_service")


class SlowUserProjection(UserProjection):
    name: ClassVar[str] = "slow_user_view"
    table: ClassVar[str] = "user_view"

    async def apply_batch(
        self, conn: Connection, table: sql.Identifier, events: Sequence[RecordedEvent]
    ) -> None:
        log.warning("slow batch of %d started", len(events))
        await asyncio.sleep(float(os.environ.get("SLOW_BATCH_SECONDS", "1")))
        await super().apply_batch(conn, table, events)
        log.warning("slow batch of %d applied", len(events))


service = Service("slow", projections=[SlowUserProjection()], migrations=migrations(), registry=registry)
