"""Opening files safely: only regular files, never blocking, never reading more than asked."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from engine.documents.errors import FileUnreadableError

SNIFF_BYTES = 64 * 1024

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK: opening a FIFO must never wait for a writer; it changes nothing for regular files.
_OPEN_FLAGS |= getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


@dataclass(frozen=True)
class FileInfo:
    path: Path
    size: int
    head: bytes  # the first SNIFF_BYTES bytes

    @property
    def name(self) -> str:
        return self.path.name or str(self.path)



def _unreadable(path: Path, why: str) -> FileUnreadableError:
    return FileUnreadableError(f'"{path.name or path}" {why}', path)


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """An open descriptor on a regular file, or FileUnreadableError saying why not."""
    try:
        before = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise _unreadable(path, "is a link to a file that no longer exists. Open the file it "
                                    "pointed to, or fix the link.") from None
        raise _unreadable(path, "does not exist. It may have been moved, renamed or deleted; "
                                "choose it again.") from None
    except PermissionError:
        raise _unreadable(path, "cannot be reached: permission denied on its folder. Check the "
                                "folder's permissions.") from None
    except OSError as exc:
        raise _unreadable(path, f"cannot be opened ({_reason(exc)}). Check the path.") from None
    if stat.S_ISDIR(before.st_mode):
        raise _unreadable(path, "is a folder, not a file. Choose a document inside it.")
    if not stat.S_ISREG(before.st_mode):
        raise _unreadable(path, "is not a regular file (it is a device, pipe or socket). Choose a "
                                "document file.")
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except PermissionError:
        raise _unreadable(path, "cannot be read: permission denied. Check the file's permissions "
                                "or copy it somewhere you can read it.") from None
    except OSError as exc:
        raise _unreadable(path, f"cannot be opened ({_reason(exc)}).") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped between stat and open
            raise _unreadable(path, "is not a regular file. Choose a document file.")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a loop of symbolic links"
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long"
    return exc.strerror or type(exc).__name__


def inspect_file(path: Path) -> FileInfo:
    """Checks the path is a readable regular file and reads its first bytes."""
    fd, st = _open_regular(path)
    try:
        head = _read_fd(fd, SNIFF_BYTES, path)
    finally:
        os.close(fd)
    return FileInfo(path=path, size=st.st_size, head=head)


def read_bytes(path: Path, limit: int) -> bytes:
    """At most `limit` bytes from the start of the file (never more, whatever its size)."""
    fd, _ = _open_regular(path)
    try:
        return _read_fd(fd, limit, path)
    finally:
        os.close(fd)


def open_binary(path: Path):
    """A binary file object for a regular file (for zipfile)."""
    fd, _ = _open_regular(path)
    try:
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_fd(fd: int, limit: int, path: Path) -> bytes:
    chunks: list[bytes] = []
    left = limit
    try:
        # One read of the whole (expected) size: no second copy of a large file in memory.
        step = min(left, max(os.fstat(fd).st_size + 1, 64 * 1024))
        while left > 0:
            chunk = os.read(fd, min(left, step))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
            step = 16 * 1024 * 1024
    except OSError as exc:
        raise _unreadable(path, f"could not be read ({_reason(exc)}). If it is on a network or "
                                "removable drive, copy it to this computer first.") from None
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)
