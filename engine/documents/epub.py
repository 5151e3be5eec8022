"""EPUB: the chapters in spine (reading) order, each through the HTML extractor.

META-INF/container.xml names the package (OPF) file; its manifest maps ids to files and its
spine gives the reading order. Non-linear spine items (notes, pop-ups) follow the linear ones.
Books whose chapters are encrypted (DRM) are refused; obfuscated fonts are fine.
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote

from engine.documents._archive import BoundedZip
from engine.documents.docx import parse_small_xml
from engine.documents.errors import EncryptedDocumentError
from engine.documents.html import decode_html, extract_html

_FONT_OBFUSCATION = {
    "http://www.idpf.org/2008/embedding",
    "http://ns.adobe.com/pdf/enc#RC",
}
_TEXT_TYPES = {"application/xhtml+xml", "text/html", "application/xml", "text/xml",
               "application/x-dtbook+xml"}


def _local(tag) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _resolve(base_dir: str, href: str) -> str | None:
    href = unquote(href.split("#", 1)[0])
    if not href or "://" in href:
        return None
    path = posixpath.normpath(posixpath.join(base_dir, href)) if not href.startswith("/") \
        else posixpath.normpath(href.lstrip("/"))
    if path.startswith("../") or path == "..":
        return None
    return path


def _encrypted_parts(archive: BoundedZip) -> set[str]:
    name = archive.find("META-INF/encryption.xml")
    if name is None:
        return set()
    parts = set()
    for data in parse_small_xml(archive, name).iter():
        if _local(data.tag) != "EncryptedData":
            continue
        algorithm = ""
        uri = ""
        for element in data.iter():
            local = _local(element.tag)
            if local == "EncryptionMethod":
                algorithm = element.get("Algorithm") or ""
            elif local == "CipherReference":
                uri = element.get("URI") or ""
        if uri and algorithm not in _FONT_OBFUSCATION:
            resolved = _resolve("", uri)
            if resolved:
                parts.add(resolved)
    return parts


def load_epub(ctx) -> None:
    opts = ctx.options
    with BoundedZip(ctx.path, "EPUB book", opts.max_decompressed_bytes,
                    opts.max_archive_entries) as archive:
        container = archive.find("META-INF/container.xml")
        opf_name = None
        if container is not None:
            for element in parse_small_xml(archive, container).iter():
                if _local(element.tag) == "rootfile" and element.get("full-path"):
                    opf_name = archive.find(_resolve("", element.get("full-path")) or "")
                    if opf_name:
                        break
        if opf_name is None:
            opf_name = next((n for n in archive.names() if n.lower().endswith(".opf")), None)
        if opf_name is None:
            raise archive.corrupt("it has no package (.opf) file listing its chapters")

        encrypted = _encrypted_parts(archive)
        if archive.find("META-INF/rights.xml") is not None and not encrypted:
            encrypted = {"*"}

        opf = parse_small_xml(archive, opf_name)
        base_dir = posixpath.dirname(opf_name)
        manifest: dict[str, tuple[str, str]] = {}
        spine: list[tuple[str, bool]] = []
        title = ""
        for element in opf.iter():
            local = _local(element.tag)
            if local == "item" and element.get("id") and element.get("href"):
                manifest[element.get("id")] = (element.get("href"),
                                               (element.get("media-type") or "").lower())
            elif local == "itemref" and element.get("idref"):
                spine.append((element.get("idref"), element.get("linear", "yes") != "no"))
            elif local == "title" and not title and element.text:
                title = " ".join(element.text.split())
        if not spine:
            raise archive.corrupt("its package file has no spine (no reading order)")

        ordered = [idref for idref, linear in spine if linear]
        ordered += [idref for idref, linear in spine if not linear]
        seen: set[str] = set()
        missing = 0
        for idref in ordered:
            if idref not in manifest:
                missing += 1
                continue
            href, media_type = manifest[idref]
            part = _resolve(base_dir, href)
            if part is None or part in seen:
                continue
            seen.add(part)
            if media_type and media_type not in _TEXT_TYPES:
                continue
            if "*" in encrypted or part in encrypted:
                raise EncryptedDocumentError(
                    f'"{ctx.name}" is protected by DRM (its chapters are encrypted), so its text '
                    "cannot be read. Open a DRM-free copy of the book.", ctx.path)
            found = archive.find(part)
            if found is None:
                missing += 1
                continue
            decoded = decode_html(archive.read(found))
            for message in decoded.warnings:
                ctx.warn(f"{part}: {message}")
            extract_html(decoded.text, ctx.builder.add, name=f'"{ctx.name}" ({part})',
                         path=ctx.path)
        if missing:
            ctx.warn(f"{missing} chapter(s) listed in the book's reading order are missing")
    ctx.title = title or ctx.path.stem
