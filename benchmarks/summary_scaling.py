"""The summary's time and peak memory on long texts: they must grow linearly with the text.

Each size runs in a fresh child process (its peak RSS is the child's own). Beside the engine's
pipeline, the whole-graph reference (the summary before sections: every sentence's per-token
states kept, then dense N x N similarity matrices) runs on the sizes it can hold, so the two are
measured side by side in one run. The model is a tiny real ALBERT encoder built here (hidden 32),
so the model-bound time is small and what grows with the text is the rest; "encode" is the time
inside the sentence encoder, "split" the sentence splitter's.

    python benchmarks/summary_scaling.py [--sizes 0.25,1,5,20] [--reference-sizes 0.25,1]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLES = REPO.parent / "shared" / "samples"
CORPUS = REPO / "tests" / "data" / "corpus.txt"


def make_text(megabytes: float, seed: int = 0) -> str:
    """Paragraphs of 2-6 sentences of words drawn from the shared samples (or the test corpus)."""
    sources = sorted(SAMPLES.glob("*.txt")) or [CORPUS]
    words = [w for p in sources for w in p.read_text(encoding="utf-8").split() if w.isalpha()]
    rng = random.Random(seed)
    size, parts, n = int(megabytes * 1_000_000), [], 0
    while n < size:
        sentences = (" ".join(rng.choice(words) for _ in range(rng.randint(6, 22))).capitalize()
                     + "." for _ in range(rng.randint(2, 6)))
        paragraph = " ".join(sentences)
        parts.append(paragraph)
        n += len(paragraph) + 2
    return "\n\n".join(parts)


def child(model: str, megabytes: float, kind: str) -> dict:
    import numpy as np

    import engine
    from engine.tasks import summarization

    text = make_text(megabytes)
    summ = engine.pipeline("summarization", model=model, device="cpu")
    timed = {"encode": 0.0, "split": 0.0, "sentences": 0}
    encode = summ.encoder.encode

    def timed_encode(*args, **kwargs):
        t = time.perf_counter()
        try:
            return encode(*args, **kwargs)
        finally:
            timed["encode"] += time.perf_counter() - t

    summ.encoder.encode = timed_encode
    split = summarization.split_sentences

    def timed_split(*args, **kwargs):
        t = time.perf_counter()
        try:
            ranges = split(*args, **kwargs)
            timed["sentences"] = len(ranges)
            return ranges
        finally:
            timed["split"] += time.perf_counter() - t

    summarization.split_sentences = timed_split
    loaded_mb = _rss_mb()
    cpu_start = _cpu_s()
    start = time.perf_counter()
    if kind == "engine":
        summ(text, max_sentences=3)
    else:
        ranges = timed_split(text)
        # The pre-section summary: every per-token state, then whole N x N matrices.
        t = time.perf_counter()
        outs = summ.encoder.model.run_sequences(
            summ.encoder.windows([text[a:b] for a, b in ranges]),
            outputs=["last_hidden_state"])
        timed["encode"] += time.perf_counter() - t
        vectors = np.stack([o["last_hidden_state"].mean(axis=0) for o in outs])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        v = vectors.astype(np.float64)
        sim = np.clip(v @ v.T, 0.0, None)
        np.fill_diagonal(sim, 0.0)
        rows = sim.sum(axis=1, keepdims=True)
        trans = np.where(rows > 0, sim / np.where(rows > 0, rows, 1.0), 1.0 / len(v))
        p = np.full(len(v), 1.0 / len(v))
        for _ in range(200):
            nxt = 0.15 / len(v) + 0.85 * (p @ trans)
            if np.abs(nxt - p).sum() < 1e-10:
                break
            p = nxt
        sims = v @ v.T  # what mmr built
        del sims
    total = time.perf_counter() - start
    cpu = _cpu_s() - cpu_start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mb": megabytes, "kind": kind, "chars": len(text), "sentences": timed["sentences"],
            "total_s": total, "cpu_s": cpu, "encode_s": timed["encode"], "split_s": timed["split"],
            "peak_mb": peak_kb / 1024, "growth_mb": peak_kb / 1024 - loaded_mb}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_child(model: str, megabytes: float, kind: str, memory_cap: int) -> dict | None:
    cmd = [sys.executable, __file__, "--child", model, str(megabytes), kind]
    limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (memory_cap, memory_cap))
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, preexec_fn=limit)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"  {kind} at {megabytes} MB failed under a {memory_cap >> 30} GiB cap: {tail}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0.25,1,5,20")
    parser.add_argument("--reference-sizes", default="0.25,1")
    parser.add_argument("--memory-cap-gib", type=int, default=6)
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "MB", "KIND"))
    args = parser.parse_args()
    if args.child:
        model, mb, kind = args.child
        print(json.dumps(child(model, float(mb), kind)))
        return
    sys.path.insert(0, str(REPO / "tests"))
    from checkpoint_factory import build_checkpoint, train_spiece

    cap = args.memory_cap_gib << 30
    with tempfile.TemporaryDirectory() as tmp:
        spiece = train_spiece(Path(tmp) / "spiece.model")
        model = str(build_checkpoint(Path(tmp) / "encoder", spiece, "encoder"))
        rows = []
        for mb in [float(x) for x in args.reference_sizes.split(",") if x]:
            rows.append(run_child(model, mb, "whole-graph", cap))
        for mb in [float(x) for x in args.sizes.split(",") if x]:
            rows.append(run_child(model, mb, "engine", cap))
    rows = [r for r in rows if r]
    print("\n| text | kind | sentences | total s | CPU s | split s | encode s | rest s |"
          " peak RSS MB | growth MB | CPU s per MB | growth MB per MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        rest = r["total_s"] - r["split_s"] - r["encode_s"]
        print(f"| {r['mb']:g} MB | {r['kind']} | {r['sentences']} | {r['total_s']:.1f} |"
              f" {r['cpu_s']:.1f} |"
              f" {r['split_s']:.1f} | {r['encode_s']:.1f} | {rest:.1f} | {r['peak_mb']:.0f} |"
              f" {r['growth_mb']:.0f} | {r['cpu_s'] / r['mb']:.1f} |"
              f" {r['growth_mb'] / r['mb']:.0f} |")
    engine_rows = [r for r in rows if r["kind"] == "engine"]
    if len(engine_rows) >= 2:
        a, b = engine_rows[0], engine_rows[-1]
        print(f"\nengine, {a['mb']:g} -> {b['mb']:g} MB ({b['mb'] / a['mb']:.0f}x the text):"
              f" CPU time {b['cpu_s'] / a['cpu_s']:.1f}x, wall time {b['total_s'] / a['total_s']:.1f}x,"
              f" memory growth {b['growth_mb'] / max(a['growth_mb'], 1):.1f}x")


if __name__ == "__main__":
    main()
