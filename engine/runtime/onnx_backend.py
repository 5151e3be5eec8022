"""ONNX Runtime sessions: build or reuse the cached graph, open it on the chosen provider, and fall
back to the CPU (keeping the reason) when a GPU provider fails to start or to run."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from engine.albert.config import AlbertConfig
from engine.albert.graph import GRAPH_VERSION, build_graph
from engine.albert.weights import load_weights, weight_files
from engine.errors import CorruptModelFileError
from engine.runtime import graph_cache
from engine.runtime.providers import CPU, DeviceChoice, provider_options

log = logging.getLogger(__name__)

# Matrix products worth quantizing; the rest (LayerNorm, softmax) stays in float.
_INT8_OPS = ["MatMul", "Attention", "Gemm"]

# On the CPU a big batch runs 4-6% faster as consecutive runs of about this many tokens: the
# activations between operators then stay in cache (measured with albert-base at 8x384, 32x128
# and 160x48; 512-1024 tokens per run were best). A GPU wants the whole batch at once.
CPU_RUN_TOKENS = 1024


def converted_graph(model_dir: Path, config: AlbertConfig, head: str, precision: str) -> Path:
    """Path of the ONNX graph for this checkpoint, building and caching it when missing."""
    files = weight_files(model_dir)
    key = graph_cache.graph_key(files, model_dir / "config.json", head, "fp32", GRAPH_VERSION)
    fp32_path = graph_cache.cached_graph_path(key, "fp32")
    if not fp32_path.is_file():
        weights = load_weights(model_dir, config, head)
        model = build_graph(config, weights)
        graph_cache.atomic_write_bytes(fp32_path, model.SerializeToString())
    if precision == "fp32":
        return fp32_path
    int8_path = graph_cache.cached_graph_path(key, "int8")
    if not int8_path.is_file():
        _quantize(fp32_path, int8_path)
    return int8_path


def _quantize(fp32_path: Path, int8_path: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=int8_path.parent) as tmp:
        out = Path(tmp) / "int8.onnx"
        quantize_dynamic(
            fp32_path, out, weight_type=QuantType.QInt8, op_types_to_quantize=_INT8_OPS,
            # Shape inference cannot type the outputs of fused com.microsoft operators.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
        )
        graph_cache.atomic_write_bytes(int8_path, out.read_bytes())


def _session_options():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    threads = os.environ.get("ALBERT_LENS_THREADS")
    if threads:
        options.intra_op_num_threads = int(threads)
    return options


class OnnxBackend:
    name = "onnx"

    def __init__(self, graph_path: Path, choice: DeviceChoice):
        self.graph_path = Path(graph_path)
        self.device = choice
        self.session = self._open(choice.provider)
        actual = self.session.get_providers()[0]
        if actual != choice.provider:
            # onnxruntime drops a provider it cannot start (missing CUDA libraries...) silently.
            self.device = DeviceChoice(choice.requested, actual,
                                       f"{choice.provider} failed to start")
        self.output_names = [o.name for o in self.session.get_outputs()]

    def _open(self, provider: str):
        import onnxruntime as ort

        providers = [(provider, provider_options(provider))]
        if provider != CPU:
            providers.append((CPU, {}))
        try:
            return ort.InferenceSession(str(self.graph_path), _session_options(),
                                        providers=providers)
        except Exception as exc:
            if provider == CPU:
                raise CorruptModelFileError(
                    f"The converted model {self.graph_path.name} cannot be opened ({exc}). "
                    "Delete the cache folder to rebuild it."
                ) from exc
            log.warning("%s failed to start, using the CPU: %s", provider, exc)
            self.device = DeviceChoice(self.device.requested, CPU,
                                       f"{provider} failed to start: {_short(exc)}")
            return self._open(CPU)

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        if not self.device.is_gpu:
            return _run_in_row_chunks(self.session, feeds, outputs, CPU_RUN_TOKENS)
        try:
            return self.session.run(outputs, feeds)
        except Exception as exc:  # noqa: BLE001
            # A lost or out-of-memory GPU: finish the work on the CPU and say why.
            log.warning("GPU run failed, switching to the CPU: %s", exc)
            reason = f"GPU failed while running: {_short(exc)}"
            self.device = DeviceChoice(self.device.requested, CPU, reason)
            self.session = self._open(CPU)
            return _run_in_row_chunks(self.session, feeds, outputs, CPU_RUN_TOKENS)


def _run_in_row_chunks(session, feeds: dict[str, np.ndarray], outputs: list[str],
                       max_tokens: int) -> list[np.ndarray]:
    """Run a batch as consecutive slices of whole rows; every output has the batch axis first."""
    rows, width = feeds["input_ids"].shape
    step = max(1, max_tokens // max(1, width))
    if rows <= step:
        return session.run(outputs, feeds)
    parts = [session.run(outputs, {k: v[i:i + step] for k, v in feeds.items()})
             for i in range(0, rows, step)]
    return [np.concatenate([p[j] for p in parts]) for j in range(len(outputs))]


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
