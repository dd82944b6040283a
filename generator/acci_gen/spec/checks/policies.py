"""Policies: the events they react to, the commands they send with every required field mapped
from the event, their conditions, compensations, deadlines (a delay or a time from the event, a
key the cancelling events share) and their scenarios."""

from __future__ import annotations

import re

from acci_gen import names
from acci_gen.model import (
    ENVELOPE_FIELDS,
    Command,
    Domain,
    Event,
    Expr,
    Field,
    Policy,
    PolicyEffect,
    PolicyScenario,
    TypeRef,
)
from acci_gen.names import snake_problem
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, Scopes, compatible, literal_problem
from acci_gen.spec.checks.expressions import is_expression, parse_expression
from acci_gen.spec.checks.rules import parse_condition
from acci_gen.spec.checks.scenarios import check_data, event_instance
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean

_PART = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def duration(text: str) -> dict[str, int]:
    """A delay as written (1h30m) by unit: {"hours": 1, "minutes": 30}."""
    parts: dict[str, int] = {}
    for number, unit in _PART.findall(text):
        parts[_UNITS[unit]] = parts.get(_UNITS[unit], 0) + int(number)
    return {unit: parts[unit] for unit in _UNITS.values() if unit in parts}


def check_policies(ctx: Context, policies: dict[str, lang.Policy], domain: Domain) -> None:
    for name, spec in policies.items():
        path: PathT = ("policies", name)
        problem = snake_problem(name, "policy")
        if problem:
            ctx.error(path, problem[0], problem[1], key=True)
            continue
        ctx.claim(names.policy_class(name), "generated policy class", path)
        policy = Policy(name, {}, spec.description or "")
        for event_name, effects in spec.on.items():
            epath = (*path, "on", event_name)
            event = domain.event(event_name)
            if event is None:
                if not ctx.broken("events", event_name):
                    ctx.error(
                        epath,
                        f"the policy {name} reacts to '{event_name}', which is not an event.",
                        did_you_mean(event_name, [e.name for e in domain.events], what="events"),
                        key=True,
                    )
                continue
            scopes: Scopes = {
                "event": {f.name: f for f in event.fields},
                "envelope": {k: Field(k, TypeRef(v, v)) for k, v in ENVELOPE_FIELDS.items()},
            }
            parsed = [
                _effect(ctx, effect, (*epath, i), event, scopes, domain) for i, effect in enumerate(effects)
            ]
            policy.reactions[event_name] = [p for p in parsed if p is not None]
        _check_deadline_names(ctx, policy, path)
        for index, scenario in enumerate(spec.scenarios or []):
            _scenario(ctx, policy, scenario, (*path, "scenarios", index), domain)
        domain.policies.append(policy)


def _command(ctx: Context, name: str, path: PathT, domain: Domain) -> Command | None:
    command = domain.command(name)
    if command is None and not ctx.broken("commands", name):
        ctx.error(
            path,
            f"'{name}' is not a command.",
            did_you_mean(name, [c.name for c in domain.commands], what="commands"),
        )
    return command


