"""engine.albert.tokenizer against transformers' slow AlbertTokenizer (the reference for ids).

Offsets are checked against the original text only, with the reference's own normalization, so
the checks do not lean on how the implementation aligns text.
"""

from __future__ import annotations

import functools
import io
import logging
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sentencepiece as spm
import transformers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.albert.tokenizer import SPECIAL_TOKENS, AlbertTokenizer, Encoding
from engine.errors import CorruptModelFileError, ModelNotFoundError
from tests.document_factory import sample_paths

CONFIGS = {
    "lower": {"do_lower_case": True, "keep_accents": False},
    "cased": {"do_lower_case": False, "keep_accents": False},
    "lower-accents": {"do_lower_case": True, "keep_accents": True},
    "cased-accents-spaces": {"do_lower_case": False, "keep_accents": True, "remove_space": False},
}

NASTY = [
    "",
    " ",
    "   \t\n  ",
    "\t",
    "a\u00a0b\u00a0\u00a0c",
    "\u3000全角\u3000スペース\u3000",
    "  leading and trailing  ",
    "multiple     spaces\n\n\nand\r\nlines",
    "café naïve résumé",
    "cafe\u0301 e\u0301\u0301\u0302 \u0301lone x \u0301",
    "Z\u0351\u0364\u0300a\u0306\u0307\u0308l\u0334\u0335g\u0336o\u0337",
    "ﬁne ﬂow oﬃce ﬁ",
    "１２３，ＡＢＣ ｆｕｌｌ－ｗｉｄｔｈ",
    "😀 👩\u200d👩\u200d👧 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠀋 🇫🇷",
    "zero\u200bwidth\u200djoiner\u2060word",
    "مرحبا بالعالم שלום עולם",
    "中文字符和日本語のテキスト한국어",
    "ctrl\x00chars\x07here\x1cand\u200eLRM\x7f",
    "``quoted'' and '''triple''' ``",
    "1,000,000, and 3,5, or 12,345.",
    "İstanbul İİ",
    "ΟΔΟΣ ΣΟΦΟΣ Σ α𝚺 ΑΣ.",
    "Straße STRASSE ß",
    "the [MASK] is [CLS] and [SEP]",
    "spaces before   [MASK]   after",
    "<UNK> <unk> <pad> <PAD> [mask] [Mask]",
    "[MASK][MASK]  [SEP][CLS]",
    "x" * 300 + " " + "antidisestablishmentarianism" * 5,
    "´ ¨ ¸ ˜ spacing accents",
    "℻ ㎁ ½ ⅷ ① ⒈ 🄂,",
    "\ufdfa",
    "tab\tseparated\tvalues\x1f\x1e",
]

SAMPLES = sample_paths()


def _sample(path: Path) -> str:
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def pair(request, spiece_path):
    """(ours, reference) built on the same sentencepiece model with the same options."""
    cfg = CONFIGS[request.param]
    ref = transformers.AlbertTokenizer(vocab_file=str(spiece_path), **cfg)
    return AlbertTokenizer(spiece_path, **cfg), ref


@pytest.fixture(scope="module")
def plain(spiece_path):
    return AlbertTokenizer(spiece_path), transformers.AlbertTokenizer(vocab_file=str(spiece_path))


# --- the independent checks ----------------------------------------------------------------------


@functools.cache
def _normalizer(ref):
    """What the reference does to a string before cutting it into pieces, without the '▁'s."""

    @functools.cache
    def normalize(s: str) -> str:
        out = ref.sp_model.normalize(ref.preprocess_text(s)).replace("▁", "")
        return out.replace("ς", "σ")  # a substring may miss the context of a final sigma

    return normalize


def _lower_alone(s: str) -> str:
    return "".join(c.lower() if c != "Σ" else "σ" for c in s)


