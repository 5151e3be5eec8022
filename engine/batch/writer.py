"""Rows to disk so that an interrupted run never leaves a corrupt output and a re-run resumes.

While a run goes on, rows are written as Parquet part files under `<out>.parts/run-<time>-<how>/`
(each written to a temporary name and renamed: a part is whole or absent). At the end one
commit streams the rows of the previous output that still stand and every part into a temporary
file beside `--out`, renames it over `--out` and removes the parts. A run killed at any point
leaves the previous output (or none) and whole parts; the next run reads both to know what is
done, analyses only the rest, and its commit takes each path's newest row once.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pyarrow as pa
import pyarrow.parquet as pq

from engine.batch import rows
from engine.errors import AlbertLensError

FORMATS = ("parquet", "jsonl")
PART_ROWS = 64          # rows in a part file at most...
PART_SECONDS = 5.0      # ...and the longest a computed row waits in memory
PARTS_SUFFIX = ".parts"


class BatchOutputError(AlbertLensError):
    """`--out` cannot be read as an earlier batch output, or written."""


class BatchBusyError(BatchOutputError):
    """Another `albert-lens batch` is writing the same `--out`."""


def format_for(out: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    return "jsonl" if Path(out).suffix.lower() in (".jsonl", ".ndjson", ".json") else "parquet"


class Output:
    """The output file, its parts folder, and what earlier runs already wrote to them."""

    def __init__(self, out: Path, fmt: str):
        self.out = Path(out).absolute()
        self.fmt = fmt
        self.parts = self.out.with_name(self.out.name + PARTS_SUFFIX)
        self._lock = None

    # --- one writer at a time -------------------------------------------------------------
    def __enter__(self) -> Self:
        from filelock import FileLock, Timeout

        if self.out.is_dir():
            raise BatchOutputError(f"--out {self.out} is a folder; give a file name, "
                                   "e.g. results.parquet")
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(str(self.out.with_name(f".{self.out.name}.lock")))
            self._lock.acquire(timeout=0)
        except Timeout as exc:
            raise BatchBusyError(f"another albert-lens batch is writing {self.out}; wait for it "
                                 "or choose another --out") from exc
        except OSError as exc:
            raise BatchOutputError(f"cannot write beside {self.out}: {exc.strerror}") from exc
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            self._lock.release()
            try:
                os.unlink(self._lock.lock_file)
            except OSError:
                pass

    # --- what is there --------------------------------------------------------------------
    def sources(self) -> list[Path]:
        """The previous output (if any), then every whole part, oldest first."""
        found = [self.out] if self.out.is_file() else []
        if self.parts.is_dir():
            for run in sorted(p for p in self.parts.iterdir() if p.is_dir()):
                found += sorted(p for p in run.iterdir()
                                if p.suffix == ".parquet" and not p.name.startswith("."))
        return found

    def done(self) -> dict[str, dict]:
        """path -> the key columns of its newest row, over the output and the parts. A part
        that cannot be read (a Ray write cut short) is dropped: its rows are done again."""
        newest: dict[str, dict] = {}
        for source in self.sources():
            try:
                for key in self._keys(source):
                    newest[key["path"]] = key
            except (pa.ArrowException, OSError, ValueError) as exc:
                if source == self.out:
                    raise BatchOutputError(
                        f"{self.out} exists and is not an albert-lens batch output ({exc}); "
                        "remove it or choose another --out") from exc
                source.unlink(missing_ok=True)
        return newest

    def _keys(self, source: Path) -> Iterator[dict]:
        if source == self.out and self.fmt == "jsonl":
            for row in _jsonl_rows(source):
                yield {k: row.get(k) for k in rows.KEY_COLUMNS}
            return
        parquet = pq.ParquetFile(source)
        missing = set(rows.KEY_COLUMNS) - set(parquet.schema_arrow.names)
        if missing:
            raise ValueError(f"no {', '.join(sorted(missing))} column")
        for batch in parquet.iter_batches(columns=list(rows.KEY_COLUMNS)):
            yield from batch.to_pylist()

    # --- writing --------------------------------------------------------------------------
    def new_run(self, how: str) -> Path:
        run = self.parts / f"run-{time.time_ns():020d}-{how}-{os.getpid()}"
        run.mkdir(parents=True, exist_ok=True)
        return run

    def part_writer(self) -> PartWriter:
        return PartWriter(self.new_run("local"))

    def commit(self, inputs: dict[str, tuple[int, int]]) -> tuple[int, int]:
        """Write `--out` from the previous output and the parts: for each input path (with its
        current size and mtime_ns) its newest row, once. Returns (rows, failed rows)."""
        sources = self.sources()
        winner: dict[str, tuple[int, int]] = {}
        for s, source in enumerate(sources):
            for r, key in enumerate(self._keys(source)):
                if inputs.get(key["path"]) == (key["size"], key["mtime_ns"]):
                    winner[key["path"]] = (s, r)
        tmp = self.out.with_name(f".{self.out.name}.tmp-{os.getpid()}")
        count = failed = 0
        try:
            with _Sink(tmp, self.fmt) as sink:
                for s, source in enumerate(sources):
                    if self.fmt == "parquet" and source.suffix == ".parquet":
                        # Parquet to Parquet as Arrow tables, never as Python rows: the commit
                        # is the one serial step of a cluster run.
                        table = _winners(source, s, winner)
                        sink.write_table(table)
                        count += table.num_rows
                        failed += table.column("status").to_pylist().count(rows.FAILED)
                        continue
                    for r, row, raw in self._rows(source):
                        if winner.get(row["path"]) == (s, r):
                            sink.write(row, raw)
                            count += 1
                            failed += row["status"] == rows.FAILED
                sink.close()
            os.replace(tmp, self.out)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _write_failed(self.out, exc) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.out.parent)
        shutil.rmtree(self.parts, ignore_errors=True)
        return count, failed

    def _rows(self, source: Path) -> Iterator[tuple[int, dict, str | None]]:
        if source == self.out and self.fmt == "jsonl":
            with open(source, encoding="utf-8") as fh:
                for r, line in enumerate(line for line in fh if line.strip()):
                    yield r, json.loads(line), line.rstrip("\n")
            return
        r = 0
        for batch in pq.ParquetFile(source).iter_batches():
            for row in batch.to_pylist():
                yield r, row, None
                r += 1


def _winners(source: Path, s: int, winner: dict[str, tuple[int, int]]) -> pa.Table:
    """The rows of one Parquet source that are their path's newest, in the batch schema."""
    table = pq.read_table(source)
    paths = table.column("path").to_pylist()
    keep = pa.array([winner.get(p) == (s, r) for r, p in enumerate(paths)], type=pa.bool_())
    return table.filter(keep).select(list(rows.COLUMNS)).cast(rows.SCHEMA)


