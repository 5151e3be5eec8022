"""Results carry their meaning: an entity's type, a sentiment's polarity, an answer's context.

Expected values are worked out by hand from the labels and the texts, never copied from output.
"""

from __future__ import annotations

import json

import pytest

import engine
from engine.documents.document import Document
from engine.report import results_report
from engine.tasks.labels import entity_type, polarity
from engine.tasks.qa import with_contexts
from engine.tasks.results import Answer, Entity, SentenceSentiment, Sentiment
from tests import checkpoint_factory as factory

# Three sentences, read off the text by hand.
TEXT = "Marie Curie was born in Warsaw. She moved to Paris in 1891. Later she won two Nobel prizes."
SENTENCES = [(0, 31), (32, 59), (60, 91)]


def test_the_hand_made_sentences_are_the_texts_sentences():
    assert [TEXT[a:b] for a, b in SENTENCES] == [
        "Marie Curie was born in Warsaw.", "She moved to Paris in 1891.",
        "Later she won two Nobel prizes."]
    assert engine.split_sentences(TEXT) == SENTENCES


# --- entity types --------------------------------------------------------------------------------
@pytest.mark.parametrize("label, kind", [
    ("B-PER", "PER"), ("I-PER", "PER"), ("PER", "PER"), ("E-LOC", "LOC"), ("S-ORG", "ORG"),
    ("B-", "B-"), ("X-PER", "X-PER"), ("O", "O"), ("MISC", "MISC"),
])
def test_entity_type_drops_only_a_bioes_prefix(label, kind):
    assert entity_type(label) == kind
    assert Entity(label, 0, 3, "Ada", 0.5).type == kind


def test_an_entity_keeps_a_type_it_is_given():
    assert Entity("B-PER", 0, 3, "Ada", 0.5, type="PERSON").type == "PERSON"


@pytest.mark.parametrize("aggregation", ["none", "simple"])
def test_ner_entities_carry_their_type(aggregation, checkpoints):
    ner = engine.pipeline("ner", model=checkpoints("token"), device="cpu",
                          aggregation=aggregation)
    found = ner(TEXT)
    assert found
    tags = set(factory.CONLL_LABELS) - {"O"}
    for e in found:
        if aggregation == "none":
            assert e.label in tags
            assert e.type == e.label[2:]
        else:  # grouped entities are labelled with the type already
            assert e.label in {t[2:] for t in tags}
            assert e.type == e.label


# --- polarity ------------------------------------------------------------------------------------
@pytest.mark.parametrize("label, score, scores, expected", [
    # GLUE/SST-2: LABEL_1 is positive; 0.75 - 0.25
    ("LABEL_1", 0.75, {"LABEL_0": 0.25, "LABEL_1": 0.75}, 0.5),
    ("LABEL_0", 0.9, {"LABEL_0": 0.9, "LABEL_1": 0.1}, -0.8),
    # named labels, neutral counts 0: 0.3 - 0.2
    ("neutral", 0.5, {"negative": 0.2, "neutral": 0.5, "positive": 0.3}, 0.1),
    ("NEG", 0.6, {"NEG": 0.6, "POS": 0.4}, -0.2),
    # stars: expected rating 0.5*1 + 0.5*4 = 2.5 on 1..5 -> 2*(1.5/4) - 1
    ("1 star", 0.5, {"1 star": 0.5, "2 stars": 0.0, "3 stars": 0.0, "4 stars": 0.5,
                     "5 stars": 0.0}, -0.25),
    ("5 stars", 1.0, {"1 star": 0.0, "5 stars": 1.0}, 1.0),
    # nothing to go by
    ("A", 0.6, {"A": 0.6, "B": 0.4}, 0.0),
    ("positive", 0.7, {}, 0.7),
    ("negative", 0.7, None, -0.7),
])
def test_polarity_from_any_labels(label, score, scores, expected):
    assert polarity(label, score, scores) == pytest.approx(expected, abs=1e-12)
    assert Sentiment(label, score, scores or {}).polarity == pytest.approx(expected, abs=1e-12)
    assert SentenceSentiment(0, 1, "x", label, score, scores or {}).polarity == \
        pytest.approx(expected, abs=1e-12)


def test_stars_all_the_same_rating_do_not_divide_by_zero():
    assert polarity("5 stars", 0.5, {"5 stars": 0.5, "5 star": 0.5}) == 0.0


def _relabelled(checkpoints, tmp_path, labels: list[str]):
    folder = factory.copy_checkpoint(checkpoints("sequence"), tmp_path / "relabelled")
    factory.edit_config(folder, id2label={str(i): v for i, v in enumerate(labels)},
                        label2id={v: i for i, v in enumerate(labels)})
    return folder


