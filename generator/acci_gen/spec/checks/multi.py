"""Commands on several aggregates (`aggregates: {source: Account(from_account_id), ...}`): roles
that name real aggregates by a command field of the identity's type, rules and maps that read each
role's state as `<role>.<field>`, and emitted events that each go to one role's stream."""

from __future__ import annotations

import re

from acci_gen.model import METADATA_FIELDS, Command, Domain, Emit, Field, Role, TypeRef
from acci_gen.names import snake_problem
from acci_gen.spec import language as lang
from acci_gen.spec.checks.aggregates import aggregate_ref
from acci_gen.spec.checks.context import Context, Scopes, compatible, unset_state
from acci_gen.spec.checks.rules import parse_rule
from acci_gen.spec.loader import PathT
from acci_gen.spec.suggest import did_you_mean

_ROLE_TEXT = re.compile(lang.ROLE_TEXT)
#: Sources a role may not be named after (they mean something else in references).
RESERVED_ROLES = ("command", "metadata", "state", "event", "envelope")


def check_multi(ctx: Context, command: Command, spec: lang.Command, path: PathT, domain: Domain) -> None:
    """The roles, rules and emitted events of a command on several aggregates."""
    assert spec.aggregates is not None
    rpath = (*path, "aggregates")
    for name, role_spec in spec.aggregates.items():
        role = _role(ctx, command, name, role_spec, (*rpath, name), spec.precondition, domain)
        if role is not None:
            command.roles.append(role)
    if len(spec.aggregates) < 2:
        ctx.error(
            rpath,
            f"{command.name} names {len(spec.aggregates)} aggregate under 'aggregates'.",
            "name two or more roles, or use 'aggregate:' for a command on one aggregate.",
        )
    if len(command.roles) != len(spec.aggregates):
        ctx.incomplete.add(command.name)
        return
    scopes: Scopes = {
        "command": {f.name: f for f in command.fields},
        "metadata": {k: Field(k, TypeRef(v, v)) for k, v in METADATA_FIELDS.items()},
    }
    for role in command.roles:
        aggregate = domain.aggregate(role.aggregate)
        if aggregate is not None and role.precondition == "must_exist":
            scopes[role.name] = {f.name: f for f in aggregate.state}
    roles = {r.name: r for r in command.roles}

    def guard(source: str, where: PathT) -> bool:
        if source in roles and source not in scopes:
            ctx.error(
                where,
                f"{command.name} reads the state of '{source}', but that {roles[source].aggregate} "
                "may not exist yet.",
                f"add 'precondition: must_exist' to the role '{source}' (or to the command).",
            )
            return True
        return False

    for index, rule in enumerate(spec.requires or []):
        parsed = parse_rule(ctx, rule, (*path, "requires", index), scopes, command.name, guard)
        if parsed is not None:
            if any(r.code == parsed.code for r in command.rules):
                ctx.error(
                    (*path, "requires", index, "code"),
                    f"the code '{parsed.code}' is used twice.",
                    "give each rule its own code.",
                )
            command.rules.append(parsed)
    _emits(ctx, command, spec, (*path, "emits"), scopes, domain)


def _role(
    ctx: Context,
    command: Command,
    name: str,
    spec: str | lang.RoleSpec,
    path: PathT,
    default_precondition: str,
    domain: Domain,
) -> Role | None:
    problem = snake_problem(name, "role")
    if problem:
        ctx.error(path, problem[0], problem[1], key=True)
        return None
    if name in RESERVED_ROLES:
        ctx.error(
            path,
            f"'{name}' cannot name a role: {name}.x means something else.",
            "pick another role name.",
            key=True,
        )
        return None
    if isinstance(spec, str):
        match = _ROLE_TEXT.match(spec)
        if match is None:
            ctx.error(
                path,
                f"the role '{name}' must be written 'Aggregate(identity_field)', not '{spec}'.",
                "write e.g. 'source: Account(from_account_id)'.",
            )
            return None
        aggregate_name, identity = match.groups()
        precondition, apath, ipath = default_precondition, path, path
    else:
        aggregate_name, identity = spec.aggregate, spec.identity
        precondition = spec.precondition or default_precondition
        apath, ipath = (*path, "aggregate"), (*path, "identity")
    aggregate = aggregate_ref(ctx, aggregate_name, apath, domain)
    if aggregate is None:
        return None
    field = command.field(identity)
    ident = aggregate.field(aggregate.identity) if aggregate.identity else None
    if field is None:
        ctx.error(
            ipath,
            f"'{identity}' is not a field of {command.name}, so it cannot say which {aggregate.name} "
            f"'{name}' is.",
            did_you_mean(identity, [f.name for f in command.fields], what=f"fields of {command.name}"),
        )
        return None
    if ident is not None and (not field.required or not compatible(field.type, ident.type)):
        ctx.error(
            ipath,
            f"{command.name}.{identity} must be a required {ident.type.text}, like the identity of "
            f"{aggregate.name}.",
            f"declare it as '{identity}: {ident.type.text}'.",
        )
        return None
    return Role(name, aggregate.name, identity, precondition)


