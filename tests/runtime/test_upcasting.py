"""Events stored at old schema versions are read as the current version on every read path, and
the offline upgrade rewrites them once, resumably, keeping the originals."""

from __future__ import annotations

import uuid
from typing import ClassVar

import psycopg
from acci import (
    Aggregate,
    DomainEvent,
    EventRegistry,
    PostgresEventStore,
    Repository,
    StreamId,
)
from acci.upgrade import count_outdated, upgrade_events
from pydantic import BaseModel


class PersonRenamed(DomainEvent):
    """v1: {name}; v2: {full_name}; v3: {full_name, reason}."""

    event_type: ClassVar[str] = "PersonRenamed"
    schema_version: ClassVar[int] = 3

    full_name: str
    reason: str


registry = EventRegistry([PersonRenamed])
registry.register_upcaster("PersonRenamed", 1, lambda d: {"full_name": d["name"]})
registry.register_upcaster("PersonRenamed", 2, lambda d: {**d, "reason": "not recorded"})


class PersonState(BaseModel):
    full_name: str
    renames: int


class Person(Aggregate[PersonState]):
    aggregate_type: ClassVar[str] = "Person"
    state_class: ClassVar[type[BaseModel]] = PersonState
    registry: ClassVar[EventRegistry] = registry

    def evolve(self, state: PersonState | None, event: DomainEvent) -> PersonState:
        assert isinstance(event, PersonRenamed)
        return PersonState(full_name=event.full_name, renames=(state.renames if state else 0) + 1)


_RAW_APPEND = """
SELECT * FROM acci.append_events('t', 'Person', %s, NULL, %s::uuid[], %s::text[], %s::int[], %s::text[],
                                 NULL, 'c', NULL, NULL, NULL, NULL, false)
"""


def write_raw(url: str, person: str, rows: list[tuple[int, str]]) -> None:
    """Rows as an old release wrote them: plain SQL, old schema versions."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            _RAW_APPEND,
            [
                person,
                [uuid.uuid4() for _ in rows],
                ["PersonRenamed"] * len(rows),
                [v for v, _ in rows],
                [d for _, d in rows],
            ],
        )


async def test_old_versions_read_as_current_on_every_path(
    acci_database_url: str, postgres_store: PostgresEventStore
) -> None:
    store = postgres_store
    write_raw(
        acci_database_url,
        "p1",
        [
            (1, '{"name": "Ada"}'),
            (2, '{"full_name": "Ada L."}'),
            (3, '{"full_name": "Ada King", "reason": "wed"}'),
        ],
    )
    expected = [
        PersonRenamed(full_name="Ada", reason="not recorded"),
        PersonRenamed(full_name="Ada L.", reason="not recorded"),
        PersonRenamed(full_name="Ada King", reason="wed"),
    ]
    stream = StreamId("t", "Person", "p1")
    # Stream reads.
    assert [registry.decode(e) for e in await store.read_stream(stream)] == expected
    # Aggregate loads.
    person = await Repository(store, Person).load("t", "p1")
    assert person.state == PersonState(full_name="Ada King", renames=3)
    at_v1 = await Repository(store, Person).load("t", "p1", at_version=1)
    assert at_v1.state == PersonState(full_name="Ada", renames=1)
    # The global read that projections use, typed and raw.
    everything = await store.read_all()
    assert [registry.decode(e) for e in everything] == expected
    raw = [registry.upcast_recorded(e) for e in everything]
    assert [(e.schema_version, e.data) for e in raw] == [(3, p.model_dump()) for p in expected]
    # Subscriptions.
    batches = store.subscribe().batches()
    assert [registry.decode(e) for e in await anext(batches)] == expected
    await batches.aclose()
    # Nothing was rewritten by reading.
    assert [e.schema_version for e in await store.read_stream(stream)] == [1, 2, 3]


async def test_the_offline_upgrade_rewrites_once_and_keeps_the_originals(
    acci_database_url: str, postgres_store: PostgresEventStore
) -> None:
    store = postgres_store
    for i in range(5):
        write_raw(acci_database_url, f"p{i}", [(1, f'{{"name": "N{i}"}}'), (2, f'{{"full_name": "F{i}"}}')])
    write_raw(acci_database_url, "broken", [(1, '{"nom": "no name field"}')])
    assert await count_outdated(store, registry) == 11
    before = await Repository(store, Person).load("t", "p3")

    seen: list[int] = []
    result = await upgrade_events(store, registry, batch_size=4, progress=seen.append)
    assert result.rewritten == 10
    assert len(result.failed) == 1
    assert "Person 'broken'" in result.failed[0] and "KeyError: 'name'" in result.failed[0]
    assert seen[-1] == 10
    assert await count_outdated(store, registry) == 1  # the broken one is left as it was
    after = await Repository(store, Person).load("t", "p3")
    assert after.state == before.state
    stored = await store.read_stream(StreamId("t", "Person", "p3"))
    assert [(e.schema_version, e.data) for e in stored] == [
        (3, {"full_name": "N3", "reason": "not recorded"}),
        (3, {"full_name": "F3", "reason": "not recorded"}),
    ]
    async with store.pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) FROM acci.event_rewrites")).fetchone()
    assert row == (10,)
    # Running it again finds nothing more to do.
    again = await upgrade_events(store, registry)
    assert again.rewritten == 0
