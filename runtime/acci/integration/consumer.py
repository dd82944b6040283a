"""The consumer: turns another domain's integration events into commands of this domain.

Each message becomes one command whose id is derived from the message id (uuid5), so a message
delivered again is a command the runtime has seen: it returns the first result and appends
nothing. The message is acknowledged only after the command's transaction committed (or after
it went to the dead letters). The one active instance handles each fetched batch in lanes: the
messages of one stream of origin always go to the same lane, a lane handles its messages one after
another in stream order, and the lanes run at once (commands of different streams of origin do not
wait for one another). So the events of one stream of origin take effect in their order; a message
that keeps failing is parked, and so is every later message of its stream of origin, until a
replay handles them in order. Batches overlap: a lane of the next batch starts when the same lane
of the batch before is done (acci.integration.lanes), and the next batch is fetched meanwhile
(acci.integration.prefetch).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from acci.commands import Command, CommandHandler, CommandMetadata
from acci.errors import CommandRejected, ConfigurationError, TransientDatabaseError
from acci.integration import metrics
from acci.integration.dead_letters import (
    IntegrationDeadLetter,
    StoredMessage,
    blocked_origins,
    count_unresolved,
    fail_dead_letter,
    fetch_dead_letters,
    park,
    resolve_dead_letter,
)
from acci.integration.envelope import EVENT_TYPE, SCHEMA_VERSION, Envelope, parse_envelope
from acci.integration.errors import IntegrationError, TransportError
from acci.integration.lanes import BlockedOrigins, LanePipeline
from acci.integration.leadership import active_instance, sleep_or_stop
from acci.integration.model import Consumes, Reaction
from acci.integration.naming import domain_subjects, stream_name_for
from acci.integration.prefetch import Prefetching
from acci.integration.settings import IntegrationSettings
from acci.integration.tracing import MetadataTraceContext, TraceContext
from acci.integration.transport import ConsumerSpec, IncomingMessage, MessageSource, Transport
from acci.store._pg_errors import database_errors
from acci.store.base import EventStore
from acci.store.postgres import PostgresEventStore

log = logging.getLogger("acci.integration")

#: The namespace of command ids derived from message ids (uuid5): stable across releases.
COMMAND_ID_NAMESPACE = uuid.UUID("5f0c7d0e-4a1b-5c2d-9e3f-acc1a11ce5e5")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

Outcome = Literal["handled", "replayed", "ignored", "parked"]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    replayed: int
    failed: list[IntegrationDeadLetter]


@dataclass(frozen=True, slots=True)
class _Failed:
    """A message that goes to the dead letters: why, after how many tries."""

    origin: str
    envelope: Envelope | None
    error: str
    attempts: int


class _Stopped(Exception):
    """`stop` was set while a message was being retried: leave it unacknowledged."""


def command_id_for(consumer: str, message_id: str) -> uuid.UUID:
    """The id of the command a consumer makes of a message: the same for every delivery,
    `uuid5(COMMAND_ID_NAMESPACE, "<consumer>/<message id>")`."""
    return _CommandIds(consumer)(message_id)


class _CommandIds:
    """command_id_for of one consumer, computed as uuid5 does (SHA-1 of the namespace and the name,
    version 5), with the hash of the namespace and the consumer's name taken once and copied for
    each message: uuid.uuid5 looks the hash up in OpenSSL anew every time."""

    def __init__(self, consumer: str) -> None:
        self._prefix = hashlib.sha1(
            COMMAND_ID_NAMESPACE.bytes + f"{consumer}/".encode(), usedforsecurity=False
        )

    def __call__(self, message_id: str) -> uuid.UUID:
        digest = self._prefix.copy()
        digest.update(message_id.encode())
        return uuid.UUID(bytes=digest.digest()[:16], version=5)


class IntegrationConsumer:
    """Consumes what `consumes` declares into `store` (the consuming domain's own database).

    `name` is the consuming domain (or service): the durable consumer's name and the scope of its
    command ids and dead letters. `catch_up()` handles messages until none are waiting; `run(stop)`
    keeps it live as the one active instance among all processes.
    """

    def __init__(
        self,
        store: PostgresEventStore,
        transport: Transport | None,
        consumes: Consumes,
        settings: IntegrationSettings | None = None,
        *,
        name: str,
        user_id: str | None = None,
        trace: TraceContext | None = None,
        commands: EventStore | None = None,
    ) -> None:
        """`store` keeps the consumer's own state (its dead letters, its lock); `commands`, when
        given, is the store its commands go through (a TenantRouter's `event_store`, which sends
        each command to its tenant's database); by default `store` as well."""
        if not _NAME.match(name):
            raise ConfigurationError(
                f"consumer name {name!r} is not valid: use lower-case letters, digits and '_', starting "
                "with a letter (it names the durable JetStream consumer)."
            )
        self.store = store
        self.transport = transport
        self.consumes = consumes
        self.settings = settings or IntegrationSettings()
        self.name = name
        self.user_id = user_id or f"integration:{consumes.domain}"
        self.trace = trace or MetadataTraceContext()
        consumer = self.settings.consumer
        self.spec = ConsumerSpec(
            stream=self.settings.nats.stream.name or stream_name_for(consumes.domain),
            durable=name,
            filter_subject=domain_subjects(consumes.domain),
            ack_wait=consumer.ack_wait,
            max_ack_pending=consumer.max_ack_pending,
            deliver=consumer.deliver,
        )
        self._reactions: dict[tuple[str, int], tuple[Reaction[Any, Any], CommandHandler[Any, Any]]] = {
            reaction.key: (reaction, reaction.handler(store if commands is None else commands))
            for reaction in consumes.reactions
        }
        self._command_id = _CommandIds(name)
        self._outcomes = {
            outcome: metrics.CONSUMER_MESSAGES.labels(name, outcome) for outcome in get_args(Outcome)
        }
        self._versions: dict[str, list[int]] = {}
        for event_type, version in self._reactions:
            self._versions.setdefault(event_type, []).append(version)

    # -- one message -------------------------------------------------------------------------

    async def consume(
        self, message: IncomingMessage, blocked: set[str], stop: asyncio.Event | None = None
    ) -> Outcome:
        """Handle one message (retrying failures, parking it when they persist); not acknowledged.
        `blocked` holds the streams of origin with a parked message; parking adds to it."""
        result = await self._attempt(message, blocked, stop, self.settings.consumer.max_attempts)
        if not isinstance(result, _Failed):
            return result
        event_type = result.envelope.event_type if result.envelope else message.headers.get(EVENT_TYPE, "?")
        version = (
            result.envelope.schema_version if result.envelope else _int(message.headers.get(SCHEMA_VERSION))
        )
        with database_errors(f"parking a message of {self.name!r}"):
            async with self.store.pool.connection() as conn:
                await park(
                    conn,
                    self.name,
                    message,
                    origin=result.origin,
                    event_type=event_type,
                    schema_version=version,
                    error=result.error,
                    attempts=result.attempts,
                )
        blocked.add(result.origin)
        log.error(
            "%s parked %s %s (%s): %s", self.name, event_type, message.message_id, result.origin, result.error
        )
        return "parked"

    async def _attempt(
        self, message: IncomingMessage, blocked: set[str], stop: asyncio.Event | None, max_attempts: int
    ) -> Outcome | _Failed:
        try:
            envelope = parse_envelope(message.headers)
        except IntegrationError as error:
            return _Failed(f"unknown:{message.message_id}", None, str(error), 1)
        if envelope.origin in blocked:
            reason = f"waits behind an unresolved dead letter of {envelope.origin}, to keep its order"
            return _Failed(envelope.origin, envelope, reason, 0)
        found = self._reactions.get((envelope.event_type, envelope.schema_version))
        if found is None:
            known = self._versions.get(envelope.event_type)
            if known is None:
                return "ignored"  # an event type this domain does not consume
            reason = (
                f"no reaction to {envelope.event_type} v{envelope.schema_version}; this consumer handles "
                f"v{', v'.join(map(str, sorted(known)))}: vendor the publisher's new contract and regenerate"
            )
            return _Failed(envelope.origin, envelope, reason, 1)
        reaction, handler = found
        try:
            data = reaction.command(reaction.event.model_validate_json(message.data), envelope)
        except Exception as error:  # the payload or the service's mapping: retrying gives the same
            reason = f"mapping {envelope.event_type} v{envelope.schema_version} failed: {_describe(error)}"
            return _Failed(envelope.origin, envelope, reason, 1)
        if data is None:
            return "ignored"
        command = Command(
            data,
            CommandMetadata(
                user_id=self.user_id,
                tenant_id=envelope.tenant_id,
                correlation_id=envelope.correlation_id or str(envelope.event_id),
            ),
            id=self._command_id(message.message_id),
        )
        return await self._handle(message, envelope, handler, command, stop, max_attempts)

    async def _handle(
        self,
        message: IncomingMessage,
        envelope: Envelope,
        handler: CommandHandler[Any, Any],
        command: Command[Any],
        stop: asyncio.Event | None,
        max_attempts: int,
    ) -> Outcome | _Failed:
        settings = self.settings.consumer
        attempts = 0
        delay = settings.retry_delay
        while True:
            try:
                with self.trace.extract(message.headers):
                    result = await handler.handle(command)
                return "replayed" if result.replayed else "handled"
            except TransientDatabaseError as error:
                # Not the message's fault: retry for as long as it takes, without counting.
                log.warning("%s: %s; retrying in %.2fs", self.name, error, delay)
            except CommandRejected as error:
                return _Failed(envelope.origin, envelope, _describe(error), attempts + 1)
            except Exception as error:  # the command handler, the service's code
                attempts += 1
                if attempts >= max_attempts:
                    return _Failed(envelope.origin, envelope, _describe(error), attempts)
                log.warning(
                    "%s: %s %s failed (try %d): %s",
                    self.name,
                    envelope.event_type,
                    message.message_id,
                    attempts,
                    _describe(error),
                )
            # The broker would deliver the message again after ack_wait: tell it to wait.
            try:
                await message.in_progress()
            except TransportError as error:
                log.warning("%s: %s", self.name, error)
            if stop is not None:
                await sleep_or_stop(stop, delay)
                if stop.is_set():
                    raise _Stopped
            else:
                await asyncio.sleep(delay)
            delay = min(delay * 2, settings.max_retry_delay)

    # -- batches and loops -------------------------------------------------------------------

    async def step(self, source: MessageSource, stop: asyncio.Event | None = None) -> int:
        """Fetch one batch, handle it in lanes (each stream of origin in order, in one lane) and
        acknowledge each message once handled; return how many."""
        pipeline, blocked = self._pipeline(stop)
        try:
            handled = await self._dispatch(source, pipeline, blocked)
            await pipeline.drain()
        finally:
            await pipeline.abort()
        return handled

    async def _lane(
        self, messages: Sequence[IncomingMessage], blocked: set[str], stop: asyncio.Event | None
    ) -> None:
        for message in messages:
            outcome = await self.consume(message, blocked, stop)
            # A lost acknowledgement is harmless: the message comes again, and its command is a
            # replay without effect.
            await message.ack()
            self._outcomes[outcome].inc()

    async def catch_up(self, stop: asyncio.Event | None = None) -> int:
        """Handle messages until a fetch finds none; return how many were handled."""
        source = await self._open()
        pipeline, blocked = self._pipeline(stop)
        total = 0
        try:
            while stop is None or not stop.is_set():
                handled = await self._dispatch(source, pipeline, blocked)
                if not handled:
                    break
                total += handled
            await pipeline.drain()
        except _Stopped:
            pass
        finally:
            await pipeline.abort()
            await source.close()
        return total

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run live until `stop` is set, as the one active instance (a standby takes over)."""
        stop = stop or asyncio.Event()
        settings = self.settings.consumer
        async with active_instance(
            self.store.conninfo, self.name, stop, settings.takeover_interval
        ) as leader:
            if leader is None:
                return
            log.info("%s: active", self.name)
            delay = settings.retry_delay
            measured = 0.0
            source: MessageSource | None = None
            pipeline, blocked = self._pipeline(stop)
            try:
                while not stop.is_set():
                    try:
                        if source is None:
                            source = await self._open()
                        if time.monotonic() - measured >= settings.metrics_interval:
                            measured = time.monotonic()
                            if not await leader.still_active():
                                raise TransientDatabaseError(
                                    f"{self.name} lost the connection that holds its lock; restart it."
                                )
                            await consumer_status(self, source)
                        await self._dispatch(source, pipeline, blocked)
                        await pipeline.reap()
                        delay = settings.retry_delay
                    except _Stopped:
                        return
                    except (TransportError, TransientDatabaseError) as error:
                        # Open the consumer again after a broker failure: messages lost in transit,
                        # and those the lanes left, then come first again, before any later one.
                        log.warning("%s: %s; retrying in %.2fs", self.name, error, delay)
                        await pipeline.abort()
                        pipeline, blocked = self._pipeline(stop)
                        if source is not None:
                            await source.close()
                            source = None
                        await sleep_or_stop(stop, delay)
                        delay = min(delay * 2, settings.max_retry_delay)
                try:  # stopped: the lanes end what they are doing (retries end at once)
                    await pipeline.drain()
                except (_Stopped, TransportError, TransientDatabaseError) as error:
                    log.info("%s: stopped with messages left for the next instance (%s)", self.name, error)
            finally:
                await pipeline.abort()
                if source is not None:
                    await source.close()

    def _pipeline(self, stop: asyncio.Event | None) -> tuple[LanePipeline, BlockedOrigins]:
        blocked = BlockedOrigins(self.settings.consumer.metrics_interval)

        async def lane(messages: Sequence[IncomingMessage]) -> None:
            await self._lane(messages, blocked, stop)

        return LanePipeline(self.settings.consumer.lanes, lane), blocked

    async def _dispatch(self, source: MessageSource, pipeline: LanePipeline, blocked: BlockedOrigins) -> int:
        """Fetch a batch and hand it to the lanes (after reading which origins are blocked)."""
        settings = self.settings.consumer
        messages = await source.fetch(settings.batch_size, settings.poll_interval)
        if not messages:
            return 0
        await blocked.refresh(self._read_blocked)
        await pipeline.submit(messages)
        return len(messages)

    async def _read_blocked(self) -> set[str]:
        with database_errors(f"reading the dead letters of {self.name!r}"):
            async with self.store.pool.connection() as conn:
                return await blocked_origins(conn, self.name)

    async def _open(self) -> MessageSource:
        if self.transport is None:
            raise ConfigurationError(f"consumer {self.name!r} was made without a transport; pass one.")
        return Prefetching(await self.transport.durable_consumer(self.spec))

    # -- dead letters ------------------------------------------------------------------------

    async def replay_dead_letters(self) -> ReplayResult:
        """Handle each unresolved dead letter again, in the order they were parked, once. A letter
        of a stream of origin whose earlier letter failed again is not tried (it keeps its order)."""
        replayed = 0
        failed: list[IntegrationDeadLetter] = []
        with database_errors(f"replaying the dead letters of {self.name!r}"):
            async with self.store.pool.connection() as conn:
                letters = await fetch_dead_letters(conn, self.name)
            still_blocked: set[str] = set()
            for letter in letters:
                if letter.origin in still_blocked:
                    failed.append(letter)
                    continue
                error = await self._replay_one(letter)
                async with self.store.pool.connection() as conn:
                    if error is None:
                        await resolve_dead_letter(conn, letter.id)
                        replayed += 1
                        continue
                    await fail_dead_letter(conn, letter.id, error)
                still_blocked.add(letter.origin)
                failed.append(letter)
        return ReplayResult(replayed, failed)

    async def _replay_one(self, letter: IntegrationDeadLetter) -> str | None:
        """None when the letter's message took effect (or is ignored now); else the error."""
        result = await self._attempt(StoredMessage(letter), set(), None, max_attempts=1)
        return result.error if isinstance(result, _Failed) else None


async def consumer_status(consumer: IntegrationConsumer, source: MessageSource) -> tuple[int, int]:
    """(pending messages, unresolved dead letters), also set as gauges."""
    pending = await source.pending()
    with database_errors(f"counting the dead letters of {consumer.name!r}"):
        async with consumer.store.pool.connection() as conn:
            dead = await count_unresolved(conn, consumer.name)
    metrics.CONSUMER_PENDING.labels(consumer.name).set(pending)
    metrics.CONSUMER_DEAD_LETTERS.labels(consumer.name).set(dead)
    return pending, dead


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0
