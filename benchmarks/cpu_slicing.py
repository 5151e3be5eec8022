"""How big a slice of a batch the CPU backend should run at once (`CPU_RUN_TOKENS`).

Builds the albert-base-shaped checkpoint of engine_throughput.py and times one fp32 model on the
same batches with different slice sizes, in alternating rounds (medians), including "whole" (one
run per batch, as before slicing existed). Use it to re-check the constant on another CPU.

    python benchmarks/cpu_slicing.py [--rounds 7] [--tokens 256 512 1024 2048]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine_throughput import BASE, build_checkpoint  # this folder is sys.path[0]

SHAPES = [(8, 384), (32, 128), (160, 48)]
WHOLE = 1 << 30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, nargs="+", default=[256, 512, 1024, 2048])
    args = parser.parse_args()

    import engine
    from engine.runtime import onnx_backend

    work = Path(tempfile.mkdtemp(prefix="albert-slicing-"))
    os.environ.setdefault("ALBERT_LENS_HOME", str(work / "home"))
    model = engine.load_model(build_checkpoint(work / "albert-base-shaped"), device="cpu")
    print(f"# {model.describe()}; current CPU_RUN_TOKENS = {onnx_backend.CPU_RUN_TOKENS}")
    sizes = {"whole": WHOLE, **{str(t): t for t in args.tokens}}

    print()
    print(f"| batch x seq | {' | '.join(f'{name} tok/s' for name in sizes)} | best |")
    print("|" + "---|" * (len(sizes) + 2))
    for batch, seq in SHAPES:
        ids = np.random.default_rng(0).integers(5, BASE["vocab_size"], (batch, seq))
        times: dict[str, list[float]] = {name: [] for name in sizes}
        for round_ in range(args.rounds + 1):
            for name, tokens in sizes.items():  # alternate so drift hits every size alike
                onnx_backend.CPU_RUN_TOKENS = tokens
                start = time.perf_counter()
                model(ids, outputs=["logits"])
                if round_:  # round 0 warms up
                    times[name].append(time.perf_counter() - start)
        tps = {name: batch * seq / statistics.median(t) for name, t in times.items()}
        best = max(tps, key=tps.get)
        cells = " | ".join(f"{v:,.0f}" for v in tps.values())
        print(f"| {batch} x {seq} | {cells} | {best} ({tps[best] / tps['whole'] - 1:+.1%} vs "
              f"whole) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
