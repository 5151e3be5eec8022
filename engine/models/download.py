"""Download a checkpoint from the Hugging Face Hub into the store.

Only the files Albert Lens needs are fetched (config, weights, sentencepiece model, tokenizer
settings, sentence-transformers pooling config), from the commit the revision resolved to, each
streamed into `<store>/.downloads/<name>@<commit>/<file>.part` so that:

* progress is reported per chunk to a callback, and `cancel()` is checked between chunks;
* an interrupted download (cut connection, cancel, crash, Ctrl-C) resumes from the `.part` file
  with an HTTP Range request, in the same call (a few retries) or in the next one;
* every file is checked against the Hub's hashes (sha256 for LFS files, the git blob sha1 for
  small ones) before it counts as downloaded; a corrupt file is deleted and reported;
* the checked files are moved into a temporary folder in the store, validated like an import
  (ALBERT, the head the task needs, weights readable, no code), and the folder is renamed into
  place with its metadata, so a failed or interrupted download never looks installed;
* one model is downloaded by one process at a time (a lock file beside the staging folders): a
  second window or command asking for the same model is told so at once instead of writing into
  the same `.part` files.

The Hub is reached through huggingface_hub (`HfApi.model_info` for the file list, hashes and the
resolved commit; its HTTP session, headers and token for the files), so `HF_ENDPOINT`,
`HF_HUB_OFFLINE`, `HF_TOKEN` and proxies configured for it apply.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from engine.errors import DownloadCancelled, DownloadError
from engine.models import store
from engine.models.catalog import canonical_task, catalog_entry
from engine.models.importer import (
    CONFIG,
    check_config,
    check_model_folder,
    preconvert,
    shard_names,
    wanted_files,
)

ProgressCallback = Callable[[int, int, str], None]  # (bytes done, bytes in all, file name)
CancelCallback = Callable[[], bool]
StageCallback = Callable[[str], None]

CHUNK_SIZE = 64 * 1024
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "on", "yes", "true"}


@dataclass
class _RemoteFile:
    name: str
    size: int | None
    sha256: str | None  # LFS files
    blob_id: str | None  # git blob sha1 of small files


class _Transient(Exception):
    """A failure worth retrying (connection lost, timeout, 5xx); resumes from the .part file."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause


def offline_mode() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as the environment says now."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    if env is not None:
        return env.strip().lower() in _TRUE
    live = getattr(constants, "is_offline_mode", None)  # huggingface_hub >= 1.0
    return bool(live() if callable(live) else constants.HF_HUB_OFFLINE)


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub to talk to: the argument, else HF_ENDPOINT as set now, else huggingface.co."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _write_chunk(fh, data: bytes) -> None:
    fh.write(data)


def download_model(
    repo_id: str,
    task: str | None = None,
    revision: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    convert: bool = True,
    *,
    stage: StageCallback | None = None,
    token: str | bool | None = None,
    endpoint: str | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    retry_wait: float = 1.0,
) -> store.InstalledModel:
    """Download `repo_id` (at `revision`, default the main branch) and install it.

    `task` defaults to the catalog's task for the id, else to what the checkpoint's head implies.
    `progress(done_bytes, total_bytes, filename)` is called for every 64 KiB that arrives (throttle
    the display on your side); `stage(text)` is told each step ("Contacting the Hub",
    "Downloading", "Installing", "Converting to ONNX"). `cancel()` is polled between chunks and
    raises DownloadCancelled (the partial files are kept: the next call resumes). With `convert`,
    the ONNX graph is built and cached once installed (a cancel at that point skips it).
    `token`: as huggingface_hub takes it (None: the stored login or HF_TOKEN). `retries` failed
    connections are resumed within this call, waiting `retry_wait` seconds, doubling each time.
    Raises DownloadError with a message a person can act on, or the typed model errors of
    engine.errors when the checkpoint itself cannot be used (never installed then).
    """
    repo_id = str(repo_id).strip()
    _check_repo_id(repo_id)
    entry = catalog_entry(repo_id)
    task = canonical_task(task) if task else (entry.task if entry is not None else None)
    endpoint = hub_endpoint(endpoint)
    run = _Download(repo_id, task, revision, progress, cancel, stage, token, endpoint, timeout,
                    max(0, int(retries)), max(0.0, float(retry_wait)))
    model = run.execute()
    # Installed by now: a cancel from here on only skips the conversion (done at first use then).
    if convert and not (cancel is not None and cancel()):
        run.say("Converting to ONNX")
        preconvert(model)
    return model


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise DownloadError(
            f"'{repo_id}' is not a Hub model id (expected 'owner/name', e.g. "
            "twmkn9/albert-base-v2-squad2)."
        ) from exc


