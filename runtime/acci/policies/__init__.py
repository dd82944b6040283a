"""Policies (process managers) and deadlines: events that lead to commands, now or later.

A Policy reacts to events with effects: Send a command now, Schedule one for later, Cancel a
scheduled one. `policy_runner` runs it like a projection (checkpointed, one active instance, dead
letters); a DeadlineRunner sends the scheduled commands when they are due by its Clock. Every
command gets an id derived from the policy and the event (or the deadline), so each takes effect
once however often it is sent.
"""

from acci.policies._sending import Observer, Sent
from acci.policies.base import (
    Cancel,
    Effect,
    OnRejected,
    Policy,
    Schedule,
    Send,
    command_id,
    compensation_id,
    deadline_command_id,
    deadline_id,
)
from acci.policies.clock import Clock, ManualClock, SystemClock
from acci.policies.deadlines import (
    Deadline,
    DeadlineRunner,
    deadline_status,
    list_deadlines,
    retry_deadlines,
)
from acci.policies.runner import (
    PolicyProjection,
    policy_projection,
    policy_runner,
    replay_policy_dead_letters,
)

__all__ = [
    "Cancel",
    "Clock",
    "Deadline",
    "DeadlineRunner",
    "Effect",
    "ManualClock",
    "Observer",
    "OnRejected",
    "Policy",
    "PolicyProjection",
    "Schedule",
    "Send",
    "Sent",
    "SystemClock",
    "command_id",
    "compensation_id",
    "deadline_command_id",
    "deadline_id",
    "deadline_status",
    "list_deadlines",
    "policy_projection",
    "policy_runner",
    "replay_policy_dead_letters",
    "retry_deadlines",
]
