"""crawler.textclean: pinyin stripping, script conversion, white space, the whole pipeline."""

from __future__ import annotations

import itertools
import re
import string
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler import textclean
from crawler.textclean import (
    clean_line,
    clean_text,
    has_pinyin,
    is_pinyin_syllable,
    normalise_whitespace,
    strip_pinyin,
    to_script,
)
from feeds.xmltext import xml_safe

SEED = Path(__file__).parent / "fixtures" / "seeds" / "000_50086ce4ead14abc.txt"

# Any Latin letter carrying a pinyin tone mark, precomposed or combining.
TONED_LATIN = re.compile("[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜếềḿńňǹ\u0300\u0301\u0304\u030c]")
# A parenthesised run of lowercase Latin letters (what an annotation looks like).
PAREN_LATIN_RUN = re.compile(r"[(（][a-zü\u00c0-\u024f\u0300-\u036f]+[)）]")

TONES = "\u0304\u0301\u030c\u0300"  # tones 1-4 as combining marks


def toned(syllable: str, position: int, tone: str) -> str:
    """``syllable`` with ``tone`` on the letter at ``position``, composed (NFC)."""
    return unicodedata.normalize("NFC", syllable[: position + 1] + tone + syllable[position + 1 :])


@pytest.fixture(scope="module")
def seed() -> str:
    return SEED.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------
# strip_pinyin: the examples
# --------------------------------------------------------------------------------------


def test_toned_annotation_after_han_is_removed() -> None:
    assert strip_pinyin("全國(guó)") == "全國"


def test_full_width_parentheses_annotation_is_removed() -> None:
    assert strip_pinyin("全國（guó）人") == "全國人"


def test_outer_parentheses_of_byline_survive() -> None:
    byline = "本報(bào)訊(中青報(bào)·中青網(wǎng)記者 楊寶光)12月9日,"
    assert strip_pinyin(byline) == "本報訊(中青報·中青網記者 楊寶光)12月9日,"


def test_parenthesised_han_survives() -> None:
    assert strip_pinyin("高原(北京)文化傳播有限公司") == "高原(北京)文化傳播有限公司"


def test_upper_case_abbreviation_survives() -> None:
    assert strip_pinyin("世界贸易组织(WTO)") == "世界贸易组织(WTO)"


def test_single_toneless_letter_is_a_label_not_pinyin() -> None:
    assert strip_pinyin("如图(a)所示") == "如图(a)所示"
    assert strip_pinyin("见(e)和(o)") == "见(e)和(o)"


def test_single_toned_letter_is_pinyin() -> None:
    assert strip_pinyin("啊(ā)") == "啊"
    assert strip_pinyin("哦(ó)") == "哦"


def test_word_that_is_not_a_syllable_survives() -> None:
    assert strip_pinyin("中国(china)") == "中国(china)"
    assert strip_pinyin("中国(Guó)") == "中国(Guó)"  # annotations are lower case


def test_toneless_syllable_of_two_or_more_letters_is_pinyin() -> None:
    assert strip_pinyin("我們(men)的(de)") == "我們的"
    assert strip_pinyin("光(guang)") == "光"


def test_annotation_needs_a_han_character_before_it() -> None:
    assert strip_pinyin("x(guó)") == "x(guó)"
    assert strip_pinyin("(guó)開頭") == "(guó)開頭"
    assert strip_pinyin("國 (guó)") == "國 (guó)"


def test_multi_syllable_gloss_is_kept() -> None:
    assert strip_pinyin("北京（běi jīng）") == "北京（běi jīng）"
    assert strip_pinyin("北京(běijīng)") == "北京(běijīng)"
    assert strip_pinyin("北京(běi-jīng)") == "北京(běi-jīng)"


def test_umlaut_spellings_are_pinyin() -> None:
    for spelling in ("lǜ", "lü", "lv", "lu\u0308", "lu\u0308\u0300", "nüe"):
        assert strip_pinyin(f"綠({spelling})") == "綠", spelling


def test_decomposed_tone_marks_are_pinyin() -> None:
    assert strip_pinyin("國(guo\u0301)") == "國"


