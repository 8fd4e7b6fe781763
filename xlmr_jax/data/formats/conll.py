"""Reader for CoNLL-2002/2003 NER files, tag-scheme detection and IOB1 -> IOB2 conversion.

One token per line, space-separated columns with the NER tag last (es/nl: token POS NER;
en: token POS chunk NER; de: token lemma POS chunk NER), sentences separated by blank lines.
A `-DOCSTART-` line ends the current sentence, starts a new document and is not a token.
CoNLL-2003 uses IOB1 (I- opens a chunk unless it follows B-/I- of the same type), CoNLL-2002
IOB2 (every chunk opens with B-).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

from xlmr_jax.data.formats.common import FormatError, PathLike, require_examples, text_lines

NER_TYPES = ("PER", "LOC", "ORG", "MISC")
NER_LANGUAGES = ("en", "nl", "es", "de")  # 2019 paper, Table 2
TagScheme = Literal["IOB1", "IOB2"]


@dataclasses.dataclass(frozen=True)
class NerSentence:
    """One sentence; `id` is its 0-based index in the file, `document` counts `-DOCSTART-`s."""

    id: str
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    document: int
    line: int  # 1-based line of the first token


def read_conll(
    path: PathLike,
    encoding: str | None = None,
    entity_types: Sequence[str] = NER_TYPES,
    tag_column: int = -1,
) -> list[NerSentence]:
    """All sentences of a CoNLL NER file (UTF-8, or Latin-1 when not valid UTF-8).

    Every token line must have the column count of the file's first token line, and every tag
    (column `tag_column`; -2 reads the gold column of conlleval's "token ... gold pred" files)
    must be O or B-/I- of `entity_types`.
    """
    allowed = {"O"} | {f"{p}-{t}" for p in "BI" for t in entity_types}
    sentences: list[NerSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = document = 0
    num_columns = None

    def flush() -> None:
        if tokens:
            sentences.append(
                NerSentence(str(len(sentences)), tuple(tokens), tuple(tags), document, start)
            )
            tokens.clear()
            tags.clear()

    for number, line in enumerate(text_lines(path, encoding), start=1):
        fields = line.split()
        if not fields:
            flush()
            continue
        if fields[0] == "-DOCSTART-":
            flush()
            document += bool(sentences)
            continue
        num_columns = num_columns or len(fields)
        if len(fields) != num_columns:
            raise FormatError(path, number, f"expected {num_columns} columns, got {len(fields)}")
        if len(fields) <= max(1, abs(tag_column)):
            raise FormatError(
                path, number, f"too few columns ({len(fields)}) for a token and its tag"
            )
        tag = fields[tag_column]
        if tag not in allowed:
            raise FormatError(
                path, number, f"tag {tag!r} is not O or B-/I- of {tuple(entity_types)}"
            )
        start = start if tokens else number
        tokens.append(fields[0])
        tags.append(tag)
    flush()
    return require_examples(sentences, path)


def _chunk_opens(tags: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(position, tag) of every tag that starts a chunk: B-, or I- after O / another type."""
    previous = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("B-") or (tag != "O" and (previous == "O" or previous[2:] != tag[2:])):
            yield i, tag
        previous = tag


def tag_scheme(sequences: Iterable[Sequence[str]]) -> TagScheme:
    """IOB1 if more chunks open with I- than with B-, else IOB2 (all-O data counts as IOB2).

    A majority, not "any I- opening", because IOB2 data has slips: each Spanish CoNLL-2002 file
    has one sentence that opens with I-.
    """
    opens = Counter(tag[0] for tags in sequences for _, tag in _chunk_opens(tags))
    return "IOB1" if opens["I"] > opens["B"] else "IOB2"


def iob1_to_iob2(tags: Sequence[str]) -> tuple[str, ...]:
    """The same chunks with every chunk opened by B- (B- inside IOB1 already opens a chunk)."""
    out = list(tags)
    for i, tag in _chunk_opens(tags):
        out[i] = "B-" + tag[2:]
    return tuple(out)
