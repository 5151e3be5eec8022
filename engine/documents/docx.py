"""DOCX: body paragraphs, headings, tables and text boxes in order, then footnotes and endnotes.

Read with zipfile + lxml directly (python-docx reads whole parts without a size cap): every part
goes through `BoundedZip`, and the body is parsed as a stream, one top-level block at a time.
A table row becomes one paragraph, its cells joined by " | ". A footnote or endnote reference
becomes "[n]" in the text and the note itself a paragraph "[n] ..." after the body. Deleted
revisions, field codes, hidden (vanished) runs and the fallback copies of Office's alternate
content are left out; page headers/footers and comments are not read.
"""

from __future__ import annotations

import posixpath

from engine.documents._archive import BoundedZip
from engine.documents.errors import CorruptDocumentError

_W_NAMESPACES = frozenset({
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main",
})
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_REL_TYPES = ("officeDocument", "footnotes", "endnotes", "styles", "core-properties")
_SKIP_INLINE = frozenset({
    "pPr", "rPr", "delText", "instrText", "delInstrText", "del", "moveFrom", "fldData",
    "footnoteRef", "endnoteRef", "annotationRef", "commentReference", "commentRangeStart",
    "commentRangeEnd", "bookmarkStart", "bookmarkEnd", "proofErr", "lastRenderedPageBreak",
    "sectPr", "tblPr", "trPr", "tcPr", "tblGrid",
})
_SKIP_BLOCK = frozenset({"sectPr", "del", "moveFrom", "bookmarkStart", "bookmarkEnd", "tblPr",
                         "tblGrid", "trPr", "tcPr", "altChunk", "proofErr"})
_WRAPPERS = frozenset({"sdt", "sdtContent", "customXml", "ins", "moveTo", "smartTag"})
_OFF = frozenset({"0", "false", "off"})


def _split(tag) -> tuple[str, str]:
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


_LOCAL_NAMES: dict = {}


def _w(element) -> str | None:
    """The local name of a WordprocessingML element; None for other namespaces."""
    tag = element.tag
    try:
        return _LOCAL_NAMES[tag]  # a few dozen distinct tags: split each once, not per element
    except KeyError:
        pass
    except TypeError:  # pragma: no cover - an unhashable tag
        return None
    ns, local = _split(tag)
    name = local if ns in _W_NAMESPACES else None
    if len(_LOCAL_NAMES) < 4096:
        _LOCAL_NAMES[tag] = name
    return name


def _attr(element, local: str) -> str | None:
    for key, value in element.attrib.items():
        if key.endswith("}" + local) or key == local:
            return value
    return None


