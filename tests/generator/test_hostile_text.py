"""Text from a domain file never escapes the construct it lands in.

A corpus of hostile strings goes into every place a domain file's text reaches the output
(descriptions, a rule's message, defaults, examples, scenario data, upcast steps, literal column
values, the domain file's own name), and then: every Python module compiles and imports without
running anything it should not; every docstring is its description; every string is its value;
the SQL migration runs on PostgreSQL as the table it should create; and the Markdown tables keep
their columns.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from acci_gen.app import prepare
from acci_gen.emit.text import doc_text
from genhelp import env

HOSTILE = [
    'x """; __import__("pathlib").Path("pwned").touch(); """',
    "C:\\Users\\shop",
    'a query description ending in "',
    "ends in a backslash\\",
    "it's ''' single and \"\"\" double triple quotes",
    "line one\nline two\n\n    indented line\n",
    "tab\there, carriage\rreturn, crlf\r\nend",
    "*/ the end of a C comment /* and -- an SQL comment",
    "control \x01\x07\x08\x0b\x0c\x1b[31m\x7f characters",
    "unicode\u2028line\u2029separators\x85next",
    "bidi \u202eoverride\u202c and zero\u200bwidth",
    "| a | table | breaker |",
    "<script>alert(1)</script> &amp; **bold** _it_ [link](http://x) `code` <!-- -->",
    "# a heading at the start",
    "1. a list item",
    "- another list item",
    "$x^2$ ~~strike~~ \\| escaped pipe",
    "{{ jinja }} {% raw %} {# comment #}",
    "%(tenant_id)s %s {} {0}",
    "  leading and trailing spaces  ",
]

DOMAIN = """\
domain: {domain}
description: {h}
types:
  Status:
    description: {h}
    enum: [open, done]
  Note:
    description: {h}
    fields:
      text: {{type: string, description: {h}, default: {h}}}
aggregates:
  Cart:
    description: {h}
    identity: cart_id
    state:
      cart_id: uuid
      status: {{type: Status, default: open}}
      label: {{type: string, default: {h}}}
events:
  CartOpened:
    description: {h}
    aggregate: Cart
    version: 2
    fields:
      cart_id: uuid
      label: {{type: string, example: {h}}}
      note: {{type: Note, optional: true}}
    versions:
      1:
        description: {h}
        fields:
          cart_id: uuid
        upcast:
          - add: {{label: {h}}}
  CartClosed:
    aggregate: Cart
    fields: {{cart_id: uuid}}
    apply:
      status: {{value: done}}
commands:
  OpenCart:
    description: {h}
    aggregate: Cart
    precondition: must_not_exist
    fields:
      cart_id: uuid
      label: {{type: string, default: {h}}}
    emits: CartOpened
  CloseCart:
    aggregate: Cart
    precondition: must_exist
    fields: {{cart_id: uuid}}
    requires:
      - condition: state.status == 'open'
        code: closed_already
        message: {h}
    emits: CartClosed
projections:
  carts:
    description: {h}
    key: cart_id
    columns:
      cart_id: uuid
      label: {{type: string, description: {h}}}
      kind: string
    on:
      CartOpened: {{insert: {{cart_id: event.cart_id, label: event.label, kind: {{value: {h}}}}}}}
queries:
  find_carts:
    description: {h}
    projection: carts
    params:
      text: {{type: string, default: {h}}}
    filter:
      - label: {{contains: text}}
scenarios:
  - name: open
    description: {h}
    when: {{OpenCart: {{cart_id: 6f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f, label: {h}}}}}
    then: [{{CartOpened: {{cart_id: 6f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f, label: {h}}}}}]
  - name: close_twice
    given:
      - CartOpened: {{cart_id: 6f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f, label: {h}}}
      - CartClosed: {{cart_id: 6f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f}}
    when: {{CloseCart: {{cart_id: 6f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f}}}}
    then: {{error: closed_already}}
