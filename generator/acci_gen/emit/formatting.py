"""The rendered Python, formatted by ruff: templates say what the code is, ruff lays it out.

ruff is a dependency of the `gen` extra, pinned exactly (another release could lay out the same
code differently, and `acci-gen check` would call the output stale), and it is run from the
installed package, never from PATH. One run of acci-gen runs it twice over all its files (sort
and prune the imports, then format), not once per file.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from acci_gen.errors import GenerationError

#: The generated code's style; --isolated: no configuration of the project it is written into.
RUFF_OPTIONS = ("--isolated", "--no-cache", "--quiet", "--line-length", "110", "--target-version", "py311")
#: Import order, and unused imports removed: a template imports what its code may use.
IMPORT_RULES = "I,F401"


def ruff_binary() -> str:
    try:
        from ruff import find_ruff_bin  # type: ignore[import-untyped]  # ruff ships no py.typed
    except ImportError as error:  # pragma: no cover - ruff is a dependency of acci[gen]
        raise GenerationError(
            "ruff is not installed; install acci-gen with `pip install 'acci[gen]'`."
        ) from error
    return str(find_ruff_bin())


def format_python(sources: Mapping[str, str]) -> dict[str, str]:
    """The same files (by relative path), formatted. Raises GenerationError when ruff cannot parse
    one: acci-gen never writes code that does not compile."""
    if not sources:
        return {}
    ruff = ruff_binary()
    with tempfile.TemporaryDirectory(prefix="acci-gen-") as tmp:
        root = Path(tmp)
        for rel, text in sources.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        for command in (
            ["check", "--fix", "--exit-zero", "--select", IMPORT_RULES],
            ["format"],
        ):
            result = subprocess.run(
                [ruff, *command, *RUFF_OPTIONS, "."],
                cwd=root,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:  # format exits 2 on a file it cannot parse
                raise GenerationError(
                    f"acci-gen rendered Python that ruff cannot {command[0]} (a bug of acci-gen; "
                    f"please report it with the domain file):\n{result.stdout}{result.stderr}"
                )
        return {rel: (root / rel).read_text(encoding="utf-8") for rel in sources}