def _jsonl_rows(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("a line is not a JSON object")
                yield row


class _Sink:
    """The committed file being written: Parquet row groups or JSON lines."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt
        self._buffer: list[dict] = []
        if fmt == "parquet":
            self._parquet = pq.ParquetWriter(path, rows.SCHEMA)
        else:
            self._file = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed by close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            self._close(flush=False)

    def write(self, row: dict, raw: str | None) -> None:
        if self.fmt == "jsonl":
            self._file.write((raw if raw is not None else json.dumps(
                row, ensure_ascii=False, allow_nan=False)) + "\n")
            return
        self._buffer.append(row)
        if len(self._buffer) >= 1024:
            self._flush()

    def write_table(self, table: pa.Table) -> None:
        self._flush()
        if table.num_rows:
            self._parquet.write_table(table)

    def _flush(self) -> None:
        if self._buffer:
            self._parquet.write_table(rows.table(self._buffer))
            self._buffer = []

    def close(self) -> None:
        self._close(flush=True)

    def _close(self, flush: bool) -> None:
        if self.fmt == "jsonl":
            if not self._file.closed:
                self._file.flush()
                if flush:
                    os.fsync(self._file.fileno())
                self._file.close()
            return
        if flush:
            self._flush()
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
            if flush:
                with open(self.path, "rb") as fh:
                    os.fsync(fh.fileno())


class PartWriter:
    """Rows of this run, in whole part files: `add` keeps a row, and writes a part when enough
    rows (or seconds) have gathered; `flush` writes what is left."""

    def __init__(self, run: Path, part_rows: int | None = None,
                 part_seconds: float = PART_SECONDS):
        self.run = run
        self.part_rows = part_rows or int(os.environ.get("ALBERT_LENS_BATCH_PART_ROWS")
                                          or PART_ROWS)
        self.part_seconds = part_seconds
        self._rows: list[dict] = []
        self._since = time.monotonic()
        self._seq = 0

    def add(self, row: dict) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.part_rows \
                or time.monotonic() - self._since >= self.part_seconds:
            self.flush()

    def flush(self) -> None:
        self._since = time.monotonic()
        if not self._rows:
            return
        self._seq += 1
        final = self.run / f"part-{self._seq:08d}.parquet"
        tmp = self.run / f".{final.name}.tmp"
        try:
            pq.write_table(rows.table(self._rows), tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _write_failed(self.run, exc) from exc
        self._rows = []


def _write_failed(where: Path, exc: OSError) -> BatchOutputError:
    """A write that failed (a full disk, most often): one line, and the run resumes later."""
    reason = exc.strerror or str(exc)
    return BatchOutputError(f"cannot write {where}: {reason}; free some space and run the same "
                            "command again: what is done is kept and resumed")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
