"""Pausing Python's cyclic garbage collector while many small objects are built at once, and
keeping it off what a long-running process built at startup.

Reading 10,000 events builds tens of thousands of objects that hold no reference cycles; the
collector would still walk the growing heap again and again (it was most of the time of a typed
stream read). Pausing it for such a loop changes nothing but the time: collection resumes after.
"""

from __future__ import annotations

import gc

#: Below this many items a pause is not worth its own cost.
WORTH_IT = 64


class gc_paused:  # noqa: N801 - used like a function: `with gc_paused(len(rows)):`
    """Pause the collector for the block when `count` (the number of items about to be built)
    is large enough to matter; a plain class, as cheap as a context manager gets."""

    __slots__ = ("_resume",)

    def __init__(self, count: int = WORTH_IT) -> None:
        self._resume = count >= WORTH_IT and gc.isenabled()

    def __enter__(self) -> None:
        if self._resume:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._resume:
            gc.enable()


def freeze_startup_objects() -> None:
    """Move everything alive now (modules, classes, validators, settings: what a long-running
    process built before its loop) out of the collector's reach, so that a full collection walks
    only what was made since. An integration consumer's full collections took up to 44 ms each
    (every lane stalled meanwhile) and 1 ms after this. What is frozen is never collected, which
    is what startup objects are for anyway."""
    gc.collect()
    gc.freeze()
