"""`<domain>/openapi.json`: the OpenAPI document of the domain's generated router, as FastAPI makes
it (acci.http.app.domain_openapi_json, sorted keys), committed and checked like the code.

The document is the router's own, so acci-gen renders the packages first, then imports each
domain's api.py from a temporary directory in a child Python (the same interpreter, so the same
FastAPI and pydantic; nothing is imported into acci-gen's own process) and asks it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from acci_gen.errors import GenerationError

_SCRIPT = """
import importlib, json, sys
request = json.load(sys.stdin)
sys.path.insert(0, request["path"])
from acci.http.app import domain_openapi_json
documents = {}
for domain, description in request["domains"].items():
    router = importlib.import_module(domain + ".api").router
    documents[domain] = domain_openapi_json(router, domain, description)
json.dump(documents, sys.stdout)
"""


def openapi_documents(files: Mapping[str, str], domains: Mapping[str, str]) -> dict[str, str]:
    """The OpenAPI document (JSON text) of each domain (name -> description), from the rendered
    Python `files` (path below the output directory -> text, stubs included)."""
    if not domains:
        return {}
    with tempfile.TemporaryDirectory(prefix="acci-gen-openapi-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            if rel.endswith(".py"):
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            input=json.dumps({"path": tmp, "domains": dict(domains)}),
            capture_output=True,
            text=True,
            cwd=tmp,
            check=False,
        )
    if result.returncode != 0:
        raise GenerationError(
            "acci-gen could not build the OpenAPI documents of the generated HTTP APIs (it imports "
            "each <domain>/api.py, which needs FastAPI: pip install 'acci[gen,http]'):\n"
            + result.stderr[-4000:]
        )
    documents: dict[str, str] = json.loads(result.stdout)
    return documents