def _xml_parser():
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def parse_small_xml(archive: BoundedZip, name: str):
    """A whole (small) part as an element, errors as CorruptDocumentError."""
    from lxml import etree

    data = archive.read(name)
    try:
        return etree.fromstring(data, _xml_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise archive.corrupt(f"the part {name} is not valid XML ({exc})") from None


# Elements of one body-level block (a paragraph and its runs...) held in memory at once, and
# elements in a whole part: past them the part is refused. Each costs ~100 bytes in lxml's
# tree and a few microseconds of Python: 2M pending is ~200 MB, 30M in all about a minute.
MAX_PENDING_ELEMENTS = 2_000_000
MAX_PART_ELEMENTS = 10_000_000
# Each top-level block costs ~4 microseconds of Python even when empty ("<w:p/>").
MAX_BLOCKS = 2_000_000


def iter_children_of(archive: BoundedZip, name: str, container: str):
    """Stream the direct children of the first `container` element of a large part."""
    from lxml import etree

    from engine.documents.errors import FileTooLargeError

    stream = archive.open(name)
    parent_seen = None  # the container, once met: compared by identity from then on
    pending = total = blocks = 0
    try:
        events = etree.iterparse(stream, events=("end",), resolve_entities=False,
                                 no_network=True, load_dtd=False, huge_tree=False,
                                 remove_comments=True, remove_pis=True)
        for _, element in events:
            pending += 1
            parent = element.getparent()
            if parent is not parent_seen:
                if parent is None or _w(parent) != container:
                    if pending > MAX_PENDING_ELEMENTS or total + pending > MAX_PART_ELEMENTS:
                        what = (f"more than {MAX_PENDING_ELEMENTS:,} XML elements in one "
                                "paragraph or table" if pending > MAX_PENDING_ELEMENTS else
                                f"more than {MAX_PART_ELEMENTS:,} XML elements")
                        raise FileTooLargeError(
                            f'"{archive.path.name}" holds {what} in its part {name}, far more '
                            f"than any real {archive.kind}. It was not read further.",
                            archive.path)
                    continue
                parent_seen = parent
            total += pending
            pending = 0
            blocks += 1
            if blocks > MAX_BLOCKS:
                raise FileTooLargeError(
                    f'"{archive.path.name}" holds more than {MAX_BLOCKS:,} paragraphs in its '
                    f"part {name}, far more than any real {archive.kind}. It was not read "
                    "further.", archive.path)
            if total > MAX_PART_ELEMENTS:
                raise FileTooLargeError(
                    f'"{archive.path.name}" holds more than {MAX_PART_ELEMENTS:,} XML elements '
                    f"in its part {name}, far more than any real {archive.kind}. It was not "
                    "read further.", archive.path)
            yield element
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        raise archive.corrupt(f"the part {name} is not valid XML ({exc})") from None
    finally:
        stream.close()


def _relationships(archive: BoundedZip, source: str) -> dict[str, str]:
    """Relationship type (last path segment) -> target part name, for one source part."""
    folder, base = posixpath.split(source)
    rels_name = posixpath.join(folder, "_rels", base + ".rels")
    found = archive.find(rels_name)
    if found is None:
        return {}
    out: dict[str, str] = {}
    for rel in parse_small_xml(archive, found):
        kind = (rel.get("Type") or "").rstrip("/").rsplit("/", 1)[-1]
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External" or not target or kind not in _REL_TYPES:
            continue
        if target.startswith("/"):
            part = target.lstrip("/")
        else:
            part = posixpath.normpath(posixpath.join(folder, target))
        out.setdefault(kind, part)
    return out


class _Reader:
    def __init__(self, heading_styles: dict[str, str]) -> None:
        self.heading_styles = heading_styles  # styleId -> "title" or "heading"
        self.note_numbers: dict[tuple[str, str], int] = {}
        self.title_paragraph = ""
        self.heading_paragraph = ""

    # --- blocks -----------------------------------------------------------------------------------
    def block(self, element, out: list[str]) -> None:
        name = _w(element)
        if name == "p":
            self.paragraph(element, out)
        elif name == "tbl":
            self.table(element, out)
        elif name in _WRAPPERS or name == "txbxContent":
            for child in element:
                self.block(child, out)
        elif name is None:
            ns, local = _split(element.tag)
            if ns == _MC and local == "AlternateContent":
                for child in element:
                    if _split(child.tag)[1] == "Choice":
                        for grandchild in child:
                            self.block(grandchild, out)
                        break

    def table(self, table, out: list[str]) -> None:
        for row in self._descend(table, "tr"):
            cells = []
            for cell in self._descend(row, "tc"):
                parts: list[str] = []
                for child in cell:
                    self.block(child, parts)
                text = " ".join(" ".join(p.split()) for p in parts if p.strip())
                if text:
                    cells.append(text)
            if cells:
                out.append(" | ".join(cells))

    def _descend(self, element, wanted: str):
        for child in element:
            name = _w(child)
            if name == wanted:
                yield child
            elif name in _WRAPPERS:
                yield from self._descend(child, wanted)

    def paragraph(self, p, out: list[str]) -> None:
        parts: list[str] = []
        extra: list[str] = []
        self.inline(p, parts, extra)
        text = "".join(parts)
        out.append(text)
        out.extend(extra)
        if text.strip() and not self.title_paragraph:
            kind = self._style_kind(p)
            flat = " ".join(text.split())
            if kind == "title":
                self.title_paragraph = flat
            elif kind == "heading" and not self.heading_paragraph:
                self.heading_paragraph = flat

    def _style_kind(self, p) -> str | None:
        for child in p:
            if _w(child) == "pPr":
                for prop in child:
                    if _w(prop) == "pStyle":
                        return self.heading_styles.get(_attr(prop, "val") or "")
        return None

    # --- runs -------------------------------------------------------------------------------------
    def inline(self, element, parts: list[str], extra: list[str]) -> None:
        for child in element:
            name = _w(child)
            if name is None:
                ns, local = _split(child.tag)
                if ns == _MC and local == "AlternateContent":
                    for choice in child:
                        if _split(choice.tag)[1] == "Choice":
                            self.inline(choice, parts, extra)
                            break
                elif local:
                    self.inline(child, parts, extra)  # drawings, VML: look for text boxes
                continue
            if name == "t":
                parts.append(child.text or "")
            elif name in _SKIP_INLINE:
                continue
            elif name == "r":
                if not self._hidden(child):
                    self.inline(child, parts, extra)
            elif name in ("tab", "ptab"):
                parts.append("\t")
            elif name in ("br", "cr"):
                parts.append("\n")
            elif name == "noBreakHyphen":
                parts.append("-")
            elif name == "sym":
                parts.append(_symbol(_attr(child, "char")))
            elif name in ("footnoteReference", "endnoteReference"):
                kind = "footnote" if name.startswith("foot") else "endnote"
                number = self.note_number(kind, _attr(child, "id") or "")
                parts.append(f"[{number}]")
            elif name == "txbxContent":
                for block in child:
                    self.block(block, extra)
            elif name in ("p", "tbl"):
                self.block(child, extra)
            else:
                self.inline(child, parts, extra)

    def _hidden(self, run) -> bool:
        for child in run:
            if _w(child) == "rPr":
                for prop in child:
                    if _w(prop) == "vanish":
                        return (_attr(prop, "val") or "true").lower() not in _OFF
        return False

    def note_number(self, kind: str, note_id: str) -> int:
        key = (kind, note_id)
        if key not in self.note_numbers:
            self.note_numbers[key] = len(self.note_numbers) + 1
        return self.note_numbers[key]


def _symbol(code: str | None) -> str:
    try:
        value = int(code or "", 16)
    except ValueError:
        return ""
    if 0xF000 <= value <= 0xF0FF:  # symbol-font private area: no real character
        return ""
    try:
        return chr(value) if value >= 0x20 else ""
    except ValueError:
        return ""


def _heading_styles(archive: BoundedZip, name: str | None) -> dict[str, str]:
    if name is None or not archive.has(name):
        return {}
    styles: dict[str, str] = {}
    for style in parse_small_xml(archive, name):
        if _w(style) != "style":
            continue
        style_id = _attr(style, "styleId") or ""
        label = ""
        outline = None
        for child in style:
            local = _w(child)
            if local == "name":
                label = (_attr(child, "val") or "").lower()
            elif local == "pPr":
                for prop in child:
                    if _w(prop) == "outlineLvl":
                        outline = _attr(prop, "val")
        if label == "title":
            styles[style_id] = "title"
        elif label.startswith("heading") or outline is not None:
            styles[style_id] = "heading"
    return styles


def _core_title(archive: BoundedZip, name: str | None) -> str:
    if name is None or not archive.has(name):
        return ""
    for element in parse_small_xml(archive, name):
        if _split(element.tag)[1] == "title":
            return " ".join((element.text or "").split())
    return ""


def _notes(archive: BoundedZip, name: str | None, kind: str, reader: _Reader) -> dict:
    if name is None or not archive.has(name):
        return {}
    wanted = {note_id for (k, note_id) in reader.note_numbers if k == kind}
    notes = {}
    for note in iter_children_of(archive, name, kind + "s"):
        if _w(note) != kind or _attr(note, "type") not in (None, "normal"):
            continue
        note_id = _attr(note, "id") or ""
        if note_id not in wanted:
            continue
        parts: list[str] = []
        for child in note:
            reader.block(child, parts)
        notes[(kind, note_id)] = " ".join(" ".join(p.split()) for p in parts if p.strip())
    return notes


def load_docx(ctx) -> None:
    opts = ctx.options
    with BoundedZip(ctx.path, "Word document", opts.max_decompressed_bytes,
                    opts.max_archive_entries) as archive:
        package = _relationships(archive, "")
        main = package.get("officeDocument") or "word/document.xml"
        found = archive.find(main)
        if found is None:
            raise CorruptDocumentError(
                f'"{ctx.name}" is not a Word document: it has no word/document.xml part. It may '
                "be another kind of ZIP file; open it in the program that made it.", ctx.path)
        parts = _relationships(archive, found)
        reader = _Reader(_heading_styles(archive, parts.get("styles")))
        add = ctx.builder.add
        for block in iter_children_of(archive, found, "body"):
            out: list[str] = []
            reader.block(block, out)
            for paragraph in out:
                add(paragraph)
        notes = {}
        if reader.note_numbers:
            notes.update(_notes(archive, parts.get("footnotes"), "footnote", reader))
            notes.update(_notes(archive, parts.get("endnotes"), "endnote", reader))
        for key, number in sorted(reader.note_numbers.items(), key=lambda item: item[1]):
            text = notes.get(key)
            if text:
                add(f"[{number}] {text}")
        title = _core_title(archive, package.get("core-properties"))
    ctx.title = title or reader.title_paragraph or reader.heading_paragraph or ctx.path.stem
