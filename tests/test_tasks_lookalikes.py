"""Pipelines read look-alike letters as the words they spell; spans keep the text as written.

Plain English paragraphs are obfuscated with letters of other scripts (Greek, Cyrillic, Cherokee,
Armenian; capitals and small letters) that Unicode's confusables data lists as look-alikes. Each
substitution is one code point for one, so the obfuscated text's results must be the plain
text's at the same positions, with span texts cut from the obfuscated text.
"""

from __future__ import annotations

import json

import pytest
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.cli import main
from engine.documents import Document
from engine.tasks.results import Entity, entity_key
from engine.tasks.retrieval import passage_index, terms
from tests.test_lookalikes import PLAIN, SUBSTITUTES, WORD, obfuscate

PARAGRAPHS = [
    PLAIN,
    ("The Eastern harbour opened at dawn. Boats from Lisbon and Athens unloaded grain, "
     "salt and timber while the port authority checked every crate. Later that week the "
     "Parliament of Portugal praised the harbour master, Elena Costa, for the calm season."),
    ("Sales at the bakery rose sharply in spring. The owners were happy about the new oven, "
     "but the staff complained that the early shifts were long and the pay was poor. "
     "A local newspaper reported the dispute on its front page."),
]
TEXT = "\n\n".join(PARAGRAPHS)
MIXED, CHANGED = obfuscate(TEXT)
# Every word obfuscated: more capitals and more scripts per sentence.
DENSE, _ = obfuscate(TEXT, every=1)
QUESTION = "Where did the boats come from?"
MIXED_QUESTION, _ = obfuscate(QUESTION, every=1)
HEADS = {"ner": "token", "sentiment": "sequence", "summary": "encoder", "qa": "qa"}
TOL = 1e-4


def test_the_obfuscated_texts_spell_the_plain_ones():
    # The premise of every test below: folding gives the plain text back, position by position.
    scripts = {s for x in engine.find_lookalikes(DENSE) for s in x.scripts}
    assert {"Greek", "Cyrillic", "Cherokee", "Armenian"} <= scripts
    assert any(c.isupper() for c in SUBSTITUTES) and any(c.islower() for c in SUBSTITUTES)
    for plain, mixed in ((TEXT, MIXED), (TEXT, DENSE), (QUESTION, MIXED_QUESTION)):
        assert mixed != plain and len(mixed) == len(plain)
        assert engine.fold_lookalikes(mixed).text == plain
    assert len(CHANGED) >= 25


@pytest.fixture(scope="module")
def pipes(checkpoints):
    made = {}

    def get(task: str, fold: bool = True):
        if (task, fold) not in made:
            made[task, fold] = engine.pipeline(task, model=checkpoints(HEADS[task]),
                                               device="cpu", fold_lookalikes=fold)
        return made[task, fold]

    return get


def entities(found) -> list[tuple]:
    return [(e.label, e.start, e.end) for e in found]


def assert_exact(spans, text: str) -> None:
    for s in spans:
        assert s.text == text[s.start:s.end] and s.text == s.text.strip() and s.text


