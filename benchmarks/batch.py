"""albert-lens batch on generated files: the local pool against the engine's model-bound
throughput for the same documents, and a local Ray against the local pool (start-up apart).

N documents (default 1,000 of ~150 words, nested folders, .txt and .md) are made from the
shared samples' paragraphs; one NER model, albert-base-shaped (E=128, H=768, 12 layers, FFN
3072, random weights, tests/checkpoint_factory.py), installed as the store's default. Measured
side by side, in this order:

1. engine: one process with every core (ONNX Runtime's own threads), the NER pipeline over
   the documents' texts already loaded, model opened beforehand: the model-bound throughput;
2. local: `albert-lens batch DIR --task ner --out r.parquet` (a spawn pool, workers x threads =
   cores), timed from its `start` to its `done` progress event (worker start-up, model loading,
   reading files, hashing, writing and the commit included) and as the whole command;
3. ray: the same with `--cluster` (a local Ray with one CPU per core), its start-up (ray.init)
   reported apart from the rest;
4. commit: the local run's rows copied to `--commit-rows` rows in parts of 64, and the time
   `Output.commit` takes to make one Parquet file of them (the one serial step of a cluster run).

    python benchmarks/batch.py [--docs 1000] [--words 150] [--tiny] [--no-ray] [--no-engine]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from common import BASE  # this folder is sys.path[0]

SAMPLES = REPO.parent / "shared" / "samples"


def paragraphs() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
    if not texts:
        raise SystemExit(f"no samples in {SAMPLES}")
    return [p.strip() for t in texts for p in t.split("\n") if len(p.split()) > 5]


def make_folder(root: Path, docs: int, words: int, seed: int = 11) -> list[Path]:
    rng = random.Random(seed)
    pool = paragraphs()
    out = []
    for i in range(docs):
        folder = root / f"group{i % 10}" / f"sub{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        chosen, count = [], 0
        while count < words:
            # The samples' paragraphs run to hundreds of words: the last one is cut so that
            # a document holds `words` words, not `words` plus a whole long paragraph.
            p = rng.choice(pool).split()[: words - count]
            chosen.append(" ".join(p))
            count += len(p)
        path = folder / (f"doc{i:05}.md" if i % 4 == 0 else f"doc{i:05}.txt")
        path.write_text("\n\n".join(chosen) + "\n", encoding="utf-8")
        out.append(path)
    return out


def build_ner(work: Path, tiny: bool) -> Path:
    from tests import checkpoint_factory as factory

    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    corpus.write_text(factory.CORPUS.read_text(encoding="utf-8") + "\n"
                      + "\n".join(paragraphs()), encoding="utf-8")
    spiece = factory.train_spiece(work / "spiece.model", vocab_size=8000, corpus=corpus)
    shape = "plain" if tiny else dict(BASE, vocab_size=8000)
    return factory.build_checkpoint(work / "ner", spiece, head="token", shape=shape, seed=1,
                                    perturb=False)


def batch(folder: Path, out: Path, *extra: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "batch", str(folder), "--task",
                           "ner", "--out", str(out), "--device", "cpu", "--progress", "json",
                           *extra], capture_output=True, text=True, cwd=REPO, check=False)
    wall = time.perf_counter() - t0
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not events or events[-1]["event"] != "done":
        raise SystemExit(f"batch failed ({proc.returncode}): {proc.stderr[-2000:]}")
    found = {e["event"]: e for e in events}
    return {"wall": wall, "elapsed": found["done"]["elapsed_s"], "rows": found["done"]["rows"],
            "workers": found["start"]["workers"], "cluster": found.get("cluster")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--words", type=int, default=150)
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny model (a check)")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-engine", action="store_true",
                        help="only the local run against Ray (the engine's row is the slow one)")
    parser.add_argument("--commit-rows", type=int, default=20000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="albert-lens-batch-bench-") as tmp:
        work = Path(tmp)
        os.environ["ALBERT_LENS_HOME"] = str(work / "home")
        os.environ.pop("ALBERT_LENS_THREADS", None)
        from engine.models.importer import import_model

        import_model(build_ner(work / "models", args.tiny), "ner", model_id="bench/ner")
        files = make_folder(work / "docs", args.docs, args.words)

        import engine

        texts = [engine.load_document(p) for p in files]
        ner = engine.pipeline("ner", device="cpu")
        tokens = sum(len(ner.loaded.tokenizer.encode(d.text).ids) for d in texts)
        engine_s = None
        if not args.no_engine:
            ner(texts[0])  # warm
            t0 = time.perf_counter()
            for d in texts:
                ner(d)
            engine_s = time.perf_counter() - t0
        del ner

        local = batch(work / "docs", work / "local.parquet")
        ray = None
        if not args.no_ray:
            ray = batch(work / "docs", work / "ray.parquet", "--cluster")
        commit_s = commit_time(work / "local.parquet", work / "commit.parquet", args.commit_rows)

    n = args.docs
    shape = "tiny" if args.tiny else "albert-base-shaped"
    print(f"{n} documents of ~{args.words} words ({shape} NER model, {os.cpu_count()} cores"
          + (f", {tokens} tokens" if tokens else "") + ")")
    share = ""
    if engine_s is not None:
        print(f"engine (model-bound, one process, loaded texts): {engine_s:.1f} s, "
              f"{n / engine_s:.2f} docs/s")
        share = f", {engine_s / local['elapsed']:.0%} of the engine"
    print(f"batch local ({local['workers']} workers): {local['elapsed']:.1f} s start->done "
          f"({n / local['elapsed']:.2f} docs/s{share}), {local['wall']:.1f} s whole command")
    if ray is not None:
        startup = (ray["cluster"] or {}).get("startup_s") or 0.0
        run = ray["elapsed"] - startup
        print(f"batch --cluster (local Ray, {ray['cluster']['actors']} actors of "
              f"{ray['cluster'].get('actor_cpus', 1)} CPU): "
              f"{ray['elapsed']:.1f} s start->done, of which Ray start-up {startup:.1f} s; "
              f"without start-up {run:.1f} s = {run / local['elapsed']:.2f}x the local run; "
              f"{ray['wall']:.1f} s whole command")
    print(f"commit: {args.commit_rows} rows in {commit_s:.2f} s "
          f"({args.commit_rows / commit_s:,.0f} rows/s)")
    return 0


def commit_time(source: Path, out: Path, count: int) -> float:
    import pyarrow.parquet as pq

    from engine.batch.writer import Output, PartWriter

    rows = pq.read_table(source).to_pylist()
    inputs = {}
    with Output(out, "parquet") as output:
        writer = PartWriter(output.new_run("bench"), part_rows=64, part_seconds=1e9)
        for i in range(count):
            row = dict(rows[i % len(rows)], path=f"/data/doc{i:07}.txt")
            inputs[row["path"]] = (row["size"], row["mtime_ns"])
            writer.add(row)
        writer.flush()
        t0 = time.perf_counter()
        output.commit(inputs)
        return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