def test_interjection_syllables_are_pinyin() -> None:
    for syllable in ("m̀", "ḿ", "ń", "ň", "ǹ", "ê̄", "ế", "hm", "ng"):
        assert strip_pinyin(f"嗯({syllable})") == "嗯", syllable


def test_nested_annotations_inside_real_parentheses() -> None:
    text = "會議(由共青團(tuán)中央(yāng)主辦)召開"
    assert strip_pinyin(text) == "會議(由共青團中央主辦)召開"


def test_consecutive_annotations_after_one_character_are_all_removed() -> None:
    assert strip_pinyin("國(guó)(guó)（guó）") == "國"


def test_annotation_after_ideographic_extension_character() -> None:
    assert strip_pinyin("𠮷(jí)祥") == "𠮷祥"


# --------------------------------------------------------------------------------------
# strip_pinyin: damaged annotations
# --------------------------------------------------------------------------------------


def test_lost_character_with_annotation_is_removed() -> None:
    assert strip_pinyin("注重?cái)?shù)字") == "注重字"


def test_replacement_character_counts_as_lost_character() -> None:
    assert strip_pinyin("注重\ufffdcái)字") == "注重字"


def test_annotation_after_lost_character_is_removed_and_question_mark_kept() -> None:
    assert strip_pinyin("中?(guó)") == "中?"
    assert strip_pinyin("中?(de)") == "中?"


def test_toneless_run_after_question_mark_outside_chinese_is_kept() -> None:
    assert strip_pinyin("what?(de) ok?de) é") == "what?(de) ok?de) é"
    assert strip_pinyin("see https://example.com/?lang) 中文") == (
        "see https://example.com/?lang) 中文"
    )


def test_annotation_that_lost_its_opening_parenthesis_is_removed() -> None:
    assert strip_pinyin("全國guó)人") == "全國人"
    assert strip_pinyin("國guó)國(guó)") == "國國"


def test_lost_opening_parenthesis_with_tone_mark_away_from_the_end() -> None:
    assert strip_pinyin("張zhāng)先生") == "張先生"
    assert strip_pinyin("娘niáng)") == "娘"
    assert strip_pinyin("安ān)") == "安"


def test_annotation_that_lost_its_closing_parenthesis_is_removed() -> None:
    assert strip_pinyin("全國(guó人") == "全國人"
    assert strip_pinyin("全國(guó，人") == "全國，人"
    assert strip_pinyin("全國(guó") == "全國"
    assert strip_pinyin("全國(guó\n人") == "全國\n人"


def test_damaged_forms_need_a_tone_mark() -> None:
    assert strip_pinyin("全國guo)人") == "全國guo)人"
    assert strip_pinyin("全國(guo人") == "全國(guo人"


# --------------------------------------------------------------------------------------
# strip_pinyin: no-op and idempotence
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2022年全国12355青少年服务台工作推进会召开。",
        "版权归高原(北京)文化传播有限公司(以下简称“高原”)。",
        "The quick brown fox (jumps) over the lazy dog, see (a) and (b).",
        "Voilà à Paris, l'été (café crème).",
        "函数f(x)与g(y)的关系(见图(a))",
    ],
)
def test_clean_text_is_left_alone_by_strip_pinyin(text: str) -> None:
    assert strip_pinyin(text) == text


def test_strip_pinyin_is_idempotent_on_tricky_input() -> None:
    for text in ("中(gu?cái)ó)", "中(guó)(guó)guó)(guó", "中(guó(guó)", "國guó)?cái)(zhòng)"):
        once = strip_pinyin(text)
        assert strip_pinyin(once) == once, text


# --------------------------------------------------------------------------------------
# The syllable grammar
# --------------------------------------------------------------------------------------


def test_is_pinyin_syllable_accepts_syllables_with_and_without_tones() -> None:
    for word in ("guó", "guo", "zhuàng", "lǘ", "lv", "nüè", "ê", "er", "a", "m̀"):
        assert is_pinyin_syllable(word), word


def test_is_pinyin_syllable_rejects_words_that_are_not_syllables() -> None:
    for word in ("china", "wto", "ok", "bong", "fi", "xa", "Guo", "", "guóguó", "v"):
        assert not is_pinyin_syllable(word), word


