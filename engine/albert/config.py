"""ALBERT hyper-parameters read from a Hugging Face `config.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import CorruptModelFileError, ModelNotFoundError, UnsupportedModelError

# Activation names transformers accepts for ALBERT and how our graph/torch code spell them.
SUPPORTED_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_python": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}

# Architecture name -> the head we build.
HEAD_OF_ARCHITECTURE = {
    "AlbertModel": "encoder",
    "AlbertForMaskedLM": "encoder",
    "AlbertForPreTraining": "encoder",
    "AlbertForQuestionAnswering": "qa",
    "AlbertForTokenClassification": "token",
    "AlbertForSequenceClassification": "sequence",
}

HEADS = ("encoder", "qa", "token", "sequence")


@dataclass(frozen=True)
class AlbertConfig:
    vocab_size: int = 30000
    embedding_size: int = 128
    hidden_size: int = 4096
    num_hidden_layers: int = 12
    num_hidden_groups: int = 1
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    inner_group_num: int = 1
    hidden_act: str = "gelu_new"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    position_embedding_type: str = "absolute"
    architectures: tuple[str, ...] = ()
    id2label: dict[int, str] = field(default_factory=dict)
    problem_type: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def activation(self) -> str:
        """Canonical activation: gelu (erf), gelu_tanh, relu or silu."""
        return SUPPORTED_ACTIVATIONS[self.hidden_act]

    @property
    def num_labels(self) -> int:
        return len(self.id2label) if self.id2label else 2

    def group_of_layer(self, layer: int) -> int:
        """Which shared group runs at depth `layer` (the same rule as the reference model)."""
        return int(layer / (self.num_hidden_layers / self.num_hidden_groups))

    def default_head(self) -> str | None:
        for arch in self.architectures:
            if arch in HEAD_OF_ARCHITECTURE:
                return HEAD_OF_ARCHITECTURE[arch]
        return None

    @classmethod
    def from_dict(cls, data: dict, source: str = "config.json") -> AlbertConfig:
        model_type = data.get("model_type", "albert")
        if model_type != "albert":
            raise UnsupportedModelError(
                f"{source} describes a '{model_type}' model; Albert Lens runs ALBERT checkpoints only."
            )
        act = data.get("hidden_act", "gelu_new")
        if not isinstance(act, str) or act not in SUPPORTED_ACTIVATIONS:
            raise UnsupportedModelError(
                f"{source}: activation {act!r} is not supported "
                f"(supported: {', '.join(sorted(SUPPORTED_ACTIVATIONS))})."
            )
        pos_type = data.get("position_embedding_type", "absolute")
        if pos_type != "absolute":
            raise UnsupportedModelError(
                f"{source}: position_embedding_type {pos_type!r} is not supported (only 'absolute')."
            )
        kwargs = {}
        for name in (
            "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
            "num_hidden_groups", "num_attention_heads", "intermediate_size", "inner_group_num",
            "max_position_embeddings", "type_vocab_size",
        ):
            if name in data:
                value = data[name]
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise CorruptModelFileError(f"{source}: {name} must be a positive integer.")
                kwargs[name] = value
        if "layer_norm_eps" in data:
            kwargs["layer_norm_eps"] = float(data["layer_norm_eps"])
        id2label = {int(k): str(v) for k, v in (data.get("id2label") or {}).items()}
        cfg = cls(
            hidden_act=act,
            position_embedding_type=pos_type,
            architectures=tuple(data.get("architectures") or ()),
            id2label=id2label,
            problem_type=data.get("problem_type"),
            raw=dict(data),
            **kwargs,
        )
        if cfg.hidden_size % cfg.num_attention_heads:
            raise CorruptModelFileError(
                f"{source}: hidden_size {cfg.hidden_size} is not divisible by "
                f"num_attention_heads {cfg.num_attention_heads}."
            )
        if cfg.num_hidden_groups > cfg.num_hidden_layers:
            raise CorruptModelFileError(f"{source}: more hidden groups than hidden layers.")
        return cfg

    @classmethod
    def from_pretrained(cls, model_dir) -> AlbertConfig:
        path = Path(model_dir) / "config.json"
        if not path.is_file():
            raise ModelNotFoundError(
                f"No config.json in {model_dir}: this is not a Hugging Face model folder."
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptModelFileError(f"{path} cannot be read as JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise CorruptModelFileError(f"{path} does not hold a JSON object.")
        return cls.from_dict(data, source=str(path))
