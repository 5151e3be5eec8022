"""How long `load_document` takes on a 300-page PDF (target: under 5 s), and what hostile
non-PDF inputs cost (`--hostile`: the promise is 1 GiB and 60 s each).

Writes a 300-page A4 PDF with the tests' PDF writer (fpdf2): a running header, "Page n of 300"
footers, a heading every ten pages and about 2,200 characters of real prose per page (the shared samples when present,
embedded with a Unicode TrueType font when one is installed), then times `load_document` on it
several times and prints the best and median wall-clock time, pages/s and characters/s.

With `--hostile`, builds the inputs of tests/loader_bombs.py instead (millions of one-letter
paragraphs in TXT/HTML/Markdown/DOCX/EPUB, <br> and empty-element floods, bzip2 and zlib
bombs) and loads each in a fresh child Python under RLIMIT_AS (`--address-space`, default
1 GiB; 0 for none), printing the outcome, peak resident memory (VmHWM), wall and CPU seconds.
`--repo` loads them with another checkout's engine (e.g. a `git worktree` of an older commit),
for before/after figures on the same inputs.

    python benchmarks/document_loading.py [--pages 300] [--rounds 3] [--keep out.pdf]
    python benchmarks/document_loading.py --hostile [--only tiny.txt ...] [--repo DIR]
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

from tests import document_factory  # the same PDF writer the tests use

HEADER = "Albert Lens benchmark - a long report"
FALLBACK = (
    "Natural language processing has moved from rules to statistics and then to neural "
    "networks. Models such as ALBERT share parameters across layers and factorise the "
    "embedding matrix, which makes them small enough to run on an ordinary laptop while still "
    "reading a long report, a contract or a book chapter in a few seconds."
)
CHARS_PER_PAGE = 2400  # what fits on an A4 page in the factory's 11 pt body text


def page_contents(pages: int, latin1_only: bool) -> list[list[str]]:
    """Paragraphs of real prose (the shared samples when present) for each page."""
    lines = [line.strip() for text in document_factory.sample_texts()
             for line in text.split("\n") if len(line.strip()) > 40]
    source = [line[:1000] for line in lines] or [FALLBACK] * 8
    if latin1_only:
        source = [p.encode("latin-1", "replace").decode("latin-1") for p in source]
    contents, cursor = [], 0
    for _ in range(pages):
        page, used = [], 0
        while used + len(source[cursor % len(source)]) <= CHARS_PER_PAGE or not page:
            page.append(source[cursor % len(source)])
            used += len(page[-1])
            cursor += 1
        contents.append(page)
    return contents


def make_pdf(path: Path, pages: int) -> tuple[int, bool]:
    """-> (characters of body text written, whether a Unicode font was used)."""
    font = document_factory.unicode_font()
    contents = page_contents(pages, latin1_only=font is None)
    headings = [f"Chapter {n // 10 + 1}" if n % 10 == 0 else "" for n in range(pages)]
    document_factory.make_pdf(path, contents, header=HEADER, headings=headings, font=font)
    return sum(len(p) for page in contents for p in page), font is not None


def hostile_cases():
    """(file name, maker, size or count, what it is) for `--hostile`."""
    from tests import loader_bombs as b

    mb = 1 << 20
    return [
        ("tiny.txt", b.tiny_paragraph_text, 48 * mb, "48 MB of 'a\\n\\n': 16.8M paragraphs"),
        ("lines.txt", b.tiny_line_text, 48 * mb, "48 MB of 'a\\n': 25M one-line paragraphs"),
        ("max.txt", b.tiny_paragraph_text, 200 * mb, "200 MB (max_bytes) of 'a\\n\\n'"),
        ("maxlines.txt", b.tiny_line_text, 200 * mb, "200 MB of 'a\\n': 100M lines"),
        ("tiny.md", b.tiny_paragraph_markdown, 15 * mb, "15 MB Markdown of 'a\\n\\n'"),
        ("tiny.html", b.tiny_element_html, 48 * mb, "48 MB of '<p>a</p>'"),
        ("br.html", b.br_spam_html, 48 * mb, "48 MB of '<br>'"),
        ("tiny.docx", b.tiny_paragraph_docx, 6_000_000, "6M one-letter DOCX paragraphs"),
        ("empty.docx", b.empty_paragraph_docx, 40_000_000, "40M empty <w:p/>"),
        ("runs.docx", b.run_spam_docx, 40_000_000, "one paragraph of 40M <w:r/>"),
        ("tiny.epub", b.tiny_element_epub, 16_000_000, "16M <p>a</p> in one chapter"),
        ("bz.docx", lambda p, n: b.docx_with_member(p, b.bzip2_bomb(n), 12, declare=1000),
         100, "bzip2 member: 3.6 KB -> 4.5 GB"),
        ("z.html", b.zlib_charset_html, 1_300_000_000, '<meta charset="zlib">: 1.3 MB -> 1.3 GB'),
    ]


def hostile(args) -> int:
    from tests import loader_bombs

    if args.repo:
        loader_bombs.REPO = args.repo.resolve()
    print(f"engine from {loader_bombs.REPO}, RLIMIT_AS "
          f"{args.address_space / (1 << 30):.2f} GiB" if args.address_space else "no RLIMIT_AS")
    with tempfile.TemporaryDirectory() as folder:
        for name, make, amount, what in hostile_cases():
            if args.only and name not in args.only:
                continue
            path = Path(folder) / name
            make(path, amount)
            size = path.stat().st_size
            out = loader_bombs.load_in_child(path, address_space=args.address_space,
                                             timeout=900)
            outcome = out["type"]
            if outcome == "Document":
                outcome += f" ({out['paragraphs']:,} paragraphs)"
            peak = out.get("peak_rss", 0) / (1 << 20)
            print(f"{name:12} {what:40} {size / (1 << 20):7.2f} MB on disk -> {outcome:32} "
                  f"peak {peak:6.0f} MB  {out.get('seconds', 0):6.1f} s wall "
                  f"{out.get('cpu_seconds', 0):6.1f} s CPU", flush=True)
            path.unlink()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="also save the generated PDF here")
    parser.add_argument("--hostile", action="store_true",
                        help="measure the hostile non-PDF inputs instead")
    parser.add_argument("--only", nargs="*", help="with --hostile: these file names only")
    parser.add_argument("--repo", type=Path, help="with --hostile: the checkout to load with")
    parser.add_argument("--address-space", type=int, default=1 << 30,
                        help="with --hostile: RLIMIT_AS of each child in bytes (0: none)")
    args = parser.parse_args()
    if args.hostile:
        return hostile(args)

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
    header_left = sum(HEADER in p for p in document.paragraph_texts())
    print(f"running header/footer lines left in the text: {header_left}")
    target = 5.0
    print(f"{'PASS' if best < target else 'FAIL'}: target under {target:.0f} s for "
          f"{args.pages} pages")
    return 0 if best < target else 1


if __name__ == "__main__":
    raise SystemExit(main())
