"""'Did you mean' suggestions for misspelled names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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


def did_you_mean(name: str, known: Iterable[str], *, what: str = "") -> str:
    """A fix text: 'did you mean X?' when one is close, then the list of known names."""
    names = sorted(set(known))
    guess = closest(name, names)
    parts = []
    if guess is not None:
        parts.append(f"did you mean '{guess}'?")
    if names:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        parts.append(f"Known {what or 'names'}: {shown}.")
    else:
        parts.append(f"No {what or 'names'} are declared yet.")
    return " ".join(parts)


def _common_prefix(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count
