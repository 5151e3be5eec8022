"""Provider choice and the CPU fallback when a GPU provider fails to start or to run."""

import numpy as np
import pytest

import engine
from engine.runtime.batching import CPU_PADDING, GPU_PADDING, pad_batch, plan_batches
from engine.runtime.onnx_backend import OnnxBackend
from engine.runtime.providers import CPU, DeviceChoice, choose_provider

CUDA, DML, COREML = "CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider"


@pytest.mark.parametrize("device, available, provider, reason", [
    ("auto", [CPU], CPU, None),
    ("auto", [CUDA, CPU], CUDA, None),
    ("auto", [DML, CPU], DML, None),
    ("auto", [COREML, CPU], COREML, None),
    ("auto", [DML, CUDA, CPU], CUDA, None),
    ("gpu", [CPU], CPU, "no GPU provider found"),
    ("cpu", [CUDA, CPU], CPU, None),
    ("cuda", [CPU], CPU, "not available"),
    ("dml", [DML, CPU], DML, None),
])
def test_choose_provider(device, available, provider, reason):
    choice = choose_provider(device, available)
    assert choice.provider == provider
    if reason is None:
        assert choice.fallback_reason is None
    else:
        assert reason in choice.fallback_reason
        assert reason in choice.describe()


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="device must be one of"):
        choose_provider("tpu", [CPU])


def test_gpu_provider_that_cannot_start_falls_back(checkpoints):
    cpu_model = engine.load_model(checkpoints("qa"), device="cpu")
    # This onnxruntime build has no CUDA: asking for it must still give a working CPU session.
    backend = OnnxBackend(cpu_model._backend.graph_path, DeviceChoice("gpu", CUDA))
    assert backend.device.provider == CPU
    assert "CUDAExecutionProvider" in backend.device.fallback_reason
    out = backend.run({"input_ids": np.array([[2, 9, 3]]), "attention_mask": np.ones((1, 3), int),
                       "token_type_ids": np.zeros((1, 3), int)}, ["start_logits"])
    assert out[0].shape == (1, 3)


def test_gpu_failure_while_running_finishes_on_cpu(checkpoints):
    model = engine.load_model(checkpoints("sequence"), device="cpu")
    backend = model._backend
    expected = model(np.array([[2, 9, 10, 3]]))["logits"]

    class LostGpuSession:
        def run(self, *a, **k):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")

    backend.session = LostGpuSession()
    backend.device = DeviceChoice("auto", CUDA)
    out = model(np.array([[2, 9, 10, 3]]))["logits"]
    np.testing.assert_array_equal(out, expected)
    assert model.device.provider == CPU
    assert "illegal memory access" in model.device.fallback_reason


def test_cpu_failure_is_not_hidden(checkpoints):
    model = engine.load_model(checkpoints("sequence"), device="cpu")

    class Broken:
        def run(self, *a, **k):
            raise RuntimeError("boom")

    model._backend.session = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        model(np.array([[2, 3]]))


def test_int8_on_gpu_request_runs_on_cpu_with_reason(checkpoints, monkeypatch):
    from engine.runtime import loaded_model as model_module

    monkeypatch.setattr(model_module, "choose_provider", lambda device: DeviceChoice(device, CUDA))
    m = engine.load_model(checkpoints("sequence"), device="gpu", precision="int8")
    assert m.device.provider == CPU
    assert "int8" in m.device.fallback_reason


@pytest.mark.parametrize("caps", [CPU_PADDING, GPU_PADDING, (1.25, 8)])
def test_plan_batches_respects_budget_and_keeps_every_index(caps):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    ratio, slack = caps

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.integers(1, 512), max_size=60), st.integers(512, 4096),
           st.integers(1, 16))
    def check(lengths, budget, size):
        batches = plan_batches(lengths, budget, size, ratio, slack)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(len(lengths)))
        for b in batches:
            assert len(b) <= size
            longest = max(lengths[i] for i in b)
            assert len(b) == 1 or len(b) * longest <= budget
            assert all(longest <= lengths[i] * ratio + slack for i in b)
        padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
        assert sum(lengths) <= padded <= ratio * sum(lengths) + slack * len(lengths)

    check()


def test_cpu_batches_hold_sequences_at_most_one_token_apart(checkpoints):
    model = engine.load_model(checkpoints("sequence"), device="cpu")
    assert not model.device.is_gpu
    lengths = [40, 41, 41, 42, 44, 60, 61, 3, 4, 4]
    widths = []
    run = type(model).__call__

    def recording(self, ids, *args, **kwargs):
        widths.append(sorted(int(n) for n in np.asarray(args[0]).sum(1)) + [ids.shape[1]])
        return run(self, ids, *args, **kwargs)

    type(model).__call__ = recording
    sequences = [[2] + [9] * (n - 2) + [3] for n in lengths]
    try:
        model.run_sequences(sequences)
        on_cpu = list(widths)
        widths.clear()
        # A GPU pays per run: it takes 40..44 in one batch (1.05 x 40 + 2 = 44).
        model._backend.device = DeviceChoice("gpu", CUDA)
        model.run_sequences(sequences)
    finally:
        type(model).__call__ = run
    assert sorted(n for w in on_cpu for n in w[:-1]) == sorted(lengths)
    for *members, width in on_cpu:
        assert width == max(members) and width - min(members) <= 1
    assert [40, 41, 41, 42, 44, 44] in widths


def test_one_long_sequence_does_not_pad_its_neighbours():
    lengths = [60] * 20 + [458]
    batches = plan_batches(lengths, max_batch_tokens=16384)
    assert [20] in batches
    assert sum(len(b) * max(lengths[i] for i in b) for b in batches) == sum(lengths)


def test_pad_batch():
    ids, mask = pad_batch([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_gpu_name_from_driver_tool(tmp_path, monkeypatch):
    from engine.runtime import providers

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    providers.gpu_name.cache_clear()
    try:
        assert DeviceChoice("auto", CUDA).describe() == "NVIDIA H100 80GB HBM3 (CUDA)"
        assert DeviceChoice("auto", CPU).describe() == "CPU"
    finally:
        providers.gpu_name.cache_clear()
