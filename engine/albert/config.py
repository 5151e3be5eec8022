"""ALBERT hyper-parameters read from a Hugging Face `config.json`."""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import (
    CorruptModelFileError,
    ModelFileUnreadableError,
    ModelNotFoundError,
    UnsupportedModelError,
)

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

# Upper bounds of every size in config.json: what released ALBERT checkpoints use (albert-xxlarge:
# hidden 4096, intermediate 16384, 64 heads, 12 layers, vocabulary 30000, 512 positions, embedding
# 128) with headroom. A config beyond them is a mistake or an attack (a million layers in a 400 kB
# folder made a 9 GB conversion), so it is refused before anything is read or built.
SIZE_LIMITS = {
    "vocab_size": 256_000,
    "embedding_size": 4096,
    "hidden_size": 8192,
    "num_hidden_layers": 48,
    "num_hidden_groups": 48,
    "num_attention_heads": 128,
    "intermediate_size": 32768,
    "inner_group_num": 8,
    "max_position_embeddings": 8192,
    "type_vocab_size": 16,
}
# Layers run in all (num_hidden_layers x inner_group_num): twice the deepest allowed stack.
MAX_LAYER_APPLICATIONS = 96
MAX_LABELS = 1000
MAX_LAYER_NORM_EPS = 1.0
# The fp32 ONNX graph is one protobuf, which cannot exceed 2 GiB; albert-xxlarge needs 0.9 GB.
MAX_GRAPH_BYTES = 2_000_000_000
# Serialized nodes of one layer application (7-9 nodes with their names and attributes), rounded up.
GRAPH_BYTES_PER_LAYER = 4096
GRAPH_BYTES_FIXED = 64 * 1024

# Every JSON file of a model folder or of the store is read through `read_json_object`: real
# ones are a few kB and three levels deep.
MAX_JSON_BYTES = 4 << 20
MAX_JSON_DEPTH = 64
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]|"')


def read_json_object(path, what: str | None = None, max_bytes: int = MAX_JSON_BYTES,
                     max_depth: int = MAX_JSON_DEPTH) -> dict:
    """The JSON object in `path` (see `read_json`); CorruptModelFileError if it is not one."""
    data = read_json(path, what, max_bytes, max_depth)
    if not isinstance(data, dict):
        raise CorruptModelFileError(f"{what or path} does not hold a JSON object.")
    return data


