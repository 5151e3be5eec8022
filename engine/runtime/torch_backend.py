"""The optional PyTorch backend: the reference module on CUDA when torch has it, else CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.albert.config import AlbertConfig
from engine.albert.weights import load_weights
from engine.errors import BackendUnavailableError
from engine.runtime.providers import DeviceChoice


class TorchBackend:
    name = "torch"

    def __init__(self, model_dir: Path, config: AlbertConfig, head: str, device: str):
        try:
            import torch
        except ImportError as exc:
            raise BackendUnavailableError(
                "The torch backend needs PyTorch: pip install 'albert-lens[torch]', "
                "or use backend='onnx'."
            ) from exc
        from engine.albert.torch_model import TorchAlbert

        self._torch = torch
        want_gpu = device in ("auto", "gpu", "cuda")
        if want_gpu and torch.cuda.is_available():
            self.device = DeviceChoice(device, "torch-cuda")
            self._device = torch.device("cuda")
        else:
            reason = "torch has no CUDA device" if device in ("gpu", "cuda") else None
            self.device = DeviceChoice(device, "torch-cpu", reason)
            self._device = torch.device("cpu")
        weights = load_weights(model_dir, config, head)
        self.module = TorchAlbert(config, weights).eval().to(self._device)
        self.output_names = [o.name for o in weights.outputs]

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            args = {k: torch.from_numpy(v).to(self._device) for k, v in feeds.items()}
            result = self.module(**args)
            return [result[name].float().cpu().numpy() for name in outputs]
