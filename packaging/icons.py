"""Application icons: PNG renderings of resources/icons/albert-lens.svg, and .ico / .icns files.

    python packaging/icons.py            # (re)writes resources/icons/albert-lens.png (256 px) and
                                         # albert-lens-512.png from the SVG (needs PySide6)
    python packaging/icons.py --out DIR  # also writes DIR/albert-lens.ico and DIR/albert-lens.icns

The .ico and .icns containers simply embed PNG images (both formats allow it), so building them
needs no image library: only the PNGs, which are kept in the repository.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICON_DIR = ROOT / "resources" / "icons"
SVG = ICON_DIR / "albert-lens.svg"
PNG = ICON_DIR / "albert-lens.png"  # 256 x 256
PNG_512 = ICON_DIR / "albert-lens-512.png"


def render_png(svg: Path, out: Path, size: int) -> Path:
    """Render the SVG at `size` x `size` pixels with QtSvg (offscreen, no display needed)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out), "PNG"):
        raise RuntimeError(f"could not write {out}")
    return out


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


def write_ico(pngs: list[Path], out: Path) -> Path:
    """A Windows .ico holding the given PNGs (each at most 256 px)."""
    images = [p.read_bytes() for p in pngs]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, payload = b"", b""
    for data in images:
        w, h = _png_size(data)
        if w > 256 or h > 256:
            raise ValueError(".ico images are at most 256 px")
        entries += struct.pack(
            "<BBBBHHII", w % 256, h % 256, 0, 0, 1, 32, len(data), offset + len(payload)
        )
        payload += data
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(header + entries + payload)
    return out


# icns element types that hold PNG data, by pixel size.
_ICNS_TYPES = {128: b"ic07", 256: b"ic08", 512: b"ic09", 1024: b"ic10"}


def write_icns(pngs: list[Path], out: Path) -> Path:
    """A macOS .icns holding the given PNGs (128, 256, 512 or 1024 px)."""
    body = b""
    for path in pngs:
        data = path.read_bytes()
        w, _ = _png_size(data)
        kind = _ICNS_TYPES.get(w)
        if kind is None:
            continue
        body += kind + struct.pack(">I", 8 + len(data)) + data
    if not body:
        raise ValueError("no PNG of a size .icns accepts (128, 256, 512, 1024)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"icns" + struct.pack(">I", 8 + len(body)) + body)
    return out


def write_platform_icons(out_dir: Path) -> dict[str, Path]:
    """.ico and .icns from the PNGs kept in resources/icons."""
    return {
        "ico": write_ico([PNG], out_dir / "albert-lens.ico"),
        "icns": write_icns([PNG, PNG_512], out_dir / "albert-lens.icns"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write albert-lens.ico/.icns here")
    parser.add_argument("--no-render", action="store_true", help="keep the existing PNGs")
    args = parser.parse_args(argv)
    if not args.no_render:
        render_png(SVG, PNG, 256)
        render_png(SVG, PNG_512, 512)
        print(f"wrote {PNG.relative_to(ROOT)} and {PNG_512.relative_to(ROOT)}")
    if args.out:
        for path in write_platform_icons(args.out).values():
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
