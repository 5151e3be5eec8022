"""Pipelines share one preamble: options as a frozen dataclass per task, labels read once."""

from __future__ import annotations

import dataclasses

import pytest

import engine
from engine.errors import UnsupportedModelError
from engine.tasks.ner import NEROptions
from engine.tasks.qa import QAOptions
from engine.tasks.sentiment import SentimentOptions
from engine.tasks.summarization import SummaryOptions
from tests import checkpoint_factory as factory

HEADS = {"qa": "qa", "ner": "token", "sentiment": "sequence", "summary": "encoder"}


@pytest.mark.parametrize("task", list(HEADS))
def test_an_unknown_option_is_a_type_error_naming_it(task, checkpoints):
    with pytest.raises(TypeError, match="no_such_option"):
        engine.pipeline(task, model=checkpoints(HEADS[task]), device="cpu", no_such_option=1)


def test_keyword_options_build_the_tasks_frozen_dataclass(checkpoints):
    qa = engine.pipeline("qa", model=checkpoints("qa"), device="cpu", top_k=3, thorough=True)
    assert isinstance(qa.options, QAOptions)
    assert (qa.options.top_k, qa.options.thorough, qa.options.doc_stride) == (3, True, 128)
    # The tiny checkpoint says nothing of SQuAD 2.0: "auto" becomes False, once.
    assert qa.options.allow_no_answer is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        qa.options.top_k = 5
    # A call changes its own options only.
    assert len(qa("Who?", "Marie Curie was born in Warsaw.", top_k=2)) <= 2
    assert qa.options.top_k == 3
    with pytest.raises(TypeError, match="bogus"):
        qa("Who?", "Marie Curie.", bogus=True)

    ner = engine.pipeline("ner", model=checkpoints("token"), device="cpu",
                          aggregation="FIRST", ignore_labels=["O", "B-MISC"])
    assert ner.options == NEROptions(aggregation="first", max_length=512, stride=64,
                                     ignore_labels=("O", "B-MISC"))
    clf = engine.pipeline("sentiment", model=checkpoints("sequence"), device="cpu",
                          sentences=False)
    assert clf.options == SentimentOptions(sentences=False, document="auto", max_length=512,
                                           function_to_apply="softmax")
    summ = engine.pipeline("summary", model=checkpoints("encoder"), device="cpu",
                           max_sentences=2)
    assert summ.options == SummaryOptions(max_sentences=2)


def test_labels_are_read_once_in_id_order(checkpoints):
    ner = engine.pipeline("ner", model=checkpoints("token"), device="cpu")
    assert ner.labels == tuple(factory.CONLL_LABELS)
    clf = engine.pipeline("sentiment", model=checkpoints("sequence"), device="cpu")
    assert clf.labels == ("negative", "positive")


@pytest.mark.parametrize("options, message", [
    ({"aggregation": "mean"}, "aggregation must be one of"),
    ({"stride": -1}, "stride must be at least 0"),
])
def test_bad_ner_options_are_value_errors(options, message, checkpoints):
    with pytest.raises(ValueError, match=message):
        engine.pipeline("ner", model=checkpoints("token"), device="cpu", **options)


def test_bad_sentiment_and_summary_options_are_value_errors():
    with pytest.raises(ValueError, match="document must be one of"):
        SentimentOptions(document="paragraphs")
    with pytest.raises(ValueError, match="function_to_apply"):
        SentimentOptions(function_to_apply="relu")
    with pytest.raises(ValueError, match="ratio"):
        SummaryOptions(ratio=2.0)


@pytest.mark.parametrize("task, wrong", [("qa", "sequence"), ("ner", "qa"),
                                         ("sentiment", "token")])
def test_the_head_comes_from_the_registry(task, wrong, checkpoints):
    with pytest.raises(UnsupportedModelError, match=f"needs a '{HEADS[task]}' head"):
        engine.pipeline(task, model=checkpoints(wrong), device="cpu")
