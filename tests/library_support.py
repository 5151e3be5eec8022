"""A corpus of real files for the Library tests, with facts placed in known documents."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.document_factory import make_docx, make_image_pdf, make_pdf

REPO = Path(__file__).resolve().parents[1]

FILLER = ("Committees met on Tuesdays to review the quarterly figures and the minutes were "
          "filed in the archive as usual.")

# word -> (file relative to the corpus, page or None)
FACTS = {
    "zebracorn": ("notes/alpha.txt", None),
    "quokkafest": ("notes/deep/beta.md", None),
    "marmotville": ("web/report.html", None),
    "capybara": ("paper.pdf", 2),
}


# Library stage -> (checkpoint kind of tests/checkpoint_factory, the model id tests install it as)
STAGE_MODELS = {"embeddings": ("encoder", "local/emb"), "ner": ("token", "local/ner"),
                "qa": ("qa", "local/qa")}


def install_models(home: Path, checkpoints, tasks=("embeddings", "ner")) -> Path:
    """A model store at `home` holding the tests' tiny models for `tasks` (graphs converted on
    first use, then cached for every test sharing the home)."""
    import pytest

    from engine.models.importer import import_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALBERT_LENS_HOME", str(home))
        for task in tasks:
            kind, model_id = STAGE_MODELS[task]
            import_model(checkpoints(kind), task, model_id=model_id, convert=False)
    return home


def filler(n: int) -> str:
    return " ".join([FILLER] * n)


def make_corpus(root: Path, *, pdf: bool = True, office: bool = True) -> Path:
    """Nested folders, every format, broken and empty files, a scan; returns `root`."""
    (root / "notes" / "deep").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "notes" / "alpha.txt").write_text(
        f"{filler(2)}\n\nThe zebracorn treaty was signed in Oslo in 1907.\n\n{filler(1)}\n",
        encoding="utf-8")
    (root / "notes" / "deep" / "beta.md").write_text(
        f"# Festivals\n\n{filler(1)}\n\nThe quokkafest takes place every June in Perth.\n\n"
        "The AᏞBERT engine reads documents written with look-alike letters.\n",
        encoding="utf-8")
    (root / "web" / "report.html").write_text(
        "<html><head><title>Town report</title></head><body><h1>Town report</h1>"
        f"<p>{filler(1)}</p><p>The mayor of marmotville is Ada Brook.</p>"
        "<script>var zebracorn = 1;</script></body></html>", encoding="utf-8")
    (root / "notes" / "empty.txt").write_bytes(b"")
    (root / "notes" / ".hidden.txt").write_text("zebracorn hidden", encoding="utf-8")
    (root / "notes" / "draft.txt~").write_text("zebracorn backup", encoding="utf-8")
    (root / "notes" / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / ".git").mkdir()
    (root / ".git" / "x.txt").write_text("zebracorn in a hidden folder", encoding="utf-8")
    if office:
        make_docx(root / "notes" / "quarter.docx")
        (root / "notes" / "broken.docx").write_bytes(b"PK\x03\x04 this is not a zip at all")
    if pdf:
        make_pdf(root / "paper.pdf", [
            [filler(1), "Page one talks about budgets only."],
            [filler(1), "The capybara census counted 4200 animals."],
        ], header=None)
        make_image_pdf(root / "scan.pdf", pages=1)
    return root


def dump(lib) -> dict:
    """Everything stage 1 stored, without ids or times: two libraries of the same files compare
    equal."""
    db = lib.store._db
    docs = sorted(db.execute("SELECT path, size, sha256, status, error, title, pages FROM "
                             "documents").fetchall())
    passages = sorted(db.execute(
        'SELECT d.path, p.seq, p.start, p."end", p.page, p.text, f.folded FROM passages p '
        "JOIN documents d ON d.id = p.document_id JOIN passage_fts f ON f.rowid = p.id"
    ).fetchall())
    orphans = db.execute("SELECT COUNT(*) FROM passage_fts WHERE rowid NOT IN "
                         "(SELECT id FROM passages)").fetchone()[0]
    return {"documents": docs, "passages": passages, "fts_orphans": orphans}


def run_python(code: str, env_home: Path, timeout: float = 60, wait: bool = True):
    """Run `code` in a fresh interpreter with the repository importable and our home."""
    env = dict(os.environ, ALBERT_LENS_HOME=str(env_home), PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def put_entities(lib, path, words, model: str = "ner@test") -> None:
    """Store entities for `words` ((text, type) pairs) at their places in the file's text, as
    the NER stage stores them: tests of the entity index without a NER model."""
    import engine
    from engine.library.storage import NewEntity

    store = lib.store
    row = store.document_by_path(str(path))
    text = engine.load_document(path).text
    passages = store.passages_of(row.id)
    found = []
    for word, type_ in words:
        at = text.index(word)
        passage = next(p for p in passages if p.start <= at < p.end)
        found.append(NewEntity(passage.id, type_, type_, at, at + len(word), word,
                               " ".join(word.casefold().split()), 0.9))
    store.put_entities(row.id, model, found)


def dump_all(lib) -> dict:
    """`dump` and what the model stages stored, without ids or times: each document's stage
    keys, its embeddings as {(path, passage seq, model): vector} and its entities as a sorted
    list (a duplicate row shows as a second equal item). Compare two with `assert_same_index`."""
    import numpy as np

    db = lib.store._db
    out = dump(lib)
    out["stages"] = sorted(db.execute(
        "SELECT path, embed_model, ner_model FROM documents").fetchall())
    rows = db.execute(
        "SELECT d.path, p.seq, e.model, e.vector FROM embeddings e JOIN passages p ON "
        "p.id = e.passage_id JOIN documents d ON d.id = p.document_id").fetchall()
    out["embeddings"] = {(path, seq, model): np.frombuffer(blob, dtype="<f4")
                         for path, seq, model, blob in rows}
    out["embedding_rows"] = len(rows)
    out["entities"] = sorted(db.execute(
        'SELECT d.path, p.seq, e.label, e.type, e.start, e."end", e.text, e.key, e.model, '
        "e.score FROM entities e JOIN documents d ON d.id = e.document_id "
        "LEFT JOIN passages p ON p.id = e.passage_id").fetchall(),
        key=lambda r: tuple(-1 if v is None else v for v in r))
    return out


def assert_same_index(found: dict, expected: dict, atol: float = 1e-6) -> None:
    """Two `dump_all`s are the same index: equal rows, vectors and scores within `atol`."""
    import numpy as np
    import pytest

    plain = ("documents", "passages", "fts_orphans", "stages", "embedding_rows")
    assert {k: found[k] for k in plain} == {k: expected[k] for k in plain}
    assert found["embeddings"].keys() == expected["embeddings"].keys()
    for key, vector in expected["embeddings"].items():
        np.testing.assert_allclose(found["embeddings"][key], vector, rtol=0, atol=atol,
                                   err_msg=str(key))
    assert [r[:-1] for r in found["entities"]] == [r[:-1] for r in expected["entities"]]
    assert [r[-1] for r in found["entities"]] == \
        pytest.approx([r[-1] for r in expected["entities"]], abs=atol)