def _emits(
    ctx: Context, command: Command, spec: lang.Command, path: PathT, scopes: Scopes, domain: Domain
) -> None:
    from acci_gen.spec.checks.commands import map_event  # one mapping of event fields for both

    items = [spec.emits] if isinstance(spec.emits, str) else spec.emits
    for index, item in enumerate(items):
        ipath = path if isinstance(spec.emits, str) else (*path, index)
        name = item.event if isinstance(item, lang.EmitSpec) else item
        event = domain.event(name)
        if event is None:
            ctx.incomplete.add(command.name)
            if not ctx.broken("events", name):
                ctx.error(
                    (*ipath, "event") if isinstance(item, lang.EmitSpec) else ipath,
                    f"{command.name} emits '{name}', which is not an event.",
                    did_you_mean(name, [e.name for e in domain.events], what="events"),
                )
            continue
        candidates = [r for r in command.roles if r.aggregate == event.aggregate]
        wanted = item.to if isinstance(item, lang.EmitSpec) else None
        role = command.role(wanted) if wanted is not None else None
        if wanted is not None and role is None:
            ctx.error(
                (*ipath, "to"),
                f"'{wanted}' is not a role of {command.name}.",
                did_you_mean(wanted, [r.name for r in command.roles], what="roles"),
            )
            ctx.incomplete.add(command.name)
            continue
        if role is None and len(candidates) != 1:
            ctx.incomplete.add(command.name)
            ctx.error(
                ipath,
                f"{command.name} emits {name}, an event of {event.aggregate}, but "
                + (
                    f"several roles are {event.aggregate}s"
                    if candidates
                    else f"no role is a {event.aggregate}"
                )
                + ": say which stream it goes to.",
                f"write '- {{event: {name}, to: <role>}}' with a role of {event.aggregate}."
                if candidates
                else f"emit an event of one of the roles' aggregates, or add a {event.aggregate} role.",
            )
            continue
        role = role or candidates[0]
        if role.aggregate != event.aggregate:
            ctx.incomplete.add(command.name)
            ctx.error(
                (*ipath, "to"),
                f"{name} belongs to {event.aggregate}, but the role '{role.name}' is a {role.aggregate}.",
                f"send it to a role of {event.aggregate}.",
            )
            continue
        if any(e.event == name and e.role == role.name for e in command.emits):
            ctx.error(ipath, f"{command.name} emits {name} to '{role.name}' twice.", "list it once.")
            continue
        emit = Emit(name, [], role.name)
        command.emits.append(emit)
        # Unmapped fields come from the command, else from this role's state (`state.x`).
        role_scopes = dict(scopes)
        if role.name in scopes:
            role_scopes["state"] = scopes[role.name]
        mapping = (item.map or {}) if isinstance(item, lang.EmitSpec) else {}
        map_event(ctx, command, event, emit, mapping, (*ipath, "map"), role_scopes)
    for role in command.roles:
        first = next((e for e in command.emits if e.role == role.name), None)
        aggregate = domain.aggregate(role.aggregate)
        if first is None or aggregate is None or role.precondition == "must_exist":
            continue
        event = domain.event(first.event)
        missing = unset_state(event, aggregate) if event is not None else []
        if missing:
            ctx.error(
                path,
                f"{command.name} may create the {aggregate.name} of '{role.name}', but its first event "
                f"{first.event} does not set {', '.join(missing)}.",
                f"give the role 'precondition: must_exist', or emit a creating event to '{role.name}' first.",
            )
