"""The model catalog: the Hub checkpoints the app offers, read from `resources/models.toml`.

The catalog is data (see the comments in the TOML file for where each figure comes from); this
module only reads it. The kinds of model and the names they go by are engine.tasks.registry's.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from engine.tasks.registry import MODEL_KIND_NAMES, model_kind

# The kinds of model the store holds, from the task registry. Summarization (and retrieval) run on
# "embeddings" models.
TASKS = MODEL_KIND_NAMES


def canonical_task(task: str) -> str:
    """The kind of model a task name needs ("summarization" -> "embeddings"); ValueError if unknown.

    Not the pipeline's name (engine.tasks.registry.task_spec(task).name).
    """
    return model_kind(task).name


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    task: str
    title: str
    size_mb: float
    size_exact: bool
    licence: str
    metric: str
    standard: bool
    description: str = ""
    labels: tuple[str, ...] = ()
    label_map: dict[str, str] = field(default_factory=dict)

    @property
    def size_text(self) -> str:
        """"46.7 MB", or "about 47 MB" where the size is an estimate."""
        number = f"{self.size_mb:g}"
        return f"{number} MB" if self.size_exact else f"about {number} MB"

    @property
    def name(self) -> str:
        """The repository name without its owner."""
        return self.id.rsplit("/", 1)[-1]


def catalog_path() -> Path:
    """`resources/models.toml`: next to the source tree, or inside a frozen (PyInstaller) app."""
    candidates = [Path(__file__).resolve().parents[2] / "resources" / "models.toml"]
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.insert(0, Path(frozen) / "resources" / "models.toml")
    for path in candidates:
        if path.is_file():
            return path
    return candidates[-1]


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[CatalogEntry, ...]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"The model catalog {path} cannot be read: {exc}") from exc
    entries = []
    for raw in data.get("model", []):
        try:
            task = canonical_task(raw["task"])
            entries.append(CatalogEntry(
                id=str(raw["id"]),
                task=task,
                title=str(raw.get("title") or raw["id"]),
                size_mb=float(raw.get("size_mb", 0)),
                size_exact=bool(raw.get("size_exact", False)),
                licence=str(raw.get("licence", "unknown")),
                metric=str(raw.get("metric", "")),
                standard=bool(raw.get("standard", False)),
                description=str(raw.get("description", "")),
                labels=tuple(str(x) for x in raw.get("labels", ())),
                label_map={str(k): str(v) for k, v in (raw.get("label_map") or {}).items()},
            ))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"The model catalog {path} has a bad entry {raw!r}: {exc}") from exc
    return tuple(entries)


def load_catalog() -> list[CatalogEntry]:
    """Every catalog entry, in file order (empty when the catalog file is missing)."""
    return list(_load(str(catalog_path())))


def catalog_entry(model_id: str) -> CatalogEntry | None:
    """The catalog entry for a Hub id (case-insensitive, as the Hub is), or None."""
    wanted = str(model_id).strip().lower()
    for entry in load_catalog():
        if entry.id.lower() == wanted:
            return entry
    return None


def standard_pack() -> list[CatalogEntry]:
    """The models offered on first run: one per task, in TASKS order."""
    by_task = {e.task: e for e in reversed(load_catalog()) if e.standard}
    return [by_task[t] for t in TASKS if t in by_task]


def recommended_model(task: str) -> CatalogEntry | None:
    """The standard catalog model for a task name (any alias), or None."""
    task = canonical_task(task)
    for entry in standard_pack():
        if entry.task == task:
            return entry
    return None
