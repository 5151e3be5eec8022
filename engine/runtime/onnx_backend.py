"""ONNX Runtime sessions: build or reuse the cached graph, open it on the chosen provider, and fall
back to the CPU (keeping the reason) when a GPU provider fails to start or to run."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np

from engine.albert.config import AlbertConfig
from engine.albert.graph import GRAPH_VERSION, build_graph
from engine.albert.weights import check_weight_files, load_weights, weight_files
from engine.errors import CorruptModelFileError, DeviceError
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
    """Path of the ONNX graph for this checkpoint, building and caching it when missing.

    A cached graph is used only when it matches the sha256 recorded when it was written;
    otherwise it is rebuilt. Weight files too large for the config are refused before any byte of
    them is hashed or read."""
    model_dir = Path(model_dir)
    files = weight_files(model_dir)
    check_weight_files(files, config)
    graph_cache.clean_stale_temps()  # what dead conversions left, whoever they were
    hashes = graph_cache.weight_hashes(model_dir, files)
    key = graph_cache.graph_key(hashes, model_dir / "config.json", head, "fp32", GRAPH_VERSION)

    def build_fp32() -> Path:
        weights = load_weights(model_dir, config, head)
        data = build_graph(config, weights).SerializeToString()
        del weights
        return graph_cache.store_graph(key, "fp32", data, hashes)

    fp32_path = _cached_graph(key, "fp32", build_fp32)
    if precision == "fp32":
        return fp32_path
    return _cached_graph(key, "int8", lambda: _quantize(key, fp32_path, hashes))


def _cached_graph(key: str, precision: str, build) -> Path:
    """The verified cached graph, or `build()` under the key's conversion lock."""
    path = graph_cache.verified_graph(key, precision)
    if path is None:
        with graph_cache.conversion(key):
            # Another process may have converted it while we waited for the lock.
            path = graph_cache.verified_graph(key, precision)
            if path is None:
                path = build()
    return path


def _quantize(key: str, fp32_path: Path, hashes: list[str]) -> Path:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = graph_cache.temp_dir(key)
    try:
        out = tmp / "int8.onnx"
        quantize_dynamic(
            fp32_path, out, weight_type=QuantType.QInt8, op_types_to_quantize=_INT8_OPS,
            # Shape inference cannot type the outputs of fused com.microsoft operators.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
        )
        return graph_cache.store_graph(key, "int8", out, hashes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _session_options():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.intra_op_num_threads = thread_count()
    return options


THREADS_VARIABLE = "ALBERT_LENS_THREADS"
MAX_THREADS = 1024


def thread_count() -> int:
    """ONNX Runtime's compute threads from ALBERT_LENS_THREADS; 0 (ONNX Runtime's choice: one per
    core) when unset or empty. Any other value than a whole number 0-1024 is refused: a setting
    the user made on purpose is not silently replaced."""
    raw = os.environ.get(THREADS_VARIABLE, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_THREADS:
        raise DeviceError(
            f"{THREADS_VARIABLE}={_short_value(raw)} is not a thread count: use a whole number "
            f"from 1 to {MAX_THREADS}, or 0 or unset to use every core."
        )
    return value


def _short_value(raw: str) -> str:
    text = raw.encode("ascii", "backslashreplace").decode("ascii")
    return repr(text if len(text) <= 40 else text[:37] + "...")


class GraphOpenError(CorruptModelFileError):
    """ONNX Runtime refused a graph that matches its record: `load_model` rebuilds it once."""


class OnnxBackend:
    name = "onnx"

    def __init__(self, graph_path: Path, choice: DeviceChoice):
        self.graph_path = Path(graph_path)
        self.device = choice
        self._options = _session_options()  # a bad setting is the user's to fix, not the graph's
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
            return ort.InferenceSession(str(self.graph_path), self._options,
                                        providers=providers)
        except Exception as exc:
            if provider == CPU:
                raise GraphOpenError(
                    f"The converted model {self.graph_path.name} cannot be opened by ONNX "
                    f"Runtime ({_short(exc)})."
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
