"""Clean article text before it becomes a feed entry.

Some sources pass their text through a converter that turned Simplified Chinese into
Traditional *and* appended the pinyin of many characters: ``全國(guó)``,
``本報(bào)訊(中青報(bào)·中青網(wǎng)記者 楊寶光)``. Where the converter could not encode a
character it wrote ``?`` instead, which also ate the opening parenthesis of the
annotation: ``注重?cái)?shù)字``. Readers must not see any of this, so every text field goes
through :func:`clean_text` (bodies) or :func:`clean_line` (titles, names).

The hard part is telling an annotation from a real parenthesis: ``高原(北京)``,
``世界贸易组织(WTO)``, ``如图(a)所示`` and ``(china)`` must survive. The criterion is
that the parentheses hold exactly one lowercase pinyin syllable, checked against the
syllable table below (initial + final), directly after a Chinese character. A tone mark
makes the syllable unambiguous; without one, two letters are required, because a single
letter in parentheses (``(a)``, ``(e)``) is far more likely to be a figure or list label.

Everything here runs on every article, so the patterns are compiled once at import and
the common case (clean text) costs a few fast regex scans.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

import opencc

__all__ = [
    "clean_fields",
    "clean_line",
    "clean_text",
    "has_pinyin",
    "is_pinyin_syllable",
    "normalise_whitespace",
    "strip_pinyin",
    "to_script",
]

# --------------------------------------------------------------------------------------
# Pinyin syllable grammar
# --------------------------------------------------------------------------------------

# Finals each initial combines with ("" = no initial). Written with "ü" and "ê" as single
# letters; spellings such as "v" for "ü" are handled when the letters become patterns.
# The table is slightly generous (it admits rare syllables like "den", "fiao", "shei") so
# that no real annotation survives; it stays strict enough that English words and
# abbreviations ("china", "wto", "ok") are not syllables.
_FINALS_BY_INITIAL: dict[str, str] = {
    "": "a o e ê ai ei ao ou an en ang eng er m n ng",
    "b": "a o ai ei ao an en ang eng i ie iao ian in ing u",
    "p": "a o ai ei ao ou an en ang eng i ie iao ian in ing u",
    "m": "a o e ai ei ao ou an en ang eng i ie iao iu ian in ing u",
    "f": "a o ei ou an en ang eng u iao",
    "d": "a e ai ei ao ou an en ang eng ong i ia ie iao iu ian ing u uo ui uan un",
    "t": "a e ai ei ao ou an ang eng ong i ie iao ian ing u uo ui uan un",
    "n": "a e ai ei ao ou an en ang eng ong i ie iao iu ian in iang ing u uo uan un ü üe ue",
    "l": "a o e ai ei ao ou an ang eng ong i ia ie iao iu ian in iang ing u uo uan un ü üe ue",
    "g": "a e ai ei ao ou an en ang eng ong u ua uo uai ui uan un uang",
    "k": "a e ai ei ao ou an en ang eng ong u ua uo uai ui uan un uang",
    "h": "a e ai ei ao ou an en ang eng ong u ua uo uai ui uan un uang m ng",
    "j": "i ia ie iao iu ian in iang ing iong u ue uan un",
    "q": "i ia ie iao iu ian in iang ing iong u ue uan un",
    "x": "i ia ie iao iu ian in iang ing iong u ue uan un",
    "zh": "a e ai ei ao ou an en ang eng ong i u ua uo uai ui uan un uang",
    "ch": "a e ai ao ou an en ang eng ong i u ua uo uai ui uan un uang",
    "sh": "a e ai ei ao ou an en ang eng i u ua uo uai ui uan un uang",
    "r": "e ao ou an en ang eng ong i u ua uo ui uan un",
    "z": "a e ai ei ao ou an en ang eng ong i u uo ui uan un",
    "c": "a e ai ao ou an en ang eng ong i u uo ui uan un",
    "s": "a e ai ao ou an en ang eng ong i u uo ui uan un",
    "y": "a o e ao ou an in ang ing ong i u ue uan un",
    "w": "a o ai ei an en ang eng u",
}

_SYLLABLES: frozenset[str] = frozenset(
    initial + final for initial, finals in _FINALS_BY_INITIAL.items() for final in finals.split()
)

# Combining tone marks: grave (4th), acute (2nd), macron (1st), caron (3rd).
_TONE_MARKS = "\u0300\u0301\u0304\u030c"
# Precomposed tone-marked letters, by the letter they mark.
_TONED_PRECOMPOSED: dict[str, str] = {
    "a": "āáǎà",
    "e": "ēéěè",
    "i": "īíǐì",
    "o": "ōóǒò",
    "u": "ūúǔù",
    "ü": "ǖǘǚǜ",
    "ê": "ếề",
    "m": "ḿ",
    "n": "ńňǹ",
}
# How "ü" and "ê" may be spelled before an (optional) tone mark: one-character forms
# first (as a character class), then decomposed ones.
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "ü": ("üv", "u\u0308"),
    "ê": ("ê", "e\u0302"),
}
_ALL_TONED = "".join(_TONED_PRECOMPOSED.values())
# Every character that can occur inside a written syllable (lower case only: "(WTO)"
# and "(Li)" are real text).
_SYLLABLE_CHARS = "a-zü" + "ê" + _ALL_TONED + _TONE_MARKS + "\u0302\u0308"
_TONED_CHARS = _ALL_TONED + _TONE_MARKS

# Han characters (unified, extensions, compatibility, radicals, 〇 々 〆). Kana and
# Hangul are left out on purpose: romaji after kana, e.g. ね(ne), is not pinyin.
_HAN = "\u2e80-\u2fdf\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_HAN_CHAR = re.compile(f"[{_HAN}]")
# What a converter writes for a character it could not encode.
_LOST = "?\ufffd"
_LATIN = "A-Za-z\u00c0-\u024f\u1e00-\u1eff\u0300-\u036f"
# Horizontal white space: tab, VT, FF, NBSP, Ogham space, en/em/thin/... spaces, narrow
# NBSP, medium math space, ideographic space (U+3000, indents Chinese paragraphs).
_HSPACE = "\t\x0b\x0c\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
# After "(" + toned syllable whose ")" was lost: the next visible character must not be
# one that continues a romanised gloss (letter, digit, hyphen, apostrophe), so
# "北京（běi jīng）" and "北京(běi-jīng)" keep their parentheses.
_GLOSS_GOES_ON = re.compile(f"[ {_HSPACE}]*[{_LATIN}0-9'’-]")

# Candidate annotations, found with a deliberately loose letter class; whether the
# letters form ONE pinyin syllable is decided in Python against the syllable table
# (a regex of the whole grammar takes seconds to compile), and so is what must stand
# before the token:
#   國(guó)  "(" syllable ")"          國(guó會  "(" toned syllable, ")" lost
#   重?cái)   lost mark, syllable, ")"
# The pattern starts with a plain character class, so re jumps from one "(" or "?" to
# the next in C instead of trying a match at every position.
_WORD = f"[{_SYLLABLE_CHARS}]{{1,8}}"
_CANDIDATE = re.compile(
    f"(?P<open>[(（{_LOST}])(?:(?<=[{_HAN}{_LOST}][(（])|(?<=[{_LOST}]))"
    f"(?P<word>{_WORD})(?:(?P<close>[)）])|(?![{_SYLLABLE_CHARS}]))"
)
# 國guó): a toned syllable whose "(" was lost. A letter is no cheap starting point, so
# this pattern only runs when _TONED_BEFORE_CLOSE (which starts with a class) finds a
# tone mark a few letters before a ")".
_BARE = re.compile(f"(?<=[{_HAN}])(?P<word>{_WORD})[)）]")
_TONED_BEFORE_CLOSE = re.compile(f"[{_TONED_CHARS}][{_SYLLABLE_CHARS}]{{0,7}}[)）]")

# A run of Latin letters carrying a pinyin tone mark somewhere, for has_pinyin.
_TONED_CHAR = re.compile(f"[{_TONED_CHARS}]")
_LATIN_RUN = re.compile(f"[{_LATIN}]+")
# A fragment counts only next to Chinese text or a parenthesis, where the converter
# puts pinyin; "à" or "été" in a French sentence is not damage.
_FRAGMENT_CONTEXT = re.compile(f"[{_HAN}{_LOST}()（）]")

_TONE_MARK_SET = frozenset(_TONE_MARKS)
_TONED_SET = frozenset(_TONED_CHARS)


@functools.lru_cache(maxsize=8192)
def _syllable_base(word: str) -> str:
    """Return ``word`` without tone marks, spelled as in the table. NFD splits "ǘ" into
    u + diaeresis + acute, so one pass handles precomposed and combining spellings."""
    decomposed = unicodedata.normalize("NFD", word)
    base = "".join(ch for ch in decomposed if ch not in _TONE_MARK_SET)
    return base.replace("u\u0308", "ü").replace("e\u0302", "ê").replace("v", "ü")


def is_pinyin_syllable(word: str) -> bool:
    """True when ``word`` is one lowercase pinyin syllable, with or without tone marks
    ("guó", "guo", "lǘ", "lv", "ê"). Upper case is rejected: annotations are lower case,
    and "(WTO)" or "(Li)" are real text."""
    return _syllable_base(word) in _SYLLABLES


@functools.lru_cache(maxsize=8192)
def _toned(word: str) -> bool:
    return not _TONED_SET.isdisjoint(word)


def _is_annotation(match: re.Match[str]) -> bool:
    """Whether a candidate really is pinyin the converter added.

    A tone mark makes a syllable unambiguous. Without one, a syllable needs 2+ letters
    (``(a)`` is a figure label) and must follow a Han character directly, or a ``?``
    that follows one; and a token that lost a parenthesis needs its tone mark.
    """
    word = match["word"]
    if not is_pinyin_syllable(word):
        return False
    text, start = match.string, match.start()
    toned = _toned(word)
    opener = match.group("open") if match.re is _CANDIDATE else None
    if opener is None:  # _BARE: "(" lost
        return toned
    if opener in _LOST:
        # The mark stands for the lost character and its "(": a toned syllable is
        # evidence enough; a toneless one needs a Han character before the mark.
        if match["close"] is None:
            return False
        return toned or (len(word) >= 2 and _han_at(text, start - 1))
    if not (_han_at(text, start - 1) or (start and text[start - 1] in _LOST)):
        return False
    if match["close"] is None:  # ")" lost: only a toned syllable, not a gloss
        return toned and not _GLOSS_GOES_ON.match(text, match.end())
    if toned:
        return True
    if _han_at(text, start - 1):
        return len(_syllable_base(word)) >= 2
    # "?(guo)": a toneless syllable after a lost mark counts when a Han character
    # stands before the mark ("/?(lang)" in a URL does not).
    return len(word) >= 2 and _han_at(text, start - 2)


def _han_at(text: str, index: int) -> bool:
    return index >= 0 and _HAN_CHAR.match(text, index) is not None


def _verdict(token: str) -> bool | None:
    """The decision for a _CANDIDATE token when the token alone settles it (the common
    ``(guó)`` case), None when its neighbours matter. Cached: a document repeats the
    same few hundred syllables, and a Python check per annotation was most of the cost."""
    opener, close = token[0], token[-1] in ")）"
    word = token[1:-1] if close else token[1:]
    if not is_pinyin_syllable(word):
        return False
    if not close:
        return False if opener in _LOST else None
    if _toned(word):
        return True
    return None


# _verdict results by token; bounded so that hostile input cannot grow it without end.
_VERDICTS: dict[str, bool | None] = {}
_VERDICTS_MAX = 20_000
_UNKNOWN = object()


def _replace(match: re.Match[str]) -> str:
    token = match.group()
    verdict = _VERDICTS.get(token, _UNKNOWN)
    if verdict is _UNKNOWN:
        verdict = _verdict(token)
        if len(_VERDICTS) < _VERDICTS_MAX:
            _VERDICTS[token] = verdict
    if verdict is None:
        verdict = _is_annotation(match)
    return "" if verdict else token


def _replace_bare(match: re.Match[str]) -> str:
    return "" if _is_annotation(match) else match.group()


# A place name in pinyin runs to a dozen syllables at most ("Wūlǔmùqí": 8 letters).
_MAX_PINYIN_WORD = 64


def _segments_as_pinyin(word: str) -> bool:
    """True when ``word`` (any case, apostrophes allowed) splits into pinyin syllables,
    e.g. "Běijīng" or "Xī'ān"; "café" does not, so French text does not trigger a
    warning. Words longer than _MAX_PINYIN_WORD do not either (and are not cached)."""
    if len(word) > _MAX_PINYIN_WORD:
        return False
    for part in _syllable_base(word.lower()).split("'"):
        reachable = [True] + [False] * len(part)
        for end in range(1, len(part) + 1):
            reachable[end] = any(
                reachable[start] and part[start:end] in _SYLLABLES
                for start in range(max(0, end - 6), end)
            )
        if not part or not reachable[-1]:
            return False
    return True


def _is_pinyin_fragment(text: str, match: re.Match[str]) -> bool:
    start, end = match.span()
    return bool(
        (_FRAGMENT_CONTEXT.match(text, start - 1) if start else False)
        or _FRAGMENT_CONTEXT.match(text, end)
    ) and _segments_as_pinyin(match.group())


# The common annotation, decided without Python: "(" + one syllable + ")" right after a
# Han character, toned, or toneless with 2+ letters (precomposed tone marks, "ü" as one
# letter), and NOT followed by anything a removal could turn into the neighbour of
# another token ("(", a lost mark, pinyin letters). _is_annotation removes every such
# token and its removal changes no other decision, so deleting them all with one C-level
# substitution first gives the same result as the general pass, which then only has the
# rare forms (lost characters, lost parentheses, decomposed marks, "v", runs of
# annotations) left to judge: ~400 annotations per damaged page no longer cost one
# Python callback each.
_VOWEL_CLASSES = {
    letter: f"[{letter}{_TONED_PRECOMPOSED[letter]}]" for letter in ("a", "e", "i", "o", "u", "ü")
}


def _syllable_trie(words: list[str]) -> str:
    """A regex matching exactly ``words`` (with any precomposed tone marks on their
    vowels), as a trie: re tries few branches per position instead of every word."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for letter in word:
            node = node.setdefault(letter, {})
        node[""] = {}

    def render(node: dict[str, dict]) -> str:
        branches = [
            _VOWEL_CLASSES.get(letter, re.escape(letter)) + render(child)
            for letter, child in sorted(node.items())
            if letter
        ]
        if not branches:
            return ""
        if "" in node:  # "(?:x|)", not "(?:x)?": re runs an optional group far slower
            branches.append("")
        return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"

    return render(trie)


