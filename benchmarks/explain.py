"""How long a leave-one-word-out explanation takes, and how it grows with the text's length.

Builds an albert-base-shaped sequence classifier (E=128, H=768, 12 layers, 12 heads, FFN 3072,
random weights: speed does not depend on their values) and the same shape with a three-label NLI
head, then times, on the CPU in fp32:

1. `sentiment.explain(text)` for sentences of 10, 20, 40, 80 and 160 words (one forward pass per
   word plus the full text, all in one batched run), against one plain classification of the
   same text;
2. `zero_shot.explain(text, labels)` with 3 labels (3 passes per variant) at the same lengths.

The median of --rounds runs after one warm-up each. The cap: an explanation reads one window
(512 tokens with the specials for this shape), so n words cost about (n + 1) passes of ~1.3 n
tokens: time grows roughly with n squared (and attention's share with n cubed).

    python benchmarks/explain.py [--rounds 5] [--lengths 10,20,40,80,160] [--precision int8]
                                 [--tokens-per-word 1.3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from common import BASE  # this folder is sys.path[0]

LABELS = ["complaint", "invoice", "contract"]


SAMPLES = REPO.parent / "shared" / "samples"


def corpus_text() -> str:
    from tests import checkpoint_factory as factory

    samples = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
    return factory.CORPUS.read_text(encoding="utf-8") + "\n" + "\n".join(samples)


def words_text(n: int) -> str:
    """The first `n` words of the test corpus and the samples (English prose), as one
    sentence-like run."""
    words = corpus_text().split()[-20000:]
    return " ".join(words[i % len(words)] for i in range(n))


def words_at_rate(n: int, rate: float, tokenizer) -> str:
    """`n` words of the corpus that this tokenizer cuts into `rate` tokens a word on average:
    one-piece words, and round(n * (rate - 1)) two-piece ones spread among them. The benchmark's
    8,000-piece vocabulary, trained on a small corpus, cuts ordinary English into ~1.85 tokens
    a word; albert-base-v2's 30,000 pieces give ordinary prose about 1.2-1.3, and the cost of an
    explanation depends only on the tokens and the words, so this stands in for that text."""
    pieces: dict[int, list[str]] = {1: [], 2: []}
    for word in dict.fromkeys(w.strip(".,;:()\"'") for w in corpus_text().split()):
        k = len(tokenizer.tokenize_with_offsets(word)[0]) if word.isalpha() else 0
        if k in pieces:
            pieces[k].append(word)
    two = round(n * (rate - 1))
    out = []
    for i in range(n):
        # Two-piece words at even steps through the sentence.
        kind = 2 if two and (i * two) // n != ((i + 1) * two) // n else 1
        out.append(pieces[kind][i % len(pieces[kind])])
    return " ".join(out)


def timed(fn, rounds: int) -> float:
    fn()  # warm-up: graph conversion and session start are not what is measured
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--lengths", default="10,20,40,80,160")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "int8"))
    ap.add_argument("--tokens-per-word", type=float, metavar="R",
                    help="words chosen to make R tokens a word (see words_at_rate), e.g. 1.3 "
                         "for albert-base-v2's vocabulary on ordinary English")
    args = ap.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="albert-lens-explain-"))
    os.environ.setdefault("ALBERT_LENS_HOME", str(work / "home"))

    import engine
    from tests import checkpoint_factory as factory

    corpus = work / "corpus.txt"
    corpus.write_text(corpus_text(), encoding="utf-8")
    spiece = factory.train_spiece(work / "spiece.model", vocab_size=8000, corpus=corpus)
    sst = factory.build_checkpoint(work / "sst", spiece, head="sequence", shape=dict(BASE),
                                   seed=1, perturb=False)
    nli = factory.build_checkpoint(work / "nli", spiece, head="sequence", shape=dict(BASE),
                                   seed=2, perturb=False,
                                   id2label={0: "entailment", 1: "neutral", 2: "contradiction"})
    clf = engine.pipeline("sentiment", model=sst, device="cpu", precision=args.precision)
    zs = engine.pipeline("zero-shot-classification", model=nli, device="cpu",
                         precision=args.precision)
    print(f"device: {clf.describe()}, {args.precision}; {os.cpu_count()} cores visible; "
          f"load average {os.getloadavg()[0]:.1f}; rounds: {args.rounds} (median)"
          + (f"; words at {args.tokens_per_word} tokens a word" if args.tokens_per_word else ""))
    print("| words | tokens | classify (s) | sentiment.explain (s) | passes | "
          "zero-shot classify, 3 labels (s) | zero-shot explain, 3 labels (s) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in lengths:
        text = (words_at_rate(n, args.tokens_per_word, clf.tokenizer) if args.tokens_per_word
                else words_text(n))
        tokens = len(clf.tokenizer.tokenize_with_offsets(text)[0])
        plain = timed(lambda text=text: clf(text, sentences=False), args.rounds)
        explain = timed(lambda text=text: clf.explain(text), args.rounds)
        zplain = timed(lambda text=text: zs(text, LABELS, paragraphs=False), args.rounds)
        zexplain = timed(lambda text=text: zs.explain(text, LABELS), max(1, args.rounds // 2))
        print(f"| {n} | {tokens} | {plain:.3f} | {explain:.3f} | {n + 1} | {zplain:.3f} | "
              f"{zexplain:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