def test_every_toned_form_of_every_syllable_is_stripped() -> None:
    """The pattern and the NFD-based grammar check agree on the whole syllable table."""
    checked = 0
    for syllable in sorted(textclean._SYLLABLES):
        for position, letter in enumerate(syllable):
            if letter not in "aeiouüêmn":
                continue
            for tone in TONES:
                word = toned(syllable, position, tone)
                assert is_pinyin_syllable(word), word
                assert strip_pinyin(f"字({word})") == "字", word
                assert strip_pinyin(f"字({unicodedata.normalize('NFD', word)})") == "字", word
                checked += 1
    assert checked > 1500


def test_toneless_removal_matches_the_grammar_for_all_short_words() -> None:
    """Every lowercase ASCII word of 1-3 letters: removed exactly when it is a syllable
    of 2+ letters."""
    for length in (1, 2, 3):
        for letters in itertools.product(string.ascii_lowercase, repeat=length):
            word = "".join(letters)
            expected = length >= 2 and is_pinyin_syllable(word)
            stripped = strip_pinyin(f"字({word})")
            assert stripped == ("字" if expected else f"字({word})"), word


SYLLABLE_WORDS = st.sampled_from(
    ["de", "men", "guo", "zhuang", "lv", "er", "ng", "china", "wto", "a", "x", "bong", "ok"]
)
TOKENS = st.one_of(
    SYLLABLE_WORDS,
    st.sampled_from(["國", "中", "的", "(", ")", "（", "）", " ", "a", "\n", "1", "。"]),
)


def reference_strip(text: str) -> str:
    """The rule for full, toneless annotations, applied the slow and obvious way."""
    pattern = re.compile(r"([\u4e00-\u9fff])[(（]([a-z]+)[)）]")

    def replace(match: re.Match[str]) -> str:
        word = match.group(2)
        return match.group(1) if len(word) >= 2 and is_pinyin_syllable(word) else match.group()

    while True:
        new = pattern.sub(replace, text)
        if new == text:
            return text
        text = new


@settings(max_examples=400)
@given(st.lists(TOKENS, max_size=25).map("".join))
def test_strip_pinyin_agrees_with_reference_rule_on_toneless_text(text: str) -> None:
    assert strip_pinyin(text) == reference_strip(text)


# --------------------------------------------------------------------------------------
# has_pinyin
# --------------------------------------------------------------------------------------


def test_has_pinyin_finds_annotations() -> None:
    assert has_pinyin("全國(guó)")
    assert has_pinyin("我們(men)")
    assert has_pinyin("注重?cái)字")
    assert has_pinyin("全國guó)人")


def test_has_pinyin_finds_tone_marked_fragments_next_to_chinese() -> None:
    assert has_pinyin("北京（běi jīng）")
    assert has_pinyin("在Běijīng开会")


def test_has_pinyin_ignores_clean_and_foreign_text() -> None:
    assert not has_pinyin("2022年全国12355青少年服务台工作推进会召开")
    assert not has_pinyin("高原(北京)文化传播有限公司(WTO)(a)")
    assert not has_pinyin("Voilà à Paris, l'été, un café.")
    assert not has_pinyin("The quick brown fox (jumps).")
    assert not has_pinyin("")


def test_has_pinyin_is_false_after_strip_pinyin() -> None:
    for text in ("全國(guó)", "注重?cái)?shù)字", "國guó)國(guó)", "我們(men)", "全國(guó，"):
        assert has_pinyin(text)
        assert not has_pinyin(strip_pinyin(text)), text


# --------------------------------------------------------------------------------------
# to_script
# --------------------------------------------------------------------------------------


def test_to_simplified_converts_traditional() -> None:
    assert to_script("全國青少年服務臺", "simplified") == "全国青少年服务台"


def test_to_traditional_converts_simplified() -> None:
    assert to_script("全国会议强调发展", "traditional") == "全國會議強調發展"


