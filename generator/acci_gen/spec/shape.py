"""The shape check: a loaded document validated against the language's models, each pydantic
error reworded into ACCI's voice (`wording.py`) at the document position the loader recorded.

So that every problem is reported at once, a mistake does not stop the run: the least that can
be left out is left out (an unknown key, a wrong constraint of a field, a field of the wrong form,
one projection handler; else the whole item of its section: the type, aggregate, event, command,
projection, query or scenario), and the rest is validated again, to be checked for meaning.
References to a left-out item are not reported again (`Shaped.broken`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from acci_gen.errors import Diagnostic
from acci_gen.spec import language as lang
from acci_gen.spec.loader import Document, PathT, format_path
from acci_gen.spec.locate import Where, locate
from acci_gen.spec.wording import Said, not_a_domain, translate

#: Any section item whose name is not known, for `Shaped.broken` of a section that is not a mapping.
EVERY = "*"


@dataclass
class Shaped:
    """The valid part of a document, and what was left out of it."""

    spec: lang.Domain | None
    diagnostics: list[Diagnostic]
    #: Section -> names of items with shape errors (EVERY: the section itself is broken).
    broken: dict[str, set[str]] = field(default_factory=dict)
    #: For each scenario of `spec`, its index in the document.
    scenario_index: list[int] = field(default_factory=list)
    #: False when `domain:` is missing or not text (its name is then not checked again).
    named: bool = True
    #: Fields left out for a wrong form or type (the checks keep them, unchecked).
    dropped_fields: set[PathT] = field(default_factory=set)

    def is_broken(self, section: str, name: str) -> bool:
        names = self.broken.get(section, set())
        return name in names or EVERY in names


def check_shape(doc: Document) -> Shaped:
    """Validate `doc` against the language; report each problem once, keep the valid rest."""
    data = doc.data
    if not isinstance(data, dict):
        return Shaped(None, [_said(doc, not_a_domain(data))], named=False)
    data = copy.deepcopy(data)
    result = Shaped(None, [], scenario_index=list(range(len(_list(data.get("scenarios"))))))
    seen: set[Diagnostic] = set()
    # One pass reports every error; the passes after it only validate what is left. A second
    # pass can find more only in a spot the first one could not reach, so a few suffice.
    for _ in range(4):
        try:
            result.spec = lang.Domain.model_validate(data)
            return result
        except ValidationError as error:
            dropped_scenarios: set[int] = set()
            for item in error.errors(include_url=False):
                where = locate(_document_loc(item["loc"], result.scenario_index), item["type"])
                if not doc.said(where.path):
                    diagnostic = _said(doc, translate(item, where))
                    if diagnostic not in seen:
                        seen.add(diagnostic)
                        result.diagnostics.append(diagnostic)
                _prune(data, item, result, dropped_scenarios)
            if dropped_scenarios:
                scenarios = _list(data.get("scenarios"))
                data["scenarios"] = [s for i, s in enumerate(scenarios) if i not in dropped_scenarios]
                result.scenario_index = [
                    n for i, n in enumerate(result.scenario_index) if i not in dropped_scenarios
                ]
    return result  # not valid even after pruning: only the shape errors are reported


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _document_loc(loc: tuple[Any, ...], scenario_index: list[int]) -> tuple[Any, ...]:
    """pydantic's location in the (pruned) data, as a location in the document."""
    if len(loc) >= 2 and loc[0] == "scenarios" and isinstance(loc[1], int) and loc[1] < len(scenario_index):
        return ("scenarios", scenario_index[loc[1]], *loc[2:])
    return loc


def _prune(data: dict[str, Any], item: Any, result: Shaped, dropped_scenarios: set[int]) -> None:
    """Leave out what an error is about, as little as possible without making up a value."""
    where = locate(item["loc"], item["type"])  # in the data: the scenarios are not renumbered here
    local = _local_part(where)
    if local is not None:
        _delete(data, local)
        if local == where.path[: len(local)] and _is_field(where, local):
            result.dropped_fields.add(local)
        return
    path = where.path
    if not path:
        return
    section = str(path[0])
    if len(path) == 1 or section not in (*lang.SECTIONS, "scenarios"):
        if section == "domain":
            data["domain"] = ""  # a placeholder, so that the rest can still be checked
            result.named = False
        else:
            data.pop(section, None)
            result.broken.setdefault(section, set()).add(EVERY)
        return
    if section == "scenarios":
        if isinstance(path[1], int):
            dropped_scenarios.add(path[1])
            result.broken.setdefault("scenarios", set()).add(str(result.scenario_index[path[1]]))
        return
    items = data.get(str(section))
    if isinstance(items, dict):
        items.pop(str(path[1]), None)
    result.broken.setdefault(str(section), set()).add(str(path[1]))


#: Keys nothing else depends on: a wrong value is left out as if it were not written.
_INERT = ("description", "message", "snapshot_every", "segments")


def _local_part(where: Where) -> PathT | None:
    """The smallest part that can be left out alone, or None for the whole section item:

    - an unknown key, or a key of a mapping with fixed keys (a filter's operator);
    - a projection's handler of one event (nothing refers to it);
    - a field with a wrong form or type, or a wrong constraint of a field (the field stays; the
      checks then see it as the old validator did);
    - a key nothing depends on (a description).
    """
    path = where.path
    if where.error == "extra_forbidden" or where.at_key or (path[-1:] and path[-1] in _INERT):
        return path
    if len(path) >= 4 and path[0] == "projections" and path[2] == "on":
        return path[:4]
    if where.error == "field_form":
        return path
    if where.owner is lang.FieldSpec:
        return path[:-1] if path[-1] == "type" or where.error == "missing" else path
    if where.owner is lang.ScenarioMetadata:
        return path
    return None


def _is_field(where: Where, part: PathT) -> bool:
    """Whether the part left out is a whole field (not one of its keys)."""
    return where.error == "field_form" or (where.owner is lang.FieldSpec and len(part) < len(where.path))


def _delete(data: Any, path: PathT) -> None:
    node = data
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):  # never a list item: that would renumber the items after it
        node.pop(path[-1], None)


def _said(doc: Document, said: Said) -> Diagnostic:
    line, col = doc.pos(said.path, key=said.at_key)
    return Diagnostic(doc.file, line, col, format_path(said.path), said.message, said.fix)
