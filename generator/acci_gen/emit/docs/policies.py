"""The domain document's section on policies: for each, what each event makes it send, now or
later, under which condition, and what happens when the command is rejected."""

from __future__ import annotations

from acci_gen.emit.text import md_code, md_text
from acci_gen.model import Domain, PolicyEffect

_UNITS = {"days": "d", "hours": "h", "minutes": "min", "seconds": "s"}


def policies_section(domain: Domain) -> list[str]:
    if not domain.policies:
        return []
    lines = [
        "## Policies",
        "",
        "Each runs like a projection (`acci projections status` lists it, `acci deadlines list` its "
        "deadlines); the commands it sends get ids derived from the event, so each is sent once.",
        "",
    ]
    for policy in domain.policies:
        lines += [f"### {policy.name}", ""]
        if policy.description:
            lines += [md_text(policy.description), ""]
        lines += ["| On | Does |", "|---|---|"]
        for event, effects in policy.reactions.items():
            lines += [f"| [{event}](#{event.lower()}) | {_effect(effect)} |" for effect in effects]
        for effects in policy.reactions.values():
            for effect in effects:
                lines += [
                    f"| [{name}](#{name.lower()}) | cancels the deadline {md_code(effect.deadline)} |"
                    for name in effect.cancel_on
                ]
        lines.append("")
    return lines


def _effect(effect: PolicyEffect) -> str:
    command = f"[{effect.command}](#{effect.command.lower()})"
    if effect.kind == "send":
        text = f"sends {command}"
    else:
        when = (
            " ".join(f"{n}{_UNITS[u]}" for u, n in effect.after.items()) + " after the event"
            if effect.after
            else f"at {md_code(f'{effect.at.source}.{effect.at.name}')}"
            if effect.at
            else "later"
        )
        key = f"{effect.key.source}.{effect.key.name}" if effect.key else ""
        text = f"schedules {command} (deadline {md_code(effect.deadline)}, {when}, key {md_code(key)})"
    if effect.condition_text:
        text += f" when {md_code(effect.condition_text)}"
    if effect.compensation is not None:
        text += f"; if rejected, sends [{effect.compensation[0]}](#{effect.compensation[0].lower()})"
    else:
        text += f"; if rejected: {effect.on_rejected.replace('_', '-')}"
    return text
