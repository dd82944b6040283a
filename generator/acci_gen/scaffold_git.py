"""The few git commands the scaffold needs, with errors that say what failed and what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

#: The identity of commits acci-gen makes in its template source, and in a new service when
#: git has no user configured.
BOT_EMAIL = "acci-gen@localhost"
BOT_IDENTITY = ("-c", "user.name=acci-gen", "-c", f"user.email={BOT_EMAIL}")


class GitError(RuntimeError):
    """A git command failed; the message names the command, the directory and git's output."""


def git_executable() -> str:
    found = shutil.which("git")
    if found is None:
        raise GitError("git is not installed or not on PATH; the service template needs it (install git).")
    return found


def git(
    cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `git args...` in `cwd` (with `env` added to the environment); raise GitError with
    git's output when it fails and `check`."""
    result = subprocess.run(
        [git_executable(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        # No pager, no prompts for credentials: these commands run unattended.
        env={**_environment(), **(env or {})},
    )
    if check and result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise GitError(f"`git {' '.join(args)}` failed in {cwd}: {output}")
    return result


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_PAGER"] = "cat"
    # The user's language must not change the messages this module reads.
    env["LC_ALL"] = "C"
    return env


def work_tree_root(path: Path) -> Path | None:
    """The top of the git work tree that contains `path`, or None outside of one."""
    result = git(path, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        return None
    return Path(result.stdout.strip())


def has_identity(cwd: Path) -> bool:
    """True when git knows who commits here (user.name and user.email)."""
    name = git(cwd, "config", "user.name", check=False).stdout.strip()
    email = git(cwd, "config", "user.email", check=False).stdout.strip()
    return bool(name and email)


def commit_all(cwd: Path, message: str, *, bot: bool = False) -> None:
    """Stage everything below `cwd` and commit it (as acci-gen when asked or when git has no user)."""
    git(cwd, "add", "--all", ".")
    identity = BOT_IDENTITY if bot or not has_identity(cwd) else ()
    git(cwd, *identity, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message)


def status_lines(cwd: Path, *paths: str) -> list[str]:
    """`git status --porcelain` of `cwd` (limited to `paths`), untracked files included."""
    result = git(cwd, "status", "--porcelain", "--untracked-files=all", "--", *(paths or (".",)))
    return [line for line in result.stdout.splitlines() if line.strip()]
