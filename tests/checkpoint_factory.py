"""Builds small but real ALBERT checkpoints with transformers, for tests and benchmarks.

Nothing here is downloaded: the sentencepiece model is trained on `tests/data/corpus.txt` and the
network weights are random (seeded), so every run makes the same files.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

CORPUS = Path(__file__).parent / "data" / "corpus.txt"

CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]

# Two shapes: the common one (one shared group) and one that exercises grouped layers.
TINY_CONFIGS = {
    "plain": {
        "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 3, "num_hidden_groups": 1,
        "inner_group_num": 1, "num_attention_heads": 4, "intermediate_size": 37, "hidden_act": "gelu_new",
    },
    "grouped": {
        "embedding_size": 24, "hidden_size": 48, "num_hidden_layers": 4, "num_hidden_groups": 2,
        "inner_group_num": 2, "num_attention_heads": 6, "intermediate_size": 64, "hidden_act": "gelu",
    },
}

HEADS = ("encoder", "qa", "token", "sequence")


def train_spiece(path: Path, vocab_size: int = 700, corpus: Path = CORPUS) -> Path:
    """Train an ALBERT-style sentencepiece model (ids 0-4 as in albert-base-v2)."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_writer=buf, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"], character_coverage=1.0,
        hard_vocab_limit=False, minloglevel=2, num_threads=1,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def _perturb(model, seed: int) -> None:
    """Random weights of a visible size, so a swapped or missing tensor changes the outputs."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=gen))


def build_checkpoint(
    out_dir: Path,
    spiece: Path,
    head: str = "encoder",
    shape: str | dict = "plain",
    seed: int = 0,
    safe_serialization: bool = True,
    num_labels: int | None = None,
    id2label: dict[int, str] | None = None,
    tokenizer_kwargs: dict | None = None,
    perturb: bool = True,
):
    """Save an AlbertModel / AlbertFor* checkpoint plus its tokenizer into `out_dir`."""
    import sentencepiece as spm
    import torch
    import transformers

    params = dict(TINY_CONFIGS[shape]) if isinstance(shape, str) else dict(shape)
    vocab = spm.SentencePieceProcessor(model_file=str(spiece)).get_piece_size()
    params.setdefault("vocab_size", vocab)
    params.setdefault("max_position_embeddings", 512)
    if head == "token":
        labels = CONLL_LABELS
        id2label = id2label or dict(enumerate(labels))
    elif head == "sequence":
        id2label = id2label or {0: "negative", 1: "positive"}
    if id2label is not None:
        params["id2label"] = {int(k): v for k, v in id2label.items()}
        params["label2id"] = {v: int(k) for k, v in id2label.items()}
        params["num_labels"] = len(id2label)
    elif num_labels is not None:
        params["num_labels"] = num_labels
    config = transformers.AlbertConfig(**params)
    cls = {
        "encoder": transformers.AlbertModel,
        "qa": transformers.AlbertForQuestionAnswering,
        "token": transformers.AlbertForTokenClassification,
        "sequence": transformers.AlbertForSequenceClassification,
    }[head]
    torch.manual_seed(seed)
    model = cls(config).eval()
    if perturb:
        _perturb(model, seed)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=safe_serialization)
    tok = transformers.AlbertTokenizer(vocab_file=str(spiece), **(tokenizer_kwargs or {}))
    tok.save_pretrained(out_dir)
    return out_dir


def copy_checkpoint(src: Path, dst: Path) -> Path:
    """A private copy of a shared test checkpoint, safe to edit."""
    import shutil

    shutil.copytree(src, dst)
    return dst


def edit_config(folder: Path, **changes) -> None:
    """Change fields of a checkpoint's config.json in place."""
    path = Path(folder) / "config.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


def hf_model(model_dir: Path):
    """The transformers reference for a checkpoint folder, in eval mode."""
    import transformers

    arch = json.loads((Path(model_dir) / "config.json").read_text())["architectures"][0]
    return getattr(transformers, arch).from_pretrained(model_dir).eval()
