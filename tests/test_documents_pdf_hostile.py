"""Hostile PDFs: each is refused with its typed one-line error, within 1 GiB and 60 s, and the
process that asked survives (pdfium reads in a limited child process).

The files are written byte by byte here: small on disk, enormous once read. They are built so that
pdfium itself reads them (the xref offsets are exact), which is what makes them hostile.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from engine.documents import _sandbox, load_document, pdf
from engine.documents._context import LoadContext, LoadOptions
from engine.documents._files import inspect_file
from engine.documents.document import TextBuilder
from engine.documents.errors import (
    ArchiveBombError,
    CorruptDocumentError,
    FileTooLargeError,
)
from engine.errors import Cancelled
from tests.document_factory import pdf_file_bytes

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
GiB = 1024 * MB
_CHUNK = b" " * MB


def raw_pdf(content_objects: list[bytes], *, extra: list[bytes] = (), pages: int = 1) -> bytes:
    """A PDF whose page k shows content object(s); `content_objects` are object bodies.

    Objects: 1 catalog, 2 pages, 3 font, then one page object and one content object per page
    (page k is object 4 + 2k, its content 5 + 2k); `extra` objects follow, numbered from
    4 + 2 * pages.
    """
    assert len(content_objects) == pages
    kids = b" ".join(b"%d 0 R" % (4 + 2 * k) for k in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for k, content in enumerate(content_objects):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 3 0 R >> >> >>" % (5 + 2 * k))
        objects.append(content)
    objects.extend(extra)
    return pdf_file_bytes(objects)


def stream(data: bytes, entries: bytes = b"", eol: bytes = b"\n") -> bytes:
    return b"<< /Length %d %s >>\nstream%s" % (len(data), entries, eol) + data + b"\nendstream"


def deflate(data: bytes) -> bytes:
    return zlib.compress(data, 9)


@functools.lru_cache(maxsize=8)
def deflated_spaces(unpacked: int, head: bytes = b"BT /F1 12 Tf 72 700 Td (Hello) Tj ET\n") -> bytes:
    """A zlib stream of `head` and then about `unpacked` spaces, built in milliseconds.

    Each megabyte of spaces ends with a full flush, so its compressed form is the same bytes
    every time: compress it once and repeat it (the checksum is computed the cheap way).
    """
    c = zlib.compressobj(9)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(_CHUNK) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(_CHUNK) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again or len(again) == len(block)
    count = max(1, unpacked // MB)
    adler = zlib.adler32(head)
    for _ in range(count):
        adler = zlib.adler32(_CHUNK, adler)
    tail = b"\x03\x00" + adler.to_bytes(4, "big")  # an empty final fixed block, then adler32
    return first + again * count + tail


def deflate_chunks(pieces, repeat: int) -> bytes:
    """zlib of `pieces` repeated `repeat` times (streamed, never whole in memory)."""
    c = zlib.compressobj(9)
    out = [c.compress(b"".join(pieces)) for _ in range(repeat)]
    out.append(c.flush())
    return b"".join(out)


# --- the hostile files ----------------------------------------------------------------------------
def chain_bomb(unpacked: int = 2048 * MB) -> bytes:
    """`/Filter [/FlateDecode /FlateDecode]`: a few KB inflate twice to `unpacked` bytes."""
    inner = deflated_spaces(unpacked)
    return raw_pdf([stream(deflate(inner), b"/Filter [/FlateDecode /FlateDecode]")])


def far_filter_bomb(unpacked: int = 2048 * MB, gap: int = 3000) -> bytes:
    """`/Filter /FlateDecode` more than `gap` bytes before the `stream` keyword."""
    data = deflated_spaces(unpacked)
    padding = b"/Pad (" + b"x" * gap + b")"
    return raw_pdf([stream(data, b"/Filter /FlateDecode " + padding)])


def indirect_filter_bomb(unpacked: int = 2048 * MB) -> bytes:
    """`/Filter 6 0 R`, object 6 being `/FlateDecode`."""
    data = deflated_spaces(unpacked)
    return raw_pdf([stream(data, b"/Filter 6 0 R")], extra=[b"/FlateDecode"])


def cr_stream_bomb(unpacked: int = 2048 * MB) -> bytes:
    """`stream` ended by a lone carriage return."""
    return raw_pdf([stream(deflated_spaces(unpacked), b"/Filter /FlateDecode", eol=b"\r")])


def text_operator_bomb(operators: int = 24_000_000) -> bytes:
    """Tiny text-showing operators, millions of them: the content is inside the inflate budget,
    but each one becomes a text object (and characters) in pdfium's memory."""
    head = b"BT /F1 1 Tf 0 0 Td 0 TL "
    per = 1_000_000
    body = b"(a)'" * per
    c = zlib.compressobj(9)
    parts = [c.compress(head)]
    for _ in range(max(1, operators // per)):
        parts.append(c.compress(body))
    parts.append(c.compress(b" ET\n"))
    parts.append(c.flush())
    return raw_pdf([stream(b"".join(parts), b"/Filter /FlateDecode")])


def image_disguised_bomb(unpacked: int = 2048 * MB) -> bytes:
    """A page content stream whose dictionary claims to be an image: the pre-scan skips images,
    pdfium reads it as page content all the same. Only the child's limits stop this one."""
    return raw_pdf([stream(deflate(deflated_spaces(unpacked)),
                           b"/Filter [/FlateDecode /FlateDecode] /Subtype /Image")])


# --- the pre-scan: every way of hiding a Flate stream is counted ------------------------------------
PRESCAN_BOMBS = {
    # 300 MB: over the 256 MB cap, yet small enough that a reader that misses it still copes.
    "filter chain": lambda: chain_bomb(300 * MB),
    "filter far before stream": lambda: far_filter_bomb(300 * MB),
    "indirect filter": lambda: indirect_filter_bomb(300 * MB),
    "stream and a lone CR": lambda: cr_stream_bomb(300 * MB),
    "2.4 KB inflating to 2 GB": lambda: chain_bomb(2048 * MB),
}


def _one_line(error: Exception, name: str) -> str:
    message = str(error)
    assert "\n" not in message and name in message, message
    return message


@pytest.mark.parametrize("make", PRESCAN_BOMBS.values(), ids=PRESCAN_BOMBS.keys())
def test_hidden_flate_streams_are_counted_before_pdfium(tmp_path, make):
    path = tmp_path / "bomb.pdf"
    path.write_bytes(make())
    assert path.stat().st_size < 400 * 1024
    with pytest.raises(ArchiveBombError) as caught:
        load_document(path)
    assert "more than 256 MB" in _one_line(caught.value, "bomb.pdf")


def test_the_2_kb_chain_bomb_is_a_few_kilobytes():
    assert len(chain_bomb(2048 * MB)) < 8 * 1024


def test_prescan_counts_every_layer_of_a_chain(tmp_path):
    # The outer layer inflates to ~64 KB, the inner one to 64 MB: both count.
    path = tmp_path / "chain.pdf"
    path.write_bytes(chain_bomb(64 * MB))
    assert pdf.inflated_stream_bytes(path, 100 * MB) > 64 * MB
    assert load_document(path).text == "Hello"
    with pytest.raises(ArchiveBombError):
        load_document(path, max_decompressed_bytes=64 * MB)


# --- the child process: 1 GiB, 60 s, and the asking process survives --------------------------------
_LOADER = """
import json, sys
from engine.documents import load_document
try:
    doc = load_document(sys.argv[1], **json.loads(sys.argv[2]))
    print("LOADED", doc.text[:40])
except Exception as exc:
    print(type(exc).__name__)
    print(exc)
"""


def _load_in_limited_process(path: Path, address_space: int = 2 * GiB, **options):
    """load_document in a fresh interpreter whose whole address space is capped, as a user's
    machine with little memory would be: pdfium aborting there shows as a signal."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return subprocess.run([sys.executable, "-c", _LOADER, str(path), json.dumps(options)],
                          cwd=ROOT, preexec_fn=cap, capture_output=True, text=True, timeout=300,
                          check=False)


HEAVY_BOMBS = {
    # ~90 KB, inside the inflate budget: 24 million text operators, gigabytes in pdfium.
    "tiny text operators": (text_operator_bomb, {}),
    # what the pre-scan cannot see: a content stream calling itself an image.
    "content disguised as image": (image_disguised_bomb, {}),
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
@pytest.mark.parametrize(("make", "options"), HEAVY_BOMBS.values(), ids=HEAVY_BOMBS.keys())
def test_pdf_needing_too_much_memory_is_refused_and_the_process_survives(tmp_path, make,
                                                                          options):
    path = tmp_path / "heavy.pdf"
    path.write_bytes(make())
    assert path.stat().st_size < 200 * 1024
    proc = _load_in_limited_process(path, **options)
    assert proc.returncode == 0, f"the process died: {proc.returncode} {proc.stderr[-2000:]}"
    kind, message = proc.stdout.splitlines()[:2]
    assert kind == "FileTooLargeError", proc.stdout
    assert message.startswith('"heavy.pdf": this PDF needs more than 1 GB of memory to read; '
                              "it was refused"), message


def test_a_pdf_that_reads_too_long_is_refused_and_the_next_one_loads(tmp_path, monkeypatch):
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(text_operator_bomb(4_000_000))
    monkeypatch.setattr(pdf, "READ_SECONDS", 0.001)  # no child answers that fast
    with pytest.raises(FileTooLargeError) as caught:
        load_document(slow)
    assert "reading this PDF took longer than 0.001 s; it was refused" in \
        _one_line(caught.value, "slow.pdf")
    monkeypatch.undo()
    fine = tmp_path / "fine.pdf"
    fine.write_bytes(raw_pdf([stream(b"BT /F1 12 Tf 72 700 Td (Still here) Tj ET")]))
    assert load_document(fine).text == "Still here"


def test_default_limits_are_the_promise():
    assert pdf.READ_MEMORY_BYTES == GiB and pdf.READ_SECONDS == 60


# --- the sandbox itself ---------------------------------------------------------------------------
def _sleep(send) -> None:
    send("started", os.getpid())
    time.sleep(3600)


def _abort(send) -> None:
    os.abort()  # what pdfium does when an allocation fails


def _segfault(send) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _allocate(send, size) -> None:
    send("got", len(bytearray(size)))


def _echo(send, *values) -> None:
    for value in values:
        send("value", value)


def _network(send) -> None:
    import ctypes

    outcomes = {}
    attempts = {
        "socket.socket": lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM),
        "socket.create_connection": lambda: socket.create_connection(("127.0.0.1", 9), 1),
        "socket.getaddrinfo": lambda: socket.getaddrinfo("localhost", 80),
    }
    import _socket

    attempts["_socket.socket"] = lambda: _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    for name, attempt in attempts.items():
        try:
            attempt()
            outcomes[name] = "allowed"
        except OSError:
            outcomes[name] = "refused"
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.socket(2, 1, 0)  # straight to the kernel, past any Python module
        outcomes["socket(2)"] = "refused" if fd < 0 else "allowed"
    send("outcomes", outcomes)


LIMITS = _sandbox.Limits(GiB, 30.0)


def _run(target, *args, limits=LIMITS, cancel=None):
    messages = []
    _sandbox.Sandbox().run(target, args, limits, messages.append, cancel=cancel)
    return messages


def test_sandbox_passes_messages_and_reuses_a_clean_child():
    box = _sandbox.Sandbox()
    first, second = [], []
    box.run(_echo, (1, "two"), LIMITS, first.append)
    box.run(_echo, (3,), LIMITS, second.append)
    assert first == [("value", 1), ("value", "two")] and second == [("value", 3)]
    assert len(box._idle) == 1
    box.close()


@pytest.mark.parametrize(("target", "kind"), [(_abort, "memory"), (_segfault, "crash")])
def test_a_crashing_child_is_a_typed_failure(target, kind):
    with pytest.raises(_sandbox.ChildFailed) as caught:
        _run(target)
    assert caught.value.kind == kind


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
def test_the_child_cannot_allocate_past_its_limit():
    assert _run(_allocate, 64 * MB) == [("got", 64 * MB)]
    with pytest.raises(_sandbox.ChildFailed) as caught:
        _run(_allocate, 2 * GiB)
    assert caught.value.kind == "memory"


def test_a_child_past_its_deadline_is_killed():
    pids = []

    def keep(message):
        pids.append(message[1])

    with pytest.raises(_sandbox.ChildFailed) as caught:
        _sandbox.Sandbox().run(_sleep, (), _sandbox.Limits(GiB, 3.0), keep)
    assert caught.value.kind == "time"
    assert len(pids) == 1 and not _alive(pids[0])


def test_cancelling_kills_the_child():
    pids = []
    with pytest.raises(Cancelled):
        _sandbox.Sandbox().run(_sleep, (), LIMITS, lambda m: pids.append(m[1]),
                               cancel=lambda: bool(pids))
    assert not _alive(pids[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped) is dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_the_child_has_no_network():
    [(_, outcomes)] = _run(_network)
    assert set(outcomes.values()) == {"refused"}, outcomes


# --- the PDF loader's side of it -------------------------------------------------------------------
def _context(path: Path, **options) -> LoadContext:
    return LoadContext(info=inspect_file(path), options=LoadOptions(**options),
                       builder=TextBuilder(10_000_000))


def _three_pages(tmp_path) -> Path:
    path = tmp_path / "three.pdf"
    pages = [stream(b"BT /F1 12 Tf 72 700 Td (Page %d text) Tj ET" % n) for n in (1, 2, 3)]
    path.write_bytes(raw_pdf(pages, pages=3))
    return path


def test_load_pdf_reports_progress_per_batch_of_pages(tmp_path):
    ctx = _context(_three_pages(tmp_path))
    seen = []
    ctx.progress = lambda done, total: seen.append((done, total))
    pdf.load_pdf(ctx)
    assert seen[-1] == (3, 3) and all(total == 3 for _, total in seen)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})
    text, _, pages = ctx.builder.build()
    assert text == "Page 1 text\n\nPage 2 text\n\nPage 3 text" and len(pages) == 3


def test_load_pdf_can_be_cancelled(tmp_path):
    ctx = _context(_three_pages(tmp_path))
    ctx.cancel = lambda: True
    with pytest.raises(Cancelled):
        pdf.load_pdf(ctx)


def _crashing_reader(send, *args) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def test_a_reader_crash_is_a_corrupt_document(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "read_pdf", _crashing_reader)
    with pytest.raises(CorruptDocumentError) as caught:
        load_document(_three_pages(tmp_path))
    assert "made the PDF reader fail (SIGSEGV)" in _one_line(caught.value, "three.pdf")


def test_without_child_processes_it_reads_in_process_and_says_so(tmp_path, monkeypatch):
    def cannot_start(*args, **kwargs):
        raise _sandbox.ChildFailed("start", "daemonic processes are not allowed to have children")

    monkeypatch.setattr(pdf._READER, "run", cannot_start)
    doc = load_document(_three_pages(tmp_path))
    assert doc.text == "Page 1 text\n\nPage 2 text\n\nPage 3 text"
    assert any("without the protection of a separate process" in w for w in doc.warnings)


def test_deflated_spaces_is_a_valid_zlib_stream():
    data = deflated_spaces(3 * MB, head=b"xy")
    assert zlib.decompress(data) == b"xy" + b" " * (3 * MB)


def test_the_frozen_entry_point_dispatches_reader_children_first():
    # A PyInstaller build starts the reader child by running its own executable again;
    # freeze_support() (made to work on every OS by PyInstaller's multiprocessing hook) must run
    # before anything else so that such a run becomes the child and not a second app.
    import ast

    tree = ast.parse((ROOT / "packaging" / "entry.py").read_text(encoding="utf-8"))
    [main] = [node for node in tree.body if isinstance(node, ast.FunctionDef)
              and node.name == "main"]
    first = main.body[0]
    assert isinstance(first, ast.Expr) and ast.unparse(first.value) == \
        "multiprocessing.freeze_support()"


def test_pdfs_load_from_several_threads_at_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for n in range(6):
        path = tmp_path / f"t{n}.pdf"
        path.write_bytes(raw_pdf([stream(b"BT /F1 12 Tf 72 700 Td (Thread %d) Tj ET" % n)]))
        paths.append(path)
    with ThreadPoolExecutor(3) as pool:
        texts = list(pool.map(lambda p: load_document(p).text, paths))
    assert texts == [f"Thread {n}" for n in range(6)]


def test_a_refused_pdf_leaves_a_healthy_reader_for_the_next(tmp_path):
    from engine.documents.errors import EncryptedDocumentError
    from tests import document_factory as factory

    locked = factory.make_pdf(tmp_path / "locked.pdf", [["Secret text."]], header=None,
                              footer=False, user_password="pw")
    pdf._READER.close()
    with pytest.raises(EncryptedDocumentError):
        load_document(locked)
    [reader] = pdf._READER._idle  # not killed: it only said the file is encrypted
    assert load_document(locked, password="pw").text == "Secret text."
    assert pdf._READER._idle == [reader]


def shared_content_pdf(pages: int, lines: int) -> bytes:
    """`pages` pages that all show one content stream of `lines` one-letter lines: a few KB on
    disk, as many lines of text as one likes."""
    content = zlib.compress(b"BT /F1 1 Tf 1.9 TL 10 790 Td " + b"(a)' " * lines + b"ET", 9)
    kids = b" ".join(b"%d 0 R" % (5 + k) for k in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               stream(content, b"/Filter /FlateDecode")]
    objects += [(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                b"/Resources << /Font << /F1 3 0 R >> >> >>")] * pages
    return pdf_file_bytes(objects)


def test_lines_kept_in_the_app_process_are_bounded(tmp_path, monkeypatch):
    # 10,000 such pages of 400 lines would be 4 million lines (~1 GB here) from a 1.5 MB file.
    path = tmp_path / "lines.pdf"
    path.write_bytes(shared_content_pdf(30, 100))
    assert len(load_document(path).pages) == 30
    monkeypatch.setattr(pdf, "MAX_LINES", 1000)
    with pytest.raises(FileTooLargeError) as caught:
        load_document(path)
    assert "holds more than 1,000 lines of text" in _one_line(caught.value, "lines.pdf")
    doc = load_document(path, truncate=True)
    assert len(doc.pages) == 10
    assert doc.warnings == [("only the first 10 of 30 pages were loaded (more than 1,000 lines "
                            "of text)")]


@pytest.mark.parametrize("max_chars", [150, 250, 500])
def test_reading_stops_once_max_chars_is_reached(tmp_path, max_chars):
    # 100 one-letter lines a page: the limit falls inside page 2, 3 or 5.
    path = tmp_path / "chars.pdf"
    path.write_bytes(shared_content_pdf(30, 100))
    with pytest.raises(FileTooLargeError):
        load_document(path, max_chars=max_chars)
    doc = load_document(path, max_chars=max_chars, truncate=True)
    assert 0 < len(doc.text) <= max_chars and set(doc.text) <= {"a", " ", "\n"}
    assert doc.warnings == [f"only the first {max_chars:,} characters of text were loaded"]


def test_prescan_work_is_capped_and_the_child_bounds_the_rest(tmp_path, monkeypatch):
    # Past the cap on "stream" words looked at, the pre-scan stops counting: a bomb behind a
    # flood of them is left to the child's limits, which hold for any file.
    bomb = chain_bomb(300 * MB)
    flood = b"% " + b"streamx " * 3000 + b"\n"
    path = tmp_path / "flood.pdf"
    path.write_bytes(bomb.replace(b"%PDF-1.4\n", b"%PDF-1.4\n" + flood, 1))
    assert pdf.inflated_stream_bytes(path, 256 * MB) > 256 * MB
    monkeypatch.setattr(pdf, "_MAX_KEYWORDS", 1000)
    assert pdf.inflated_stream_bytes(path, 256 * MB) == 0


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_what_the_child_sends_is_data_never_a_pickle(tmp_path):
    # A child taken over by a hostile file writes what it likes to its pipe: the parent reads
    # JSON, so a pickle that would run code is only a bad message.
    import pickle

    marker = tmp_path / "ran"
    with pytest.raises(_sandbox.ChildFailed) as caught:
        _sandbox._decode(pickle.dumps(("pages", _RunsCode(marker))))
    assert caught.value.kind == "crash" and not marker.exists()
    assert _sandbox._decode(_sandbox.encode(("pages", [["page", [["a", 1.0, 2.0, 3.0, 4.0]],
                                                         792.0, False]]))) == \
        ("pages", [["page", [["a", 1.0, 2.0, 3.0, 4.0]], 792.0, False]])
