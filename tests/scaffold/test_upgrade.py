"""`acci-gen upgrade` (copier update): a service made from a template tagged v1 takes the template's
v2, keeps its own edits, and reports an edit that collides with a template change."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from acci_gen import __version__, scaffold
from acci_gen.scaffold import ScaffoldError, new_service, upgrade_service
from acci_gen.scaffold_cli import register
from acci_gen.scaffold_wheel import wheel_template

from tests.scaffold.helpers import build_acci_wheel, commit, copy_source, git

# Every case scaffolds a service with copier and git: seconds each.
pytestmark = pytest.mark.slow

README = Path("templates/service/README.md.jinja")


def _service(template_repo: Path, target: Path) -> Path:
    service = new_service(
        target, data={"project_name": "orders"}, template_source=str(template_repo), vcs_ref="v1"
    )
    assert git(service, "status", "--porcelain") == ""
    return service


def _release_v2(template_repo: Path, old: str, new: str) -> None:
    """Change the template's README (old -> new), add a file and a pyproject comment; tag v2."""
    readme = template_repo / README
    text = readme.read_text()
    assert old in text
    readme.write_text(text.replace(old, new, 1))
    (template_repo / "templates/service/docs").mkdir()
    (template_repo / "templates/service/docs/operations.md").write_text("# Operations\n\nNew in v2.\n")
    pyproject = template_repo / "templates/service/pyproject.toml.jinja"
    pyproject.write_text(pyproject.read_text().replace("[tool.ruff]\n", "[tool.ruff]\n# v2: ruff settings\n"))
    commit(template_repo, "template v2")
    git(template_repo, "tag", "v2")


def _answers(service: Path) -> dict[str, str]:
    data = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_update_keeps_the_users_edits(tmp_path: Path, template_repo: Path) -> None:
    service = _service(template_repo, tmp_path / "orders")
    readme = service / "README.md"
    readme.write_text(readme.read_text() + "\n## Our team\n\nAsk in #orders.\n")
    (service / "src" / "orders" / "api.py").write_text('"""Our own module."""\n')
    commit(service, "our edits")
    _release_v2(template_repo, "An event-sourced service on ACCI", "An event-sourced service built on ACCI")

    result = upgrade_service(service)

    assert result.ok, result.report()
    assert (result.old_ref, result.new_ref) == ("v1", "v2")
    assert _answers(service)["_commit"] == "v2"
    assert _answers(service)["project_name"] == "orders"
    text = readme.read_text()
    assert "Ask in #orders." in text  # the user's edit is kept
    assert "An event-sourced service built on ACCI" in text  # the template's change arrived
    assert "\n<<<<<<<" not in text
    assert (service / "docs" / "operations.md").read_text().startswith("# Operations")
    assert "# v2: ruff settings" in (service / "pyproject.toml").read_text()
    assert (service / "src" / "orders" / "api.py").exists()
    assert (service / "generated" / "notes" / "__init__.py").exists()  # not the template's: untouched
    report = result.report()
    assert "from v1 to v2" in report and "Your edits were kept" in report


def test_conflicting_edit_is_reported_inline(tmp_path: Path, template_repo: Path) -> None:
    service = _service(template_repo, tmp_path / "orders")
    readme = service / "README.md"
    readme.write_text(readme.read_text().replace("## Two commands", "## Two commands, and ours", 1))
    commit(service, "our heading")
    _release_v2(template_repo, "## Two commands", "## The two commands")

    result = upgrade_service(service)

    assert not result.ok
    assert result.conflicts == ["README.md"]
    assert _answers(service)["_commit"] == "v2"
    text = readme.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert "## Two commands, and ours" in text and "## The two commands" in text
    assert "UU README.md" in git(service, "status", "--porcelain")
    report = result.report()
    assert "CONFLICT" in report and "  README.md" in report and "before updating" in report
    # the other template changes arrived all the same
    assert (service / "docs" / "operations.md").exists()


