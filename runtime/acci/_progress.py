"""A progress line for long work on a terminal (and plain lines elsewhere)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """`update(done)` redraws "label [#####.....] 50% 1,234/2,468 events"; `finish()` ends the line."""

    def __init__(
        self, label: str, total: int | None, *, stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.width = width
        self._tty = self.stream.isatty()
        self._last = 0.0
        self._done = 0

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if now - self._last < (0.1 if self._tty else 2.0):
            return
        self._last = now
        self._draw(end="\r" if self._tty else "\n")

    def phase_callback(self, phase: str) -> Callable[[str, int], None]:
        """A `progress(phase, done)` callback that draws the counts of one phase."""

        def callback(current: str, done: int) -> None:
            if current == phase:
                self.update(done)

        return callback

    def finish(self, done: int | None = None, note: str = "") -> None:
        if done is not None:
            self._done = done
        self._draw(end="\n", note=note)

    def _draw(self, *, end: str, note: str = "") -> None:
        if self.total:
            share = min(self._done / self.total, 1.0)
            filled = int(share * self.width)
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {share:4.0%} {self._done:,}/{self.total:,}"
        else:
            bar = f"{self._done:,}"
        self.stream.write(f"{self.label} {bar} events{' ' + note if note else ''}{end}")
        self.stream.flush()