def test_simplified_text_stays_simplified_under_t2s() -> None:
    mixed = "全国青少年服務臺 and English 123"
    assert to_script(mixed, "simplified") == "全国青少年服务台 and English 123"
    simplified = "会议强调，做好新时代的12355工作意义重大。"
    assert to_script(simplified, "simplified") == simplified


@pytest.mark.parametrize("script", [None, ""])
def test_no_script_leaves_text_unchanged(script: str | None) -> None:
    assert to_script("全國 全国", script) == "全國 全国"


@pytest.mark.parametrize("script", ["Simplified", "zh-hans", "t2s"])
def test_unknown_script_is_rejected_by_name(script: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(script))):
        to_script("全國", script)


def test_converters_are_built_once() -> None:
    to_script("國", "simplified")
    assert textclean._converter("t2s.json") is textclean._converter("t2s.json")


# --------------------------------------------------------------------------------------
# normalise_whitespace
# --------------------------------------------------------------------------------------


def test_line_endings_become_newlines() -> None:
    assert normalise_whitespace("a\r\nb\rc\nd") == "a\nb\nc\nd"
    assert normalise_whitespace("a\u2028b\u2029c") == "a\nb\nc"


def test_runs_of_unicode_spaces_become_one_space() -> None:
    assert normalise_whitespace("a \t\u00a0\u2003\u3000 b") == "a b"
    assert normalise_whitespace("a\u202fb") == "a b"


def test_single_spaces_are_kept() -> None:
    assert normalise_whitespace("one two three") == "one two three"


def test_ideographic_space_indent_is_stripped() -> None:
    assert normalise_whitespace("\u3000\u3000會議指出，\u3000\n\u3000\u3000第二段") == (
        "會議指出，\n第二段"
    )


def test_zero_width_characters_are_dropped() -> None:
    assert normalise_whitespace("a\u200bb\u200cc\u200dd\u2060e\ufefff") == "abcdef"


def test_blank_lines_are_trimmed_and_collapsed() -> None:
    assert normalise_whitespace("\n \n第一段\n\n \n\u3000\n第二段\n\n") == "第一段\n\n第二段"
    assert normalise_whitespace("a\n\nb") == "a\n\nb"


def test_full_width_letters_and_digits_become_ascii() -> None:
    assert normalise_whitespace("２０２２年ＡＢＣｘｙｚ") == "2022年ABCxyz"


def test_punctuation_is_left_alone() -> None:
    text = "会议指出，（一）要求：好！“是”。a,b(c)"
    assert normalise_whitespace(text) == text


def test_normalise_whitespace_is_a_no_op_on_clean_text() -> None:
    text = "第一段。\n\n第二段 with English.\nThird line"
    assert normalise_whitespace(text) == text


# --------------------------------------------------------------------------------------
# clean_text / clean_line
# --------------------------------------------------------------------------------------


def test_seed_first_lines_and_copyright_notice(seed: str) -> None:
    lines = clean_text(seed, "simplified").split("\n")
    assert lines[0] == "2022年全国12355青少年服务台工作推进会召开"
    assert lines[1].startswith(
        "本报讯(中青报·中青网记者 杨宝光)12月9日,2022年全国12355青少年服务台工作推进会召开。"
    )
    (notice,) = [line for line in lines if line.startswith("版权声明:")]
    assert "高原(北京)文化传播有限公司" in notice
    assert "来源:中国西藏网" in notice


def test_seed_has_no_pinyin_left(seed: str) -> None:
    assert has_pinyin(seed)
    for script in (None, "simplified", "traditional"):
        cleaned = clean_text(seed, script)
        assert not TONED_LATIN.search(cleaned), script
        assert not PAREN_LATIN_RUN.search(cleaned), script
        assert not has_pinyin(cleaned), script
        assert "?" not in cleaned


def test_seed_keeps_its_paragraphs(seed: str) -> None:
    assert clean_text(seed).count("\n") == seed.strip().count("\n")


def test_seed_damaged_annotation_is_removed(seed: str) -> None:
    assert "注重字賦能" in clean_text(seed)


def test_clean_text_is_idempotent_on_seed(seed: str) -> None:
    for script in (None, "simplified", "traditional"):
        once = clean_text(seed, script)
        assert clean_text(once, script) == once, script


