"""What folding look-alike letters costs the analysis, measured side by side in one run.

A ~10,000-word document is made of whole paragraphs of the samples (tests/data/samples/*.txt and,
when present, the shared samples), which are written with look-alike letters (about 13-15% of
their words mix scripts). NER and sentiment (per sentence) run on it with
`fold_lookalikes=True` (the default) and `fold_lookalikes=False`, alternating, on checkpoints
built in the run as the tests build them (tests/checkpoint_factory.py: random weights, a
sentencepiece model trained on the test corpus and the samples). Each timed call starts with
the engine's fold cache empty, so every folded run pays for finding and folding the look-alikes
(Unicode's confusables data is loaded once, before the timing, as in a running app).

Printed per task: best and median seconds of each side, the ratio folded / as written (target:
folding adds at most 5%), and the same on the document's folded text (no look-alikes left:
what the search for them costs when there is nothing to fold), and the time of folding the
document alone as a share of the unfolded analysis (the part of the ratio that is folding's own
work, free of the run-to-run noise of a shared machine). Folding changes what the model reads
(the obfuscated words become vocabulary pieces instead of many odd ones), so the token counts
are printed too.

    python benchmarks/lookalikes.py [--shape tiny|small|base] [--words 10000] [--rounds 5]
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
from common import make_document, sample_texts  # this folder is sys.path[0]

SAMPLE_DIRS = (REPO / "tests" / "data" / "samples", REPO.parent / "shared" / "samples")
SHAPES = {
    # tests/checkpoint_factory.TINY_CONFIGS["plain"]: model time is small, the rest shows.
    "tiny": "plain",
    "small": {"embedding_size": 128, "hidden_size": 256, "num_hidden_layers": 4,
              "num_hidden_groups": 1, "inner_group_num": 1, "num_attention_heads": 4,
              "intermediate_size": 1024, "hidden_act": "gelu_new"},
    "base": {"embedding_size": 128, "hidden_size": 768, "num_hidden_layers": 12,
             "num_hidden_groups": 1, "inner_group_num": 1, "num_attention_heads": 12,
             "intermediate_size": 3072, "hidden_act": "gelu_new"},
}


def build_models(work: Path, shape) -> dict[str, Path]:
    from tests import checkpoint_factory as factory

    corpus = work / "corpus.txt"
    corpus.write_text(factory.CORPUS.read_text(encoding="utf-8") + "\n"
                      + "\n".join(sample_texts(SAMPLE_DIRS)), encoding="utf-8")
    spiece = factory.train_spiece(work / "spiece.model", vocab_size=8000, corpus=corpus)
    return {name: factory.build_checkpoint(work / name, spiece, head=head, shape=shape, seed=1,
                                           perturb=False)
            for head, name in (("token", "ner"), ("sequence", "sentiment"))}


def timed_call(fn, text: str) -> float:
    from engine.tasks import _common

    _common._FOLDED.clear()  # every run finds and folds the look-alikes itself
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--words", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    work = Path(tempfile.mkdtemp(prefix="albert-lookalikes-bench-"))
    os.environ.setdefault("ALBERT_LENS_HOME", str(work / "home"))
    import engine

    document = make_document(args.words, sample_texts(SAMPLE_DIRS))
    folded = engine.fold_lookalikes(document)  # also loads the confusables data once
    start = time.perf_counter()
    folded = engine.fold_lookalikes(document)
    fold_seconds = time.perf_counter() - start
    print(f"# document: {len(document.split())} words, {len(document)} characters, "
          f"{len(folded.lookalikes)} look-alike words ({folded.share:.1%}); "
          f"fold_lookalikes alone {fold_seconds * 1000:.1f} ms")
    print(f"# building {args.shape} checkpoints ...", flush=True)
    folders = build_models(work, SHAPES[args.shape])
    pipes = {}
    for task in ("ner", "sentiment"):
        for fold in (True, False):
            pipes[task, fold] = engine.pipeline(task, model=folders[task], device=args.device,
                                                fold_lookalikes=fold)
    tok = pipes["ner", True].tokenizer
    print(f"# {pipes['ner', True].model.describe()}; tokens as written "
          f"{len(tok.encode(document).ids)}, folded {len(tok.encode(folded.text).ids)}")
    print(f"# load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| task | text | folded best s | as written best s | folded median s | "
          "as written median s | ratio (best) | ratio (median) | folding alone |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for task in ("ner", "sentiment"):
        for label, text in (("samples", document), ("samples, folded first", folded.text)):
            fold_alone = min(timed_call(engine.fold_lookalikes, text) for _ in range(5))
            times: dict[bool, list[float]] = {True: [], False: []}
            for fold in (True, False):  # warm-up: graphs, caches, allocator
                timed_call(pipes[task, fold], text)
            for _ in range(args.rounds):
                for fold in (True, False):
                    times[fold].append(timed_call(pipes[task, fold], text))
            best = {f: min(t) for f, t in times.items()}
            median = {f: statistics.median(t) for f, t in times.items()}
            print(f"| {task} | {label} | {best[True]:.3f} | {best[False]:.3f} | "
                  f"{median[True]:.3f} | {median[False]:.3f} | "
                  f"{best[True] / best[False]:.3f} | {median[True] / median[False]:.3f} | "
                  f"{fold_alone / best[False]:.1%} |", flush=True)
    print(f"# load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