def check_offsets(text: str, tokens: list[str], offsets: list[tuple[int, int]], ref) -> None:
    normalize = _normalizer(ref)
    assert len(tokens) == len(offsets)
    prev_start, prev_end = 0, 0
    for tok, (s, e) in zip(tokens, offsets):
        assert 0 <= s <= e <= len(text), (tok, s, e)
        assert s >= prev_start, f"starts go back at {tok!r} {(s, e)}"
        if s < e:
            assert e >= prev_end, f"ends go back at {tok!r} {(s, e)}"
            # no whitespace at the edges, unless the model keeps it as text (remove_space=False
            # lets sentencepiece see e.g. U+0085, which it keeps as an unknown piece)
            for edge in (text[s], text[e - 1]):
                assert not edge.isspace() or normalize(edge), (tok, text[s:e])
            prev_end = e
        else:
            assert tok.strip("▁") == "", f"zero-width span for {tok!r}"
        prev_start = s

    groups: list[list] = []  # [start, end, pieces] of consecutive overlapping spans
    for tok, (s, e) in zip(tokens, offsets):
        if tok in SPECIAL_TOKENS:
            found = text[s:e]
            # found as is, or (with do_lower_case) made by lower-casing, like '<UNK>'
            assert found == tok or (ref.do_lower_case and _lower_alone(found) == tok)
            groups.append([s, e, None])
        elif s < e:
            if groups and groups[-1][2] is not None and s < groups[-1][1]:
                groups[-1][1] = max(groups[-1][1], e)
                groups[-1][2].append(tok)
            else:
                groups.append([s, e, [tok]])
    for s, e, pieces in groups:
        if pieces is not None:
            expected = "".join(pieces).replace("▁", "").replace("ς", "σ")
            assert normalize(text[s:e]) == expected, (text[s:e], pieces)

    covered = bytearray(len(text))
    for s, e in offsets:
        covered[s:e] = b"\x01" * (e - s)
    for i, c in enumerate(text):
        if not covered[i]:
            assert normalize(c) == "", f"{c!r} at {i} survives normalization but has no token"


def check_same_as_reference(ours: AlbertTokenizer, ref, text: str) -> None:
    ids, tokens, offsets = ours.tokenize_with_offsets(text)
    ref_tokens = ref.tokenize(text)
    assert tokens == ref_tokens
    assert ids == ref.convert_tokens_to_ids(ref_tokens)
    check_offsets(text, tokens, offsets, ref)


# --- ids and offsets -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_nasty_strings(pair, text):
    check_same_as_reference(*pair, text)


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_real_documents(pair, path):
    check_same_as_reference(*pair, _sample(path))


def test_training_corpus(pair):
    check_same_as_reference(*pair, (Path(__file__).parent / "data" / "corpus.txt").read_text())


def test_spans_of_known_words(plain):
    ours, _ = plain
    text = "  Marie Curie\u00a0 was born in ﬁrst  [MASK] “Warsaw”."
    _, tokens, offsets = ours.tokenize_with_offsets(text)
    spans = {text[s:e] for s, e in offsets}
    assert {"[MASK]", "ﬁ"} <= spans
    mask = tokens.index("[MASK]")
    assert text[slice(*offsets[mask])] == "[MASK]"
    # A special-token string that appears only after lower-casing is found in the original text.
    ids, tokens, offsets = ours.tokenize_with_offsets("a <UNK> b")
    assert tokens[1:2] == ["<unk>"] and offsets[1] == (2, 7) and ids[1] == ours.unk_token_id


@pytest.mark.parametrize("config", ["lower", "lower-accents"])
def test_one_character_split_over_pieces(spiece_path, config):
    """Pieces cut out of one expanded character all point at that character."""
    ours = AlbertTokenizer(spiece_path, **CONFIGS[config])
    for text in ["ﬁ", "ﬃ", "İ", "℻", "\ufdfa"]:
        _, tokens, offsets = ours.tokenize_with_offsets(text)
        assert {span for tok, span in zip(tokens, offsets) if tok != "▁"} == {(0, 1)}, text
    _, tokens, offsets = ours.tokenize_with_offsets("oﬃce")
    assert offsets[-1][1] == 4 and all(s in (0, 1) for s, _ in offsets[:-1])


def test_leading_marker_is_zero_width(plain):
    ours, _ = plain
    _, tokens, offsets = ours.tokenize_with_offsets("  hello")
    assert tokens[0] == "▁" and offsets[0] == (2, 2)


_FRAGMENTS = st.sampled_from(
    [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u200b", "\u200d", "\u200e", "\x00", "\x1c",
     "e\u0301", "\u0301", "\u0308\u0323", "ﬁ", "ﬃ", "１", "，", "Ａ", "😀", "👩\u200d👧", "𝔘", "𠀋",
     "ש", "م", "中", "``", "''", "'", "1,000,", "3,5,", "İ", "Σ", "ΟΔΟΣ", "ß", "[MASK]",
     "[CLS]", "<UNK>", "<pad>", "[SEP", "´", "℻", "🄂", "\ufdfa", "the", "Paris", "model"]
)
_TEXT = st.lists(
    st.one_of(_FRAGMENTS, st.characters(codec="utf-8"), st.text(max_size=4)), max_size=25
).map("".join)


