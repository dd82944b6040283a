"""YAML loading that keeps the position of every key and value, and that no input can break.

Values come back as plain dicts, lists and scalars; `Document.pos(path)` gives the 1-based line and
column of the value at `path` (or of its key, with `key=True`). Timestamps stay strings (the domain
language types them itself) and duplicate keys are errors, not silent overwrites.

A domain file is input from anyone, so everything that could exhaust the loader is bounded and
reported as a diagnostic like any other mistake: the file's size, how deeply values nest, how many
values the file expands to through aliases (a "billion laughs" file expands 9 aliases into 10^9
values), aliases that contain themselves, the length of one value, and the digits of a number.
Only plain YAML values are read: a tag such as `!!python/name:os.system` is an error, never code.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from acci_gen.errors import Diagnostic

PathT = tuple[str | int, ...]

#: The largest domain file read, in bytes (the largest example domain has about 20 KB).
MAX_BYTES = 2 * 1024 * 1024
#: How deeply mappings and lists may nest, also through aliases (the language needs about 10).
MAX_DEPTH = 64
#: How many values a file may hold once its aliases are expanded.
MAX_VALUES = 200_000
#: The longest single value, in characters.
MAX_SCALAR = 100_000
#: The longest key: keys are names.
MAX_KEY = 1_000

_TAG = "tag:yaml.org,2002:"
#: The tags of plain YAML values; anything else (!!python/..., !!binary, custom tags) is refused.
_PLAIN = {f"{_TAG}{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")}


class _Loader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """SafeLoader without the timestamp resolver (dates stay text, typed by the language), whose
    composer refuses to nest deeper than MAX_DEPTH instead of running out of stack."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Limit(
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                    f"the values here nest more than {MAX_DEPTH} levels deep.",
                    "a domain file needs about ten levels: flatten the structure, and check for "
                    "unclosed '[' or '{'.",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != f"{_TAG}timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Limit(Exception):
    """A bound was passed at `mark`: the document cannot be read as a whole."""

    def __init__(self, mark: Any, message: str, fix: str) -> None:
        super().__init__(message)
        self.mark, self.message, self.fix = mark, message, fix


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
    #: Values that could not be read (already reported; read as their text).
    unreadable: set[PathT] = field(default_factory=set)

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

    def error(self, path: PathT, message: str, fix: str, *, key: bool = False) -> Diagnostic:
        line, col = self.pos(path, key=key)
        return Diagnostic(self.file, line, col, format_path(path), message, fix)

    def said(self, path: PathT) -> bool:
        """Whether the loader reported the value at `path` (or around it) as unreadable."""
        return any(path[: len(root)] == root for root in self.unreadable)


