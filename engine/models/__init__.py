"""Models: the catalog of Hub checkpoints, downloads, imports from folders, and the local store.

    from engine.models import download_model, import_model, list_installed
    download_model("twmkn9/albert-base-v2-squad2", progress=print)

The downloader (huggingface_hub) is imported only when a download starts.
"""

from __future__ import annotations

from engine.models.catalog import (
    TASKS,
    CatalogEntry,
    canonical_task,
    catalog_entry,
    load_catalog,
    standard_pack,
)
from engine.models.store import (
    InstalledModel,
    default_model,
    default_model_dir,
    get_installed,
    installed_model_dir,
    list_installed,
    remove,
    set_default_model,
)


def download_model(repo_id: str, *args, **kwargs) -> InstalledModel:
    """See engine.models.download.download_model."""
    from engine.models.download import download_model as _download

    return _download(repo_id, *args, **kwargs)


def import_model(folder, task: str | None = None, model_id: str | None = None,
                 convert: bool = True, replace: bool = False) -> InstalledModel:
    """See engine.models.importer.import_model."""
    from engine.models.importer import import_model as _import

    return _import(folder, task, model_id=model_id, convert=convert, replace=replace)


def detect_task(model_dir) -> str | None:
    """The model task a checkpoint folder is for (one of TASKS), from its config; or None."""
    from engine.models.importer import detect_task as _detect

    return _detect(model_dir)


__all__ = [
    "TASKS",
    "CatalogEntry",
    "InstalledModel",
    "canonical_task",
    "catalog_entry",
    "default_model",
    "default_model_dir",
    "detect_task",
    "download_model",
    "get_installed",
    "import_model",
    "installed_model_dir",
    "list_installed",
    "load_catalog",
    "remove",
    "set_default_model",
    "standard_pack",
]
