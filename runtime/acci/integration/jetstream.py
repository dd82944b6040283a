"""The NATS JetStream transport (nats-py, the `acci[nats]` extra).

Publishes go out pipelined, each with `Nats-Msg-Id` set to the event id, so that JetStream drops
a message it already stored within the stream's duplicate window, and their acknowledgements come
back on one inbox of the transport (see NatsTransport.publish). The consumers are durable pull
consumers with explicit acknowledgements.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from acci.errors import ConfigurationError
from acci.integration.envelope import MSG_ID
from acci.integration.errors import TransportError
from acci.integration.settings import NatsSettings
from acci.integration.transport import (
    Ack,
    ConsumerSpec,
    IncomingMessage,
    MessageSource,
    OutgoingMessage,
    StreamSpec,
    Transport,
)

try:
    import nats
    import nats.aio.client
    import nats.errors
    import nats.js.errors
    from nats.js import api
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ConfigurationError(
        "acci.integration.jetstream needs nats-py: install the extra, `pip install 'acci[nats]'`."
    ) from error

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

log = logging.getLogger("acci.integration")


# JetStream's headers: the stream a publish must land in, and the status of a reply without body.
_EXPECTED_STREAM = "Nats-Expected-Stream"
_STATUS = "Status"
_NO_RESPONDERS = "503"

# Any character str.isspace() calls white space (re's \s in a str pattern is the same class).
_SPACE = re.compile(r"\s")


class _Client(nats.aio.client.Client):
    """nats-py's client, with its header parser made cheaper: the same result, but each header
    name is checked for white space by one regular-expression search instead of a generator over
    its characters. The envelope's 13 headers made that check about a twentieth of an integration
    consumer's CPU per message (see tests/runtime/integration/test_header_parser.py)."""

    @staticmethod
    def _parse_header_lines(raw: bytes) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in raw.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep:
                continue
            try:
                key = name.strip().decode("ascii")
            except UnicodeDecodeError:
                continue
            if _SPACE.search(key):
                continue
            out[key] = value.strip().decode("utf-8", "replace")
        return out


