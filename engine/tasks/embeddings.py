"""Sentence embeddings from any ALBERT checkpoint (its encoder), pooled over the tokens.

A sentence-transformers folder (``modules.json`` with a ``1_Pooling/config.json``) is honoured:
its pooling mode (mean, CLS or max) and its ``max_seq_length`` (``sentence_bert_config.json``).
Any other ALBERT checkpoint is used as a plain encoder with mean pooling over
``last_hidden_state`` (all tokens of the sequence, [CLS] and [SEP] included, as
sentence-transformers' mean pooling with the attention mask).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.albert.config import read_json, read_json_object
from engine.albert.tokenizer import TokenSpans, Window
from engine.errors import ModelError, UnsupportedModelError
from engine.tasks._common import Cancel, Progress, load_task_model, resolve_model_dir


def sentence_transformers_layout(folder: Path) -> tuple[Path, str, int | None]:
    """(encoder folder, pooling mode, max_seq_length) of a model folder."""
    folder = Path(folder)
    encoder, pooling, max_len = folder, "mean", None
    modules_file = folder / "modules.json"
    if modules_file.is_file():
        try:
            modules = read_json(modules_file)
        except ModelError:
            modules = []
        for module in modules if isinstance(modules, list) else []:
            if not isinstance(module, dict):
                continue
            kind = str(module.get("type", ""))
            path = folder / str(module.get("path", ""))
            if not path.resolve().is_relative_to(folder.resolve()):
                continue  # "../x" or an absolute path: only the model's own folder is read
            if kind.endswith("Transformer") and (path / "config.json").is_file():
                encoder = path
            elif kind.endswith("Pooling"):
                pooling = _pooling_mode(path / "config.json")
    for base in (encoder, folder):
        cfg = base / "sentence_bert_config.json"
        if cfg.is_file():
            try:
                value = read_json_object(cfg).get("max_seq_length")
                max_len = int(value) if value else None
            except (ModelError, ValueError, TypeError):
                pass
            break
    return encoder, pooling, max_len


def _pooling_mode(config: Path) -> str:
    try:
        data = read_json_object(config)
    except ModelError:
        return "mean"
    if data.get("pooling_mode_mean_tokens"):
        return "mean"
    if data.get("pooling_mode_cls_token"):
        return "cls"
    if data.get("pooling_mode_max_tokens"):
        return "max"
    return "mean"


class SentenceEncoder:
    """``encoder.encode(texts) -> (n, hidden) float32``, L2-normalised rows."""

    def __init__(self, model=None, device: str = "auto", *, backend: str = "onnx",
                 precision: str = "fp32", max_length: int | None = None,
                 pooling: str | None = None, max_batch_tokens: int = 8192):
        folder = resolve_model_dir("summarization", model)
        encoder_dir, st_pooling, st_max = sentence_transformers_layout(folder)
        try:
            self.loaded = load_task_model(encoder_dir, device, "summarization", backend,
                                          precision)
        except ValueError as exc:  # e.g. a task checkpoint saved without the encoder's pooler
            raise UnsupportedModelError(
                f"The model in {encoder_dir} cannot be used for sentence embeddings ({exc}). "
                "Choose an embeddings model, for example "
                "sentence-transformers/paraphrase-albert-small-v2."
            ) from exc
        self.model_dir = Path(folder)
        self.tokenizer = self.loaded.tokenizer
        self.model = self.loaded.model
        self.pooling = pooling or st_pooling
        if self.pooling not in ("mean", "cls", "max"):
            raise ValueError("pooling must be mean, cls or max")
        limit = max_length or st_max or self.model.max_length
        self.max_length = max(3, min(limit, self.model.max_length))
        self.max_batch_tokens = max_batch_tokens

    def windows(self, texts: list[str]) -> list[Window]:
        """One model input per text, cut to `max_length` tokens as sentence-transformers does."""
        tok = self.tokenizer
        out = []
        for t in texts:
            ids, _, offsets = tok.tokenize_with_offsets(t)
            out.append(tok.windows(TokenSpans.of(ids, offsets), self.max_length,
                                   truncate=True)[0])
        return out

    def encode(self, texts: list[str], progress: Progress = None,
               cancel: Cancel = None) -> np.ndarray:
        return self.encode_windows(self.windows(texts), progress=progress, cancel=cancel)

    def encode_windows(self, windows: list[Window], progress: Progress = None,
                       cancel: Cancel = None) -> np.ndarray:
        hidden = self.model.config.hidden_size
        if not windows:
            return np.zeros((0, hidden), dtype=np.float32)
        outs = self.model.run_sequences(windows, outputs=["last_hidden_state"],
                                        max_batch_tokens=self.max_batch_tokens,
                                        progress=progress, cancel=cancel)
        vectors = np.stack([self._pool(o["last_hidden_state"]) for o in outs])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

    def _pool(self, states: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=np.float32)
        if self.pooling == "cls":
            return states[0]
        if self.pooling == "max":
            return states.max(axis=0)
        return states.mean(axis=0)