def assert_same_entities(got, expected) -> None:
    assert entities(got) == entities(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.score == pytest.approx(b.score, abs=TOL)
        assert a.key == b.key


@pytest.mark.parametrize("mixed", [MIXED, DENSE], ids=["every-second-word", "every-word"])
@pytest.mark.parametrize("aggregation", ["simple", "first", "none"])
def test_ner_on_obfuscated_text_is_ner_on_the_plain_text(pipes, mixed, aggregation):
    ner = pipes("ner")
    expected = ner(TEXT, aggregation=aggregation)
    got = ner(mixed, aggregation=aggregation)
    assert expected
    assert_same_entities(got, expected)
    assert_exact(got, mixed)
    assert any(e.text != TEXT[e.start:e.end] for e in got)  # some are written with look-alikes


def test_sentiment_on_obfuscated_text_is_sentiment_on_the_plain_text(pipes):
    clf = pipes("sentiment")
    for mixed in (MIXED, DENSE):
        expected, got = clf(TEXT), clf(mixed)
        assert got.label == expected.label
        assert got.score == pytest.approx(expected.score, abs=TOL)
        assert got.scores == pytest.approx(expected.scores, abs=TOL)
        assert [(s.start, s.end, s.label) for s in got.sentences] == \
            [(s.start, s.end, s.label) for s in expected.sentences]
        for a, b in zip(got.sentences, expected.sentences, strict=True):
            assert a.scores == pytest.approx(b.scores, abs=TOL)
        assert_exact(got.sentences, mixed)


def test_summary_of_obfuscated_text_is_the_summary_of_the_plain_text(pipes):
    summ = pipes("summary")
    for mixed in (MIXED, DENSE):
        expected, got = summ(TEXT, max_sentences=3), summ(mixed, max_sentences=3)
        assert [(s.start, s.end) for s in got.sentences] == \
            [(s.start, s.end) for s in expected.sentences]
        for a, b in zip(got.sentences, expected.sentences, strict=True):
            assert a.score == pytest.approx(b.score, abs=TOL)
        assert_exact(got.sentences, mixed)


# Long enough for the retriever to choose the passages the reader sees.
LONG = "\n\n".join(PARAGRAPHS * 8)


@pytest.mark.parametrize("thorough", [True, False])
def test_answers_in_obfuscated_text_to_an_obfuscated_question_are_the_plain_ones(pipes,
                                                                                 thorough):
    qa = pipes("qa")
    contexts = [(TEXT, MIXED), (TEXT, DENSE), (LONG, obfuscate(LONG)[0])]
    for plain, mixed in contexts:
        assert engine.fold_lookalikes(mixed).text == plain
        expected = qa(QUESTION, plain, top_k=3, thorough=thorough)
        for question in (QUESTION, MIXED_QUESTION):
            got = qa(question, mixed, top_k=3, thorough=thorough)
            assert [(a.start, a.end, a.context_start, a.context_end) for a in got] == \
                [(a.start, a.end, a.context_start, a.context_end) for a in expected]
            assert [a.score for a in got] == pytest.approx([a.score for a in expected], abs=TOL)
            assert_exact(got, mixed)


def test_a_documents_text_is_folded_and_its_paragraphs_kept(pipes):
    document = Document.from_text(MIXED)
    assert len(document.paragraphs) == 3
    assert_same_entities(pipes("ner")(document), pipes("ner")(TEXT))
    plain = pipes("summary")(Document.from_text(TEXT))
    got = pipes("summary")(document)
    assert [(s.start, s.end) for s in got.sentences] == [(s.start, s.end) for s in plain.sentences]
    assert_exact(got.sentences, document.text)
    index = pipes("qa").index(document)
    assert index.text == TEXT  # the passages are read folded
    assert [(a.start, a.end) for a in pipes("qa")(MIXED_QUESTION, document)] == \
        [(a.start, a.end) for a in pipes("qa")(QUESTION, Document.from_text(TEXT))]


def test_without_folding_the_model_reads_the_letters_as_written(pipes, checkpoints):
    tok = engine.load_tokenizer(checkpoints("token"))
    assert tok.encode(MIXED).ids != tok.encode(TEXT).ids  # other ids reach the model
    ner, raw_ner = pipes("ner"), pipes("ner", fold=False)
    assert raw_ner.options.fold_lookalikes is False and ner.options.fold_lookalikes is True
    # On plain text folding changes nothing...
    assert raw_ner(TEXT) == ner(TEXT)
    # ...on obfuscated text, without it the model sees other ids and says other things.
    raw = raw_ner(MIXED)
    assert_exact(raw, MIXED)
    assert [(e.label, e.start, e.end, round(e.score, 4)) for e in raw] != \
        [(e.label, e.start, e.end, round(e.score, 4)) for e in ner(MIXED)]
    raw_clf = pipes("sentiment", fold=False)
    assert raw_clf(MIXED).scores != pytest.approx(pipes("sentiment")(MIXED).scores, abs=1e-6)
    raw_summ = pipes("summary", fold=False)
    assert raw_summ(MIXED).sentences != pipes("summary")(MIXED).sentences
    # A call can choose too (QA and summary options change per call).
    qa = pipes("qa")
    folded = qa(MIXED_QUESTION, MIXED, top_k=3, thorough=True)
    raw_answers = qa(MIXED_QUESTION, MIXED, top_k=3, thorough=True, fold_lookalikes=False)
    assert [a.score for a in raw_answers] != pytest.approx([a.score for a in folded], abs=1e-6)
    assert_exact(raw_answers, MIXED)


def test_one_script_text_reads_the_same_with_and_without_folding(pipes):
    text = ("Привет, мир! Это обычный русский текст о погоде в Москве.\n\n"
            "Καλημέρα κόσμε· αυτό είναι ελληνικό κείμενο για την Αθήνα.\n\n"
            "Marie Curie was born in Warsaw and moved to Paris; «Привет» stays as it is.")
    assert engine.find_lookalikes(text) == []
    assert pipes("ner")(text) == pipes("ner", fold=False)(text)
    assert pipes("sentiment")(text) == pipes("sentiment", fold=False)(text)


def test_the_tokenizer_is_still_transformers_albert_tokenizer(checkpoints):
    folder = checkpoints("token")
    ours = engine.load_tokenizer(folder)
    reference = transformers.AlbertTokenizer.from_pretrained(folder)
    for text in (DENSE, MIXED_QUESTION):
        assert ours.encode(text).ids == reference(text)["input_ids"]


def test_entities_are_grouped_by_what_they_spell():
    spellings = ["ALBERT", "A\u13DEBERT", "\u0391LBERT", "Albert", "ALBER\u0422", " albert\n"]
    keys = {Entity("ORG", 0, 6, s, 0.9).key for s in spellings}
    assert keys == {"albert"}
    assert Entity("PER", 0, 12, "Marie  \nCurie", 0.9).key == "marie curie"
    assert entity_key("\u041Carie \u0421urie") == "marie curie"  # Cyrillic capitals EM, ES
    # Words wholly in another script are another entity.
    assert entity_key("Москва") == "москва" != entity_key("Mockba")
    # Given explicitly (the pipeline gives what the model read), it is kept.
    assert Entity("ORG", 0, 6, "A\u13DEBERT", 0.9, key="x").key == "x"


def test_ner_keys_group_obfuscated_mentions_with_plain_ones(pipes):
    ner = pipes("ner")
    mentions = "ALBERT and A\u13DEBERT and \u0391LBERT and Ꭺ\u13DEBERT met ALBERT."
    found = ner(mentions, aggregation="none")
    assert found
    plain = ner(engine.fold_lookalikes(mentions).text, aggregation="none")
    assert [e.key for e in found] == [e.key for e in plain]
    assert_exact(found, mentions)


def test_the_retrievers_terms_come_from_the_same_folding():
    assert terms(MIXED) == terms(TEXT) == terms(DENSE)
    assert terms(MIXED_QUESTION) == terms(QUESTION)
    best = passage_index(DENSE).search(MIXED_QUESTION, 1)[0][0]
    assert best == passage_index(TEXT).search(QUESTION, 1)[0][0]


WORDS = st.sampled_from(["ALBERT", "A\u13DEBERT", "\u0391LBERT", "t\u04BBe", "the", "Paris",
                         "P\u0430ris", "Москва", "model", "m\u03BFdel", "😀", "ﬁne", "1,000"])
TEXTS = st.lists(st.tuples(WORDS, st.sampled_from([" ", ". ", "\n\n", ", ", "\u00a0"])),
                 min_size=1, max_size=30).map(lambda parts: "".join(w + s for w, s in parts))


@settings(max_examples=40, deadline=None)
@given(TEXTS)
def test_spans_stay_exact_on_any_text(pipes, text):
    for aggregation in ("simple", "none"):
        assert_exact(pipes("ner")(text, aggregation=aggregation), text)
    assert_exact(pipes("sentiment")(text).sentences, text)


# --- the command line ----------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path):
    plain, mixed = tmp_path / "plain.txt", tmp_path / "mixed.txt"
    plain.write_text(TEXT, encoding="utf-8")
    mixed.write_text(MIXED, encoding="utf-8")
    return plain, mixed


def analyze(capsys, path, *options):
    code = main(["analyze", str(path), *map(str, options)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_cli_reports_the_lookalikes_with_exact_offsets(files, checkpoints, capsys):
    plain, mixed = files
    model = ["--task", "ner", "--model", checkpoints("token"), "--device", "cpu"]
    report = json.loads(analyze(capsys, mixed, *model))
    block = report["lookalikes"]
    assert block["folding"] is True
    assert block["count"] == len(CHANGED) and block["words"] == len(WORD.findall(TEXT))
    assert block["share"] == pytest.approx(len(CHANGED) / block["words"])
    assert [(x["start"], x["end"]) for x in block["items"]] == CHANGED
    for x in block["items"]:
        assert x["text"] == MIXED[x["start"]:x["end"]] and x["folded"] == TEXT[x["start"]:x["end"]]
        assert len(x["scripts"]) >= 2 and x["scripts"][0] == "Latin"
    expected = json.loads(analyze(capsys, plain, *model))
    assert expected["lookalikes"]["count"] == 0 and expected["lookalikes"]["items"] == []
    assert [(e["label"], e["start"], e["end"], e["key"]) for e in report["entities"]] == \
        [(e["label"], e["start"], e["end"], e["key"]) for e in expected["entities"]]
    for e in report["entities"]:
        assert e["text"] == MIXED[e["start"]:e["end"]]


def test_cli_keep_lookalikes_reads_the_text_as_written(files, checkpoints, capsys, pipes):
    _, mixed = files
    model = ["--task", "sentiment", "--model", checkpoints("sequence"), "--device", "cpu"]
    folded = json.loads(analyze(capsys, mixed, *model))
    kept = json.loads(analyze(capsys, mixed, *model, "--keep-lookalikes"))
    assert kept["lookalikes"]["folding"] is False
    assert kept["lookalikes"]["items"] == folded["lookalikes"]["items"]
    assert kept["sentiment"]["scores"] != pytest.approx(folded["sentiment"]["scores"], abs=1e-6)
    raw = pipes("sentiment", fold=False)(Document.from_text(MIXED))
    assert kept["sentiment"]["scores"] == pytest.approx(raw.scores, abs=TOL)


def test_cli_text_report_names_the_lookalikes(files, checkpoints, capsys):
    _, mixed = files
    out = analyze(capsys, mixed, "--task", "ner", "--model", checkpoints("token"),
                  "--device", "cpu", "--format", "text")
    count = len(CHANGED)
    assert f"Look-alike letters: {count} of {len(WORD.findall(TEXT))} words" in out
    start, end = CHANGED[0]
    assert f"{MIXED[start:end]} = {TEXT[start:end]}" in out
    assert f"… and {count - 20} more" in out
