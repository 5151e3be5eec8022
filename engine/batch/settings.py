"""What a batch runs: tasks, their options, the models, and the identity of each model.

A row is done for a later run when its file is unchanged (path, size, mtime_ns) and it was made
with the same models (`id@revision`) and the same `analysis_key` (tasks and options).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.tasks.registry import task_spec

# The tasks whose results a row holds, by their --task names (engine/tasks/registry.py), and
# the ones run when --task is not given.
BATCH_TASKS = ("ner", "sentiment", "summary", "qa")
DEFAULT_TASKS = ("ner", "sentiment", "summary")


@dataclass(frozen=True)
class BatchSettings:
    tasks: tuple[str, ...]                       # registry short names, in the registry's order
    models: dict[str, str | None] = field(default_factory=dict)  # task -> folder, id or None
    questions: tuple[str, ...] = ()
    device: str = "auto"
    precision: str = "fp32"
    aggregation: str = "simple"
    top_k: int = 1
    thorough: bool = False
    sentences: int = 3
    ratio: float | None = None
    fold_lookalikes: bool = True

    def analysis(self) -> dict:
        """The options that change results (not where they run, nor how the models are named)."""
        data = asdict(self)
        for name in ("models", "device"):
            data.pop(name)
        data["tasks"] = list(self.tasks)
        data["questions"] = list(self.questions)
        return data

    def analysis_key(self) -> str:
        return json.dumps(self.analysis(), sort_keys=True, ensure_ascii=False)


def short_task(name: str) -> str:
    return task_spec(name).short


@dataclass(frozen=True)
class ModelIdentity:
    task: str
    id: str
    revision: str

    def key(self) -> str:
        return f"{self.task}={self.id}@{self.revision}"


def model_identity(task: str, model_dir: Path) -> ModelIdentity:
    """`id` and `revision` of the model in `model_dir`: the store's id and Hub commit (an
    imported model: `sha256:` of its files' recorded hashes, as the Library keys models); any
    other folder: its path and `sha256:` of its files' contents (hashed once, remembered)."""
    from engine.models.store import read_metadata

    installed = read_metadata(Path(model_dir))
    if installed is not None:
        if installed.revision:
            return ModelIdentity(task, installed.id, installed.revision)
        # As engine.library.indexer.model_key (not imported: it brings the Library's SQLite).
        digest = hashlib.sha256(json.dumps(sorted(
            (name, info.get("sha256")) for name, info in installed.files.items())).encode())
        return ModelIdentity(task, installed.id, f"sha256:{digest.hexdigest()[:12]}")
    from engine.runtime.graph_cache import file_sha256

    folder = Path(model_dir).resolve()
    hashes = sorted((p.name, file_sha256(p)) for p in folder.iterdir()
                    if p.is_file() and not p.name.startswith("."))
    digest = hashlib.sha256(json.dumps(hashes).encode()).hexdigest()[:12]
    return ModelIdentity(task, os.fspath(folder), f"sha256:{digest}")


def models_key(identities) -> str:
    return ";".join(sorted(i.key() for i in identities))
