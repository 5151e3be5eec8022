"""Run an untrusted-file reader in a child process that may crash, run away or be killed.

A native parser (pdfium) that aborts on an allocation failure, or that allocates gigabytes for a
small hostile file, would otherwise take the whole app with it. Here each job runs in a
child process with an address-space limit (RLIMIT_AS, where the OS enforces it), a CPU-time
backstop, no way to open a network socket, and a wall-clock deadline enforced by the parent, which
kills the child when it is reached or when the caller cancels. The parent gets the child's
messages as they come (JSON: lists, strings, numbers; never pickles, which could run code in
the parent), and a `ChildFailed` saying why when the child did not finish.

The child is started with multiprocessing's "spawn" method: a fresh interpreter (no fork of a
threaded Qt process), and one that also works in a PyInstaller build, whose entry point calls
`multiprocessing.freeze_support()` (packaging/entry.py). To keep the cost per job small, a child
that finished a job cleanly is kept for the next (see `Sandbox`); a child that failed is killed,
so a crash or a runaway allocation costs only the job it happened in.

A script that calls this at import time must guard its top level with
`if __name__ == "__main__":`, as for any multiprocessing use: the spawned child imports the main
script again.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import Cancelled

MEMORY_EXIT = 86  # the child ran out of memory in Python code (MemoryError)
_POLL_SECONDS = 0.05
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # one message from the child, at most
_MEMORY_SIGNALS = {getattr(signal, name) for name in ("SIGABRT", "SIGKILL") if hasattr(signal, name)}
_TIME_SIGNALS = {getattr(signal, name) for name in ("SIGXCPU",) if hasattr(signal, name)}


class ChildFailed(Exception):
    """The child did not finish. `kind`: "memory", "time", "crash" or "start"."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    seconds: float


# --- in the child ---------------------------------------------------------------------------------
def _limit_resources(limits: Limits) -> None:
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the parent's deadline still holds
        return
    cap = int(limits.memory_bytes)
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):
        kind = getattr(resource, name, None)
        if kind is None or (name == "RLIMIT_DATA" and sys.platform.startswith("linux")):
            continue  # on Linux RLIMIT_AS covers everything; elsewhere take what there is
        try:
            resource.setrlimit(kind, (cap, cap))
        except (ValueError, OSError):
            pass  # not supported here (macOS ignores RLIMIT_AS): the deadline still holds
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core dumps of hostile files
    except (ValueError, OSError):
        pass


def _refuse(*args, **kwargs):
    raise PermissionError("network access is disabled while reading an untrusted document")


def _block_network() -> None:
    """No sockets in the child: a seccomp filter on Linux, and the socket module everywhere."""
    if sys.platform.startswith("linux"):
        _seccomp_no_sockets()
    import _socket
    import socket

    for module in (socket, _socket):
        for name in ("socket", "socketpair", "create_connection", "create_server",
                     "getaddrinfo", "gethostbyname", "gethostbyname_ex", "fromfd"):
            if hasattr(module, name):
                setattr(module, name, _refuse)


# syscall numbers: (audit arch, socket, io_uring_setup)
_SECCOMP_ARCH = {
    "x86_64": (0xC000003E, 41, 425),
    "aarch64": (0xC00000B7, 198, 425),
}


