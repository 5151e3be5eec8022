"""A local HTTP server that answers like the Hugging Face Hub, for download tests.

It serves the endpoints huggingface_hub 0.36 uses to download a model:

* ``GET /api/models/{repo_id}[/revision/{rev}]`` -> JSON with ``id``, ``sha`` (the commit) and
  ``siblings`` (``rfilename``, ``size``, ``blobId``, ``lfs: {sha256, size, pointerSize}``), as
  the Hub answers with ``?blobs=true``;
* ``GET``/``HEAD /{repo_id}/resolve/{rev}/{filename}`` -> the file, with ``ETag`` (git blob sha1,
  or sha256 for LFS files), ``X-Repo-Commit``, ``Content-Length``, ``Accept-Ranges`` and Range
  support. LFS files are answered, as on the Hub, with a redirect to a content-addressed CDN URL
  (``/cdn/{sha256}``) carrying ``X-Linked-Etag`` and ``X-Linked-Size``. The CDN listens on a port
  of its own (``cdn_url``): huggingface_hub >= 1.0 follows a redirect within the Hub's origin and
  reads the file's metadata only from a redirect that leaves it;
* errors the way the Hub sends them: ``X-Error-Code: RepoNotFound`` (401), ``GatedRepo``,
  ``RevisionNotFound``, ``EntryNotFound`` (404).

Knobs (attributes, safe to change while the server runs): ``api_status``/``api_error_code``
answer every API call with an error; ``file_status[name]`` answers a file with an error;
``cut[name] = (nbytes, times)`` closes the connection after ``nbytes`` of the body, for the next
``times`` requests of that file; ``corrupt`` (a set of names) flips one byte of a file while its
hashes stay the originals. Hostile answers: ``overrun[name] = nbytes`` sends that many bytes more
than the file has (``hide_length`` (a set of names) drops Content-Length and ends the body by
closing the connection instead); ``trickle[name] = seconds`` sends the body one byte every that
many seconds until the client goes away (``trickling`` is set once it starts);
``endless_error[name] = status`` answers the file with that status and an error body with no
length that goes on (up to ENDLESS_BYTES) until the client stops reading; ``error_bytes_sent``
counts what was written of it;
``FakeRepo.sibling_patch[name]`` / ``info_patch`` / ``extra_siblings`` change what the API says
about a repo (a bad size, an odd file name, a bad commit). Every request is logged in ``requests`` (method, path, headers), and every answer with
a file's bytes in ``served`` (see ``file_requests``).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".model", ".onnx", ".msgpack", ".h5", ".ot")
# An "endless" error body stops here, so a client that reads it whole still ends the test.
ENDLESS_BYTES = 256 << 20


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, bytes]
    lfs: set[str]
    commit: str
    gated: bool = False
    sibling_patch: dict[str, dict] = field(default_factory=dict)
    info_patch: dict = field(default_factory=dict)
    extra_siblings: list = field(default_factory=list)

    def sibling(self, name: str) -> dict:
        data = self.files[name]
        entry = {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(data)}
        if name in self.lfs:
            entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                            "pointerSize": 134}
        entry.update(self.sibling_patch.get(name, {}))
        return entry

    def info(self) -> dict:
        return {
            "_id": "0" * 24,
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": self.repo_id.split("/")[0],
            "sha": self.commit,
            "lastModified": "2024-01-01T00:00:00.000Z",
            "private": False,
            "gated": "auto" if self.gated else False,
            "disabled": False,
            "library_name": "transformers",
            "tags": ["transformers", "albert"],
            "siblings": [self.sibling(n) for n in sorted(self.files)] + self.extra_siblings,
            **self.info_patch,
        }


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict = field(default_factory=dict)


class FakeHub:
    """Start with `start()` (or as a context manager); `url` is the endpoint to use."""

    def __init__(self):
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[LoggedRequest] = []
        self.served: list[tuple[str, LoggedRequest]] = []  # (file name, request) for file bodies
        self.api_status: int | None = None
        self.api_error_code: str | None = None
        self.file_status: dict[str, int] = {}
        self.cut: dict[str, tuple[int, int]] = {}
        self.corrupt: set[str] = set()
        self.overrun: dict[str, int] = {}
        self.hide_length: set[str] = set()
        self.trickle: dict[str, float] = {}
        self.endless_error: dict[str, int] = {}
        self.error_bytes_sent = 0
        self.trickling = threading.Event()
        self.stopping = threading.Event()
        self.lfs_redirect = True
        self.chunk = 16 * 1024
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._cdn: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # --- repos ----------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, source, lfs: set[str] | None = None,
                 commit: str | None = None, gated: bool = False) -> FakeRepo:
        """A repo from a folder (every file, recursively) or a {name: bytes} dict."""
        if isinstance(source, dict):
            files = {k: bytes(v) for k, v in source.items()}
        else:
            root = Path(source)
            files = {p.relative_to(root).as_posix(): p.read_bytes()
                     for p in sorted(root.rglob("*")) if p.is_file()}
        if lfs is None:
            lfs = {n for n in files if n.endswith(LFS_SUFFIXES)}
        if commit is None:
            digest = hashlib.sha1(repo_id.encode())
            for name in sorted(files):
                digest.update(name.encode() + b"\0" + hashlib.sha1(files[name]).digest())
            commit = digest.hexdigest()
        repo = FakeRepo(repo_id, files, set(lfs), commit, gated)
        self.repos[repo_id.lower()] = repo
        return repo

    def file_requests(self, name: str) -> list[LoggedRequest]:
        """The GET requests answered with (part of) this file's bytes, in order."""
        with self._lock:
            return [r for n, r in self.served if n == name and r.method == "GET"]

    # --- server ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the hub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cdn_url(self) -> str:
        assert self._cdn is not None, "start() the hub first"
        host, port = self._cdn.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        for server in (self._server, self._cdn):
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever,
                                      kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()  # ends trickling answers
        for server in (self._server, self._cdn):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._server = self._cdn = None
        self._threads = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _log(self, method: str, path: str, headers) -> None:
        with self._lock:
            self.requests.append(LoggedRequest(method, path, dict(headers.items())))

    def _log_served(self, name: str, method: str, path: str, headers) -> None:
        with self._lock:
            self.served.append((name, LoggedRequest(method, path, dict(headers.items()))))

    def _take_cut(self, name: str) -> int | None:
        with self._lock:
            if name not in self.cut:
                return None
            nbytes, times = self.cut[name]
            if times <= 1:
                del self.cut[name]
            else:
                self.cut[name] = (nbytes, times - 1)
            return nbytes