def read_json(path, what: str | None = None, max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH):
    """The JSON in `path`, read under a size and nesting budget; typed errors otherwise: the one
    reader of JSON files in the engine.

    Missing: ModelNotFoundError; unreadable or not a regular file: ModelFileUnreadableError;
    too big, too deep or not JSON: CorruptModelFileError. Messages name the file.
    """
    path = Path(path)
    name = what or str(path)
    try:
        # O_NONBLOCK: a FIFO planted under a JSON name must not hang the import.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as exc:
        raise ModelNotFoundError(f"{name} is missing.") from exc
    except OSError as exc:
        raise ModelFileUnreadableError(f"cannot read {name}: {_reason(exc)}.") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileUnreadableError(f"cannot read {name}: it is not a regular file.")
        if info.st_size > max_bytes:
            raise CorruptModelFileError(
                f"{name} is {info.st_size:,} bytes; a model's JSON file may be at most "
                f"{max_bytes:,} bytes.")
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ModelFileUnreadableError(f"cannot read {name}: {_reason(exc)}.") from exc
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > max_bytes:
        raise CorruptModelFileError(f"{name} is larger than {max_bytes:,} bytes.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptModelFileError(f"{name} is not UTF-8 text: {exc}") from exc
    _check_json_depth(text, name, max_depth)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CorruptModelFileError(f"{name} cannot be read as JSON: {exc}") from exc


def _check_json_depth(text: str, name: str, max_depth: int) -> None:
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot nest deeper than it has brackets
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                raise CorruptModelFileError(
                    f"{name} nests deeper than {max_depth} levels; it is not a model's JSON file.")
        elif token in "]}":
            depth -= 1
        elif token == '"':
            return  # an unterminated string: json.loads reports it


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

    def parameter_count(self) -> int:
        """Parameters of the network the graph holds (shared layers once; the largest head)."""
        E, H, F = self.embedding_size, self.hidden_size, self.intermediate_size
        embeddings = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) * E
        embeddings += 2 * E + H * E + H
        layer = 4 * H * H + 4 * H + 2 * F * H + F + H + 4 * H  # q, k, v, dense, ffn, 2 norms
        labels = max(self.num_labels, 2)
        heads = H * H + H + labels * H + labels  # pooler and classifier
        return embeddings + self.num_hidden_groups * self.inner_group_num * layer + heads

    def graph_bytes(self) -> int:
        """About how many bytes the fp32 ONNX graph of this config takes (an upper estimate)."""
        uses = self.num_hidden_layers * self.inner_group_num
        return 4 * self.parameter_count() + GRAPH_BYTES_PER_LAYER * uses + GRAPH_BYTES_FIXED

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
        for name, limit in SIZE_LIMITS.items():
            if name in data:
                value = data[name]
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise CorruptModelFileError(f"{source}: {name} must be a positive integer.")
                if value > limit:
                    raise UnsupportedModelError(
                        f"{source}: {name} is {value:,}; ALBERT checkpoints use at most {limit:,} "
                        "(this folder is not a model Albert Lens can run).")
                kwargs[name] = value
        if "layer_norm_eps" in data:
            kwargs["layer_norm_eps"] = _layer_norm_eps(data["layer_norm_eps"], source)
        id2label = _id2label(data.get("id2label"), source)
        num_labels = data.get("num_labels")
        if num_labels is not None:
            if not isinstance(num_labels, int) or isinstance(num_labels, bool) or \
                    not 0 < num_labels <= MAX_LABELS:
                raise CorruptModelFileError(
                    f"{source}: num_labels must be an integer from 1 to {MAX_LABELS}.")
            if not id2label:  # as transformers: LABEL_0..LABEL_{n-1}; id2label wins otherwise
                id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
        cfg = cls(
            hidden_act=act,
            position_embedding_type=pos_type,
            architectures=_architectures(data.get("architectures"), source),
            id2label=id2label,
            problem_type=_problem_type(data.get("problem_type"), source),
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
        if cfg.num_hidden_layers * cfg.inner_group_num > MAX_LAYER_APPLICATIONS:
            raise UnsupportedModelError(
                f"{source}: {cfg.num_hidden_layers} layers of {cfg.inner_group_num} inner layers "
                f"each is deeper than ALBERT goes (at most {MAX_LAYER_APPLICATIONS} in all).")
        graph = cfg.graph_bytes()
        if graph > MAX_GRAPH_BYTES:
            raise UnsupportedModelError(
                f"{source}: this model would convert to a graph of about {graph / 1e9:.1f} GB; "
                f"Albert Lens converts models of up to {MAX_GRAPH_BYTES / 1e9:.1f} GB "
                "(albert-xxlarge needs 0.9 GB).")
        return cfg

    @classmethod
    def from_pretrained(cls, model_dir) -> AlbertConfig:
        path = Path(model_dir) / "config.json"
        if not path.is_file():
            raise ModelNotFoundError(
                f"No config.json in {model_dir}: this is not a Hugging Face model folder."
            )
        return cls.from_dict(read_json_object(path), source=str(path))


def _reason(exc: OSError) -> str:
    """'permission denied', 'is a directory'...: the OS's reason, in lower case."""
    return (exc.strerror or type(exc).__name__).lower()


def _layer_norm_eps(value, source: str) -> float:
    # A NaN, infinite or non-positive epsilon makes every layer norm return NaN or inf.
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or not 0 < value <= MAX_LAYER_NORM_EPS:
        raise CorruptModelFileError(
            f"{source}: layer_norm_eps must be a number above 0 and at most "
            f"{MAX_LAYER_NORM_EPS:g} (ALBERT uses 1e-12), not {value!r}.")
    return float(value)


def _architectures(value, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or \
            len(value) > 16:
        raise CorruptModelFileError(
            f"{source}: architectures must be a list of class names such as "
            f'["AlbertForQuestionAnswering"], not {_short(value)}.')
    return tuple(value)


def _id2label(value, source: str) -> dict[int, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CorruptModelFileError(
            f"{source}: id2label must be an object mapping label numbers to names, "
            f"not {_short(value)}.")
    if len(value) > MAX_LABELS:
        raise UnsupportedModelError(
            f"{source}: id2label names {len(value):,} labels; Albert Lens takes at most "
            f"{MAX_LABELS}.")
    labels = {}
    for key, name in value.items():
        if not re.fullmatch(r"\d{1,4}", str(key)):
            raise CorruptModelFileError(
                f"{source}: id2label key {_short(key)} is not a label number (0, 1, 2...).")
        if isinstance(name, bool) or not isinstance(name, str | int | float):
            raise CorruptModelFileError(
                f"{source}: the name of label {key} must be text, not {_short(name)}.")
        labels[int(key)] = str(name)
    if sorted(labels) != list(range(len(labels))):
        raise CorruptModelFileError(
            f"{source}: id2label must number its labels 0 to {len(labels) - 1} "
            f"(it has {_short(sorted(labels))}).")
    return dict(sorted(labels.items()))


def _problem_type(value, source: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise CorruptModelFileError(f"{source}: problem_type must be text, not {_short(value)}.")
    return value


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