def test_a_two_label_glue_model_reads_label_1_as_positive(checkpoints, tmp_path):
    folder = _relabelled(checkpoints, tmp_path, ["LABEL_0", "LABEL_1"])
    result = engine.pipeline("sentiment", model=folder, device="cpu")(TEXT)
    assert set(result.scores) == {"LABEL_0", "LABEL_1"}
    assert result.polarity == pytest.approx(result.scores["LABEL_1"] - result.scores["LABEL_0"])
    assert len(result.sentences) == 3
    for s in result.sentences:
        assert s.polarity == pytest.approx(s.scores["LABEL_1"] - s.scores["LABEL_0"])
        assert -1.0 <= s.polarity <= 1.0


def test_a_three_label_model_with_neutral(spiece_path, tmp_path):
    folder = factory.build_checkpoint(tmp_path / "three", spiece_path, head="sequence", seed=3,
                                      id2label={0: "negative", 1: "neutral", 2: "positive"})
    result = engine.pipeline("sentiment", model=folder, device="cpu")(TEXT)
    assert set(result.scores) == {"negative", "neutral", "positive"}
    assert result.polarity == pytest.approx(result.scores["positive"] - result.scores["negative"])
    for s in result.sentences:
        assert s.polarity == pytest.approx(s.scores["positive"] - s.scores["negative"])


# --- answer contexts -----------------------------------------------------------------------------
def _answer(start: int, end: int, **kw) -> Answer:
    return Answer(TEXT[start:end], start, end, 0.5, **kw)


def test_an_answer_gets_its_sentence():
    at = TEXT.index("Paris")
    (answer,) = with_contexts(TEXT, None, [_answer(at, at + 5)])
    assert (answer.context_start, answer.context_end) == SENTENCES[1]
    assert TEXT[answer.context_start:answer.context_end] == "She moved to Paris in 1891."


def test_an_answer_across_sentences_gets_both():
    at = TEXT.index("Warsaw. She")
    (answer,) = with_contexts(TEXT, None, [_answer(at, at + len("Warsaw. She"))])
    assert (answer.context_start, answer.context_end) == (0, 59)


def test_an_answer_ending_a_sentence_stays_in_it():
    at = TEXT.index("1891.")
    (answer,) = with_contexts(TEXT, None, [_answer(at, at + 5)])
    assert (answer.context_start, answer.context_end) == SENTENCES[1]


def test_no_answer_has_no_context():
    null = Answer("", 0, 0, 0.9, no_answer=True)
    at = TEXT.index("Nobel")
    found = with_contexts(TEXT, None, [null, _answer(at, at + 5)])
    assert (found[0].context_start, found[0].context_end) == (0, 0)
    assert (found[1].context_start, found[1].context_end) == SENTENCES[2]


def test_document_paragraphs_bound_the_context():
    # Without a full stop the first paragraph would run on into the second, were the
    # paragraphs not honoured: "Born in Warsaw" is a sentence of its own.
    doc = Document.from_text("Born in Warsaw\n\nShe moved to Paris in 1891.")
    at = doc.text.index("Paris")
    (answer,) = with_contexts(doc.text, [(p.start, p.end) for p in doc.paragraphs],
                              [Answer("Paris", at, at + 5, 0.5)])
    assert doc.text[answer.context_start:answer.context_end] == "She moved to Paris in 1891."


def test_qa_answers_carry_the_sentences_around_them(checkpoints):
    qa = engine.pipeline("qa", model=checkpoints("qa"), device="cpu", allow_no_answer=False)
    for source in (TEXT, Document.from_text(TEXT)):
        answers = qa("Where did she move?", source, top_k=5)
        assert answers
        for a in answers:
            first = next(i for i, (s, e) in enumerate(SENTENCES) if s <= a.start < e)
            last = next(i for i, (s, e) in enumerate(SENTENCES) if s < a.end <= e)
            assert (a.context_start, a.context_end) == (SENTENCES[first][0], SENTENCES[last][1])
            assert a.context_start <= a.start <= a.end <= a.context_end


# --- the results JSON ----------------------------------------------------------------------------
def test_the_results_json_carries_the_meaning():
    doc = Document.from_text(TEXT)
    at = TEXT.index("Paris")
    answers = with_contexts(TEXT, None, [_answer(at, at + 5), Answer("", 0, 0, 0.1,
                                                                     no_answer=True)])
    sentence = SentenceSentiment(32, 59, TEXT[32:59], "LABEL_0", 0.75,
                                 {"LABEL_0": 0.75, "LABEL_1": 0.25})
    report = json.loads(json.dumps(results_report(
        doc, entities=[Entity("B-PER", 0, 11, "Marie Curie", 0.9)],
        questions=[("Where?", answers)],
        sentiment=Sentiment("LABEL_1", 0.6, {"LABEL_0": 0.4, "LABEL_1": 0.6}, [sentence]))))
    assert report["entities"][0]["type"] == "PER"
    first, null = report["questions"][0]["answers"]
    assert (first["context_start"], first["context_end"]) == SENTENCES[1]
    assert (null["context_start"], null["context_end"]) == (0, 0)
    assert report["sentiment"]["polarity"] == pytest.approx(0.2)
    assert report["sentiment"]["sentences"][0]["polarity"] == pytest.approx(-0.5)