_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._route(head=False)

    def do_HEAD(self):
        self._route(head=True)

    # --- routing --------------------------------------------------------------------------------
    def _route(self, head: bool) -> None:
        raw_path = urlsplit(self.path).path
        path = unquote(raw_path)
        self.hub._log(self.command, path, self.headers)
        if path.startswith("/api/models/"):
            return self._api(path[len("/api/models/"):])
        if path.startswith("/cdn/"):
            return self._cdn(path[len("/cdn/"):], head)
        match = _RESOLVE.match(raw_path)
        if match:
            return self._resolve(unquote(match["repo"]), unquote(match["rev"]),
                                 unquote(match["file"]), head)
        self._error(404, "Not Found")

    def _repo(self, repo_id: str) -> FakeRepo | None:
        repo = self.hub.repos.get(repo_id.lower())
        if repo is None:
            self._error(401, "Repository not found", "RepoNotFound",
                        "Invalid username or password.")
        return repo

    def _check_revision(self, repo: FakeRepo, rev: str) -> bool:
        if rev in ("main", repo.commit):
            return True
        self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return False

    def _api(self, rest: str) -> None:
        hub = self.hub
        if hub.api_status is not None:
            return self._error(hub.api_status, "Simulated failure", hub.api_error_code)
        repo_id, _, rev = rest.partition("/revision/")
        repo = self._repo(repo_id)
        if repo is None or not self._check_revision(repo, rev or "main"):
            return
        body = json.dumps(repo.info()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _resolve(self, repo_id: str, rev: str, name: str, head: bool) -> None:
        hub = self.hub
        repo = self._repo(repo_id)
        if repo is None or not self._check_revision(repo, rev):
            return
        if repo.gated:
            return self._error(401, "Access to this model is restricted", "GatedRepo")
        if name in hub.file_status:
            return self._error(hub.file_status[name], "Simulated failure")
        if name in hub.endless_error:
            return self._endless_error(hub.endless_error[name])
        if name not in repo.files:
            return self._error(404, "Entry not found", "EntryNotFound")
        data = repo.files[name]
        headers = {"X-Repo-Commit": repo.commit}
        if name in repo.lfs:
            sha256 = hashlib.sha256(data).hexdigest()
            headers.update({"X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data)),
                            "ETag": f'"{git_blob_sha1(data)}"'})
            if hub.lfs_redirect:
                self.send_response(302)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Location", f"{hub.cdn_url}/cdn/{sha256}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            headers["ETag"] = f'"{sha256}"'
        else:
            headers["ETag"] = f'"{git_blob_sha1(data)}"'
        self._send_file(name, data, headers, head)

    def _cdn(self, sha256: str, head: bool) -> None:
        for repo in self.hub.repos.values():
            for name, data in repo.files.items():
                if name in repo.lfs and hashlib.sha256(data).hexdigest() == sha256:
                    if name in self.hub.file_status:
                        return self._error(self.hub.file_status[name], "Simulated failure")
                    return self._send_file(name, data, {"ETag": f'"{sha256}"'}, head)
        self._error(404, "Not Found")

    # --- answers --------------------------------------------------------------------------------
    def _send_file(self, name: str, data: bytes, headers: dict, head: bool) -> None:
        hub = self.hub
        hub._log_served(name, self.command, self.path, self.headers)
        if name in hub.corrupt and data:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
        start, end, status = 0, len(data) - 1, 200
        wanted = self.headers.get("Range")
        if wanted:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
            if match is None or int(match[1]) >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(match[1])
            end = min(int(match[2]), len(data) - 1) if match[2] else len(data) - 1
            status = 206
        body = data[start:end + 1]
        extra = hub.overrun.get(name, 0)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        if name in hub.hide_length:
            self.close_connection = True  # the body ends when the connection does
        else:
            self.send_header("Content-Length", str(len(body) + extra))
        self.end_headers()
        if head:
            return
        if name in hub.trickle:
            return self._trickle(body, hub.trickle[name])
        cut = hub._take_cut(name)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True  # the client sees the connection drop mid-body
            return
        try:
            for offset in range(0, len(body), hub.chunk):
                self.wfile.write(body[offset:offset + hub.chunk])
            junk = bytes(min(extra, hub.chunk))
            while extra > 0:  # made as it goes: the test's disk and memory stay small
                self.wfile.write(junk[:extra])
                extra -= len(junk)
        except OSError:  # the client stopped reading
            self.close_connection = True

    def _trickle(self, body: bytes, every: float) -> None:
        self.close_connection = True
        self.hub.trickling.set()
        try:
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                if self.hub.stopping.wait(every):
                    return
        except OSError:  # the client went away
            return

    def _endless_error(self, status: int) -> None:
        self.close_connection = True  # no length: the body ends when the connection does
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        junk = b'{"error": "' + b"x" * (64 * 1024 - 11)
        try:
            while self.hub.error_bytes_sent < ENDLESS_BYTES and not self.hub.stopping.is_set():
                self.wfile.write(junk)
                with self.hub._lock:
                    self.hub.error_bytes_sent += len(junk)
                junk = b"x" * len(junk)
        except OSError:  # the client stopped reading
            return

    def _error(self, status: int, message: str, code: str | None = None,
               header_message: str | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        if header_message:
            self.send_header("X-Error-Message", header_message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
