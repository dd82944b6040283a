"""The domain's policies (policies.py: an acci.policies.Policy per policy, its `react` written out
per event) and their generated tests (policy and deadline cases that acci.testing runs)."""

from __future__ import annotations

from typing import Any

from acci_gen import names
from acci_gen.emit.python.exprs import condition_source, expr_source
from acci_gen.emit.python.readmodels import ENVELOPE, tuple_of
from acci_gen.emit.python.tests import SharedData
from acci_gen.emit.templating import render
from acci_gen.emit.text import Code, py_docstring, py_str, py_value
from acci_gen.model import Domain, Event, Expr, Policy, PolicyEffect

#: An envelope value in `react(event, envelope)`.
_ENVELOPE_REFS = {
    f"envelope.{name}": text.replace("event.", "envelope.", 1) for name, text in ENVELOPE.items()
}


def render_policies(domain: Domain, header: Code) -> dict[str, str]:
    """policies.py and its tests, when the domain has policies."""
    if not domain.policies:
        return {}
    pkg = domain.name
    views = [_policy_view(domain, policy) for policy in domain.policies]
    text = "\n".join(str(line) for view in views for case in view["cases"] for line in case["lines"])
    files = {
        f"{pkg}/policies.py": render(
            "policies.py.jinja2",
            header=header,
            domain=domain,
            policies=views,
            domain_events=sorted({e for p in domain.policies for e in p.event_types}),
            domain_commands=sorted({name for name in domain_command_names(domain) if f"{name}(" in text}),
            domain_types=[t.name for t in domain.types],
            uses_timedelta="timedelta(" in text,
            uses_decimal="Decimal(" in text,
        )
    }
    files[f"{pkg}/tests/test_{pkg}_policies.py"] = _tests(domain, header)
    return files


def domain_command_names(domain: Domain) -> list[str]:
    return [c.name for c in domain.commands]


def _policy_view(domain: Domain, policy: Policy) -> dict[str, Any]:
    cases: dict[str, list[Code]] = {}
    for event_name, effects in policy.reactions.items():
        event = domain.event(event_name)
        assert event is not None
        for effect in effects:
            cases.setdefault(event_name, []).extend(_effect_lines(domain, event, effect))
    for effects in policy.reactions.values():
        for effect in effects:
            for cancelling in effect.cancel_on:
                assert effect.key is not None
                key = Code(f"str(event.{effect.key.name})")
                cases.setdefault(cancelling, []).append(
                    Code(f"effects.append(Cancel({py_str(effect.deadline)}, key={key}))")
                )
    return {
        "name": policy.name,
        "class_name": names.policy_class(policy.name),
        "doc": py_docstring(policy.description),
        "event_types": tuple_of([py_str(e) for e in policy.event_types]),
        "cases": [{"event": event, "lines": lines} for event, lines in cases.items()],
    }


def _command_call(domain: Domain, name: str, mapping: list[tuple[str, Expr]], event: Event) -> Code:
    command = domain.command(name)
    assert command is not None
    args = []
    for field_name, expr in mapping:
        source = event.field(expr.name) if expr.source == "event" else None
        args.append(
            f"{field_name}={expr_source(expr, command.field(field_name), source, refs=_ENVELOPE_REFS)}"
        )
    return Code(f"{name}({', '.join(args)})")


def _effect_lines(domain: Domain, event: Event, effect: PolicyEffect) -> list[Code]:
    command = _command_call(domain, effect.command, effect.mapping, event)
    options = []
    if effect.kind == "schedule":
        assert effect.key is not None
        key = expr_source(effect.key, None, None, refs=_ENVELOPE_REFS)
        options.append(f"key=str({key})")
        if effect.after is not None:
            options.append(f"after=timedelta({', '.join(f'{u}={n}' for u, n in effect.after.items())})")
        elif effect.at is not None:
            options.append(f"at={expr_source(effect.at, None, None, refs=_ENVELOPE_REFS)}")
    if effect.compensation is not None:
        name, mapping = effect.compensation
        options.append(f"on_rejected={_command_call(domain, name, mapping, event)}")
    elif effect.on_rejected != "dead_letter":
        options.append(f"on_rejected={py_str(effect.on_rejected)}")
    if effect.kind == "send":
        call = f"Send({', '.join([command, *options])})"
    else:
        call = f"Schedule({', '.join([py_str(effect.deadline), command, *options])})"
    line = Code(f"effects.append({call})")
    if effect.condition is None:
        return [line]
    left, op, right = effect.condition
    test = condition_source(left, op, right, left.type, refs=_ENVELOPE_REFS)
    return [Code(f"if {test}:"), Code(f"    {line}")]


def _tests(domain: Domain, header: Code) -> str:
    shared = SharedData()
    for policy in domain.policies:
        for s in policy.scenarios:
            shared.see(*({n: d} for n, d in s.given), *({n: d} for n, d in s.then))
            if s.when is not None:
                shared.see({s.when[0]: s.when[1]})
    policy_cases: list[Code] = []
    deadline_cases: list[Code] = []
    streams: set[str] = set()
    for policy in domain.policies:
        instance = Code(f"{names.policy_class(policy.name)}()")
        for s in policy.scenarios:
            given = shared.refs([{n: d} for n, d in s.given])
            then = shared.refs([{n: d} for n, d in s.then])
            streams.update(n for n, _ in s.given)
            parts = [py_str(f"{policy.name}_{s.name}"), instance, Code(f"given={given}")]
            if s.when is not None:
                streams.add(s.when[0])
                parts.append(Code(f"when={shared.ref({s.when[0]: s.when[1]})}"))
                parts.append(Code(f"then={then}"))
                if s.parked:
                    parts.append(Code("parked=True"))
                policy_cases.append(Code(f"PolicyCase({', '.join(parts)})"))
            else:
                assert s.elapse is not None
                elapse = ", ".join(f"{u}={n}" for u, n in s.elapse.items())
                parts += [Code(f"elapse=timedelta({elapse})"), Code(f"then={then}")]
                deadline_cases.append(Code(f"DeadlineCase({', '.join(parts)})"))
    stream_items = []
    for event_name in sorted(streams):
        event = domain.event(event_name)
        assert event is not None
        aggregate = domain.aggregate(event.aggregate)
        assert aggregate is not None
        stream_items.append(
            Code(f"{py_str(event_name)}: ({py_str(aggregate.name)}, {py_str(aggregate.identity)})")
        )
    return render(
        "test_policies.py.jinja2",
        header=header,
        domain=domain,
        policy_classes=[names.policy_class(p.name) for p in domain.policies if p.scenarios],
        constants=shared.constants,
        streams=stream_items,
        policy_cases=policy_cases,
        deadline_cases=deadline_cases,
        empty=py_value({}),
    )
