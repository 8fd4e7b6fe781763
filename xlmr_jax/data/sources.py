"""CC-100-layout corpora: find each language's shard files, read documents, split train/validation.

Layout: one directory, files `<lang>.txt` or `<lang>.<shard>.txt` (shard = decimal digits), each
optionally xz-compressed (`.xz`); `<lang>` is the CC-100 code (`en`, `zh-Hans`, `hi_rom`). A
language's shards are read in order: the unsharded file first, then by shard number. Lines are
sentences; blank (whitespace-only) lines separate documents.

The split is by document: a document goes to validation when the first 8 bytes of its BLAKE2b
digest, modulo 10^6, fall below `validation_fraction * 10^6`. It depends only on the document's
text, so it is the same however files are sharded, ordered or read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import lzma
import random
import re
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import seqio
import tensorflow as tf

from xlmr_jax import storage

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation")
DEFAULT_VALIDATION_FRACTION = 0.001
_FILE_RE = re.compile(r"^(?P<lang>[A-Za-z][\w-]*?)(?:\.(?P<shard>\d+))?\.txt(?P<xz>\.xz)?$")
_XZ_MAGIC = b"\xfd7zXZ\x00"
_BUCKETS = 10**6
_DOCS_PER_CALL = 256


class CorpusError(ValueError):
    """A corpus file or directory that cannot be used as it is."""


@dataclasses.dataclass(frozen=True)
class CorpusFile:
    """One shard file of a language; `shard` is -1 for the unsharded `<lang>.txt[.xz]`."""

    lang: str
    shard: int
    path: storage.Path


def discover(data_dir: storage.PathLike) -> dict[str, list[CorpusFile]]:
    """Language -> its shard files in reading order; other files in the directory are ignored."""
    data_dir = storage.as_path(data_dir, "DATA_DIR")
    if not data_dir.is_dir():
        raise CorpusError(f"Corpus directory {storage.where(data_dir)} does not exist.")
    found: dict[str, dict[int, CorpusFile]] = {}
    for path in sorted(data_dir.iterdir()):
        m = _FILE_RE.match(path.name)
        if not m or not path.is_file():
            continue
        lang, shard = m["lang"], int(m["shard"]) if m["shard"] is not None else -1
        shards = found.setdefault(lang, {})
        if shard in shards:
            raise CorpusError(
                f"{data_dir}: {shards[shard].path.name} and {path.name} are the same shard of "
                f"{lang!r}; keep one of them."
            )
        shards[shard] = CorpusFile(lang, shard, path)
    return {lang: [shards[s] for s in sorted(shards)] for lang, shards in sorted(found.items())}


def language_files(
    data_dir: storage.PathLike, languages: Sequence[str]
) -> dict[str, list[CorpusFile]]:
    """The files of `languages`; a clear error naming every language missing from the directory."""
    files = discover(data_dir)
    missing = [lang for lang in languages if lang not in files]
    if missing:
        raise CorpusError(
            f"{data_dir}: no `<lang>.txt[.xz]` files for {', '.join(missing)} "
            f"(found {len(files)} languages: {', '.join(files) or 'none'})."
        )
    return {lang: files[lang] for lang in languages}


@contextlib.contextmanager
def _open(path: storage.Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed when it starts with the xz magic (whatever its name)."""
    with path.open("rb") as f:
        magic = f.read(len(_XZ_MAGIC))
        f.seek(0)
        if magic == _XZ_MAGIC:
            with lzma.open(f, "rb") as xz:
                yield xz
            return
        if path.suffix == ".xz":
            logger.warning("%s is named .xz but is not xz-compressed; read as plain text.", path)
        yield f


class DocumentReader:
    """Iterates one file's documents (lists of lines); counts what it had to skip.

    A line that is not valid UTF-8 is dropped and counted (`invalid_lines`, logged once per
    file); a truncated or corrupt xz stream raises CorpusError naming the file.
    """

    def __init__(self, path: storage.PathLike):
        self.path = storage.as_path(path)
        self.invalid_lines = 0

    def __iter__(self) -> Iterator[list[str]]:
        self.invalid_lines = 0
        doc: list[str] = []
        try:
            with _open(self.path) as f:
                for raw in f:
                    try:
                        line = raw.rstrip(b"\r\n").decode("utf-8")
                    except UnicodeDecodeError:
                        self.invalid_lines += 1
                        continue
                    if line.strip():
                        doc.append(line)
                    elif doc:
                        yield doc
                        doc = []
        except (EOFError, lzma.LZMAError) as e:
            raise CorpusError(
                f"{self.path}: the xz stream is truncated or corrupt ({e}); re-download the file."
            ) from e
        if doc:
            yield doc
        if self.invalid_lines:
            logger.warning("%s: skipped %d lines of invalid UTF-8.", self.path, self.invalid_lines)


def document_split(lines: Sequence[str], validation_fraction: float) -> str:
    """'validation' or 'train' for a document, from a hash of its text (module docstring)."""
    digest = hashlib.blake2b("\n".join(lines).encode("utf-8"), digest_size=8).digest()
    bucket = int.from_bytes(digest, "little") % _BUCKETS
    return "validation" if bucket < validation_fraction * _BUCKETS else "train"


def iter_documents(
    files: Sequence[CorpusFile], split: str, validation_fraction: float
) -> Iterator[list[str]]:
    """The documents of `split` in `files`, in file order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    for file in files:
        for doc in DocumentReader(file.path):
            if document_split(doc, validation_fraction) == split:
                yield doc


class CorpusSource(seqio.DataSource):
    """A seqio source over one language's shard files: examples {'text': lines joined by '\\n'}.

    Shards are files: ShardInfo(i, n) reads files i, i + n, ... (seqio falls back to sharding
    examples when there are fewer files than shards).
    """

    def __init__(
        self,
        files: Sequence[CorpusFile],
        validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
        num_input_examples: dict[str, int] | None = None,
    ):
        if not files:
            raise CorpusError("CorpusSource needs at least one file.")
        self.files = tuple(files)
        self.validation_fraction = validation_fraction
        super().__init__(splits=SPLITS, num_input_examples=num_input_examples)

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return False

    def list_shards(self, split: str) -> Sequence[str]:
        return [str(f.path) for f in self.files]

    def get_dataset(
        self,
        split: str = "train",
        shuffle: bool = True,
        seed: int | None = None,
        shard_info: seqio.ShardInfo | None = None,
        *,
        sequence_length=None,
        use_cached: bool = False,
        num_epochs: int | None = 1,
    ) -> tf.data.Dataset:
        files = list(self.files)
        if shard_info is not None:
            files = files[shard_info.index :: shard_info.num_shards]
        if shuffle:
            random.Random(seed).shuffle(files)

        def documents():  # batched: from_generator costs ~0.3 ms per element
            batch = []
            for doc in iter_documents(files, split, self.validation_fraction):
                batch.append("\n".join(doc))
                if len(batch) == _DOCS_PER_CALL:
                    yield {"text": batch}
                    batch = []
            if batch:
                yield {"text": batch}

        return tf.data.Dataset.from_generator(
            documents, output_signature={"text": tf.TensorSpec([None], tf.string)}
        ).unbatch()