def map_command(
    ctx: Context,
    command: Command,
    mapping: dict[str, str | lang.ValueOf],
    path: PathT,
    scopes: Scopes,
    event: Event,
) -> list[tuple[str, Expr]]:
    """The value of each of the command's fields: mapped, or the event's field of the same name."""
    out: list[tuple[str, Expr]] = []
    for key in mapping:
        if command.field(key) is None:
            ctx.error(
                (*path, key),
                f"{command.name} has no field '{key}'.",
                did_you_mean(key, [f.name for f in command.fields], what=f"fields of {command.name}"),
                key=True,
            )
    for field in command.fields:
        fpath = (*path, field.name)
        spec = mapping.get(field.name)
        if isinstance(spec, lang.ValueOf):
            problem = literal_problem(spec.value, field, ctx.types)
            if problem:
                ctx.error(
                    (*fpath, "value"),
                    f"the value does not fit {command.name}.{field.name}: {problem}.",
                    "give a value of the field's type.",
                )
            else:
                out.append((field.name, Expr("literal", literal=spec.value)))
            continue
        if spec is None:
            source = event.field(field.name)
            if source is None:
                if field.required:
                    ctx.error(
                        path if mapping else path[:-1],
                        f"no value for {command.name}.{field.name}: {event.name} has no field "
                        f"'{field.name}'.",
                        f"add 'map: {{{field.name}: event.<field>}}' (or envelope.<field>, {{value: ...}}).",
                    )
                continue
            expr = Expr("event", field.name)
            source_type, optional = source.type, source.optional
        elif is_expression(spec):
            calc = parse_expression(ctx, spec, fpath, scopes)
            if calc is None or calc.type is None:
                continue
            expr, source_type, optional = calc, calc.type, False
        else:
            ref = ctx.parse_ref(spec, fpath, scopes)
            if ref is None:
                continue
            expr, ref_field = ref, scopes[ref.source][ref.name]
            source_type, optional = ref_field.type, ref_field.optional
        if not compatible(source_type, field.type) or (optional and not field.optional):
            ctx.error(
                fpath if spec is not None else path[:-1],
                f"{'the value' if spec is None else spec} "
                f"({'optional ' if optional else ''}{source_type.text}) "
                f"does not fit {command.name}.{field.name} ({field.type.text}).",
                "map a value of the field's type.",
            )
            continue
        out.append((field.name, expr))
    return out


def _effect(
    ctx: Context,
    spec: lang.SendEffect | lang.ScheduleEffect,
    path: PathT,
    event: Event,
    scopes: Scopes,
    domain: Domain,
) -> PolicyEffect | None:
    kind, name = ("send", spec.send) if isinstance(spec, lang.SendEffect) else ("schedule", spec.schedule)
    command = _command(ctx, name, (*path, kind), domain)
    if command is None:
        return None
    effect = PolicyEffect(
        kind, command.name, map_command(ctx, command, spec.map or {}, (*path, "map"), scopes, event)
    )
    if spec.when is not None:
        effect.condition = parse_condition(ctx, spec.when, (*path, "when"), scopes)
        effect.condition_text = spec.when.strip()
    if isinstance(spec.on_rejected, lang.Compensation):
        rpath = (*path, "on_rejected")
        compensation = _command(ctx, spec.on_rejected.send, (*rpath, "send"), domain)
        if compensation is not None:
            mapping = map_command(
                ctx, compensation, spec.on_rejected.map or {}, (*rpath, "map"), scopes, event
            )
            effect.on_rejected, effect.compensation = "compensate", (compensation.name, mapping)
    else:
        effect.on_rejected = spec.on_rejected
    if isinstance(spec, lang.ScheduleEffect):
        _schedule(ctx, spec, effect, path, event, scopes, domain)
    return effect


