"""Shared helpers of the "nothing lost, nothing doubled" reliability tests (issue 6).

Generated documents in the seed format, a project folder around them, the checks made
after every fault (store integrity, one row per article, complete feed files) and the
processes of a data directory found through /proc, so that a test can kill them and
make sure none is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

FORMATS = ("rss", "atom", "json")

DOCUMENT = "\n".join(
    [
        "第{number}号{edition}测试新闻：{year}年青少年服务台工作推进会召开",
        "本报讯(中青报·中青网记者 杨宝光){month}月{day}日,第{number}号测试新闻{edition}。"
        "会议全面总结过去一个时期服务台建设成果和工作经验,安排部署下阶段工作。",
        "会议指出,近两年来,各级组织认真学习,深入加大改革力度,健全工作机制,提高专业能力,{filler}",
        "版权声明:凡注明“来源:中国西藏网”或“中国西藏网文”的所有作品,"
        "版权归高原(北京)文化传播有限公司。",
        "- 站在理想信念的制高点 第{number}号相关阅读",
        "- 贵州:“春晖”十八载 激发寸草心",
        "",
    ]
)


def document(
    number: int,
    edition: str = "初版",
    *,
    month: int = 12,
    day: int = 9,
    year: int = 2022,
    filler: str = "",
) -> str:
    """A small document in the format of seeds/*.txt (title, dateline and byline, a
    paragraph, the rights line, related lines); ``edition`` changes title and text."""
    return DOCUMENT.format(
        number=number, edition=edition, month=month, day=day, year=year, filler=filler
    )


def write_documents(folder: Path, numbers: Iterable[int], edition: str = "初版") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        (folder / f"{number:05d}.txt").write_text(document(number, edition), encoding="utf-8")


def project_config(
    *, every: str | None = None, extra_service: str = "", sources: Iterable[str] = ("bulk",)
) -> str:
    """feedmill.toml with one ``files`` source per name (folder of the same name)."""
    text = (
        "[service]\n"
        'base_url = "http://127.0.0.1:8080"\n'
        'title = "reliability"\n'
        "feed_size = 50\n"
        'batch_window = "0s"\n'
        f"{extra_service}\n"
    )
    for name in sources:
        text += (
            f"\n[sources.{name}]\n"
            'kind = "files"\n'
            f'path = "{name}"\n'
            'glob = "*.txt"\n'
            'language = "zh"\n'
            'timezone = "Asia/Shanghai"\n'
            f'title = "{name}"\n' + (f'every = "{every}"\n' if every else "")
        )
    return text


# --------------------------------------------------------------------------- checks


def connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, timeout=30)


def integrity(db: Path) -> str:
    with contextlib.closing(connect(db)) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def article_ids(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with contextlib.closing(connect(db)) as connection:
        try:
            return {row[0] for row in connection.execute("SELECT id FROM articles")}
        except sqlite3.OperationalError:  # no schema yet
            return set()


def duplicates(db: Path) -> list[tuple[str, str, int]]:
    """(source, key, rows) of every article stored more than once."""
    with contextlib.closing(connect(db)) as connection:
        return connection.execute(
            "SELECT source, key, COUNT(*) FROM articles GROUP BY source, key HAVING COUNT(*) > 1"
        ).fetchall()


def runs(db: Path, source: str | None = None) -> list[dict]:
    with contextlib.closing(connect(db)) as connection:
        connection.row_factory = sqlite3.Row
        sql = "SELECT * FROM runs" + (" WHERE source = ?" if source else "") + " ORDER BY id"
        return [dict(row) for row in connection.execute(sql, (source,) if source else ())]


def feed_entry_ids(path: Path) -> list[str]:
    """The entry ids of a complete feed file (RSS guid, Atom id, JSON id); raises when
    the file is not complete, well-formed XML or JSON."""
    data = path.read_bytes()
    if path.suffix == ".json":
        return [item["id"] for item in json.loads(data)["items"]]
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    if path.suffix == ".rss":
        assert root.tag == "rss", path
        return [guid.text for guid in root.iter("guid")]
    atom = "{http://www.w3.org/2005/Atom}"
    assert root.tag == f"{atom}feed", path
    return [entry.findtext(f"{atom}id") for entry in root.iter(f"{atom}entry")]


def check_feed_files(feeds: Path) -> dict[str, list[str]]:
    """Every feed file in ``feeds`` parses whole; entry ids are unique in each."""
    found = {}
    for path in sorted(feeds.glob("*")):
        if path.name.startswith(".") or path.suffix.lstrip(".") not in FORMATS:
            continue
        ids = feed_entry_ids(path)
        assert len(ids) == len(set(ids)), f"{path}: entry ids repeat"
        found[path.name] = ids
    return found


# --------------------------------------------------------------------------- processes


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}


def state(pid: int) -> str | None:
    """The process state letter (None: gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]


def running(pid: int) -> bool:
    return state(pid) not in (None, "Z", "X")


def processes_of(data_dir: Path) -> list[int]:
    """Live processes whose environment names ``data_dir`` as FEEDMILL_DATA_DIR (crawler
    children and the reader processes they fork), except this one."""
    wanted = str(data_dir)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if _environ(pid).get("FEEDMILL_DATA_DIR") == wanted and running(pid):
            found.append(pid)
    return found


def kill_all(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` runs; the ones still running at the deadline."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if running(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns something true; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
