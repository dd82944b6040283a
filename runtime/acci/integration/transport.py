"""The message-broker interface the relay and the consumers use. NATS JetStream implements it
(acci.integration.nats); another broker (Kafka: idempotent producer keyed by the message id,
consumer-group offsets as acknowledgements) can implement the same few methods."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from acci.integration.errors import TransportError


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    subject: str
    data: bytes
    headers: Mapping[str, str]
    #: The broker's deduplication key: the event id.
    message_id: str


@dataclass(frozen=True, slots=True)
class Ack:
    """The broker stored the message (or had stored it already: `duplicate`)."""

    sequence: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    duplicate_window: float
    max_age: float
    max_bytes: int
    replicas: int
    storage: Literal["file", "memory"]
    retention: Literal["limits", "interest"]


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    stream: str
    #: The durable consumer's name: its position survives restarts of every instance.
    durable: str
    filter_subject: str
    ack_wait: float
    max_ack_pending: int
    deliver: Literal["all", "new"]


class IncomingMessage(ABC):
    subject: str
    data: bytes
    headers: Mapping[str, str]
    message_id: str
    #: The message's sequence in its stream.
    sequence: int
    #: How often the broker has delivered it (1 the first time).
    deliveries: int

    @abstractmethod
    async def ack(self) -> None:
        """Done with: the broker does not deliver it again."""

    @abstractmethod
    async def in_progress(self) -> None:
        """Still working on it: restart the broker's redelivery timer."""


class MessageSource(ABC):
    """A durable consumer, read by the one active consumer instance."""

    @abstractmethod
    async def fetch(self, max_messages: int, max_wait: float) -> list[IncomingMessage]:
        """Up to `max_messages` in stream order; [] when none came within `max_wait` seconds."""

    @abstractmethod
    async def pending(self) -> int:
        """Messages not yet acknowledged (delivered or not): the consumer's lag."""

    @abstractmethod
    async def close(self) -> None: ...


class Transport(ABC):
    @abstractmethod
    async def ensure_stream(self, spec: StreamSpec) -> None:
        """Create the stream, or check that the existing one has this configuration; a difference
        raises ConfigurationError naming each setting."""

    @abstractmethod
    async def publish(
        self, stream: str, messages: Sequence[OutgoingMessage], ack_within: float
    ) -> list[Ack | TransportError]:
        """Send the messages at once, in order, and wait up to `ack_within` seconds for their
        acknowledgements: one result per message, an Ack or the error of one not acknowledged."""

    @abstractmethod
    async def durable_consumer(self, spec: ConsumerSpec) -> MessageSource:
        """Open (creating it if needed) the durable consumer. Messages an earlier instance took and
        did not acknowledge come first again, in stream order, before any later message."""

    @abstractmethod
    async def close(self) -> None: ...
