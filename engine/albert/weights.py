"""ALBERT weights from `model.safetensors` or `pytorch_model.bin`, as float32 numpy arrays.

`pytorch_model.bin` goes through a restricted unpickler (engine.albert.torch_pickle): no torch is
imported and no pickled code runs. Hugging Face parameter names are mapped onto `AlbertWeights`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.albert.config import AlbertConfig, read_json_object
from engine.errors import (
    CorruptModelFileError,
    ModelError,
    ModelFileUnreadableError,
    ModelNotFoundError,
    UnsafeModelFileError,
)

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"

# Tensor bytes of one checkpoint, whatever its config says: albert-xxlarge-v2 is 0.9 GB in float32.
MAX_WEIGHT_BYTES = 8 << 30
# What a weights file may hold beside its tensors: a safetensors header, a pickle, zip records.
_FILE_SLACK = 16 << 20


class StateDict(dict):
    """Tensors by Hugging Face name; `sources` says which file each came from (for messages)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sources: dict[str, Path] = {}


def checkpoint_parameters(config: AlbertConfig) -> int:
    """The most parameters an ALBERT checkpoint of this config holds: the network with its
    largest head, plus the pre-training heads (masked LM, sentence order) a checkpoint may keep."""
    E, H, V = config.embedding_size, config.hidden_size, config.vocab_size
    pretraining = H * E + E + 2 * E + V * E + 2 * V + 2 * H + 2  # MLM transform + decoder, SOP
    return config.parameter_count() + pretraining


def weight_budget(config: AlbertConfig | None) -> int:
    """Bytes of tensors a checkpoint of `config` may declare: every parameter in float64."""
    if config is None:
        return MAX_WEIGHT_BYTES
    return min(MAX_WEIGHT_BYTES, 8 * checkpoint_parameters(config))


def check_weight_files(files: list[Path], config: AlbertConfig | None) -> int:
    """Refuse weight files larger than the config's parameters can fill (a sparse file of many GB,
    a header declaring a huge tensor) before a byte of them is read or hashed; the budget left."""
    budget = weight_budget(config)
    total = 0
    for path in files:
        try:
            total += Path(path).stat().st_size
        except OSError as exc:
            raise unreadable(path, exc) from exc
        if total > budget + _FILE_SLACK * len(files):
            raise CorruptModelFileError(
                f"{Path(path).name} is larger than a checkpoint of this config can be "
                f"({total:,} bytes of weights where at most {budget:,} fit its parameters); "
                "refusing to read it."
            )
    return budget


def unreadable(path, exc: OSError) -> ModelFileUnreadableError:
    """`cannot read <file>: <reason>` for a weights file the OS will not let us read."""
    if isinstance(exc, PermissionError):
        reason = "permission denied"
    else:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    return ModelFileUnreadableError(f"cannot read {path}: {reason}.")


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
    data = read_json_object(index)  # bounded: size and nesting (json.loads recurses per level)
    try:
        names = sorted(set(data["weight_map"].values()))
    except (KeyError, TypeError, AttributeError) as exc:
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


def read_state_dict(model_dir, config: AlbertConfig | None = None) -> StateDict:
    """Every tensor of the checkpoint, by its Hugging Face name.

    Read under the budget of `config` (from the folder's config.json when not given): files
    larger than its parameters can fill are refused unread, and a pickle may declare no more.
    """
    files = weight_files(model_dir)
    if config is None:
        try:
            config = AlbertConfig.from_pretrained(model_dir)
        except ModelError:
            config = None  # the caller reports a bad config; the hard cap still holds
    left = check_weight_files(files, config)
    tensors = StateDict()
    for path in files:
        _check_readable(path)
        if path.suffix == ".safetensors":
            part = _read_safetensors(path)
        else:
            from engine.albert.torch_pickle import load_torch_checkpoint

            part = load_torch_checkpoint(path, max_bytes=max(left, 0))
        left -= sum(v.nbytes for v in part.values())
        tensors.update(part)
        tensors.sources.update(dict.fromkeys(part, path))
    return tensors


def _check_readable(path: Path) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise unreadable(path, exc) from exc


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except PermissionError as exc:
        raise unreadable(path, exc) from exc
    except MemoryError:
        raise CorruptModelFileError(
            f"{path.name} needs more memory than is available; refusing to read it."
        ) from None
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptModelFileError(
            f"{path.name} cannot be read ({detail[:200]}); download it again."
        ) from exc


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
        with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf, refused below
            array = np.ascontiguousarray(value, dtype=np.float32)
        # A NaN or infinite weight (or a float64 one beyond float32) makes every output NaN.
        if not np.isfinite(array).all():
            source = getattr(tensors, "sources", {}).get(full)
            where = source.name if source is not None else "the checkpoint"
            raise CorruptModelFileError(
                f"{where}: the tensor '{full}' holds NaN or infinite values, so every result "
                "would be NaN; the file is damaged. Download or export the model again."
            )
        return array

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
    tensors = read_state_dict(model_dir, config)
    if head == "auto":
        head = detect_head(config, tensors)
    return albert_weights(config, tensors, head)
