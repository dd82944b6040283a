"""YAML loading that keeps the position of every key and value.

Values come back as plain dicts, lists and scalars; `Document.pos(path)` gives the 1-based line and
column of the value at `path` (or of its key, with `key=True`). Timestamps stay strings (the domain
language types them itself) and duplicate keys are errors, not silent overwrites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from acci_gen.errors import Diagnostic

PathT = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """SafeLoader without the timestamp resolver: dates stay text, typed by the language."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def format_path(path: PathT) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass
class Document:
    """A loaded YAML file: its data and the positions of its nodes."""

    file: str
    data: Any
    value_pos: dict[PathT, tuple[int, int]] = field(default_factory=dict)
    key_pos: dict[PathT, tuple[int, int]] = field(default_factory=dict)

    def pos(self, path: PathT, *, key: bool = False) -> tuple[int, int]:
        """Where the node at `path` starts; the nearest ancestor's position when it is absent."""
        probe = path
        while True:
            table = self.key_pos if key else self.value_pos
            if probe in table:
                return table[probe]
            if probe in self.value_pos:
                return self.value_pos[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]

    def error(self, path: PathT, message: str, fix: str = "", *, key: bool = False) -> Diagnostic:
        line, col = self.pos(path, key=key)
        return Diagnostic(self.file, line, col, format_path(path), message, fix)


def load_text(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Parse YAML text; returns the document, or None and the syntax error."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or "invalid YAML"
        context = f" {error.context}" if error.context else ""
        return None, [
            Diagnostic(
                file,
                line,
                col,
                "",
                f"this is not valid YAML: {problem}{context}.",
                "fix the YAML syntax at this position (check indentation, colons and quotes).",
            )
        ]
    except yaml.YAMLError as error:
        return None, [Diagnostic(file, 1, 1, "", f"this is not valid YAML: {error}.", "fix the YAML syntax.")]
    finally:
        loader.dispose()
    doc = Document(file, None)
    diagnostics: list[Diagnostic] = []
    if node is None:
        doc.data = None
        return doc, diagnostics
    constructor = _Loader("")
    doc.data = _convert(node, (), doc, constructor, diagnostics)
    return doc, diagnostics


def load_file(path: Path, display: str | None = None) -> tuple[Document | None, list[Diagnostic]]:
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [Diagnostic(name, 1, 1, "", f"cannot read the file: {error}.", "check the path.")]
    return load_text(text, name)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(
    node: yaml.Node, path: PathT, doc: Document, constructor: _Loader, diagnostics: list[Diagnostic]
) -> Any:
    doc.value_pos[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _mark(key_node)
                diagnostics.append(
                    Diagnostic(
                        doc.file,
                        line,
                        col,
                        format_path(path),
                        "a key must be a plain name, not a list or a mapping.",
                        "write the key as a name.",
                    )
                )
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in result:
                line, col = _mark(key_node)
                first = doc.key_pos[child]
                diagnostics.append(
                    Diagnostic(
                        doc.file,
                        line,
                        col,
                        format_path(child),
                        f"the key '{key}' appears twice in this mapping (first at line {first[0]}).",
                        "remove or rename one of them.",
                    )
                )
                continue
            doc.key_pos[child] = _mark(key_node)
            result[key] = _convert(value_node, child, doc, constructor, diagnostics)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, index), doc, constructor, diagnostics)
            for index, item in enumerate(node.value)
        ]
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError as error:
        line, col = _mark(node)
        diagnostics.append(
            Diagnostic(doc.file, line, col, format_path(path), f"cannot read this value: {error}.", "")
        )
        return None
