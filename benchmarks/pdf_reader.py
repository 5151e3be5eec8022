"""What reading PDFs in a child process costs: `load_document` on a 10-page PDF, three ways.

- in process: pdfium in this process (what the loader did before the child-process reader; now
  only the fallback where no process can be started),
- child, warm: the usual case, the child process that read the previous PDF reads this one,
- child, cold: a child started for this document (the first PDF of a session, or after a PDF
  that failed).

Rounds are interleaved so that the machine's load hits the three alike. Prints best and median
wall-clock times in ms.

    python benchmarks/pdf_reader.py [--pages 10] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PARAGRAPH = ("Natural language processing has moved from rules to statistics and then to neural "
             "networks. Models such as ALBERT share parameters across layers and factorise the "
             "embedding matrix, which makes them small enough to run on an ordinary laptop. ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    import engine
    from engine.documents import _sandbox, pdf
    from tests import document_factory

    def in_process(*a, **k):
        raise _sandbox.ChildFailed("start", "benchmark")

    with tempfile.TemporaryDirectory() as tmp:
        path = document_factory.make_pdf(Path(tmp) / "ten.pdf",
                                         [[PARAGRAPH * 2, PARAGRAPH] for _ in range(args.pages)])
        engine.load_document(path)  # imports, first child
        times: dict[str, list[float]] = {"in process": [], "child, warm": [], "child, cold": []}
        run = pdf._READER.run
        for _ in range(args.rounds):
            pdf._READER.run = in_process
            started = time.perf_counter()
            engine.load_document(path)
            times["in process"].append(time.perf_counter() - started)
            pdf._READER.run = run

            started = time.perf_counter()
            engine.load_document(path)
            times["child, warm"].append(time.perf_counter() - started)

            pdf._READER.close()  # no idle child: this load starts its own
            started = time.perf_counter()
            engine.load_document(path)
            times["child, cold"].append(time.perf_counter() - started)
        pdf._READER.close()
    print(f"load_document, {args.pages}-page PDF, {args.rounds} rounds")
    for name, values in times.items():
        print(f"  {name:12s} best {min(values) * 1e3:7.1f} ms   median "
              f"{statistics.median(values) * 1e3:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
