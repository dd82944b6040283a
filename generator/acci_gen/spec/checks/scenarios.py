"""Scenarios: real commands and events with data that fits their fields, stories that can pass,
and coverage (every rule and every hand-written decision is shown by a scenario)."""

from __future__ import annotations

from typing import Any

from acci_gen.model import Command, Domain, Field, Scenario, TypeRef
from acci_gen.names import snake_problem
from acci_gen.spec import language as lang
from acci_gen.spec.checks.context import Context, unset_state
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean, one_of
from acci_gen.spec.values import value_problem

Data = dict[str, Any]


def check_scenarios(ctx: Context, scenarios: list[lang.Scenario], domain: Domain) -> None:
    seen: dict[str, PathT] = {}
    for index, spec in zip(ctx.shaped.scenario_index, scenarios, strict=True):
        path: PathT = ("scenarios", index)
        problem = snake_problem(spec.name, "scenario")
        if problem:
            ctx.error((*path, "name"), problem[0], problem[1])
            continue
        if spec.name in seen:
            ctx.error(
                (*path, "name"),
                f"the scenario name '{spec.name}' is used twice (first at line "
                f"{ctx.doc.pos((*seen[spec.name], 'name'))[0]}).",
                "give each scenario its own name.",
            )
            continue
        seen[spec.name] = path
        _check_scenario(ctx, spec, path, domain)


def _check_scenario(ctx: Context, spec: lang.Scenario, path: PathT, domain: Domain) -> None:
    ((command_name, command_data),) = spec.when.items()
    wpath = (*path, "when", command_name)
    command = domain.command(command_name)
    if command is None and not ctx.broken("commands", command_name):
        ctx.error(
            wpath,
            f"'{command_name}' is not a command.",
            did_you_mean(command_name, [c.name for c in domain.commands], what="commands"),
            key=True,
        )
    then = spec.then
    then_error = then.error if isinstance(then, lang.ThenError) else None
    if command is not None and then_error != "invalid":
        _check_data(ctx, command_data or {}, command.fields, wpath, command.name)
    if command is not None and command.roles:
        _check_multi_scenario(ctx, spec, command, command_data or {}, path, domain)
        return
    if isinstance(spec.given, dict) or (isinstance(then, dict)):
        where = "given" if isinstance(spec.given, dict) else "then"
        ctx.error(
            (*path, where),
            f"'{where}' is by role, but {command_name} is a command on one aggregate.",
            f"write '{where}' as a list of events.",
        )
        return
    allowed = [e.name for e in domain.events if command is None or e.aggregate == command.aggregate]
    given: list[tuple[str, Data]] = []
    for index, item in enumerate(spec.given or []):
        parsed = _event(ctx, item, (*path, "given", index), allowed, command, domain)
        if parsed:
            given.append(parsed)
    tpath = (*path, "then")
    then_events: list[tuple[str, Data]] | None = None
    if then_error is not None:
        if command is not None and not command.custom and command.aggregate:  # else rules unread
            codes = [*lang.BUILTIN_ERRORS, *(r.code for r in command.rules)]
            if then_error not in codes:
                ctx.error(
                    (*tpath, "error"),
                    f"{command.name} never fails with '{then_error}'.",
                    did_you_mean(then_error, codes, what="error codes"),
                )
    else:
        assert isinstance(then, list)
        then_events = []
        for index, item in enumerate(then):
            parsed = _event(ctx, item, (*tpath, index), allowed, command, domain)
            if parsed is None:
                continue
            emitted = [e.event for e in command.emits] if command is not None else []
            known = command is not None and emitted and command.name not in ctx.incomplete
            if known and parsed[0] not in emitted:
                assert command is not None
                ctx.error(
                    (*tpath, index),
                    f"{command.name} does not emit {parsed[0]}.",
                    f"expect one of: {one_of(emitted)}.",
                )
            then_events.append(parsed)
    metadata: Data = ctx.raw((*path, "metadata"), None) or {}
    timestamp = spec.metadata.timestamp if spec.metadata is not None else None
    if timestamp is not None:
        problem = value_problem(timestamp, Field("timestamp", TypeRef("datetime", "datetime")), ctx.types)
        if problem:
            ctx.error((*path, "metadata", "timestamp"), f"metadata timestamp: {problem}.", "give a datetime.")
    if command is None:
        return
    named = [
        *(next(iter(i)) for i in spec.given or []),
        *(next(iter(i)) for i in then if isinstance(then, list)),
    ]
    if not any(ctx.broken("events", name) for name in named):  # else the story is not known whole
        _check_story(ctx, command, given, then_events, then_error, path, domain)
    domain.scenarios.append(
        Scenario(
            spec.name,
            command.name,
            command_data or {},
            given,
            then_events,
            then_error,
            spec.description or "",
            metadata=metadata,
        )
    )


