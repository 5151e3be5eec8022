"""Download a checkpoint from the Hugging Face Hub into the store.

Only the files Albert Lens needs are fetched (config, weights, sentencepiece model, tokenizer
settings, sentence-transformers pooling config), from the commit the revision resolved to, each
streamed into `<store>/.downloads/<name>@<commit>/<file>.part` so that:

* progress is reported per chunk to a callback; `cancel()` and the file's deadline are checked
  on a timer (every 0.2 s) while the bytes are read on a thread of their own, so a stalled or
  trickling connection never holds the caller;
* what the Hub says is checked before it is used: the id (`owner/name`), the commit (40 hex
  digits), each file's name (only the files we need, plain relative names), its size (a whole
  number within MAX_FILE_BYTES) and its hash; no file is written past the size the Hub lists;
* an interrupted download (cut connection, cancel, crash, Ctrl-C) resumes from the `.part` file
  with an HTTP Range request, in the same call (a few retries) or in the next one;
* every file is checked against the Hub's hashes (sha256 for LFS files, the git blob sha1 for
  small ones) before it counts as downloaded, including one found already complete in the
  staging folder; a corrupt file is deleted and reported;
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
import queue
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from engine.albert.weights import shard_names
from engine.errors import DownloadCancelled, DownloadError, UnsupportedModelError
from engine.models import store
from engine.models.catalog import canonical_task, catalog_entry
from engine.models.importer import (
    CONFIG,
    check_config,
    check_model_folder,
    convert_folder,
    pickle_files,
    wanted_files,
    write_safetensors,
)
from engine.runtime.graph_cache import file_digest
from engine.sizes import format_size
from engine.tasks.registry import tasks_using

ProgressCallback = Callable[[int, int, str], None]  # (bytes done, bytes in all, file name)
CancelCallback = Callable[[], bool]
StageCallback = Callable[[str], None]

CHUNK_SIZE = 64 * 1024
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "on", "yes", "true"}

# What a file listed by the Hub may be. The largest ALBERT (xxlarge, pytorch_model.bin) is under
# 1 GB; the rest (config, tokenizer, sentencepiece model, pooling config) are kilobytes.
MAX_FILE_BYTES = 16 << 30
MAX_SMALL_FILE_BYTES = 64 << 20
MAX_SHARDS = 256
ERROR_BODY_BYTES = 64 * 1024
# Per-file deadline: max(DEADLINE_FLOOR s, size / MIN_SPEED bytes per second), over all attempts.
DEADLINE_FLOOR = 120.0
MIN_SPEED = 50_000
TICK = 0.2  # how often cancel() and the deadline are looked at while bytes are awaited
IMPORT_HINT = ("Without a connection, install a model from a folder instead: "
               "albert-lens models import DIR --task {task}.")

_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_-])?"
_REPO_ID = re.compile(rf"{_REPO_PART}/{_REPO_PART}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A file name as we use it: relative, '/'-separated, plain ASCII parts, none hidden or '..'.
_FILE_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


@dataclass
class _RemoteFile:
    name: str
    size: object  # as the Hub said: checked by _check_listing before any use
    sha256: object  # LFS files
    blob_id: object  # git blob sha1 of small files
    lfs: bool = False
    lfs_size: object = None


def _remote_files(siblings) -> tuple[dict[str, _RemoteFile], set[str]]:
    """The Hub's file list by name, odd names left out (we never need them), and the names
    listed more than once with different metadata (which listing would we trust?)."""
    remote: dict[str, _RemoteFile] = {}
    twice: set[str] = set()
    for s in siblings or []:
        name = getattr(s, "rfilename", None)
        if not safe_file_name(name):
            continue
        lfs = getattr(s, "lfs", None)
        item = _RemoteFile(name, s.size, lfs.sha256 if lfs else None, s.blob_id,
                           lfs=bool(lfs), lfs_size=lfs.size if lfs else None)
        if name in remote and remote[name] != item:
            twice.add(name)
        remote[name] = item
    return remote, twice


class _Worker:
    """Runs a blocking request on a daemon thread and hands its results over through a queue.

    The downloading thread waits on the queue with a timeout, so cancel() and the deadline are
    honoured while a read is blocked however slowly bytes trickle in (urllib3 fills a whole
    64 KiB chunk before it returns one). The worker never touches the files: one left behind
    (it gives up at its next byte or read timeout; `abort` shuts its socket to hurry it) cannot
    write into a `.part` file that a later attempt is resuming.
    """

    def __init__(self, target: Callable[[_Worker], None], name: str):
        self._queue: queue.Queue = queue.Queue(maxsize=4)  # 256 KiB of body at most
        self.stopped = threading.Event()
        self.response = None
        self._target = target
        self._thread = threading.Thread(target=self._run, name=f"albert-lens-download {name}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._target(self)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            self.put("error", exc)

    def put(self, kind: str, value: object = None) -> bool:
        """False once the waiting side has gone: stop then."""
        while not self.stopped.is_set():
            try:
                self._queue.put((kind, value), timeout=TICK)
                return True
            except queue.Full:
                continue
        return False

    def get(self, timeout: float) -> tuple[str, object] | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def abort(self) -> None:
        self.stopped.set()
        if self.response is not None:
            _shut_socket(self.response)

    def finish(self) -> None:
        """After a normal end: the thread is done or about to be."""
        self.stopped.set()
        self._thread.join(timeout=1.0)


class _Transient(Exception):
    """A failure worth retrying (connection lost, timeout, 5xx); resumes from the .part file."""

    def __init__(self, message: str, cause: BaseException | None = None,
                 unreachable: bool = False):
        super().__init__(message)
        self.cause = cause
        self.unreachable = unreachable  # the Hub could not be reached at all: say what else works


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


def file_deadline(size: int, floor: float = DEADLINE_FLOOR, min_speed: float = MIN_SPEED
                  ) -> float:
    """Seconds one file may take, all attempts together: long enough at `min_speed`."""
    return max(float(floor), size / max(1.0, float(min_speed)))


def valid_repo_id(repo_id: str) -> bool:
    """`owner/name` of letters, digits, '.', '_' and '-' (no '..', no '--' as the Hub says)."""
    return (isinstance(repo_id, str) and _REPO_ID.fullmatch(repo_id) is not None
            and ".." not in repo_id and "--" not in repo_id)


def safe_file_name(name) -> bool:
    """A name from the Hub that is safe to use as a path inside the staging folder."""
    if not isinstance(name, str) or not name or len(name) > 200:
        return False
    return all(_FILE_PART.fullmatch(part) for part in name.split("/"))


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
    deadline_floor: float = DEADLINE_FLOOR,
    min_speed: float = MIN_SPEED,
    session=None,
) -> store.InstalledModel:
    """Download `repo_id` (at `revision`, default the main branch) and install it.

    `task` defaults to the catalog's task for the id, else to what the checkpoint's head implies.
    `progress(done_bytes, total_bytes, filename)` is called for every 64 KiB that arrives (throttle
    the display on your side); `stage(text)` is told each step ("Contacting the Hub",
    "Downloading", "Installing", "Converting to ONNX"). `cancel()` is polled every 0.2 s, even
    while no byte arrives, on the calling thread, and raises DownloadCancelled (the partial files
    are kept: the next call resumes). With `convert`,
    the ONNX graph is built and cached before the model is installed (a model whose graph cannot
    be built is not installed; a cancel once every file is here skips the conversion).
    `token`: as huggingface_hub takes it (None: the stored login or HF_TOKEN). `retries` failed
    connections are resumed within this call, waiting `retry_wait` seconds, doubling each time.
    `timeout` is the connect and read timeout of each request; each file must arrive within
    `file_deadline(size, deadline_floor, min_speed)` seconds (all its attempts together).
    `session`: the HTTP client for the files (a requests.Session, or an httpx-style client such
    as `httpx.Client(follow_redirects=True)`); None takes huggingface_hub's own.
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
    run.deadline_floor, run.min_speed = float(deadline_floor), float(min_speed)
    run.convert = bool(convert)
    run.session = session
    return run.execute()


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    problem = None
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        problem = exc
    if problem is not None or not valid_repo_id(repo_id):
        shown = repo_id if repo_id.isprintable() and len(repo_id) <= 100 else repr(repo_id[:100])
        raise DownloadError(
            f"'{shown}' is not a Hub model id (expected 'owner/name' of letters, digits, '.', "
            "'_' and '-', e.g. twmkn9/albert-base-v2-squad2)."
        ) from problem


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
        self.convert = True
        self.total = 0
        self.done_before = 0  # bytes of the files already complete
        self.file_done = 0  # bytes of the file in flight
        self.deadline_floor = DEADLINE_FLOOR
        self.min_speed = MIN_SPEED
        self.session = None  # huggingface_hub's HTTP session, shared by the reader threads

    # --- helpers --------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if self.stage is not None:
            self.stage(text)

    def import_hint(self) -> str:
        task = tasks_using(self.task)[0].short if self.task else "T"
        return IMPORT_HINT.format(task=task)

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

    def _wait(self, worker: _Worker, deadline: float, what: str) -> tuple[str, object]:
        """The worker's next event, honouring cancel() and `deadline` on a timer meanwhile."""
        while True:
            self.check_cancel()
            left = deadline - time.monotonic()
            if left <= 0:
                raise DownloadError(what)
            got = worker.get(min(TICK, left))
            if got is not None:
                return got

    # --- the whole job --------------------------------------------------------------------------
    def execute(self) -> store.InstalledModel:
        if offline_mode():
            raise DownloadError(
                f"Cannot download {self.repo_id}: offline mode is on (HF_HUB_OFFLINE is set). "
                f"Unset HF_HUB_OFFLINE to download models. {self.import_hint()}"
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
        # The commit becomes a folder name and part of every file URL: a sha and nothing else.
        if not isinstance(commit, str) or not _COMMIT.fullmatch(commit.lower()):
            raise DownloadError(
                f"The Hub's answer for {self.repo_id} names no valid commit ({_shown(commit)} "
                "is not a 40-digit hex sha); nothing was downloaded. Check HF_ENDPOINT and try "
                "again later.")
        commit = commit.lower()
        if (isinstance(info.id, str) and info.id.lower() == self.repo_id.lower()
                and valid_repo_id(info.id)):
            self.repo_id = info.id  # the Hub's spelling
        remote, twice = _remote_files(info.siblings)
        try:
            names = wanted_files(remote)
        except Exception as exc:  # the typed model errors: say which repo
            raise type(exc)(f"{self.repo_id}: {exc}") from exc
        for name in names:
            if name in twice:
                raise DownloadError(
                    f"The Hub lists {name} of {self.repo_id} twice, with different sizes or "
                    "hashes; nothing was downloaded. Try again later.")
            self._check_listing(remote[name])

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
        names = shard_names(index)
        if len(names) > MAX_SHARDS:
            raise DownloadError(f"{self.repo_id}: {index.name} names {len(names)} weight files; "
                                f"Albert Lens reads at most {MAX_SHARDS}.")
        for name in names:
            if name not in remote:
                raise DownloadError(f"{self.repo_id}: {index.name} names {name}, which the "
                                    "repository does not have.")
            self._check_listing(remote[name])
            shards.append(remote[name])
        return shards

    def _check_listing(self, item: _RemoteFile) -> None:
        """Refuse a file whose listed size or hash makes no sense: we could not bound or check it."""
        what = f"{item.name} of {self.repo_id}"
        if not safe_file_name(item.name):
            raise DownloadError(f"The Hub lists an unsafe file name for {self.repo_id}: "
                                f"{_shown(item.name)}.")
        weights = item.name.endswith((".safetensors", ".bin"))
        cap = MAX_FILE_BYTES if weights else MAX_SMALL_FILE_BYTES
        size = item.size
        if type(size) is not int or not 0 <= size <= cap:
            raise DownloadError(
                f"The Hub lists no usable size for {what} ({_shown(size)}; expected a whole "
                f"number of bytes up to {format_size(cap)}); nothing was downloaded. "
                "Try again later.")
        if item.lfs_size is not None and item.lfs_size != size:
            raise DownloadError(
                f"The Hub lists two sizes for {what} ({size} and {_shown(item.lfs_size)}); "
                "nothing was downloaded. Try again later.")
        if item.lfs:
            if not isinstance(item.sha256, str) or not _SHA256.fullmatch(item.sha256.lower()):
                raise DownloadError(
                    f"The Hub lists no valid sha256 for {what}, so it could not be verified; "
                    "nothing was downloaded. Try again later.")
        elif not isinstance(item.blob_id, str) or not _COMMIT.fullmatch(item.blob_id.lower()):
            raise DownloadError(
                f"The Hub lists no valid git hash for {what}, so it could not be verified; "
                "nothing was downloaded. Try again later.")

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
        deadline = time.monotonic() + file_deadline(0, self.deadline_floor, self.min_speed)
        late = (f"The Hub did not answer for {self.repo_id} within "
                f"{self.deadline_floor:g} seconds: the connection is too slow or stalled. "
                "Run it again later.")

        def ask(worker: _Worker) -> None:
            worker.put("info", api.model_info(self.repo_id, revision=self.revision,
                                              files_metadata=True, timeout=self.timeout))

        attempt = 0
        while True:
            worker = _Worker(ask, "api")
            try:
                kind, value = self._wait(worker, deadline, late)
            finally:
                worker.abort()
            try:
                if kind == "error":
                    raise value
                return value
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
                f"HF_HUB_OFFLINE to download models. {self.import_hint()}")
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
        # huggingface_hub < 1.0 wraps only requests' status errors; an httpx client's arrive as
        # httpx's HTTPStatusError.
        if isinstance(exc, hf.HfHubHTTPError) or _is_httpx_status_error(exc):
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
        if (kind == "connection" and "ConnectError" in {c.__name__ for c in type(exc).__mro__}
                and _env_proxy(self.endpoint) is not None):
            # httpx says ConnectError, not ProxyError as requests does, when the proxy it was
            # told to use refuses the connection: the proxy is all it tried to reach.
            kind = "proxy"
        if kind == "proxy":
            return _Transient(
                f"Cannot reach {host} through the proxy: check the proxy settings "
                "(HTTPS_PROXY / HTTP_PROXY) or your connection.", exc, unreachable=True)
        if kind == "ssl":
            return DownloadError(
                f"The secure connection to {host} failed ({_short(exc)}). A proxy that inspects "
                "HTTPS needs its certificate in REQUESTS_CA_BUNDLE / SSL_CERT_FILE.")
        if kind is not None and reading is not None:
            return _Transient(f"The connection to {host} was lost while downloading {reading}.",
                              exc)
        if kind == "timeout":
            return _Transient(f"{host} did not answer within {self.timeout:g} seconds: check "
                              "your connection or proxy settings.", exc, unreachable=True)
        if kind == "connection":
            custom = ("" if self.endpoint == DEFAULT_ENDPOINT
                      else f" (the Hub address set by HF_ENDPOINT: {self.endpoint})")
            return _Transient(
                f"Cannot reach {host}{custom}: check your connection or proxy settings.", exc,
                unreachable=True)
        if isinstance(exc, OSError) and exc.errno is not None:
            return self._os_error(exc, store.downloads_dir())
        return DownloadError(f"Downloading {what} failed: {_short(exc)}")

    def _give_up(self, error: _Transient) -> DownloadError:
        hint = f" {self.import_hint()}" if error.unreachable else ""
        return DownloadError(f"{error} The download of {self.repo_id} did not finish; "
                             f"nothing was installed. Run it again to resume.{hint}")

    def _os_error(self, exc: OSError, where: Path) -> DownloadError:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            # What is still to come, not the whole model: some of it is on the disk already.
            needed = max(0, self.total - self.done_before - self.file_done)
            try:
                free = shutil.disk_usage(store.store_dir()).free
            except OSError:
                free = None
            return DownloadError(_no_space(store.store_dir(), needed, free))
        return DownloadError(f"Cannot write the download into {where}: "
                             f"{exc.strerror or exc}.")

    def _fetch(self, staging: Path, commit: str, item: _RemoteFile) -> None:
        """One file into `staging/<name>`, checked against its hash; resumes a `.part` file."""
        from huggingface_hub import hf_hub_url

        dest = staging / item.name
        if dest.is_file():
            # Left by an earlier run; kept only if it is what the Hub lists now.
            if dest.stat().st_size == item.size and self._hash_matches(dest, item):
                self.done_before += item.size
                self.report(item.name)
                return
            dest.unlink(missing_ok=True)
        part = dest.with_name(dest.name + ".part")
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._os_error(exc, part.parent) from exc
        url = hf_hub_url(self.repo_id, item.name, revision=commit, endpoint=self.endpoint)
        deadline = time.monotonic() + file_deadline(item.size, self.deadline_floor,
                                                    self.min_speed)
        attempt = 0
        while True:
            self.check_cancel()
            try:
                self._stream(url, part, item, deadline)
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

    def _too_slow(self, item: _RemoteFile) -> str:
        limit = file_deadline(item.size, self.deadline_floor, self.min_speed)
        return (f"Downloading {item.name} of {self.repo_id} took more than {limit:.0f} seconds "
                f"({format_size(item.size)}): the connection is too slow or stalled. "
                "What arrived is kept: run it again to resume.")

    def _overran(self, part: Path, item: _RemoteFile) -> DownloadError:
        part.unlink(missing_ok=True)
        host = urlparse(self.endpoint).netloc or self.endpoint
        return DownloadError(
            f"{host} sent more than the {item.size} bytes the Hub lists for {item.name} of "
            f"{self.repo_id}; the partial file was deleted and nothing was installed. Try again "
            "later.")

    def _stream(self, url: str, part: Path, item: _RemoteFile, deadline: float) -> None:
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        import engine

        have = part.stat().st_size if part.is_file() else 0
        if have > item.size:
            part.unlink()
            have = 0
        self.file_done = have
        self.report(item.name)
        if have == item.size and have > 0:
            return  # complete; the hash decides
        headers = build_hf_headers(token=self.token, library_name="albert-lens",
                                   library_version=engine.__version__)
        headers["Accept-Encoding"] = "identity"  # byte offsets must be the file's own
        if have:
            headers["Range"] = f"bytes={have}-"
        if self.session is None:
            self.session = get_session()
        session, timeout = self.session, self.timeout

        def read(worker: _Worker) -> None:
            with _open_stream(url, headers, timeout, session) as (response, chunks):
                worker.response = response
                if response.status_code >= 400:
                    _read_body(response)  # the error message is in the body
                if not worker.put("response", response):
                    return
                for chunk in chunks:
                    if worker.stopped.is_set() or (chunk and not worker.put("data", chunk)):
                        return
            worker.put("end")

        late = self._too_slow(item)
        worker = _Worker(read, item.name)
        finished = False
        try:
            kind, value = self._wait(worker, deadline, late)
            if kind == "error":
                raise self._raise_classified(value) from value
            response = value
            if response.status_code == 416 and have:
                part.unlink()  # our .part is not a prefix of this file: start over
                raise _Transient(f"{item.name}: the partial download did not match; restarting.")
            try:
                hf_raise_for_status(response)
            except Exception as exc:
                raise self._raise_classified(exc) from exc
            if have and response.status_code != 206:
                have = 0  # the server sent the whole file
                self.file_done = 0
            length = _content_length(response)
            if length is not None and have + length > item.size:
                raise self._overran(part, item)  # announced before a byte of it is written
            try:
                fh = open(part, "ab" if have else "wb")  # noqa: SIM115 - `with fh` below
            except OSError as exc:
                raise self._os_error(exc, part.parent) from exc
            with fh:
                while True:
                    kind, value = self._wait(worker, deadline, late)
                    if kind == "end":
                        finished = True
                        break
                    if kind == "error":
                        if network_error_kind(value) is None and isinstance(value, OSError):
                            # A socket error the HTTP library did not wrap: the read, not the disk.
                            host = urlparse(self.endpoint).netloc or self.endpoint
                            raise _Transient(f"The connection to {host} was lost while "
                                             f"downloading {item.name}.", value)
                        raise self._raise_classified(value, item.name) from value
                    chunk = value
                    if self.file_done + len(chunk) > item.size:
                        fh.close()
                        raise self._overran(part, item)  # not a byte past what the Hub lists
                    try:
                        _write_chunk(fh, chunk)
                    except OSError as exc:
                        raise self._os_error(exc, part.parent) from exc
                    self.file_done += len(chunk)
                    self.report(item.name)
                    self.check_cancel()
                    if self.file_done == item.size:
                        # All the Hub lists. The end of the body normally follows at once; more
                        # bytes mean the server overran; nothing within a tick is left unread.
                        after = worker.get(TICK)
                        if after is not None and after[0] == "data":
                            fh.close()
                            raise self._overran(part, item)
                        finished = after is not None and after[0] == "end"
                        break
        finally:
            if finished:
                worker.finish()
            else:
                worker.abort()
        size = part.stat().st_size
        if size < item.size:
            raise _Transient(f"The connection closed before {item.name} was complete.")

    def _raise_classified(self, exc: BaseException, reading: str | None = None
                          ) -> BaseException:
        error = self._classify(exc, reading)
        if isinstance(error, _Transient):
            error.cause = exc
        return error

    def _hash_matches(self, path: Path, item: _RemoteFile) -> bool:
        if item.lfs:
            return file_digest(path) == item.sha256.lower()
        return _git_blob_sha1(path) == item.blob_id.lower()

    def _verify(self, part: Path, item: _RemoteFile) -> None:
        size = part.stat().st_size
        problem = None
        if size != item.size:
            problem = f"it has {size} bytes, the Hub lists {item.size}"
        elif not self._hash_matches(part, item):
            problem = ("its sha256 does not match the Hub's" if item.lfs
                       else "its git hash does not match the Hub's")
        if problem is not None:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"The downloaded file {item.name} of {self.repo_id} is corrupt ({problem}); it "
                "was deleted and nothing was installed. Try the download again.")

    # --- installing -----------------------------------------------------------------------------
    def _check_nli(self, folder: Path) -> str:
        """Obvious premise/hypothesis pairs through a downloaded NLI model before it is offered:
        the Hub has checkpoints whose labels are swapped, and their verdicts would be reversed."""
        import engine
        from engine.tasks.zero_shot import check_nli_model

        self.say("Checking its labels")
        verdict = check_nli_model(engine.pipeline("zero-shot-classification", model=folder,
                                                  device="cpu", fold_lookalikes=False))
        if not verdict.ok:
            raise UnsupportedModelError(f"{self.repo_id} was not installed: {verdict.message}")
        return verdict.message

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
            if checked.pickled is not None:
                # The check read the pickle; its tensors are installed as model.safetensors and
                # the pickle goes back to staging (a failed install resumes from it, a finished
                # one deletes it), so no later load reads a pickle.
                old = pickle_files(tmp)
                write_safetensors(tmp, checked.pickled)
                try:
                    for name in old:
                        os.replace(tmp / name, staging / name)
                        moved.remove(name)
                except OSError as exc:
                    raise self._os_error(exc, staging) from exc
            # Converted before it is installed, so a model whose graph cannot be built (a full
            # disk, too little memory) is never left installed; its files go back to staging and
            # the next call resumes without downloading them again. Once every file is here, a
            # cancel only skips the conversion (done at first use then).
            if self.convert and not (self.cancel is not None and self.cancel()):
                self.say("Converting to ONNX")
                convert_folder(tmp, checked.task, checked.head)
            extra = {"requested_revision": self.revision or "main"}
            if checked.task == "nli":
                try:
                    extra["nli_check"] = self._check_nli(tmp)
                except UnsupportedModelError:
                    moved = []  # a model that reads pairs backwards: nothing of it is kept
                    store.discard_partial_downloads(self.repo_id)
                    raise
            known = {f.name: f.sha256 for f in files if f.sha256 and f.name != CONFIG}
            try:
                model = store.install_folder(
                    tmp, model_id=self.repo_id, task=checked.task, head=checked.head,
                    source="hub", revision=commit, origin=self.endpoint, known_sha256=known,
                    label_map=label_map if original is not None else {},
                    original_id2label=original,
                    extra=extra,
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
def _open_stream(url: str, headers: dict, timeout: float, session):
    """GET `url` as a stream on huggingface_hub's session: (response, iterator of chunks).

    huggingface_hub < 1.0 uses a requests.Session, later versions an httpx-style client; both
    follow redirects (the Hub sends LFS files from a CDN) and keep the Range header. `timeout`
    is the connect timeout and the read timeout of every socket read.
    """
    if callable(getattr(session, "stream", None)):  # httpx-style client
        with session.stream("GET", url, headers=headers, timeout=timeout,
                            follow_redirects=True) as response:
            yield response, response.iter_bytes(CHUNK_SIZE)
    else:  # requests.Session
        with session.get(url, headers=headers, stream=True,
                         timeout=(timeout, timeout)) as response:
            yield response, response.iter_content(CHUNK_SIZE)


def _content_length(response) -> int | None:
    value = (getattr(response, "headers", None) or {}).get("Content-Length")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _shut_socket(response) -> None:
    """Wake a read blocked on `response` from another thread: shut its socket down (closing the
    response there would wait for the reader's lock)."""
    candidates = []
    raw = getattr(response, "raw", None)  # requests -> urllib3
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    candidates.append(getattr(connection, "sock", None))
    fp = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
    candidates.append(getattr(fp, "_sock", None))
    stream = (getattr(response, "extensions", None) or {}).get("network_stream")  # httpx
    if stream is not None:
        with contextlib.suppress(Exception):
            candidates.append(stream.get_extra_info("socket"))
    for sock in candidates:
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            return


def _shown(value) -> str:
    """A value from the Hub, fit for a one-line message."""
    text = repr(value) if not isinstance(value, str) else value
    if not text.isprintable() or len(text) > 60:
        text = repr(text[:60])
    return text


def _read_body(response) -> None:
    """An error page, read under a budget (the server may be hostile and its body endless), kept
    where the HTTP library looks for it, so hf_raise_for_status can quote its message."""
    with contextlib.suppress(Exception):
        if hasattr(response, "iter_content"):  # requests
            response._content = response.raw.read(ERROR_BODY_BYTES) or b""
            response._content_consumed = True
        else:  # httpx: response.read() would take the whole body, however long
            body = bytearray()
            for chunk in response.iter_bytes(CHUNK_SIZE):
                body += chunk
                if len(body) >= ERROR_BODY_BYTES:
                    break
            response._content = bytes(body[:ERROR_BODY_BYTES])


_NETWORK_MODULES = ("requests", "urllib3", "httpx", "httpx2", "httpcore", "httpcore2")


def _is_httpx_status_error(exc: BaseException) -> bool:
    return (type(exc).__module__.split(".")[0] in _NETWORK_MODULES
            and any(cls.__name__ == "HTTPStatusError" for cls in type(exc).__mro__))


def _env_proxy(endpoint: str) -> str | None:
    """The proxy the environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) sets for
    `endpoint`, as requests and httpx read it; None when the endpoint is reached directly."""
    import urllib.request

    parsed = urlparse(endpoint)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parsed.scheme) or proxies.get("all")
    if not proxy or _no_proxy(parsed, proxies.get("no", "")):
        return None
    return proxy


def _no_proxy(url, no_proxy: str) -> bool:
    """Does NO_PROXY send `url` (a urlparse result) direct? The forms requests and httpx both
    accept: "*", a host or domain (".example.com" too), host:port, scheme://host, an IP
    network in CIDR notation."""
    import ipaddress
    import urllib.request

    host = url.hostname or ""
    for entry in (e.strip() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if "://" in entry:
            scheme, entry = entry.split("://", 1)
            if scheme != url.scheme:
                continue
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
            continue
        except ValueError:
            pass
        if urllib.request.proxy_bypass_environment(url.netloc or host, {"no": entry}):
            return True
    return False


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


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    digest.update(f"blob {path.stat().st_size}\0".encode())
    return file_digest(path, digest)


def _no_space(where: Path, needed: int, free: int | None) -> str:
    have = f", {format_size(free)} free" if free is not None else ""
    return (f"Not enough disk space in {where}: the download needs about {format_size(needed)}"
            f"{have}. Free some space, or set ALBERT_LENS_HOME to a folder on a larger disk.")


def _request_url(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    request = getattr(response, "request", None)
    return str(getattr(request, "url", "") or getattr(response, "url", "") or "")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