class _Download:
    def __init__(self, repo_id, task, revision, progress, cancel, stage, token, endpoint, timeout,
                 retries, retry_wait):
        self.repo_id = repo_id
        self.task = task
        self.revision = revision
        self.progress = progress
        self.cancel = cancel
        self.stage = stage
        self.token = token
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self.retry_wait = retry_wait
        self.total = 0
        self.done_before = 0  # bytes of the files already complete
        self.file_done = 0  # bytes of the file in flight

    # --- helpers --------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if self.stage is not None:
            self.stage(text)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise DownloadCancelled(
                f"The download of {self.repo_id} was cancelled; nothing was installed. "
                "Download it again to resume where it stopped."
            )

    def report(self, name: str) -> None:
        if self.progress is not None:
            self.progress(self.done_before + self.file_done, self.total, name)

    def _sleep(self, attempt: int) -> None:
        deadline = time.monotonic() + self.retry_wait * (2 ** (attempt - 1))
        while time.monotonic() < deadline:
            self.check_cancel()
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    # --- the whole job --------------------------------------------------------------------------
    def execute(self) -> store.InstalledModel:
        if offline_mode():
            raise DownloadError(
                f"Cannot download {self.repo_id}: offline mode is on (HF_HUB_OFFLINE is set). "
                "Unset HF_HUB_OFFLINE to download models."
            )
        self.check_cancel()
        with _download_lock(self.repo_id):
            return self._execute_locked()

    def _execute_locked(self) -> store.InstalledModel:
        self.say("Contacting the Hub")
        info = self._model_info()
        commit = info.sha
        if not commit:
            raise DownloadError(f"The Hub did not say which commit {self.repo_id} is at.")
        if info.id and info.id.lower() == self.repo_id.lower():
            self.repo_id = info.id  # the Hub's spelling
        remote = {
            s.rfilename: _RemoteFile(
                s.rfilename, s.size, s.lfs.sha256 if s.lfs else None, s.blob_id)
            for s in (info.siblings or [])
        }
        try:
            names = wanted_files(remote)
        except Exception as exc:  # the typed model errors: say which repo
            raise type(exc)(f"{self.repo_id}: {exc}") from exc

        staging = store.downloads_dir() / f"{store.safe_name(self.repo_id)}@{commit[:12]}"
        self._drop_other_stagings(staging)
        try:
            staging.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._os_error(exc, staging) from exc

        files = [remote[n] for n in names]
        self.total = sum(f.size or 0 for f in files)
        self._check_space(staging, files)

        self.say("Downloading")
        # The config first: a checkpoint that is not ALBERT, needs code, or has the wrong head
        # for the task is refused before the weights are fetched.
        first = [f for f in files if f.name in (CONFIG, "tokenizer_config.json")]
        for item in first:
            self._fetch(staging, commit, item)
        try:
            _, self.task = check_config(staging, self.task)
        except Exception:
            store.discard_partial_downloads(self.repo_id)
            raise
        for item in files:
            if item not in first:
                self._fetch(staging, commit, item)
                if item.name.endswith(".index.json"):
                    shards = self._shards(staging / item.name, remote)
                    self.total += sum(s.size or 0 for s in shards)
                    for shard in shards:
                        self._fetch(staging, commit, shard)
                        files.append(shard)
        self.check_cancel()
        self.say("Installing")
        model = self._install(staging, files, commit)
        store.discard_partial_downloads(self.repo_id)
        return model

    def _drop_other_stagings(self, keep: Path) -> None:
        prefix = store.safe_name(self.repo_id) + "@"
        try:
            children = list(keep.parent.iterdir())
        except OSError:
            return
        for child in children:
            if child.name.startswith(prefix) and child != keep:
                shutil.rmtree(child, ignore_errors=True)

    def _shards(self, index: Path, remote: dict[str, _RemoteFile]) -> list[_RemoteFile]:
        shards = []
        for name in shard_names(index):
            if name not in remote:
                raise DownloadError(f"{self.repo_id}: {index.name} names {name}, which the "
                                    "repository does not have.")
            shards.append(remote[name])
        return shards

    def _check_space(self, staging: Path, files: list[_RemoteFile]) -> None:
        have = 0
        for f in files:
            for path in (staging / f.name, staging / (f.name + ".part")):
                if path.is_file():
                    have += path.stat().st_size
                    break
        needed = max(0, self.total - have)
        try:
            free = shutil.disk_usage(staging).free
        except OSError:
            return
        if needed > free:
            raise DownloadError(_no_space(staging.parent.parent, needed, free))

    # --- talking to the Hub ---------------------------------------------------------------------
    def _model_info(self):
        from huggingface_hub import HfApi

        import engine

        api = HfApi(endpoint=self.endpoint, token=self.token, library_name="albert-lens",
                    library_version=engine.__version__)
        attempt = 0
        while True:
            try:
                return api.model_info(self.repo_id, revision=self.revision, files_metadata=True,
                                      timeout=self.timeout)
            except Exception as exc:
                error = self._classify(exc)
                if not isinstance(error, _Transient):
                    raise error from exc
                attempt += 1
                if attempt > self.retries:
                    raise self._give_up(error) from exc
                self._sleep(attempt)

    def _classify(self, exc: BaseException, reading: str | None = None
                  ) -> DownloadError | _Transient:
        """A failure as a DownloadError to raise, or a _Transient to retry.

        `reading` names the file whose bytes were arriving when the failure happened.
        """
        from huggingface_hub import errors as hf

        host = urlparse(self.endpoint).netloc or self.endpoint
        what = self.repo_id
        if isinstance(exc, DownloadError):
            return exc
        if isinstance(exc, hf.OfflineModeIsEnabled):
            return DownloadError(
                f"Cannot download {what}: offline mode is on (HF_HUB_OFFLINE is set). Unset "
                "HF_HUB_OFFLINE to download models.")
        if isinstance(exc, hf.GatedRepoError):
            return DownloadError(
                f"{what} is a gated model: accept its conditions on {self.endpoint}/{what} and "
                "log in (`hf auth login`, or set HF_TOKEN) before downloading it.")
        if isinstance(exc, hf.RevisionNotFoundError):
            return DownloadError(f"{what} has no revision '{self.revision}' on {host}.")
        if isinstance(exc, hf.EntryNotFoundError):
            return DownloadError(f"A file of {what} is missing on {host} (HTTP 404); "
                                 "the repository may be changing: try again later.")
        if isinstance(exc, hf.RepositoryNotFoundError):
            return DownloadError(
                f"{what} was not found on {host}: check the id (owner/name). A private model "
                "needs a login (`hf auth login`, or set HF_TOKEN).")
        if isinstance(exc, hf.HfHubHTTPError):
            status = exc.response.status_code if exc.response is not None else None
            if status in (401, 403):
                return DownloadError(
                    f"{host} refused access to {what} (HTTP {status}). If it is private or gated, "
                    "log in (`hf auth login`, or set HF_TOKEN) with an account that may read it.")
            if status == 429:
                return _Transient(f"{host} asks to slow down (HTTP 429); try again in a minute.",
                                  exc)
            if status == 404 and "/api/" not in _request_url(exc):
                return DownloadError(f"A file of {what} is missing on {host} (HTTP 404); "
                                     "the repository may be changing: try again later.")
            if status == 404:
                return DownloadError(f"{what} was not found on {host} (HTTP 404): check the "
                                     "id (owner/name).")
            if status is not None and status >= 500:
                return _Transient(
                    f"{host} answered with a server error (HTTP {status}); try again later.", exc)
            return DownloadError(f"{host} answered HTTP {status} for {what}.")
        kind = network_error_kind(exc)
        if kind == "proxy":
            return _Transient(
                f"Cannot reach {host} through the proxy: check the proxy settings "
                "(HTTPS_PROXY / HTTP_PROXY) or your connection.", exc)
        if kind == "ssl":
            return DownloadError(
                f"The secure connection to {host} failed ({_short(exc)}). A proxy that inspects "
                "HTTPS needs its certificate in REQUESTS_CA_BUNDLE / SSL_CERT_FILE.")
        if kind is not None and reading is not None:
            return _Transient(f"The connection to {host} was lost while downloading {reading}.",
                              exc)
        if kind == "timeout":
            return _Transient(f"{host} did not answer within {self.timeout:g} seconds: check "
                              "your connection or proxy settings.", exc)
        if kind == "connection":
            custom = ("" if self.endpoint == DEFAULT_ENDPOINT
                      else f" (the Hub address set by HF_ENDPOINT: {self.endpoint})")
            return _Transient(
                f"Cannot reach {host}{custom}: check your connection or proxy settings.", exc)
        if isinstance(exc, OSError) and exc.errno is not None:
            return self._os_error(exc, store.downloads_dir())
        return DownloadError(f"Downloading {what} failed: {_short(exc)}")

    def _give_up(self, error: _Transient) -> DownloadError:
        return DownloadError(f"{error} The download of {self.repo_id} did not finish; "
                             "nothing was installed. Run it again to resume.")

    def _os_error(self, exc: OSError, where: Path) -> DownloadError:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return DownloadError(_no_space(store.store_dir(), self.total, None))
        return DownloadError(f"Cannot write the download into {where}: "
                             f"{exc.strerror or exc}.")

    def _fetch(self, staging: Path, commit: str, item: _RemoteFile) -> None:
        """One file into `staging/<name>`, checked against its hash; resumes a `.part` file."""
        from huggingface_hub import hf_hub_url

        dest = staging / item.name
        if dest.is_file() and (item.size is None or dest.stat().st_size == item.size):
            self.done_before += dest.stat().st_size  # checked when it was completed
            self.report(item.name)
            return
        part = dest.with_name(dest.name + ".part")
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._os_error(exc, part.parent) from exc
        url = hf_hub_url(self.repo_id, item.name, revision=commit, endpoint=self.endpoint)
        attempt = 0
        while True:
            self.check_cancel()
            try:
                self._stream(url, part, item)
                break
            except _Transient as error:
                attempt += 1
                if attempt > self.retries:
                    raise self._give_up(error) from error.cause
                self._sleep(attempt)
        self._verify(part, item)
        os.replace(part, dest)
        self.done_before += dest.stat().st_size
        self.file_done = 0
        self.report(item.name)

    def _stream(self, url: str, part: Path, item: _RemoteFile) -> None:
        from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

        import engine

        have = part.stat().st_size if part.is_file() else 0
        if item.size is not None and have > item.size:
            part.unlink()
            have = 0
        self.file_done = have
        self.report(item.name)
        if item.size is not None and have == item.size and have > 0:
            return  # complete; the hash decides
        headers = build_hf_headers(token=self.token, library_name="albert-lens",
                                   library_version=engine.__version__)
        headers["Accept-Encoding"] = "identity"  # byte offsets must be the file's own
        if have:
            headers["Range"] = f"bytes={have}-"
        with contextlib.ExitStack() as stack:
            try:
                response, chunks = stack.enter_context(_open_stream(url, headers, self.timeout))
            except Exception as exc:
                raise self._raise_classified(exc) from exc
            if response.status_code == 416 and have:
                part.unlink()  # our .part is not a prefix of this file: start over
                raise _Transient(f"{item.name}: the partial download did not match; restarting.")
            try:
                if response.status_code >= 400:
                    _read_body(response)  # the error message is in the body
                hf_raise_for_status(response)
            except Exception as exc:
                raise self._raise_classified(exc) from exc
            if have and response.status_code != 206:
                have = 0  # the server sent the whole file
                self.file_done = 0
            try:
                with open(part, "ab" if have else "wb") as fh:
                    for chunk in chunks:
                        if not chunk:
                            continue
                        _write_chunk(fh, chunk)
                        self.file_done += len(chunk)
                        self.report(item.name)
                        self.check_cancel()
            except DownloadError:
                raise
            except Exception as exc:
                if network_error_kind(exc) is None and isinstance(exc, OSError):
                    raise self._os_error(exc, part.parent) from exc
                raise self._raise_classified(exc, item.name) from exc
        size = part.stat().st_size
        if item.size is not None and size < item.size:
            raise _Transient(f"The connection closed before {item.name} was complete.")

    def _raise_classified(self, exc: BaseException, reading: str | None = None
                          ) -> BaseException:
        error = self._classify(exc, reading)
        if isinstance(error, _Transient):
            error.cause = exc
        return error

    def _verify(self, part: Path, item: _RemoteFile) -> None:
        size = part.stat().st_size
        problem = None
        if item.size is not None and size != item.size:
            problem = f"it has {size} bytes, the Hub lists {item.size}"
        elif item.sha256:
            if _file_digest(part, hashlib.sha256()) != item.sha256.lower():
                problem = "its sha256 does not match the Hub's"
        elif item.blob_id and _git_blob_sha1(part) != item.blob_id.lower():
            problem = "its git hash does not match the Hub's"
        if problem is not None:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"The downloaded file {item.name} of {self.repo_id} is corrupt ({problem}); it "
                "was deleted and nothing was installed. Try the download again.")

    # --- installing -----------------------------------------------------------------------------
    def _install(self, staging: Path, files: list[_RemoteFile], commit: str
                 ) -> store.InstalledModel:
        tmp = None
        moved: list[str] = []
        installed = False
        try:
            try:
                tmp = store.new_temp_dir()
                for item in files:
                    target = tmp / item.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staging / item.name, target)
                    moved.append(item.name)
            except OSError as exc:
                raise self._os_error(exc, store.store_dir()) from exc
            entry = catalog_entry(self.repo_id)
            label_map = entry.label_map if entry is not None else {}
            try:
                original = store.apply_label_map(tmp, label_map)
                checked = check_model_folder(tmp, self.task)
            except Exception:
                # The files are what the Hub has, and they cannot be used: do not keep them.
                moved = []
                store.discard_partial_downloads(self.repo_id)
                raise
            known = {f.name: f.sha256 for f in files if f.sha256 and f.name != CONFIG}
            try:
                model = store.install_folder(
                    tmp, model_id=self.repo_id, task=checked.task, head=checked.head,
                    source="hub", revision=commit, origin=self.endpoint, known_sha256=known,
                    label_map=label_map if original is not None else {},
                    original_id2label=original,
                    extra={"requested_revision": self.revision or "main"},
                )
            except OSError as exc:
                raise self._os_error(exc, store.store_dir()) from exc
            installed = True
            return model
        finally:
            if not installed and tmp is not None and tmp.exists():
                # Keep what was downloaded for the next attempt (best effort).
                for name in moved:
                    try:
                        (staging / name).parent.mkdir(parents=True, exist_ok=True)
                        os.replace(tmp / name, staging / name)
                    except OSError:
                        break
                shutil.rmtree(tmp, ignore_errors=True)


