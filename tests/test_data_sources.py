"""CC-100-layout sources: shard naming, documents, the train/validation split, corpus statistics,
and bad input (invalid UTF-8, empty files, missing languages, truncated xz)."""

from __future__ import annotations

import logging
import lzma
import os

import pytest

from xlmr_jax.data.corpus_stats import STATS_FILE, corpus_stats, sizes
from xlmr_jax.data.sample_corpus import language_lines
from xlmr_jax.data.sources import (
    CorpusError,
    DocumentReader,
    discover,
    document_split,
    iter_documents,
    language_files,
)
from xlmr_jax.tasks.pretrain import register_cc100


def write(path, text: str | bytes, xz: bool = False):
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.write_bytes(lzma.compress(data) if xz else data)
    return path


def test_discover_orders_shards_and_ignores_other_files(tmp_path):
    for name in ["en.01.txt.xz", "en.txt", "en.00.txt", "zh-Hans.txt.xz", "hi_rom.3.txt"]:
        write(tmp_path / name, "a\n", xz=name.endswith(".xz"))
    for name in ["README.md", "en.txt.gz", "xlmr_corpus_stats.json", "en.tokens"]:
        write(tmp_path / name, "x")
    (tmp_path / "de.txt").mkdir()
    files = discover(tmp_path)
    assert list(files) == ["en", "hi_rom", "zh-Hans"]
    assert [f.path.name for f in files["en"]] == ["en.txt", "en.00.txt", "en.01.txt.xz"]
    assert [f.shard for f in files["en"]] == [-1, 0, 1]
    assert files["hi_rom"][0].shard == 3


def test_duplicate_shard_is_an_error(tmp_path):
    write(tmp_path / "en.txt", "a\n")
    write(tmp_path / "en.txt.xz", "a\n", xz=True)
    with pytest.raises(CorpusError, match="same shard"):
        discover(tmp_path)


def test_documents_are_separated_by_blank_lines(tmp_path):
    text = "\n\none\r\ntwo\n\n  \n\nthree\n  four  \n\n\n"
    path = write(tmp_path / "en.txt.xz", text, xz=True)
    assert list(DocumentReader(path)) == [["one", "two"], ["three", "  four  "]]


def test_xz_is_detected_by_content_not_name(tmp_path, caplog):
    # CC-100 samples in HF datasets' dummy data are plain text named .txt.xz.
    path = write(tmp_path / "am.txt.xz", "ሰላም\n")
    with caplog.at_level(logging.WARNING):
        assert list(DocumentReader(path)) == [["ሰላም"]]
    assert "not xz-compressed" in caplog.text


def test_split_is_by_document_hash_and_near_the_fraction(data_dir):
    lines = language_lines(data_dir / "text", "en")
    docs = [[line] for line in lines]
    val = [d for d in docs if document_split(d, 0.1) == "validation"]
    assert abs(len(val) / len(docs) - 0.1) < 0.03  # 900 documents
    assert all(document_split(d, 0.1) == "validation" for d in val)  # deterministic
    assert all(document_split(d, 0.0) == "train" for d in docs)
    assert all(document_split(d, 1.0) == "validation" for d in docs)


def test_corpus_stats_count_and_cache(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write(corpus / "en.txt", "a b\nc\n\nd\n")
    write(corpus / "en.00.txt.xz", "é\n", xz=True)
    write(corpus / "sw.txt", "x\n\ny\n\nz\n")
    stats = corpus_stats(corpus, validation_fraction=0.0)
    assert sizes(stats, "documents") == {"en": 3, "sw": 3}
    assert sizes(stats, "sentences") == {"en": 4, "sw": 3}
    assert sizes(stats, "bytes") == {"en": 3 + 1 + 1 + 2, "sw": 3}
    assert (corpus / STATS_FILE).exists()

    # Same size and mtime: the cached counts are used, the file is not read again.
    path = corpus / "sw.txt"
    st = path.stat()
    write(path, "x\ny\nz\n\n\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert sizes(corpus_stats(corpus, validation_fraction=0.0), "documents")["sw"] == 3
    # A new mtime invalidates the entry.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert sizes(corpus_stats(corpus, validation_fraction=0.0), "documents")["sw"] == 1


def test_tokens_are_counted_with_a_vocabulary(tmp_path, spm_model):
    from xlmr_jax.vocab import XLMRVocabulary

    vocab = XLMRVocabulary(spm_model)
    write(tmp_path / "en.txt", "Hello world.\nSecond line.\n\nAnother document.\n")
    stats = corpus_stats(tmp_path, validation_fraction=0.0, vocabulary=vocab)
    expected = sum(
        len(vocab.encode(s)) for s in ["Hello world.", "Second line.", "Another document."]
    )
    assert stats["en"].size("tokens") == expected
    with pytest.raises(ValueError, match="vocabulary"):
        corpus_stats(tmp_path, validation_fraction=0.0)["en"].size("tokens")


def test_invalid_utf8_lines_are_skipped_counted_and_logged(tmp_path, caplog):
    path = write(tmp_path / "en.txt", b"good one\nbad \xff\xfe line\ngood two\n\n\xc3\x28\nlast\n")
    reader = DocumentReader(path)
    with caplog.at_level(logging.WARNING):
        docs = list(reader)
    assert docs == [["good one", "good two"], ["last"]]
    assert reader.invalid_lines == 2
    assert "skipped 2 lines of invalid UTF-8" in caplog.text
    assert corpus_stats(tmp_path, validation_fraction=0.0)["en"].invalid_lines == 2


def test_truncated_xz_is_a_clear_error(tmp_path):
    data = lzma.compress(("some text\n" * 5000).encode())
    path = write(tmp_path / "sw.txt.xz", data[: len(data) // 2])
    with pytest.raises(CorpusError, match=r"sw\.txt\.xz.*truncated or corrupt"):
        list(DocumentReader(path))
    with pytest.raises(CorpusError, match="truncated"):
        corpus_stats(tmp_path)


def test_empty_file_is_skipped_with_a_log(tmp_path, caplog):
    write(tmp_path / "en.txt", "one\n\ntwo\n")
    write(tmp_path / "en.01.txt", "")
    with caplog.at_level(logging.WARNING):
        stats = corpus_stats(tmp_path, validation_fraction=0.0)
    assert stats["en"].size("documents") == 2
    assert "en.01.txt holds no documents" in caplog.text


def test_language_without_text_or_files_fails_registration(tmp_path, spm_model):
    write(tmp_path / "en.txt", "one\n\ntwo\n")
    write(tmp_path / "sw.txt", "\n\n")
    write(tmp_path / "ur.txt", b"\xff\xfe\n")
    with pytest.raises(CorpusError, match="no training text for sw, ur"):
        register_cc100(tmp_path, spm_model, ["en", "sw", "ur"], name="t.bad")
    with pytest.raises(CorpusError, match="no `<lang>.txt.*` files for fr, de"):
        register_cc100(tmp_path, spm_model, ["en", "fr", "de"], name="t.bad")
    with pytest.raises(CorpusError, match="does not exist"):
        language_files(tmp_path / "nowhere", ["en"])
    assert register_cc100(tmp_path, spm_model, ["en"], name="t.ok") == "t.ok"


def test_iter_documents_follows_shard_order_and_split(tmp_path):
    write(tmp_path / "en.txt", "a\n\nb\n")
    write(tmp_path / "en.00.txt.xz", "c\n\nd\n", xz=True)
    files = discover(tmp_path)["en"]
    assert list(iter_documents(files, "train", 0.0)) == [["a"], ["b"], ["c"], ["d"]]
    assert list(iter_documents(files, "validation", 0.0)) == []
