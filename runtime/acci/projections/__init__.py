"""Projections: read models built from events, by a runner or inline with the append."""

from acci.projections._checkpoints import Checkpoint
from acci.projections._dead_letters import DeadLetter
from acci.projections.base import Projection, Statement
from acci.projections.consistency import has_passed, wait_until_passed
from acci.projections.operations import (
    ProjectionStatus,
    ReplayResult,
    SegmentStatus,
    count_events,
    list_dead_letters,
    projection_status,
    replay_dead_letters,
)
from acci.projections.rebuild import ConsistencyReport, check_consistency, rebuild
from acci.projections.resplit import resplit
from acci.projections.runner import ProjectionRunner, RunnerSettings, StepResult

__all__ = [
    "Checkpoint",
    "ConsistencyReport",
    "DeadLetter",
    "Projection",
    "ProjectionRunner",
    "ProjectionStatus",
    "ReplayResult",
    "RunnerSettings",
    "SegmentStatus",
    "Statement",
    "StepResult",
    "check_consistency",
    "count_events",
    "has_passed",
    "list_dead_letters",
    "projection_status",
    "rebuild",
    "replay_dead_letters",
    "resplit",
    "wait_until_passed",
]
