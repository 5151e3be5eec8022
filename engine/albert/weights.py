"""ALBERT weights from `model.safetensors` or `pytorch_model.bin`, as float32 numpy arrays.

`pytorch_model.bin` goes through a restricted unpickler (engine.albert.torch_pickle): no torch is
imported and no pickled code runs. Tensors keep the checkpoint's own names end to end (the graph
and the torch module use them too); only the `albert.` prefix of head models is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.albert.config import AlbertConfig, read_json_object
from engine.albert.outputs import Output, head_outputs, uses_pooler
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
        # Container bytes per file, up to 64 MiB in all however many shards.
        if total > budget + _FILE_SLACK * min(len(files), 4):
            fill = (f"the {checkpoint_parameters(config):,} parameters of its config.json"
                    if config is not None else "any ALBERT checkpoint's parameters")
            raise CorruptModelFileError(
                f"{Path(path).name} is larger than a checkpoint of this config can be "
                f"({total:,} bytes of weights, far more than {fill} fill: at most "
                f"{budget:,}); refusing to read it."
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


def shard_names(index: Path) -> list[str]:
    """The shard files a weight index names: plain file names only (no folders, no dot files),
    read by the bounded JSON reader (size and nesting: json.loads recurses per level)."""
    data = read_json_object(index)
    try:
        names = sorted(set(data["weight_map"].values()))
    except (KeyError, TypeError, AttributeError) as exc:
        raise CorruptModelFileError(f"{index} is not a valid weight index: {exc}") from exc
    for name in names:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", name) or \
                name.startswith("."):
            raise UnsafeModelFileError(f"{index} names an odd shard file: {name!r}")
    return names


def _sharded_files(model_dir: Path, index: Path) -> list[Path]:
    files = []
    for name in shard_names(index):
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


# The checkpoint's module of each head's output layer (Hugging Face's names).
HEAD_MODULE = {"qa": "qa_outputs", "token": "classifier", "sequence": "classifier"}


def layer_prefix(group: int, layer: int) -> str:
    return f"encoder.albert_layer_groups.{group}.albert_layers.{layer}."


def parameter_shapes(config: AlbertConfig, head: str) -> dict[str, tuple[int, ...]]:
    """Every tensor the network of `head` reads, by its checkpoint name (less the `albert.` prefix
    of head models), with the shape the config gives it. The pooler is listed for every head: a
    checkpoint that carries one must carry the right one."""
    c = config
    E, H, F = c.embedding_size, c.hidden_size, c.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (c.vocab_size, E),
        "embeddings.position_embeddings.weight": (c.max_position_embeddings, E),
        "embeddings.token_type_embeddings.weight": (c.type_vocab_size, E),
        "embeddings.LayerNorm.weight": (E,),
        "embeddings.LayerNorm.bias": (E,),
        "encoder.embedding_hidden_mapping_in.weight": (H, E),
        "encoder.embedding_hidden_mapping_in.bias": (H,),
    }
    # Linear layers are (out_features, in_features) as PyTorch stores them.
    layer = {"attention.query": (H, H), "attention.key": (H, H), "attention.value": (H, H),
             "attention.dense": (H, H), "attention.LayerNorm": (H,), "ffn": (F, H),
             "ffn_output": (H, F), "full_layer_layer_norm": (H,)}
    for g in range(c.num_hidden_groups):
        for i in range(c.inner_group_num):
            for module, shape in layer.items():
                shapes[f"{layer_prefix(g, i)}{module}.weight"] = shape
                shapes[f"{layer_prefix(g, i)}{module}.bias"] = shape[:1]
    shapes["pooler.weight"], shapes["pooler.bias"] = (H, H), (H,)
    if head != "encoder":
        out = 2 if head == "qa" else c.num_labels
        shapes[f"{HEAD_MODULE[head]}.weight"], shapes[f"{HEAD_MODULE[head]}.bias"] = (out, H), (out,)
    return shapes


@dataclass
class AlbertWeights:
    """The float32 tensors of one head's network by checkpoint name (no `albert.` prefix), every
    shape checked against the config: what the graph builder and the torch module read."""

    head: str
    tensors: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name]

    @property
    def has_pooler(self) -> bool:
        return "pooler.weight" in self.tensors

    @property
    def outputs(self) -> tuple[Output, ...]:
        return head_outputs(self.head, self.has_pooler)


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
    """The tensors `head` reads, checking every shape against the config."""
    prefix = "albert." if any(k.startswith("albert.") for k in tensors) else ""
    sources = getattr(tensors, "sources", {})
    # QA, token and masked-LM checkpoints carry no pooler; one that carries half of it is damaged.
    pooler = head == "sequence" or any(f"{prefix}pooler.{p}" in tensors for p in ("weight", "bias"))
    kept = {}
    for name, shape in parameter_shapes(config, head).items():
        # The head's own layer sits beside the `albert.` model, never inside it.
        full = name if name.split(".")[0] in HEAD_MODULE.values() else prefix + name
        value = tensors.get(full)
        if value is None:
            if name.startswith("pooler.") and not pooler:
                continue
            raise CorruptModelFileError(f"The checkpoint lacks the tensor '{full}'.")
        if tuple(value.shape) != shape:
            raise CorruptModelFileError(
                f"Tensor '{full}' has shape {tuple(value.shape)}, the config expects {shape}."
            )
        with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf, refused below
            array = np.ascontiguousarray(value, dtype=np.float32)
        # A NaN or infinite weight (or a float64 one beyond float32) makes every output NaN.
        if not np.isfinite(array).all():
            source = sources.get(full)
            where = source.name if source is not None else "the checkpoint"
            raise CorruptModelFileError(
                f"{where}: the tensor '{full}' holds NaN or infinite values, so every result "
                "would be NaN; the file is damaged. Download or export the model again."
            )
        if not name.startswith("pooler.") or uses_pooler(head):
            kept[name] = array
    return AlbertWeights(head=head, tensors=kept)


def load_weights(model_dir, config: AlbertConfig, head: str = "auto") -> AlbertWeights:
    tensors = read_state_dict(model_dir, config)
    if head == "auto":
        head = detect_head(config, tensors)
    return albert_weights(config, tensors, head)