"""

#: A file name with a line break, quotes and comment markers: it is in every file's header.
FILE_NAME = 'we"ird \\ -- <!-- --> \n name.yaml'


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Every hostile string in every place, one domain each, rendered in one run and written."""
    root = tmp_path_factory.mktemp("hostile")
    domains = root / "domains"
    domains.mkdir()
    files = []
    for index, text in enumerate(HOSTILE):
        path = domains / (FILE_NAME if index == 0 else f"shop{index}.yaml")
        path.write_text(DOMAIN.format(domain=f"shop{index}", h=json.dumps(text)), encoding="utf-8")
        files.append(path)
    run = prepare(files, root / "generated")
    rendered = {rel: text for o in run.outputs for rel, text in {**o.generated, **o.stubs}.items()}
    for rel, text in rendered.items():
        (root / "generated" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "generated" / rel).write_text(text, encoding="utf-8")
    return root, rendered


def _module(rendered: dict[str, str], index: int, name: str) -> ast.Module:
    return ast.parse(rendered[f"shop{index}/{name}"])


def _docstring(tree: ast.Module, *path: str) -> str | None:
    node: ast.AST = tree
    for name in path:
        body = node.body if isinstance(node, (ast.Module, ast.ClassDef)) else []
        node = next(n for n in body if isinstance(n, (ast.ClassDef, ast.AsyncFunctionDef)) and n.name == name)
    assert isinstance(node, (ast.Module, ast.ClassDef, ast.AsyncFunctionDef))
    return ast.get_docstring(node)


@pytest.mark.slow  # the module's `output` fixture generates a domain per hostile text (OpenAPI child)
def test_every_python_module_compiles(output: tuple[Path, dict[str, str]]) -> None:
    _, rendered = output
    modules = [rel for rel in rendered if rel.endswith(".py")]
    assert len(modules) > 10 * len(HOSTILE)
    for rel in modules:
        compile(rendered[rel], rel, "exec")  # a SyntaxError names the file


