"""The renderer's bytes stay the bytes it produced before it went back to feedgen.

Commit 16cd9d2 built RSS and Atom as lxml trees by hand; the renderer now builds them
with feedgen again (one ``FeedGenerator`` per feed for both formats). The feeds a
deployment has already written must not change, so ``fixtures/render_golden.json.gz``
holds the bytes the hand-built renderer (``feeds/render.py`` at commit d59aa5c) produced
for a fixed set of inputs: the hand-picked cases of ``test_render_reference.py`` and a
seeded random corpus (hostile characters, odd dates, blank fields, stored articles with
content hashes). Every format, through ``RENDERERS`` and through ``render_feeds``, must
give exactly those bytes.

``python tests/test_render_golden.py --write`` regenerates the file; only do that from a
renderer whose output is meant to change.
"""

from __future__ import annotations

import functools
import gzip
import json
import random
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_render_reference import CASES

from feeds import render
from feeds.article import Article, RelatedLink, article_id
from feeds.render import FeedMeta

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "render_golden.json.gz"
FORMATS = ("rss", "atom", "json")

_ZONES = [
    UTC,
    ZoneInfo("Asia/Shanghai"),
    ZoneInfo("Asia/Kolkata"),  # LMT offsets with seconds before 1942
    ZoneInfo("America/St_Johns"),
    timezone(timedelta(hours=-9, minutes=-30)),
]
# Characters worth mixing in: XML-forbidden controls, lone surrogates, U+FFFE/U+FFFF,
# markup, CDATA ends, entities, CJK, astral, whitespace.
_NASTY = [
    "\x00",
    "\x01",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1f",
    "\x7f",
    "\x85",
    "\ud800",
    "\udfff",
    "\ufffe",
    "\uffff",
    "\ufffd",
    "<",
    ">",
    "&",
    '"',
    "'",
    "]]>",
    "<![CDATA[",
    "&amp;",
    "<b>x</b>",
    "中文",
    "（",
    "😀",
    "\U0010ffff",
    " ",
    "\t",
    "\n",
    "\r",
    "\u3000",
    "\u00a0",
]


def _text(rng: random.Random, size: int = 30) -> str:
    parts = []
    for _ in range(rng.randint(0, size)):
        roll = rng.random()
        if roll < 0.25:
            parts.append(rng.choice(_NASTY))
        elif roll < 0.35:
            parts.append(chr(rng.randint(0x80, 0x2FFFF)))
        else:
            parts.append(rng.choice("abcdefghij klmnop 新闻报道北京 0123456789.,-/"))
    return "".join(parts)


def _no_surrogates(text: str) -> str:
    return "".join(c for c in text if not "\ud800" <= c <= "\udfff")


def _date(rng: random.Random, naive: bool = False) -> datetime:
    year = rng.choice([1, 999, 1000, 1900, 1941, 1970, 2000, 2024, 2024, 2024, 9999])
    dt = datetime(
        year,
        rng.randint(1, 12),
        rng.randint(1, 28),
        rng.randint(0, 23),
        rng.randint(0, 59),
        rng.randint(0, 59),
        rng.choice([0, 0, 123456]),
    )
    zone = None if naive else rng.choice(_ZONES)
    if zone is not None and year in (1, 9999):
        zone = UTC  # an offset could push these out of datetime's range
    return dt.replace(tzinfo=zone) if zone is not None else dt


def _article(rng: random.Random, n: int) -> Article:
    source = rng.choice(["seeds", "wire", "s p/a ce"])
    # Keys come from file paths and URLs: never a lone surrogate (article_id encodes them).
    key = rng.choice([f"docs/{n}.txt", _no_surrogates(_text(rng, 10))])
    # An article's dates are all naive (a guard case: the store writes aware times) or
    # all aware; entry_updated compares them with each other.
    naive = rng.random() < 0.15
    first_seen = _date(rng, naive)
    pick = rng.random
    return Article(
        source=source,
        key=key,
        id=rng.choice([article_id(source, key), article_id(source, key), ""]),
        title=rng.choice([_text(rng), "", "  ", f"Title {n}"]),
        url=rng.choice(["", f"https://e.org/{n}", "mailto:x@y", "/rel", _text(rng, 8)]),
        authors=[_text(rng, 8) for _ in range(rng.randint(0, 3))],
        agency=_text(rng, 8) if pick() < 0.5 else "",
        publisher=_text(rng, 8) if pick() < 0.5 else "",
        published=_date(rng, naive) if pick() < 0.8 else None,
        modified=_date(rng, naive) if pick() < 0.3 else None,
        language=rng.choice(["", "zh-CN", "en", " zh ", "de", _text(rng, 4)]),
        summary=rng.choice(["", _text(rng, 60)]),
        body_text=rng.choice(["", _text(rng, 80), "a\n\nb\r\nc <d> & e"]),
        body_html=rng.choice(["", "<p>x</p>", "a]]>b", _text(rng, 80)]),
        rights=rng.choice(["", "© 2024", _text(rng, 8)]),
        categories=[_text(rng, 6) for _ in range(rng.randint(0, 3))],
        related=[
            RelatedLink(_text(rng, 8), rng.choice(["", "https://r.org/x", _text(rng, 8)]))
            for _ in range(rng.randint(0, 2))
        ],
        image=rng.choice(["", "https://i.org/x.png", "ftp://i/x", _text(rng, 8)]),
        content_hash=f"{rng.getrandbits(256):064x}" if pick() < 0.5 else "",
        first_seen=first_seen,
        updated=rng.choice([None, first_seen, _date(rng, naive)]),
    )


