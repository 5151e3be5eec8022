"""ZIP packages (DOCX, EPUB) read within a budget: never unpack more than allowed.

Before zipfile sees the file, the end-of-central-directory record is read by hand so that an
archive claiming millions of entries is refused without building them. Every member is read as a
stream through a counter shared by the whole package: past `max_decompressed_bytes` in all,
ArchiveBombError, whatever sizes the archive declares.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import Self

from engine.documents._files import human_size, open_binary
from engine.documents.errors import (
    ArchiveBombError,
    CorruptDocumentError,
    EncryptedDocumentError,
)

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_MAX_CENTRAL_DIRECTORY = 64 * 1024 * 1024
_READ = 256 * 1024


class BoundedZip:
    def __init__(self, path: Path, kind: str, max_decompressed_bytes: int,
                 max_entries: int) -> None:
        self.path = path
        self.kind = kind  # "Word document", "EPUB book": for messages
        self.budget = max_decompressed_bytes
        self.limit = max_decompressed_bytes
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
            f'"{self.path.name}" would unpack to {human_size(size)}, above the '
            f"{human_size(self.limit)} limit for a {self.kind}. It may be a zip bomb; it was not "
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
        lowered = name.lower()
        for candidate in self.zip.namelist():
            if candidate.lower() == lowered:
                return candidate
        return None

    def open(self, name: str) -> _CountingReader:
        try:
            info = self.zip.getinfo(name)
        except KeyError:
            raise self.corrupt(f"the part {name} is missing") from None
        if info.flag_bits & 0x1:
            raise EncryptedDocumentError(
                f'"{self.path.name}" is encrypted (its parts are password-protected). Save an '
                "unprotected copy and open that.", self.path)
        if info.file_size > self.budget:
            raise self.bomb(self.limit - self.budget + info.file_size)
        try:
            stream = self.zip.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError,
                EOFError, zlib.error, struct.error) as exc:
            raise self.corrupt(f"the part {name} cannot be opened ({exc})") from None
        return _CountingReader(self, stream, name)

    def read(self, name: str) -> bytes:
        with self.open(name) as stream:
            chunks = []
            while True:
                chunk = stream.read(_READ)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        try:
            zf = getattr(self, "zip", None)
            if zf is not None:
                zf.close()
        finally:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _CountingReader:
    """A member stream that charges every byte read to the package's budget."""

    def __init__(self, owner: BoundedZip, stream, name: str) -> None:
        self._owner = owner
        self._stream = stream
        self._name = name

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > _READ:
            n = _READ
        try:
            data = self._stream.read(n)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                NotImplementedError, struct.error) as exc:
            raise self._owner.corrupt(f"the part {self._name} is damaged ({exc})") from None
        self._owner.budget -= len(data)
        if self._owner.budget < 0:
            raise self._owner.bomb(self._owner.limit - self._owner.budget)
        return data

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
