"""A folder of real documents for the batch tests, a model store with defaults, and helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from engine.batch.rows import RUN_COLUMNS
from tests.document_factory import make_docx, make_pdf

QUESTION = "Where was Marie Curie born?"
SENTENCES = ["Marie Curie was born in Warsaw in 1867.", "She moved to Paris to study physics.",
             "Pierre Curie worked with her in a small laboratory.",
             "They shared the Nobel Prize with Henri Becquerel."]


def install_models(checkpoints) -> None:
    """The tiny checkpoints installed as the store's defaults for every task."""
    from engine.models.importer import import_model

    import_model(checkpoints("token"), "ner", model_id="local/ner", convert=False)
    import_model(checkpoints("sequence"), "sentiment", model_id="local/sentiment", convert=False)
    import_model(checkpoints("encoder"), "embeddings", model_id="local/emb", convert=False)
    import_model(checkpoints("qa"), "qa", model_id="local/qa", convert=False)


def make_folder(root: Path) -> tuple[Path, list[Path], list[Path]]:
    """Nested folders with every format, broken files and files a walk skips:
    (root, readable documents, broken documents)."""
    (root / "a" / "b" / "c").mkdir(parents=True)
    text = "\n\n".join(SENTENCES)
    good = [root / "one.txt", root / "a" / "two.md", root / "a" / "b" / "three.html",
            root / "a" / "b" / "c" / "four.pdf", root / "a" / "five.docx"]
    good[0].write_text(text + "\n", encoding="utf-8")
    good[1].write_text("# Curie\n\n" + "\n\n".join(f"- {s}" for s in SENTENCES), encoding="utf-8")
    good[2].write_text("<html><body>" + "".join(f"<p>{s}</p>" for s in SENTENCES)
                       + "</body></html>", encoding="utf-8")
    make_pdf(good[3], [SENTENCES[:2], SENTENCES[2:]])
    make_docx(good[4])
    broken = [root / "a" / "broken.pdf", root / "a" / "b" / "broken.docx"]
    broken[0].write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nnot a pdf at all\n")
    broken[1].write_bytes(b"PK\x03\x04 this is not a zip archive")
    (root / ".hidden.txt").write_text("never read", encoding="utf-8")
    (root / "a" / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return root, good, broken


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return pq.read_table(path).to_pylist()


def results_only(row: dict) -> dict:
    """A row without what differs between two runs that computed the same thing."""
    return {k: v for k, v in row.items() if k not in RUN_COLUMNS}


def by_path(rows: list[dict]) -> dict[str, dict]:
    out = {r["path"]: r for r in rows}
    assert len(out) == len(rows), "a path has two rows"
    return out
