"""Publish the wheel, the job entry points and the configuration to ADLS Gen2.

Layout under the target (one folder per version, e.g. the build id)::

    abfss://artifacts@acct.dfs.core.windows.net/medallion/{version}/
        medallion-0.1.0-py3-none-any.whl
        jobs/bronze_job.py  jobs/silver_job.py  jobs/gold_job.py
        conf/...            (the configuration as files, for people to read)
        conf.zip            (the same, as the archive a batch job extracts into ./conf)
        deps.zip            (the wheel's dependencies for the pool's platform, extracted into ./deps)
        manifest.json       (sha256 of every file)

Everything is uploaded into a staging folder next to it first and then renamed into place with one
directory rename (atomic on a hierarchical-namespace account), so a job never sees half an upload. An
existing version is replaced only with ``overwrite=True``: it is renamed aside, the new one renamed in,
and the old one deleted; when the second rename fails, the old version is renamed back. Publishing
byte-identical artifacts again (the same ``manifest.json``) is a success that changes nothing.

Example:
    >>> files = collect_artifacts(Path("dist/medallion-0.1.0-py3-none-any.whl"), Path("jobs"), Path("conf"))
    >>> publish_artifacts("abfss://artifacts@acct.dfs.core.windows.net/medallion", "42", files,
    ...                   credential=DefaultAzureCredential())  # doctest: +SKIP
    'abfss://artifacts@acct.dfs.core.windows.net/medallion/42'
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medallion.azure.forbidden import azure_error_text
from medallion.errors import ConfigError, RunError

__all__ = [
    "AbfssLocation",
    "PublishError",
    "parse_abfss",
    "collect_artifacts",
    "zip_directory",
    "publish_artifacts",
    "download_file",
]

log = logging.getLogger(__name__)

_ABFSS = re.compile(r"^abfss://(?P<fs>[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?)@(?P<host>(?P<account>[a-z0-9]{3,24})\.dfs\.[A-Za-z0-9.-]+)(?P<path>/.*)?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


class PublishError(RunError):
    """The upload or the final rename failed; nothing was put in place."""


@dataclass(frozen=True)
class AbfssLocation:
    """``abfss://{filesystem}@{account}.dfs.core.windows.net/{path}`` taken apart."""

    filesystem: str
    account: str
    host: str
    path: str

    @property
    def account_url(self) -> str:
        return f"https://{self.host}"

    def uri(self, *parts: str) -> str:
        """The URI of a path under this location."""
        segments = [p.strip("/") for p in (self.path, *parts) if p.strip("/")]
        return f"abfss://{self.filesystem}@{self.host}/" + "/".join(segments)

    def child(self, *parts: str) -> str:
        """A path under this location, relative to the file system root."""
        return "/".join(p.strip("/") for p in (self.path, *parts) if p.strip("/"))


def parse_abfss(uri: str) -> AbfssLocation:
    """Split an ``abfss://`` URI.

    Raises:
        ConfigError: not an ``abfss://filesystem@account.dfs.<suffix>/path`` URI.
    """
    match = _ABFSS.match(uri.strip())
    if not match:
        raise ConfigError(
            f"{uri!r} is not an ADLS Gen2 URI like abfss://container@account.dfs.core.windows.net/path",
            key="target",
        )
    path = (match["path"] or "").strip("/")
    if any(part in ("..", ".") for part in path.split("/")):
        raise ConfigError(f"{uri!r}: '.' and '..' are not allowed in the path", key="target")
    return AbfssLocation(match["fs"], match["account"], match["host"], path)


