"""The context of a command, a projection batch and a query: its log fields, and, when tracing is
on, its OpenTelemetry span.

The command path, the projection runner and the generated queries call these hooks and nothing
else of OpenTelemetry, so that tracing stays optional (the `acci[otel]` extra) and costs next to
nothing while it is off (the hooks then only set the log context, see acci.logs):

- `command(...)` around a command, with `step("load" | "decide" | "append")` inside it;
- `trace_metadata()`: the command's trace context (W3C `traceparent`), stored in the events'
  metadata (`EventMetadata.extra`), so that
- `projection_batch(name, events)` can link the batch's span to the command of each event;
- `query(name)` around a query (acci.queries.QueryHandler opens it for every generated query).

`enable(provider)` turns tracing on (a service does it from its settings with
`configure_tracing`; tests pass an SDK provider with an in-memory exporter).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from acci.errors import ConfigurationError
from acci.logs import log_context

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Link, Tracer

    from acci.events import RecordedEvent

T = TypeVar("T")

#: The metadata key (in `EventMetadata.extra`) of the writing command's trace context.
TRACEPARENT = "traceparent"
# OpenTelemetry's default limit of links per span.
_MAX_LINKS = 128
_NULL: AbstractContextManager[None] = nullcontext()
_tracer: Tracer | None = None
_commands = logging.getLogger("acci.commands")
_projections = logging.getLogger("acci.projections")


def enable(provider: TracerProvider | None = None) -> None:
    """Record spans from now on, with `provider` (default: OpenTelemetry's global one)."""
    global _tracer
    try:
        from opentelemetry import trace
    except ImportError:
        raise ConfigurationError(
            "tracing needs OpenTelemetry, which is not installed: install acci[otel], or turn tracing "
            "off (ACCI_TRACING__ENABLED=false)."
        ) from None
    _tracer = (provider or trace.get_tracer_provider()).get_tracer("acci", importlib.metadata.version("acci"))


def disable() -> None:
    global _tracer
    _tracer = None


def is_enabled() -> bool:
    return _tracer is not None


def configure_tracing(service_name: str, exporter: Literal["otlp", "console"] = "otlp") -> TracerProvider:
    """Set up OpenTelemetry's SDK for a service (batched export over OTLP/HTTP, configured by the
    standard OTEL_* variables, or to stderr) and `enable()` tracing. Call `shutdown()` on the
    result before the process exits, to flush the last spans."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        enable()  # raises the error that says what to install
        raise
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        chosen: SpanExporter = OTLPSpanExporter()
    else:
        chosen = ConsoleSpanExporter()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(BatchSpanProcessor(chosen))
    trace.set_tracer_provider(provider)
    enable(provider)
    return provider


# -- commands ---------------------------------------------------------------------------------


class command:  # noqa: N801 - used like a function: `with tracing.command(...):`
    """A command being handled: its log fields, and a span `command <type>` when tracing. A plain
    class, not a generator: it wraps every command, so its cost counts."""

    __slots__ = ("_command_type", "_log", "_span")

    def __init__(self, command_type: str, command_id: object, correlation_id: str, stream: object) -> None:
        self._command_type = command_type
        self._log = log_context(command_id=command_id, correlation_id=correlation_id, stream=stream)
        self._span: AbstractContextManager[Any] | None = None
        if _tracer is not None:
            attributes = {
                "acci.command.type": command_type,
                "acci.command.id": str(command_id),
                "acci.correlation_id": correlation_id,
                "acci.stream": str(stream),
            }
            self._span = _tracer.start_as_current_span(f"command {command_type}", attributes=attributes)

    def __enter__(self) -> None:
        self._log.__enter__()
        if self._span is not None:
            self._span.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._span is not None:
                self._span.__exit__(kind, error, tb)
            if error is None:
                _commands.debug("%s handled", self._command_type)
            elif isinstance(error, Exception):
                _commands.debug("%s failed: %s", self._command_type, error)
        finally:
            self._log.__exit__()


def step(name: Literal["load", "decide", "append"]) -> AbstractContextManager[Any]:
    """A part of the command inside `command(...)`: a child span when tracing."""
    if _tracer is None:
        return _NULL
    return _tracer.start_as_current_span(name)


def trace_metadata() -> dict[str, str]:
    """The current span's context as W3C trace headers, for `EventMetadata.extra` ({} when off)."""
    if _tracer is None:
        return {}
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier


# -- projections ------------------------------------------------------------------------------


@contextmanager
def projection_batch(projection: str, events: Sequence[RecordedEvent]) -> Iterator[None]:
    """A batch of a projection runner: its log fields (the projection, the batch's first position)
    and a span `projection <name>` linked to the commands that wrote its events."""
    first = events[0].position if events else None
    with log_context(projection=projection, position=first):
        _projections.debug("%s: applying %d event(s)", projection, len(events))
        if _tracer is None:
            yield
            return
        attributes: dict[str, str | int] = {"acci.projection": projection, "acci.batch.size": len(events)}
        if events:
            attributes["acci.position.first"] = str(first)
            attributes["acci.position.last"] = str(events[-1].position)
        with _tracer.start_as_current_span(
            f"projection {projection}", links=_links(events), attributes=attributes
        ):
            yield


def _links(events: Sequence[RecordedEvent]) -> list[Link]:
    from opentelemetry import trace
    from opentelemetry.trace import Link
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    seen: set[str] = set()
    links: list[Link] = []
    for event in events:
        parent = event.metadata.extra.get(TRACEPARENT)
        if not isinstance(parent, str) or parent in seen:
            continue
        seen.add(parent)
        context = trace.get_current_span(propagator.extract({TRACEPARENT: parent})).get_span_context()
        if context.is_valid:
            links.append(Link(context))
            if len(links) == _MAX_LINKS:
                break
    return links


# -- queries ----------------------------------------------------------------------------------


@contextmanager
def query(name: str) -> Iterator[None]:
    """A query being answered: its log field, and a span `query <name>` when tracing."""
    with log_context(query=name):
        if _tracer is None:
            yield
            return
        with _tracer.start_as_current_span(f"query {name}", attributes={"acci.query": name}):
            yield