# The first pass pays off on damaged documents (hundreds of annotations); the pattern
# takes ~65 ms to compile, so short or lightly damaged texts never build it.
_SURE_PASS_MIN = 8


@functools.cache
def _sure_annotation() -> re.Pattern[str]:
    """Built on first use, so that processes that clean no damaged text do not pay."""
    multi = sorted(s for s in _SYLLABLES if len(s) >= 2)
    single_toned = "".join(_TONED_PRECOMPOSED[s] for s in _SYLLABLES if len(s) == 1)
    return re.compile(
        f"[(（](?<=[{_HAN}][(（])(?:{_syllable_trie(multi)}|[{single_toned}])[)）]"
        f"(?![(（{_LOST}{_SYLLABLE_CHARS}])"
    )


def _has_paren(text: str) -> bool:
    # Every annotation token contains a parenthesis; substring tests cost far less than a scan.
    return "(" in text or ")" in text or "（" in text or "）" in text


def strip_pinyin(text: str) -> str:
    """Remove pinyin annotations such as ``國(guó)`` -> ``國`` and keep real parentheses.

    Removed: one lowercase syllable in ASCII or full-width parentheses right after a Han
    character (toned, or toneless with 2+ letters); ``?`` + syllable + ``)`` where the
    converter lost the character and the "("; a toned syllable that lost one of its
    parentheses while still attached to a Han character. Kept: ``(中青報·…)``,
    ``(北京)``, ``(WTO)``, ``(a)``, ``(china)``, spaced glosses like ``（běi jīng）``.

    Idempotent: a removal can bring new neighbours together (``注重?cái)?shù)``: the
    second token follows a Han character only once the first is gone), so the
    substitution repeats until nothing changes; clean text costs one scan.
    """
    # An annotation needs a Han character (or a lost mark) and a parenthesis.
    if text.isascii() or not _has_paren(text):
        return text
    if text.count("(") + text.count("（") >= _SURE_PASS_MIN:
        text = _sure_annotation().sub("", text)
    return _strip_general(text)


