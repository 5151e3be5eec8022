"""Hostile and broken files: each gets its exact typed error (or loads with a warning), fast,
and without the process's memory growing past a bound."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from engine.documents import Document, load_document
from engine.documents import _files as files_module
from engine.documents.errors import (
    ArchiveBombError,
    CorruptDocumentError,
    DocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    FileTooLargeError,
    FileUnreadableError,
    NoTextLayerError,
    UnsupportedFormatError,
)
from tests import document_factory as factory

MB = 1024 * 1024
MEMORY_BOUND = 300 * MB
PAGES = [["Some ordinary text on the first page of this file."], ["Second page."],
         ["Third page."]]
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


# --- measuring ---------------------------------------------------------------------------------------
def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the high-water mark is the best there is
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def run_bounded(fn):
    """-> (result or exception, seconds, peak growth of resident memory in bytes)."""
    base = _rss()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            done.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        outcome = fn()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        outcome = exc
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    peak[0] = max(peak[0], _rss())
    return outcome, elapsed, peak[0] - base


# --- the corpus: makers get (tmp_path, monkeypatch) and return (path, options) ------------------------
def empty_txt(tmp, mp):
    (tmp / "empty.txt").write_bytes(b"")
    return tmp / "empty.txt", {}


def empty_pdf(tmp, mp):
    (tmp / "empty.pdf").write_bytes(b"")
    return tmp / "empty.pdf", {}


def blank_txt(tmp, mp):
    (tmp / "blank.txt").write_bytes(b" \r\n\t\n   \n\x0c\n")
    return tmp / "blank.txt", {}


def html_without_visible_text(tmp, mp):
    (tmp / "x.html").write_text("<html><head><title>Only a title</title><style>p{}</style>"
                                "</head><body><script>alert('hi')</script><div hidden>secret"
                                "</div><p style='display:none'>gone</p></body></html>")
    return tmp / "x.html", {}


def truncated_pdf(tmp, mp):
    data = factory.make_pdf(tmp / "whole.pdf", PAGES).read_bytes()
    (tmp / "truncated.pdf").write_bytes(data[: len(data) // 2])
    return tmp / "truncated.pdf", {}


def pdf_header_only(tmp, mp):
    (tmp / "stub.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    return tmp / "stub.pdf", {}


def pdf_garbage_body(tmp, mp):
    (tmp / "garbage.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(64 * 1024))
    return tmp / "garbage.pdf", {}


def encrypted_pdf(tmp, mp):
    return factory.make_pdf(tmp / "locked.pdf", PAGES, user_password="secret"), {}


def encrypted_pdf_wrong_password(tmp, mp):
    return (factory.make_pdf(tmp / "locked.pdf", PAGES, user_password="secret"),
            {"password": "guess"})


def scanned_pdf(tmp, mp):
    return factory.make_image_pdf(tmp / "scan.pdf", pages=3), {}


def blank_pages_pdf(tmp, mp):
    return factory.make_pdf(tmp / "blank.pdf", [[], []], header=None, footer=False), {}


def huge_sparse_pdf(tmp, mp):
    path = tmp / "huge.pdf"
    with open(path, "wb") as f:
        f.write(b"%PDF-1.4\n")
        f.truncate(2 * 1024**3)
    return path, {}


def flate_bomb_pdf(tmp, mp):
    return factory.make_flate_bomb_pdf(tmp / "bomb.pdf", 300 * MB), {}


def huge_sparse_docx(tmp, mp):
    path = tmp / "huge.docx"
    with open(path, "wb") as f:
        f.write(b"PK\x03\x04")
        f.truncate(3 * 1024**3)
    return path, {}


def too_many_pages_pdf(tmp, mp):
    return factory.make_pdf(tmp / "pages.pdf", PAGES), {"max_pages": 2}


def zip_bomb_docx(tmp, mp):
    return factory.make_zip_bomb_docx(tmp / "bomb.docx", 300 * MB), {}


def zip_bomb_docx_small_cap(tmp, mp):
    return (factory.make_zip_bomb_docx(tmp / "bomb.docx", 8 * MB),
            {"max_decompressed_bytes": 1 * MB})


def zip_bomb_docx_lying_size(tmp, mp):
    # Declares 1000 bytes but inflates to 300 MB: never inflated past what it declares.
    return factory.make_zip_bomb_docx(tmp / "liar.docx", 300 * MB, declare=1000), {}


def many_entries_epub(tmp, mp):
    entries = [factory.stored_entry("mimetype", b"application/epub+zip")]
    entries += [factory.stored_entry(f"OEBPS/f{i}.xhtml", b"") for i in range(12_000)]
    return factory.raw_zip(tmp / "swarm.epub", entries), {}


def billion_laughs_docx(tmp, mp):
    entities = "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                       for i in range(9))
    xml = (f'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY a "aaaaaaaaaa">{entities}]>'
           f"<w:document {W}><w:body><w:p><w:r><w:t>&j;</w:t></w:r></w:p></w:body>"
           "</w:document>")
    return factory.raw_zip(tmp / "laughs.docx", [
        factory.stored_entry("[Content_Types].xml", b"<Types/>"),
        factory.stored_entry("word/document.xml", xml.encode())]), {}


def deeply_nested_docx(tmp, mp):
    xml = f"<w:document {W}><w:body>" + "<w:p>" * 50_000 + "</w:p>" * 50_000 + "</w:body></w:document>"
    return factory.raw_zip(tmp / "deep.docx", [
        factory.stored_entry("word/document.xml", xml.encode())]), {}


def truncated_docx(tmp, mp):
    data = factory.make_docx(tmp / "whole.docx").read_bytes()
    (tmp / "cut.docx").write_bytes(data[: len(data) // 2])
    return tmp / "cut.docx", {}


def text_named_docx(tmp, mp):
    (tmp / "notes.docx").write_text("This is plain text, not a Word document.")
    return tmp / "notes.docx", {}


def zip_without_document(tmp, mp):
    with zipfile.ZipFile(tmp / "photos.docx", "w") as z:
        z.writestr("a.jpg", b"\xff\xd8\xff" + b"0" * 100)
    return tmp / "photos.docx", {}


def old_word_doc(tmp, mp):
    (tmp / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096)
    return tmp / "old.doc", {}


def encrypted_office_file(tmp, mp):
    (tmp / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024 +
                                      "EncryptedPackage".encode("utf-16-le") + b"\x00" * 1024)
    return tmp / "locked.docx", {}


def drm_epub(tmp, mp):
    chapters = [("c1", "one.xhtml", ["Locked text."])]
    return factory.make_epub(tmp / "drm.epub", chapters, ["c1"], encrypt=["one.xhtml"]), {}


def epub_without_package(tmp, mp):
    with zipfile.ZipFile(tmp / "broken.epub", "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", "<container/>")
    return tmp / "broken.epub", {}


def huge_sparse_text(tmp, mp):
    path = tmp / "huge.txt"
    with open(path, "wb") as f:
        f.write(b"A line of real text at the start of a huge file.\n" * 200_000)
        f.truncate(2 * 1024**3)
    return path, {}


def huge_sparse_text_truncated(tmp, mp):
    path, _ = huge_sparse_text(tmp, mp)
    return path, {"truncate": True, "max_bytes": 4 * MB}


def too_many_characters(tmp, mp):
    (tmp / "long.txt").write_text("word " * 100_000)
    return tmp / "long.txt", {"max_chars": 10_000}


def html_50_mb(tmp, mp):
    block = ("<div class='post'><h2>Title &amp; more</h2><p>Lorem ipsum <b>dolor</b> sit amet, "
             "consectetur adipiscing elit, sed do eiusmod tempor incididunt.</p>"
             "<script>var x = '<p>not text</p>';</script></div>\n")
    path = tmp / "big.html"
    with open(path, "w", encoding="utf-8") as f:
        f.write("<html><head><title>Big</title></head><body>")
        f.write(block * (50 * MB // len(block)))
        f.write("</body></html>")
    return path, {}


def deeply_nested_html(tmp, mp):
    (tmp / "deep.html").write_text("<div>" * 200_000 + "deep text" + "</div>" * 1000)
    return tmp / "deep.html", {}


def pathological_markdown(tmp, mp):
    (tmp / "evil.md").write_text("[" * 100_000 + "\n\n" + "*a" * 20_000 + "\n\n" + "> " * 50_000)
    return tmp / "evil.md", {}


def invalid_utf8(tmp, mp):
    text = "Naïve café: déjà vu — «quotes» and ünïcödé everywhere. " * 50
    data = bytearray(text.encode("utf-8"))
    for i in range(100, len(data), 997):
        data[i] = 0xFF
    (tmp / "bad.txt").write_bytes(bytes(data))
    return tmp / "bad.txt", {}


def nul_bytes_in_text(tmp, mp):
    line = b"An ordinary line of text in a log file that got damaged.\n"
    (tmp / "nul.txt").write_bytes(line * 100 + b"\x00\x00\x00" + line * 100 + b"\x00")
    return tmp / "nul.txt", {}


def random_binary_txt(tmp, mp):
    (tmp / "noise.txt").write_bytes(os.urandom(256 * 1024))
    return tmp / "noise.txt", {}


def random_binary_unknown(tmp, mp):
    (tmp / "blob.dat").write_bytes(bytes(range(256)) * 1024)
    return tmp / "blob.dat", {}


def png_named_txt(tmp, mp):
    (tmp / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4096))
    return tmp / "image.txt", {}


def a_directory(tmp, mp):
    (tmp / "folder.txt").mkdir()
    return tmp / "folder.txt", {}


def missing_file(tmp, mp):
    return tmp / "nowhere.pdf", {}


def broken_symlink(tmp, mp):
    if not hasattr(os, "symlink"):
        pytest.skip("no symlinks here")
    link = tmp / "link.txt"
    os.symlink(tmp / "gone.txt", link)
    return link, {}


def unreadable_file(tmp, mp):
    path = tmp / "private.txt"
    path.write_text("secret")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # root reads anything: make the open fail the way it does for everyone else.
        real_open = os.open

        def refuse(p, *args, **kwargs):
            if Path(p) == path:
                raise PermissionError(13, "Permission denied", str(p))
            return real_open(p, *args, **kwargs)

        mp.setattr(files_module.os, "open", refuse)
    else:
        path.chmod(0)
    return path, {}


def a_fifo(tmp, mp):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp / "pipe.txt")
    return tmp / "pipe.txt", {}


def a_device(tmp, mp):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    return Path("/dev/zero"), {}


def _warned(fragment):
    def check(doc: Document) -> None:
        assert any(fragment in w for w in doc.warnings), doc.warnings
    return check


def _has_text(fragment):
    def check(doc: Document) -> None:
        assert fragment in doc.text
    return check


CASES = [
    (empty_txt, EmptyDocumentError, 2),
    (empty_pdf, EmptyDocumentError, 2),
    (blank_txt, EmptyDocumentError, 2),
    (html_without_visible_text, EmptyDocumentError, 2),
    (truncated_pdf, CorruptDocumentError, 5),
    (pdf_header_only, CorruptDocumentError, 5),
    (pdf_garbage_body, CorruptDocumentError, 5),
    (encrypted_pdf, EncryptedDocumentError, 5),
    (encrypted_pdf_wrong_password, EncryptedDocumentError, 5),
    (scanned_pdf, NoTextLayerError, 5),
    (blank_pages_pdf, EmptyDocumentError, 5),
    (huge_sparse_pdf, FileTooLargeError, 2),
    (flate_bomb_pdf, ArchiveBombError, 5),
    (huge_sparse_docx, FileTooLargeError, 2),
    (too_many_pages_pdf, FileTooLargeError, 5),
    (zip_bomb_docx, ArchiveBombError, 2),
    (zip_bomb_docx_small_cap, ArchiveBombError, 2),
    (zip_bomb_docx_lying_size, CorruptDocumentError, 5),
    (many_entries_epub, ArchiveBombError, 2),
    (billion_laughs_docx, CorruptDocumentError, 2),
    (deeply_nested_docx, CorruptDocumentError, 5),
    (truncated_docx, CorruptDocumentError, 2),
    (text_named_docx, CorruptDocumentError, 2),
    (zip_without_document, UnsupportedFormatError, 2),
    (old_word_doc, UnsupportedFormatError, 2),
    (encrypted_office_file, EncryptedDocumentError, 2),
    (drm_epub, EncryptedDocumentError, 2),
    (epub_without_package, CorruptDocumentError, 2),
    (huge_sparse_text, FileTooLargeError, 2),
    (huge_sparse_text_truncated, _warned("only the first 4 MB of 2 GB"), 5),
    (too_many_characters, FileTooLargeError, 2),
    (html_50_mb, _has_text("Lorem ipsum dolor sit amet"), 30),
    (deeply_nested_html, _has_text("deep text"), 10),
    (pathological_markdown, _has_text("[[[["), 15),
    (invalid_utf8, _warned("not valid UTF-8"), 2),
    (nul_bytes_in_text, _warned("NUL"), 2),
    (random_binary_txt, UnsupportedFormatError, 2),
    (random_binary_unknown, UnsupportedFormatError, 2),
    (png_named_txt, UnsupportedFormatError, 2),
    (a_directory, FileUnreadableError, 2),
    (missing_file, FileUnreadableError, 2),
    (broken_symlink, FileUnreadableError, 2),
    (unreadable_file, FileUnreadableError, 2),
    (a_fifo, FileUnreadableError, 2),
    (a_device, FileUnreadableError, 2),
]


@pytest.mark.timing
@pytest.mark.parametrize(("make", "expected", "seconds"), CASES,
                         ids=[make.__name__ for make, _, _ in CASES])
def test_hostile_file(tmp_path, monkeypatch, make, expected, seconds):
    path, options = make(tmp_path, monkeypatch)
    outcome, elapsed, grown = run_bounded(lambda: load_document(path, **options))
    if isinstance(expected, type):
        assert type(outcome) is expected, f"expected {expected.__name__}, got {outcome!r}"
        message = str(outcome)
        assert path.name in message  # names the file...
        assert len(message) > len(path.name) + 30  # ...and says something a person can act on
        assert outcome.path is not None
    else:
        assert isinstance(outcome, Document), f"expected a document, got {outcome!r}"
        expected(outcome)
    assert elapsed < seconds, f"took {elapsed:.1f}s (bound {seconds}s)"
    assert grown < MEMORY_BOUND, f"memory grew by {grown / MB:.0f} MB"


def test_corpus_is_large_enough():
    assert len(CASES) >= 25


def test_every_error_is_a_document_error():
    for error in (ArchiveBombError, CorruptDocumentError, EmptyDocumentError,
                  EncryptedDocumentError, FileTooLargeError, FileUnreadableError,
                  NoTextLayerError, UnsupportedFormatError):
        assert issubclass(error, DocumentError)


def test_markdown_parse_time_is_bounded(tmp_path, monkeypatch):
    from engine.documents import markdown

    monkeypatch.setattr(markdown, "PARSE_SECONDS", 0.0)
    monkeypatch.setattr(markdown, "CHUNK_CHARS", 1000)
    path = tmp_path / "slow.md"
    path.write_text("# Head\n\n" + "".join(f"Paragraph *{i}*.\n\n" for i in range(2000)))
    doc = load_document(path)
    assert "Paragraph *1999*." in doc.paragraph_texts()  # the rest came as plain text
    assert any("too long to format" in w for w in doc.warnings)


def test_library_exceptions_never_leak(tmp_path, monkeypatch):
    from engine.documents import html

    def explode(*args, **kwargs):
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(html, "extract_html", explode)
    path = tmp_path / "page.html"
    path.write_text("<p>x</p>")
    with pytest.raises(CorruptDocumentError, match="page.html"):
        load_document(path)
