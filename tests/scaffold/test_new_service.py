"""`acci-gen new`, end to end: a fresh service, generated, passes its own tests on PostgreSQL; the
template mirror that makes it updatable later is tagged, idempotent and clean."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from acci_gen import __version__
from acci_gen.scaffold import ScaffoldError, new_service, template_mirror, template_root

from tests.scaffold.helpers import ROOT, copy_template, env, git, run


@pytest.mark.slow
def test_new_generate_test(tmp_path: Path, template_home: Path, acci_database_url: str) -> None:
    service = new_service(
        tmp_path / "shop", data={"project_name": "shop-svc"}, generate=False, git_init=False
    )

    for rel in (
        "pyproject.toml",
        "README.md",
        "dev",
        "conftest.py",
        ".gitignore",
        ".copier-answers.yml",
        ".github/workflows/ci.yml",
        "domains/notes.yaml",
        "src/shop_svc/service.py",
        "src/shop_svc/__main__.py",
        "tests/test_service.py",
    ):
        assert (service / rel).is_file(), rel
    assert (service / "dev").stat().st_mode & 0o111, "dev must be executable"
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(template_home)
    assert answers["_commit"] == f"v{__version__}"
    assert answers["package"] == "shop_svc"
    assert answers["python_version"] == "3.11"
    assert answers["database_url"] == ""
    assert answers["acci_requirement"] == f"acci @ {ROOT.as_uri()}"  # running from the source checkout
    workflow = yaml.safe_load((service / ".github/workflows/ci.yml").read_text())
    steps = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["test"]["steps"])
    assert "acci-gen check" in steps and "pytest" in steps
    assert "postgres" in workflow["jobs"]["test"]["services"]
    readme = (service / "README.md").read_text()
    assert "./dev run" in readme and "./dev test" in readme

    # generate, as `acci-gen generate` in the service's directory does
    generated = run(sys.executable, "-m", "acci_gen", "generate", cwd=service)
    assert generated.returncode == 0, generated.stdout + generated.stderr
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

    # `./dev run` starts `python -m <package>`: migrate and report health (--once: then exit)
    # (the service's own .venv installs it; here src/ goes on the path)
    path = os.pathsep.join([str(service / "src"), env()["PYTHONPATH"]])
    once = run(
        sys.executable,
        "-m",
        "shop_svc",
        "--once",
        cwd=service,
        PYTHONPATH=path,
        ACCI_DATABASE_URL=acci_database_url,
    )
    assert once.returncode == 0, once.stdout + once.stderr
    assert "NoteCreated" in once.stdout and '"ok": true' in once.stdout


def test_new_service_is_committed_and_generated(tmp_path: Path) -> None:
    service = new_service(tmp_path / "svc", data={"project_name": "svc"})
    assert (service / "generated" / "notes" / "__init__.py").is_file()
    assert git(service, "status", "--porcelain") == ""
    assert "Create svc from the ACCI service template" in git(service, "log", "--format=%s")


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


def test_mirror_is_idempotent_clean_and_tags_new_content(tmp_path: Path, template_home: Path) -> None:
    first = template_mirror()
    again = template_mirror()
    assert first == again
    assert first.path == template_home.resolve()
    assert first.tag == f"v{__version__}"
    assert git(first.path, "status", "--porcelain") == ""
    assert len(git(first.path, "log", "--format=%H").split()) == 1

    changed = copy_template(tmp_path / "changed")
    readme = changed / "templates" / "service" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nA line of a newer template.\n")
    newer = template_mirror(source=changed)
    assert newer.tag == f"v{__version__}.post1"
    assert git(newer.path, "status", "--porcelain") == ""
    assert "A line of a newer template." in (newer.path / "templates/service/README.md.jinja").read_text()
    # back to the shipped content: a new commit and tag, so that the latest tag is the current content
    current = template_mirror()
    assert current.tag == f"v{__version__}.post2"
    assert git(current.path, "status", "--porcelain") == ""


def test_template_is_found_in_the_source_checkout() -> None:
    root = template_root()
    assert (root / "copier.yml").is_file()
    assert (root / "templates" / "service" / "domains" / "notes.yaml").is_file()


def test_a_packaged_template_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from acci_gen import scaffold

    packaged = copy_template(tmp_path / "site-packages" / "acci_gen" / "_template")
    monkeypatch.setattr(scaffold, "PACKAGED_TEMPLATE", packaged)
    assert template_root() == packaged
