"""'Did you mean' suggestions for misspelled names, and lists of the names that would do.

Every text these functions return says what to do, also when there is nothing to suggest: a fix
is never empty (acci_gen.errors.Diagnostic refuses one).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: How many known names a fix lists before it says "...".
SHOWN = 12


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to `name`, or None when nothing is close enough."""
    candidates = sorted(set(known))
    scored = []
    for candidate in candidates:
        ratio = difflib.SequenceMatcher(None, name, candidate).ratio()
        prefix = _common_prefix(name.lower(), candidate.lower())
        scored.append((ratio + 0.05 * min(prefix, 6), ratio, candidate))
    best = max((s for s in scored if s[1] >= 0.6 or s[0] >= 0.7), default=None)
    if best is not None:
        return best[2]
    lowered = {c.lower(): c for c in candidates}
    return lowered.get(name.lower())


def did_you_mean(name: str, known: Iterable[str], *, what: str = "names", otherwise: str = "") -> str:
    """A fix text: 'did you mean X?' when one is close, then the list of known names; when none
    is known, `otherwise` (or that there are none yet, and to declare one)."""
    names = sorted(set(known))
    if not names:
        return otherwise or f"No {what} are declared yet: declare '{name}' first, or remove the reference."
    guess = closest(name, names)
    prefix = f"did you mean '{guess}'? " if guess is not None else ""
    return f"{prefix}Known {what}: {one_of(names)}."


def one_of(names: Iterable[str]) -> str:
    """Names for a message, at most SHOWN of them; never empty."""
    items = list(names)
    if not items:
        return "(none)"
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def _common_prefix(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count
