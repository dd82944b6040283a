"""OpenTelemetry tracing with the SDK's in-memory exporter: a span per command (load, decide, append
inside it), per projection batch (linked to the commands that wrote its events, through the trace
context in the events' metadata) and per query; nothing at all while tracing is off."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator

import pytest
from acci import Command, CommandMetadata, PostgresEventStore, tracing
from acci.errors import ConfigurationError
from acci.projections import ProjectionRunner
from identity.commands import CreateUser, UpdateUser
from identity.handlers import handle
from identity.projections import PROJECTIONS
from identity.queries import IdentityQueries
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

METADATA = CommandMetadata(user_id="admin", tenant_id="traces")


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    yield exporter
    tracing.disable()
    provider.shutdown()


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


async def test_command_projection_and_query_spans(
    postgres_store: PostgresEventStore, exporter: InMemorySpanExporter
) -> None:
    user_id = uuid.uuid4()
    create = Command(CreateUser(user_id=user_id, email="ada@example.com", name="Ada"), METADATA)
    rename = Command(UpdateUser(user_id=user_id, email="ada@example.com", name="Ada L."), METADATA)
    created = await handle(postgres_store, create)
    await handle(postgres_store, rename)

    spans = exporter.get_finished_spans()
    commands = _named(spans, "command CreateUser") + _named(spans, "command UpdateUser")
    assert len(commands) == 2
    first = commands[0]
    assert first.attributes is not None and first.attributes["acci.command.id"] == str(create.id)
    assert first.attributes["acci.correlation_id"] == METADATA.correlation_id
    children = [s for s in spans if s.parent is not None and s.parent.span_id == first.context.span_id]
    assert [s.name for s in children] == ["load", "decide", "append"]
    assert all(s.context.trace_id == first.context.trace_id for s in children)

    # the command's trace context travels with its event
    traceparent = created.events[0].metadata.extra[tracing.TRACEPARENT]
    assert f"{first.context.trace_id:032x}-{first.context.span_id:016x}" in traceparent

    exporter.clear()
    [projection] = PROJECTIONS
    assert await ProjectionRunner(postgres_store, projection).catch_up() == 2
    [batch] = _named(exporter.get_finished_spans(), "projection user_view")
    assert batch.attributes is not None and batch.attributes["acci.batch.size"] == 2
    linked = {(link.context.trace_id, link.context.span_id) for link in batch.links}
    assert linked == {(c.context.trace_id, c.context.span_id) for c in commands}

    exporter.clear()
    rows = await IdentityQueries.of(postgres_store).search_users("traces", query="Ada")
    assert [row.name for row in rows] == ["Ada L."]
    [query] = exporter.get_finished_spans()
    assert query.name == "query identity.search_users"


async def test_no_spans_and_no_trace_context_while_off(postgres_store: PostgresEventStore) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert not tracing.is_enabled()
    result = await handle(
        postgres_store, Command(CreateUser(user_id=uuid.uuid4(), email="b@example.com", name="B"), METADATA)
    )
    assert tracing.TRACEPARENT not in result.events[0].metadata.extra
    assert exporter.get_finished_spans() == ()


def test_without_the_extra_tracing_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ConfigurationError, match=r"install acci\[otel\]"):
        tracing.enable()
    with pytest.raises(ConfigurationError, match=r"install acci\[otel\]"):
        tracing.configure_tracing("svc")
