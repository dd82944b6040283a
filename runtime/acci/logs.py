"""Structured logs: the context of the work at hand on every line, as JSON or as readable text.

The runtime logs through the standard `logging` module (loggers `acci.*`). What a line is about
(the command id, correlation id and stream of a command; the projection and position of a batch)
is set once with `log_context(...)` around the work, kept in a context variable (so concurrent
tasks do not mix them up), and added to every record logged inside. `configure_logging()` is
what a service's entry point calls: one handler on stderr, JSON or console, at the set level.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

#: The fields of the work in progress, in the order they are shown.
FIELDS = ("command_id", "correlation_id", "stream", "projection", "position", "query")

# The values stay as given (a UUID, a StreamId): they become text only when a line is written.
_context: ContextVar[Mapping[str, object]] = ContextVar("acci_log_context", default={})  # noqa: B039 - never mutated


class log_context:  # noqa: N801 - used like a function: `with log_context(projection=name):`
    """Add `fields` (None values are left out) to every record logged inside the block. A plain
    class, not a generator: it wraps every command, so its cost counts."""

    __slots__ = ("_fields", "_token")

    def __init__(self, **fields: object) -> None:
        self._fields = fields

    def __enter__(self) -> None:
        fields = {k: v for k, v in self._fields.items() if v is not None}
        self._token = _context.set({**_context.get(), **fields})

    def __exit__(self, *exc: object) -> None:
        _context.reset(self._token)


def current_context() -> dict[str, str]:
    return {key: str(value) for key, value in _context.get().items()}


class _ContextFilter(logging.Filter):
    """Copies the current log context into each record (`record.acci_context`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.acci_context = current_context()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context fields, and the
    exception with its traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "acci_context", {}),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class ConsoleFormatter(logging.Formatter):
    """`time level logger: message [field=value ...]`, for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = getattr(record, "acci_context", {})
        if not context:
            return text
        fields = " ".join(f"{key}={value}" for key, value in _ordered(context))
        first, newline, rest = text.partition("\n")
        return f"{first} [{fields}]{newline}{rest}"


def _ordered(context: Mapping[str, str]) -> list[tuple[str, str]]:
    known = [(key, context[key]) for key in FIELDS if key in context]
    return known + sorted((k, v) for k, v in context.items() if k not in FIELDS)


class _StderrHandler(logging.StreamHandler[IO[str]]):
    """Writes to whatever `sys.stderr` is at the time (test runners swap it per test)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


def configure_logging(level: str = "INFO", format: Literal["console", "json"] = "console") -> logging.Handler:
    """Send log records at `level` or above to stderr in `format`: the handler a service's entry
    point installs on the root logger. Calling it again replaces the handler it installed before
    (and only that one)."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if format == "json" else ConsoleFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
