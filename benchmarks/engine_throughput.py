"""Throughput of the ALBERT engine against transformers, measured side by side in one run.

Builds an albert-base-shaped checkpoint (E=128, H=768, 12 layers, 12 heads, FFN 3072, vocab 30000;
random weights - speed does not depend on their values), then times, in alternating rounds:
our ONNX backend fp32, our ONNX backend int8, and transformers' eager PyTorch model (SDPA attention).
Prints tokens/s, ratios, the CPU's matrix-multiply bound and the int8-vs-fp32 agreement.

    python benchmarks/engine_throughput.py [--rounds 5] [--device cpu|cuda]
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

BASE = {"vocab_size": 30000, "embedding_size": 128, "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu_new"}
SHAPES = [(8, 384), (32, 128)]


def flops_per_token(seq: int, c: dict = BASE) -> float:
    """Multiply-adds x2 of one token's forward pass (all layers, attention included)."""
    h, f, e = c["hidden_size"], c["intermediate_size"], c["embedding_size"]
    per_layer = 2 * (4 * h * h + 2 * h * f) + 2 * 2 * seq * h  # projections, FFN, QK^T and AV
    return c["num_hidden_layers"] * per_layer + 2 * e * h


def sgemm_gflops(device: str) -> float:
    """Best measured float32 GEMM rate at the model's dominant shape."""
    import torch

    m, k, n = 3072, 768, 3072
    if device == "cuda":
        a, b = torch.randn(m, k, device="cuda"), torch.randn(k, n, device="cuda")
        torch.backends.cuda.matmul.allow_tf32 = False
        for _ in range(3):
            a @ b
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(50):
            a @ b
        torch.cuda.synchronize()
        return 50 * 2 * m * k * n / (time.perf_counter() - start) / 1e9
    a = np.random.rand(m, k).astype(np.float32)
    b = np.random.rand(k, n).astype(np.float32)
    best = 0.0
    for _ in range(7):
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * m * k * n / (time.perf_counter() - start) / 1e9)
    return best


def build_checkpoint(folder: Path) -> Path:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.AlbertConfig(**BASE, num_labels=9)
    transformers.AlbertForTokenClassification(config).eval().save_pretrained(folder)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()

    import torch
    import transformers

    import engine

    work = Path(tempfile.mkdtemp(prefix="albert-bench-"))
    os.environ.setdefault("ALBERT_LENS_HOME", str(work / "home"))
    model_dir = build_checkpoint(work / "albert-base-shaped")
    hf = transformers.AlbertForTokenClassification.from_pretrained(model_dir).eval()
    torch_device = torch.device(args.device)
    hf.to(torch_device)
    ours = {"onnx fp32": engine.load_model(model_dir, device=args.device)}
    if args.device == "cpu":
        ours["onnx int8"] = engine.load_model(model_dir, device="cpu", precision="int8")
    for name, model in ours.items():
        print(f"# {name}: {model.describe()}")
    print(f"# transformers {transformers.__version__}, torch {torch.__version__}, "
          f"attention={hf.config._attn_implementation}, torch threads={torch.get_num_threads()}, "
          f"cpus={os.cpu_count()}")

    gflops = sgemm_gflops(args.device)
    print(f"# measured sgemm: {gflops:.0f} GFLOP/s")
    rows = []
    for batch, seq in SHAPES:
        rng = np.random.default_rng(0)
        ids = rng.integers(5, BASE["vocab_size"], (batch, seq))
        mask, types = np.ones_like(ids), np.zeros_like(ids)
        t_ids, t_mask = torch.tensor(ids, device=torch_device), torch.tensor(mask,
                                                                             device=torch_device)

        def run_hf(t_ids=t_ids, t_mask=t_mask):
            with torch.inference_mode():
                out = hf(input_ids=t_ids, attention_mask=t_mask).logits
                if args.device == "cuda":
                    torch.cuda.synchronize()
                return out

        runners = {name: (lambda m=m, ids=ids, mask=mask, types=types:
                          m(ids, mask, types, outputs=["logits"]))
                   for name, m in ours.items()}
        runners["transformers"] = run_hf
        for fn in runners.values():
            fn()  # warm-up: allocations, kernel selection
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.rounds):
            for name, fn in runners.items():  # alternate so drift hits everyone alike
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        tps = {name: batch * seq / statistics.median(t) for name, t in times.items()}
        bound = gflops * 1e9 / flops_per_token(seq)
        rows.append((batch, seq, tps, bound))
        if "onnx int8" in ours:
            fp32 = ours["onnx fp32"](ids, mask, types, outputs=["logits"])["logits"]
            int8 = ours["onnx int8"](ids, mask, types, outputs=["logits"])["logits"]
            agree = float((fp32.argmax(-1) == int8.argmax(-1)).mean())
            cos = float((fp32 * int8).sum() / np.linalg.norm(fp32) / np.linalg.norm(int8))
            rel = float(np.abs(fp32 - int8).max() / np.abs(fp32).max())
            rows[-1] = (*rows[-1], (agree, cos, rel))
        ref = run_hf().float().cpu().numpy()
        ours_fp32 = ours["onnx fp32"](ids, mask, types, outputs=["logits"])["logits"]
        print(f"# parity {batch}x{seq}: max |ours fp32 - transformers| = "
              f"{np.abs(ours_fp32 - ref).max():.2e}")

    print()
    print(f"| batch x seq | {' | '.join(f'{n} tok/s' for n in rows[0][2])} | fp32 / transformers"
          f" | int8 / transformers | fp32 / sgemm bound (bound tok/s) | int8 vs fp32 logits |")
    print("|" + "---|" * (len(rows[0][2]) + 5))
    for row in rows:
        batch, seq, tps, bound = row[:4]
        cells = " | ".join(f"{v:,.0f}" for v in tps.values())
        fp32_ratio = tps["onnx fp32"] / tps["transformers"]
        int8_ratio = (f"{tps['onnx int8'] / tps['transformers']:.2f}x" if "onnx int8" in tps
                      else "-")
        agreement = "-"
        if len(row) > 4:
            agree, cos, rel = row[4]
            agreement = f"argmax agree {agree:.1%}, cosine {cos:.4f}, max rel diff {rel:.3f}"
        print(f"| {batch} x {seq} | {cells} | {fp32_ratio:.2f}x | {int8_ratio} | "
              f"{tps['onnx fp32'] / bound:.0%} ({bound:,.0f}) | {agreement} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
