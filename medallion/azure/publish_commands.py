"""``medallion deps``, ``publish`` and ``download``: the dependency archive and the artifacts on ADLS Gen2 / OneLake."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from medallion.azure import fabric
from medallion.azure.bundle import build_dependency_archive
from medallion.azure.cli_common import (
    _MISSING_SDK,
    STORAGE_TOKEN_ENV,
    _ado_enabled,
    _common,
    _credential,
    _emit,
    _fail,
    _only_wheel,
    _quiet_sdk_logging,
)
from medallion.azure.devops import ado_set_output
from medallion.azure.storage import collect_artifacts, download_file, publish_artifacts
from medallion.errors import ConfigError, MedallionError


def add_publish_parsers(subparsers: Any) -> None:
    """Register ``deps``, ``publish`` and ``download`` (each sets ``handler``)."""
    deps = subparsers.add_parser(
        "deps",
        help="zip the wheel's dependencies for the Spark pool's platform (deps.zip)",
        description="pip install --target with --platform manylinux2014_x86_64 --python-version 3.11 "
        "--only-binary=:all: for the wheel's requirements, zipped without the package itself.",
    )
    _wheel_options(deps, "the wheel (default: the only dist/*.whl)")
    deps.add_argument("--out", type=Path, help="the archive to write (default: {dist-dir}/deps.zip)")
    deps.add_argument("--platform", default="manylinux2014_x86_64")
    deps.add_argument("--python-version", default="3.11")
    deps.add_argument("--pip-arg", action="append", default=[], help="extra pip argument (e.g. --index-url=...)")
    _common(deps)
    deps.set_defaults(handler=deps_command)

    publish = subparsers.add_parser(
        "publish",
        help="upload the wheel, deps.zip, jobs/ and conf/ to ADLS Gen2 under a versioned folder",
        description="Upload the wheel, its dependency archive, jobs/ and conf/ (also as conf.zip) to "
        "{target}/{version}: into a staging folder first, then renamed into place.",
    )
    publish.add_argument("--target", required=True, help="abfss://container@account.dfs.core.windows.net/path")
    publish.add_argument("--version", required=True, help="folder name, e.g. the build id")
    _wheel_options(publish, "the wheel to upload (default: the only dist/*.whl)", dist_help="where to look for the wheel")
    publish.add_argument("--deps", type=Path, help="the dependency archive (default: {dist-dir}/deps.zip)")
    publish.add_argument("--no-deps", action="store_true", help="publish without a dependency archive")
    publish.add_argument("--jobs-dir", type=Path, default=Path("jobs"))
    publish.add_argument("--conf-dir", type=Path, default=Path("conf"))
    publish.add_argument("--overwrite", action="store_true", help="replace an existing version folder")
    _common(publish, credential=True)
    publish.set_defaults(handler=publish_command)

    download = subparsers.add_parser("download", help="download one file from ADLS Gen2 (e.g. the run report)")
    download.add_argument("--source", required=True, help="abfss://container@account.dfs.core.windows.net/path")
    download.add_argument("--dest", required=True, type=Path)
    _common(download, credential=True)
    download.set_defaults(handler=download_command)



def _wheel_options(parser: argparse.ArgumentParser, wheel_help: str, *, dist_help: str | None = None) -> None:
    """``--wheel`` and the ``--dist-dir`` it defaults from (``deps`` and ``publish``)."""
    parser.add_argument("--wheel", type=Path, help=wheel_help)
    parser.add_argument("--dist-dir", type=Path, default=Path("dist"), help=dist_help)


def deps_command(args: argparse.Namespace) -> int:
    """``medallion deps``: write the dependency archive; prints its path."""
    ado = _ado_enabled(args)
    try:
        wheel = args.wheel or _only_wheel(args.dist_dir)
        out = args.out or (args.dist_dir / "deps.zip")
        bundled = build_dependency_archive(wheel, out, platform=args.platform, python_version=args.python_version,
                                           extra_pip_args=args.pip_arg)
    except MedallionError as err:
        return _fail(err, ado)
    if args.output == "json":
        _emit(json.dumps({"archive": str(out), "packages": bundled}))
    else:
        for line in bundled:
            _emit(line)
        _emit(str(out))
    return 0


def publish_command(args: argparse.Namespace) -> int:
    """``medallion publish``: returns the exit code."""
    ado = _ado_enabled(args)
    _quiet_sdk_logging()
    try:
        fabric.check_onelake_target(args.target)
        wheel = args.wheel or _only_wheel(args.dist_dir)
        deps = None if args.no_deps else (args.deps or args.dist_dir / "deps.zip")
        if deps is not None and not deps.is_file():
            raise ConfigError(f"{deps}: no dependency archive; build it with `medallion deps --wheel {wheel}` "
                              "(or pass --no-deps when the pool has every package)", key="deps")
        files = collect_artifacts(wheel, args.jobs_dir, args.conf_dir, deps)
        credential = _credential(args, STORAGE_TOKEN_ENV)
        root = publish_artifacts(args.target, args.version, files, credential=credential, overwrite=args.overwrite)
    except ImportError as err:
        return _fail(ConfigError(f"{_MISSING_SDK} ({err.name})"), ado)
    except MedallionError as err:
        return _fail(err, ado)
    if ado:
        _emit(ado_set_output("artifactRoot", root))
        _emit(ado_set_output("wheelName", wheel.name))
    if args.output == "json":
        _emit(json.dumps({"artifact_root": root, "wheel": wheel.name, "files": sorted(files)}))
    else:
        _emit(root)
    return 0


def download_command(args: argparse.Namespace) -> int:
    """``medallion download``: one file from ADLS Gen2 to the agent."""
    ado = _ado_enabled(args)
    _quiet_sdk_logging()
    try:
        path = download_file(args.source, args.dest, credential=_credential(args, STORAGE_TOKEN_ENV))
    except ImportError as err:
        return _fail(ConfigError(f"{_MISSING_SDK} ({err.name})"), ado)
    except MedallionError as err:
        return _fail(err, ado)
    _emit(str(path))
    return 0
