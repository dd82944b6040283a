"""Sending a policy's command: through its real handler, retried on conflicts, and what to do when
it is rejected (a compensation, ignore it, or dead-letter). Shared by policies and deadlines."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from acci import metrics
from acci.commands import Command, CommandResult
from acci.errors import (
    AcciError,
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    ConcurrencyError,
    ConfigurationError,
    PolicyCommandRejected,
    TransientDatabaseError,
)
from acci.policies.base import OnRejected, Policy, compensation_id
from acci.store.base import EventStore

log = logging.getLogger("acci.policies")

#: The errors that mean a command was refused by the domain (nothing was appended), as opposed to
#: a failure of the machinery.
REJECTIONS = (CommandRejected, AggregateNotFound, AggregateAlreadyExists)

#: How often a command that meets a concurrency conflict is sent again at once (it appended
#: nothing, so sending it again is a new try); then the runner retries it with backoff.
CONFLICT_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Sent:
    """A command a policy (or one of its deadlines) sent, and how it went: its result, or the
    rejection. Observers (tests, logs) get one per command, compensations included."""

    policy: str
    command: Command[Any]
    result: CommandResult | None = None
    rejection: AcciError | None = None

    @property
    def outcome(self) -> Literal["ok", "replayed", "rejected"]:
        if self.rejection is not None:
            return "rejected"
        return "replayed" if self.result is not None and self.result.replayed else "ok"


Observer = Callable[[Sent], None]


class Sender:
    """Sends a policy's commands through the handlers it names."""

    def __init__(self, store: EventStore, policy: Policy, observer: Observer | None = None) -> None:
        self.store = store
        self.policy = policy
        self.observer = observer

    async def send(self, command: Command[Any], on_rejected: OnRejected, cause: str) -> str:
        """Send `command` (sent for `cause`, in words); the outcome: ok, replayed, compensated or
        ignored. A rejection to dead-letter raises PolicyCommandRejected; a conflict that persists
        raises TransientDatabaseError (the runner retries it, it is not the event's fault)."""
        sent = await self._send(command)
        rejection = sent.rejection
        if rejection is None:
            return sent.outcome
        if on_rejected == "ignore":
            log.info("%s: %s was rejected and is let be: %s", self.policy.name, _named(command), rejection)
            metrics.POLICY_COMMANDS.labels(self.policy.name, "ignored").inc()
            return "ignored"
        if on_rejected == "dead_letter":
            raise self._rejected(command, cause, rejection)
        compensation = Command(on_rejected, command.metadata, id=compensation_id(command.id))
        again = (await self._send(compensation)).rejection
        if again is not None:
            raise self._rejected(compensation, f"the rejection of {_named(command)}", again)
        metrics.POLICY_COMMANDS.labels(self.policy.name, "compensated").inc()
        return "compensated"

    async def _send(self, command: Command[Any]) -> Sent:
        """Handle the command: its result (now or before), or its rejection."""
        handler_class = self.policy.handlers.get(type(command.data))
        if handler_class is None:
            raise ConfigurationError(
                f"policy {self.policy.name!r} sends {type(command.data).__name__}, which none of its "
                f"handlers handles; add its handler to the policy's handlers."
            )
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                result = await handler_class(self.store).handle(command)
            except REJECTIONS as rejection:
                sent = Sent(self.policy.name, command, rejection=rejection)
                self._observe(sent)
                metrics.POLICY_COMMANDS.labels(self.policy.name, "rejected").inc()
                return sent
            except ConcurrencyError as conflict:
                if attempt < CONFLICT_RETRIES:
                    continue
                raise TransientDatabaseError(
                    f"policy {self.policy.name!r}: {_named(command)} met a concurrency conflict "
                    f"{CONFLICT_RETRIES} times in a row ({conflict}); it will be sent again.",
                    sqlstate=None,
                ) from conflict
            sent = Sent(self.policy.name, command, result=result)
            self._observe(sent)
            metrics.POLICY_COMMANDS.labels(self.policy.name, sent.outcome).inc()
            return sent
        raise AssertionError("unreachable")  # pragma: no cover

    def _observe(self, sent: Sent) -> None:
        if self.observer is not None:
            self.observer(sent)

    def _rejected(self, command: Command[Any], cause: str, rejection: AcciError) -> PolicyCommandRejected:
        reason = rejection.reason if isinstance(rejection, CommandRejected) else str(rejection)
        error = PolicyCommandRejected(
            self.policy.name, type(command.data).command_type, command.id, cause, reason
        )
        error.__cause__ = rejection
        return error


def _named(command: Command[Any]) -> str:
    return f"{type(command.data).command_type} (command {command.id})"
