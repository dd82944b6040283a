"""The clock a deadline runner asks what time it is: the system's, or one that tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What time it is, for deciding which deadlines are due."""

    def now(self) -> datetime:
        """The current time, with a time zone."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move: tests advance it instead of sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime.now(UTC)
        self._now = start if start.tzinfo is not None else start.replace(tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> datetime:
        """Move forward by `by` (never backward); the new time."""
        if by < timedelta():
            raise ValueError(f"a clock moves forward only; advance by {by} is negative.")
        self._now += by
        return self._now

    def set(self, to: datetime) -> None:
        """Move to `to`, which must not be earlier than now."""
        to = to if to.tzinfo is not None else to.replace(tzinfo=UTC)
        if to < self._now:
            raise ValueError(
                f"a clock moves forward only; {to.isoformat()} is before {self._now.isoformat()}."
            )
        self._now = to