def _schedule(
    ctx: Context,
    spec: lang.ScheduleEffect,
    effect: PolicyEffect,
    path: PathT,
    event: Event,
    scopes: Scopes,
    domain: Domain,
) -> None:
    effect.deadline = spec.deadline or names.snake(spec.schedule)
    if spec.deadline is not None and snake_problem(spec.deadline, "deadline"):
        ctx.error(
            (*path, "deadline"),
            f"the deadline name '{spec.deadline}' must be snake_case.",
            "write e.g. 'deadline: expire'.",
        )
    if (spec.after is None) == (spec.at is None):
        ctx.error(
            path,
            f"the schedule of {spec.schedule} needs exactly one of 'after' (a delay) and 'at' (a time).",
            "write e.g. 'after: 15m' or 'at: event.expires_at'.",
        )
    elif spec.after is not None:
        effect.after = duration(spec.after)
    else:
        assert spec.at is not None
        at = ctx.parse_ref(spec.at, (*path, "at"), scopes)
        if at is not None:
            field = scopes[at.source][at.name]
            if field.type.kind != "datetime" or field.optional:
                ctx.error(
                    (*path, "at"),
                    f"{spec.at} is {'optional ' if field.optional else ''}{field.type.text}, "
                    "not a required datetime.",
                    "name a required datetime field.",
                )
            else:
                effect.at = at
    key = ctx.parse_ref(spec.key, (*path, "key"), scopes)
    if key is None:
        return
    effect.key = key
    for index, name in enumerate(spec.cancel_on or []):
        cpath = (*path, "cancel_on", index)
        cancelling = domain.event(name)
        if cancelling is None:
            if not ctx.broken("events", name):
                ctx.error(
                    cpath,
                    f"'{name}' is not an event.",
                    did_you_mean(name, [e.name for e in domain.events], what="events"),
                )
            continue
        if key.source == "event" and cancelling.field(key.name) is None:
            ctx.error(
                cpath,
                f"{name} has no field '{key.name}', so it cannot name the deadline to cancel "
                f"(its key is {spec.key}).",
                f"add '{key.name}' to {name}, or cancel on another event.",
            )
            continue
        if key.source != "event":
            ctx.error(
                (*path, "key"),
                f"a deadline cancelled by events needs a key from the event, not {spec.key}.",
                "use event.<field>.",
            )
            return
        effect.cancel_on.append(name)


def _check_deadline_names(ctx: Context, policy: Policy, path: PathT) -> None:
    seen: dict[str, str] = {}
    for event_name, effects in policy.reactions.items():
        for effect in effects:
            if effect.kind != "schedule":
                continue
            if effect.deadline in seen and seen[effect.deadline] != event_name:
                ctx.error(
                    (*path, "on", event_name),
                    f"the deadline '{effect.deadline}' is scheduled by {seen[effect.deadline]} and "
                    f"{event_name}.",
                    "give one of them another 'deadline:' name.",
                )
            seen[effect.deadline] = event_name


def _scenario(ctx: Context, policy: Policy, spec: lang.PolicyScenario, path: PathT, domain: Domain) -> None:
    problem = snake_problem(spec.name, "scenario")
    if problem:
        ctx.error((*path, "name"), problem[0], problem[1])
        return
    if any(s.name == spec.name for s in policy.scenarios):
        ctx.error(
            (*path, "name"),
            f"the scenario name '{spec.name}' is used twice in {policy.name}.",
            "give each scenario its own name.",
        )
        return
    events = [e.name for e in domain.events]
    given = [
        parsed
        for index, item in enumerate(spec.given or [])
        if (parsed := event_instance(ctx, item, (*path, "given", index), events, None, domain)) is not None
    ]
    if (spec.when is None) == (spec.elapse is None):
        ctx.error(
            path,
            f"the scenario '{spec.name}' needs exactly one of 'when' (an event) and 'elapse' (time passing).",
            "write e.g. 'when: {OrderPlaced: {...}}' or 'elapse: 15m'.",
        )
        return
    when = (
        event_instance(ctx, spec.when, (*path, "when"), events, None, domain)
        if spec.when is not None
        else None
    )
    if spec.when is not None and when is None:
        return
    if spec.elapse is not None and spec.parked:
        ctx.error(
            (*path, "parked"),
            "'parked' is about an event; with 'elapse' nothing is parked.",
            "remove 'parked'.",
        )
    then = []
    for index, item in enumerate(spec.then or []):
        ((name, data),) = item.items()
        ipath = (*path, "then", index, name)
        command = domain.command(name)
        if command is None:
            if not ctx.broken("commands", name):
                ctx.error(
                    ipath,
                    f"'{name}' is not a command.",
                    did_you_mean(name, [c.name for c in domain.commands], what="commands"),
                    key=True,
                )
            continue
        check_data(ctx, data or {}, command.fields, ipath, command.name)
        then.append((name, data or {}))
    elapse = duration(spec.elapse) if spec.elapse is not None else None
    policy.scenarios.append(PolicyScenario(spec.name, given, when, elapse, then, spec.parked))