@given(text=_TEXT)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_text_matches_reference(pair, text):
    check_same_as_reference(*pair, text)


# --- digit-comma pieces ('▁1,' '00,') need a model that has them -------------------------------


@pytest.fixture(scope="module")
def number_model(tmp_path_factory) -> Path:
    rng = random.Random(0)
    lines = (Path(__file__).parent / "data" / "corpus.txt").read_text().splitlines()
    for _ in range(300):
        nums = [f"{rng.randint(1, 999)},{rng.randint(0, 999):03d}," for _ in range(3)]
        lines.append("the cost was " + " and ".join(nums) + f" or {rng.randint(0, 9)},5, in total")
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, vocab_size=400, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2, num_threads=1,
        split_by_number=False,
    )
    path = tmp_path_factory.mktemp("numbers") / "spiece.model"
    path.write_bytes(buf.getvalue())
    sp = spm.SentencePieceProcessor(model_file=str(path))
    assert any(sp.id_to_piece(i)[-2:-1].isdigit() and sp.id_to_piece(i)[-1] == ","
               for i in range(len(sp)))
    return path


@pytest.fixture(scope="module", params=["lower", "cased-accents-spaces"])
def number_pair(request, number_model):
    cfg = CONFIGS[request.param]
    ref = transformers.AlbertTokenizer(vocab_file=str(number_model), **cfg)
    return AlbertTokenizer(number_model, **cfg), ref


@pytest.mark.parametrize("text", [
    "1,000,000, 3,5,", "x12,345,", "１２,３４５，", "a 🄂 5,", "costs 999,000,. 7,7,7,",
    "the cost was 611,474, and 2,5, in total",
])
def test_digit_comma_split(number_pair, text):
    check_same_as_reference(*number_pair, text)


def test_digit_comma_offsets(number_pair):
    ours, _ = number_pair
    text = "paid 611,474, then"
    _, tokens, offsets = ours.tokenize_with_offsets(text)
    commas = [offsets[i] for i, t in enumerate(tokens) if t == ","]
    assert commas == [(8, 9), (12, 13)]


@given(text=st.lists(st.sampled_from(["1", "0", "5", ",", " ", "9", "１", "，", "x", "▁"]),
                     max_size=20).map("".join))
@settings(max_examples=80, deadline=None)
def test_random_numbers(number_pair, text):
    check_same_as_reference(*number_pair, text)


# --- encode / truncation -------------------------------------------------------------------------

PAIRS = [
    ("Where was Marie Curie born?", "Marie Curie was born in Warsaw in 1867."),
    ("", "only a pair"),
    ("a [MASK] question", ""),
    ("ﬁrst  ΟΔΟΣ", "😀 1,000, İstanbul"),
]


@pytest.mark.parametrize("text", NASTY[:12] + ["short", "a [MASK] b"])
def test_encode_single(pair, text):
    ours, ref = pair
    enc = ours.encode(text)
    expected = ref(text)
    assert enc.ids == expected["input_ids"]
    assert enc.type_ids == expected["token_type_ids"]
    assert enc.attention_mask == expected["attention_mask"]
    assert len(enc) == len(enc.ids) == len(enc.offsets) == len(enc.tokens) == len(enc.sequence_ids)
    assert enc.sequence_ids[0] is None and enc.sequence_ids[-1] is None
    assert enc.offsets[0] == enc.offsets[-1] == (0, 0)
    assert set(enc.sequence_ids[1:-1]) <= {0}


@pytest.mark.parametrize("text,text_pair", PAIRS)
def test_encode_pair(pair, text, text_pair):
    ours, ref = pair
    enc = ours.encode(text, text_pair)
    expected = ref(text, text_pair)
    assert enc.ids == expected["input_ids"]
    assert enc.type_ids == expected["token_type_ids"]
    n_a = len(ours.tokenize_with_offsets(text)[0])
    n_b = len(ours.tokenize_with_offsets(text_pair)[0])
    assert enc.sequence_ids == [None] + [0] * n_a + [None] + [1] * n_b + [None]
    check_offsets(text_pair, enc.tokens[n_a + 2 : -1], enc.offsets[n_a + 2 : -1], ref)


