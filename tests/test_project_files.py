"""Tests that walk the tree see the project's own files only: a venv inside the checkout changes nothing."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from project_files import project_files

BROKEN_PS1 = "function Broken( {\n"


def _checkout(root: Path, *, git: bool) -> Path:
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "Good.ps1").write_text("Write-Output 'ok'\n")
    (root / "scripts" / "Module.psm1").write_text("function F { 1 }\n")
    (root / ".gitignore").write_text(".venv/\n")
    for venv in (".venv", "any-env-name"):  # ignored by .gitignore, and not ignored at all
        (root / venv / "bin").mkdir(parents=True)
        (root / venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (root / venv / "bin" / "Activate.ps1").write_text(BROKEN_PS1)
        bundled = root / venv / "lib" / "python3.11" / "site-packages" / "playwright" / "driver"
        bundled.mkdir(parents=True)
        (bundled / "install_webkit_wsl.ps1").write_text(BROKEN_PS1)
    (root / "build" / "lib").mkdir(parents=True)
    if git:
        subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=60)
    return root


@pytest.mark.parametrize("git", [True, False], ids=["git-checkout", "plain-folder"])
def test_a_venv_in_the_checkout_is_not_walked(tmp_path: Path, git: bool) -> None:
    root = _checkout(tmp_path / "clone", git=git)
    found = [p.relative_to(root.resolve()).as_posix() for p in project_files(root, (".ps1", ".psm1"))]
    assert found == ["scripts/Good.ps1", "scripts/Module.psm1"]


def test_new_untracked_project_files_are_seen_but_deleted_tracked_ones_are_not(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "clone", git=True)
    subprocess.run(["git", "-C", str(root), "add", "scripts"], check=True, timeout=60)
    (root / "scripts" / "Module.psm1").unlink()
    (root / "scripts" / "New.ps1").write_text("Write-Output 'new'\n")
    found = [p.name for p in project_files(root, (".ps1", ".psm1"))]
    assert found == ["Good.ps1", "New.ps1"]