class NatsTransport(Transport):
    """Integration events over NATS JetStream. `await NatsTransport.connect(settings)`."""

    def __init__(self, client: Client, settings: NatsSettings, reconnects: list[int] | None = None) -> None:
        self.client = client
        self.settings = settings
        #: How often the client has reconnected (one counter, shared with the callback).
        self._reconnects = reconnects if reconnects is not None else [0]
        self.js: JetStreamContext = client.jetstream(timeout=settings.publish_timeout)
        # The acknowledgements of publish(): one inbox, a token per message (see publish).
        self._ack_inbox = client.new_inbox()
        self._ack_subscription: Any = None
        self._awaited: dict[str, asyncio.Future[Ack]] = {}
        self._tokens = itertools.count()

    @classmethod
    async def connect(cls, settings: NatsSettings | None = None) -> Self:
        """Connect to `settings.url`. After the first connection the client reconnects by itself,
        for ever; publishes and fetches in between fail with TransportError and are retried."""
        settings = settings or NatsSettings()
        reconnects = [0]

        async def on_error(error: Exception) -> None:
            log.warning("NATS at %s: %s", settings.url, error or type(error).__name__)

        async def on_disconnect() -> None:
            if client.is_closed:  # closed on purpose (close()): nothing to reconnect
                return
            log.warning("NATS at %s: disconnected; reconnecting", settings.url)

        async def on_reconnect() -> None:
            reconnects[0] += 1
            log.info("NATS at %s: reconnected", settings.url)

        client = _Client()
        try:
            # nats-py retries a first connection for ever too (max_reconnect_attempts=-1), logging
            # each failure: bound it, so that a server that is not there is one clear error.
            await asyncio.wait_for(
                client.connect(
                    servers=[settings.url],
                    name=settings.client_name,
                    connect_timeout=settings.connect_timeout,  # type: ignore[arg-type,unused-ignore]
                    reconnect_time_wait=settings.reconnect_wait,  # type: ignore[arg-type,unused-ignore]
                    max_reconnect_attempts=-1,
                    error_cb=on_error,
                    disconnected_cb=on_disconnect,
                    reconnected_cb=on_reconnect,
                ),
                settings.connect_timeout,
            )
        except (nats.errors.Error, OSError, TimeoutError) as error:
            with contextlib.suppress(Exception):
                await client.close()
            reason = (
                f"no connection within {settings.connect_timeout:g} s"
                if isinstance(error, TimeoutError)
                else str(error) or type(error).__name__
            )
            raise TransportError(
                f"cannot connect to NATS at {settings.url}: {reason}. Start the server (with JetStream: "
                "-js) or point ACCI_NATS_URL at it."
            ) from error
        return cls(client, settings, reconnects)

    async def close(self) -> None:
        await self.client.close()

    # -- streams ---------------------------------------------------------------------------

    async def ensure_stream(self, spec: StreamSpec) -> None:
        wanted = _stream_config(spec)
        try:
            try:
                info = await self.js.stream_info(spec.name)
            except nats.js.errors.NotFoundError:
                await self.js.add_stream(wanted)
                log.info("created JetStream stream %s for %s", spec.name, ", ".join(spec.subjects))
                return
        except nats.errors.Error as error:
            raise _transport_error(f"creating or checking the stream {spec.name}", error) from error
        differences = _differences(info.config, spec)
        if differences:
            raise ConfigurationError(
                f"the JetStream stream {spec.name} exists with another configuration: "
                f"{'; '.join(differences)}. Change the stream settings to match, or edit the stream "
                f"(`nats stream edit {spec.name}`) if the settings are what you want."
            )

    # -- publishing ------------------------------------------------------------------------

    async def publish(
        self, stream: str, messages: Sequence[OutgoingMessage], ack_within: float
    ) -> list[Ack | TransportError]:
        """Publish `messages` pipelined and wait up to `ack_within` for JetStream's acknowledgements.

        Each goes out as a plain NATS publish whose reply subject is a token under one inbox of
        this transport, and one subscription to that inbox settles the acknowledgements: this is
        what JetStream's publish is on the wire. nats-py's `publish_async` does the same, but per
        message it also waits for a semaphore through `asyncio.wait_for`, draws a random token from
        the operating system and builds a dataclass of the acknowledgement: about a third of the
        CPU of a publish (measured: 38 against 51 to 58 µs per message)."""
        await self._subscribe_to_acks()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Ack] | TransportError] = []
        tokens: list[str] = []
        for message in messages:
            headers = dict(message.headers)
            headers[MSG_ID] = message.message_id
            # A subject captured by another stream is refused rather than stored there.
            headers[_EXPECTED_STREAM] = stream
            token = str(next(self._tokens))
            future: asyncio.Future[Ack] = loop.create_future()
            self._awaited[token] = future
            tokens.append(token)
            try:
                await self.client.publish(
                    message.subject, message.data, reply=f"{self._ack_inbox}.{token}", headers=headers
                )
            except (nats.errors.Error, OSError) as error:
                futures.append(_transport_error(f"publishing {message.subject}", error))
                continue
            futures.append(future)
        waiting = [f for f in futures if isinstance(f, asyncio.Future)]
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=ack_within)
            for future in late:
                future.cancel()
        results: list[Ack | TransportError] = []
        for message, outcome in zip(messages, futures, strict=True):
            if isinstance(outcome, TransportError):
                results.append(outcome)
            elif outcome.cancelled():
                results.append(
                    TransportError(
                        f"no acknowledgement for {message.subject} from JetStream within {ack_within}s"
                    )
                )
            elif (failure := outcome.exception()) is not None:
                results.append(_transport_error(f"publishing {message.subject}", failure))
            else:
                results.append(outcome.result())
        for token in tokens:  # answered, failed or given up on above
            del self._awaited[token]
        return results

    async def _subscribe_to_acks(self) -> None:
        """Subscribe to the acknowledgements' inbox on the first publish (nats-py subscribes
        again by itself after a reconnect)."""
        if self._ack_subscription is None:
            try:
                self._ack_subscription = await self.client.subscribe(f"{self._ack_inbox}.*", cb=self._on_ack)
            except nats.errors.Error as error:
                raise _transport_error("subscribing to the acknowledgements", error) from error

    async def _on_ack(self, msg: Msg) -> None:
        future = self._awaited.get(msg.subject[len(self._ack_inbox) + 1 :])
        if future is None or future.done():  # given up on (timed out), or answered already
            return
        if msg.headers and msg.headers.get(_STATUS) == _NO_RESPONDERS:
            future.set_exception(TransportError(f"no JetStream stream takes the subject {msg.subject!r}"))
            return
        try:
            answer = json.loads(msg.data)
            error = answer.get("error")
            if error is not None:
                future.set_exception(
                    TransportError(f"JetStream refused the message: {error.get('description', error)}")
                )
            else:
                future.set_result(Ack(int(answer["seq"]), bool(answer.get("duplicate", False))))
        except (ValueError, KeyError, TypeError, AttributeError) as problem:
            future.set_exception(
                TransportError(f"JetStream answered what is not an acknowledgement: {problem}")
            )

    # -- consuming -------------------------------------------------------------------------

    async def durable_consumer(self, spec: ConsumerSpec) -> MessageSource:
        try:
            config = await self._prepare_consumer(spec)
            if config is not None:
                await self.js.add_consumer(spec.stream, config)
            subscription = await self.js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
        except nats.js.errors.NotFoundError as error:
            raise TransportError(
                f"JetStream has no stream {spec.stream} to consume from ({error}); it is created when the "
                "publishing domain's relay first starts."
            ) from error
        except nats.errors.Error as error:
            raise _transport_error(f"opening the consumer {spec.durable} on {spec.stream}", error) from error
        return _NatsSource(self, spec, subscription)

    async def _prepare_consumer(self, spec: ConsumerSpec) -> api.ConsumerConfig | None:
        """The configuration to create the consumer with, or None to use it as it is.

        A consumer with unacknowledged messages (its last instance died with them) is created
        again from its acknowledgement floor: waiting for JetStream's redelivery would let later
        messages overtake them. Messages after the floor that were acknowledged come once more;
        the consumer's idempotency makes them replays without effect.
        """
        wanted = api.ConsumerConfig(
            durable_name=spec.durable,
            name=spec.durable,
            deliver_policy=api.DeliverPolicy.ALL if spec.deliver == "all" else api.DeliverPolicy.NEW,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=spec.ack_wait,
            max_deliver=-1,
            max_ack_pending=spec.max_ack_pending,
            filter_subject=spec.filter_subject,
        )
        try:
            info = await self.js.consumer_info(spec.stream, spec.durable)
        except nats.js.errors.NotFoundError:
            return wanted
        same = info.config.filter_subject == spec.filter_subject and info.config.ack_wait == spec.ack_wait
        if same and not info.num_ack_pending and info.config.max_ack_pending == spec.max_ack_pending:
            return None
        floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
        log.info(
            "consumer %s: %d unacknowledged message(s); starting again after stream sequence %d",
            spec.durable,
            info.num_ack_pending or 0,
            floor,
        )
        await self.js.delete_consumer(spec.stream, spec.durable)
        wanted.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
        wanted.opt_start_seq = floor + 1
        return wanted


