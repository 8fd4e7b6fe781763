"""Corpus statistics per language and split, computed once and cached next to the data.

Counts: documents, sentences (non-blank lines), bytes (UTF-8 text of those lines), lines skipped
as invalid UTF-8, and, when a vocabulary is given, tokens (pieces, without <s>/</s>). The cache is
a JSON file keyed by file name; an entry is reused while the file's size and mtime are unchanged
and it was computed with the same validation fraction (and vocabulary, when tokens are asked for).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Mapping

from xlmr_jax import storage
from xlmr_jax.data.sources import (
    DEFAULT_VALIDATION_FRACTION,
    SPLITS,
    CorpusFile,
    DocumentReader,
    discover,
    document_split,
)
from xlmr_jax.vocab import XLMRVocabulary

logger = logging.getLogger(__name__)

STATS_FILE = "xlmr_corpus_stats.json"
_VERSION = 2
COUNTS = ("documents", "sentences", "bytes", "tokens")


@dataclasses.dataclass
class Counts:
    """Totals of one split; `tokens` is None without a vocabulary."""

    documents: int = 0
    sentences: int = 0
    bytes: int = 0
    tokens: int | None = None

    def add(self, other: Counts) -> None:
        self.documents += other.documents
        self.sentences += other.sentences
        self.bytes += other.bytes
        both = self.tokens is not None and other.tokens is not None
        self.tokens = self.tokens + other.tokens if both else None


@dataclasses.dataclass
class LanguageStats:
    """A language's counts per split and the invalid-UTF-8 lines its files dropped."""

    splits: dict[str, Counts]
    invalid_lines: int = 0

    def size(self, unit: str, split: str = "train") -> int:
        value = getattr(self.splits[split], unit)
        if value is None:
            raise ValueError(f"No {unit} counts: compute the corpus statistics with a vocabulary.")
        return value


def vocabulary_fingerprint(vocabulary: XLMRVocabulary) -> str:
    """A short stable id of a vocabulary, for cache keys (its SentencePiece model's hash)."""
    key = storage.fs_info(storage.as_path(vocabulary.model_file))
    return _digest(vocabulary.model_file, key["size"], key["mtime_ns"])


@functools.lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.blake2b(storage.as_path(path).read_bytes(), digest_size=8).hexdigest()


def _file_counts(
    file: CorpusFile, validation_fraction: float, vocabulary: XLMRVocabulary | None
) -> dict:
    counts = {split: Counts(tokens=0 if vocabulary else None) for split in SPLITS}
    reader = DocumentReader(file.path)
    for doc in reader:
        c = counts[document_split(doc, validation_fraction)]
        c.documents += 1
        c.sentences += len(doc)
        c.bytes += sum(len(line.encode("utf-8")) for line in doc)
        if vocabulary is not None:
            c.tokens += sum(len(vocabulary.encode(line)) for line in doc)
    if not any(c.documents for c in counts.values()):
        logger.warning("%s holds no documents; skipping it.", file.path)
    return {
        "splits": {s: dataclasses.asdict(c) for s, c in counts.items()},
        "invalid_lines": reader.invalid_lines,
    }


def corpus_stats(
    data_dir: storage.PathLike,
    *,
    languages: list[str] | None = None,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    vocabulary: XLMRVocabulary | None = None,
    cache_path: storage.PathLike | None = None,
) -> dict[str, LanguageStats]:
    """Statistics of every language in `data_dir` (or of `languages`), reading only changed files.

    The cache defaults to `<data_dir>/xlmr_corpus_stats.json`; a read-only directory is fine
    (the statistics are then recomputed each time, with a warning).
    """
    data_dir = storage.as_path(data_dir, "DATA_DIR")
    cache_path = storage.as_path(cache_path) if cache_path else data_dir / STATS_FILE
    cache = _load(cache_path)
    vocab_key = vocabulary_fingerprint(vocabulary) if vocabulary is not None else None
    files = discover(data_dir)
    if languages is not None:
        files = {lang: files[lang] for lang in languages if lang in files}
    changed = False
    result: dict[str, LanguageStats] = {}
    for lang, shards in files.items():
        stats = LanguageStats({s: Counts(tokens=0 if vocab_key else None) for s in SPLITS})
        for file in shards:
            key = {**storage.fs_info(file.path), "validation_fraction": validation_fraction}
            entry = cache.get(file.path.name)
            if (
                entry is None
                or entry["key"] != key
                or vocab_key is not None
                and entry["vocabulary"] != vocab_key
            ):
                counts = _file_counts(file, validation_fraction, vocabulary)
                entry = {"key": key, "vocabulary": vocab_key, **counts}
                cache[file.path.name] = entry
                changed = True
            stats.invalid_lines += entry["invalid_lines"]
            for split in SPLITS:
                counts = Counts(**entry["splits"][split])
                if vocab_key is None:
                    counts.tokens = None
                stats.splits[split].add(counts)
        result[lang] = stats
    if changed:
        _save(cache_path, cache)
    return result


def sizes(stats: Mapping[str, LanguageStats], unit: str, split: str = "train") -> dict[str, int]:
    """Language -> size in `unit` (documents, sentences, bytes or tokens)."""
    if unit not in COUNTS:
        raise ValueError(f"unit must be one of {COUNTS}, got {unit!r}.")
    return {lang: s.size(unit, split) for lang, s in stats.items()}


def _load(path: storage.Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("files", {}) if data.get("version") == _VERSION else {}


def _save(path: storage.Path, files: dict) -> None:
    try:
        storage.write_text(
            path, json.dumps({"version": _VERSION, "files": files}, indent=1, sort_keys=True)
        )
    except OSError as e:
        logger.warning("Cannot write corpus statistics to %s (%s); not cached.", path, e)
