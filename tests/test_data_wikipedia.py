"""`xlmr data wikipedia`: WikiExtractor output (both formats) of real UDHR text -> our corpus
layout, read back by the pretraining sources with a named Wikipedia language list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import seqio

from xlmr_jax import cli
from xlmr_jax.data.languages import resolve_languages
from xlmr_jax.data.sources import DocumentReader, language_files
from xlmr_jax.tasks.pretrain import register_cc100


def _articles(data_dir: Path, udhr_code: str, n: int) -> list[tuple[str, list[str]]]:
    """n articles (title, paragraphs) cut from a real UDHR text."""
    lines = [line.strip() for line in (data_dir / "text" / "udhr2" / f"{udhr_code}.txt")
             .read_text(encoding="utf-8").splitlines() if line.strip()]  # fmt: skip
    per = len(lines) // n
    return [(f"Title {i}", lines[i * per : (i + 1) * per]) for i in range(n)]


def _write_doc_format(folder: Path, articles, empty: int = 1) -> None:
    """WikiExtractor's default output: AA/wiki_00, AA/wiki_01 with <doc> blocks, title first."""
    blocks = [
        f'<doc id="{i}" url="https://x.wikipedia.org/wiki?curid={i}" title="{title}">\n'
        f"{title}\n\n" + "\n\n".join(paragraphs) + "\n</doc>\n"
        for i, (title, paragraphs) in enumerate(articles)
    ]
    blocks += [
        f'<doc id="r{i}" url="u" title="Redirect {i}">\nRedirect {i}\n</doc>\n'
        for i in range(empty)
    ]
    (folder / "AA").mkdir(parents=True)
    half = len(blocks) // 2
    (folder / "AA" / "wiki_00").write_text("".join(blocks[:half]), encoding="utf-8")
    (folder / "AA" / "wiki_01").write_text("".join(blocks[half:]), encoding="utf-8")


def test_wikipedia_to_corpus_both_formats(tmp_path, data_dir, capsys, spm_model):
    swahili = _articles(data_dir, "swh", 5)
    english = _articles(data_dir, "eng", 4)
    _write_doc_format(tmp_path / "sw_extracted", swahili, empty=2)
    (tmp_path / "en_extracted" / "AB").mkdir(parents=True)
    records = [
        {"id": str(i), "url": "u", "title": t, "text": t + "\n\n" + "\n".join(p)}
        for i, (t, p) in enumerate(english)
    ]
    (tmp_path / "en_extracted" / "AB" / "wiki_00").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8"
    )
    corpus = tmp_path / "wiki"
    for lang in ("sw", "en"):
        argv = ["data", "wikipedia", "--extracted", str(tmp_path / f"{lang}_extracted")]
        assert cli.main([*argv, "--lang", lang, "--out", str(corpus)]) == 0
    out = capsys.readouterr().out
    sw_lines = sum(len(p) for _, p in swahili)
    assert f"sw.txt: 5 articles, {sw_lines:,} lines (2 empty articles skipped)" in out
    assert "en.txt: 4 articles" in out

    files = language_files(corpus, resolve_languages("en,sw"))
    documents = list(DocumentReader(files["sw"][0].path))
    assert documents == [paragraphs for _, paragraphs in swahili]  # titles dropped
    assert [len(d) for d in DocumentReader(files["en"][0].path)] == [len(p) for _, p in english]
    # The named Wikipedia list finds the files by their Wikipedia codes (and says what is missing).
    with pytest.raises(ValueError, match="no `<lang>.txt"):
        language_files(corpus, resolve_languages("wiki7"))
    # LANGUAGES as gin gives it (a plain string of codes) registers the pretraining mixture.
    mixture = seqio.get_mixture_or_task(register_cc100(corpus, spm_model, "sw,en", name="wiki"))
    assert sorted(t.name for t in mixture.tasks) == ["wiki.en", "wiki.sw"]


def test_wikipedia_bad_input_is_one_error_line(tmp_path, capsys):
    (tmp_path / "x" / "AA").mkdir(parents=True)
    (tmp_path / "x" / "AA" / "wiki_00").write_text('<doc id="1" url="u" title="T">\nT\ntext\n')
    argv = ["data", "wikipedia", "--extracted", str(tmp_path / "x"), "--lang", "sw"]
    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("wiki_00:1: <doc> never closed (truncated file?)")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "sw.txt").exists()
    assert cli.main([*argv[:-2], "--lang", "sw", "--out", str(tmp_path / "out"),
                     "--extracted", str(tmp_path / "none")]) == 2  # fmt: skip
    assert "no such folder" in capsys.readouterr().err