def _seccomp_no_sockets() -> bool:
    """Make socket(2) (and io_uring, which can open sockets) fail with EACCES for this process.

    Installed with no_new_privs, which any process may do; inherited by threads made later. On
    an architecture not listed, nothing is installed (the socket module is still disabled).
    """
    import ctypes
    import errno
    import platform

    arch = _SECCOMP_ARCH.get(platform.machine())
    if arch is None:
        return False
    audit, socket_nr, uring_nr = arch

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | errno.EACCES
    code = [
        (ld, 0, 0, 4),                # architecture
        (jeq, 1, 0, audit),
        (ret, 0, 0, allow),           # another ABI: leave it alone
        (ld, 0, 0, 0),                # syscall number
        (jeq, 3, 0, socket_nr),
        (jeq, 2, 0, uring_nr),
        (jge, 1, 0, 0x40000000),      # the x32 ABI on x86_64: nothing here uses it
        (ret, 0, 0, allow),
        (ret, 0, 0, deny),
    ]
    filters = (Filter * len(code))(*[Filter(*op) for op in code])
    program = Program(len(code), filters)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            return False
        return libc.prctl(22, 2, ctypes.byref(program), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
    except (OSError, AttributeError):
        return False


def _child_main(conn, limits: Limits, preload: tuple[str, ...]) -> None:
    _limit_resources(limits)
    _block_network()
    try:
        for name in preload:
            importlib.import_module(name)
    except MemoryError:
        os._exit(MEMORY_EXIT)

    def send(*message) -> None:
        conn.send_bytes(encode(message))

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            break  # the parent retired us (or went away)
        if job is None:
            break
        target, args = job
        _renew_cpu_limit(limits)
        try:
            target(send, *args)
            send("__done__", _resident_bytes())
        except MemoryError:
            os._exit(MEMORY_EXIT)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
            try:
                send("__error__", f"{type(exc).__name__}: {exc}"[:500])
            except Exception:  # noqa: BLE001
                os._exit(1)
            break
    # Nothing to clean up that the OS does not: skip interpreter shutdown.
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(0)


def _renew_cpu_limit(limits: Limits) -> None:
    """The CPU-time backstop counts from now: a child reads several documents in turn."""
    try:
        import resource
    except ImportError:
        return
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime + limits.seconds) + 10
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            cpu = min(cpu, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard))
    except (ValueError, OSError):
        pass


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# --- in the parent --------------------------------------------------------------------------------
class _Child:
    def __init__(self, limits: Limits, preload: tuple[str, ...]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.limits = limits
        self.preload = preload
        self.jobs = 0
        self.conn, child_conn = context.Pipe(duplex=True)
        self.process = context.Process(target=_child_main, args=(child_conn, limits, preload),
                                       name="albert-lens-reader", daemon=True)
        try:
            self.process.start()
        finally:
            child_conn.close()

    def usable_for(self, limits: Limits, preload: tuple[str, ...]) -> bool:
        # The memory limit was set when it started; the deadline is the parent's, per job.
        return (self.limits.memory_bytes == limits.memory_bytes and self.preload == preload
                and self.process.is_alive())

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def retire(self) -> None:
        """Let it exit by itself (multiprocessing reaps it later); no wait here."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.conn.close()


class Sandbox:
    """Runs `target(send, *args)` in a limited child process.

    A child that finished a job cleanly waits for the next one (starting Python and pdfium
    again would cost more than reading a short document); one that failed, was cancelled or
    timed out is killed. A child is retired after `MAX_JOBS` jobs or once it holds more than a
    quarter of its memory limit, so each job starts with nearly all of the limit free.
    """

    MAX_JOBS = 50
    MAX_IDLE = 2

    def __init__(self, preload: tuple[str, ...] = ()) -> None:
        self.preload = tuple(preload)
        self._lock = threading.Lock()
        self._idle: list[_Child] = []

    def _take(self, limits: Limits) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.usable_for(limits, self.preload):
                    return child
                child.stop()
        return _Child(limits, self.preload)

    def _give_back(self, child: _Child, resident: int | None) -> None:
        child.jobs += 1
        worn = child.jobs >= self.MAX_JOBS or resident is None or \
            resident > child.limits.memory_bytes // 4
        with self._lock:
            if not worn and len(self._idle) < self.MAX_IDLE:
                self._idle.append(child)
                return
        child.retire()

    def close(self) -> None:
        """Stop the idle children (they are also stopped when this process exits)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.stop()

    def run(self, target: Callable, args: tuple, limits: Limits,
            on_message: Callable[[tuple], None],
            cancel: Callable[[], bool] | None = None) -> None:
        """Run the job; each message the child sends goes to `on_message` (which may raise to
        stop the child). Raises `ChildFailed` or `engine.errors.Cancelled`."""
        try:
            child = self._take(limits)
        except Exception as exc:  # cannot start processes here
            raise ChildFailed("start", f"{type(exc).__name__}: {exc}") from exc
        conn, process = child.conn, child.process
        finished = False
        try:
            try:
                conn.send((target, args))
            except OSError:
                pass  # it died already: the exit code below says why
            deadline = time.monotonic() + limits.seconds
            while True:
                if cancel is not None and cancel():
                    raise Cancelled("reading the document was cancelled")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChildFailed("time")
                try:
                    if not conn.poll(min(_POLL_SECONDS, left)):
                        continue
                    raw = conn.recv_bytes(MAX_MESSAGE_BYTES)
                except EOFError:
                    break  # the child is gone
                except OSError as exc:
                    if not process.is_alive():
                        break
                    raise ChildFailed("crash", f"bad message ({exc})") from None
                message = _decode(raw)
                if message[0] == "__done__":
                    finished = True
                    resident = message[1] if len(message) > 1 and type(message[1]) is int \
                        else None
                    self._give_back(child, resident)
                    return
                if message[0] == "__error__":
                    detail = message[1] if len(message) > 1 and isinstance(message[1], str) \
                        else "an error it did not explain"
                    raise ChildFailed("crash", detail[:200])
                on_message(message)
            process.join(5)
            raise _classify(process.exitcode)
        finally:
            if not finished:
                child.stop()


def encode(message: tuple) -> bytes:
    """How the child's messages travel: JSON, not pickle, so that a child taken over by a
    hostile file cannot make the parent run code by what it sends."""
    return json.dumps(message, separators=(",", ":")).encode("utf-8")


def _decode(raw: bytes) -> tuple:
    try:
        message = json.loads(raw)
    except ValueError:
        raise ChildFailed("crash", "unreadable message") from None
    if not isinstance(message, list) or not message or not isinstance(message[0], str):
        raise ChildFailed("crash", "malformed message")
    return tuple(message)


def _classify(code: int | None) -> ChildFailed:
    if code == MEMORY_EXIT:
        return ChildFailed("memory", "MemoryError")
    if code is not None and code < 0:
        number = -code
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number in _MEMORY_SIGNALS:
            return ChildFailed("memory", name)
        if number in _TIME_SIGNALS:
            return ChildFailed("time", name)
        return ChildFailed("crash", name)
    return ChildFailed("crash", f"exit code {code}")