def _check_data(ctx: Context, data: Data, fields: list[Field], path: PathT, owner: str) -> None:
    by_name = {f.name: f for f in fields}
    for key, value in data.items():
        field = by_name.get(key)
        if field is None:
            ctx.error(
                (*path, key),
                f"{owner} has no field '{key}'.",
                did_you_mean(
                    key, by_name, what=f"fields of {owner}", otherwise=f"{owner} has no fields: remove it."
                ),
                key=True,
            )
            continue
        problem = value_problem(value, field, ctx.types)
        if problem:
            quote = " in quotes, e.g. 'no'" if isinstance(value, bool) and field.type.kind != "bool" else ""
            ctx.error((*path, key), f"{owner}.{key}: {problem}.", f"give a {field.type.text}{quote}.")
    missing = [f.name for f in fields if f.required and f.name not in data]
    if missing:
        ctx.error(path, f"{owner} needs {', '.join(missing)}.", f"add {', '.join(missing)}.", key=True)


def _event(
    ctx: Context,
    item: dict[str, Data | None],
    path: PathT,
    allowed: list[str],
    command: Command | None,
    domain: Domain,
) -> tuple[str, Data] | None:
    ((name, data),) = item.items()
    dpath = (*path, name)
    event = domain.event(name)
    if event is None:
        if not ctx.broken("events", name):
            ctx.error(
                dpath,
                f"'{name}' is not an event.",
                did_you_mean(name, [e.name for e in domain.events], what="events"),
                key=True,
            )
        return None
    if name not in allowed:
        if event.aggregate and command is not None:  # else the event's own error says why
            ctx.error(
                dpath,
                f"{name} belongs to {event.aggregate}, not to {command.aggregate}.",
                f"use events of {command.aggregate}.",
                key=True,
            )
        return None
    _check_data(ctx, data or {}, event.fields, dpath, name)
    return name, data or {}


def _check_multi_scenario(
    ctx: Context, spec: lang.Scenario, command: Command, data: Data, path: PathT, domain: Domain
) -> None:
    """A scenario of a command on several aggregates: given and then by role."""
    roles = {r.name: r for r in command.roles}

    def by_role(
        table: dict[str, list[dict[str, Data | None]]], where: PathT
    ) -> dict[str, list[tuple[str, Data]]]:
        out: dict[str, list[tuple[str, Data]]] = {}
        for role_name, items in table.items():
            role = roles.get(role_name)
            if role is None:
                ctx.error(
                    (*where, role_name),
                    f"'{role_name}' is not a role of {command.name}.",
                    did_you_mean(role_name, roles, what="roles"),
                    key=True,
                )
                continue
            events = out.setdefault(role_name, [])
            for index, item in enumerate(items):
                ipath = (*where, role_name, index)
                name = next(iter(item))
                event = domain.event(name)
                if event is not None and event.aggregate != role.aggregate:
                    ctx.error(
                        (*ipath, name),
                        f"{name} belongs to {event.aggregate}, not to {role.aggregate} ('{role_name}').",
                        f"use events of {role.aggregate}.",
                        key=True,
                    )
                    continue
                parsed = _event(ctx, item, ipath, [e.name for e in domain.events], None, domain)
                if parsed is not None:
                    events.append(parsed)
        return out

    given: dict[str, list[tuple[str, Data]]] = {}
    if isinstance(spec.given, list) and spec.given:
        ctx.error(
            (*path, "given"),
            f"{command.name} is a command on several aggregates: 'given' is by role.",
            f"write 'given: {{{command.roles[0].name}: [...], ...}}'.",
        )
    elif isinstance(spec.given, dict):
        given = by_role(spec.given, (*path, "given"))
    then = spec.then
    then_error: str | None = None
    then_roles: dict[str, list[tuple[str, Data]]] | None = None
    if isinstance(then, lang.ThenError):
        then_error = then.error
        codes = [*lang.BUILTIN_ERRORS, "same_aggregate", *(r.code for r in command.rules)]
        if then_error not in codes and command.name not in ctx.incomplete:  # else rules unread
            ctx.error(
                (*path, "then", "error"),
                f"{command.name} never fails with '{then_error}'.",
                did_you_mean(then_error, codes, what="error codes"),
            )
    elif isinstance(then, list):
        ctx.error(
            (*path, "then"),
            f"{command.name} is a command on several aggregates: 'then' is by role.",
            f"write 'then: {{{command.roles[0].name}: [...], ...}}'.",
        )
    else:
        then_roles = by_role(then, (*path, "then"))
        if command.name not in ctx.incomplete:
            for role_name, events in then_roles.items():
                emitted = [e.event for e in command.emits if e.role == role_name]
                expected = [name for name, _ in events]
                if expected != emitted:
                    ctx.error(
                        (*path, "then", role_name),
                        f"{command.name} emits {', '.join(emitted) or 'nothing'} to '{role_name}', but "
                        f"the scenario expects {', '.join(expected) or 'no events'}.",
                        "expect the events the command emits to this role, in order.",
                    )
    domain.scenarios.append(
        Scenario(
            spec.name,
            command.name,
            data,
            [],
            None,
            then_error,
            spec.description or "",
            metadata=ctx.raw((*path, "metadata"), None) or {},
            given_roles=given,
            then_roles=then_roles,
        )
    )


