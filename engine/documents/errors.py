"""Why a document could not be read.

Every error names the file and says what the person can do about it; `str(error)` is meant to be
shown as it is. Each one keeps the offending path in `.path` (None for pasted text).
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import DocumentError


class _DocumentError(DocumentError):
    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class FileUnreadableError(_DocumentError):
    """The path is missing, a folder, a broken link, a device or pipe, or not readable."""


class EmptyDocumentError(_DocumentError):
    """The file is empty or holds no text at all."""


class UnsupportedFormatError(_DocumentError):
    """A binary or unknown format (an image, an archive, an old .doc...)."""


class FileTooLargeError(_DocumentError):
    """The file (or the text in it) is above a limit set in `load_document`'s options."""


class EncryptedDocumentError(_DocumentError):
    """A password-protected PDF, an encrypted Office file or a DRM-protected EPUB."""


class NoTextLayerError(_DocumentError):
    """A PDF whose pages are only images (a scan) with no text to read."""


class CorruptDocumentError(_DocumentError):
    """A truncated or malformed file that its format's reader cannot make sense of."""


class ArchiveBombError(_DocumentError):
    """A compressed file that would unpack to more than allowed: a DOCX/EPUB (ZIP) over the size
    or file-count cap, or a PDF whose compressed page content inflates past the size cap."""


__all__ = [
    "ArchiveBombError",
    "CorruptDocumentError",
    "DocumentError",
    "EmptyDocumentError",
    "EncryptedDocumentError",
    "FileTooLargeError",
    "FileUnreadableError",
    "NoTextLayerError",
    "UnsupportedFormatError",
]
