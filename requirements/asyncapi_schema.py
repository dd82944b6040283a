"""Fetch the official JSON Schema of AsyncAPI 3.0.0 again, the one vendored as
tests/contracts/asyncapi-3.0.0.schema.json (tests/generator/test_asyncapi_schema.py validates every
generated contract against it; the tests never go to the network).

    python requirements/asyncapi_schema.py          # npm pack, check the hash, write the file

The schema comes from the npm package @asyncapi/specs (the AsyncAPI Initiative's, Apache-2.0), as
`schemas/3.0.0-without-$id.json`: the bundled draft-07 schema whose `$ref`s all resolve inside the
file (the variant with `$id`s names remote documents). Moving to another package version: change
VERSION, run this with `--accept` to print the new hash, review the diff of the schema, and update
SHA256 here and in tests/contracts/README.md. Only the standard library and npm.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "@asyncapi/specs"
VERSION = "6.11.1"
MEMBER = "package/schemas/3.0.0-without-$id.json"
SHA256 = "abe96881dbfaad495ccbb6bd8d3fb43ca18a13b9d7564849ccb66f39d5e5b20f"
TARGET = ROOT / "tests" / "contracts" / "asyncapi-3.0.0.schema.json"


def fetch() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        packed = subprocess.run(
            ["npm", "pack", "--silent", f"{PACKAGE}@{VERSION}"],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        archive = Path(tmp) / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(archive) as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise SystemExit(f"{archive.name} holds no {MEMBER}")
            return member.read()


def main(argv: list[str]) -> int:
    data = fetch()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256 and "--accept" not in argv:
        print(f"{PACKAGE}@{VERSION} {MEMBER}: sha256 {digest}, expected {SHA256}", file=sys.stderr)
        return 1
    TARGET.write_bytes(data)
    print(f"wrote {TARGET.relative_to(ROOT)} ({PACKAGE}@{VERSION}, sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
