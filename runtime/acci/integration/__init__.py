"""Integration events: a domain's events published to other services through a message broker
(NATS JetStream), exactly once in effect, and consumed idempotently as commands.

The transport-independent parts import nothing beyond the runtime; `acci.integration.jetstream`
needs the `acci[nats]` extra. See docs/integration-events.md.
"""

from acci.integration.consumer import COMMAND_ID_NAMESPACE, IntegrationConsumer, ReplayResult, command_id_for
from acci.integration.dead_letters import IntegrationDeadLetter, fetch_dead_letters
from acci.integration.envelope import Envelope, parse_envelope
from acci.integration.errors import IntegrationError, PublicationFailed, TransportError
from acci.integration.model import Consumes, IntegrationEvent, Publication, Publisher, Reaction
from acci.integration.naming import stream_name_for, subject_for
from acci.integration.relay import IntegrationRelay, RelayStatus, RelayStep, relay_status
from acci.integration.settings import (
    ConsumerSettings,
    IntegrationSettings,
    NatsSettings,
    RelaySettings,
    StreamSettings,
)
from acci.integration.tracing import MetadataTraceContext, TraceContext
from acci.integration.transport import (
    Ack,
    ConsumerSpec,
    IncomingMessage,
    MessageSource,
    OutgoingMessage,
    StreamSpec,
    Transport,
)

__all__ = [
    "COMMAND_ID_NAMESPACE",
    "Ack",
    "ConsumerSettings",
    "ConsumerSpec",
    "Consumes",
    "Envelope",
    "IncomingMessage",
    "IntegrationConsumer",
    "IntegrationDeadLetter",
    "IntegrationError",
    "IntegrationEvent",
    "IntegrationRelay",
    "IntegrationSettings",
    "MessageSource",
    "MetadataTraceContext",
    "NatsSettings",
    "OutgoingMessage",
    "Publication",
    "PublicationFailed",
    "Publisher",
    "Reaction",
    "RelaySettings",
    "RelayStatus",
    "RelayStep",
    "ReplayResult",
    "StreamSettings",
    "StreamSpec",
    "TraceContext",
    "Transport",
    "TransportError",
    "command_id_for",
    "fetch_dead_letters",
    "parse_envelope",
    "relay_status",
    "stream_name_for",
    "subject_for",
]
