"""Which ONNX Runtime execution provider runs the model, and why.

`device="auto"` takes the first GPU provider this onnxruntime build offers (CUDA, DirectML, CoreML)
and falls back to the CPU otherwise; the reason for a CPU choice is kept so the status bar and the
CLI can say why the GPU is not used.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass

from engine import DEVICE_CHOICES

CPU = "CPUExecutionProvider"
GPU_PROVIDERS = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
PROVIDER_ALIASES = {
    "cpu": CPU,
    "cuda": "CUDAExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}
# What people choose between (engine.DEVICE_CHOICES), and a provider's own name.
DEVICES = (*DEVICE_CHOICES, *sorted(set(PROVIDER_ALIASES) - {"cpu"}))
FRIENDLY = {
    CPU: "CPU",
    "CUDAExecutionProvider": "NVIDIA GPU (CUDA)",
    "DmlExecutionProvider": "GPU (DirectML)",
    "CoreMLExecutionProvider": "Apple GPU/Neural Engine (CoreML)",
    "torch-cpu": "CPU (PyTorch)",
    "torch-cuda": "NVIDIA GPU (PyTorch CUDA)",
}


@dataclass
class DeviceChoice:
    """What was asked for, what runs, and why it differs when it does."""

    requested: str
    provider: str
    fallback_reason: str | None = None

    @property
    def is_gpu(self) -> bool:
        return self.provider not in (CPU, "torch-cpu")

    def describe(self) -> str:
        name = FRIENDLY.get(self.provider, self.provider)
        gpu = gpu_name() if self.provider in ("CUDAExecutionProvider", "torch-cuda") else None
        if gpu:
            name = f"{gpu} (CUDA)"
        return f"{name} ({self.fallback_reason})" if self.fallback_reason else name


@functools.cache
def gpu_name() -> str | None:
    """The NVIDIA GPU's marketing name, from the driver's own tool (local, no network)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in out.splitlines() if line.strip()]
    return names[0] if names else None


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_provider(device: str, available: list[str] | None = None) -> DeviceChoice:
    """Pick a provider for `device` among the available ones; never fails, may fall back."""
    device = (device or "auto").lower()
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    available = available_providers() if available is None else available
    if device == "cpu":
        return DeviceChoice(device, CPU)
    if device in PROVIDER_ALIASES:
        wanted = PROVIDER_ALIASES[device]
        if wanted in available:
            return DeviceChoice(device, wanted)
        return DeviceChoice(device, CPU, f"{FRIENDLY[wanted]} is not available in this build")
    for provider in GPU_PROVIDERS:
        if provider in available:
            return DeviceChoice(device, provider)
    return DeviceChoice(device, CPU, "no GPU provider found" if device == "gpu" else None)


def provider_options(provider: str) -> dict:
    if provider == "CUDAExecutionProvider":
        # Let cuDNN pick the fastest convolution/GEMM once; padding keeps shapes few.
        return {"device_id": 0, "cudnn_conv_algo_search": "HEURISTIC"}
    return {}
