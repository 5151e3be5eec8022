"""`albert-lens batch --cluster` on a local Ray (num_cpus=2): the same rows as the local pool."""

from __future__ import annotations

import importlib.util

import pytest

from engine.cli import main
from tests.batch_support import SENTENCES, by_path, install_models, read_rows, results_only

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                       reason="ray is not installed (pip install -e '.[cluster]')"),
    pytest.mark.timeout(300),
]


def test_cluster_on_a_local_ray_gives_the_rows_of_a_local_run(tmp_path, monkeypatch,
                                                               checkpoints):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    install_models(checkpoints)
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "one.txt").write_text(" ".join(SENTENCES[:2]) + "\n", encoding="utf-8")
    (root / "sub" / "two.md").write_text("# Curie\n\n" + SENTENCES[2] + "\n", encoding="utf-8")
    (root / "sub" / "broken.docx").write_bytes(b"PK\x03\x04 not a zip archive")
    common = ["batch", str(root), "--task", "sentiment", "--progress", "none"]
    local = tmp_path / "local.parquet"
    assert main([*common, "--out", str(local), "--workers", "1"]) == 1
    # A local Ray of num_cpus=2 (as many as this test's cores): the default plan, one actor per
    # core, the actors' CPU shares leaving one CPU to Ray's tasks (else the job stalls).
    monkeypatch.setattr("engine.batch.local.cores", lambda: 2)
    ray_out = tmp_path / "ray.parquet"
    assert main([*common, "--out", str(ray_out), "--cluster"]) == 1
    expected = {p: results_only(r) for p, r in by_path(read_rows(local)).items()}
    got = {p: results_only(r) for p, r in by_path(read_rows(ray_out)).items()}
    assert got == expected
    assert sorted(r["status"] for r in got.values()) == ["done", "done", "failed"]
    assert not ray_out.with_name(ray_out.name + ".parts").exists()


def test_actors_fill_the_cores_and_leave_ray_a_cpu():
    from engine.batch.ray_backend import actor_plan

    # Two cores: two one-thread actors of half a CPU each, one CPU left for reads and writes.
    assert actor_plan(2, None, 100) == (2, 0.5, 0)
    assert actor_plan(2, None, 1) == (1, 1.0, 0)
    assert actor_plan(16, None, 1000) == (16, 0.93, 0)
    assert actor_plan(64, None, 1000) == (64, 0.93, 0)
    # --workers N on a local Ray of N + 1 CPUs: N whole-CPU actors.
    assert actor_plan(4, 3, 100) == (3, 1.0, 0)
    for total in (1, 2, 3, 8, 17, 200):
        actors, each, _ = actor_plan(total, None, 10**6)
        assert actors * each <= total - 1 or total == 1


def test_with_usable_gpus_there_is_one_actor_per_gpu():
    from engine.batch.ray_backend import actor_plan

    # Two 16-CPU nodes with 4 GPUs each: 8 actors of one GPU, the CPUs shared among them.
    assert actor_plan(32, None, 1000, gpus=8) == (8, 1.0, 1)
    assert actor_plan(32, 3, 1000, gpus=8) == (3, 1.0, 1)
    assert actor_plan(32, 20, 1000, gpus=8) == (8, 1.0, 1)   # never more actors than GPUs
    assert actor_plan(32, None, 2, gpus=8) == (2, 1.0, 1)
    # A fraction of a GPU is not a GPU to hold.
    assert actor_plan(32, None, 1000, gpus=0.5) == (32, 0.93, 0)
    # --workers beyond the cluster's CPUs: no more actors than CPUs.
    assert actor_plan(2, 500, 1000) == (2, 0.5, 0)


def test_gpus_are_used_only_when_onnx_runtime_can(monkeypatch):
    from engine.batch import ray_backend
    from engine.batch.settings import BatchSettings
    from engine.runtime import providers

    monkeypatch.setattr(providers, "available_providers", lambda: ["CPUExecutionProvider"])
    for device in ("auto", "gpu", "cpu"):
        assert not ray_backend._runs_on_gpu(BatchSettings(tasks=("ner",), device=device))
    monkeypatch.setattr(providers, "available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert ray_backend._runs_on_gpu(BatchSettings(tasks=("ner",), device="auto"))
    assert not ray_backend._runs_on_gpu(BatchSettings(tasks=("ner",), device="cpu"))