class _NatsMessage(IncomingMessage):
    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self.subject = msg.subject
        self.data = msg.data
        self.headers: Mapping[str, str] = msg.headers or {}
        self.message_id = self.headers.get(MSG_ID, "")
        metadata = msg.metadata
        self.sequence = metadata.sequence.stream
        self.deliveries = metadata.num_delivered
        if not self.message_id:
            # Not published by a relay: the stream sequence identifies it within its stream.
            self.message_id = f"{metadata.stream}:{self.sequence}"

    async def ack(self) -> None:
        try:
            await self._msg.ack()
        except nats.errors.Error as error:
            raise _transport_error(f"acknowledging {self.subject}", error) from error

    async def in_progress(self) -> None:
        try:
            await self._msg.in_progress()
        except nats.errors.Error as error:
            raise _transport_error(f"reporting progress on {self.subject}", error) from error


class _NatsSource(MessageSource):
    def __init__(self, transport: NatsTransport, spec: ConsumerSpec, subscription: Any) -> None:
        self._transport = transport
        self._spec = spec
        self._subscription: JetStreamContext.PullSubscription = subscription
        self._opened_at = transport._reconnects[0]

    async def fetch(self, max_messages: int, max_wait: float) -> list[IncomingMessage]:
        if self._transport._reconnects[0] != self._opened_at:
            # A message delivered while the connection dropped is redelivered only after ack_wait,
            # behind later ones; opening the consumer again brings it first.
            raise TransportError(
                f"the connection to NATS was re-established; open the consumer {self._spec.durable} again"
            )
        try:
            msgs = await self._subscription.fetch(max_messages, timeout=max_wait)
        except TimeoutError:  # nats-py raises its own subclass, or asyncio's own
            return []
        except nats.errors.Error as error:
            raise _transport_error(f"fetching from {self._spec.durable}", error) from error
        return [_NatsMessage(msg) for msg in msgs]

    async def pending(self) -> int:
        try:
            info = await self._transport.js.consumer_info(self._spec.stream, self._spec.durable)
        except nats.errors.Error as error:
            raise _transport_error(f"reading the state of {self._spec.durable}", error) from error
        return (info.num_pending or 0) + (info.num_ack_pending or 0)

    async def close(self) -> None:
        try:
            await self._subscription.unsubscribe()
        except nats.errors.Error as error:  # closing anyway: the server drops it with the connection
            log.debug("unsubscribing %s: %s", self._spec.durable, error)


