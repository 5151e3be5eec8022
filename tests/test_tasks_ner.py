"""Entities against transformers 4.57's token-classification pipeline (tiny checkpoints)."""

from __future__ import annotations

import itertools
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest
import transformers
from hypothesis import given
from hypothesis import strategies as st

import engine
from engine.errors import Cancelled, UnsupportedModelError
from tests import checkpoint_factory as factory
from tests.document_factory import sample_paths

SAMPLES = sample_paths()
EXTRA = [
    "Marie Curie was born in Warsaw in 1867 and moved to Paris.",
    "  Google Research released ALBERT;\tPierre Curie and Henri Becquerel  shared a prize.  ",
    "New\u00a0York (USA) is big. Ẳlbert ﬁne café naïve 1,000,000 dollars.",
    "Line one\nLine two\n\n- a list item\n- another (with brackets) [MASK] <unk> here",
]


def texts(limit: int = 300) -> list[str]:
    out = list(EXTRA)
    for p in SAMPLES:
        for line in p.read_text(encoding="utf-8").split("\n"):
            if len(line.split()) >= 6:
                out.append(line[:limit].strip())
    return out


def hf_entities(text: str, found: list[dict]) -> set[tuple[str, int, int]]:
    """The reference's entities with their spans trimmed of whitespace.

    transformers' offsets for a "▁" piece include the space before it, and a word-initial "▁"
    piece alone gets a one-character span it does not really cover (its decoded word is
    empty); such entities hold no text of their own and are left out.
    """
    out = set()
    for e in found:
        start, end = e["start"], e["end"]
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end and e["word"].replace("\u2581", "").strip():
            out.add((e.get("entity_group", e.get("entity")), start, end))
    return out


class FusedCharacterPipeline(transformers.TokenClassificationPipeline):
    """transformers' pipeline plus the engine's one documented rule, written here from the rule
    and not from engine code: a piece that begins inside the characters of the pieces before
    it (one character NFKC expands: "…" is three ".", "ﬁle" is "▁f" on "ﬁ" then "il" on "ﬁl")
    is fused with them into one token before aggregation. The run keeps its first piece's start,
    index and word-start flag and the union of the spans; its scores are the first piece's
    (none, simple, first), the most confident piece's (max) or the mean (average). Tokenizing,
    the model, the softmax, the word heuristic and the grouping stay transformers' own.
    """

    def gather_pre_entities(self, sentence, input_ids, scores, offset_mapping,
                            special_tokens_mask, aggregation_strategy, word_ids=None,
                            word_to_chars_map=None):
        pre = super().gather_pre_entities(sentence, input_ids, scores, offset_mapping,
                                          special_tokens_mask, aggregation_strategy,
                                          word_ids=word_ids, word_to_chars_map=word_to_chars_map)
        runs: list[list[dict]] = []
        end = 0
        for p in pre:
            # transformers' span of a "▁" piece starts on the space before it: skip that space.
            # A bare "▁" covers no character (at the very start it gets the first one's span).
            start = p["start"]
            while start < p["end"] and sentence[start].isspace():
                start += 1
            covered = start if p["word"] == "\u2581" else p["end"]
            if runs and start < end:
                runs[-1].append(p)
                end = max(end, covered)
            else:
                runs.append([p])
                end = covered
        return [self._fuse(run, aggregation_strategy.value) for run in runs]

    @staticmethod
    def _fuse(run: list[dict], strategy: str) -> dict:
        if len(run) == 1:
            return run[0]
        if strategy == "max":
            scores = max(run, key=lambda p: p["scores"].max())["scores"]
        elif strategy == "average":
            scores = np.nanmean(np.stack([p["scores"] for p in run]), axis=0)
        else:
            scores = run[0]["scores"]
        return {**run[0], "word": "".join(p["word"] for p in run), "scores": scores,
                "end": max(p["end"] for p in run)}


