"""`<domain>/openapi.json`: the OpenAPI document of the domain's generated router, as FastAPI makes
it (acci.http.app.domain_openapi_json, sorted keys), committed and checked like the code.

The document is the router's own, so acci-gen renders the packages first, then imports each
domain's api.py from a temporary directory in a child Python (the same interpreter, so the same
FastAPI and pydantic; nothing is imported into acci-gen's own process) and asks it.

The child costs about a second (importing FastAPI and pydantic), which is most of a generation's
time. A process that generates the same files again (the test suite does, hundreds of times) gets
the documents it already asked for: they depend on nothing but the files, the domains and this
interpreter's packages.
"""

from __future__ import annotations

import hashlib
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


#: Documents already built in this process, by _key of their inputs (the newest _KEEP of them).
_built: dict[str, dict[str, str]] = {}
_KEEP = 64


def openapi_documents(files: Mapping[str, str], domains: Mapping[str, str]) -> dict[str, str]:
    """The OpenAPI document (JSON text) of each domain (name -> description), from the rendered
    Python `files` (path below the output directory -> text, stubs included)."""
    if not domains:
        return {}
    key = _key(files, domains)
    if key in _built:
        return dict(_built[key])
    documents = _build(files, domains)
    if len(_built) >= _KEEP:
        del _built[next(iter(_built))]
    _built[key] = dict(documents)
    return documents


def _key(files: Mapping[str, str], domains: Mapping[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(sorted(domains.items())).encode())
    for rel in sorted(files):
        if rel.endswith(".py"):
            digest.update(json.dumps([rel, files[rel]]).encode())
    return digest.hexdigest()


def _build(files: Mapping[str, str], domains: Mapping[str, str]) -> dict[str, str]:
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
