"""`engine.load_model`: one callable ALBERT network, whatever the backend and device.

`resolve_model_dir` is the engine's one resolver of a model argument (a folder, or the id of an
installed model). The runtime reaches the store only there, by a lazy import: engine.models
imports the runtime (to convert graphs), never the other way round at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.albert.config import HEADS, AlbertConfig
from engine.albert.outputs import HEAD_OUTPUTS
from engine.errors import Cancelled, CorruptModelFileError, ModelNotFoundError, StoreError
from engine.runtime.batching import CPU_PADDING, GPU_PADDING, pad_batch, plan_batches
from engine.runtime.providers import DeviceChoice, choose_provider

PRECISIONS = ("fp32", "int8")
BACKENDS = ("onnx", "torch")


def resolve_model_dir(model) -> Path:
    """A model folder, from a path or the catalog id of an installed model."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    from engine.models.store import installed_model_dir  # the runtime's one way into the store

    found = installed_model_dir(str(model))
    if found is not None:
        return found
    raise ModelNotFoundError(
        f"No model folder or installed model named '{model}'. "
        "Give the path of a Hugging Face ALBERT folder, or install one with "
        "'albert-lens models download ID'."
    )


class LoadedModel:
    """numpy in, dict of numpy out, with Hugging Face output names."""

    def __init__(self, model_dir: Path, config: AlbertConfig, head: str, precision: str,
                 backend):
        self.model_dir = model_dir
        self.config = config
        self.head = head
        self.precision = precision
        self._backend = backend
        self.padded_tokens = 0  # work actually done, for batching checks and benchmarks

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def device(self) -> DeviceChoice:
        """Provider in use; `.fallback_reason` says why it is not the GPU when it is not."""
        return self._backend.device

    @property
    def output_names(self) -> list[str]:
        return list(self._backend.output_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(self.config.id2label)

    @property
    def max_length(self) -> int:
        return self.config.max_position_embeddings

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None,
                 outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        ids = _as_int64_2d(input_ids, "input_ids")
        mask = np.ones_like(ids) if attention_mask is None else _as_int64_2d(
            attention_mask, "attention_mask")
        types = np.zeros_like(ids) if token_type_ids is None else _as_int64_2d(
            token_type_ids, "token_type_ids")
        if mask.shape != ids.shape or types.shape != ids.shape:
            raise ValueError("input_ids, attention_mask and token_type_ids must have one shape")
        if ids.shape[1] > self.max_length:
            raise ValueError(f"sequence of {ids.shape[1]} tokens is longer than the model's "
                             f"{self.max_length}; split it into windows")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.config.vocab_size})")
        names = list(outputs) if outputs else self.output_names
        unknown = [n for n in names if n not in self.output_names]
        if unknown:
            raise ValueError(f"this model has no output {unknown}; it has {self.output_names}")
        self.padded_tokens += ids.size
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return dict(zip(names, self._backend.run(feeds, names)))

    def run_sequences(
        self,
        sequences: Sequence,
        outputs: Sequence[str] | None = None,
        max_batch_tokens: int = 8192,
        max_batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> list[dict[str, np.ndarray]]:
        """Run many sequences (objects with `.ids` and `.type_ids`, or id lists) efficiently.

        Batches are formed by length so padding stays small; results come back in input order,
        per-token outputs trimmed to each sequence's own length.
        """
        ids_list = [list(getattr(s, "ids", s)) for s in sequences]
        type_list = [list(getattr(s, "type_ids", None) or [0] * len(ids)) for s, ids in
                     zip(sequences, ids_list)]
        results: list[dict[str, np.ndarray] | None] = [None] * len(ids_list)
        max_padding, slack = GPU_PADDING if self.device.is_gpu else CPU_PADDING
        batches = plan_batches([len(x) for x in ids_list], max_batch_tokens, max_batch_size,
                               max_padding, slack)
        per_token = {o.name: o.per_token for o in HEAD_OUTPUTS[self.head]}
        done = 0
        for batch in batches:
            if cancel is not None and cancel():
                raise Cancelled("The analysis was cancelled.")
            ids, mask = pad_batch([ids_list[i] for i in batch])
            types, _ = pad_batch([type_list[i] for i in batch])
            out = self(ids, mask, types, outputs=outputs)
            for row, index in enumerate(batch):
                length = len(ids_list[index])
                results[index] = {
                    name: value[row, :length] if per_token[name] else value[row]
                    for name, value in out.items()
                }
            done += len(batch)
            if progress is not None:
                progress(done, len(ids_list))
        return results  # type: ignore[return-value]

    def describe(self) -> str:
        return (f"{self.model_dir.name} [{self.head}, {self.precision}, {self.backend}] on "
                f"{self.device.describe()}")


def _as_int64_2d(value, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (batch, sequence)")
    if array.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integers")
    return np.ascontiguousarray(array, dtype=np.int64)


def load_model(model, device: str = "auto", backend: str = "onnx", precision: str = "fp32",
               head: str = "auto") -> LoadedModel:
    """Load an ALBERT checkpoint folder (or installed catalog id) for inference."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    model_dir = resolve_model_dir(model)
    config = AlbertConfig.from_pretrained(model_dir)
    head = _resolve_head(model_dir, config, head)
    if backend == "torch":
        if precision != "fp32":
            raise ValueError("int8 runs with the onnx backend; use backend='onnx'")
        from engine.runtime.torch_backend import TorchBackend

        runner = TorchBackend(model_dir, config, head, device)
    else:
        from engine.runtime import graph_cache
        from engine.runtime.onnx_backend import (
            GraphOpenError,
            OnnxBackend,
            thread_count,
        )

        thread_count()  # a bad ALBERT_LENS_THREADS fails before minutes of conversion
        choice = choose_provider(device)
        if precision == "int8" and choice.is_gpu:
            # Dynamically quantized kernels exist only on the CPU provider.
            choice = DeviceChoice(device, "CPUExecutionProvider", "int8 models run on the CPU")
        graph = _converted(model_dir, config, head, precision)
        try:
            runner = OnnxBackend(graph, choice)
        except GraphOpenError as exc:
            # The graph is the one written but ONNX Runtime will not open it (written by another
            # onnxruntime, say): convert again once; a second refusal is a real error.
            graph_cache.discard(graph)
            try:
                runner = OnnxBackend(_converted(model_dir, config, head, precision), choice)
            except GraphOpenError as again:
                raise CorruptModelFileError(
                    f"{again} Converting {model_dir.name} again did not help; the model or this "
                    "onnxruntime build is not supported."
                ) from exc
    return LoadedModel(model_dir, config, head, precision, runner)


def _converted(model_dir: Path, config: AlbertConfig, head: str, precision: str) -> Path:
    from engine.runtime.onnx_backend import converted_graph

    try:
        return converted_graph(model_dir, config, head, precision)
    except OSError as exc:  # the cache folder: a file in the way, a full disk, read-only
        from engine import paths

        raise StoreError("The converted graph cannot be written: "
                         f"{paths.unusable_message(paths.graph_cache_dir(), exc)}") from exc


def _resolve_head(model_dir: Path, config: AlbertConfig, head: str) -> str:
    if head != "auto":
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS} or 'auto'; got {head!r}")
        return head
    found = config.default_head()
    if found is not None:
        return found
    from engine.albert.weights import detect_head, read_state_dict

    return detect_head(config, read_state_dict(model_dir, config))
