"""A stand-in for the ADLS Gen2 REST calls our publish code makes, on a local folder.

Azurite has no Data Lake (DFS) endpoint, so this serves the subset of the DFS and Blob REST APIs
that ``azure-storage-file-datalake`` sends for create-directory, upload (create / append / flush),
rename, get-properties, list and delete, with the service's semantics (hierarchical namespace,
atomic directory rename, 404/409 error codes). It plugs in as a ``requests`` adapter behind azure-core's
own ``RequestsTransport``, so the real SDK builds, signs and parses every request and response:

    transport = DfsStandIn(tmp_path).transport()
    DataLakeServiceClient("https://acct.dfs.core.windows.net", credential=cred, transport=transport)

Storage layout: ``{root}/{account}/{filesystem}/{path}``; the same layout the Synapse stand-in
reads ``abfss://`` URIs from. Every request is recorded in ``calls`` (method, host kind, path, query).
Requests outside the subset are answered 400 ``UnsupportedByStandIn`` so a new SDK call is noticed.
"""
from __future__ import annotations

import datetime
import email.utils
import io
import json
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

__all__ = ["DfsStandIn", "Call", "local_path"]


def local_path(root: Path, uri: str) -> Path:
    """``abfss://fs@account.dfs.core.windows.net/p`` -> ``{root}/account/fs/p`` (plain paths pass through)."""
    if uri.startswith("file://"):
        return Path(unquote(urlsplit(uri).path))
    if not uri.startswith("abfss://"):
        return Path(uri)
    rest = uri[len("abfss://"):]
    authority, _, path = rest.partition("/")
    fs, _, host = authority.partition("@")
    account = host.split(".", 1)[0]
    return root / account / fs / unquote(path)


@dataclass(frozen=True)
class Call:
    method: str
    service: str  # "dfs" or "blob"
    path: str  # "/fs/dir/file" (decoded)
    query: dict[str, str]
    headers: dict[str, str]
    status: int


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        self.status, self.code, self.message = status, code, message or code
        super().__init__(f"{status} {code}")


