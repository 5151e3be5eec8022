"""Zero-shot classification against transformers 4.57's zero-shot-classification pipeline, on
tiny NLI-shaped (three-label) checkpoints built here."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.errors import UnsupportedModelError
from engine.models.importer import detect_task
from engine.tasks import zero_shot
from engine.tasks.results import Classification
from tests import checkpoint_factory as factory
from tests.nli_support import MNLI_LABELS, build_nli, hf_zero_shot

TEXTS = [
    "The invoice for March is attached; please pay within thirty days.",
    "I am writing to complain about the broken heater in my flat.",
    "The parcel arrived on Tuesday.",
    "  Spaces   and\ttabs\nand lines  ",
    "x",
]
LABEL_SETS = [
    ["invoice", "contract", "complaint"],
    ["on topic", "off topic"],
    ["safety issue"],
    ["sport", "politics", "money", "weather", "music"],
]
TEMPLATES = ["This example is {}.", "The topic of this text is {}", "{}"]


@pytest.fixture(scope="module", params=["plain", "grouped"])
def nli(request, tmp_path_factory, spiece_path):
    folder = build_nli(tmp_path_factory.mktemp("nli") / request.param, spiece_path,
                       request.param)
    return folder, hf_zero_shot(folder)


def ours(folder, **options):
    return engine.pipeline("zero-shot-classification", model=folder, device="cpu",
                           fold_lookalikes=False, **options)


def same(got: Classification, expected: dict) -> None:
    assert sorted(got.labels) == sorted(expected["labels"])
    want = dict(zip(expected["labels"], expected["scores"]))
    for label, score in zip(got.labels, got.scores):
        assert score == pytest.approx(want[label], abs=1e-4), label
    assert got.scores == sorted(got.scores, reverse=True)
    assert want[got.labels[0]] == pytest.approx(max(expected["scores"]), abs=1e-4)


@pytest.mark.parametrize("multi_label", [False, True])
def test_scores_are_the_pipelines(nli, multi_label):
    folder, hf = nli
    zs = ours(folder)
    for text in TEXTS:
        for labels in LABEL_SETS:
            expected = hf(text, candidate_labels=labels, multi_label=multi_label)
            got = zs(text, labels, multi_label=multi_label)
            same(got, expected)
            assert got.multi_label is multi_label
            if not multi_label and len(labels) > 1:
                assert sum(got.scores) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("template", TEMPLATES)
def test_templates_and_comma_separated_labels(nli, template):
    folder, hf = nli
    zs = ours(folder, hypothesis_template=template)
    text = TEXTS[1]
    expected = hf(text, candidate_labels="invoice, contract ,complaint",
                  hypothesis_template=template)
    same(zs(text, "invoice, contract ,complaint"), expected)
    # A call's template wins over the pipeline's.
    other = "In short: {}!"
    same(zs(text, ["a", "b"], hypothesis_template=other),
         hf(text, candidate_labels=["a", "b"], hypothesis_template=other))


def test_contradiction_first_labels(tmp_path, spiece_path):
    folder = build_nli(tmp_path / "mnli", spiece_path, id2label=MNLI_LABELS, seed=5)
    hf = hf_zero_shot(folder)
    zs = ours(folder)
    assert (zs.entailment_id, zs.contradiction_id) == (2, 0)
    for multi in (False, True):
        same(zs(TEXTS[0], LABEL_SETS[0], multi_label=multi),
             hf(TEXTS[0], candidate_labels=LABEL_SETS[0], multi_label=multi))


def test_long_text_whole_and_per_paragraph(nli):
    folder, hf = nli
    paragraphs = [
        "The invoice for March is attached. Please pay it within thirty days of receipt.",
        "I am writing to complain about the heater. It has been broken since Monday.",
        "The contract runs for two years. Either side may end it with three months' notice.",
    ]
    text = "\n\n".join(paragraphs)
    labels = LABEL_SETS[0]
    tok = factory_tokenizer(folder)
    counts = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in paragraphs]
    longest_hyp = max(len(tok(f"This example is {x}.", add_special_tokens=False)["input_ids"])
                      for x in labels)
    # A window that holds each paragraph but not the whole text.
    width = max(counts) + longest_hyp + 3
    assert sum(counts) + longest_hyp + 3 > width
    zs = ours(folder, max_length=width)
    for multi in (False, True):
        got = zs(text, labels, multi_label=multi)
        assert len(got.parts) == 3
        per = []
        for part, para, count in zip(got.parts, paragraphs, counts):
            assert text[part.start:part.end] == part.text == para
            expected = hf(para, candidate_labels=labels, multi_label=multi)
            same(Classification(part.labels, part.scores), expected)
            per.append(dict(zip(expected["labels"], expected["scores"])))
        whole = {x: sum(c * p[x] for c, p in zip(counts, per)) / sum(counts) for x in labels}
        for label, score in zip(got.labels, got.scores):
            assert score == pytest.approx(whole[label], abs=1e-4)
    # Read whole when it fits: the pipeline's result on the whole text; parts still per paragraph.
    wide = ours(folder)
    got = wide(text, labels)
    same(got, hf(text, candidate_labels=labels))
    assert [(p.start, p.end) for p in got.parts] == [
        (text.index(p), text.index(p) + len(p)) for p in paragraphs]


def test_a_paragraph_longer_than_a_window_is_read_in_runs_of_sentences(nli):
    folder, _ = nli
    sentence = "The heater in the flat has been broken for a week and nobody came. "
    text = "Short opening line.\n\n" + sentence * 12
    zs = ours(folder, max_length=48)
    got = zs(text, LABEL_SETS[0])
    assert [(p.start, p.end) for p in got.parts] == [(0, 19), (21, len(text) - 1)]
    for part in got.parts:
        assert part.text == text[part.start:part.end]
        assert sum(part.scores) == pytest.approx(1.0)
    assert sum(got.scores) == pytest.approx(1.0)


def test_a_document_is_classified_whole_and_per_paragraph(nli, tmp_path):
    folder, hf = nli
    path = tmp_path / "letter.txt"
    path.write_text("Dear landlord,\n\nThe heater is broken again.\n\nRegards, Ann\n",
                    encoding="utf-8")
    doc = engine.load_document(path)
    got = ours(folder)(doc, LABEL_SETS[0])
    same(got, hf(doc.text, candidate_labels=LABEL_SETS[0]))
    assert [p.text for p in got.parts] == ["Dear landlord,", "The heater is broken again.",
                                           "Regards, Ann"]
    for p in got.parts:
        assert doc.text[p.start:p.end] == p.text


def test_labels_the_model_cannot_use_are_refused(tmp_path, spiece_path):
    plain = build_nli(tmp_path / "generic", spiece_path,
                      id2label={0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(UnsupportedModelError, match="entailment") as info:
        ours(plain)
    assert "\n" not in str(info.value)
    sentiment = factory.build_checkpoint(tmp_path / "sst", spiece_path, head="sequence")
    with pytest.raises(UnsupportedModelError, match="NLI model"):
        ours(sentiment)


def test_detect_task_tells_nli_from_sentiment(tmp_path, spiece_path):
    assert detect_task(build_nli(tmp_path / "a", spiece_path)) == "nli"
    assert detect_task(build_nli(tmp_path / "b", spiece_path, id2label=MNLI_LABELS)) == "nli"
    generic = build_nli(tmp_path / "c", spiece_path,
                        id2label={0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    assert detect_task(generic) == "sentiment"


def test_bad_labels_and_templates_are_value_errors(nli):
    zs = ours(nli[0])
    for labels in ([], "", " , ", ["a", "a"]):
        with pytest.raises(ValueError):
            zs("text", labels)
    # A template is text with one {} for the label, never a format string.
    for template in ("No slot here.", "This is {x}.", "{0.__class__}", "{:>999999999}",
                     "{} and {}", "It is {} {{really}}."):
        with pytest.raises(ValueError, match="exactly one \\{\\} for the label"):
            zs("text", ["a"], hypothesis_template=template)
    with pytest.raises(TypeError, match="unknown zero-shot-classification option"):
        ours(nli[0], temperature=2)


def test_the_sanity_check_reads_the_entailment_index(nli, monkeypatch):
    folder, _ = nli
    zs = ours(folder)
    result = zero_shot.check_nli_model(zs)  # runs end to end on a real (random) model
    assert result.total == len(zero_shot.SANITY_PAIRS) and 0 <= result.right <= result.total

    def fake_logits(pairs, progress=None, cancel=None):
        # An NLI model that answers every obvious pair right, with entailment at index 0.
        assert len(pairs) == len(zero_shot.SANITY_PAIRS)
        rows = []
        for _, _, entails in zero_shot.SANITY_PAIRS:
            rows.append([3.0, 0.0, -3.0] if entails else [-3.0, 0.0, 3.0])
        return np.array(rows)

    monkeypatch.setattr(zs, "pair_logits", fake_logits)
    good = zero_shot.check_nli_model(zs)
    assert good.ok and good.right == good.total
    # The same model read with its labels swapped (a mislabelled checkpoint) fails the check.
    monkeypatch.setattr(zs, "entailment_id", 2)
    monkeypatch.setattr(zs, "contradiction_id", 0)
    bad = zero_shot.check_nli_model(zs)
    assert not bad.ok and bad.right == 0 and "not used" in bad.message


def factory_tokenizer(folder):
    import transformers

    return transformers.AlbertTokenizer.from_pretrained(folder)