def zip_directory(directory: Path) -> bytes:
    """A deterministic zip of ``directory``'s files, paths relative to it (what ``archives`` extracts)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(_walk(directory)):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _walk(directory: Path) -> list[Path]:
    return [
        p for p in directory.rglob("*")
        if p.is_file() and not (_SKIP_PARTS & set(p.relative_to(directory).parts)) and p.suffix != ".pyc"
    ]


def collect_artifacts(wheel: Path, jobs_dir: Path, conf_dir: Path, deps: Path | None = None) -> dict[str, bytes]:
    """Everything a batch job needs, as ``{relative path: content}`` (manifest included).

    Args:
        deps: the dependency archive from ``medallion deps`` (published as ``deps.zip``).

    Raises:
        ConfigError: the wheel, the dependency archive, the jobs folder or the conf folder is missing or empty.
    """
    if deps is not None and (not deps.is_file() or deps.suffix != ".zip"):
        raise ConfigError(f"{deps}: no such dependency archive (build it with `medallion deps`)", key="deps")
    if not wheel.is_file() or wheel.suffix != ".whl":
        raise ConfigError(f"{wheel}: no such wheel (build it with `python -m build --wheel`)", key="wheel")
    for folder, key in ((jobs_dir, "jobs_dir"), (conf_dir, "conf_dir")):
        if not folder.is_dir() or not _walk(folder):
            raise ConfigError(f"{folder}: missing or empty folder", key=key)
    files: dict[str, bytes] = {wheel.name: wheel.read_bytes()}
    for path in _walk(jobs_dir):
        files[f"jobs/{path.relative_to(jobs_dir).as_posix()}"] = path.read_bytes()
    for path in _walk(conf_dir):
        files[f"conf/{path.relative_to(conf_dir).as_posix()}"] = path.read_bytes()
    files["conf.zip"] = zip_directory(conf_dir)
    if deps is not None:
        files["deps.zip"] = deps.read_bytes()
    files["manifest.json"] = _manifest(files)
    return files


def _manifest(files: Mapping[str, bytes]) -> bytes:
    entries = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    return json.dumps({"files": entries}, indent=2, sort_keys=True).encode("utf-8")


def publish_artifacts(
    target: str,
    version: str,
    files: Mapping[str, bytes],
    *,
    credential: Any,
    overwrite: bool = False,
    **client_kwargs: Any,
) -> str:
    """Upload ``files`` to ``{target}/{version}`` through a staging folder and one rename.

    Args:
        target: ``abfss://container@account.dfs.core.windows.net/path``.
        version: the folder name (a build id or version: letters, digits, ``._+-``).
        files: ``{relative path: content}``, e.g. from :func:`collect_artifacts`. ``manifest.json``
            is uploaded last.
        credential: an azure-core ``TokenCredential`` (``DefaultAzureCredential``).
        overwrite: replace an existing version folder instead of failing.
        **client_kwargs: passed to ``DataLakeServiceClient`` (e.g. ``transport``).

    Returns:
        The URI of the published folder (what ``medallion submit --artifact-root`` takes).

    Raises:
        ConfigError: bad target or version, or the version exists with other content and ``overwrite`` is
            false.
        PublishError: an upload or rename failed; the staging folder is removed and an existing version
            is left (or put back) in place.
    """
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.storage.filedatalake import DataLakeServiceClient

    location = parse_abfss(target)
    if not _VERSION.match(version):
        raise ConfigError(f"{version!r} is not a valid version folder name (letters, digits, ._+-)", key="version")
    if not files:
        raise ConfigError("nothing to publish", key="files")

    final = location.child(version)
    token = uuid.uuid4().hex[:12]
    staging = location.child(f"_staging-{version}-{token}")
    aside = location.child(f"_replaced-{version}-{token}")

    service = DataLakeServiceClient(location.account_url, credential=credential, **client_kwargs)
    fs = service.get_file_system_client(location.filesystem)

    def exists(path: str) -> bool:
        try:
            fs.get_directory_client(path).get_directory_properties()
            return True
        except ResourceNotFoundError:
            return False

    try:
        already = exists(final)
        same = already and "manifest.json" in files and _read(fs, f"{final}/manifest.json") == files["manifest.json"]
    except AzureError as err:
        raise PublishError(f"cannot read {location.uri()}: {azure_error_text(err, account=location.account)}") from err
    if same:
        log.info("%s already holds these exact artifacts (same manifest); nothing to do", location.uri(version))
        return location.uri(version)
    if already and not overwrite:
        raise ConfigError(
            f"{location.uri(version)} already exists with other content; publish a new version or pass --overwrite",
            key="version",
        )
    replaced = False
    try:
        log.info("uploading %s files to staging folder %s", len(files), location.uri(staging.rsplit("/", 1)[-1]))
        fs.get_directory_client(staging).create_directory()
        ordered = sorted(name for name in files if name != "manifest.json")
        if "manifest.json" in files:
            ordered.append("manifest.json")
        for name in ordered:
            _check_relative(name)
            fs.get_file_client(f"{staging}/{name}").upload_data(files[name], overwrite=True)
            log.debug("uploaded %s (%s bytes)", name, len(files[name]))
        if exists(final):
            fs.get_directory_client(final).rename_directory(f"{location.filesystem}/{aside}")
            replaced = True
        fs.get_directory_client(staging).rename_directory(f"{location.filesystem}/{final}")
    except BaseException as err:
        restored = _restore(fs, location, aside, final) if replaced else True
        _remove_quietly(fs, staging)
        if not isinstance(err, AzureError):
            raise
        kept = ("the previous version is back in place" if replaced and restored else
                f"the previous version is left at {location.uri(aside.rsplit('/', 1)[-1])}: rename it back by hand"
                if replaced else "nothing was changed")
        raise PublishError(
            f"publishing to {location.uri(version)} failed ({kept}): {azure_error_text(err, account=location.account)}"
        ) from err
    if replaced:
        _remove_quietly(fs, aside)
    log.info("published %s", location.uri(version))
    return location.uri(version)


def _read(fs: Any, path: str) -> bytes | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return fs.get_file_client(path).download_file().readall()
    except ResourceNotFoundError:
        return None


def _restore(fs: Any, location: AbfssLocation, aside: str, final: str) -> bool:
    from azure.core.exceptions import AzureError

    try:
        fs.get_directory_client(aside).rename_directory(f"{location.filesystem}/{final}")
    except AzureError as err:
        log.error("could not put the previous version back from %s: %s", aside, type(err).__name__)
        return False
    log.warning("the new version could not be put in place; the previous one is back at %s", location.uri(final))
    return True


def download_file(uri: str, dest: Path, *, credential: Any, **client_kwargs: Any) -> Path:
    """Download one file from ``abfss://...`` to ``dest`` (e.g. the report a batch wrote).

    Raises:
        ConfigError: not an abfss URI.
        PublishError: the file does not exist or cannot be read.
    """
    from azure.core.exceptions import AzureError
    from azure.storage.filedatalake import DataLakeServiceClient

    location = parse_abfss(uri)
    if not location.path:
        raise ConfigError(f"{uri!r} names no file", key="source")
    service = DataLakeServiceClient(location.account_url, credential=credential, **client_kwargs)
    fs = service.get_file_system_client(location.filesystem)
    try:
        data = fs.get_file_client(location.path).download_file().readall()
    except AzureError as err:
        raise PublishError(f"cannot download {uri}: {azure_error_text(err, account=location.account)}") from err
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    log.info("downloaded %s (%s bytes) to %s", uri, len(data), dest)
    return dest


def _check_relative(name: str) -> None:
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ConfigError(f"{name!r} is not a plain relative path", key="files")


def _remove_quietly(fs: Any, path: str) -> None:
    from azure.core.exceptions import AzureError

    try:
        fs.get_directory_client(path).delete_directory()
    except AzureError as err:
        log.warning("could not remove %s: %s", path, type(err).__name__)