@pytest.mark.parametrize(
    "text",
    [
        "2022年全国12355青少年服务台工作推进会召开\n会议指出，近两年来。",
        "The quick brown fox (jumps) over the lazy dog.\n\nSecond paragraph.",
    ],
)
def test_clean_text_is_a_no_op_on_clean_text(text: str) -> None:
    assert clean_text(text) == text
    assert clean_text(text, "simplified") == text


def test_clean_text_removes_xml_forbidden_characters() -> None:
    assert clean_text("a\x00b\x01c\ud800d\uffff") == "abcd"
    assert clean_text("a\x0cb\x0bc") == "a b c"  # form feed and VT separate words


def test_clean_text_strips_annotations_hidden_by_invisible_characters() -> None:
    assert clean_text("國(g\u200buó)") == "國"
    assert clean_text("國（ｇｕó）") == "國"
    assert clean_text("國(g\x00uó)") == "國"


def test_clean_text_tidies_space_left_by_removed_runs() -> None:
    assert clean_text("注重 ?cái) 數字") == "注重 數字"


def test_clean_line_joins_lines() -> None:
    assert clean_line("  標題(tí)\r\n第二行\n\n 第三行 ", "simplified") == "标题 第二行 第三行"
    assert clean_line("a\u2028b") == "a b"


def test_clean_line_is_idempotent_on_seed(seed: str) -> None:
    once = clean_line(seed, "simplified")
    assert "\n" not in once
    assert clean_line(once, "simplified") == once


def test_clean_text_rejects_unknown_script() -> None:
    with pytest.raises(ValueError, match="'klingon'"):
        clean_text("國", "klingon")


def test_first_pass_drops_exactly_what_xml_safe_drops() -> None:
    """clean_text removes XML-forbidden characters in its first pass (so that they cannot
    hide an annotation or reach OpenCC) instead of calling xml_safe at the end; both must
    agree on what is forbidden."""
    every_bmp = "".join(map(chr, range(0x10000)))
    fixes = set(textclean._FIX_CHARS.findall(every_bmp))
    dropped = set(textclean._PREPARE.findall(every_bmp)) - fixes
    assert dropped == set(every_bmp) - set(xml_safe(every_bmp))


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

# Characters that interact: Han anchors, "?", parentheses, pinyin letters and marks,
# white space of every kind, invisible and forbidden characters, full-width letters.
TRICKY = st.sampled_from(
    list(
        "國中?\ufffd()（）guóanedāǎmìnhzsü\u0308\u0301v \n\r\t\u3000\u00a0"
        "\u200b\u2028ｇｕ１\x00\x0b\x0c\x85é\ud800xG'-"
    )
)
TEXTS = st.one_of(st.text(), st.lists(TRICKY, max_size=40).map("".join))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_clean_text_output_is_xml_safe_and_idempotent(text: str) -> None:
    once = clean_text(text)
    assert xml_safe(once) == once
    assert clean_text(once) == once


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_clean_line_output_is_one_xml_safe_line_and_idempotent(text: str) -> None:
    once = clean_line(text)
    assert "\n" not in once and "\r" not in once
    assert xml_safe(once) == once
    assert clean_line(once) == once


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_strip_pinyin_and_normalise_whitespace_are_idempotent(text: str) -> None:
    stripped = strip_pinyin(text)
    assert strip_pinyin(stripped) == stripped
    normalised = normalise_whitespace(text)
    assert normalise_whitespace(normalised) == normalised


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_strip_pinyin_leaves_no_removable_run(text: str) -> None:
    stripped = strip_pinyin(text)
    candidates = [*textclean._CANDIDATE.finditer(stripped), *textclean._BARE.finditer(stripped)]
    assert not any(textclean._is_annotation(m) for m in candidates)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(categories=["Ll", "Lu", "Nd", "Zs", "Po"]), max_size=60))
def test_strip_pinyin_never_touches_text_without_han_or_lost_characters(text: str) -> None:
    if not re.search("[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff?\ufffd]", text):
        assert strip_pinyin(text) == text