@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
@pytest.mark.parametrize("with_pair", [False, True])
def test_truncation_matches_reference(plain, strategy, with_pair, caplog):
    ours, ref = plain
    a = "Marie Curie was born in Warsaw and moved to Paris where she studied."
    b = "In 1903 she shared the Nobel Prize in Physics." if with_pair else None
    caplog.set_level(logging.CRITICAL, logger="transformers")
    total = len(ours.encode(a, b))
    for max_length in range(total + 3):
        expected = ref(a, b, max_length=max_length, truncation=strategy)
        if len(expected["input_ids"]) > max_length:  # the reference gave up (and logged)
            with pytest.raises(ValueError):
                ours.encode(a, b, max_length=max_length, truncation=strategy)
            continue
        enc = ours.encode(a, b, max_length=max_length, truncation=strategy)
        assert enc.ids == expected["input_ids"], max_length
        assert enc.type_ids == expected["token_type_ids"]


def test_truncation_rejects_unknown_strategy(plain):
    with pytest.raises(ValueError):
        plain[0].encode("a b", max_length=3, truncation="bogus")


def test_truncation_keeps_offsets(plain):
    ours, _ = plain
    text = "Marie Curie was born in Warsaw."
    full = ours.encode(text)
    cut = ours.encode(text, max_length=6)
    assert cut.offsets[1:-1] == full.offsets[1:5]


def test_encode_batch(plain):
    ours, ref = plain
    encs = ours.encode_batch(["one text", ("a question", "a context")])
    assert [e.ids for e in encs] == [ref("one text")["input_ids"],
                                     ref("a question", "a context")["input_ids"]]
    assert all(isinstance(e, Encoding) for e in encs)


# --- sliding windows -----------------------------------------------------------------------------


def _context() -> str:
    return " ".join((Path(__file__).parent / "data" / "corpus.txt").read_text().split())


@pytest.mark.parametrize("max_length,stride", [(64, 16), (40, 0), (50, 20)])
def test_windows_with_question(plain, max_length, stride):
    ours, _ = plain
    question, context = "Where was Marie Curie born?", _context()
    q_ids, _, q_off = ours.tokenize_with_offsets(question)
    c_ids, c_tokens, c_off = ours.tokenize_with_offsets(context)
    windows = ours.encode_windows(question, context, max_length=max_length, stride=stride)
    assert len(windows) > 2
    prev_stop = None
    for w in windows:
        assert len(w) <= max_length
        n_q = len(q_ids)
        assert w.ids[: n_q + 2] == [ours.cls_token_id, *q_ids, ours.sep_token_id]
        assert w.ids[-1] == ours.sep_token_id
        assert w.offsets[1 : n_q + 1] == q_off
        assert w.type_ids == [0] * (n_q + 2) + [1] * (len(w) - n_q - 2)
        assert w.sequence_ids == [None] + [0] * n_q + [None] + [1] * (len(w) - n_q - 3) + [None]
        body = w.ids[n_q + 2 : -1]
        # each slice starts `stride` tokens before the previous one ended
        start = 0 if prev_stop is None else prev_stop - stride
        if w is not windows[-1]:
            assert len(body) == max_length - n_q - 3
        assert body == c_ids[start : start + len(body)]
        assert w.offsets[n_q + 2 : -1] == c_off[start : start + len(body)]
        assert w.tokens[n_q + 2 : -1] == c_tokens[start : start + len(body)]
        prev_stop = start + len(body)
    assert prev_stop == len(c_ids)  # the union covers every context token


def test_windows_match_fast_tokenizer(plain, spiece_path):
    """Same windows as transformers' fast tokenizer on a text where both tokenize alike."""
    ours, ref = plain
    fast = transformers.AlbertTokenizerFast(vocab_file=str(spiece_path))
    question, context = "Where was Marie Curie born?", _context()
    if fast(context)["input_ids"] != ref(context)["input_ids"]:
        pytest.skip("this sentencepiece version tokenizes the context unlike `tokenizers`")
    expected = fast(question, context, max_length=64, stride=16, truncation="only_second",
                    return_overflowing_tokens=True)
    windows = ours.encode_windows(question, context, max_length=64, stride=16)
    assert [w.ids for w in windows] == expected["input_ids"]
    assert [w.type_ids for w in windows] == expected["token_type_ids"]


