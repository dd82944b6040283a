"""The operations tests use the generated identity domain (commands, a projection, queries) as the
service: its read-model migrations go into every test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from acci import tracing
from acci.migrations import Migration, runtime_migrations


@pytest.fixture(scope="session")
def acci_migrations() -> list[Migration]:
    from identity.service import service

    return runtime_migrations() + list(service.migrations)


@pytest.fixture(autouse=True)
def tracing_off() -> Iterator[None]:
    """Tracing is process-wide: every test starts and ends with it off."""
    tracing.disable()
    yield
    tracing.disable()
