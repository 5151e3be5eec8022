"""A downloaded NLI model reads obvious premise/hypothesis pairs right before it is installed
(issue 17): the Hub has checkpoints whose labels are swapped."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.errors import UnsupportedModelError
from engine.models import store
from engine.tasks import zero_shot
from tests.nli_support import MNLI_LABELS, build_nli
from tests.test_models_download import fetch, home, hub, online  # noqa: F401  (fixtures)

REAL_CHECK = zero_shot.check_nli_model


@pytest.fixture
def nli_repo(hub, tmp_path, spiece_path):  # noqa: F811
    hub.add_repo("tester/tiny-nli", build_nli(tmp_path / "nli", spiece_path,
                                              id2label=MNLI_LABELS))
    return "tester/tiny-nli"


def test_a_model_that_reads_the_pairs_wrong_is_not_installed(nli_repo, monkeypatch, home):  # noqa: F811
    seen = []

    def swapped(pipe, needed=5):
        verdict = REAL_CHECK(pipe, needed)
        seen.append((pipe.entailment_id, pipe.contradiction_id, verdict.total))
        return dataclasses.replace(verdict, ok=False, message="its labels look wrong")

    monkeypatch.setattr(zero_shot, "check_nli_model", swapped)
    with pytest.raises(UnsupportedModelError,
                       match="tester/tiny-nli was not installed: its labels look wrong"):
        fetch(nli_repo, convert=True)
    # The check ran on the downloaded model itself (MNLI order: entailment is label 2).
    assert seen == [(2, 0, len(zero_shot.SANITY_PAIRS))]
    assert store.list_installed() == []
    assert [p for p in store.downloads_dir().iterdir() if p.suffix != ".lock"] == []


def test_a_model_that_passes_is_installed_with_the_verdict(nli_repo, monkeypatch, home):  # noqa: F811
    def passes(pipe, needed=5):
        verdict = REAL_CHECK(pipe, needed)
        return dataclasses.replace(verdict, ok=True, message="6 of 6 pairs right")

    monkeypatch.setattr(zero_shot, "check_nli_model", passes)
    model = fetch(nli_repo, convert=True)
    assert model.task == "nli"
    record = json.loads((model.path / "albert-lens.json").read_text(encoding="utf-8"))
    assert "6 of 6 pairs right" in json.dumps(record)


def test_other_kinds_of_model_are_not_checked(hub, checkpoints, monkeypatch, home):  # noqa: F811
    monkeypatch.setattr(zero_shot, "check_nli_model",
                        lambda *a, **k: pytest.fail("only NLI models are checked"))
    hub.add_repo("tester/tiny-qa", checkpoints("qa"))
    assert fetch("tester/tiny-qa", convert=True).task == "question-answering"
