"""Property tests for the text decoder and the paragraph model (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from engine.documents import Document, DocumentError, decode_text, load_document

# Any character that can be encoded (no lone surrogates), except C0/C1 controls, which are
# genuinely ambiguous: UTF-16 text that starts with NUL cannot be told from UTF-32 by its bytes,
# and NUL-patterned UTF-8 from UTF-16 without a byte order mark. Line breaks come in separately.
_CHARS = st.characters(blacklist_categories=("Cs", "Cc"))
TEXT = st.text(st.one_of(_CHARS, st.sampled_from("\n\r\t ")), max_size=300)


def normalized(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=300, deadline=None)
@given(text=TEXT, encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le",
                                             "utf-16-be", "utf-32"]))
@example(text="ÿþ", encoding="utf-8")
@example(text="\ufeffleading BOM character", encoding="utf-16")
@example(text="a\r\n\rb\n", encoding="utf-8-sig")
def test_unicode_text_round_trips(text, encoding):
    if encoding == "utf-8":
        assume(not text.startswith("\ufeff"))  # a leading U+FEFF *is* a UTF-8 BOM
    if encoding in ("utf-16-le", "utf-16-be"):
        # Without a BOM, UTF-16 is recognised by its NUL bytes: mostly-Latin text only.
        assume(text and sum(c < "\u0100" for c in text) * 10 >= 9 * len(text))
        assume(not text.startswith("\ufeff") and len(text) >= 2)
    decoded = decode_text(text.encode(encoding))
    assert decoded.text == normalized(text)
    if encoding != "utf-8" or text.isascii():
        assert not any("replaced" in w for w in decoded.warnings)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000))
def test_any_bytes_decode_to_text_without_carriage_returns(data):
    decoded = decode_text(data)
    assert isinstance(decoded.text, str)
    assert "\r" not in decoded.text
    assert decoded.encoding


@settings(max_examples=200, deadline=None)
@given(text=TEXT, cut=st.integers(min_value=0, max_value=2000))
def test_a_truncated_head_decodes_to_a_prefix(text, cut):
    data = text.encode("utf-8")
    assume(not text.startswith("\ufeff"))
    head = data[: min(cut, len(data))]
    decoded = decode_text(head, truncated=True)
    assert normalized(text).startswith(decoded.text)
    assert len(decoded.text) >= len(normalized(head.decode("utf-8", "ignore"))) - 1


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400))
def test_from_text_keeps_the_paragraph_contract(text):
    doc = Document.from_text(text)
    texts = doc.paragraph_texts()
    assert doc.text == normalized(text)  # offsets index the text given
    previous_end = -1
    for r, paragraph in zip(doc.paragraphs, texts):
        assert paragraph and paragraph == paragraph.strip()
        assert "\n\n" not in paragraph and "\r" not in paragraph
        assert r.start > previous_end
        assert doc.paragraph_of(r.start) == doc.paragraphs.index(r)
        previous_end = r.end
    # Every character outside the paragraphs is white space.
    outside = "".join(doc.text[a.end:b.start] for a, b in zip(doc.paragraphs, doc.paragraphs[1:]))
    assert not outside.strip()
    assert "".join(doc.text.split()) == "".join("".join(texts).split())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=4000),
       suffix=st.sampled_from([".txt", ".md", ".html", ".pdf", ".docx", ".epub", ""]))
def test_any_file_content_gives_a_document_or_a_document_error(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            doc = load_document(path)
        except DocumentError as exc:
            assert path.name in str(exc)
        else:
            assert doc.paragraphs
            if doc.format not in ("text", "markdown"):  # those keep the file's own text
                assert doc.text == "\n\n".join(doc.paragraph_texts())
            for r in doc.paragraphs:
                assert r.slice(doc.text) == r.slice(doc.text).strip() != ""