def test_conflicting_edit_is_reported_as_rejected_hunks(tmp_path: Path, template_repo: Path) -> None:
    service = _service(template_repo, tmp_path / "orders")
    readme = service / "README.md"
    readme.write_text(readme.read_text().replace("## Two commands", "## Two commands, and ours", 1))
    commit(service, "our heading")
    _release_v2(template_repo, "## Two commands", "## The two commands")

    result = upgrade_service(service, conflict="rej")

    assert result.rejects == ["README.md.rej"]
    assert result.conflicts == []
    assert "## The two commands" in readme.read_text()
    assert "## Two commands, and ours" in (service / "README.md.rej").read_text()
    assert "REJECTED" in result.report() and "README.md.rej" in result.report()


def _newer_acci(tmp_path: Path, change: str, *, version: str | None = None) -> tuple[Path, Path]:
    """A newer ACCI: this checkout with `change` made to the template (and another version); its
    wheel, and its template as that acci-gen ships it."""
    source = copy_source(tmp_path / f"acci-{change.split()[0]}")
    (source / "templates/service/CONTRIBUTING.md").write_text(f"# Contributing\n\n{change}\n")
    if version is not None:
        pyproject = source / "pyproject.toml"
        pyproject.write_text(
            pyproject.read_text().replace(f'version = "{__version__}"', f'version = "{version}"', 1)
        )
    wheel = build_acci_wheel(source, tmp_path / f"wheel-{change.split()[0]}")
    return wheel, wheel_template(wheel, tmp_path / f"template-{change.split()[0]}")