@pytest.fixture(scope="module")
def reference(hf_pipeline):
    def get(folder: Path, aggregation: str, fused: bool = True):
        cls = FusedCharacterPipeline if fused else transformers.TokenClassificationPipeline
        return hf_pipeline("token-classification", folder, aggregation_strategy=aggregation,
                           pipeline_class=cls)

    return get


@pytest.fixture(scope="module")
def ours(engine_pipeline):
    return lambda shape="plain", **options: engine_pipeline("ner", "token", shape, **options)


@pytest.mark.parametrize("aggregation", ["simple", "first", "average", "max", "none"])
def test_entity_sets_match_transformers(aggregation, checkpoints, reference, ours):
    folder = checkpoints("token")
    hf = reference(folder, aggregation)
    ner = ours()
    slow = transformers.AlbertTokenizer.from_pretrained(folder)
    compared = 0
    # simple and first are the strategies the app offers: more texts for them.
    count = 30 if aggregation in ("simple", "first") else 14
    for text in texts()[:count]:
        ids = hf.tokenizer(text)["input_ids"]
        if ids != slow(text)["input_ids"] or len(ids) > 512:
            continue  # the reference must see the checkpoint's own ids, in one window
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = hf_entities(text, hf(text))
        got = ner(text, aggregation=aggregation)
        assert {(e.label, e.start, e.end) for e in got} == expected
        compared += 1
    assert compared >= count - 8


def test_scores_match_transformers(checkpoints, reference, ours):
    folder = checkpoints("token", "grouped")
    hf = reference(folder, "simple")
    ner = ours("grouped")
    slow = transformers.AlbertTokenizer.from_pretrained(folder)
    for text in texts()[:12]:
        if hf.tokenizer(text)["input_ids"] != slow(text)["input_ids"]:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = {key: e["score"] for e in hf(text) for key in hf_entities(text, [e])}
        got = {(e.label, e.start, e.end): e.score for e in ner(text)}
        assert got.keys() == expected.keys()
        for key, score in got.items():
            assert score == pytest.approx(expected[key], abs=1e-4)


def test_labels_come_from_id2label(tmp_path, spiece_path):
    labels = {0: "O", 1: "B-GENE", 2: "I-GENE", 3: "B-DRUG", 4: "I-DRUG"}
    folder = factory.build_checkpoint(tmp_path / "bio", spiece_path, head="token", seed=5,
                                      id2label=labels)
    ner = engine.pipeline("ner", model=folder, device="cpu")
    found = ner(" ".join(texts()[4:8]))
    assert found and {e.label for e in found} <= {"GENE", "DRUG"}
    raw = ner(texts()[5], aggregation="none")
    assert raw and {e.label for e in raw} <= {"B-GENE", "I-GENE", "B-DRUG", "I-DRUG"}


def test_long_text_windows_without_duplicates_or_cuts(checkpoints):
    small = engine.pipeline("ner", model=checkpoints("token"), device="cpu", max_length=48,
                            stride=16)
    text = "\n\n".join(p.read_text(encoding="utf-8") for p in SAMPLES)
    seen = []
    found = small(text, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][1] > 50  # many windows were read
    spans = [(e.start, e.end) for e in found]
    assert spans == sorted(spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # no overlap, no duplicate
    for e in found:
        assert e.text == text[e.start:e.end] == e.text.strip() and e.text
    # Each token is read in the window where it sits furthest from an edge: for a token in the
    # middle of a window the probabilities are those of that window alone.
    ids = small.tokenizer.tokenize_with_offsets(text)[0]
    probs = small.token_probabilities(ids)
    # Windows of 46 tokens every 30: [0, 46), [30, 76), [60, 106)... The second window is the
    # most central one for tokens 38..67, which must carry its probabilities.
    window = [small.tokenizer.cls_token_id, *ids[30:76], small.tokenizer.sep_token_id]
    logits = small.model(input_ids=[window])["logits"][0, 1:-1].astype(np.float64)
    alone = np.exp(logits - logits.max(-1, keepdims=True))
    alone /= alone.sum(-1, keepdims=True)
    np.testing.assert_allclose(probs[38:68], alone[8:38], atol=1e-5)
    assert not np.allclose(probs[36:38], alone[6:8], atol=1e-5)  # those belong to the first


def test_one_window_text_is_read_whole(checkpoints, ours):
    ner = ours()
    text = texts()[6]
    assert ner(text) == engine.pipeline("ner", model=checkpoints("token"), device="cpu",
                                        max_length=512, stride=0, fold_lookalikes=False)(text)


def test_cancel_progress_and_errors(checkpoints, ours):
    ner = ours()
    text = "\n".join(texts())
    with pytest.raises(Cancelled):
        ner(text, cancel=lambda: True)
    with pytest.raises(ValueError):
        ner("x", aggregation="longest")
    assert ner("") == []
    assert ner("   \n ") == []
    with pytest.raises(UnsupportedModelError):
        engine.pipeline("ner", model=checkpoints("qa"), device="cpu")


@given(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), max_size=40))
def test_entity_score_is_the_pipelines_nanmean(scores):
    from engine.tasks.ner import _mean_ignoring_nan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of nothing warns
        expected = float(np.nanmean(scores)) if scores else float("nan")
    got = _mean_ignoring_nan(scores)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