def test_windows_single_text(plain):
    ours, _ = plain
    text = _context()
    ids, _, offsets = ours.tokenize_with_offsets(text)
    windows = ours.encode_windows(text, max_length=32, stride=8)
    start = 0
    for i, w in enumerate(windows):
        body = w.ids[1:-1]
        assert w.ids[0] == ours.cls_token_id and w.ids[-1] == ours.sep_token_id
        assert len(w) <= 32 and set(w.type_ids) == {0}
        assert body == ids[start : start + len(body)]
        assert w.offsets[1:-1] == offsets[start : start + len(body)]
        if i < len(windows) - 1:
            assert len(body) == 30
            start += 30 - 8
    assert start + len(windows[-1].ids) - 2 == len(ids)


def test_windows_short_text_is_one_window(plain):
    ours, ref = plain
    windows = ours.encode_windows("a question?", "short context", max_length=64, stride=60)
    assert [w.ids for w in windows] == [ref("a question?", "short context")["input_ids"]]
    assert len(ours.encode_windows("q", "", max_length=16, stride=4)) == 1


def test_windows_errors(plain):
    ours, _ = plain
    with pytest.raises(ValueError):
        ours.encode_windows("a very long question " * 10, "context", max_length=8, stride=2)
    with pytest.raises(ValueError):
        ours.encode_windows("q", _context(), max_length=20, stride=16)


# --- loading, decoding, misc ---------------------------------------------------------------------


def test_from_pretrained_reads_config(tmp_path, spiece_path):
    ref = transformers.AlbertTokenizer(vocab_file=str(spiece_path), do_lower_case=False,
                                       keep_accents=True)
    ref.save_pretrained(tmp_path)
    ours = AlbertTokenizer.from_pretrained(tmp_path)
    assert (ours.do_lower_case, ours.keep_accents, ours.remove_space) == (False, True, True)
    text = "Café ΟΔΟΣ"
    assert ours.encode(text).ids == ref(text)["input_ids"]
    assert ours.vocab_size == ref.vocab_size
    special = (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.unk_token_id,
               ours.mask_token_id)
    assert special == (ref.cls_token_id, ref.sep_token_id, ref.pad_token_id, ref.unk_token_id,
                       ref.mask_token_id)


def test_from_pretrained_defaults_without_config(tmp_path, spiece_path):
    (tmp_path / "spiece.model").write_bytes(spiece_path.read_bytes())
    ours = AlbertTokenizer.from_pretrained(tmp_path)
    assert (ours.do_lower_case, ours.keep_accents, ours.remove_space) == (True, False, True)


def test_missing_and_corrupt_files(tmp_path, spiece_path):
    with pytest.raises(ModelNotFoundError, match="spiece.model"):
        AlbertTokenizer.from_pretrained(tmp_path)
    with pytest.raises(ModelNotFoundError):
        AlbertTokenizer(tmp_path / "nope.model")
    (tmp_path / "spiece.model").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CorruptModelFileError):
        AlbertTokenizer.from_pretrained(tmp_path)
    (tmp_path / "spiece.model").write_bytes(spiece_path.read_bytes()[:1000])
    with pytest.raises(CorruptModelFileError):
        AlbertTokenizer.from_pretrained(tmp_path)
    (tmp_path / "spiece.model").write_bytes(spiece_path.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(CorruptModelFileError):
        AlbertTokenizer.from_pretrained(tmp_path)


@pytest.mark.parametrize("text", ["Hello world, this is ALBERT.", "a [MASK] b", "ﬁn 1,000, café",
                                  "😀 <UNK> x"])
@pytest.mark.parametrize("skip", [True, False])
def test_decode(pair, text, skip):
    ours, ref = pair
    ids = ref(text)["input_ids"]
    assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)


def test_rejects_non_text(plain):
    ours, _ = plain
    with pytest.raises(ValueError, match="Unicode"):
        ours.encode("lone \udc80 surrogate")
    with pytest.raises(TypeError):
        ours.encode(b"bytes")


def test_no_heavy_imports():
    code = (
        "import sys, engine.albert.tokenizer; "
        "bad = [m for m in ('torch', 'transformers', 'PySide6') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


@pytest.mark.timing
def test_long_document_is_fast(plain):
    ours, _ = plain
    base = "\n\n".join(_sample(p) for p in SAMPLES) if SAMPLES else _context()
    doc = base
    while len(doc.split()) < 25_000:
        doc += "\n\n" + base
    start = time.perf_counter()
    ids, _, offsets = ours.tokenize_with_offsets(doc)
    elapsed = time.perf_counter() - start
    assert len(ids) == len(offsets) > 25_000
    assert elapsed < 3.0, f"{elapsed:.2f} s for 25,000 words"
