"""The Library's database: the only module that speaks SQLite.

One SQLite file (stdlib `sqlite3`) in WAL mode, so searches read while an update writes; every
write is one short transaction (one document's passages, one document's embeddings...), so a
crash loses at most the document in flight. The rest of `engine.library` goes through `Store`,
a small interface another backend could implement.

Schema version 1:

- `folders(path, recursive)`: what the user added.
- `documents`: one row per file: `path`, `size`, `mtime_ns`, `sha256` (change detection),
  `status` ("indexed" or "failed"), `error` (the loader's one-line reason), `title`, `format`,
  `pages`, and per model stage the model key whose rows are complete (`embed_model`,
  `ner_model`; NULL when the stage has not run on this version of the file).
- `document_texts(document_id, text)`: Document.text, zlib-compressed UTF-8, so the later
  stages read the document as the loader gave it without opening the file again (a table of
  its own: a blob among the documents' columns would make every scan of them read it).
- `passages(document_id, seq, start, end, page, text)`: `text == Document.text[start:end]`.
  Ids are never reused (AUTOINCREMENT), so an id another connection holds cannot come to
  mean another passage.
- `passage_fts`: FTS5 over each passage's look-alike-folded text (same length as `text`),
  rowid = the passage's id; kept in step by a trigger.
- `embeddings(passage_id, model, vector)`: float32 little-endian blobs, L2-normalised.
- `entities(document_id, passage_id, label, type, start, end, text, key, model, score)`;
  `passage_id` is NULL for an entity outside every passage (in Markdown markup, say).
- `meta(key, value)`: the schema version and the stages' notes (why one was skipped).
"""

from __future__ import annotations

import os
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import LibraryBusyError, LibraryError

