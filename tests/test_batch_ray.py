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
    # --workers 1 on a local Ray: num_cpus=2, one actor and a CPU left for Ray's tasks.
    ray_out = tmp_path / "ray.parquet"
    assert main([*common, "--out", str(ray_out), "--workers", "1", "--cluster"]) == 1
    expected = {p: results_only(r) for p, r in by_path(read_rows(local)).items()}
    got = {p: results_only(r) for p, r in by_path(read_rows(ray_out)).items()}
    assert got == expected
    assert sorted(r["status"] for r in got.values()) == ["done", "done", "failed"]
    assert not ray_out.with_name(ray_out.name + ".parts").exists()