def load_file(path: Path, display: str | None = None) -> tuple[Document | None, list[Diagnostic]]:
    name = display or str(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as error:
        return None, [
            Diagnostic(
                name,
                1,
                1,
                "",
                f"cannot read the file: {error.strerror or error}.",
                "check that the path names a readable domain file (a .yaml file, not a folder).",
            )
        ]
    if len(raw) > MAX_BYTES:
        return None, [
            Diagnostic(
                name,
                1,
                1,
                "",
                f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB, more than a domain file needs.",
                "split the domain into several files (one per bounded context), or check that this is "
                "the right file.",
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        col = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        return None, [
            Diagnostic(
                name,
                line,
                col,
                "",
                f"the file is not UTF-8 text: the byte 0x{raw[error.start]:02x} here cannot be decoded "
                f"({error.reason}).",
                "save the file as UTF-8 (domain files are UTF-8 text), or check that this is the right file.",
            )
        ]
    return load_text(text, name)


def load_text(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Parse YAML text; returns the document, or None and why it cannot be read."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader checks every character here already
        node = loader.get_single_node()
        if node is None:
            return Document(file, None), []
        doc = Document(file, None)
        diagnostics: list[Diagnostic] = []
        doc.data = _Converter(doc, diagnostics).convert(node, (), ())
        return doc, diagnostics
    except _Limit as limit:
        line, col = limit.mark.line + 1, limit.mark.column + 1
        return None, [Diagnostic(file, line, col, "", limit.message, limit.fix)]
    except yaml.reader.ReaderError as error:
        return None, [_unreadable_character(text, file, error)]
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
        if loader is not None:
            loader.dispose()


def _unreadable_character(text: str, file: str, error: Any) -> Diagnostic:
    position = min(max(int(error.position), 0), len(text))
    line = text.count("\n", 0, position) + 1
    col = position - (text.rfind("\n", 0, position) + 1) + 1
    character = error.character
    code = character if isinstance(character, int) else ord(character)
    name = unicodedata.name(chr(code), "") or {0: "NUL", 7: "BEL", 8: "BACKSPACE", 27: "ESCAPE"}.get(
        code, "a control character"
    )
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return Diagnostic(
        file,
        line,
        col,
        "",
        f"the file contains the character U+{code:04X} ({name}), which YAML does not allow.",
        f'remove it (an editor may show it as a box or as ^ and a letter), or write it as "{escape}" '
        "inside a double-quoted string.",
    )


@dataclass
class _Converter:
    """Turns composed nodes into plain values, recording positions, within the bounds."""

    doc: Document
    diagnostics: list[Diagnostic]
    values: int = 0
    constructor: _Loader = field(default_factory=lambda: _Loader(""))

    def convert(self, node: yaml.Node, path: PathT, within: tuple[int, ...]) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Limit(
                node.start_mark,
                f"the file expands to more than {MAX_VALUES:,} values; its aliases (*name) repeat "
                "values too often.",
                "write the values out, or use fewer aliases of aliases.",
            )
        if id(node) in within:
            raise _Limit(
                node.start_mark,
                "this alias refers to a value that contains the alias itself, so it never ends.",
                "refer to a value outside the one being defined, or write it out.",
            )
        if len(within) >= MAX_DEPTH:
            raise _Limit(
                node.start_mark,
                f"the values here nest more than {MAX_DEPTH} levels deep (counting aliases).",
                "flatten the structure, or use fewer aliases inside aliased values.",
            )
        self.doc.value_pos[path] = _mark(node)
        if node.tag not in _PLAIN:
            return self._refuse(
                node, path, f"the tag {node.tag.replace(_TAG, '!!')!r} is not part of the domain language"
            )
        inner = (*within, id(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, inner)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, index), inner) for index, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: PathT, inner: tuple[int, ...]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _mark(key_node)
                self.diagnostics.append(
                    Diagnostic(
                        self.doc.file,
                        line,
                        col,
                        format_path(path),
                        "a key must be a plain name, not a list or a mapping.",
                        "write the key as a name.",
                    )
                )
                continue
            key = str(key_node.value)
            if len(key) > MAX_KEY:
                self._refuse(key_node, path, f"a key of {len(key):,} characters is not a name", "shorten it.")
                continue
            child = (*path, key)
            if key in result:
                line, col = _mark(key_node)
                first = self.doc.key_pos[child]
                self.diagnostics.append(
                    Diagnostic(
                        self.doc.file,
                        line,
                        col,
                        format_path(child),
                        f"the key '{key}' appears twice in this mapping (first at line {first[0]}).",
                        "remove or rename one of them.",
                    )
                )
                continue
            self.doc.key_pos[child] = _mark(key_node)
            result[key] = self.convert(value_node, child, inner)
        return result

    def _scalar(self, node: yaml.ScalarNode, path: PathT) -> Any:
        if len(node.value) > MAX_SCALAR:
            return self._refuse(
                node,
                path,
                f"this value has {len(node.value):,} characters, more than the {MAX_SCALAR:,} acci-gen reads",
                "shorten it.",
            )
        try:
            return self.constructor.construct_object(node, deep=True)
        except ValueError:  # int() reads at most 4,300 digits (sys.get_int_max_str_digits)
            return self._refuse(
                node,
                path,
                f"this number has {len(node.value):,} characters, more than Python reads as a number",
                "write a smaller number, or quote it if it is text.",
            )
        except yaml.YAMLError as error:
            return self._refuse(node, path, f"cannot read this value: {_one_line(str(error))}")

    def _refuse(self, node: yaml.Node, path: PathT, problem: str, fix: str = "") -> str:
        """Report a value that cannot be read; it reads as its text (never constructed), and
        every later problem at its path is left unsaid (this one says it)."""
        line, col = _mark(node)
        self.diagnostics.append(
            Diagnostic(
                self.doc.file,
                line,
                col,
                format_path(path),
                f"{problem}.",
                fix
                or "write a plain value (text, a number, true/false, a list or a mapping) without a "
                "'!' tag: domain files hold data, never code or objects.",
            )
        )
        self.doc.unreadable.add(path)
        return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


def _one_line(text: str) -> str:
    return " ".join(text.split()).rstrip(".")


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)
