#!/usr/bin/env python3
"""Article extraction quality and speed: feedmill's extract_page against trafilatura.

    python bench/extract_quality.py [DATA_DIR ...] [--limit N] [--repeat N] [--json OUT]

DATA_DIR holds ``ground-truth.json`` and ``html/<id>.html.gz`` (the layout of
``../shared/data/article-benchmark-dev`` and ``../shared/data/zh-news-pages``, the
defaults, resolved against the repository root). For every page:

* feedmill: ``extract_page(bytes, url).body_text`` (decoding included in the time);
* trafilatura: ``trafilatura.extract(text, url=url)`` with its default settings on the text
  our ``decode_html`` produced (fair: it gets correctly decoded text), and once more on
  the raw bytes (its own decoding; reported for the pages that are not UTF-8).

Scores follow the datasets' README (the Zyte article-extraction-benchmark metric):
``\\w+`` tokens, multiset of 4-token shingles (a text of 1-3 tokens is one shorter shingle),
per-page precision and recall, means over pages (an empty prediction leaves the precision
mean but scores recall 0), F1 of the two means. Sets with Chinese ground truth are also
scored with one token per CJK character. Times are in-process wall-clock per page, the
best of ``--repeat`` runs, reported as the median over pages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402

from crawler.extract import extract_page  # noqa: E402
from crawler.htmldecode import decode_html  # noqa: E402

DEFAULT_DATA = (
    ROOT.parent / "shared" / "data" / "article-benchmark-dev",
    ROOT.parent / "shared" / "data" / "zh-news-pages",
)

# --------------------------------------------------------------------------------------
# Metric
# --------------------------------------------------------------------------------------

_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
WORD_TOKENS = re.compile(r"\w+")
CJK_TOKENS = re.compile(f"[{_CJK_CLASS}]|(?:(?![{_CJK_CLASS}])\\w)+")
TOKENIZERS = {"\\w+": WORD_TOKENS, "cjk": CJK_TOKENS}
SHINGLE = 4


def shingles(text: str, tokens: re.Pattern[str]) -> Counter[tuple[str, ...]]:
    """The multiset of ``SHINGLE``-token shingles of ``text``."""
    words = tokens.findall(text or "")
    if len(words) < SHINGLE:
        return Counter([tuple(words)]) if words else Counter()
    return Counter(tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))


def match_counts(true: str, predicted: str, tokens: re.Pattern[str]) -> tuple[int, int, int]:
    """(matched, predicted, true) shingle counts for one page."""
    truth, guess = shingles(true, tokens), shingles(predicted, tokens)
    matched = sum((truth & guess).values())
    return matched, sum(guess.values()), sum(truth.values())


def page_scores(counts: tuple[int, int, int]) -> tuple[float | None, float | None]:
    """Per-page (precision, recall); None where the page leaves that mean."""
    matched, predicted, true = counts
    precision = matched / predicted if predicted else None
    recall = matched / true if true else None
    return precision, recall


def dataset_scores(all_counts: list[tuple[int, int, int]]) -> tuple[float, float, float]:
    """Mean precision, mean recall, and the F1 of those two means."""
    precisions, recalls = [], []
    for counts in all_counts:
        precision, recall = page_scores(counts)
        if precision is not None:
            precisions.append(precision)
        if recall is not None:
            recalls.append(recall)
    p = statistics.fmean(precisions) if precisions else 0.0
    r = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


@dataclass
class PageResult:
    id: str
    url: str
    encoding: str  # the dataset's stated encoding ("" when it says none)
    truth: str
    feedmill: str = ""
    trafilatura: str = ""
    trafilatura_raw: str = ""
    feedmill_ms: float = 0.0
    trafilatura_ms: float = 0.0
    body_layer: str = ""
    decoded_as: str = ""
    decoded_right: bool | None = None
    raw_decoded_right: bool | None = None


@dataclass
class DatasetResult:
    name: str
    pages: list[PageResult] = field(default_factory=list)


def _timed(call: Callable[[], object], repeat: int) -> tuple[object, float]:
    best = float("inf")
    result: object = None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return result, best * 1000


_RUN_SPLIT = re.compile(r"[\s\W]+")


def _long_runs(truth: str, count: int = 3, minimum: int = 8) -> list[str]:
    """The longest runs of word characters in the ground truth (clauses, for Chinese)."""
    runs = sorted({r for r in _RUN_SPLIT.split(truth) if len(r) >= minimum}, key=len, reverse=True)
    return runs[:count]


def _contains_runs(text: str, runs: list[str]) -> bool | None:
    if not runs:
        return None
    return all(run in text for run in runs)


def run_dataset(folder: Path, limit: int | None, repeat: int) -> DatasetResult:
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    result = DatasetResult(folder.name)
    for page_id in sorted(truth)[:limit]:
        entry = truth[page_id]
        url = entry.get("url") or ""
        raw = gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes())
        page = PageResult(page_id, url, entry.get("encoding") or "", entry.get("articleBody", ""))

        extracted, page.feedmill_ms = _timed(partial(extract_page, raw, url), repeat)
        page.feedmill = extracted.body_text  # type: ignore[attr-defined]
        page.body_layer = extracted.layers.get("body", "none")  # type: ignore[attr-defined]

        decoded = decode_html(raw, url)
        page.decoded_as = decoded.encoding
        text, page.trafilatura_ms = _timed(
            partial(trafilatura.extract, decoded.text, url=url or None), repeat
        )
        page.trafilatura = text or ""  # type: ignore[assignment]
        page.trafilatura_raw = trafilatura.extract(raw, url=url or None) or ""

        runs = _long_runs(page.truth)
        page.decoded_right = _contains_runs(decoded.text, runs)
        page.raw_decoded_right = _contains_runs(page.trafilatura_raw, runs)
        result.pages.append(page)
    return result


def _is_chinese(dataset: DatasetResult) -> bool:
    text = "".join(p.truth for p in dataset.pages)
    cjk = len(re.findall(f"[{_CJK_CLASS}]", text))
    return cjk > 0.3 * max(1, len(re.findall(r"\w", text)))


def _not_utf8(page: PageResult) -> bool:
    return bool(page.encoding) and page.encoding.lower().replace("_", "-") not in ("utf-8", "utf8")


def summarise(dataset: DatasetResult) -> dict[str, object]:
    tokenizers = ["\\w+", "cjk"] if _is_chinese(dataset) else ["\\w+"]
    scores: dict[str, dict[str, list[float]]] = {}
    for name in tokenizers:
        tokens = TOKENIZERS[name]
        scores[name] = {
            system: list(
                dataset_scores(
                    [match_counts(p.truth, getattr(p, system), tokens) for p in dataset.pages]
                )
            )
            for system in ("feedmill", "trafilatura", "trafilatura_raw")
        }
    ours = statistics.median(p.feedmill_ms for p in dataset.pages)
    theirs = statistics.median(p.trafilatura_ms for p in dataset.pages)
    legacy = [p for p in dataset.pages if _not_utf8(p)]
    return {
        "dataset": dataset.name,
        "pages": len(dataset.pages),
        "scores": scores,
        "median_ms": {"feedmill": ours, "trafilatura": theirs, "ratio": ours / theirs},
        "body_layers": dict(Counter(p.body_layer for p in dataset.pages).most_common()),
        "legacy_encoded_pages": len(legacy),
        "legacy_decoded_right": sum(1 for p in legacy if p.decoded_right),
        "legacy_trafilatura_raw_right": sum(1 for p in legacy if p.raw_decoded_right),
        "legacy_pages": {
            p.id: {
                "stated": p.encoding,
                "decoded_as": p.decoded_as,
                "feedmill_right": p.decoded_right,
                "trafilatura_raw_right": p.raw_decoded_right,
            }
            for p in legacy
        },
    }


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


def print_table(summaries: list[dict[str, object]]) -> None:
    header = (
        f"{'dataset':<22} {'tokens':<5} {'pages':>5}  {'feedmill P/R/F1':<17}  "
        f"{'trafilatura P/R/F1':<17}  {'ms feedmill':>11} {'ms trafil.':>10} {'ratio':>5}"
    )
    print(header)
    print("-" * len(header))
    for summary in summaries:
        ms = summary["median_ms"]
        for tokenizer, by_system in summary["scores"].items():  # type: ignore[union-attr]
            print(
                f"{summary['dataset']:<22} {tokenizer:<5} {summary['pages']:>5}  "
                f"{_fmt(by_system['feedmill']):<17}  {_fmt(by_system['trafilatura']):<17}  "
                f"{ms['feedmill']:>11.1f} {ms['trafilatura']:>10.1f} {ms['ratio']:>5.2f}"  # type: ignore[index]
            )
    print()
    for summary in summaries:
        layers = ", ".join(f"{k} {v}" for k, v in summary["body_layers"].items())  # type: ignore[union-attr]
        print(f"{summary['dataset']}: body layer: {layers}")
        if summary["legacy_encoded_pages"]:
            raw_f1 = " / ".join(
                f"{s['trafilatura_raw'][2]:.3f}"
                for s in summary["scores"].values()  # type: ignore[union-attr]
            )
            print(
                f"{summary['dataset']}: non-UTF-8 pages decoded right: feedmill "
                f"{summary['legacy_decoded_right']}/{summary['legacy_encoded_pages']}, "
                f"trafilatura on raw bytes {summary['legacy_trafilatura_raw_right']}/"
                f"{summary['legacy_encoded_pages']} (trafilatura-on-raw-bytes F1 {raw_f1})"
            )
            for page_id, info in summary["legacy_pages"].items():  # type: ignore[union-attr]
                ours = "ok" if info["feedmill_right"] else "WRONG"
                theirs = "ok" if info["trafilatura_raw_right"] else "garbled"
                print(
                    f"    {page_id:<28} stated {info['stated']:<8} decoded as "
                    f"{info['decoded_as']:<8} feedmill {ours}  trafilatura raw {theirs}"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="*", type=Path, help="dataset folders (default: both)")
    parser.add_argument("--limit", type=int, default=None, help="first N pages of each set")
    parser.add_argument("--repeat", type=int, default=3, help="runs per page; best time kept")
    parser.add_argument("--json", type=Path, default=None, help="write per-page results here")
    parser.add_argument("--pages", action="store_true", help="print per-page \\w+ F1")
    args = parser.parse_args(argv)

    folders = [p if p.is_absolute() else (Path.cwd() / p) for p in args.data] or list(DEFAULT_DATA)
    summaries, datasets = [], []
    for folder in folders:
        if not (folder / "ground-truth.json").is_file():
            parser.error(f"{folder}: no ground-truth.json")
        dataset = run_dataset(folder, args.limit, args.repeat)
        datasets.append(dataset)
        summaries.append(summarise(dataset))
        if args.pages:
            for page in dataset.pages:
                ours = dataset_scores([match_counts(page.truth, page.feedmill, WORD_TOKENS)])
                ref = dataset_scores([match_counts(page.truth, page.trafilatura, WORD_TOKENS)])
                print(
                    f"{page.id[:28]:<28} {page.body_layer:<8} feedmill {_fmt(list(ours))}  "
                    f"trafilatura {_fmt(list(ref))}  "
                    f"{page.feedmill_ms:6.1f} {page.trafilatura_ms:6.1f} ms"
                )
    print_table(summaries)
    if args.json:
        payload = {
            "summaries": summaries,
            "pages": {
                d.name: [
                    {
                        "id": p.id,
                        "body_layer": p.body_layer,
                        "feedmill_ms": p.feedmill_ms,
                        "trafilatura_ms": p.trafilatura_ms,
                        "feedmill": list(
                            dataset_scores([match_counts(p.truth, p.feedmill, WORD_TOKENS)])
                        ),
                        "trafilatura": list(
                            dataset_scores([match_counts(p.truth, p.trafilatura, WORD_TOKENS)])
                        ),
                    }
                    for p in d.pages
                ]
                for d in datasets
            },
        }
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
