"""The project's own files, for tests that walk the tree: never a venv, a build folder or a cache inside it.

``git ls-files`` (tracked, plus new files git does not ignore) when the root is a git checkout, else a walk
that prunes ignored-by-convention folders; in both cases any folder holding ``pyvenv.cfg`` (a virtual
environment, whatever its name) is left out.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

SKIPPED_DIRS = frozenset({".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__", ".pytest_cache",
                          ".ruff_cache", ".lakehouse", "spark-warehouse", "metastore_db"})


def _in_a_venv(path: Path, root: Path) -> bool:
    for parent in path.relative_to(root).parents:
        if parent != Path(".") and (root / parent / "pyvenv.cfg").is_file():
            return True
    return False


def _git_files(root: Path) -> list[Path] | None:
    try:
        done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [root / name for name in os.fsdecode(done.stdout).split("\0") if name]


def _walked_files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")
                   and not (Path(folder) / d / "pyvenv.cfg").is_file()]
        found += [Path(folder) / name for name in files]
    return found


def project_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The project's files under ``root`` whose suffix is one of ``suffixes``, sorted."""
    root = Path(root).resolve()
    candidates = _git_files(root)
    if candidates is None:
        candidates = _walked_files(root)
    return sorted(p for p in candidates
                  if p.suffix in suffixes and p.is_file() and not _in_a_venv(p, root))
