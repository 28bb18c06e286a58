"""The fast paths of crawler.textclean give exactly what the general code gives.

strip_pinyin deletes the common ``國(guó)`` annotation with one C-level substitution
before the general, per-candidate pass; these tests hold that first pass to the
general pass on text built from the pieces damaged documents are made of (including the
adversarial neighbourhoods where one removal decides the next).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler import textclean
from crawler.textclean import strip_pinyin

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

_SYLLABLES = sorted(textclean._SYLLABLES)


@st.composite
def _syllable(draw: st.DrawFn) -> str:
    """A syllable spelled as converters and people write it: plain, one or several
    precomposed tone marks, a combining mark, "v" for "ü", or upper case."""
    word = draw(st.sampled_from(_SYLLABLES))
    letters = list(word)
    vowels = [i for i, c in enumerate(letters) if c in textclean._TONED_PRECOMPOSED]
    style = draw(st.sampled_from(["plain", "toned", "toned", "all", "combining", "v", "upper"]))
    if style in ("toned", "combining") and vowels:
        i = draw(st.sampled_from(vowels))
        if style == "toned":
            letters[i] = draw(st.sampled_from(textclean._TONED_PRECOMPOSED[letters[i]]))
        else:
            letters[i] += draw(st.sampled_from(textclean._TONE_MARKS))
    elif style == "all":
        for i in vowels:
            letters[i] = draw(st.sampled_from(textclean._TONED_PRECOMPOSED[letters[i]]))
    elif style == "v":
        return word.replace("ü", "v")
    elif style == "upper":
        return word.upper()
    return "".join(letters)


_PIECES = st.one_of(
    st.sampled_from([*"國中報訊網高原北京的一〇々", "𠀀"]),
    st.sampled_from(["(", ")", "（", "）", "?", "\ufffd", " ", "\u3000", "\n", "-", "'", "0", "W"]),
    _syllable(),
    _syllable().map(lambda s: f"({s})"),
    _syllable().map(lambda s: f"（{s}）"),
    _syllable().map(lambda s: f"?{s})"),
    _syllable().map(lambda s: f"{s})"),
    _syllable().map(lambda s: f"({s}"),
)
DAMAGED = st.lists(_PIECES, min_size=1, max_size=30).map("".join)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DAMAGED)
def test_fast_first_pass_changes_nothing_the_general_pass_decides(text: str) -> None:
    assert strip_pinyin(text) == textclean._strip_general(text)


def test_fast_first_pass_on_the_seed_documents() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        assert strip_pinyin(text) == textclean._strip_general(text)


def test_annotation_followed_by_another_token_is_left_to_the_general_pass() -> None:
    # "(maí" only loses its "(" pairing once "?gǔi)" is gone: the general pass decides.
    text = "高(leí)(maí\ufffdgǔi)）"
    assert strip_pinyin(text) == textclean._strip_general(text) == "高"


def test_clean_fields_cache_gives_what_cleaning_gives() -> None:
    from crawler.textclean import clean_fields, clean_line, clean_text

    seed = (SEEDS / "000_50086ce4ead14abc.txt").read_text(encoding="utf-8")
    lines = seed.split("\n")
    fields = [*lines[:1], *lines[-12:], "", " 國(guó) ", "\ue000私", "x\ny"]
    for script in ("simplified", "traditional", None):
        for flag in (True, False):
            expected = [(clean_line if flag else clean_text)(f, script) for f in fields]
            textclean._FIELD_CACHE.clear()
            assert clean_fields(fields, script, lines=flag) == expected  # cold
            assert clean_fields(fields, script, lines=flag) == expected  # from the cache
            assert clean_fields(fields[::-1], script, lines=flag) == expected[::-1]


def test_clean_fields_cache_is_bounded_and_keyed_by_script() -> None:
    from crawler.textclean import clean_fields

    textclean._FIELD_CACHE.clear()
    assert clean_fields(["國家"], "simplified") == ["国家"]
    assert clean_fields(["國家"], None) == ["國家"]
    for i in range(textclean._FIELD_CACHE_MAX + 10):
        clean_fields([f"標題{i}"], None, lines=True)
    assert len(textclean._FIELD_CACHE) <= textclean._FIELD_CACHE_MAX