EXPANDED = ("Marie Curie… met ﬁona Ｂｅｒｌｉｎ in Paris½ and Henri…Becquerel ﬁled ½ of the "
            "Ｐａｒｉｓ report… with Pierre Curie’s ﬂat ﬁgures, ¼ of them from ﬁ Warsaw.")


def expanding(text: str) -> list[int]:
    """Positions of the characters NFKC turns into several ("…" "ﬁ" "½"; not fullwidth ones)."""
    return [i for i, c in enumerate(text) if len(unicodedata.normalize("NFKC", c)) > 1]


@pytest.mark.parametrize("aggregation", ["none", "simple", "first", "average", "max"])
def test_expanded_characters_are_one_token(aggregation, checkpoints, reference, ours):
    folder = checkpoints("token")
    text = EXPANDED
    assert len(expanding(text)) >= 10
    hf = reference(folder, aggregation)
    # The reference reads the checkpoint's own ids, so the comparison below is meaningful.
    assert hf.tokenizer(text)["input_ids"] == transformers.AlbertTokenizer.from_pretrained(
        folder)(text)["input_ids"]
    for ignore in (("O",), ()):
        got = ours(ignore_labels=ignore)(text, aggregation=aggregation)
        spans = [(e.start, e.end) for e in got]
        assert spans == sorted(spans)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # none share a character
        for e in got:
            assert e.text == text[e.start:e.end] == e.text.strip() and e.text
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = hf_entities(text, hf(text, ignore_labels=list(ignore)))
        assert {(e.label, e.start, e.end) for e in got} == expected
    # With every label kept, each expanded character lies in exactly one entity, where
    # transformers alone puts several on it.
    for i in expanding(text):
        assert sum(e.start <= i < e.end for e in got) == 1, text[i]
    if aggregation == "none":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain = reference(folder, aggregation, fused=False)(text, ignore_labels=[])
        i = text.index("…")
        assert sum(e["start"] <= i < e["end"] for e in plain) == 3  # the bug this rule fixes


def test_text_without_expanded_characters_decodes_as_transformers(checkpoints, reference, ours):
    folder = checkpoints("token")
    ner = ours()
    slow = transformers.AlbertTokenizer.from_pretrained(folder)
    fast = transformers.AlbertTokenizerFast.from_pretrained(folder)
    clean = [t for t in texts() if not expanding(t)
             and fast(t)["input_ids"] == slow(t)["input_ids"]][:6]
    assert len(clean) == 6
    for aggregation in ["none", "simple", "first", "average", "max"]:
        hf = reference(folder, aggregation, fused=False)  # transformers with nothing added
        for text in clean:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = hf_entities(text, hf(text))
            assert {(e.label, e.start, e.end) for e in ner(text, aggregation=aggregation)} == expected
