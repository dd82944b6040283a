"""Settings of integration events: where NATS is, how the stream is configured, how the relay and
the consumers pace themselves. Plain pydantic models with defaults, so that a service's settings
object can nest them; the NATS URL comes from ACCI_NATS_URL when it is not given."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: The environment variable that names the NATS server.
NATS_URL_ENV = "ACCI_NATS_URL"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


def _nats_url_from_env() -> str:
    return os.environ.get(NATS_URL_ENV, "").strip() or DEFAULT_NATS_URL


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StreamSettings(_Settings):
    """The JetStream stream a domain publishes to (created, or checked, when the relay starts)."""

    #: The stream's name; default `ACCI_<DOMAIN>` (see acci.integration.naming).
    name: str | None = None
    #: Seconds in which JetStream drops a message whose Nats-Msg-Id it has stored already. A relay
    #: that dies after publishing and before moving its checkpoint publishes those events again
    #: when it restarts; inside the window they are dropped, after it the consumers' idempotency
    #: catches them. Keep it longer than a relay takes to come back.
    duplicate_window: float = Field(default=120.0, gt=0)
    #: Seconds a message is kept; 0 keeps it until max_bytes (or forever).
    max_age: float = Field(default=0.0, ge=0)
    #: Bytes the stream may hold; -1 for no limit.
    max_bytes: int = Field(default=-1, ge=-1)
    replicas: int = Field(default=1, ge=1, le=5)
    storage: Literal["file", "memory"] = "file"
    #: "limits": every consumer reads every message until max_age/max_bytes drop it; "interest":
    #: a message goes once every consumer that existed when it arrived has acknowledged it.
    retention: Literal["limits", "interest"] = "limits"


class NatsSettings(_Settings):
    url: str = Field(default_factory=_nats_url_from_env)
    #: The client's name, shown by the server's monitoring.
    client_name: str = "acci"
    connect_timeout: float = Field(default=5.0, gt=0)
    #: Seconds between attempts to reconnect after the connection dropped (it retries for ever).
    reconnect_wait: float = Field(default=0.5, gt=0)
    #: Seconds to wait for JetStream's acknowledgement of a publish before it is retried.
    publish_timeout: float = Field(default=5.0, gt=0)
    stream: StreamSettings = Field(default_factory=StreamSettings)


class RelaySettings(_Settings):
    #: Events read from the log per step; the checkpoint moves once per step.
    batch_size: int = Field(default=500, ge=1)
    #: Publishes awaiting their acknowledgement at once. A window never holds two events of the
    #: same stream of origin, so a retried publish cannot overtake one of its own stream.
    max_in_flight: int = Field(default=500, ge=1, le=4000)
    retry_delay: float = Field(default=0.05, gt=0)
    max_retry_delay: float = Field(default=5.0, gt=0)
    poll_interval: float = Field(default=0.5, gt=0)
    #: How often a standby instance tries to become the active one.
    takeover_interval: float = Field(default=1.0, gt=0)
    #: How often a live relay refreshes its lag gauges.
    metrics_interval: float = Field(default=5.0, gt=0)


class ConsumerSettings(_Settings):
    #: Messages asked for per fetch.
    batch_size: int = Field(default=100, ge=1)
    #: Lanes a batch is handled in at once. The messages of one stream of origin share a lane and
    #: take effect in their order; 1 handles every message one after another. The lanes' loads
    #: and appends are coalesced (a few statements for all of them, on a few pooled connections),
    #: so many lanes cost little: with fewer lanes than messages in a batch, two streams of origin
    #: share a lane and wait for one another, and each round of a lane is two more statements.
    #: 64 against 16 cut the consuming database's CPU by a fifth at 1,000 messages/s and kept the
    #: p99 latency under 100 ms (docs/integration-events.md).
    lanes: int = Field(default=64, ge=1, le=256)
    #: Tries of a message whose command fails before it goes to the dead letters (a rejected
    #: command goes at once: deciding again gives the same answer).
    max_attempts: int = Field(default=3, ge=1)
    retry_delay: float = Field(default=0.05, gt=0)
    max_retry_delay: float = Field(default=5.0, gt=0)
    #: Seconds a fetch waits for messages when none are waiting. A fetch that found none then waits
    #: until its batch is full or this time passed (nats-py's lingering pull), so at low rates it
    #: adds up to this much latency: lower it (e.g. 0.02) when latency matters more than polls.
    poll_interval: float = Field(default=0.5, gt=0)
    #: Seconds JetStream waits for an acknowledgement before it delivers a message again; the
    #: consumer reports progress while it retries, so this bounds a hung process, not a slow one.
    ack_wait: float = Field(default=30.0, gt=0)
    max_ack_pending: int = Field(default=1000, ge=1)
    #: Where a new durable consumer starts: "all" retained messages, or only "new" ones.
    deliver: Literal["all", "new"] = "all"
    takeover_interval: float = Field(default=1.0, gt=0)
    metrics_interval: float = Field(default=5.0, gt=0)


class IntegrationSettings(_Settings):
    """Everything acci.integration reads; nest it into a service's settings."""

    nats: NatsSettings = Field(default_factory=NatsSettings)
    relay: RelaySettings = Field(default_factory=RelaySettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
