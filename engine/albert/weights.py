"""ALBERT weights from `model.safetensors` or `pytorch_model.bin`, as float32 numpy arrays.

`pytorch_model.bin` goes through a restricted unpickler (engine.albert.torch_pickle): no torch is
imported and no pickled code runs. Hugging Face parameter names are mapped onto `AlbertWeights`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.albert.config import AlbertConfig
from engine.errors import CorruptModelFileError, ModelNotFoundError, UnsafeModelFileError

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"


def weight_files(model_dir) -> list[Path]:
    """The files holding a checkpoint's tensors, safetensors preferred."""
    model_dir = Path(model_dir)
    for single, index in ((SAFETENSORS, SAFETENSORS_INDEX), (TORCH_BIN, TORCH_BIN_INDEX)):
        if (model_dir / single).is_file():
            return [model_dir / single]
        if (model_dir / index).is_file():
            return _sharded_files(model_dir, model_dir / index)
    raise ModelNotFoundError(
        f"No weights in {model_dir}: expected {SAFETENSORS} or {TORCH_BIN}."
    )


def _sharded_files(model_dir: Path, index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptModelFileError(f"{index} is not a valid weight index: {exc}") from exc
    files = []
    for name in names:
        path = (model_dir / name).resolve()
        # A shard name must not point outside the model folder.
        if path.parent != model_dir.resolve():
            raise UnsafeModelFileError(f"{index} names a shard outside the model folder: {name!r}")
        if not path.is_file():
            raise ModelNotFoundError(f"{index} lists {name}, which is missing.")
        files.append(path)
    return files


def read_state_dict(model_dir) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint, by its Hugging Face name."""
    tensors: dict[str, np.ndarray] = {}
    for path in weight_files(model_dir):
        if path.suffix == ".safetensors":
            tensors.update(_read_safetensors(path))
        else:
            from engine.albert.torch_pickle import load_torch_checkpoint

            tensors.update(load_torch_checkpoint(path))
    return tensors


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise CorruptModelFileError(f"{path.name} cannot be read ({exc}); download it again.") from exc


@dataclass
class LayerWeights:
    """One ALBERT layer; matrices in PyTorch's Linear layout (out_features, in_features)."""

    query_w: np.ndarray
    query_b: np.ndarray
    key_w: np.ndarray
    key_b: np.ndarray
    value_w: np.ndarray
    value_b: np.ndarray
    attn_out_w: np.ndarray
    attn_out_b: np.ndarray
    attn_ln_w: np.ndarray
    attn_ln_b: np.ndarray
    ffn_w: np.ndarray
    ffn_b: np.ndarray
    ffn_out_w: np.ndarray
    ffn_out_b: np.ndarray
    out_ln_w: np.ndarray
    out_ln_b: np.ndarray


@dataclass
class AlbertWeights:
    word_embeddings: np.ndarray
    position_embeddings: np.ndarray
    token_type_embeddings: np.ndarray
    emb_ln_w: np.ndarray
    emb_ln_b: np.ndarray
    mapping_w: np.ndarray
    mapping_b: np.ndarray
    groups: list[list[LayerWeights]]
    pooler_w: np.ndarray | None
    pooler_b: np.ndarray | None
    head: str
    head_w: np.ndarray | None
    head_b: np.ndarray | None


_LAYER_FIELDS = {
    "query_w": "attention.query.weight", "query_b": "attention.query.bias",
    "key_w": "attention.key.weight", "key_b": "attention.key.bias",
    "value_w": "attention.value.weight", "value_b": "attention.value.bias",
    "attn_out_w": "attention.dense.weight", "attn_out_b": "attention.dense.bias",
    "attn_ln_w": "attention.LayerNorm.weight", "attn_ln_b": "attention.LayerNorm.bias",
    "ffn_w": "ffn.weight", "ffn_b": "ffn.bias",
    "ffn_out_w": "ffn_output.weight", "ffn_out_b": "ffn_output.bias",
    "out_ln_w": "full_layer_layer_norm.weight", "out_ln_b": "full_layer_layer_norm.bias",
}

_HEAD_TENSORS = {"qa": "qa_outputs", "token": "classifier", "sequence": "classifier"}


def detect_head(config: AlbertConfig, names) -> str:
    """The head a checkpoint was saved with: from `architectures`, else from its tensors."""
    head = config.default_head()
    if head is not None:
        return head
    names = set(names)
    if "qa_outputs.weight" in names:
        return "qa"
    if "classifier.weight" in names:
        return "token" if config.problem_type == "token_classification" else "sequence"
    return "encoder"


def albert_weights(config: AlbertConfig, tensors: dict[str, np.ndarray], head: str) -> AlbertWeights:
    """Map Hugging Face names onto AlbertWeights, checking every shape against the config."""
    prefix = "albert." if any(k.startswith("albert.") for k in tensors) else ""

    def take(name: str, shape: tuple[int, ...], optional: bool = False) -> np.ndarray | None:
        full = name if name.split(".")[0] in ("qa_outputs", "classifier") else prefix + name
        value = tensors.get(full)
        if value is None:
            if optional:
                return None
            raise CorruptModelFileError(f"The checkpoint lacks the tensor '{full}'.")
        if tuple(value.shape) != shape:
            raise CorruptModelFileError(
                f"Tensor '{full}' has shape {tuple(value.shape)}, the config expects {shape}."
            )
        return np.ascontiguousarray(value, dtype=np.float32)

    c = config
    E, H, F = c.embedding_size, c.hidden_size, c.intermediate_size
    groups = []
    for g in range(c.num_hidden_groups):
        layers = []
        for i in range(c.inner_group_num):
            base = f"encoder.albert_layer_groups.{g}.albert_layers.{i}."
            shapes = {
                "query_w": (H, H), "key_w": (H, H), "value_w": (H, H), "attn_out_w": (H, H),
                "ffn_w": (F, H), "ffn_b": (F,), "ffn_out_w": (H, F),
            }
            layers.append(LayerWeights(**{
                field_: take(base + hf, shapes.get(field_, (H,)))
                for field_, hf in _LAYER_FIELDS.items()
            }))
        groups.append(layers)

    head_w = head_b = None
    if head != "encoder":
        out = 2 if head == "qa" else c.num_labels
        head_w = take(f"{_HEAD_TENSORS[head]}.weight", (out, H))
        head_b = take(f"{_HEAD_TENSORS[head]}.bias", (out,))
    pooler_w = take("pooler.weight", (H, H), optional=head != "sequence")
    pooler_b = take("pooler.bias", (H,), optional=head != "sequence")
    return AlbertWeights(
        word_embeddings=take("embeddings.word_embeddings.weight", (c.vocab_size, E)),
        position_embeddings=take(
            "embeddings.position_embeddings.weight", (c.max_position_embeddings, E)
        ),
        token_type_embeddings=take(
            "embeddings.token_type_embeddings.weight", (c.type_vocab_size, E)
        ),
        emb_ln_w=take("embeddings.LayerNorm.weight", (E,)),
        emb_ln_b=take("embeddings.LayerNorm.bias", (E,)),
        mapping_w=take("encoder.embedding_hidden_mapping_in.weight", (H, E)),
        mapping_b=take("encoder.embedding_hidden_mapping_in.bias", (H,)),
        groups=groups,
        pooler_w=pooler_w,
        pooler_b=pooler_b,
        head=head,
        head_w=head_w,
        head_b=head_b,
    )


def load_weights(model_dir, config: AlbertConfig, head: str = "auto") -> AlbertWeights:
    tensors = read_state_dict(model_dir)
    if head == "auto":
        head = detect_head(config, tensors)
    return albert_weights(config, tensors, head)