class DfsStandIn:
    """The DFS/Blob subset over ``root``; ``fail`` lets a test make chosen requests fail.

    Args:
        root: the folder that holds ``{account}/{filesystem}/...``.
        filesystems: file systems (containers) that exist, as ``account/fs``; others answer 404.
    """

    def __init__(self, root: Path, filesystems: tuple[str, ...] = ("acct/artifacts",)) -> None:
        self.root = Path(root)
        for name in filesystems:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.calls: list[Call] = []
        self.fail: Callable[[str, str, dict[str, str]], tuple[int, str] | None] | None = None
        self._pending: dict[Path, bytearray] = {}
        self._is_rename = False
        self._lock = threading.Lock()

    # -- wiring ------------------------------------------------------------------------------
    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount("https://", _Adapter(self))
        return session

    def transport(self):  # noqa: ANN201 - azure-core type imported lazily
        from azure.core.pipeline.transport import RequestsTransport

        return RequestsTransport(session=self.session(), session_owner=False)

    # -- dispatch ----------------------------------------------------------------------------
    def handle(self, method: str, url: str, headers: CaseInsensitiveDict, body: bytes) -> tuple[int, dict, bytes]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        account, _, rest = host.partition(".")
        service = rest.split(".", 1)[0]
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = unquote(parts.path)
        status, out_headers, out_body = 500, {}, b""
        try:
            self._is_rename = "x-ms-rename-source" in headers
            if self.fail is not None:
                forced = self.fail(method, path, query)
                if forced is not None:
                    raise _Error(forced[0], forced[1])
            with self._lock:
                status, out_headers, out_body = self._route(method, service, account, path, query, headers, body)
        except _Error as err:
            status = err.status
            out_headers = {"x-ms-error-code": err.code}
            if method != "HEAD":
                out_body = json.dumps({"error": {"code": err.code, "message": err.message}}).encode()
                out_headers["Content-Type"] = "application/json;charset=utf-8"
        self.calls.append(Call(method, service, path, query, {k.lower(): v for k, v in headers.items()}, status))
        base = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-version": headers.get("x-ms-version", "2021-08-06"),
            "Date": email.utils.formatdate(usegmt=True),
        }
        return status, {**base, **out_headers}, out_body

    def _route(self, method, service, account, path, query, headers, body):  # noqa: ANN001, ANN202
        fs, _, rel = path.lstrip("/").partition("/")
        fs_dir = self.root / account / fs
        if not fs_dir.is_dir():
            raise _Error(404, "FilesystemNotFound" if service == "dfs" else "ContainerNotFound")
        target = fs_dir / rel if rel else fs_dir
        if ".." in Path(rel).parts:
            raise _Error(400, "InvalidResourceName")
        if service == "dfs":
            if method == "PUT" and "x-ms-rename-source" in headers:
                return self._rename(account, target, headers)
            if method == "PUT" and query.get("resource") in ("directory", "file"):
                return self._create(target, query["resource"], headers)
            if method == "PATCH" and query.get("action") in ("append", "flush"):
                return self._update(target, query, headers, body)
            if method == "DELETE" and rel:
                return self._delete(target, query)
            if method == "HEAD" and rel:
                return self._properties(target, dfs=True)
            if method == "GET" and query.get("resource") == "filesystem":
                return self._list(fs_dir, query)
        elif service == "blob":
            if method == "HEAD" and rel:
                return self._properties(target, dfs=False)
            if method == "GET" and rel and "comp" not in query:
                if not target.is_file():
                    raise _Error(404, "BlobNotFound")
                data = target.read_bytes()
                wanted = headers.get("x-ms-range") or headers.get("Range")
                if wanted and wanted.startswith("bytes="):  # what the SDK's downloader asks for, chunk by chunk
                    first, _, last = wanted[6:].partition("-")
                    start = int(first)
                    end = min(int(last) if last else len(data) - 1, len(data) - 1)
                    if data and start >= len(data):
                        raise _Error(416, "InvalidRange")
                    chunk = data[start:end + 1]
                    return 206, {**self._file_headers(target), "Content-Length": str(len(chunk)),
                                 "Content-Range": f"bytes {start}-{max(end, start)}/{len(data)}"}, chunk
                return 200, {**self._file_headers(target), "Content-Length": str(len(data))}, data
        raise _Error(400, "UnsupportedByStandIn", f"{method} {service} {path} {sorted(query)} is not served")

    # -- operations --------------------------------------------------------------------------
    @staticmethod
    def _etag(path: Path) -> str:
        st = path.stat()
        return f'"0x{st.st_mtime_ns:X}{st.st_size:X}"'

    def _file_headers(self, path: Path) -> dict[str, str]:
        st = path.stat()
        return {
            "ETag": self._etag(path),
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
            "Content-Type": "application/octet-stream",
        }

    def _create(self, target: Path, kind: str, headers) -> tuple[int, dict, bytes]:  # noqa: ANN001
        if target.exists():
            if headers.get("If-None-Match") == "*":
                raise _Error(409, "PathAlreadyExists", "The specified path already exists.")
            if kind == "directory" and target.is_file() or kind == "file" and target.is_dir():
                raise _Error(409, "ResourceTypeMismatch")
        if any(p.is_file() for p in target.parents if p != self.root):
            raise _Error(409, "ParentNotDirectory")
        target.parent.mkdir(parents=True, exist_ok=True)  # the service creates missing parents
        if kind == "directory":
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(b"")
            self._pending[target] = bytearray()
        return 201, {**self._file_headers(target), "Content-Length": "0"}, b""

    def _update(self, target: Path, query, headers, body: bytes) -> tuple[int, dict, bytes]:  # noqa: ANN001
        if not target.is_file():
            raise _Error(404, "PathNotFound", "The specified path does not exist.")
        if headers.get("If-Match") not in (None, "*", self._etag(target)):
            raise _Error(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
        position = int(query.get("position", "0"))
        committed = target.stat().st_size
        pending = self._pending.setdefault(target, bytearray())
        if query["action"] == "append":
            if position != committed + len(pending):
                raise _Error(400, "InvalidAppendPosition")
            pending.extend(body)
            if query.get("flush") == "true":
                return self._flush(target, committed + len(pending))
            return 202, {"Content-Length": "0"}, b""
        return self._flush(target, position)

    def _flush(self, target: Path, position: int) -> tuple[int, dict, bytes]:
        committed = target.stat().st_size
        pending = self._pending.get(target, bytearray())
        if position != committed + len(pending):
            raise _Error(400, "InvalidFlushPosition", "The uploaded data is not contiguous or the position "
                         "query parameter value is not equal to the length of the file after appending the uploaded data.")
        with target.open("ab") as handle:
            handle.write(bytes(pending))
        self._pending[target] = bytearray()
        return 200, {**self._file_headers(target), "Content-Length": "0"}, b""

    def _rename(self, account: str, target: Path, headers) -> tuple[int, dict, bytes]:  # noqa: ANN001
        source_ref = unquote(headers["x-ms-rename-source"].split("?", 1)[0])
        src_fs, _, src_rel = source_ref.lstrip("/").partition("/")
        source = self.root / account / src_fs / src_rel
        if not source.exists():
            raise _Error(404, "SourcePathNotFound", "The source path for a rename operation does not exist.")
        if not target.parent.is_dir():
            raise _Error(404, "RenameDestinationParentPathNotFound",
                         "The parent directory of the destination path does not exist.")
        if target.exists():
            if target.is_dir() or headers.get("If-None-Match") == "*":
                raise _Error(409, "PathAlreadyExists", "The specified path already exists.")
            target.unlink()
        source.rename(target)  # atomic, like the service's rename on a hierarchical namespace
        return 201, {**self._file_headers(target), "Content-Length": "0"}, b""

    def _delete(self, target: Path, query) -> tuple[int, dict, bytes]:  # noqa: ANN001
        if not target.exists():
            raise _Error(404, "PathNotFound", "The specified path does not exist.")
        if target.is_dir():
            if query.get("recursive") != "true" and any(target.iterdir()):
                raise _Error(409, "DirectoryNotEmpty")
            shutil.rmtree(target)
        else:
            target.unlink()
            self._pending.pop(target, None)
        return 200, {"Content-Length": "0"}, b""

    def _properties(self, target: Path, *, dfs: bool) -> tuple[int, dict, bytes]:
        if not target.exists():
            raise _Error(404, "PathNotFound" if dfs else "BlobNotFound")
        out = self._file_headers(target)
        out["Content-Length"] = "0" if target.is_dir() else str(target.stat().st_size)
        if dfs:
            out["x-ms-resource-type"] = "directory" if target.is_dir() else "file"
        else:
            out["x-ms-blob-type"] = "BlockBlob"
            if target.is_dir():
                out["x-ms-meta-hdi_isfolder"] = "true"
        return 200, out, b""

    def _list(self, fs_dir: Path, query) -> tuple[int, dict, bytes]:  # noqa: ANN001
        base = fs_dir / query.get("directory", "")
        if not base.is_dir():
            raise _Error(404, "PathNotFound")
        items = base.rglob("*") if query.get("recursive") == "true" else base.iterdir()
        paths = []
        for item in sorted(items):
            entry = {
                "name": item.relative_to(fs_dir).as_posix(),
                "lastModified": email.utils.formatdate(item.stat().st_mtime, usegmt=True),
                "etag": self._etag(item).strip('"'),
                "contentLength": "0" if item.is_dir() else str(item.stat().st_size),
            }
            if item.is_dir():
                entry["isDirectory"] = "true"
            paths.append(entry)
        return 200, {"Content-Type": "application/json;charset=utf-8"}, json.dumps({"paths": paths}).encode()

    def fail_rename(self, nth: int, status: int = 403, code: str = "AuthorizationPermissionMismatch") -> None:
        """Fail the ``nth`` directory rename from now on (1 = the next one): e.g. 2 for the second rename of
        an overwrite (the new version into place, after the old one was renamed aside)."""
        seen = 0

        def rule(method: str, path: str, query: dict[str, str]) -> tuple[int, str] | None:
            nonlocal seen
            if method == "PUT" and self._is_rename:
                seen += 1
                if seen == nth:
                    return status, code
            return None

        self.fail = rule

    # -- test helpers ------------------------------------------------------------------------
    def mutations(self) -> list[Call]:
        """Successful calls that change state (PUT, PATCH, DELETE)."""
        return [c for c in self.calls if c.method in ("PUT", "PATCH", "DELETE") and c.status < 300]


class _Adapter(BaseAdapter):
    def __init__(self, stand_in: DfsStandIn) -> None:
        super().__init__()
        self._stand_in = stand_in

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # noqa: ANN001, ANN201
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        status, headers, data = self._stand_in.handle(request.method, request.url, request.headers, bytes(body))
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        if "Content-Length" not in response.headers:
            response.headers["Content-Length"] = str(len(data))
        response.raw = io.BytesIO(data)
        response.url = request.url
        response.request = request
        response.reason = "OK" if status < 400 else "Error"
        response.encoding = "utf-8"
        response.elapsed = _ZERO
        return response

    def close(self) -> None:
        pass


_ZERO = datetime.timedelta(0)
