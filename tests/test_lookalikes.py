"""Look-alike letters: mixed-script words are read as what they spell, one-script text is kept."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lookalikes import find_lookalikes, fold_lookalikes
from tests.document_factory import sample_paths

PLAIN = (
    "ALBERT is a lite BERT. Researchers at Google built it to read English text, and the "
    "model shares one set of layers across the whole encoder. Natural Language Processing "
    "with Transformers is what this report is about; Paris and London host the teams."
)
# Latin letter -> a letter of another script that looks the same (Unicode's confusables data
# lists each pair), written out by hand: capitals and small letters, five scripts.
SUBSTITUTES = {
    "A": "\u0391",   # GREEK CAPITAL LETTER ALPHA
    "B": "\u13F4",   # CHEROKEE LETTER YV
    "E": "\u0415",   # CYRILLIC CAPITAL LETTER IE
    "L": "\u13DE",   # CHEROKEE LETTER TLE
    "T": "\u0422",   # CYRILLIC CAPITAL LETTER TE
    "a": "\u0430",   # CYRILLIC SMALL LETTER A
    "e": "\u0435",   # CYRILLIC SMALL LETTER IE
    "o": "\u03BF",   # GREEK SMALL LETTER OMICRON
    "p": "\u0440",   # CYRILLIC SMALL LETTER ER
    "s": "\u0455",   # CYRILLIC SMALL LETTER DZE
    "u": "\u057D",   # ARMENIAN SMALL LETTER SEH
    "h": "\u04BB",   # CYRILLIC SMALL LETTER SHHA
    "c": "\u0441",   # CYRILLIC SMALL LETTER ES
}
WORD = re.compile(r"\w+")


def obfuscate(text: str, every: int = 2) -> tuple[str, list[tuple[int, int]]]:
    """Every `every`-th word of two letters or more gets one substituted letter (never its only
    letter: a word wholly in another script is that script's word)."""
    out, changed = list(text), []
    for n, m in enumerate(WORD.finditer(text)):
        if n % every or len(m.group()) < 2:
            continue
        for i in range(m.start(), m.end()):
            if text[i] in SUBSTITUTES:
                out[i] = SUBSTITUTES[text[i]]
                changed.append((m.start(), m.end()))
                break
    return "".join(out), changed


def test_an_obfuscated_text_folds_back_to_the_plain_one_at_the_same_positions():
    mixed, changed = obfuscate(PLAIN)
    assert mixed != PLAIN and len(changed) >= 10
    folded = fold_lookalikes(mixed)
    assert folded.text == PLAIN
    assert folded.original == mixed
    assert [(x.start, x.end) for x in folded.lookalikes] == changed
    for item in folded.lookalikes:
        assert item.text == mixed[item.start:item.end]
        assert item.folded == PLAIN[item.start:item.end]
    assert folded.words == len(WORD.findall(PLAIN))
    assert folded.share == pytest.approx(len(changed) / folded.words)


def test_a_lookalike_names_the_scripts_it_mixes_main_one_first():
    (item,) = find_lookalikes("the A\u13DEBERT model")
    assert (item.start, item.end, item.text, item.folded) == (4, 10, "A\u13DEBERT", "ALBERT")
    assert item.scripts == ("Latin", "Cherokee")
    (item,) = find_lookalikes("t\u04BBe")
    assert item.folded == "the" and item.scripts == ("Latin", "Cyrillic")
    (item,) = find_lookalikes("Nat\u057Dral")
    assert item.folded == "Natural" and item.scripts == ("Latin", "Armenian")


def test_a_capital_folds_to_a_capital():
    # Cyrillic PALOCHKA and BYELORUSSIAN-UKRAINIAN I both map to "l" in the data; they look like I.
    assert fold_lookalikes("\u04C0ntroduced \u0406n").text == "Introduced In"


@pytest.mark.parametrize("text", [
    "Привет, мир! Это обычный русский текст о погоде.",
    "Καλημέρα κόσμε· αυτό είναι ελληνικό κείμενο.",
    "Բարև ձեզ, սա հայերեն տեքստ է։",
    "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ",
    "東京タワーは高い。서울은 크다.",
    "naïve café, Zürich, ﬁne, ½, Ελλάδα and Россия in one English sentence.",
    "The report quotes «Привет» and «Γειά» as they were written.",
])
def test_text_written_in_one_script_per_word_is_left_as_it_is(text):
    folded = fold_lookalikes(text)
    assert folded.text == text and folded.lookalikes == ()


def test_a_latin_letter_in_a_cyrillic_word_folds_to_cyrillic():
    (item,) = find_lookalikes("Это привeт из Москвы")  # a Latin e inside the Russian word
    assert item.folded == "привет" and item.scripts == ("Cyrillic", "Latin")


def test_a_mixed_word_with_a_letter_that_has_no_lookalike_is_left_as_it_is():
    assert find_lookalikes("Tokyo東京 and Athensλ") == []


def test_the_samples_are_full_of_lookalikes_and_no_ascii_word_is_flagged():
    paths = sample_paths()
    assert paths
    for path in paths:
        text = path.read_text(encoding="utf-8")
        folded = fold_lookalikes(text)
        assert folded.lookalikes, path.name
        assert len(folded.text) == len(text)
        for item in folded.lookalikes:
            assert item.text == text[item.start:item.end]
            assert not item.text.isascii()
            assert len(item.folded) == len(item.text)
            assert len(item.scripts) >= 2
        # Outside the flagged words nothing changed.
        flagged = {i for x in folded.lookalikes for i in range(x.start, x.end)}
        assert all(text[i] == folded.text[i] for i in range(len(text)) if i not in flagged)


LETTERS = st.sampled_from(list("abcdehlopstuABELT") + list(SUBSTITUTES.values())
                          + list("бвгджзийклмнптфхцчшщ") + list("λμνξπ"))
TEXTS = st.lists(st.one_of(st.text(LETTERS, min_size=1, max_size=9),
                           st.sampled_from([" ", "  ", "\n", ", ", "\u00a0", "😀", "1"])),
                 max_size=40).map("".join)


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_folding_keeps_every_offset(text):
    folded = fold_lookalikes(text)
    assert len(folded.text) == len(text)
    flagged = {i for x in folded.lookalikes for i in range(x.start, x.end)}
    for i, (a, b) in enumerate(zip(text, folded.text, strict=True)):
        if a != b:
            assert i in flagged
    for item in folded.lookalikes:
        assert item.text == text[item.start:item.end]
        assert folded.text[item.start:item.end] == item.folded
    # Folding is stable: a folded word is in one script, nothing is left to fold.
    assert fold_lookalikes(folded.text).lookalikes == ()


def test_a_text_of_a_million_lookalikes_is_folded_whole_and_listed_in_part():
    from engine.lookalikes import MAX_LISTED

    word = "p\u0430yp\u0430l"  # two Cyrillic a's
    count = MAX_LISTED + 50_000
    folded = fold_lookalikes((word + " ") * count)
    assert folded.count == count and folded.words == count
    assert len(folded.lookalikes) == MAX_LISTED  # items for the first ones only
    assert folded.text == "paypal " * count  # every one is folded
    assert folded.share == 1.0
    last = folded.lookalikes[-1]
    assert (last.start, last.text) == ((MAX_LISTED - 1) * 7, word)


def test_a_run_of_letters_longer_than_any_word_is_left_as_it_is():
    from engine.lookalikes import MAX_WORD

    run = "p\u0430" * (MAX_WORD // 2 + 1)
    assert fold_lookalikes(run).text == run
    assert fold_lookalikes(run[:MAX_WORD]).text == "pa" * (MAX_WORD // 2)
