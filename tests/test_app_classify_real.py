"""Classify and Why? in the app on real (tiny, random) checkpoints through engine.pipeline: the
bars and tints are exactly what the engine computes, and an explanation's tint lies on exactly
the engine's attribution spans, moved to the document's positions."""

from __future__ import annotations

import pytest

import engine
from app.settings import Settings
from tests.app_support import make_window, open_document, wait_idle
from tests.nli_support import build_nli

TEXT = (
    "😀 The invoice for 𝔐arch is attached. Please pay it soon.\n\n"
    "I want to complain: the parcel came late and broken.\n\n"
    "The weather was lovely and the garden is great."
)
LABELS = ["invoice", "complaint", "weather"]


@pytest.fixture(scope="module")
def nli(tmp_path_factory, spiece_path):
    return build_nli(tmp_path_factory.mktemp("nli-app") / "m", spiece_path)


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    return tmp_path_factory.mktemp("classify-home")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, module_home, nli, checkpoints):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(module_home))
    settings = Settings(tmp_path / "settings.ini")
    settings.set_model_for("zero-shot-classification", nli)
    settings.set_model_for("sentiment", checkpoints("sequence"))
    settings.set_model_for("ner", checkpoints("token"))
    return make_window(qtbot, settings=settings, size=(1200, 800))


def test_classify_and_why_with_a_real_nli_model(qtbot, window, tmp_path, nli):
    path = tmp_path / "mail.txt"
    path.write_text(TEXT, encoding="utf-8")
    session = open_document(qtbot, window, path, timeout=60000)
    panel = window.classify_panel
    panel.labels_box.setEditText(", ".join(LABELS))
    panel.run_button.click()
    wait_idle(qtbot, window, 60000)
    assert session.state("zero-shot-classification") == "done"
    reference = engine.pipeline("zero-shot-classification", model=nli, device="cpu")
    expected = reference(engine.load_document(path), LABELS)
    got = session.document_state.classification
    assert got.labels == expected.labels
    assert got.scores == pytest.approx(expected.scores, abs=1e-6)
    assert [r[0] for r in panel.bars.rows] == expected.labels
    assert [(h.start, h.end) for h in session.view.highlights("classify")] == [
        (p.start, p.end) for p in expected.parts]
    for h in session.view.highlights("classify"):
        assert session.view.qt_text(h.start, h.end) == TEXT[h.start:h.end]

    label = expected.parts[1].label
    part = panel.step_label(label)
    panel.why_button.click()
    wait_idle(qtbot, window, 60000)
    paragraph = TEXT[part.start:part.end]
    attributions = reference.explain(paragraph, LABELS, label)
    marks = session.view.highlights("explain")
    assert [(m.start, m.end) for m in marks] == [(part.start + a.start, part.start + a.end)
                                                 for a in attributions]
    assert [m.data for m in marks] == pytest.approx([a.weight for a in attributions], abs=1e-6)
    for m, a in zip(marks, attributions):
        assert TEXT[m.start:m.end] == a.text
        assert session.view.qt_text(m.start, m.end) == a.text


def test_why_on_a_real_sentiment_sentence(qtbot, window, tmp_path, checkpoints):
    path = tmp_path / "mail.txt"
    path.write_text(TEXT, encoding="utf-8")
    session = open_document(qtbot, window, path, timeout=60000)
    window.actions["sentiment"].trigger()
    wait_idle(qtbot, window, 60000)
    panel = window.sentiment_panel
    sentences = session.document_state.sentiment.sentences
    panel.jump_to_sentence(0)
    panel.why_button.click()
    wait_idle(qtbot, window, 60000)
    s = sentences[0]
    reference = engine.pipeline("sentiment", model=checkpoints("sequence"), device="cpu")
    attributions = reference.explain(TEXT[s.start:s.end], s.label)
    marks = session.view.highlights("explain")
    assert [(m.start, m.end) for m in marks] == [(s.start + a.start, s.start + a.end)
                                                 for a in attributions]
    assert [TEXT[m.start:m.end] for m in marks] == [a.text for a in attributions]
    assert TEXT[marks[0].start:marks[0].end] == "😀"