SCHEMA_VERSION = 1
# A writer holds the database for milliseconds (one document); a reader that has waited this
# long is facing a stuck process.
BUSY_TIMEOUT_MS = 15_000

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    recursive INTEGER NOT NULL DEFAULT 1,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    title TEXT,
    format TEXT,
    pages INTEGER NOT NULL DEFAULT 0,
    chars INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL NOT NULL,
    embed_model TEXT,
    ner_model TEXT
);
CREATE INDEX IF NOT EXISTS documents_sha ON documents(sha256);
CREATE TABLE IF NOT EXISTS document_texts (
    document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    text BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    page INTEGER,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_document ON passages(document_id, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS passage_fts USING fts5(
    folded, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS passages_fts_delete AFTER DELETE ON passages BEGIN
    DELETE FROM passage_fts WHERE rowid = old.id;
END;
CREATE TABLE IF NOT EXISTS embeddings (
    passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (passage_id, model)
);
CREATE TABLE IF NOT EXISTS entities (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    passage_id INTEGER REFERENCES passages(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    type TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    score REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entities_key ON entities(key, type);
CREATE INDEX IF NOT EXISTS entities_document ON entities(document_id);
CREATE INDEX IF NOT EXISTS entities_passage ON entities(passage_id);
"""

# Each step takes the database from version i to i + 1; a newer file than this code is refused.
_MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1,)


@dataclass(frozen=True)
class DocumentRow:
    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str
    status: str
    error: str | None
    title: str | None
    format: str | None
    pages: int
    chars: int
    embed_model: str | None
    ner_model: str | None


@dataclass(frozen=True)
class PassageRow:
    id: int
    document_id: int
    start: int
    end: int
    page: int | None
    text: str


@dataclass(frozen=True)
class NewPassage:
    """A passage to store: `text` is the original, `folded` what keyword search matches."""

    start: int
    end: int
    page: int | None
    text: str
    folded: str


@dataclass(frozen=True)
class NewEntity:
    passage_id: int | None
    label: str
    type: str
    start: int
    end: int
    text: str
    key: str
    score: float


_DOC_COLUMNS = ("id, path, size, mtime_ns, sha256, status, error, title, format, pages, chars, "
                "embed_model, ner_model")


class Store:
    """The Library's tables in one SQLite file. Not shared between threads: open one per thread
    (or process); SQLite's WAL locking keeps them consistent."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                       isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise LibraryError(f"The library {self.path} cannot be opened: {exc}.") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise _error(self.path, exc) from exc

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: the write lock is taken at once, so two
        writers queue up under busy_timeout instead of failing half-way)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise _error(self.path, exc) from exc
        try:
            yield self._db
        except sqlite3.DatabaseError as exc:
            self._rollback()
            raise _error(self.path, exc) from exc
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._rollback()
                raise _error(self.path, exc) from exc

    def _rollback(self) -> None:
        # A failed COMMIT (a full disk) may have rolled back already: the first error is the
        # one to report, not "no transaction is active".
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass

    def _migrate(self) -> None:
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > len(_MIGRATIONS):
                raise LibraryError(
                    f"The library {self.path} was written by a newer Albert Lens (schema "
                    f"{version}); update Albert Lens to open it.")
            for step in _MIGRATIONS[version:]:
                for statement in _statements(step):
                    db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                       (str(len(_MIGRATIONS)),))

    def _query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _error(self.path, exc) from exc

    # --- meta ------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0][0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # --- folders ---------------------------------------------------------------------------------
    def add_folder(self, path: str, recursive: bool) -> bool:
        """Add (or update the recursion of) a folder; True when it was new."""
        with self.transaction() as db:
            found = db.execute("SELECT id FROM folders WHERE path = ?", (path,)).fetchone()
            if found:
                db.execute("UPDATE folders SET recursive = ? WHERE id = ?",
                           (int(recursive), found[0]))
                return False
            db.execute("INSERT INTO folders(path, recursive, added_at) VALUES (?, ?, ?)",
                       (path, int(recursive), time.time()))
            return True

    def remove_folder(self, path: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM folders WHERE path = ?", (path,)).rowcount > 0

    def folders(self) -> list[tuple[str, bool]]:
        return [(p, bool(r)) for p, r in
                self._query("SELECT path, recursive FROM folders ORDER BY path")]

    # --- documents -------------------------------------------------------------------------------
    def documents(self) -> list[DocumentRow]:
        return [DocumentRow(*r) for r in
                self._query(f"SELECT {_DOC_COLUMNS} FROM documents ORDER BY path")]

    def document(self, document_id: int) -> DocumentRow | None:
        rows = self._query(f"SELECT {_DOC_COLUMNS} FROM documents WHERE id = ?", (document_id,))
        return DocumentRow(*rows[0]) if rows else None

    def document_by_path(self, path: str) -> DocumentRow | None:
        rows = self._query(f"SELECT {_DOC_COLUMNS} FROM documents WHERE path = ?", (path,))
        return DocumentRow(*rows[0]) if rows else None

    def put_document(self, *, path: str, size: int, mtime_ns: int, sha256: str, status: str,
                     error: str | None, title: str | None, fmt: str | None, pages: int,
                     chars: int, passages: list[NewPassage], text: str | None = None) -> int:
        """Store one document and its passages in one transaction, replacing any earlier
        version of the file (its passages, embeddings and entities go with it)."""
        with self.transaction() as db:
            if db.execute("DELETE FROM documents WHERE path = ?", (path,)).rowcount:
                _bump_embeddings_version(db)  # its vectors went with it
            cur = db.execute(
                "INSERT INTO documents(path, size, mtime_ns, sha256, status, error, title, "
                "format, pages, chars, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (path, size, mtime_ns, sha256, status, error, title, fmt, pages, chars,
                 time.time()))
            doc_id = int(cur.lastrowid)
            if text is not None:
                db.execute("INSERT INTO document_texts(document_id, text) VALUES (?, ?)",
                           (doc_id, _pack(text)))
            for seq, p in enumerate(passages):
                cur = db.execute(
                    'INSERT INTO passages(document_id, seq, start, "end", page, text) '
                    "VALUES (?, ?, ?, ?, ?, ?)", (doc_id, seq, p.start, p.end, p.page, p.text))
                db.execute("INSERT INTO passage_fts(rowid, folded) VALUES (?, ?)",
                           (cur.lastrowid, p.folded))
            return doc_id

    def document_text(self, document_id: int) -> str | None:
        """The stored Document.text of an indexed document."""
        rows = self._query("SELECT text FROM document_texts WHERE document_id = ?",
                           (document_id,))
        return _unpack(rows[0][0]) if rows else None

    def touch_document(self, document_id: int, size: int, mtime_ns: int) -> None:
        """The file was saved again with the same content: remember its new size and time."""
        with self.transaction() as db:
            db.execute("UPDATE documents SET size = ?, mtime_ns = ? WHERE id = ?",
                       (size, mtime_ns, document_id))

    def move_document(self, document_id: int, path: str, size: int, mtime_ns: int,
                      title: str | None) -> None:
        """The same content under a new path (a rename): its index rows are kept."""
        with self.transaction() as db:
            if db.execute("DELETE FROM documents WHERE path = ? AND id != ?",
                          (path, document_id)).rowcount:
                _bump_embeddings_version(db)
            db.execute("UPDATE documents SET path = ?, size = ?, mtime_ns = ?, title = ? "
                       "WHERE id = ?", (path, size, mtime_ns, title, document_id))

    def delete_documents(self, document_ids: Iterable[int]) -> int:
        ids = list(document_ids)
        with self.transaction() as db:
            for doc_id in ids:
                db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            if ids:
                _bump_embeddings_version(db)
        return len(ids)

    # --- passages --------------------------------------------------------------------------------
    def passages_of(self, document_id: int) -> list[PassageRow]:
        return [PassageRow(*r) for r in self._query(
            'SELECT id, document_id, start, "end", page, text FROM passages '
            "WHERE document_id = ? ORDER BY seq", (document_id,))]

    def passage_counts(self) -> dict[int, int]:
        return dict(self._query("SELECT document_id, COUNT(*) FROM passages GROUP BY document_id"))

    def folded_of(self, passage_ids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in _chunks(passage_ids):
            marks = ",".join("?" * len(chunk))
            out.update(self._query(
                f"SELECT rowid, folded FROM passage_fts WHERE rowid IN ({marks})", chunk))
        return out

    def passages_by_id(self, passage_ids: list[int]) -> dict[int, tuple[PassageRow, str, str]]:
        """passage id -> (passage, its document's path, its document's title)."""
        out = {}
        for chunk in _chunks(passage_ids):
            marks = ",".join("?" * len(chunk))
            for row in self._query(
                    'SELECT p.id, p.document_id, p.start, p."end", p.page, p.text, d.path, '
                    f"d.title FROM passages p JOIN documents d ON d.id = p.document_id "
                    f"WHERE p.id IN ({marks})", chunk):
                out[row[0]] = (PassageRow(*row[:6]), row[6], row[7])
        return out

    def keyword_search(self, fts_query: str, limit: int) -> list[tuple[int, float]]:
        """(passage id, bm25) best first; SQLite's bm25 is lower-is-better, so it is negated."""
        try:
            rows = self._db.execute(
                "SELECT rowid, bm25(passage_fts) AS rank FROM passage_fts "
                "WHERE passage_fts MATCH ? ORDER BY rank LIMIT ?", (fts_query, limit)).fetchall()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and (
                    "fts5" in str(exc) or "syntax" in str(exc)):
                return []
            raise _error(self.path, exc) from exc
        return [(int(pid), -float(rank)) for pid, rank in rows]

    # --- embeddings ------------------------------------------------------------------------------
    def put_embeddings(self, document_id: int, model: str,
                       vectors: dict[int, np.ndarray]) -> None:
        """Swap in one document's embeddings by `model` in one transaction: rows of any other
        model for it go at the same moment, so search never sees the document half-done."""
        with self.transaction() as db:
            db.execute("DELETE FROM embeddings WHERE passage_id IN "
                       "(SELECT id FROM passages WHERE document_id = ?)", (document_id,))
            db.executemany(
                "INSERT INTO embeddings(passage_id, model, vector) VALUES (?, ?, ?)",
                [(pid, model, np.asarray(v, dtype="<f4").tobytes())
                 for pid, v in vectors.items()])
            db.execute("UPDATE documents SET embed_model = ? WHERE id = ?", (model, document_id))
            _bump_embeddings_version(db)

    def embedding_models(self) -> list[str]:
        return [r[0] for r in self._query(
            "SELECT DISTINCT embed_model FROM documents WHERE embed_model IS NOT NULL")]

    def embeddings(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(passage ids, (n, dim) float32 matrix) of every passage embedded by `model`."""
        rows = self._query("SELECT passage_id, vector FROM embeddings WHERE model = ? "
                           "ORDER BY passage_id", (model,))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        return ids, matrix

    # --- entities --------------------------------------------------------------------------------
    def put_entities(self, document_id: int, model: str, entities: list[NewEntity]) -> None:
        """Swap in one document's entities by `model` in one transaction (as embeddings)."""
        with self.transaction() as db:
            db.execute("DELETE FROM entities WHERE document_id = ?", (document_id,))
            db.executemany(
                'INSERT INTO entities(document_id, passage_id, label, type, start, "end", text, '
                "key, model, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(document_id, e.passage_id, e.label, e.type, e.start, e.end, e.text, e.key,
                  model, e.score) for e in entities])
            db.execute("UPDATE documents SET ner_model = ? WHERE id = ?", (model, document_id))

    def entity_groups(self, type_: str | None, key_like: str | None) -> list[tuple]:
        """(key, type, documents, mentions, most common text) per distinct entity."""
        where, params = [], []
        if type_:
            where.append("type = ?")
            params.append(type_)
        if key_like:
            where.append("instr(key, ?) > 0")
            params.append(key_like)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._query(
            "SELECT key, type, COUNT(DISTINCT document_id), COUNT(*), "
            "(SELECT text FROM entities e2 WHERE e2.key = e.key AND e2.type = e.type "
            " GROUP BY text ORDER BY COUNT(*) DESC, text LIMIT 1) "
            f"FROM entities e {clause} GROUP BY key, type "
            "ORDER BY COUNT(DISTINCT document_id) DESC, COUNT(*) DESC, key", params)

    def documents_with_entity(self, key: str, type_: str | None) -> list[tuple[int, int]]:
        """(document id, mentions) of the documents that mention an entity."""
        sql = "SELECT document_id, COUNT(*) FROM entities WHERE key = ?"
        params: list = [key]
        if type_:
            sql += " AND type = ?"
            params.append(type_)
        return [(int(a), int(b)) for a, b in
                self._query(sql + " GROUP BY document_id ORDER BY document_id", params)]

    def passages_with_both(self, a: tuple[str, str | None],
                           b: tuple[str, str | None]) -> list[int]:
        """Ids of the passages that mention both entities (key, type or None), in order."""
        def part(alias: str, t: str | None) -> str:
            return f"{alias}.key = ?" + (f" AND {alias}.type = ?" if t else "")

        params = [a[0], *([a[1]] if a[1] else []), b[0], *([b[1]] if b[1] else [])]
        rows = self._query(
            "SELECT DISTINCT x.passage_id FROM entities x JOIN entities y "
            f"ON x.passage_id = y.passage_id WHERE {part('x', a[1])} AND {part('y', b[1])} "
            "ORDER BY x.passage_id", params)
        return [int(r[0]) for r in rows]

    def mentions(self, key: str, type_: str | None) -> list[tuple]:
        """(path, title, page, start, end, text, score) of every mention of an entity, in
        document and text order (page None outside every passage)."""
        sql = ('SELECT d.path, d.title, p.page, e.start, e."end", e.text, e.score FROM entities e '
               "JOIN documents d ON d.id = e.document_id "
               "LEFT JOIN passages p ON p.id = e.passage_id WHERE e.key = ?")
        params: list = [key]
        if type_:
            sql += " AND e.type = ?"
            params.append(type_)
        return self._query(sql + ' ORDER BY d.path, e.start, e."end"', params)

    def entities_of(self, document_id: int) -> list[tuple]:
        """(label, type, start, end, text, score) of a document's entities, in text order."""
        return self._query('SELECT label, type, start, "end", text, score FROM entities '
                           'WHERE document_id = ? ORDER BY start, "end"', (document_id,))

    def embeddings_version(self) -> str:
        """Changes whenever any embeddings are written or deleted, by any process (a cache key
        for `embeddings`; reading it costs one row, not a scan of the vectors)."""
        rows = self._query("SELECT value FROM meta WHERE key = 'embeddings_version'")
        return rows[0][0] if rows else "0"

    def entities_in(self, passage_id: int) -> list[tuple]:
        return self._query('SELECT key, type, start, "end", text FROM entities '
                           "WHERE passage_id = ? ORDER BY start", (passage_id,))

    # --- counts ----------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        one = self._query(
            "SELECT COUNT(*), "
            "SUM(status = 'indexed'), SUM(status = 'failed'), "
            "SUM(status = 'indexed' AND embed_model IS NOT NULL), "
            "SUM(status = 'indexed' AND ner_model IS NOT NULL) FROM documents")[0]
        passages = self._query("SELECT COUNT(*) FROM passages")[0][0]
        embeddings = self._query("SELECT COUNT(*) FROM embeddings")[0][0]
        entities = self._query("SELECT COUNT(*) FROM entities")[0][0]
        return {"documents": one[0] or 0, "indexed": one[1] or 0, "failed": one[2] or 0,
                "embedded": one[3] or 0, "entities_done": one[4] or 0, "passages": passages,
                "embeddings": embeddings, "entities": entities}

    def failures(self) -> list[tuple[str, str]]:
        return self._query("SELECT path, error FROM documents WHERE status = 'failed' "
                           "ORDER BY path")

    def disk_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.stat(str(self.path) + suffix).st_size
            except OSError:
                pass
        return total

    def integrity_check(self) -> str:
        return self._query("PRAGMA integrity_check")[0][0]


def _statements(script: str) -> list[str]:
    """The statements of a schema script (a trigger's body keeps its own semicolons)."""
    out, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            out.append(joined)
            current = []
    return out


def _bump_embeddings_version(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO meta(key, value) VALUES ('embeddings_version', '1') "
               "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")


def _pack(text: str) -> bytes:
    # surrogatepass: a lone surrogate a loader let through comes back as it was.
    return zlib.compress(text.encode("utf-8", "surrogatepass"), 6)


def _unpack(blob: bytes) -> str:
    return zlib.decompress(blob).decode("utf-8", "surrogatepass")


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _error(path: Path, exc: sqlite3.Error) -> LibraryError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return LibraryBusyError(
            f"The library {path} is busy: another Albert Lens process is writing to it. "
            "Try again when it has finished.")
    if "full" in text:
        return LibraryError(f"The disk holding the library {path} is full. Free some space, "
                            "then update again: what was indexed stays.")
    if "readonly" in text or ("unable to open" in text and path.exists()):
        return LibraryError(f"The library {path} is on a location Albert Lens cannot write to "
                            "(it needs to, even to search); copy it somewhere writable and "
                            "open that copy.")
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text
                                                   or "malformed" in text):
        return LibraryError(f"{path} is not a usable library database ({text}). Move it away "
                            "and add the folders again.")
    return LibraryError(f"The library {path} cannot be used: {text}.")
