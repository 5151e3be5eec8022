"""ZIP packages (DOCX, EPUB, and any other caller's ZIP) read within a budget.

Before zipfile sees the file, the end-of-central-directory record is read by hand so that an
archive claiming millions of entries is refused without building them. Every member is read as a
stream through a counter shared by the whole package: past `max_decompressed_bytes` in all,
ArchiveBombError, whatever sizes the archive declares.

Only stored and Deflate members are read. zipfile inflates Deflate in steps of at most the size
asked for, but hands a whole compressed chunk to the bzip2 and LZMA decompressors in one call:
a few kilobytes of bzip2 become gigabytes before any counter sees a byte. Real DOCX and EPUB
files (and torch.save archives) only ever use the first two methods.

`open_member` / `read_member` are the same bounded reading for any `zipfile.ZipFile` (model
files, for instance); they raise `ZipMemberError` subclasses that the caller words for its users.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import Self

from engine.documents._files import open_binary
from engine.documents.errors import (
    ArchiveBombError,
    CorruptDocumentError,
    EncryptedDocumentError,
    UnsupportedFormatError,
)
from engine.sizes import format_size

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_MAX_CENTRAL_DIRECTORY = 64 * 1024 * 1024
_READ = 256 * 1024

# The only methods whose zipfile decompression is bounded by the size asked for.
SAFE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_METHOD_NAMES = {1: "Shrink", 6: "Implode", 9: "Deflate64", 12: "bzip2", 14: "LZMA",
                 93: "Zstandard", 95: "xz", 96: "JPEG", 97: "WavPack", 98: "PPMd",
                 99: "AES encryption"}


def method_name(method: int) -> str:
    return f"{_METHOD_NAMES.get(method, 'an unknown')} compression (ZIP method {method})"


# --- bounded member reading for any ZipFile -----------------------------------------------------------
class ZipMemberError(ValueError):
    """A member that must not be read; `.member` is its name inside the archive."""

    def __init__(self, message: str, member: str) -> None:
        super().__init__(message)
        self.member = member


class UnsafeCompressionError(ZipMemberError):
    """Compressed with a method other than stored or Deflate (`.method`)."""

    def __init__(self, member: str, method: int) -> None:
        super().__init__(f"the part {member} uses {method_name(method)}, which is not read",
                         member)
        self.method = method


class EncryptedMemberError(ZipMemberError):
    """Password-protected member."""


class MemberTooLargeError(ZipMemberError):
    """Unpacks to more than the budget allows; `.unpacked` is at least how much."""

    def __init__(self, member: str, unpacked: int) -> None:
        super().__init__(f"the part {member} unpacks to more than allowed "
                         f"({format_size(unpacked)} or more)", member)
        self.unpacked = unpacked


class MemberDamagedError(ZipMemberError):
    """zipfile could not open or inflate it (bad header, CRC, truncated data...)."""


_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
               ValueError, OSError, EOFError, zlib.error, struct.error)


class Budget:
    """Bytes left to unpack, shared by every member read against it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    @property
    def used(self) -> int:
        return self.limit - self.left


def check_member(info: zipfile.ZipInfo) -> None:
    """Refuses a member that cannot be read safely, before anything is decompressed."""
    if info.flag_bits & 0x1:
        raise EncryptedMemberError(f"the part {info.filename} is encrypted", info.filename)
    if info.compress_type not in SAFE_METHODS:
        raise UnsafeCompressionError(info.filename, info.compress_type)


def open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo | str,
                budget: Budget | int) -> BoundedMemberReader:
    """A stream over one member that never unpacks more than `budget` bytes (an int, or a
    `Budget` shared with other members), whatever the archive declares.

    Raises `ZipMemberError` subclasses: when opening (`UnsafeCompressionError`,
    `EncryptedMemberError`, `MemberTooLargeError` for a declared size already over the
    budget, `MemberDamagedError`) and while reading (`MemberTooLargeError`,
    `MemberDamagedError`).
    """
    if not isinstance(budget, Budget):
        budget = Budget(budget)
    if isinstance(info, str):
        try:
            info = zf.getinfo(info)
        except KeyError:
            raise MemberDamagedError(f"the part {info} is missing", info) from None
    check_member(info)
    if info.file_size > budget.left:
        raise MemberTooLargeError(info.filename, budget.used + info.file_size)
    try:
        stream = zf.open(info)
    except _ZIP_ERRORS as exc:
        raise MemberDamagedError(f"the part {info.filename} cannot be opened ({exc})",
                                 info.filename) from None
    return BoundedMemberReader(stream, info.filename, budget)


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo | str, budget: Budget | int,
                ) -> bytes:
    """The whole member, read through `open_member` (same errors)."""
    with open_member(zf, info, budget) as stream:
        return _read_all(stream)


def _read_all(stream) -> bytes:
    chunks = []
    while chunk := stream.read(_READ):
        chunks.append(chunk)
    return b"".join(chunks)