@pytest.mark.slow
def test_anyone_upgrades_from_a_clone_with_another_home(
    tmp_path: Path, home: Path, acci_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default path: a service made by `acci-gen new` on one machine takes the template of a
    newer acci-gen on another (another home, another path, nothing of the first one left)."""
    made = new_service(tmp_path / "svc", data={"project_name": "svc"})
    clone = tmp_path / "elsewhere" / "svc"
    git(tmp_path, "clone", "--quiet", str(made), str(clone))
    shutil.rmtree(made)
    shutil.rmtree(home)
    monkeypatch.setenv("HOME", str(tmp_path / "teammate"))
    readme = clone / "README.md"
    readme.write_text(readme.read_text() + "\nOur own line.\n")
    commit(clone, "our line")
    newer_wheel, newer_template = _newer_acci(tmp_path, "Pull requests welcome.")
    monkeypatch.setattr(scaffold, "template_root", lambda: newer_template)

    result = upgrade_service(clone, acci_wheel_file=newer_wheel)

    assert result.ok, result.report()
    assert (result.old_ref, result.new_ref) == (f"v{__version__}", f"v{__version__}.post1")
    assert _answers(clone)["_commit"] == f"v{__version__}.post1"
    assert _answers(clone)["_src_path"] == "~/.cache/acci/service-template"
    assert "Pull requests welcome." in (clone / "CONTRIBUTING.md").read_text()
    assert "Our own line." in readme.read_text()
    assert (clone / "wheels" / acci_wheel.name).read_bytes() == newer_wheel.read_bytes()
    assert (tmp_path / "teammate" / ".cache" / "acci" / "service-template").is_dir()

    # committed, the next upgrade with the same acci-gen finds nothing to do
    commit(clone, "template upgrade")
    again = upgrade_service(clone, acci_wheel_file=newer_wheel)
    assert again.ok and again.old_ref == again.new_ref and "already at template version" in again.report()


@pytest.mark.slow
def test_a_new_acci_version_moves_the_pin_and_the_wheel(
    tmp_path: Path, acci_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = new_service(tmp_path / "svc", data={"project_name": "svc"})
    newer_wheel, newer_template = _newer_acci(tmp_path, "Version two.", version="0.2.0")
    assert newer_wheel.name == "acci-0.2.0-py3-none-any.whl"
    monkeypatch.setattr(scaffold, "template_root", lambda: newer_template)
    monkeypatch.setattr(scaffold, "__version__", "0.2.0")

    result = upgrade_service(service, acci_wheel_file=newer_wheel)

    assert result.ok, result.report()
    assert result.new_ref == "v0.2.0"
    assert _answers(service)["acci_requirement"] == "acci==0.2.0"
    pyproject = (service / "pyproject.toml").read_text()
    assert 'dependencies = ["acci[http]==0.2.0"]' in pyproject
    assert '"acci[gen,testing,http]==0.2.0"' in pyproject
    assert sorted(p.name for p in (service / "wheels").iterdir()) == [newer_wheel.name]
    assert "M pyproject.toml" in "\n".join(result.changed)


def test_nothing_to_update(tmp_path: Path) -> None:
    service = new_service(tmp_path / "svc", data={"project_name": "svc"})
    result = upgrade_service(service)
    assert result.ok
    assert result.old_ref == result.new_ref == f"v{__version__}"
    assert "already at template version" in result.report()
    assert git(service, "status", "--porcelain") == ""


def test_a_lost_wheel_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = new_service(tmp_path / "svc", data={"project_name": "svc"})
    answers = service / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(f"_commit: v{__version__}", "_commit: v0.0.9"))
    git(service, "rm", "--quiet", "-r", "wheels")
    commit(service, "no wheel, an older template version")
    with pytest.raises(
        ScaffoldError, match=r"template version v0\.0\.9 .* unknown here: .*wheels/acci-\*\.whl"
    ):
        upgrade_service(service)


def test_an_uncommitted_service_is_refused(tmp_path: Path, template_repo: Path) -> None:
    service = _service(template_repo, tmp_path / "orders")
    (service / "README.md").write_text("changed\n")
    with pytest.raises(ScaffoldError, match="uncommitted changes") as error:
        upgrade_service(service)
    assert "README.md" in str(error.value)


def test_a_service_outside_git_is_refused(tmp_path: Path, template_repo: Path) -> None:
    service = new_service(
        tmp_path / "orders",
        data={"project_name": "orders"},
        template_source=str(template_repo),
        vcs_ref="v1",
        git_init=False,
    )
    with pytest.raises(ScaffoldError, match="not in a git repository"):
        upgrade_service(service)


def test_a_directory_without_answers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match=r"\.copier-answers\.yml is missing"):
        upgrade_service(tmp_path)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="acci-gen")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def test_cli_new_then_upgrade(
    tmp_path: Path, template_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "billing"
    code = _cli("new", str(target), "--template-source", str(template_repo), "--vcs-ref", "v1")
    assert code == 0
    assert "./dev test" in capsys.readouterr().out
    assert _answers(target)["project_name"] == "billing"
    readme = target / "README.md"
    readme.write_text(readme.read_text().replace("## Two commands", "## Two commands, and ours", 1))
    commit(target, "our heading")
    _release_v2(template_repo, "## Two commands", "## The two commands")

    assert _cli("upgrade", str(target)) == 1  # a conflict: a person must resolve it
    out = capsys.readouterr().out
    assert "CONFLICT" in out and "README.md" in out
    assert _cli("upgrade", str(target)) == 2  # unresolved: the service is not clean
    assert "uncommitted changes" in capsys.readouterr().err


def test_cli_upgrade_regenerates(tmp_path: Path, template_repo: Path) -> None:
    service = _service(template_repo, tmp_path / "orders")
    _release_v2(template_repo, "An event-sourced service on ACCI", "An event-sourced service built on ACCI")
    notes = service / "domains" / "notes.yaml"
    notes.write_text(notes.read_text().replace("Short notes", "Short shared notes", 1))
    commit(service, "our domain change")
    assert _cli("upgrade", str(service)) == 0
    assert "Short shared notes" in (service / "generated" / "notes" / "__init__.py").read_text()


def test_a_deleted_starter_domain_stays_deleted(tmp_path: Path, template_repo: Path) -> None:
    service = _service(template_repo, tmp_path / "orders")
    (service / "domains" / "notes.yaml").unlink()
    commit(service, "our own domains instead")
    _release_v2(template_repo, "## Two commands", "## The two commands")

    result = upgrade_service(service)

    assert result.ok, result.report()
    assert not (service / "domains" / "notes.yaml").exists()
    assert "## The two commands" in (service / "README.md").read_text()


def test_a_lost_template_version_is_explained(tmp_path: Path, template_repo: Path) -> None:
    service = _service(template_repo, tmp_path / "orders")
    git(template_repo, "tag", "--delete", "v1")
    with pytest.raises(ScaffoldError, match=r"template version v1 .* is not in"):
        upgrade_service(service)
