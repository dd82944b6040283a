"""The hand-written decision of CloseAccount (bank domain).

acci-gen created this file once and never overwrites it: it is yours to edit. The generated
CloseAccountHandler calls `decide_close_account` after the precondition and the `requires:` rules of
the domain file have passed, and appends the events it returns.
"""

from __future__ import annotations

from collections.abc import Sequence

from acci import Command

from ..aggregates import AccountState
from ..commands import CloseAccount
from ..events import AccountClosed, MoneyWithdrawn


def decide_close_account(
    state: AccountState, command: Command[CloseAccount]
) -> Sequence[AccountClosed | MoneyWithdrawn]:
    """The events CloseAccount produces; raise acci.CommandRejected(reason, code=...) to refuse it.

    Keep it pure (no I/O, no clock, no randomness): `command.data` holds the command's fields and
    `command.metadata` who sent it and when.
    """
    raise NotImplementedError(
        "decide_close_account is not written yet: implement it in "
        "bank/custom/close_account.py (it returns the events CloseAccount produces: "
        "AccountClosed, MoneyWithdrawn)."
    )
