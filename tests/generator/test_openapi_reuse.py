"""acci-gen builds a domain's OpenAPI document in a child Python (about a second); a process that
renders the same files again reuses the document. Reuse must never hand out a document of other
files: the key covers every Python file's path and text and every domain's description."""

from __future__ import annotations

from acci_gen.emit.openapi import _key

FILES = {"shop/api.py": "router = 1\n", "shop/events.py": "class E: ...\n", "shop/asyncapi.yaml": "a: 1\n"}
DOMAINS = {"shop": "A shop."}


def test_the_same_inputs_have_the_same_key() -> None:
    assert _key(dict(FILES), dict(DOMAINS)) == _key(dict(reversed(FILES.items())), DOMAINS)


def test_any_python_file_or_description_changes_the_key() -> None:
    key = _key(FILES, DOMAINS)
    assert _key({**FILES, "shop/events.py": "class F: ...\n"}, DOMAINS) != key
    assert _key({**FILES, "shop/other.py": ""}, DOMAINS) != key
    renamed = {("shop/models.py" if rel == "shop/events.py" else rel): text for rel, text in FILES.items()}
    assert _key(renamed, DOMAINS) != key
    assert _key(FILES, {"shop": "Another shop."}) != key
    assert _key(FILES, {**DOMAINS, "billing": ""}) != key


def test_files_the_child_does_not_import_leave_the_key_alone() -> None:
    assert _key({**FILES, "shop/asyncapi.yaml": "a: 2\n"}, DOMAINS) == _key(FILES, DOMAINS)
