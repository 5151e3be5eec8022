"""Look-alike letters in the app: Find through them, the indicator and its layer with tooltips,
the setting that turns folding off, and entities grouped by what they spell (issue #15)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.document_state import DocumentState, group_entities
from app.palette import LOOKALIKE_COLOUR
from app.settings import Settings
from app.settings_dialog import SettingsDialog
from app.text_format import as_rich_text
from engine.documents import Document
from engine.tasks.results import Entity
from tests.app_support import (
    FakeNER,
    fake_factory,
    make_window,
    open_document,
    text_file,
    wait_idle,
)
from tests.test_app_ui_theme import MARKS, wcag

SAMPLES = Path(__file__).parent / "data" / "samples"
CYR_A, CYR_O, CYR_IE = "\u0410", "\u043e", "\u0435"  # А о е
CHEROKEE_L, CHEROKEE_T = "\u13de", "\u13a2"  # Ꮮ Ꭲ
ARMENIAN_U, GREEK_ALPHA = "\u057d", "\u0391"  # ս Α


def sample(tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"{name}.txt"
    shutil.copyfile(SAMPLES / f"{name}.txt", target)
    return target


def spans_of(text: str, word: str) -> list[tuple[int, int]]:
    """Every occurrence of `word` in `text`, found by plain string search."""
    out, at = [], text.find(word)
    while at >= 0:
        out.append((at, at + len(word)))
        at = text.find(word, at + 1)
    return out


# --- Find ------------------------------------------------------------------------------------------
def test_find_matches_words_written_with_lookalikes_in_a_sample(qtbot, window, tmp_path):
    session = open_document(qtbot, window, sample(tmp_path, "blog_small_models"))
    text = session.document.text
    obfuscated = "pr" + CYR_O + "blem"  # the sample's "prоblem", with a Cyrillic o
    assert obfuscated in text and len(text.lower()) == len(text)
    bar = session.find_bar
    window.actions["find"].trigger()
    qtbot.keyClicks(bar.edit, "problem")
    bar.search()
    assert bar.matches == sorted(spans_of(text.lower(), "problem") + spans_of(text, obfuscated))
    start = text.index(obfuscated)
    assert (start, start + 7) in bar.matches
    assert session.view.qt_text(start, start + 7) == obfuscated  # the same place in Qt's text
    # Case-insensitive as before: "albert" finds "АLBERT" (Cyrillic A) and "ALBERT".
    bar.edit.setText("albert")
    bar.search()
    cyrillic = spans_of(text, CYR_A + "LBERT")
    assert cyrillic  # the title line's "АLBERT"
    assert bar.matches == sorted(spans_of(text.lower(), "albert") + cyrillic)
    bar.case.setChecked(True)
    bar.edit.setText("ALBERT")
    bar.search()
    assert bar.matches == sorted(spans_of(text, "ALBERT") + cyrillic)


def test_find_natural_finds_the_armenian_u(qtbot, window, tmp_path):
    text = f"Plain prose.\n\nNat{ARMENIAN_U}ral language, natural speech, NATURAL.\n"
    session = open_document(qtbot, window, text_file(tmp_path, text, "natural.txt"))
    bar = session.find_bar
    bar.open_bar()
    bar.edit.setText("Natural")
    bar.search()
    first = text.index(f"Nat{ARMENIAN_U}ral")
    assert bar.matches == [(first, first + 7), (text.index("natural"), text.index("natural") + 7),
                           (text.index("NATURAL"), text.index("NATURAL") + 7)]
    # The obfuscated spelling pasted into the box finds the plain one too.
    bar.edit.setText(f"nat{ARMENIAN_U}ral")
    bar.search()
    assert len(bar.matches) == 3


# --- indicator, layer, tooltips --------------------------------------------------------------------
def test_the_indicator_counts_the_words_and_toggles_the_layer(qtbot, window, tmp_path):
    text = f"The {CYR_A}LBERT model reads t\u04bbe text.\n"  # 2 of 6 words
    session = open_document(qtbot, window, text_file(tmp_path, text, "two.txt"))
    indicator = session.lookalikes_indicator
    assert indicator.isVisible()
    assert indicator.text() == "Look-alikes: 2 words (33%)"
    view, action = session.view, window.actions["lookalikes"]
    assert action.isEnabled() and not action.isChecked()
    assert not view.layer_visible("lookalikes")
    qtbot.mouseClick(indicator, Qt.MouseButton.LeftButton)
    assert view.layer_visible("lookalikes") and action.isChecked()
    albert, the = text.index(CYR_A + "LBERT"), text.index("t\u04bbe")
    assert [(h.start, h.end) for h in view.highlights("lookalikes")] == [
        (albert, albert + 6), (the, the + 3)]
    assert view.highlights_at(albert + 1)[0][0] == "lookalikes"
    # The View menu's action turns it off again, and the indicator follows.
    action.trigger()
    assert not view.layer_visible("lookalikes") and not indicator.isChecked()
    assert view.highlights_at(albert + 1) == []
    view_menu = next(m for m in window.menuBar().actions() if m.text() == "&View").menu()
    assert action in view_menu.actions()


def test_the_indicator_is_hidden_for_a_plain_text_and_follows_the_tab(qtbot, window, tmp_path):
    plain = open_document(qtbot, window, text_file(tmp_path, name="plain.txt"))
    assert not plain.lookalikes_indicator.isVisible()
    assert not window.actions["lookalikes"].isEnabled()
    obfuscated = open_document(qtbot, window, sample(tmp_path, "garden_faq_minutes"))
    assert obfuscated.lookalikes_indicator.isVisible()
    window.actions["lookalikes"].trigger()
    assert obfuscated.lookalikes_shown
    window.tabs.setCurrentWidget(plain)
    assert not window.actions["lookalikes"].isChecked()
    assert not window.actions["lookalikes"].isEnabled()
    window.tabs.setCurrentWidget(obfuscated)
    assert window.actions["lookalikes"].isChecked()


def test_the_indicator_of_each_sample_counts_its_mixed_script_words(qtbot, window, tmp_path):
    import engine

    for name in ("blog_small_models", "garden_faq_minutes", "harbour_report_one_line"):
        session = open_document(qtbot, window, sample(tmp_path, name))
        text = session.document.text
        found = engine.find_lookalikes(text)
        words = len(text.split())
        assert found and all(not item.text.isascii() for item in found)
        count, share = len(session.folded.lookalikes), session.folded.share
        assert count == len(found)
        # The share is of the words; \w+ counts a few more than white space does ("e-mails").
        assert 0.8 * count / words <= share <= count / words
        assert session.lookalikes_indicator.text().startswith(f"Look-alikes: {count} words (")


def test_the_tooltip_says_what_a_word_spells_and_which_scripts_it_mixes(qtbot, window,
                                                                         tmp_path):
    text = f"A{CHEROKEE_L}BERT reads <b>{GREEK_ALPHA}LBERT</b> plainly.\n"
    session = open_document(qtbot, window, text_file(tmp_path, text, "tips.txt"))
    session.set_lookalikes_shown(True)
    view = session.view
    cherokee = text.index(f"A{CHEROKEE_L}BERT")
    greek = text.index(f"{GREEK_ALPHA}LBERT")
    assert view.tooltip_at(cherokee + 2) == (
        f"A{CHEROKEE_L}BERT reads as ALBERT — Latin with Cherokee: {CHEROKEE_L} is CHEROKEE "
        "LETTER TLE, not L")
    assert view.tooltip_at(greek) == (
        f"{GREEK_ALPHA}LBERT reads as ALBERT — Latin with Greek: {GREEK_ALPHA} is GREEK CAPITAL "
        "LETTER ALPHA, not A")
    assert view.tooltip_at(text.index("plainly")) is None
    # The sample's Cherokee "Ꭲhe".
    garden = open_document(qtbot, window, sample(tmp_path, "garden_faq_minutes"))
    garden.set_lookalikes_shown(True)
    at = garden.document.text.index(CHEROKEE_T + "he")
    assert garden.view.tooltip_at(at) == (
        f"{CHEROKEE_T}he reads as The — Latin with Cherokee: {CHEROKEE_T} is CHEROKEE LETTER I, "
        "not T")


def test_a_shown_tooltip_is_plain_text(qtbot, window, tmp_path):
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    text = f"<i>x</i> {CYR_A}LBERT end.\n"
    session = open_document(qtbot, window, text_file(tmp_path, text, "html.txt"))
    session.set_lookalikes_shown(True)
    view = session.view
    start = text.index(CYR_A + "LBERT")
    rect = view.span_rects(start, start + 6)[0]
    point = QPoint(int(rect.center().x()), int(rect.center().y()))
    event = QHelpEvent(QEvent.Type.ToolTip, point, view.viewport().mapToGlobal(point))
    QApplication.sendEvent(view.viewport(), event)
    qtbot.waitUntil(QToolTip.isVisible, timeout=3000)
    shown = QToolTip.text()
    assert shown == as_rich_text(
        f"{CYR_A}LBERT reads as ALBERT — Latin with Cyrillic: {CYR_A} is CYRILLIC CAPITAL LETTER "
        "A, not A", wrap=False)
    assert "white-space:pre'" in shown  # one line, not wrapped to Qt's narrow width
    QToolTip.hideText()


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_the_lookalike_mark_keeps_the_text_readable(qtbot, tmp_path, themed, theme):
    themed(theme)
    w = make_window(qtbot, fake_factory())
    view = open_document(qtbot, w, sample(tmp_path, "harbour_report_one_line")).view
    text = view.palette().color(QPalette.ColorRole.Text)
    fill = view.mark_colour(LOOKALIKE_COLOUR)
    assert fill.alpha() == 255
    assert wcag(text, fill) >= 4.5, (theme, fill.name())
    # Told apart from the page it is painted on.
    assert fill != view.palette().color(QPalette.ColorRole.Base)
    assert QColor(LOOKALIKE_COLOUR).name() not in {QColor(c).name() for c in MARKS}


# --- the setting -----------------------------------------------------------------------------------
def test_folding_is_on_by_default_and_the_setting_reaches_the_pipelines(qtbot, home, tmp_path):
    assert Settings().fold_lookalikes is True
    factory = fake_factory()
    w = make_window(qtbot, factory)
    session = open_document(qtbot, w, sample(tmp_path, "garden_faq_minutes"))
    assert ("ner", None, "auto", "fp32", True) in factory.calls
    dialog = SettingsDialog(w.settings, w)
    qtbot.addWidget(dialog)
    box = dialog.fold_lookalikes
    assert box.text() == "Read look-alike letters as the words they spell" and box.isChecked()
    box.setChecked(False)
    changed = dialog.save()
    assert changed == {"fold_lookalikes": False}
    w.apply_settings(changed)
    assert w.analysis._pipelines == {}  # dropped, as for a change of precision
    assert Settings().fold_lookalikes is False
    w.entities_panel.start(session)
    wait_idle(qtbot, w)
    assert factory.calls[-1] == ("ner", None, "auto", "fp32", False)
    assert next(iter(w.analysis._pipelines))[-1] is False


def test_the_engine_factory_passes_the_setting(monkeypatch):
    import engine
    from app import analysis

    seen = {}
    monkeypatch.setattr(engine, "pipeline", lambda task, **kw: seen.update(task=task, **kw))
    analysis.engine_pipeline("ner", None, "cpu", "int8", fold_lookalikes=False)
    assert seen == {"task": "ner", "model": None, "device": "cpu", "precision": "int8",
                    "fold_lookalikes": False}


# --- entity grouping -------------------------------------------------------------------------------
def _entity(text: str, source: str, kind: str = "ORG", nth: int = 0) -> Entity:
    start = spans_of(source, text)[nth][0]
    return Entity(kind, start, start + len(text), text, 0.9)


def test_mentions_group_by_the_engine_key():
    cherokee, greek = f"A{CHEROKEE_L}BERT", f"{GREEK_ALPHA}LBERT"
    source = f"{cherokee} and ALBERT; {greek}, then ALBERT again. Paris, P{CYR_A}RIS? {cherokee}. ALBERT the man."
    entities = sorted([_entity(cherokee, source), _entity("ALBERT", source),
                       _entity(greek, source), _entity("ALBERT", source, nth=1),
                       _entity(cherokee, source, nth=1), _entity("Paris", source, "LOC"),
                       _entity(f"P{CYR_A}RIS", source, "LOC"),
                       _entity("ALBERT", source, "PER", nth=2)], key=lambda e: e.start)
    assert {e.key for e in entities if e.type == "ORG"} == {"albert"}
    groups = group_entities(entities)
    assert [(kind, name, len(ms)) for kind, name, ms in groups] == [
        ("ORG", "ALBERT", 5), ("LOC", "Paris", 2), ("PER", "ALBERT", 1)]
    org = groups[0][2]
    assert [source[m.start:m.end] for m in org] == [cherokee, "ALBERT", greek, "ALBERT",
                                                   cherokee]
    assert [m.start for m in org] == sorted(m.start for m in org)


def test_a_group_without_a_plain_spelling_is_named_by_its_first_mention():
    cherokee, cyrillic = f"A{CHEROKEE_L}BERT", f"{CYR_A}LBERT"
    source = f"{cyrillic} met {cherokee} and {cherokee}."
    entities = [_entity(cyrillic, source), _entity(cherokee, source),
                _entity(cherokee, source, nth=1)]
    assert group_entities(entities) == [("ORG", cyrillic, entities)]
    state = DocumentState(Document.from_text(source))
    state.set_entities(entities)
    assert state.groups()[0][1] == cyrillic


def test_the_entities_panel_lists_lookalike_spellings_as_one_entity(qtbot, home, tmp_path):
    text = (SAMPLES / "blog_small_models.txt").read_text(encoding="utf-8")
    obfuscated = CYR_A + "LBERT"
    names = {"ALBERT": "ORG", obfuscated: "ORG"}
    w = make_window(qtbot, fake_factory({"ner": FakeNER(names)}))
    session = open_document(qtbot, w, sample(tmp_path, "blog_small_models"))
    qtbot.waitUntil(lambda: session.document_state.entities is not None, timeout=10000)
    every = sorted(spans_of(text, "ALBERT") + spans_of(text, obfuscated))
    assert len(spans_of(text, obfuscated)) >= 1 and len(spans_of(text, "ALBERT")) >= 1
    assert w.entities_panel.rows() == [("ALBERT", "Organization", len(every))]
    w.entities_panel.activate_row(0)
    seen = []
    for _ in every:
        mention = session.view.highlights("mention")[0]
        seen.append((mention.start, mention.end))
        w.entities_panel.step_mention(1)
    assert seen == every
