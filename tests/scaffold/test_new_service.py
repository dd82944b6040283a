"""`acci-gen new`: a fresh service carries its runtime (the ACCI wheel, pinned) and records a template
source every acci-gen resolves, nothing of the machine it was made on; generated, it passes its own
tests on PostgreSQL; `./dev test` refuses to run over conflict markers."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from acci_gen import __version__, scaffold
from acci_gen.scaffold import ScaffoldError, new_service, template_root
from acci_gen.scaffold_source import (
    TEMPLATE_SOURCE,
    TemplateVersion,
    build_template_source,
    next_tag,
    template_source_path,
)
from acci_gen.scaffold_wheel import repack, wheel_template

from tests.scaffold.helpers import ROOT, copy_source, copy_template, env, git, run

# copier, git and the session's ACCI wheel (built on first use): seconds before the first test.
pytestmark = pytest.mark.slow


def test_a_new_service_carries_its_runtime_and_nothing_of_this_machine(
    tmp_path: Path, home: Path, acci_wheel: Path
) -> None:
    service = new_service(tmp_path / "shop", data={"project_name": "shop-svc"}, git_init=False)

    for rel in (
        "pyproject.toml",
        "README.md",
        "dev",
        "conftest.py",
        ".gitignore",
        ".dockerignore",
        "Dockerfile",
        ".copier-answers.yml",
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        "domains/notes.yaml",
        "src/shop_svc/service.py",
        "src/shop_svc/__main__.py",
        "tests/test_service.py",
    ):
        assert (service / rel).is_file(), rel
    assert (service / "dev").stat().st_mode & 0o111, "dev must be executable"
    assert (service / "wheels" / acci_wheel.name).read_bytes() == acci_wheel.read_bytes()
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == TEMPLATE_SOURCE == "~/.cache/acci/service-template"
    assert answers["_commit"] == f"v{__version__}"
    assert answers["acci_requirement"] == f"acci=={__version__}"
    assert (answers["package"], answers["python_version"], answers["database_url"]) == (
        "shop_svc",
        "3.11",
        "",
    )
    assert f'dependencies = ["acci[http]=={__version__}"]' in (service / "pyproject.toml").read_text()

    # no path of the machine it was made on: not the checkout, not the home, not a temporary directory
    for path in service.rglob("*"):
        if path.is_file() and path.suffix != ".whl":
            text = path.read_text(encoding="utf-8")
            for local in (str(ROOT), str(home), str(tmp_path), "file://"):
                assert local not in text, f"{path.relative_to(service)} mentions {local}"


@pytest.mark.slow
def test_new_generate_test(tmp_path: Path, acci_database_url: str) -> None:
    service = new_service(tmp_path / "shop", data={"project_name": "shop-svc"}, git_init=False)
    assert (service / "generated" / "notes" / "tests" / "test_notes.py").is_file()
    check = run(sys.executable, "-m", "acci_gen", "check", cwd=service)
    assert check.returncode == 0, check.stdout + check.stderr

    # the service's own test run: its pyproject's pytest configuration, the acci.testing plugin
    tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=service)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout and "skipped" not in tests.stdout

    # the service's code is clean under its own ruff configuration
    for args in (("check", "."), ("format", "--check", ".")):
        lint = run(sys.executable, "-m", "ruff", *args, "--no-cache", cwd=service)
        assert lint.returncode == 0, lint.stdout + lint.stderr

    # `python -m <package>`: the service's command line (`./dev run` starts `run --migrate`)
    path = f"{service / 'src'}:{service / 'generated'}:{env()['PYTHONPATH']}"
    first = run(
        sys.executable,
        "-m",
        "shop_svc",
        "migrate",
        cwd=service,
        PYTHONPATH=path,
        ACCI_DATABASE_URL=acci_database_url,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "notes 0001_create_note_list" in first.stdout
    shown = run(
        sys.executable,
        "-m",
        "shop_svc",
        "projections",
        "status",
        cwd=tmp_path,
        PYTHONPATH=path,
        ACCI_DATABASE_URL=acci_database_url,
    )
    assert shown.returncode == 0 and "note_list" in shown.stdout and " idle " in shown.stdout, shown.stderr


def test_new_service_is_committed_and_generated(tmp_path: Path) -> None:
    service = new_service(tmp_path / "svc", data={"project_name": "svc"})
    assert (service / "generated" / "notes" / "__init__.py").is_file()
    assert git(service, "status", "--porcelain") == ""
    assert "Create svc from the ACCI service template" in git(service, "log", "--format=%s")
    assert "wheels/acci-" in git(service, "ls-files", "wheels")


@pytest.mark.slow
def test_new_service_type_checks(tmp_path: Path) -> None:
    service = new_service(tmp_path / "typed", data={"project_name": "typed", "python_version": "3.12"})
    assert 'python_version = "3.12"' in (service / "pyproject.toml").read_text()
    result = run(sys.executable, "-m", "mypy", "--no-incremental", cwd=service)
    assert result.returncode == 0, result.stdout + result.stderr


def test_answers_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="lower-case Python identifier"):
        new_service(tmp_path / "bad", data={"project_name": "bad", "package": "Not-A-Package"})
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ScaffoldError, match="is taken"):
        new_service(tmp_path / "clash", data={"project_name": "notes"})


def test_target_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="not empty"):
        new_service(tmp_path / "full", data={})
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_the_wheel_must_carry_this_acci_gens_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = copy_template(tmp_path / "other")
    (other / "templates" / "service" / "NEW.md").write_text("not in the wheel\n")
    monkeypatch.setattr(scaffold, "template_root", lambda: other)
    with pytest.raises(ScaffoldError, match="carries another service template than this acci-gen"):
        new_service(tmp_path / "svc", data={})
    assert not (tmp_path / "svc").exists()


def test_dev_test_refuses_conflict_markers_and_rejected_hunks(tmp_path: Path) -> None:
    service = new_service(tmp_path / "svc", data={"project_name": "svc"}, generate=False)
    readme = service / "README.md"
    readme.write_text(
        readme.read_text() + "<<<<<<< before updating\nours\n=======\ntheirs\n>>>>>>> after updating\n"
    )
    failed = subprocess.run(
        ["./dev", "test"], cwd=service, capture_output=True, text=True, timeout=60, check=False
    )
    assert failed.returncode == 1
    assert (
        "README.md:" in failed.stdout
        and "resolve the conflicts of the last template upgrade" in failed.stderr
    )
    assert not (service / ".venv").exists()  # it stopped before setting anything up
    git(service, "checkout", "README.md")
    (service / "pyproject.toml.rej").write_text("a rejected hunk\n")
    failed = subprocess.run(
        ["./dev", "check"], cwd=service, capture_output=True, text=True, timeout=60, check=False
    )
    assert failed.returncode == 1 and "pyproject.toml.rej" in failed.stdout
    usage = subprocess.run(
        ["./dev", "deploy"], cwd=service, capture_output=True, text=True, timeout=60, check=False
    )
    assert usage.returncode == 2 and "./dev test" in usage.stdout


# -- the template source ------------------------------------------------------------------------


def test_the_template_source_is_the_same_repository_in_every_home(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    newer = copy_template(tmp_path / "newer")
    (newer / "templates" / "service" / "CONTRIBUTING.md").write_text("# Contributing\n")
    versions = [TemplateVersion("v0.1.0", template_root()), TemplateVersion("v0.1.0.post1", newer)]
    first = build_template_source(template_source_path(), versions)
    assert first == home / ".cache" / "acci" / "service-template"
    other_home = tmp_path / "other-home"
    monkeypatch.setenv("HOME", str(other_home))
    second = build_template_source(template_source_path(), versions)
    assert second.is_relative_to(other_home)
    for repo in (first, second):
        assert git(repo, "status", "--porcelain") == ""
        assert git(repo, "tag", "--list").split() == ["v0.1.0", "v0.1.0.post1"]
        assert (repo / "templates/service/dev.jinja").stat().st_mode & 0o111
    assert git(first, "rev-parse", "v0.1.0.post1") == git(second, "rev-parse", "v0.1.0.post1")


def test_template_tags() -> None:
    assert next_tag(None, "0.1.0", changed=False) == "v0.1.0"
    assert next_tag("v0.1.0", "0.1.0", changed=False) == "v0.1.0"
    assert next_tag("v0.1.0", "0.1.0", changed=True) == "v0.1.0.post1"
    assert next_tag("v0.1.0.post1", "0.1.0", changed=True) == "v0.1.0.post2"
    assert next_tag("v0.1.0.post3", "0.2.0", changed=False) == "v0.2.0"
    assert next_tag("v0.1.0.post3", "0.2.0", changed=True) == "v0.2.0"


def test_template_is_found_in_the_source_checkout() -> None:
    root = template_root()
    assert (root / "copier.yml").is_file()
    assert (root / "templates" / "service" / "domains" / "notes.yaml").is_file()


def test_a_packaged_template_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = copy_template(tmp_path / "site-packages" / "acci_gen" / "_template")
    monkeypatch.setattr(scaffold, "PACKAGED_TEMPLATE", packaged)
    assert template_root() == packaged


# -- the wheel ----------------------------------------------------------------------------------


def test_an_installed_acci_packs_into_the_same_wheel_every_time(tmp_path: Path, acci_wheel: Path) -> None:
    installed = tmp_path / "site-packages"
    with zipfile.ZipFile(acci_wheel) as archive:
        archive.extractall(installed)
        original = {name: archive.read(name) for name in archive.namelist()}
    (installed / "acci" / "__pycache__").mkdir()
    (installed / "acci" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"bytecode")
    info = installed / f"acci-{__version__}.dist-info"
    (info / "INSTALLER").write_text("pip\n")
    dist = PathDistribution(info)

    first = repack(dist, tmp_path / "one")
    second = repack(dist, tmp_path / "two")
    assert first.name == acci_wheel.name
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        packed = {name: archive.read(name) for name in archive.namelist()}
        assert archive.testzip() is None
    record = f"acci-{__version__}.dist-info/RECORD"
    assert {n: d for n, d in packed.items() if n != record} == {
        n: d for n, d in original.items() if n != record
    }
    assert sorted(packed[record].decode().splitlines()) == sorted(original[record].decode().splitlines())
    assert (wheel_template(first, tmp_path / "t") / "templates" / "service" / "dev.jinja").is_file()


@pytest.mark.slow
def test_a_checkout_builds_its_wheel_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from acci_gen.scaffold_wheel import build_wheel

    source = copy_source(tmp_path / "acci")
    first = build_wheel(source, tmp_path / "cache")
    assert first.name == f"acci-{__version__}-py3-none-any.whl"
    assert build_wheel(source, tmp_path / "cache") == first  # cached by content
    (source / "runtime" / "acci" / "new_module.py").write_text('"""New."""\n')
    assert build_wheel(source, tmp_path / "cache") != first
