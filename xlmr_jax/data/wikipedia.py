"""WikiExtractor output (one Wikipedia) -> `<lang>.txt[.xz]` in our corpus layout (sources.py).

WikiExtractor writes folders `AA/`, `AB/`, ... of files `wiki_00`, `wiki_01`, ...; each holds
articles either as `<doc id=".." url=".." title="..">` ... `</doc>` blocks (the default) or as
JSON lines `{"id", "url", "title", "text"}` (`--json`). An article becomes a document: its
non-blank lines (paragraphs) as lines, the leading title line dropped (it repeats `title`),
articles separated by a blank line. Empty articles (redirects, stubs) are skipped.
"""

from __future__ import annotations

import dataclasses
import json
import lzma
import re
from collections.abc import Iterator

from xlmr_jax import storage
from xlmr_jax.data.formats.common import FormatError, text_lines

_DOC_OPEN = re.compile(r'^<doc\b[^>]*\btitle="(?P<title>[^"]*)"[^>]*>$')


@dataclasses.dataclass(frozen=True)
class Article:
    title: str
    lines: tuple[str, ...]


def extracted_files(extracted_dir: storage.PathLike) -> list[storage.Path]:
    """WikiExtractor's output files under `extracted_dir`, in path order."""
    root = storage.as_path(extracted_dir, "--extracted_dir")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (WikiExtractor's --output directory)")
    files = [p for p in storage.files_under(root) if not p.name.startswith(".")]
    if not files:
        raise FileNotFoundError(f"{root}: no WikiExtractor files (AA/wiki_00, ...)")
    return files


def read_articles(path: storage.PathLike) -> Iterator[Article]:
    """The articles of one WikiExtractor file (either output format)."""
    lines = text_lines(path)
    first = next((line for line in lines if line.strip()), "")
    if first.startswith("{"):
        yield from _json_articles(path, lines)
    else:
        yield from _doc_articles(path, lines)


def _article(title: str, paragraphs: list[str]) -> Article:
    lines = [line.strip() for line in paragraphs if line.strip()]
    if lines and lines[0] == title.strip():
        lines = lines[1:]
    return Article(title, tuple(lines))


def _json_articles(path, lines: list[str]) -> Iterator[Article]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            yield _article(record["title"], record["text"].split("\n"))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise FormatError(path, number, f"not a WikiExtractor --json record ({e})") from None


def _doc_articles(path, lines: list[str]) -> Iterator[Article]:
    title, body, opened_at = None, [], 0
    for number, line in enumerate(lines, start=1):
        match = _DOC_OPEN.match(line.strip())
        if match:
            if title is not None:
                raise FormatError(path, number, f"<doc> opened before line {opened_at}'s closed")
            title, body, opened_at = match["title"], [], number
        elif line.strip() == "</doc>":
            if title is None:
                raise FormatError(path, number, "</doc> without an opening <doc ...>")
            yield _article(title, body)
            title = None
        elif title is not None:
            body.append(line)
        elif line.strip():
            raise FormatError(path, number, "text outside <doc ...> ... </doc>")
    if title is not None:
        raise FormatError(path, opened_at, "<doc> never closed (truncated file?)")


@dataclasses.dataclass(frozen=True)
class WrittenCorpus:
    path: storage.Path
    articles: int
    lines: int
    skipped_empty: int


def write_wikipedia_corpus(
    extracted_dir: storage.PathLike, lang: str, out_dir: storage.PathLike, *, xz: bool = False
) -> WrittenCorpus:
    """Writes `<out_dir>/<lang>.txt[.xz]` from a WikiExtractor output folder."""
    if not re.fullmatch(r"[A-Za-z][\w-]*", lang):
        raise ValueError(f"--lang {lang!r} is not a file code (letters, digits, _ and -)")
    out = storage.as_path(out_dir, "--out") / f"{lang}.txt{'.xz' if xz else ''}"
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another --out")
    articles = lines = skipped = 0
    with storage.atomic_writer(out) as raw:  # nothing at `out` unless complete
        sink = lzma.open(raw, "wb") if xz else raw  # closing the xz stream leaves `raw` open
        for path in extracted_files(extracted_dir):
            for article in read_articles(path):
                if not article.lines:
                    skipped += 1
                    continue
                text = ("\n" if articles else "") + "\n".join(article.lines) + "\n"
                sink.write(text.encode("utf-8"))
                articles += 1
                lines += len(article.lines)
        if xz:
            sink.close()
        if not articles:
            raise ValueError(f"{extracted_dir}: no article has any text")
    return WrittenCorpus(out, articles, lines, skipped)
