"""Errors a user can cause, each with a message a person can act on.

The app shows `str(error)` in a dialog and the CLI prints it on one line, so messages name the
file or model and say what to do next.
"""

from __future__ import annotations


class AlbertLensError(Exception):
    """Base of every error the engine raises on purpose."""


# --- models -------------------------------------------------------------------------------------
class ModelError(AlbertLensError):
    """A model folder or model file cannot be used."""


class ModelNotFoundError(ModelError):
    """No model at the given path or catalog id, or no default installed for a task."""


class UnsupportedModelError(ModelError):
    """The folder holds a checkpoint this engine does not run (not ALBERT, unknown head...)."""


class UnsafeModelFileError(ModelError):
    """A model file would run code when loaded (a pickle with foreign globals, remote code)."""


class CorruptModelFileError(ModelError):
    """A model file is truncated, malformed or does not match its config."""


# --- devices ------------------------------------------------------------------------------------
class DeviceError(AlbertLensError):
    """The requested device or backend is not available."""


class BackendUnavailableError(DeviceError):
    """An optional backend (torch) is not installed."""


# --- documents ----------------------------------------------------------------------------------
class DocumentError(AlbertLensError):
    """A document cannot be read."""


# --- downloads ----------------------------------------------------------------------------------
class DownloadError(AlbertLensError):
    """A model download failed; nothing half-installed is left behind."""


class DownloadCancelled(DownloadError):
    """The user cancelled a download."""


# --- work ---------------------------------------------------------------------------------------
class Cancelled(AlbertLensError):
    """The user cancelled a running analysis."""


# --- the model store (additions: issue 13) -------------------------------------------------------
class ModelFileUnreadableError(ModelError):
    """A model file exists but cannot be read (permissions, a folder where a file should be)."""


class ModelExistsError(ModelError):
    """A model with this id is already installed and replacing it was not asked for."""

    def __init__(self, message: str, model_id: str | None = None):
        super().__init__(message)
        self.model_id = model_id


class StoreError(ModelError):
    """The local model store cannot be used: not writable, not a folder, or busy for too long."""


# --- the Library (issue 16) ------------------------------------------------------------------------
class LibraryError(AlbertLensError):
    """A library cannot be opened or used: a bad name or path, a damaged or newer database."""


class LibraryBusyError(LibraryError):
    """Another process is updating the same library."""


# --- zero-shot classification and explanations (issue 17) -----------------------------------------
class InputTooLongError(AlbertLensError, ValueError):
    """An input is over a cap a task applies (explanations read one model window at most)."""
