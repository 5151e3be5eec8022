"""Library.mentions: every stored mention of an entity, with its document, page and span."""

from __future__ import annotations

import engine
from engine.library import EntityInfo
from tests.library_support import put_entities


def test_mentions_cite_document_page_and_span(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    a = root / "a.txt"
    a.write_text("Ada Brook met the mayor.\n\nLater ADA BROOK left Oslo.\n", encoding="utf-8")
    b = root / "b.txt"
    b.write_text("Nothing here but Oslo and Ada Brook.\n", encoding="utf-8")
    with engine.open_library(tmp_path / "lib.sqlite3") as lib:
        lib.add_folder(root)
        lib.update()
        put_entities(lib, a, [("Ada Brook", "PER"), ("ADA BROOK", "PER"), ("Oslo", "LOC")])
        put_entities(lib, b, [("Oslo", "LOC"), ("Ada Brook", "PER")])
        info = next(e for e in lib.entities() if e.key == "ada brook")
        assert isinstance(info, EntityInfo) and (info.documents, info.mentions) == (2, 3)
        hits = lib.mentions(info)
        assert [(h.path, h.text) for h in hits] == [
            (str(a), "Ada Brook"), (str(a), "ADA BROOK"), (str(b), "Ada Brook")]
        for h in hits:
            assert engine.load_document(h.path).text[h.start:h.end] == h.text
            assert h.page is None and h.title == engine.load_document(h.path).title
        assert [h.path for h in lib.mentions("oslo", label="LOC")] == [str(a), str(b)]
        assert lib.mentions("oslo", label="PER") == []
