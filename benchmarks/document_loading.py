"""How long `load_document` takes on a 300-page PDF (target: under 5 s).

Writes a 300-page A4 PDF with fpdf2: a running header, "Page n of 300" footers, a heading every
ten pages and about 3,000 characters of real prose per page (the shared samples when present,
embedded with a Unicode TrueType font when one is installed), then times `load_document` on it
several times and prints the best and median wall-clock time, pages/s and characters/s.

    python benchmarks/document_loading.py [--pages 300] [--rounds 3] [--keep out.pdf]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLES = next((p for p in (REPO.parent / "shared" / "samples", REPO / "shared" / "samples")
                if p.is_dir()), REPO.parent / "shared" / "samples")
FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/TTF/DejaVuSans.ttf", "C:/Windows/Fonts/arial.ttf")
FALLBACK = (
    "Natural language processing has moved from rules to statistics and then to neural "
    "networks. Models such as ALBERT share parameters across layers and factorise the "
    "embedding matrix, which makes them small enough to run on an ordinary laptop while still "
    "reading a long report, a contract or a book chapter in a few seconds."
)


def paragraphs_source() -> list[str]:
    lines: list[str] = []
    if SAMPLES.is_dir():
        for path in sorted(SAMPLES.glob("*.txt")):
            text = path.read_text(encoding="utf-8")
            lines += [line.strip() for line in text.split("\n") if len(line.strip()) > 40]
    return lines or [FALLBACK] * 8


def make_pdf(path: Path, pages: int) -> tuple[int, bool]:
    """-> (characters of body text written, whether a Unicode font was used)."""
    from fpdf import FPDF

    font = next((Path(f) for f in FONTS if Path(f).is_file()), None)
    source = paragraphs_source()

    class Pdf(FPDF):
        def header(self) -> None:
            self.set_font(family, size=8)
            self.cell(0, 6, "Albert Lens benchmark - a long report", align="C")
            self.ln(10)

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font(family, size=8)
            self.cell(0, 8, f"Page {self.page_no()} of {pages}", align="C")

    pdf = Pdf(format="A4")
    family = "Helvetica"
    if font is not None:
        pdf.add_font("Body", fname=str(font))
        family = "Body"
    pdf.set_auto_page_break(False)
    written = 0
    cursor = 0
    for number in range(pages):
        pdf.add_page()
        if number % 10 == 0:
            pdf.set_font(family, size=16)
            pdf.multi_cell(0, 9, f"Chapter {number // 10 + 1}")
            pdf.ln(3)
        pdf.set_font(family, size=10)
        used = 0
        while used < 3000:
            paragraph = source[cursor % len(source)][:1200]
            cursor += 1
            if font is None:
                paragraph = paragraph.encode("latin-1", "replace").decode("latin-1")
            if pdf.get_y() + 5 * (len(paragraph) // 95 + 2) > pdf.h - 22:
                break
            pdf.multi_cell(0, 5, paragraph)
            pdf.ln(3)
            used += len(paragraph)
        written += used
    pdf.output(str(path))
    return written, font is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="also save the generated PDF here")
    args = parser.parse_args()

    import engine

    logging.getLogger("fpdf").setLevel(logging.ERROR)  # glyphs the font lacks are left out
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.pdf"
        started = time.perf_counter()
        written, unicode_font = make_pdf(path, args.pages)
        made = time.perf_counter() - started
        if args.keep:
            args.keep.write_bytes(path.read_bytes())
        size_mb = path.stat().st_size / 1e6
        print(f"made a {args.pages}-page PDF ({size_mb:.1f} MB, {written:,} characters of body "
              f"text, {'Unicode TTF' if unicode_font else 'core Helvetica'} font) "
              f"in {made:.1f} s")

        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            document = engine.load_document(path)
            times.append(time.perf_counter() - started)
        assert len(document.pages) == args.pages, len(document.pages)

    best, median = min(times), statistics.median(times)
    print(f"load_document: best {best:.2f} s, median {median:.2f} s over {args.rounds} rounds "
          f"({args.pages / best:.0f} pages/s, {len(document.text) / best / 1e6:.2f} M chars/s)")
    print(f"document: {len(document.text):,} characters, {len(document.paragraphs):,} paragraphs, "
          f"{len(document.pages)} pages, warnings: {document.warnings or 'none'}")
    header_left = sum("Albert Lens benchmark" in p for p in document.paragraph_texts())
    print(f"running header/footer lines left in the text: {header_left}")
    target = 5.0
    print(f"{'PASS' if best < target else 'FAIL'}: target under {target:.0f} s for "
          f"{args.pages} pages")
    return 0 if best < target else 1


if __name__ == "__main__":
    raise SystemExit(main())