class _Closable:
    """`with` closes it."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BoundedMemberReader(_Closable):
    """A member stream that charges every byte it returns to a `Budget`."""

    def __init__(self, stream, name: str, budget: Budget) -> None:
        self._stream = stream
        self.name = name
        self.budget = budget

    def read(self, n: int = -1) -> bytes:
        # Small steps: zipfile's Deflate output per call is bounded by the size asked for.
        if n is None or n < 0 or n > _READ:
            n = _READ
        try:
            data = self._stream.read(n)
        except _ZIP_ERRORS as exc:
            raise MemberDamagedError(f"the part {self.name} is damaged ({exc})",
                                     self.name) from None
        self.budget.left -= len(data)
        if self.budget.left < 0:
            raise MemberTooLargeError(self.name, self.budget.used)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()


# --- DOCX / EPUB packages ---------------------------------------------------------------------------
class BoundedZip(_Closable):
    def __init__(self, path: Path, kind: str, max_decompressed_bytes: int,
                 max_entries: int) -> None:
        self.path = path
        self.kind = kind  # "Word document", "EPUB book": for messages
        self.budget = Budget(max_decompressed_bytes)
        self.limit = max_decompressed_bytes
        self._folded: dict[str, str] | None = None
        self._file = open_binary(path)
        try:
            entries, cd_size = self._central_directory()
            if entries > max_entries or cd_size > _MAX_CENTRAL_DIRECTORY:
                raise ArchiveBombError(
                    f'"{path.name}" is a {kind} packing {entries} files, far more than any '
                    f"real {kind} has (the limit is {max_entries}). It may be a zip bomb; it "
                    "was not unpacked.", path)
            try:
                self.zip = zipfile.ZipFile(self._file)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError,
                    struct.error, UnicodeDecodeError) as exc:
                raise self.corrupt(f"its ZIP structure is damaged ({exc})") from None
            declared = sum(info.file_size for info in self.zip.infolist())
            if declared > self.limit:
                raise self.bomb(declared)
        except BaseException:
            self._file.close()
            raise

    # --- errors -----------------------------------------------------------------------------------
    def corrupt(self, why: str) -> CorruptDocumentError:
        return CorruptDocumentError(
            f'"{self.path.name}" is not a readable {self.kind}: {why}. It may be truncated or '
            "damaged; try re-downloading or re-saving it.", self.path)

    def bomb(self, size: int) -> ArchiveBombError:
        return ArchiveBombError(
            f'"{self.path.name}" would unpack to {format_size(size)}, above the '
            f"{format_size(self.limit)} limit for a {self.kind}. It may be a zip bomb; it was not "
            "unpacked. If it is genuine, raise max_decompressed_bytes.", self.path)

    # --- reading ----------------------------------------------------------------------------------
    def _central_directory(self) -> tuple[int, int]:
        f = self._file
        f.seek(0, 2)
        size = f.tell()
        tail_len = min(size, _EOCD.size + 65535)
        f.seek(size - tail_len)
        tail = f.read(tail_len)
        pos = tail.rfind(b"PK\x05\x06")
        if pos < 0 or len(tail) - pos < _EOCD.size:
            raise self.corrupt("the end of the ZIP archive is missing")
        _, _, _, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, pos)
        if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
            loc = pos - _ZIP64_LOCATOR.size
            if loc >= 0 and tail[loc:loc + 4] == b"PK\x06\x07":
                _, _, z64_offset, _ = _ZIP64_LOCATOR.unpack_from(tail, loc)
                if z64_offset < size:
                    f.seek(z64_offset)
                    record = f.read(_ZIP64_EOCD.size)
                    if len(record) == _ZIP64_EOCD.size and record[:4] == b"PK\x06\x06":
                        fields = _ZIP64_EOCD.unpack(record)
                        entries, cd_size = fields[7], fields[8]
        f.seek(0)
        return entries, cd_size

    def names(self) -> list[str]:
        return self.zip.namelist()

    def has(self, name: str) -> bool:
        try:
            self.zip.getinfo(name)
        except KeyError:
            return False
        return True

    def find(self, name: str) -> str | None:
        """The member called `name`, matching case-insensitively if needed."""
        if self.has(name):
            return name
        if self._folded is None:  # built once: a book may look up thousands of missing names
            self._folded = {}
            for candidate in self.zip.namelist():
                self._folded.setdefault(candidate.lower(), candidate)
        return self._folded.get(name.lower())

    def open(self, name: str) -> _PackageReader:
        try:
            return _PackageReader(self, open_member(self.zip, name, self.budget))
        except ZipMemberError as exc:
            raise self.translate(exc) from None

    def read(self, name: str) -> bytes:
        with self.open(name) as stream:
            return _read_all(stream)

    def translate(self, exc: ZipMemberError) -> Exception:
        """The document error a person should see for a member that cannot be read."""
        if isinstance(exc, MemberTooLargeError):
            return self.bomb(exc.unpacked)
        if isinstance(exc, EncryptedMemberError):
            return EncryptedDocumentError(
                f'"{self.path.name}" is encrypted (its parts are password-protected). Save an '
                "unprotected copy and open that.", self.path)
        if isinstance(exc, UnsafeCompressionError):
            return UnsupportedFormatError(
                f'"{self.path.name}" packs its part {exc.member} with '
                f"{method_name(exc.method)}, which no real {self.kind} uses, so it was not "
                "unpacked. Re-save it in the program that made it.", self.path)
        return self.corrupt(str(exc))

    def close(self) -> None:
        try:
            zf = getattr(self, "zip", None)
            if zf is not None:
                zf.close()
        finally:
            self._file.close()


class _PackageReader(_Closable):
    """A package member's stream whose errors are already document errors."""

    def __init__(self, owner: BoundedZip, stream: BoundedMemberReader) -> None:
        self._owner = owner
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        try:
            return self._stream.read(n)
        except ZipMemberError as exc:
            raise self._owner.translate(exc) from None

    def close(self) -> None:
        self._stream.close()