def _meta(rng: random.Random) -> FeedMeta:
    return FeedMeta(
        name=rng.choice(["seeds", "all", "x y", "中文"]),
        title=rng.choice(["", " ", "种子文库", _text(rng, 12)]),
        link=rng.choice(["", "https://seeds.example.cn/", _text(rng, 8)]),
        description=rng.choice(["", "desc & <b>", _text(rng, 20)]),
        language=rng.choice(["", "zh-CN", "en", _text(rng, 4)]),
        base_url=rng.choice(["http://127.0.0.1:8080/", "https://feeds.example/x"]),
        generator=rng.choice(["feedmill", "", "gen <x>"]),
        generator_version=rng.choice(["", "0.1.0", " "]),
        author=rng.choice(["", "种子", _text(rng, 6)]),
        hub=rng.choice(["", "", "https://hub.example/", _text(rng, 6)]),
        updated_fallback=_date(rng).replace(tzinfo=UTC),
    )


def random_cases(count: int = 60, seed: int = 20261128) -> dict[str, tuple[FeedMeta, list]]:
    rng = random.Random(seed)
    cases = {}
    for index in range(count):
        feed_meta = _meta(rng)
        size = rng.choice([0, 1, 2, 3, 5, 8])
        cases[f"random {index}"] = (feed_meta, [_article(rng, n) for n in range(size)])
    return cases


@functools.cache
def all_cases() -> dict[str, tuple[FeedMeta, list]]:
    return {**CASES, **random_cases()}


# Where the bytes changed on purpose: (case, format) → (old text, new text), replaced once
# in the golden bytes before comparing.
KNOWN_CHANGES = {
    # A configured link made only of characters XML forbids ("\x0b") cleans to "": the
    # hand-built renderer wrote an empty RSS <link> (invalid RSS), feedgen refuses an
    # RSS channel without a link, so the renderer falls back to feedmill's own root.
    # (The feedgen renderer before 16cd9d2 raised ValueError here.) Atom and JSON keep "".
    ("random 54", "rss"): ("<link></link>", "<link>https://feeds.example/x/</link>"),
}


def _expected(case: str, fmt: str) -> bytes:
    text = GOLDEN_DATA[case][fmt]
    change = KNOWN_CHANGES.get((case, fmt))
    if change is not None:
        old, new = change
        assert text.count(old) == 1, (case, fmt, old)
        text = text.replace(old, new)
    return text.encode("utf-8")


def _load() -> dict[str, dict[str, str]]:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as handle:
        return json.load(handle)


GOLDEN_DATA = _load() if GOLDEN.exists() else {}


def test_golden_file_covers_every_case() -> None:
    assert set(GOLDEN_DATA) == set(all_cases())


@pytest.mark.parametrize("case", list(all_cases()))
def test_same_bytes_as_before(case: str) -> None:
    feed_meta, articles = all_cases()[case]
    expected = {fmt: _expected(case, fmt) for fmt in FORMATS}
    render.clear_cache()
    for fmt in FORMATS:
        assert render.RENDERERS[fmt][0](feed_meta, articles) == expected[fmt], fmt
    assert render.render_feeds(feed_meta, articles) == expected
    # Again, from the prepared-entry cache.
    assert render.render_feeds(feed_meta, articles) == expected


def write() -> None:
    render.clear_cache()
    out = {
        case: {
            fmt: render.RENDERERS[fmt][0](feed_meta, articles).decode("utf-8") for fmt in FORMATS
        }
        for case, (feed_meta, articles) in all_cases().items()
    }
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(out, ensure_ascii=False, indent=0, sort_keys=True).encode("utf-8")
    GOLDEN.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"wrote {len(out)} cases to {GOLDEN} ({GOLDEN.stat().st_size:,} bytes)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    write()


@pytest.mark.parametrize("case", ["typical", "hostile strings", "random 7", "random 54"])
def test_any_subset_and_order_of_formats(case: str) -> None:
    """One FeedGenerator makes RSS, then Atom, whatever order the caller asks for."""
    feed_meta, articles = all_cases()[case]
    single = {fmt: render.RENDERERS[fmt][0](feed_meta, articles) for fmt in FORMATS}
    for formats in (("atom",), ("rss",), ("json",), ("atom", "rss"), ("json", "atom", "rss")):
        out = render.render_feeds(feed_meta, articles, formats)
        assert list(out) == list(formats)
        assert out == {fmt: single[fmt] for fmt in formats}
    with pytest.raises(ValueError, match="unknown feed format"):
        render.render_feeds(feed_meta, articles, ("rss", "html"))