def lock_path(repo_id: str) -> Path:
    """The lock file of one model's download; Hub ids are case-insensitive, so is the lock."""
    return store.downloads_dir() / f"{store.safe_name(repo_id.lower())}.lock"


@contextlib.contextmanager
def _download_lock(repo_id: str):
    from filelock import FileLock, Timeout

    path = lock_path(repo_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path, timeout=0)
        lock.acquire()
    except Timeout:
        raise DownloadError(
            f"{repo_id} is already being downloaded by another Albert Lens window or command. "
            "Let that download finish (or cancel it), then try again."
        ) from None
    except OSError as exc:
        raise DownloadError(f"Cannot download {repo_id}: cannot write to {path.parent} "
                            f"({_short(exc)}).") from exc
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def _open_stream(url: str, headers: dict, timeout: float):
    """GET `url` as a stream on huggingface_hub's session: (response, iterator of chunks).

    huggingface_hub < 1.0 uses a requests.Session, later versions an httpx-style client; both
    follow redirects (the Hub sends LFS files from a CDN) and keep the Range header.
    """
    from huggingface_hub.utils import get_session

    session = get_session()
    if callable(getattr(session, "stream", None)):  # httpx-style client
        with session.stream("GET", url, headers=headers, timeout=timeout,
                            follow_redirects=True) as response:
            yield response, response.iter_bytes(CHUNK_SIZE)
    else:  # requests.Session
        with session.get(url, headers=headers, stream=True,
                         timeout=(timeout, timeout)) as response:
            yield response, response.iter_content(CHUNK_SIZE)