@pytest.mark.slow  # the module's `output` fixture generates a domain per hostile text (OpenAPI child)
def test_importing_the_packages_runs_nothing_else(output: tuple[Path, dict[str, str]]) -> None:
    root, _ = output
    imports = "; ".join(
        f"import shop{i}.queries, shop{i}.projections, shop{i}.service, shop{i}.tests.test_shop{i}"
        for i in range(len(HOSTILE))
    )
    result = subprocess.run(
        [sys.executable, "-c", imports],
        cwd=root,
        env=env(PYTHONPATH=str(root / "generated")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not (root / "pwned").exists()
    assert not (root / "generated" / "pwned").exists()


@pytest.mark.slow  # the module's `output` fixture generates a domain per hostile text (OpenAPI child)
@pytest.mark.parametrize("index", range(len(HOSTILE)), ids=[f"text{i}" for i in range(len(HOSTILE))])
def test_docstrings_are_their_descriptions(output: tuple[Path, dict[str, str]], index: int) -> None:
    _, rendered = output
    want = doc_text(HOSTILE[index])
    found = {
        "package": _docstring(_module(rendered, index, "__init__.py")),
        "enum": _docstring(_module(rendered, index, "events.py"), "Status"),
        "object": _docstring(_module(rendered, index, "events.py"), "Note"),
        "event": _docstring(_module(rendered, index, "events.py"), "CartOpened"),
        "command": _docstring(_module(rendered, index, "commands.py"), "OpenCart"),
        "aggregate": _docstring(_module(rendered, index, "aggregates.py"), "Cart"),
        "projection": _docstring(_module(rendered, index, "projections.py"), "CartsProjection"),
        "query": _docstring(_module(rendered, index, "queries.py"), f"Shop{index}Queries", "find_carts"),
    }
    assert found == dict.fromkeys(found, want or None)


@pytest.mark.slow  # the module's `output` fixture generates a domain per hostile text (OpenAPI child)
@pytest.mark.parametrize("index", range(len(HOSTILE)), ids=[f"text{i}" for i in range(len(HOSTILE))])
def test_strings_are_their_values(output: tuple[Path, dict[str, str]], index: int) -> None:
    _, rendered = output
    text = HOSTILE[index]
    strings = {
        node.value
        for rel, source in rendered.items()
        if rel.startswith(f"shop{index}/") and rel.endswith(".py")
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    # Defaults, the rule's message, scenario data, the upcast default, the literal column value.
    assert text in strings
    handlers = _module(rendered, index, "handlers.py")
    [rejected] = [
        n
        for n in ast.walk(handlers)
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "CommandRejected"
    ]
    assert ast.literal_eval(rejected.args[0]) == text
    events = _module(rendered, index, "events.py")
    note = next(n for n in events.body if isinstance(n, ast.ClassDef) and n.name == "Note")
    [default] = [n.value for n in note.body if isinstance(n, ast.AnnAssign) and n.value is not None]
    assert ast.literal_eval(default) == text


def _header_lines(text: str, comment: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(comment + " generated by acci-gen")]


@pytest.mark.slow  # the module's `output` fixture generates a domain per hostile text (OpenAPI child)
def test_the_file_name_stays_in_its_header_comment(output: tuple[Path, dict[str, str]]) -> None:
    _, rendered = output
    for rel, text in rendered.items():
        if rel.startswith("shop0/") and rel.endswith(".py") and "/custom/" not in rel:
            first = text.splitlines()[0]
            assert first.startswith("# generated by acci-gen") and first.endswith("; DO NOT EDIT"), rel
            assert "\\n" in first  # the line break in the file name, escaped


@pytest.mark.slow  # the module's `output` fixture generates a domain per hostile text (OpenAPI child)
def test_sql_comments_cannot_end_early(output: tuple[Path, dict[str, str]], acci_database_url: str) -> None:
    _, rendered = output
    [migration] = [
        text for rel, text in rendered.items() if rel.startswith("shop0/migrations/") and rel.endswith(".sql")
    ]
    assert len(_header_lines(migration, "--")) == 1
    with psycopg.connect(acci_database_url) as conn:
        conn.execute(migration)  # a comment that ended early would leave SQL the server refuses
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'carts'"
            " ORDER BY ordinal_position"
        ).fetchall()
    assert [c for (c,) in columns] == ["tenant_id", "cart_id", "label", "kind"]


def _cells(row: str) -> int:
    return len(re.findall(r"(?<!\\)\|", row)) - 1


@pytest.mark.parametrize("index", range(len(HOSTILE)), ids=[f"text{i}" for i in range(len(HOSTILE))])
def test_markdown_tables_keep_their_columns(index: int, tmp_path: Path) -> None:
    from acci_gen.docs_gen import render_docs

    path = tmp_path / "domains" / (FILE_NAME if index == 0 else "shop.yaml")
    path.parent.mkdir()
    path.write_text(DOMAIN.format(domain=f"shop{index}", h=json.dumps(HOSTILE[index])), encoding="utf-8")
    [text] = render_docs([path]).values()
    lines = text.splitlines()
    assert lines[0].startswith("<!-- generated by acci-gen") and lines[0].endswith("-->")
    assert lines[0].count("-->") == 1
    fenced = False
    table: int | None = None
    for line in lines[1:]:
        if line in ("<details><summary>JSON Schema</summary>", "</details>"):
            continue  # the docs' own HTML
        if line.startswith("```"):
            fenced = not fenced
        if fenced:
            continue
        if line.startswith("|"):
            table = _cells(line) if table is None else table
            assert _cells(line) == table, line
        else:
            table = None
            assert not line.startswith(("#", "<script", "1.", "- ")) or re.match(r"#{1,4} [A-Za-z]", line), (
                line
            )
            prose = re.sub(r"(`+).*?\1", "", line)  # what is not inline code: no raw HTML in it
            assert not re.search(r"(?<!\\)<[A-Za-z!/]", prose), line


def test_a_template_cannot_output_text_no_filter_rendered() -> None:
    from acci_gen.emit.templating import UnrenderedText, environment

    template = environment().from_string("x = {{ description }}\n")
    assert template.render(description="name_like_this") == "x = name_like_this\n"
    with pytest.raises(UnrenderedText, match="without a rendering filter"):
        template.render(description='a "quoted" description')
    assert environment().from_string("{{ d | docstring }}").render(d='a "quoted" description') == (
        '"""a "quoted" description"""'
    )
