"""The envelope of an integration event, carried in message headers: which event it is, of which
type and schema version, for which tenant, from which stream of origin, in which flow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from acci.events import RecordedEvent
from acci.integration.errors import IntegrationError

#: JetStream drops a message whose id it has stored within the stream's duplicate window.
MSG_ID = "Nats-Msg-Id"
EVENT_ID = "Acci-Event-Id"
EVENT_TYPE = "Acci-Event-Type"
SCHEMA_VERSION = "Acci-Schema-Version"
TENANT_ID = "Acci-Tenant-Id"
CORRELATION_ID = "Acci-Correlation-Id"
CAUSATION_ID = "Acci-Causation-Id"
USER_ID = "Acci-User-Id"
DOMAIN = "Acci-Domain"
AGGREGATE_TYPE = "Acci-Aggregate-Type"
AGGREGATE_ID = "Acci-Aggregate-Id"
AGGREGATE_VERSION = "Acci-Aggregate-Version"
OCCURRED_AT = "Acci-Occurred-At"
CONTENT_TYPE = "Content-Type"
#: W3C trace context (https://www.w3.org/TR/trace-context/), when tracing is on.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_REQUIRED = (EVENT_ID, EVENT_TYPE, SCHEMA_VERSION, TENANT_ID, DOMAIN, AGGREGATE_TYPE, AGGREGATE_ID)


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a consumer knows about an integration event besides its payload."""

    event_id: UUID
    event_type: str
    schema_version: int
    tenant_id: str
    domain: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime | None
    correlation_id: str | None
    causation_id: str | None
    user_id: str | None
    headers: Mapping[str, str]

    @property
    def origin(self) -> str:
        """The stream of origin, as one text: the unit in which order is kept."""
        return f"{self.tenant_id}/{self.aggregate_type}/{self.aggregate_id}"


def envelope_headers(
    domain: str, event: RecordedEvent, public_type: str, public_version: int, event_id: str | None = None
) -> dict[str, str]:
    """The headers of the integration event published for `event` (`event_id`: `str(event.id)`,
    when the caller has it already)."""
    meta = event.metadata
    headers = {
        EVENT_ID: event_id or str(event.id),
        EVENT_TYPE: public_type,
        SCHEMA_VERSION: str(public_version),
        TENANT_ID: meta.tenant_id,
        DOMAIN: domain,
        AGGREGATE_TYPE: event.aggregate_type,
        AGGREGATE_ID: event.aggregate_id,
        AGGREGATE_VERSION: str(event.version),
        OCCURRED_AT: event.timestamp.isoformat(),
        CORRELATION_ID: meta.correlation_id,
        CONTENT_TYPE: "application/json",
    }
    if meta.causation_id:
        headers[CAUSATION_ID] = meta.causation_id
    if meta.user_id:
        headers[USER_ID] = meta.user_id
    return headers


def parse_envelope(headers: Mapping[str, str]) -> Envelope:
    """The envelope from a message's headers; IntegrationError naming what is missing or wrong."""
    missing = [name for name in _REQUIRED if not headers.get(name)]
    if missing:
        raise IntegrationError(
            f"the message is not an ACCI integration event: header(s) {', '.join(missing)} missing. "
            "Publish it through acci.integration's relay, or set the headers it sets."
        )
    try:
        occurred = headers.get(OCCURRED_AT)
        return Envelope(
            event_id=UUID(headers[EVENT_ID]),
            event_type=headers[EVENT_TYPE],
            schema_version=int(headers[SCHEMA_VERSION]),
            tenant_id=headers[TENANT_ID],
            domain=headers[DOMAIN],
            aggregate_type=headers[AGGREGATE_TYPE],
            aggregate_id=headers[AGGREGATE_ID],
            aggregate_version=int(headers.get(AGGREGATE_VERSION) or 0),
            occurred_at=datetime.fromisoformat(occurred) if occurred else None,
            correlation_id=headers.get(CORRELATION_ID),
            causation_id=headers.get(CAUSATION_ID),
            user_id=headers.get(USER_ID),
            headers=dict(headers),
        )
    except ValueError as error:
        raise IntegrationError(f"the message's envelope headers are malformed: {error}.") from error