#: One `{Event: data}` of a scenario, checked (read-model scenarios use it too).
event_instance = _event
#: A command's or event's data, checked against its fields (policy scenarios use it too).
check_data = _check_data


def _check_story(
    ctx: Context,
    command: Command,
    given: list[tuple[str, Data]],
    then_events: list[tuple[str, Data]] | None,
    then_error: str | None,
    path: PathT,
    domain: Domain,
) -> None:
    """Catch scenarios that cannot pass whatever the code does."""
    aggregate = domain.aggregate(command.aggregate)
    if given and aggregate is not None:
        first = domain.event(given[0][0])
        if first is not None and unset_state(first, aggregate):
            ctx.error(
                (*path, "given", 0),
                f"{first.name} cannot be the first event of a {aggregate.name}: it does not set "
                f"{', '.join(unset_state(first, aggregate))}.",
                f"start 'given' with an event that creates the {aggregate.name}.",
            )
    if then_error == "already_exists" and (command.precondition != "must_not_exist" or not given):
        ctx.error(
            (*path, "then", "error"),
            f"{command.name} can only fail with 'already_exists' when its precondition is "
            "must_not_exist and 'given' has events.",
            "add the events that create the aggregate under 'given', or expect another outcome.",
        )
    if then_error == "not_found" and (command.precondition != "must_exist" or given):
        ctx.error(
            (*path, "then", "error"),
            f"{command.name} can only fail with 'not_found' when its precondition is must_exist "
            "and 'given' is empty.",
            "remove the given events, or expect another outcome.",
        )
    complete = command.name not in ctx.incomplete
    if then_events is not None and not command.custom and command.emits and complete:
        produced = [e.event for e in command.emits]
        expected = [name for name, _ in then_events]
        if produced != expected:
            ctx.error(
                (*path, "then"),
                f"{command.name} emits {', '.join(produced)}, but the scenario expects "
                f"{', '.join(expected) or 'no events'}.",
                f"list the events {command.name} emits, in that order, with their data.",
            )


def check_coverage(ctx: Context, domain: Domain) -> None:
    """Every rule and every hand-written decision is shown by a scenario (a scenario left out for
    its shape errors may show it: those commands are not checked)."""
    unknown = _commands_of_broken_scenarios(ctx)
    for command in domain.commands:
        if command.name in unknown or "*" in unknown:
            continue
        path: PathT = ("commands", command.name)
        scenarios = [s for s in domain.scenarios if s.command == command.name]
        if command.custom and not scenarios:
            ctx.error(
                path,
                f"{command.name} has a hand-written decision but no scenario tests it.",
                f"add a scenario with 'when: {{{command.name}: ...}}'.",
                key=True,
            )
        for index, rule in enumerate(command.rules):
            if not any(s.then_error == rule.code for s in scenarios):
                ctx.error(
                    (*path, "requires", index),
                    f"no scenario shows {command.name} failing with "
                    f"'{rule.code}', so the rule would go untested.",
                    f"add a scenario whose 'then' is '{{error: {rule.code}}}'.",
                )


def _commands_of_broken_scenarios(ctx: Context) -> set[str]:
    """The commands of the scenarios left out for their shape ("*": some cannot be told)."""
    names: set[str] = set()
    for index in ctx.shaped.broken.get("scenarios", set()):
        when = ctx.raw(("scenarios", int(index), "when")) if index.isdigit() else None
        if isinstance(when, dict) and len(when) == 1:
            names.add(str(next(iter(when))))
        else:
            names.add("*")
    if "*" in ctx.shaped.broken.get("scenarios", set()):
        names.add("*")
    return names