# Characters the repeated passes of _strip_general may scan for one text. Each pass
# removes what the previous one brought together, so a chain such as "國(guó(guó(guó…"
# (hostile, or a converter gone wrong) takes one pass per link: 10,000 links in a 60 KB
# document cost ~30 s of CPU before this bound. Real damage settles in a few passes;
# past the bound the rest of such a chain is left as it is.
_STRIP_WORK = 4_000_000
_STRIP_MIN_PASSES = 32


def _strip_general(text: str) -> str:
    """strip_pinyin without the fast first pass: every candidate judged in Python."""
    passes = max(_STRIP_MIN_PASSES, _STRIP_WORK // max(1, len(text)))
    for _ in range(passes):
        cleaned = _CANDIDATE.sub(_replace, text)
        if _TONED_BEFORE_CLOSE.search(cleaned):
            cleaned = _BARE.sub(_replace_bare, cleaned)
        if cleaned == text:
            return cleaned
        text = cleaned
    return text


def has_pinyin(text: str) -> bool:
    """True when ``text`` holds a pinyin annotation strip_pinyin would remove, or a
    tone-marked Latin word that reads as pinyin (``Běijīng``, ``（běi jīng）``).

    A validate pipeline uses it to warn about sources whose damage the cleaner does not
    recognise. Accented words that do not split into syllables ("café") do not count.
    """
    if text.isascii():
        return False
    if _has_paren(text):
        candidates = list(_CANDIDATE.finditer(text))
        if _TONED_BEFORE_CLOSE.search(text):
            candidates += _BARE.finditer(text)
        if any(_is_annotation(m) for m in candidates):
            return True
    if not _TONED_CHAR.search(text):
        return False
    # The Latin runs that carry a tone mark (what "[L]*[T][L]*" finds, without its
    # quadratic backtracking through long runs that carry none).
    return any(
        _is_pinyin_fragment(text, m)
        for m in _LATIN_RUN.finditer(text)
        if not _TONED_SET.isdisjoint(m.group())
    )


# --------------------------------------------------------------------------------------
# Script conversion
# --------------------------------------------------------------------------------------

_OPENCC_CONFIGS = {"simplified": "t2s.json", "traditional": "s2t.json"}


@functools.cache
def _converter(config: str) -> opencc.OpenCC:
    """OpenCC converters load dictionaries from disk (tens of ms): build each once."""
    return opencc.OpenCC(config)


def to_script(text: str, script: str | None) -> str:
    """Convert Chinese ``text`` to ``"simplified"`` or ``"traditional"`` (OpenCC t2s /
    s2t); ``None`` or ``""`` leaves it unchanged. Sources declare the script their
    readers expect, and mixed text converts too: Simplified stays Simplified under t2s.

    Not strictly idempotent, because the character tables are not: t2s maps 薴 -> 苧
    (its simplified form) and 苧 -> 苎 (苧 is also the traditional form of 苎).
    """
    if not script:
        return text
    config = _OPENCC_CONFIGS.get(script)
    if config is None:
        raise ValueError(f"unknown script {script!r}: expected 'simplified', 'traditional' or None")
    return _converter(config).convert(text)


# --------------------------------------------------------------------------------------
# Whitespace and character normalisation
# --------------------------------------------------------------------------------------

# Characters fixed one by one, whatever surrounds them: zero-width characters go,
# full-width letters and digits become ASCII, Unicode line/paragraph separators become
# "\n". _FIX_MAP's default ("") also drops what _PREPARE adds: the characters XML 1.0
# forbids (C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF), as xml_safe does.
_FIX_MAP: dict[str, str] = {
    **{chr(code): chr(code - 0xFEE0) for code in range(0xFF10, 0xFF5B) if chr(code).isalnum()},
    "\u2028": "\n",
    "\u2029": "\n",
    "\x0b": " ",  # XML forbids VT and FF, but they separate words: keep a space
    "\x0c": " ",
}
_CHAR_FIXES = "\u200b-\u200d\u2060\ufeff\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u2028\u2029"
_XML_FORBIDDEN = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
# Single character classes (no "+"): re then scans for them in C.
_FIX_CHARS = re.compile(f"[{_CHAR_FIXES}]")
_PREPARE = re.compile(f"[{_CHAR_FIXES}{_XML_FORBIDDEN}]")
_ASCII_XML_OK = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x80)])

