"""The wheel's Python dependencies for the Spark pool's platform, as one archive every batch ships.

A Synapse pool's Python (CPython 3.11 on Linux x86_64) does not have every dependency: Microsoft's
images ship PyYAML, pydantic only in recent images, and never tenacity, and a workspace with data
exfiltration protection cannot install from the internet at all. So the Build stage resolves the
wheel's ``Requires-Dist`` for the pool's platform with pip (binary wheels only, no build on the
agent) into a folder, and zips it as ``deps.zip``; ``medallion submit`` ships it as a Livy archive
extracted as ``./deps`` and put on the driver's and the executors' ``PYTHONPATH``
(:func:`medallion.azure.payload.build_payload`).

Example:
    >>> build_dependency_archive(Path("dist/medallion-0.1.0-py3-none-any.whl"), Path("dist/deps.zip"))  # doctest: +SKIP
    ['annotated_types==0.7.0', 'pydantic==2.9.2', ...]
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from medallion.errors import ConfigError, RunError

__all__ = ["POOL_PLATFORM", "POOL_PYTHON", "pip_command", "build_dependency_archive"]

log = logging.getLogger(__name__)

POOL_PLATFORM = "manylinux2014_x86_64"
POOL_PYTHON = "3.11"
_SKIP = ("bin",)


def pip_command(wheel: Path, target: Path, *, platform: str = POOL_PLATFORM, python_version: str = POOL_PYTHON,
                extra: Sequence[str] = ()) -> list[str]:
    """The pip call that resolves ``wheel``'s dependencies for the pool into ``target``."""
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), "--platform", platform, "--python-version", python_version,
        "--implementation", "cp", "--only-binary=:all:", *extra, str(wheel),
    ]


def build_dependency_archive(wheel: Path, out: Path, *, platform: str = POOL_PLATFORM,
                             python_version: str = POOL_PYTHON, extra_pip_args: Sequence[str] = ()) -> list[str]:
    """Resolve ``wheel``'s dependencies for the pool's platform and zip them to ``out``.

    The package itself is left out (it travels as the wheel on ``pyFiles``), as are console scripts.

    Returns:
        The bundled distributions as ``name==version``, sorted.

    Raises:
        ConfigError: ``wheel`` is not a wheel file.
        RunError: pip could not resolve a dependency for that platform (its message is included).
    """
    from medallion.azure.storage import zip_directory

    if not wheel.is_file() or wheel.suffix != ".whl":
        raise ConfigError(f"{wheel}: no such wheel (build it with `python -m build --wheel`)", key="wheel")
    own = wheel.name.split("-", 1)[0].lower()
    with tempfile.TemporaryDirectory(prefix="medallion-deps-") as tmp:
        target = Path(tmp) / "deps"
        command = pip_command(wheel, target, platform=platform, python_version=python_version, extra=extra_pip_args)
        log.info("resolving the dependencies of %s for %s / CPython %s", wheel.name, platform, python_version)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RunError(f"pip could not resolve the dependencies of {wheel.name} for {platform} / CPython "
                           f"{python_version} (binary wheels only):\n{(done.stderr or done.stdout).strip()[-2000:]}")
        for entry in list(target.iterdir()):
            name = entry.name.lower()
            if name in _SKIP or name == own or (name.startswith(f"{own}-") and name.endswith(".dist-info")):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        bundled = sorted(
            "==".join(p.name.removesuffix(".dist-info").rsplit("-", 1)) for p in target.glob("*.dist-info")
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(zip_directory(target))
    log.info("wrote %s: %s", out, ", ".join(bundled))
    return bundled