def _stream_config(spec: StreamSpec) -> api.StreamConfig:
    return api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=api.RetentionPolicy(spec.retention),
        storage=api.StorageType(spec.storage),
        num_replicas=spec.replicas,
        duplicate_window=spec.duplicate_window,
        max_age=spec.max_age,
        max_bytes=spec.max_bytes,
        discard=api.DiscardPolicy.OLD,
    )


def _differences(config: api.StreamConfig, spec: StreamSpec) -> list[str]:
    found: list[str] = []
    have: dict[str, tuple[object, object]] = {
        "subjects": (sorted(config.subjects or []), sorted(spec.subjects)),
        "retention": (getattr(config.retention, "value", config.retention), spec.retention),
        "storage": (getattr(config.storage, "value", config.storage), spec.storage),
        "replicas": (config.num_replicas or 1, spec.replicas),
        "duplicate_window": (config.duplicate_window or 0.0, spec.duplicate_window),
        "max_age": (config.max_age or 0.0, spec.max_age),
        "max_bytes": (config.max_bytes if config.max_bytes is not None else -1, spec.max_bytes),
    }
    for name, (actual, expected) in have.items():
        if isinstance(actual, float) or isinstance(expected, float):
            differs = abs(float(actual) - float(expected)) > 1e-6  # type: ignore[arg-type]
        else:
            differs = actual != expected
        if differs:
            found.append(f"{name} is {actual!r}, the settings say {expected!r}")
    return found


def _transport_error(doing: str, error: BaseException) -> TransportError:
    name = type(error).__name__
    text = str(error) or name
    return TransportError(f"NATS failed {doing}: {text if name in text else f'{name}: {text}'}")