# Runs that need rewriting: anything but a lone " ", so the single spaces of English
# text are not replaced one by one. Starts with a character class for the fast scan.
_HSPACE_RUN = re.compile(f"[ {_HSPACE}](?:(?<=[{_HSPACE}])|(?=[ {_HSPACE}]))[ {_HSPACE}]*")
_LINE_EDGE_SPACE = re.compile(" \n ?|\n ")
_BLANK_LINES = re.compile("\n{3,}")


def _fix_char(match: re.Match[str]) -> str:
    return _FIX_MAP.get(match[0], "")


def _unify_line_breaks(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _collapse_spaces(text: str) -> str:
    """Collapse horizontal white space, strip lines, squeeze blank lines."""
    if not text.isascii() or "  " in text or "\t" in text or "\x0b" in text or "\x0c" in text:
        text = _HSPACE_RUN.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _LINE_EDGE_SPACE.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip(" \n")


def normalise_whitespace(text: str) -> str:
    """Tidy white space while keeping one paragraph per line.

    Line breaks become "\\n"; inside a line every run of spaces, tabs, NBSP, ideographic
    spaces (U+3000, used to indent Chinese paragraphs) and other Unicode spaces becomes
    one space; lines are stripped; blank lines at either end go and inner runs of blank
    lines shrink to one. Zero-width characters are dropped. Full-width letters and digits
    become ASCII, so "２０２２" searches like "2022"; punctuation is left alone, since
    "，" -> "," is wrong in Chinese text.
    """
    text = _unify_line_breaks(text)
    if not text.isascii():  # everything _FIX_CHARS matches is non-ASCII
        text = _FIX_CHARS.sub(_fix_char, text)
    return _collapse_spaces(text)


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def _prepare(text: str) -> str:
    """Do the character-level work of normalise_whitespace and xml_safe *first*.

    Otherwise a zero-width, full-width or forbidden character inside an annotation
    (``國(g\\u200buó)``, ``國（ｇｕó）``) would hide it from strip_pinyin until the
    end, and cleaning twice would differ from cleaning once. It also keeps lone
    surrogates away from OpenCC, which cannot encode them. Nothing after this step adds
    a character XML forbids, so the result needs no second xml_safe pass.
    """
    text = _unify_line_breaks(text)
    # In ASCII text only C0 controls can need work; bytes.translate finds them ~10x
    # faster than a regex scan.
    if text.isascii() and not text.encode("ascii").translate(None, _ASCII_XML_OK):
        return text
    return _PREPARE.sub(_fix_char, text)


def clean_text(text: str, script: str | None = None) -> str:
    """Clean a multi-line body: strip pinyin, convert script, normalise white space,
    drop characters XML 1.0 forbids (the same as :func:`feeds.xmltext.xml_safe`, done
    in the first pass). Idempotent when ``script`` is None (and in practice otherwise,
    see :func:`to_script`)."""
    text = strip_pinyin(_prepare(text))
    text = to_script(text, script)
    return _collapse_spaces(text)


def clean_line(text: str, script: str | None = None) -> str:
    """Like :func:`clean_text` for single-line fields (titles, names): line breaks
    become spaces, so a title never spans lines in a feed reader."""
    text = strip_pinyin(_prepare(text))
    text = to_script(text, script)
    if "\n" in text:
        text = text.replace("\n", " ")
    return _collapse_spaces(text)


# Joins the fields of one item for a single OpenCC call. OpenCC's dictionaries hold no
# phrase with a line break or a private-use character, so no conversion spans the
# separator and each field converts exactly as it would alone. Fields that hold U+E000
# themselves, or a split that does not give back one part per field, fall back to one
# call per field.
_FIELD_SEPARATOR = "\n\ue000\n"


# Cleaned short fields, by (text, line flag, script). A source repeats its boilerplate
# in every document (rights line, agency, publisher, related-link titles, bylines), and
# cleaning is a pure function of these three, so a repeat costs a dict lookup instead of
# a pinyin pass and its share of the OpenCC call. Bounded: emptied when full.
_FIELD_CACHE: dict[tuple[str, bool, str | None], str] = {}
_FIELD_CACHE_MAX = 4096
_FIELD_CACHE_CHARS = 300


def clean_fields(
    texts: Sequence[str], script: str | None = None, *, lines: Sequence[bool] | bool = False
) -> list[str]:
    """Clean several fields of one article at once: the same result as calling
    :func:`clean_line` (where ``lines`` is true) or :func:`clean_text` on each, with a
    single OpenCC call for all of them instead of one per field (OpenCC's per-call cost,
    not its per-character cost, dominates for short fields such as names and titles).
    Short fields seen before (a source's boilerplate) come from a cache.

    ``lines`` is one flag for all fields or one per field.
    """
    flags = [lines] * len(texts) if isinstance(lines, bool) else list(lines)
    if len(flags) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(flags)} line flags")
    if script and script not in _OPENCC_CONFIGS:
        to_script("", script)  # raises the unknown-script error, cache or not
    result: list[str] = list(texts)
    todo: list[int] = []
    cache = _FIELD_CACHE
    for index, text in enumerate(texts):
        if len(text) <= _FIELD_CACHE_CHARS:
            hit = cache.get((text, flags[index], script))
            if hit is not None:
                result[index] = hit
                continue
        todo.append(index)
    prepared = [strip_pinyin(_prepare(texts[index])) for index in todo]
    if script and len(prepared) > 1 and not any("\ue000" in text for text in prepared):
        joined = to_script(_FIELD_SEPARATOR.join(prepared), script)
        converted = joined.split(_FIELD_SEPARATOR)
        if len(converted) != len(prepared):
            converted = [to_script(text, script) for text in prepared]
    else:
        converted = [to_script(text, script) for text in prepared]
    for index, text in zip(todo, converted, strict=True):
        line = flags[index]
        if line and "\n" in text:
            text = text.replace("\n", " ")
        text = _collapse_spaces(text)
        result[index] = text
        original = texts[index]
        if len(original) <= _FIELD_CACHE_CHARS:
            if len(cache) >= _FIELD_CACHE_MAX:
                cache.clear()
            cache[(original, line, script)] = text
    return result
