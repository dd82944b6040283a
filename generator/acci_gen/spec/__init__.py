"""The first stages of acci-gen: a domain file loaded, its shape checked against the language,
its meaning checked, and the domain model built (`acci_gen.model`, which the renderers read).

    loader.py    YAML with the position of every value, within bounds no input can exceed
    language/    the language: one pydantic model per construct (and the JSON Schema's source)
    schema.py    the JSON Schema for editors, generated from language/
    shape.py     the models' errors at file:line:column (where: locate.py, words: wording.py);
                 what is broken is left out, the rest goes on to the meaning checks
    checks/      the meaning, one module per section; builds the domain model
    lock.py      released event shapes, frozen in <domain>.lock.json
    public_lock.py  released public (integration) event shapes, in the same file
    contract.py  another domain's contract (its AsyncAPI file), for `consumes:`
    suggest.py, values.py   did-you-mean, and whether a literal fits a field
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from acci_gen.errors import Diagnostic
from acci_gen.model import Domain
from acci_gen.spec.checks import check
from acci_gen.spec.loader import Document, load_file
from acci_gen.spec.lock import LockFileError, compare_with_lock, lock_path, read_lock, version_shapes
from acci_gen.spec.public_lock import compare_public_with_lock, public_shapes, read_public_lock
from acci_gen.spec.shape import check_shape

__all__ = ["Document", "Loaded", "check_document", "load_domain"]


@dataclass(frozen=True)
class Loaded:
    """One domain file after the spec stage."""

    #: The document as loaded (None when the file is not readable YAML).
    doc: Document | None
    #: The domain model (None when the file's shape is beyond repair).
    domain: Domain | None
    #: Every problem found; the domain is usable only when there is none.
    diagnostics: list[Diagnostic]


def check_document(doc: Document, base: Path | None = None) -> tuple[Domain | None, list[Diagnostic]]:
    """A loaded document's domain model, and every problem of its shape and meaning (`base`: the
    folder of the domain file, which vendored contracts are relative to)."""
    shaped = check_shape(doc)
    domain, problems = check(doc, shaped, base)
    return domain, shaped.diagnostics + problems


def load_domain(path: Path, shown: str) -> Loaded:
    """A domain file's model (None when it cannot be read), and every problem found in it, with
    `shown` as the file's name in diagnostics. Released event versions must still be declared as
    they were released (the lock file beside it)."""
    doc, diagnostics = load_file(path, shown)
    if doc is None:
        return Loaded(None, None, diagnostics)
    domain, problems = check_document(doc, path.parent)
    diagnostics += problems
    if domain is not None and domain.name and not problems:
        try:
            locked = read_lock(lock_path(path))
            public = read_public_lock(lock_path(path))
        except LockFileError as error:
            fix = (
                "restore it from version control (it records which event versions were released); "
                "delete it only if none of this domain's events was ever stored."
            )
            return Loaded(doc, domain, [*diagnostics, Diagnostic(shown, 1, 1, "", f"{error}.", fix)])
        for issue in compare_with_lock(locked, version_shapes(domain), domain):
            diagnostics.append(doc.error(issue.path, issue.message, issue.fix))
        for issue in compare_public_with_lock(public, public_shapes(domain), domain):
            diagnostics.append(doc.error(issue.path, issue.message, issue.fix))
    return Loaded(doc, domain, diagnostics)
