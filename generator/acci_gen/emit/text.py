"""User text in generated files: one rendering function per target, correct by construction.

Whatever a domain file says (a description, a rule's message, an example, the file's own path)
reaches the output only through these functions, each of which returns `Code`: text that is
already valid in its target and cannot end the construct it sits in (a string, a docstring, a
comment, a table cell). The templates may output nothing else but identifiers and numbers (see
`emit.templating`), so an unescaped interpolation is an error when the template renders, not a
hole in the output.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import unicodedata
from decimal import Decimal
from typing import Any


class Code(str):
    """Source text in its target language, produced by a rendering function (or a view that built
    it from other Code and identifiers)."""

    __slots__ = ()


def code(text: str) -> Code:
    """Mark text a view assembled from Code, identifiers and its own constant fragments."""
    return Code(text)


# -- Python ------------------------------------------------------------------------------------


def _is_break_or_control(char: str) -> bool:
    # Line breaks of any kind (str.splitlines knows eight besides "\n"), other control characters,
    # and the invisible format characters (bidi overrides among them) are written as escapes.
    return unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cf", "Cs")


def _escape(char: str) -> str:
    point = ord(char)
    if point < 0x100:
        return {"\t": "\\t", "\r": "\\r", "\n": "\\n"}.get(char, f"\\x{point:02x}")
    return f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


def py_str(value: object) -> Code:
    """A Python string literal whose value is `str(value)`."""
    # repr() is Python's own answer; ruff format then picks the quotes.
    return Code(repr(str(value)))


def py_long_str(value: object, width: int = 86) -> Code:
    """Like py_str, as implicitly concatenated literals of about `width` characters, split after
    spaces (ruff never splits a string, and SQL or a message can be longer than a line)."""
    text = str(value)
    if len(repr(text)) <= width:
        return py_str(text)
    parts: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(repr(line + word)) > width:
            parts.append(line)
            line = ""
        line += word + " "
    parts.append(line[:-1])
    return Code(" ".join(py_str(part) for part in parts if part))


def doc_text(text: str) -> str:
    """What a description reads as once it is a docstring: Python's docstring conventions
    (inspect.cleandoc: tabs expanded, the common indentation and the blank lines around it gone)
    and no trailing spaces (which ruff format removes)."""
    return "\n".join(line.rstrip(" ") for line in inspect.cleandoc(text).split("\n"))


def py_docstring(text: str) -> Code:
    """A docstring whose value (as `ast.get_docstring` reads it) is `doc_text(text)`; empty text
    gives no docstring at all. Continuation lines are left unindented: ruff format indents them."""
    value = doc_text(text)
    if not value:
        return Code("")
    body = "".join(
        "\\\\" if ch == "\\" else _escape(ch) if ch != "\n" and _is_break_or_control(ch) else ch
        for ch in value
    )
    # Only quotes could end the literal early: escape them all when one could.
    if '"""' in body or body.endswith('"') or body.startswith('"'):
        body = body.replace('"', '\\"')
    return Code(f'"""{body}"""')


def _docstring_char(char: str) -> str:
    if char == "\\":
        return "\\\\"
    return _escape(char) if char != "\n" and _is_break_or_control(char) else char


def py_comment(text: str) -> Code:
    """Text for the rest of a `#` comment line: line breaks and control characters escaped."""
    return Code("".join(_escape(ch) if _is_break_or_control(ch) else ch for ch in str(text)))


def py_value(value: Any) -> Code:
    """A JSON-like value (as YAML gives it: dicts, lists, text, numbers, booleans, null) as a
    Python literal with the same value."""
    if isinstance(value, dict):
        return Code("{" + ", ".join(f"{py_str(k)}: {py_value(v)}" for k, v in value.items()) + "}")
    if isinstance(value, (list, tuple)):
        return Code("[" + ", ".join(py_value(v) for v in value) + "]")
    if value is None or isinstance(value, bool):
        return Code(repr(value))
    if isinstance(value, int):
        return Code(repr(value))
    if isinstance(value, float):
        return Code(repr(value) if math.isfinite(value) else f"float({py_str(value)})")
    if isinstance(value, Decimal):
        return py_str(value)
    return py_str(value)


# -- SQL -----------------------------------------------------------------------------------------


def sql_comment(text: str) -> Code:
    """A `--` comment line: nothing in it can end it before the line does."""
    return Code("-- " + "".join(_escape(ch) if _is_break_or_control(ch) else ch for ch in str(text)))


# -- Markdown ------------------------------------------------------------------------------------

# Characters that start Markdown, HTML or GitHub's math inline, wherever they are; each is written
# backslash-escaped, which CommonMark renders as the character itself (and a GFM table does not end
# a cell at an escaped "|"). "(" and "!" need no escape once "[" and "]" have one.
_MD_INLINE = re.compile(r"([\\`*_\[\]<>&|~$])")
# What starts a block at the beginning of a paragraph: a heading, a list item, a setext underline.
_MD_BLOCK_START = re.compile(r"^(\d*)([#+=.)-])")


def _one_line(text: object) -> str:
    return " ".join("".join(" " if _is_break_or_control(ch) else ch for ch in str(text)).split())


def md_text(text: object) -> Code:
    """Text for a Markdown paragraph or table cell: one line, nothing in it Markdown or HTML."""
    escaped = _MD_INLINE.sub(r"\\\1", _one_line(text))
    return Code(_MD_BLOCK_START.sub(r"\1\\\2", escaped, count=1))


def md_code(text: object) -> Code:
    """Text as inline code (in a paragraph or a table cell)."""
    value = _one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if "`" in value else ""
    # In a GFM table a "|" ends the cell even inside code; escaped, it shows as itself.
    return Code(f"{fence}{pad}{value}{pad}{fence}".replace("|", "\\|"))


def md_json(value: Any) -> Code:
    """A value as JSON in inline code."""
    return md_code(json.dumps(value, ensure_ascii=False, default=str))


def md_comment(text: object) -> Code:
    """An HTML comment (the first line of a generated Markdown file) that nothing in it can end."""
    return Code(f"<!-- {_one_line(text).replace('--', '- -')} -->")


def mermaid_label(text: object) -> Code:
    """Text inside a quoted Mermaid label (`node["..."]`): Mermaid's entity codes for what would end it."""
    entities = {"&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;"}
    return Code("".join(entities.get(ch, ch) for ch in _one_line(text)))
