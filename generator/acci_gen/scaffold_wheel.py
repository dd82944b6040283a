"""The ACCI wheel a service carries in its `wheels/` directory.

ACCI is not on a package index, so a service could not install its runtime anywhere but on the
machine it was created on. `acci-gen new` therefore puts the wheel of the ACCI it belongs to into
the service (`wheels/acci-<version>-py3-none-any.whl`, committed), the service installs it with
`pip install --find-links wheels`, and `acci-gen upgrade` replaces it with the newer one. The
wheel also holds the service template it was made from (`acci_gen/_template/`): that is how
`acci-gen upgrade` knows a service's template version on any machine.

Where the wheel comes from: `ACCI_WHEEL` (a wheel file) when set; else, for an ACCI installed
from a wheel, the installed files packed again into one (byte for byte the same every time);
else, for a source checkout, `pip wheel` of the checkout, kept in a cache by content.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

#: The service's directory for wheels pip finds with --find-links.
WHEELS_DIR = "wheels"
#: Names a wheel to use instead of building or packing one.
WHEEL_ENV = "ACCI_WHEEL"
_TEMPLATE_PREFIX = "acci_gen/_template/"
_WHEEL_NAME = re.compile(r"^acci-(?P<version>[^-]+)-[^-]+-[^-]+-[^-]+\.whl$")
# Zip entries get this time, so that the same files always give the same bytes (as hatchling does).
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Written anew by the installer; not part of a wheel.
_INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


class WheelError(Exception):
    """The ACCI wheel cannot be found, built or read; the message says why and what to do."""


def acci_wheel(cache: Path) -> Path:
    """The wheel of the ACCI this acci-gen belongs to (see the module's docstring)."""
    given = os.environ.get(WHEEL_ENV, "").strip()
    if given:
        path = Path(given).expanduser()
        if not path.is_file() or not _WHEEL_NAME.match(path.name):
            raise WheelError(f"{WHEEL_ENV}={given} is not an ACCI wheel file (acci-<version>-...whl).")
        return path
    try:
        dist = importlib.metadata.distribution("acci")
    except importlib.metadata.PackageNotFoundError:
        raise WheelError("the acci distribution is not installed; install acci[gen].") from None
    if _is_editable(dist):
        from acci_gen.scaffold import source_checkout

        root = source_checkout()
        if root is None:
            raise WheelError(
                "acci is installed in development mode but its checkout is not found; set "
                f"{WHEEL_ENV} to an ACCI wheel (pip wheel --no-deps <checkout>)."
            )
        return build_wheel(root, cache)
    return repack(dist, cache)


def _is_editable(dist: importlib.metadata.Distribution) -> bool:
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return False
    return bool(isinstance(direct, dict) and direct.get("dir_info", {}).get("editable"))


def build_wheel(root: Path, cache: Path) -> Path:
    """`pip wheel` of a source checkout, cached in `cache` by the content of its sources."""
    digest = _source_digest(root)
    target = cache / f"source-{digest}"
    found = sorted(target.glob("acci-*.whl")) if target.is_dir() else []
    if found:
        return found[0]
    # With hatchling at hand the build needs no network (pip would fetch it for an isolated build).
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    with tempfile.TemporaryDirectory(prefix="acci-wheel-") as scratch:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                *isolation,
                "--wheel-dir",
                scratch,
                str(root),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        built = sorted(Path(scratch).glob("acci-*.whl"))
        if result.returncode != 0 or not built:
            raise WheelError(
                f"building the ACCI wheel from {root} failed: {(result.stderr or result.stdout).strip()}. "
                f"Build it yourself (pip wheel --no-deps {root}) and set {WHEEL_ENV} to it."
            )
        target.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(built[0], target / built[0].name))


def _source_digest(root: Path) -> str:
    digest = hashlib.sha256()
    parts = [root / "pyproject.toml", root / "README.md", root / "copier.yml"]
    for folder in ("runtime/acci", "generator/acci_gen", "templates/service"):
        parts += sorted(p for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in parts:
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def repack(dist: importlib.metadata.Distribution, cache: Path) -> Path:
    """The installed distribution packed again into a wheel: its files as installed, its
    metadata, a new RECORD; deterministic, so the same installation always gives the same bytes."""
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = re.findall(r"(?m)^Tag:\s*(\S+)\s*$", wheel_meta) or ["py3-none-any"]
    name = f"acci-{dist.version}-{tags[0]}.whl"
    entries: dict[str, bytes] = {}
    for file in dist.files or []:
        posix = PurePosixPath(str(file))
        if ".." in posix.parts or "__pycache__" in posix.parts or posix.suffix in (".pyc", ".pyo"):
            continue  # console scripts (pip writes them from entry_points.txt) and bytecode
        if posix.parent.name.endswith(".dist-info") and posix.name in _INSTALLER_FILES:
            continue
        entries[str(posix)] = Path(str(dist.locate_file(file))).read_bytes()
    info = f"acci-{dist.version}.dist-info"
    records = [
        f"{path},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}" for path, data in entries.items()
    ]
    entries[f"{info}/RECORD"] = ("\n".join([*sorted(records), f"{info}/RECORD,,"]) + "\n").encode()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / name
    with (
        tempfile.NamedTemporaryFile(dir=cache, suffix=".part", delete=False) as handle,
        zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for path in sorted(entries, key=lambda p: (p.startswith(info), p)):  # metadata last
            member = zipfile.ZipInfo(path, _FIXED_TIME)
            member.external_attr = 0o644 << 16
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, entries[path])
    os.replace(handle.name, target)
    return target


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# -- the wheel in a service ---------------------------------------------------------------------


def wheel_version(wheel: Path) -> str:
    match = _WHEEL_NAME.match(wheel.name)
    if match is None:
        raise WheelError(f"{wheel} is not an ACCI wheel (acci-<version>-...whl).")
    return match["version"]


def vendored_wheel(service: Path) -> Path | None:
    """The ACCI wheel in the service's wheels/, if there is one."""
    found = sorted((service / WHEELS_DIR).glob("acci-*.whl"))
    return found[-1] if found else None


def vendor_wheel(service: Path, wheel: Path) -> Path:
    """Put `wheel` into the service's wheels/, in place of the ACCI wheel there before."""
    folder = service / WHEELS_DIR
    folder.mkdir(exist_ok=True)
    for old in folder.glob("acci-*.whl"):
        if old.name != wheel.name:
            old.unlink()
    target = folder / wheel.name
    if not target.is_file() or target.read_bytes() != wheel.read_bytes():
        shutil.copyfile(wheel, target)
    return target


def wheel_template(wheel: Path, dest: Path) -> Path:
    """Unpack the service template the wheel carries (copier.yml and templates/service/) into
    `dest`; return `dest`."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [
                m for m in archive.infolist() if m.filename.startswith(_TEMPLATE_PREFIX) and not m.is_dir()
            ]
            if not members:
                raise WheelError(
                    f"{wheel} holds no service template ({_TEMPLATE_PREFIX}); it is not acci[gen]'s."
                )
            for member in members:
                rel = PurePosixPath(member.filename[len(_TEMPLATE_PREFIX) :])
                if rel.is_absolute() or ".." in rel.parts:
                    raise WheelError(f"{wheel} has an unsafe path {member.filename!r}.")
                target = dest.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
    except zipfile.BadZipFile as error:
        raise WheelError(f"{wheel} is not a readable wheel ({error}); restore it from git.") from None
    return dest
