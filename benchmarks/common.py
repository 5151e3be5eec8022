"""What the benchmark scripts share: the albert-base shape and documents made of the samples.

Scripts import it as `from common import …` (a script's own folder is sys.path[0]).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_SAMPLES = REPO.parent / "shared" / "samples"
SHIPPED_SAMPLES = REPO / "tests" / "data" / "samples"
# albert-base-v2's shape: the figures are for the models people install.
BASE = {"vocab_size": 30000, "embedding_size": 128, "hidden_size": 768,
        "num_hidden_layers": 12, "num_hidden_groups": 1, "inner_group_num": 1,
        "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu_new",
        "max_position_embeddings": 512}


def sample_texts(folders=(SHARED_SAMPLES,)) -> list[str]:
    """The .txt samples of `folders` (the shared ones by default); exits when there are none."""
    paths = [p for folder in folders for p in sorted(Path(folder).glob("*.txt"))]
    if not paths:
        raise SystemExit(f"no samples in {', '.join(map(str, folders))}")
    return [p.read_text(encoding="utf-8") for p in paths]


def make_document(words: int, texts: list[str] | None = None) -> str:
    """Whole paragraphs of the samples, repeated, until `words` words."""
    paragraphs = [p.strip() for t in (texts or sample_texts()) for p in t.split("\n")
                  if p.strip()]
    out, count, i = [], 0, 0
    while count < words:
        p = paragraphs[i % len(paragraphs)]
        n = len(p.split())
        if count + n > words:
            p = " ".join(p.split()[: words - count])
            n = words - count
        out.append(p)
        count += n
        i += 1
    return "\n\n".join(out)
