"""acci._gcpause: the collector paused for a loop, and kept off a long-running process's startup
objects."""

from __future__ import annotations

import gc

from acci._gcpause import freeze_startup_objects, gc_paused


def test_a_pause_resumes_collection_and_a_small_one_is_no_pause() -> None:
    with gc_paused(1_000):
        assert not gc.isenabled()
    assert gc.isenabled()
    with gc_paused(3):
        assert gc.isenabled()


def test_startup_objects_are_frozen_out_of_full_collections() -> None:
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 1000  # the modules and classes loaded so far
        garbage: list[object] = []
        garbage.append(garbage)  # a cycle made after: still collected
        del garbage
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
