"""`albert-lens analyze --task classify --labels ... [--multi-label] [--explain]`: the
classification and explanations blocks of the results JSON, with exact offsets."""

from __future__ import annotations

import json

import pytest

import engine
from engine.cli import main
from engine.report import iter_spans
from tests.nli_support import build_nli, hf_zero_shot

TEXT = ("Dear landlord,\n\nThe heater in my flat is broken again. Please send someone.\n\n"
        "The invoice for March is attached.\n")


@pytest.fixture(scope="module")
def nli(tmp_path_factory, spiece_path):
    return build_nli(tmp_path_factory.mktemp("nli-cli") / "m", spiece_path)


@pytest.fixture
def letter(tmp_path):
    path = tmp_path / "letter.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("multi", [False, True])
def test_classify_json_is_the_pipelines_result(nli, letter, capsys, multi):
    argv = ["analyze", letter, "--task", "classify", "--model", nli, "--device", "cpu",
            "--labels", "complaint, invoice,contract", "--keep-lookalikes",
            "--hypothesis-template", "This letter is a {}."]
    code, out, err = run(argv + (["--multi-label"] if multi else []), capsys)
    assert code == 0, err
    report = json.loads(out)
    block = report["classification"]
    assert report["tasks"]["classify"]["status"] == "done"
    assert block["multi_label"] is multi
    text = engine.load_document(letter).text
    expected = hf_zero_shot(nli)(text, candidate_labels=["complaint", "invoice", "contract"],
                                 hypothesis_template="This letter is a {}.", multi_label=multi)
    want = dict(zip(expected["labels"], expected["scores"]))
    assert sorted(block["labels"]) == sorted(want)
    for label, score in zip(block["labels"], block["scores"]):
        assert score == pytest.approx(want[label], abs=1e-4)
    assert [text[p["start"]:p["end"]] for p in block["parts"]] == [
        "Dear landlord,", "The heater in my flat is broken again. Please send someone.",
        "The invoice for March is attached."]
    assert "explanations" not in report


def test_explain_adds_word_weights_with_exact_spans(nli, letter, capsys, checkpoints):
    code, out, err = run(["analyze", letter, "--task", "all", "--device", "cpu", "--explain",
                          "--labels", "complaint,invoice", "--model", f"classify={nli}",
                          "--model", f"sentiment={checkpoints('sequence')}",
                          "--model", f"ner={checkpoints('token')}",
                          "--model", f"summary={checkpoints('encoder')}"], capsys)
    assert code == 0, err
    report = json.loads(out)
    text = report["document"]["text"]
    items = report["explanations"]["items"]
    assert {i["task"] for i in items} == {"sentiment", "classify"}
    assert len([i for i in items if i["task"] == "classify"]) == 3
    for item in items:
        assert [a["text"] for a in item["attributions"]] == text[item["start"]:item["end"]].split()
    for span in iter_spans(report):
        assert text[span["start"]:span["end"]] == span["text"]
    assert report["explanations"]["skipped"] == []


def test_classify_needs_labels(letter, capsys):
    code, out, err = run(["analyze", letter, "--task", "classify"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == ('albert-lens: error: --task classify needs labels: add --labels '
                           '"invoice,contract,..."')


def test_text_report_shows_the_labels_and_the_strongest_words(nli, letter, capsys):
    code, out, err = run(["analyze", letter, "--task", "classify", "--model", nli,
                          "--device", "cpu", "--labels", "complaint,invoice", "--explain",
                          "--format", "text"], capsys)
    assert code == 0, err
    head = next(line for line in out.splitlines() if line.startswith("Classification: "))
    assert "complaint" in head and "invoice" in head
    assert "  classify " in out and "Explanations (3;" in out


def test_explain_an_answer_weighs_the_sentences_of_its_paragraph(letter, capsys, checkpoints):
    code, out, err = run(["analyze", letter, "--task", "qa", "--model", checkpoints("qa"),
                          "--device", "cpu", "--question", "What is broken?", "--explain"],
                         capsys)
    assert code == 0, err
    report = json.loads(out)
    text = report["document"]["text"]
    answer = report["questions"][0]["answers"][0]
    (item,) = report["explanations"]["items"]
    assert item["task"] == "qa" and item["label"] == answer["text"]
    assert item["start"] <= answer["start"] < item["end"]
    assert [text[a["start"]:a["end"]] for a in item["attributions"]] == [
        a["text"] for a in item["attributions"]]
    assert len(item["attributions"]) == len(
        [s for s in engine.split_sentences(text[item["start"]:item["end"]])])
