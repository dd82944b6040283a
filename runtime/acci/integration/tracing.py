"""The trace-context hook of integration events.

The relay asks a `TraceContext` to add headers to each message (`inject`); the consumer enters
`extract(headers)` around handling a message, so that a tracer can continue the publisher's
trace. ACCI's default carries W3C trace context that a service stored in an event's metadata
(`EventMetadata.extra["traceparent"]`, `["tracestate"]`) and does nothing on the consuming side;
a service with OpenTelemetry passes its own (a propagator's inject and a span around extract).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol

from acci.events import RecordedEvent
from acci.integration.envelope import TRACEPARENT, TRACESTATE


class TraceContext(Protocol):
    def inject(self, event: RecordedEvent, headers: dict[str, str]) -> None:
        """Add trace headers for `event` to `headers`."""

    def extract(self, headers: Mapping[str, str]) -> AbstractContextManager[object]:
        """A context to handle the message in (a span continuing the publisher's trace)."""


class MetadataTraceContext:
    """The default: W3C trace context from the event's metadata, when the service put it there."""

    def inject(self, event: RecordedEvent, headers: dict[str, str]) -> None:
        for name in (TRACEPARENT, TRACESTATE):
            value = event.metadata.extra.get(name)
            if isinstance(value, str) and value:
                headers[name] = value

    def extract(self, headers: Mapping[str, str]) -> AbstractContextManager[object]:
        return contextlib.nullcontext()
