"""The Library on a generated folder: indexing, no-change updates, search and ask latency, size.

A folder of N documents (default 1,000 of ~1,000 words: about a million words; nested folders,
.txt and .md) is made from the shared samples' paragraphs in random order, each document with
one planted fact ("The <token> ledger was audited in <city>."). Measured in one process:

1. keyword search ready: a fresh library, `add_folder` + `update(stages=("passages",))`, and the
   time until the first document was searchable;
2. `update()` with nothing changed (all stages: the scan and the model stages' bookkeeping);
3. `search` latency (median, p95) over planted-fact queries, keyword only, and hybrid: every
   passage given a 768-d unit vector under the installed embeddings model (random values: the
   cost of a search does not depend on them), so each search also encodes the query with the
   model and ranks every passage by cosine;
4. embeddings and entities: the library's stages on the first `--model-docs` documents against
   the engine's own throughput on the same work (SentenceEncoder.encode of all their passages
   at once; the NER pipeline on each whole document), so library / engine = 1 - overhead
   (the library's time includes loading the model);
5. `ask` latency (median, p95) with the QA model over the whole library;
6. the database's size on disk and the process's peak resident memory.

Models are albert-base-shaped (E=128, H=768, 12 layers, FFN 3072, vocab 30000, random
weights), built with tests/checkpoint_factory.py; `--tiny` uses the test suite's tiny shape
instead (a quick check of the script, not figures).

    python benchmarks/library.py [--docs 1000] [--model-docs 20] [--rounds 3] [--queries 100]
                                 [--asks 20] [--no-models] [--tiny]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from common import BASE  # this folder is sys.path[0]

SAMPLES = REPO.parent / "shared" / "samples"
CITIES = ["Oslo", "Lima", "Perth", "Quito", "Porto", "Turin", "Dakar", "Hanoi"]


def paragraphs() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
    if not texts:
        raise SystemExit(f"no samples in {SAMPLES}")
    return [p.strip() for t in texts for p in t.split("\n") if len(p.split()) > 5]


def token(i: int) -> str:
    letters = "bcdfghjklmnpqrstvwxz"
    out = ""
    i += 1
    while i:
        i, r = divmod(i, len(letters))
        out += letters[r] + "ae"[r % 2]
    return "zq" + out


def make_folder(root: Path, docs: int, words: int, seed: int = 7) -> list[tuple[str, Path]]:
    """`docs` files of about `words` words; returns (fact token, path) per document."""
    rng = random.Random(seed)
    pool = paragraphs()
    facts = []
    for i in range(docs):
        folder = root / f"group{i % 10}" / f"sub{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        chosen, count = [], 0
        while count < words:
            p = rng.choice(pool)
            chosen.append(p)
            count += len(p.split())
        fact = f"The {token(i)} ledger was audited in {CITIES[i % len(CITIES)]}."
        chosen.insert(rng.randrange(len(chosen) + 1), fact)
        path = folder / (f"doc{i:05}.md" if i % 4 == 0 else f"doc{i:05}.txt")
        path.write_text("\n\n".join(chosen) + "\n", encoding="utf-8")
        facts.append((token(i), path))
    return facts


def build_models(work: Path, tiny: bool) -> dict[str, Path]:
    from tests import checkpoint_factory as factory

    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    corpus.write_text(factory.CORPUS.read_text(encoding="utf-8") + "\n"
                      + "\n".join(paragraphs()), encoding="utf-8")
    spiece = factory.train_spiece(work / "spiece.model", vocab_size=8000, corpus=corpus)
    shape = "plain" if tiny else dict(BASE, vocab_size=8000)
    return {name: factory.build_checkpoint(work / name, spiece, head=head, shape=shape, seed=1,
                                           perturb=False)
            for head, name in (("encoder", "embeddings"), ("token", "ner"), ("qa", "qa"))}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1e3:.1f} ms, p95 {pct(values, 0.95) * 1e3:.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--words", type=int, default=1000, help="words per document")
    ap.add_argument("--model-docs", type=int, default=20)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--asks", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds for stage speed")
    ap.add_argument("--tiny", action="store_true", help="tiny models: check the script only")
    ap.add_argument("--no-models", action="store_true",
                    help="stage 1 only: keyword search, no-change update and size")
    ap.add_argument("--keep", help="work in this folder and keep it")
    args = ap.parse_args()

    work = Path(args.keep or tempfile.mkdtemp(prefix="library-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["ALBERT_LENS_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np

    import engine
    from engine.library.indexer import model_key
    from engine.models import store
    from engine.models.importer import import_model
    from engine.tasks.embeddings import SentenceEncoder

    print(f"work folder: {work}")
    t = time.perf_counter()
    facts = make_folder(work / "docs", args.docs, args.words)
    words = sum(len(p.read_text(encoding="utf-8").split()) for _, p in facts)
    print(f"folder: {args.docs} documents, {words:,} words, made in "
          f"{time.perf_counter() - t:.1f} s")

    # 1. keyword search ready
    lib = engine.open_library(work / "bench.sqlite3", device="cpu")
    lib.add_folder(work / "docs")
    first: list[float] = []
    t0 = time.perf_counter()

    def progress(event, t0=t0):
        if event.stage == "passages" and event.done == 1 and not first:
            first.append(time.perf_counter() - t0)

    report = lib.update(progress=progress, stages=("passages",))
    ready = time.perf_counter() - t0
    status = lib.status()
    print(f"keyword search ready: {ready:.1f} s for {report.new} documents "
          f"({status.passages:,} passages; first document searchable after "
          f"{first[0]:.2f} s; {words / ready:,.0f} words/s)")

    # 3a. keyword search latency
    rng = random.Random(3)
    queries = [f"{tok} ledger audited" for tok, _ in rng.sample(facts, min(args.queries,
                                                                          len(facts)))]
    found = 0
    lat = []
    for q, (_, path) in zip(queries, [(None, dict(facts)[q.split()[0]]) for q in queries]):
        t = time.perf_counter()
        hits = lib.search(q, k=20)
        lat.append(time.perf_counter() - t)
        found += bool(hits) and hits[0].path == str(path)
    print(f"search, keyword only: {ms(lat)} (fact's document first: {found}/{len(queries)})")
    if args.no_models:
        lat = []
        for _ in range(5):
            t = time.perf_counter()
            r = lib.update()
            lat.append(time.perf_counter() - t)
            assert r.unchanged == args.docs and r.new == r.changed == 0
        print(f"update with nothing changed: median {statistics.median(lat):.2f} s, "
              f"max {max(lat):.2f} s")
        lib.store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = lib.store.disk_bytes()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"database: {size / 2**20:.1f} MiB ({size / words:.1f} bytes a word, no "
              f"vectors); peak resident memory of this process: {rss:.0f} MiB")
        lib.close()
        return 0

    # models
    t = time.perf_counter()
    folders = build_models(work / "models", args.tiny)
    import_model(folders["embeddings"], "embeddings", model_id="bench/embeddings")
    import_model(folders["ner"], "ner", model_id="bench/ner")
    import_model(folders["qa"], "qa", model_id="bench/qa")
    print(f"models built, imported and converted in {time.perf_counter() - t:.0f} s "
          f"({'tiny' if args.tiny else 'albert-base shape'})")

    # 4. stage throughput against the engine's own, on the first --model-docs documents,
    # alternating rounds; both sides load their model inside the timing.
    subdir = work / "subset"
    subdir.mkdir(exist_ok=True)
    for _, path in facts[: args.model_docs]:
        (subdir / path.name).write_bytes(path.read_bytes())
    documents = [engine.load_document(p) for p in sorted(subdir.iterdir())]
    timings: dict[str, list[float]] = {k: [] for k in ("lib_e", "eng_e", "lib_n", "eng_n")}
    for r in range(args.rounds):
        sub = engine.open_library(work / f"sub{r}.sqlite3", device="cpu")
        sub.add_folder(subdir)
        sub.update(stages=("passages",))
        rows = [p for d in sub.store.documents() for p in sub.store.passages_of(d.id)]
        folded = sub.store.folded_of([p.id for p in rows])
        texts = [folded[p.id] for p in rows]
        t = time.perf_counter()
        SentenceEncoder("bench/embeddings", device="cpu").encode(texts)
        timings["eng_e"].append(time.perf_counter() - t)
        t = time.perf_counter()
        sub.update(stages=("embeddings",))
        timings["lib_e"].append(time.perf_counter() - t)
        t = time.perf_counter()
        ner = engine.pipeline("ner", model="bench/ner", device="cpu")
        for document in documents:  # the library reads each document whole, as this does
            ner(document)
        timings["eng_n"].append(time.perf_counter() - t)
        t = time.perf_counter()
        sub.update(stages=("entities",))
        timings["lib_n"].append(time.perf_counter() - t)
        sub.close()
    med = {k: statistics.median(v) for k, v in timings.items()}
    print(f"embeddings of {len(rows)} passages ({args.rounds} alternating rounds, medians): "
          f"library {med['lib_e']:.1f} s, engine {med['eng_e']:.1f} s -> "
          f"{med['eng_e'] / med['lib_e']:.0%} of the engine's throughput")
    print(f"entities of {len(documents)} documents: library {med['lib_n']:.1f} s, engine "
          f"{med['eng_n']:.1f} s -> {med['eng_n'] / med['lib_n']:.0%} of the engine's "
          "throughput")
    encoder = SentenceEncoder("bench/embeddings", device="cpu")

    # 3b. hybrid search: every passage gets a (random) vector of the installed model
    key = model_key(store.get_installed("bench/embeddings"))
    dim = encoder.model.config.hidden_size
    vrng = np.random.default_rng(0)
    for d in lib.store.documents():
        ids = [p.id for p in lib.store.passages_of(d.id)]
        v = vrng.standard_normal((len(ids), dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        lib.store.put_embeddings(d.id, key, dict(zip(ids, v)))
    lib.search("warm up", k=20)
    lat = []
    for q in queries:
        t = time.perf_counter()
        lib.search(q, k=20)
        lat.append(time.perf_counter() - t)
    print(f"search, hybrid ({lib.status().embeddings:,} vectors of {dim} floats): {ms(lat)}")

    # 2. update with nothing changed (stage 3 marked done so no model work is pending)
    lib.store._db.execute("UPDATE documents SET ner_model = ?",
                          (model_key(store.get_installed("bench/ner")),))
    lib.update()
    lat = []
    for _ in range(5):
        t = time.perf_counter()
        r = lib.update()
        lat.append(time.perf_counter() - t)
        assert r.unchanged == args.docs and r.new == r.changed == r.embedded == 0
    print(f"update with nothing changed: median {statistics.median(lat):.2f} s, "
          f"max {max(lat):.2f} s")

    # 5. ask
    lat = []
    lib.ask("Where was the ledger audited?")
    for q in [f"Where was the {tok} ledger audited?" for tok, _ in facts[: args.asks]]:
        t = time.perf_counter()
        lib.ask(q, top_k=3)
        lat.append(time.perf_counter() - t)
    print(f"ask: {ms(lat)} over {len(lat)} questions")

    # 6. size and memory
    lib.store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = lib.store.disk_bytes()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database: {size / 2**20:.1f} MiB ({size / words:.1f} bytes a word, with the "
          f"vectors); peak resident memory of this process: {rss:.0f} MiB")
    lib.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