def _read_body(response) -> None:
    with contextlib.suppress(Exception):
        if callable(getattr(response, "read", None)) and not hasattr(response, "iter_content"):
            response.read()  # httpx
        else:
            _ = response.content  # requests


_NETWORK_MODULES = ("requests", "urllib3", "httpx", "httpx2", "httpcore")


def network_error_kind(exc: BaseException) -> str | None:
    """'proxy', 'ssl', 'timeout' or 'connection' for a transport error of requests or httpx."""
    if type(exc).__module__.split(".")[0] not in _NETWORK_MODULES:
        return None
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "HTTPError" in names and "TransportError" not in names:
        return None  # an HTTP status, not a network failure
    text = str(exc).lower()
    if "ProxyError" in names:
        return "proxy"
    if "SSLError" in names or "certificate verify failed" in text or "[ssl" in text:
        return "ssl"
    if names & {"Timeout", "TimeoutException", "ReadTimeoutError", "ConnectTimeoutError"}:
        return "timeout"
    if names & {"ConnectionError", "ChunkedEncodingError", "TransportError", "ProtocolError",
                "NetworkError", "StreamError"}:
        return "connection"
    return None


def _file_digest(path: Path, digest) -> str:
    with open(path, "rb") as fh:
        while chunk := fh.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    digest.update(f"blob {path.stat().st_size}\0".encode())
    return _file_digest(path, digest)


def _no_space(where: Path, needed: int, free: int | None) -> str:
    have = f", {store.format_size(free)} free" if free is not None else ""
    return (f"Not enough disk space in {where}: the download needs about {store.format_size(needed)}"
            f"{have}. Free some space, or set ALBERT_LENS_HOME to a folder on a larger disk.")


def _request_url(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    request = getattr(response, "request", None)
    return str(getattr(request, "url", "") or getattr(response, "url", "") or "")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
