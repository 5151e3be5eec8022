"""What every format loader gets: the file, the options, a text builder and a warnings list."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from engine.documents._files import FileInfo, read_bytes
from engine.documents.document import TextBuilder
from engine.documents.errors import FileTooLargeError
from engine.sizes import format_size

MB = 1024 * 1024


@dataclass(frozen=True)
class LoadOptions:
    """The settable limits and choices of `load_document` (see its docstring)."""

    max_bytes: int = 200 * MB
    truncate: bool = False
    max_file_bytes: int = 1024 * MB
    max_decompressed_bytes: int = 256 * MB
    max_archive_entries: int = 10_000
    max_chars: int = 200_000_000
    max_pages: int = 10_000
    max_markdown_bytes: int = 16 * MB
    password: str | None = None
    encoding: str | None = None
    format: str | None = None
    drop_headers_footers: bool = True

    @classmethod
    def from_kwargs(cls, options: dict) -> LoadOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"load_document() got unknown option(s): {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))}")
        made = cls(**options)
        for name in ("max_bytes", "max_file_bytes", "max_decompressed_bytes",
                     "max_archive_entries", "max_chars", "max_pages", "max_markdown_bytes"):
            value = getattr(made, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        return made


@dataclass
class LoadContext:
    info: FileInfo
    options: LoadOptions
    builder: TextBuilder
    warnings: list[str] = field(default_factory=list)
    title: str = ""

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def name(self) -> str:
        return self.info.name

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def read_all(self) -> tuple[bytes, bool]:
        """The file's bytes for formats read whole (text, Markdown, HTML): (data, truncated).

        Above `max_bytes`: FileTooLargeError, or with `truncate` the first `max_bytes` and a
        warning. Never reads more than `max_bytes` + 1 bytes, whatever the file's size.
        """
        limit = self.options.max_bytes
        size = self.info.size
        if size <= limit:
            data = read_bytes(self.path, limit + 1)  # the file may have grown since stat
            if len(data) <= limit:
                return data, False
            size = max(size, len(data))
        if not self.options.truncate:
            raise FileTooLargeError(
                f'"{self.name}" is {format_size(size)}, above the {format_size(limit)} limit for '
                "text documents. Split it into smaller files, or load only its beginning.",
                self.path)
        self.warn(f"only the first {format_size(limit)} of {format_size(size)} were loaded")
        return read_bytes(self.path, limit), True
