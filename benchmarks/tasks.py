"""The analysis tasks against transformers' pipelines, measured side by side in one run.

Builds albert-base-shaped checkpoints (E=128, H=768, 12 layers, 12 heads, FFN 3072, vocab 30000;
random weights - speed does not depend on their values; a sentencepiece model trained on the
test corpus and the shared samples), a 10,000-word document made of the shared samples, and
times:

1. NER + sentiment + summary on the document with engine.pipeline(...): the total, and the pure
   model time inside it (every ONNX Runtime run is timed), so total / model = 1 + overhead;
2. transformers 4.57 doing the same work: the token-classification pipeline with
   aggregation_strategy="simple" over the whole document in overlapping chunks (stride), the
   text-classification pipeline on every sentence, and mean-pooled AutoModel embeddings of every
   sentence (the same sentences for both sides);
3. question answering on a 25,000-word document: our answer time after the document's one-time
   indexing (mean over a few questions), against transformers' question-answering pipeline
   reading all of it (and, unless --quick, our `thorough` mode reading all of it too);
4. on the CPU in fp32, each side's rate on the same useful work (the FLOPs of every real window
   and sentence) against numpy's sgemm measured in the same run.

    python benchmarks/tasks.py [--quick] [--device cpu|gpu] [--batch-size 16] [--precision int8]
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
from common import BASE, make_document, sample_texts  # this folder is sys.path[0]

SAMPLES = REPO.parent / "shared" / "samples"
QUESTIONS = ["What does ALBERT share across layers?", "Who developed ALBERT?",
             "How does factorized embedding parameterization reduce parameters?"]


def build_models(work: Path) -> dict[str, Path]:
    from tests import checkpoint_factory as factory

    corpus = work / "corpus.txt"
    corpus.write_text(factory.CORPUS.read_text(encoding="utf-8") + "\n"
                      + "\n".join(sample_texts()), encoding="utf-8")
    spiece = factory.train_spiece(work / "spiece.model", vocab_size=8000, corpus=corpus)
    folders = {}
    for head, name in (("token", "ner"), ("sequence", "sentiment"), ("encoder", "summary"),
                       ("qa", "qa")):
        folders[name] = factory.build_checkpoint(work / name, spiece, head=head,
                                                 shape=dict(BASE), seed=1, perturb=False)
    return folders


def sequence_flops(length: int, shape: dict = BASE) -> float:
    """Floating-point operations of one encoder pass over `length` tokens (matrix products and
    attention; embeddings, norms and heads are a rounding error)."""
    h, f, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    return layers * (2 * length * (4 * h * h + 2 * h * f) + 4 * length * length * h)


def sgemm_gflops(rounds: int = 7) -> float:
    """numpy's float32 matrix product on an FFN-shaped problem: this machine's fp32 bound."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 768), dtype=np.float32)
    b = rng.standard_normal((768, 3072), dtype=np.float32)
    best = min(timed(lambda: a @ b)[1] for _ in range(rounds))
    return 2 * 1024 * 768 * 3072 / best / 1e9


class ModelClock:
    """Adds up the time spent in ONNX Runtime runs of some loaded models, and the useful work
    in them: the FLOPs of every real (unpadded) sequence, what batch-1 transformers computes."""

    def __init__(self, models):
        self.seconds = 0.0
        self.useful_flops = 0.0
        for model in models:
            backend = model._backend
            run = backend.run

            def timed(feeds, names, _run=run):
                for length in feeds["attention_mask"].sum(axis=1):
                    self.useful_flops += sequence_flops(int(length))
                start = time.perf_counter()
                try:
                    return _run(feeds, names)
                finally:
                    self.seconds += time.perf_counter() - start

            backend.run = timed


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2,000 and 5,000-word documents, no thorough QA run")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="transformers' pipeline / embedding batch size")
    parser.add_argument("--rounds", type=int, default=1, help="best of N rounds per stage")
    parser.add_argument("--precision", choices=["fp32", "int8"], default="fp32",
                        help="our models' precision (transformers stays fp32)")
    parser.add_argument("--words", type=int, help="words of the NER/sentiment/summary document")
    parser.add_argument("--qa-words", type=int, help="words of the QA document")
    args = parser.parse_args()
    words = args.words or (2000 if args.quick else 10000)
    qa_words = args.qa_words or (5000 if args.quick else 25000)

    warnings.filterwarnings("ignore")
    import numpy as np
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    work = Path(tempfile.mkdtemp(prefix="albert-tasks-bench-"))
    os.environ.setdefault("ALBERT_LENS_HOME", str(work / "home"))
    import engine
    from engine.tasks.sentences import split_sentences

    print("# building albert-base-shaped checkpoints ...", flush=True)
    folders = build_models(work)
    torch_device = "cuda" if args.device == "gpu" else "cpu"
    hf_device = 0 if args.device == "gpu" else "cpu"

    # --- ours ------------------------------------------------------------------------------------
    ours = {"device": args.device, "precision": args.precision}
    ner = engine.pipeline("ner", model=folders["ner"], **ours)
    clf = engine.pipeline("sentiment", model=folders["sentiment"], **ours)
    summ = engine.pipeline("summary", model=folders["summary"], **ours)
    qa = engine.pipeline("qa", model=folders["qa"], **ours)
    print(f"# ours: {ner.model.describe()}")

    # --- transformers ----------------------------------------------------------------------------
    def fast_tokenizer(folder):
        tok = transformers.AlbertTokenizerFast.from_pretrained(folder)
        tok.model_max_length = 512
        return tok

    hf_ner = transformers.pipeline(
        "token-classification", model=transformers.AlbertForTokenClassification
        .from_pretrained(folders["ner"]).eval(), tokenizer=fast_tokenizer(folders["ner"]),
        aggregation_strategy="simple", stride=64, device=hf_device)
    hf_clf = transformers.pipeline(
        "text-classification", model=transformers.AlbertForSequenceClassification
        .from_pretrained(folders["sentiment"]).eval(),
        tokenizer=fast_tokenizer(folders["sentiment"]), device=hf_device)
    hf_enc_tok = fast_tokenizer(folders["summary"])
    hf_enc = transformers.AlbertModel.from_pretrained(folders["summary"]).eval().to(torch_device)
    hf_qa = transformers.pipeline(
        "question-answering", model=transformers.AlbertForQuestionAnswering
        .from_pretrained(folders["qa"]).eval(), tokenizer=fast_tokenizer(folders["qa"]),
        device=hf_device)
    print(f"# transformers {transformers.__version__}, torch {torch.__version__}, "
          f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"batch size {args.batch_size}")

    def hf_embed(sentences: list[str]) -> np.ndarray:
        rows = []
        with torch.inference_mode():
            for i in range(0, len(sentences), args.batch_size):
                enc = hf_enc_tok(sentences[i:i + args.batch_size], padding=True,
                                 truncation=True, max_length=512, return_tensors="pt")
                enc = {k: v.to(torch_device) for k, v in enc.items()}
                states = hf_enc(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
                rows.append(((states * mask).sum(1) / mask.sum(1)).cpu().numpy())
        return np.concatenate(rows)

    def hf_work(text: str) -> dict:
        sentences = [text[a:b] for a, b in split_sentences(text)]
        entities = hf_ner(text)
        sentiments = hf_clf(sentences, batch_size=args.batch_size, truncation=True,
                            max_length=512)
        embeddings = hf_embed(sentences)
        return {"entities": len(entities), "sentences": len(sentiments),
                "embeddings": embeddings.shape}

    def our_work(text: str) -> dict:
        entities = ner(text)
        sentiment = clf(text)
        summary = summ(text, max_sentences=5)
        return {"entities": len(entities), "sentences": len(sentiment.sentences),
                "summary": len(summary.sentences)}

    # Warm-up on a small text: sessions, allocations, kernels.
    warm = make_document(300)
    our_work(warm)
    hf_work(warm)
    qa(QUESTIONS[0], warm)
    hf_qa(question=QUESTIONS[0], context=warm)

    document = make_document(words)
    n_tokens = len(ner.tokenizer.tokenize_with_offsets(document)[0])
    print(f"# document: {len(document.split()):,} words, {len(document):,} characters, "
          f"{n_tokens:,} tokens, {len(split_sentences(document)):,} sentences")

    clock = ModelClock([ner.model, clf.model, summ.model])
    sentences = [document[a:b] for a, b in split_sentences(document)]
    ours_fns = {"ner": lambda: ner(document), "sentiment": lambda: clf(document),
                "summary": lambda: summ(document, max_sentences=5)}
    hf_fns = {
        "ner": lambda: hf_ner(document),
        # transformers has no sentence splitter: the same sentences, split inside its timing.
        "sentiment": lambda: hf_clf([document[a:b] for a, b in split_sentences(document + " ")],
                                    batch_size=args.batch_size, truncation=True,
                                    max_length=512),
        "summary": lambda: hf_embed(sentences),
    }
    stages: dict[str, tuple[float, float]] = {}
    hf_stages: dict[str, float] = {}
    useful: dict[str, float] = {}
    for _ in range(args.rounds):  # stage by stage, ours then theirs: drift hits both alike
        for name, ours_fn in ours_fns.items():
            before, flops_before = clock.seconds, clock.useful_flops
            _, total = timed(ours_fn)
            model = clock.seconds - before
            useful[name] = clock.useful_flops - flops_before
            if name not in stages or total < stages[name][0]:
                stages[name] = (total, model)
            _, hf_time = timed(hf_fns[name])
            hf_stages[name] = min(hf_time, hf_stages.get(name, float("inf")))
    ours_total = sum(t for t, _ in stages.values())
    ours_model = sum(m for _, m in stages.values())
    hf_total = sum(hf_stages.values())

    print()
    print("| stage | ours total s | ours model s | overhead | transformers s | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, (total, model) in stages.items():
        hf_time = hf_stages[name]
        print(f"| {name} | {total:.2f} | {model:.2f} | {total / model - 1:.1%} | "
              f"{hf_time:.2f} | {hf_time / total:.2f}x |")
    print(f"| **NER + sentiment + summary** | {ours_total:.2f} | {ours_model:.2f} | "
          f"{ours_total / ours_model - 1:.1%} | {hf_total:.2f} | {hf_total / ours_total:.2f}x |")
    print()
    print(f"total / pure model time: {ours_total / ours_model:.3f} (target <= 1.25)")
    print(f"transformers / ours: {hf_total / ours_total:.2f}x (target >= 1.5)")

    # How close each side is to this machine's fp32 bound, on the same useful work (the real
    # tokens of every window and sentence, which is what batch-1 transformers computes).
    if args.device == "cpu" and args.precision == "fp32":
        bound = sgemm_gflops()
        print()
        print(f"useful work against numpy's sgemm on this machine ({bound:.0f} GFLOP/s):")
        print("| stage | useful GFLOP | ours GFLOP/s | transformers GFLOP/s | ratio at sgemm speed |")
        print("|---|---|---|---|---|")
        for name, (total, _model) in stages.items():
            gflop = useful[name] / 1e9
            print(f"| {name} | {gflop:,.0f} | {gflop / total:.0f} | {gflop / hf_stages[name]:.0f} |"
                  f" {bound * hf_stages[name] / gflop:.2f}x |")
        at_bound = sum(useful.values()) / 1e9 / bound
        print(f"all three at sgemm speed, no overhead: {at_bound:.1f} s, "
              f"{hf_total / at_bound:.2f}x transformers")

    # --- question answering on a long document ---------------------------------------------------
    long_doc = make_document(qa_words)
    _, index_s = timed(lambda: qa.index(long_doc))
    qa_clock = ModelClock([qa.model])
    answer_times = []
    for q in QUESTIONS:
        _, seconds = timed(lambda q=q: qa(q, long_doc))
        answer_times.append(seconds)
    ours_answer = statistics.mean(answer_times)
    qa_model = qa_clock.seconds / len(QUESTIONS)
    _, hf_qa_s = timed(lambda: hf_qa(question=QUESTIONS[0], context=long_doc))
    print()
    print(f"# QA document: {len(long_doc.split()):,} words, {len(long_doc):,} characters")
    print("| QA | seconds |")
    print("|---|---|")
    print(f"| ours: one-time indexing (passages, BM25, tokenization) | {index_s:.2f} |")
    print(f"| ours: answer after indexing (mean of {len(QUESTIONS)} questions, "
          f"max {max(answer_times):.2f}; model {qa_model:.2f}) | {ours_answer:.2f} |")
    if not args.quick:
        _, thorough_s = timed(lambda: qa(QUESTIONS[0], long_doc, thorough=True))
        print(f"| ours: thorough (every window) | {thorough_s:.2f} |")
    print(f"| transformers QA pipeline reading all of it | {hf_qa_s:.2f} |")
    print()
    print(f"QA answer time {ours_answer:.2f} s (target <= 2 s); transformers / ours: "
          f"{hf_qa_s / ours_answer:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
