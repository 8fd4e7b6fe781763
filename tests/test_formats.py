"""Benchmark readers on the full real files, on the original-format samples, and on bad input."""

from __future__ import annotations

import csv
import json
import logging
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from xlmr_jax.data.formats import (
    NLI_LABELS,
    XNLI_LANGUAGES,
    FormatError,
    glue_task,
    iob1_to_iob2,
    read_conll,
    read_glue,
    read_mrpc_dev_ids,
    read_multinli,
    read_pawsx,
    read_squad,
    read_xnli_mt_train,
    read_xnli_original,
    read_xnli_tsv,
    tag_scheme,
)


@pytest.fixture(scope="session")
def samples(data_dir: Path, tmp_path_factory) -> Path:
    """format_samples/ with every dummy_data.zip extracted (macOS metadata left out)."""
    root = tmp_path_factory.mktemp("format_samples")
    for archive in (data_dir / "format_samples").rglob("dummy_data.zip"):
        target = root / archive.parent.relative_to(data_dir / "format_samples")
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.namelist() if "__MACOSX" not in m and ".DS_Store" not in m]
            z.extractall(target, members)
    return root


# --- full real files -------------------------------------------------------------------------


def test_xnli_dev_all_languages(data_dir):
    labels = set()
    for lang in XNLI_LANGUAGES:
        examples = read_xnli_tsv(data_dir / "xnli" / f"dev-{lang}.tsv", lang)
        assert len(examples) == 2490
        assert Counter(e.label for e in examples) == {0: 830, 1: 830, 2: 830}
        assert {e.language for e in examples} == {lang}
        assert [e.id for e in examples] == [str(i) for i in range(2490)]
        labels.add(tuple(e.label for e in examples))
    assert len(labels) == 1  # the 15 dev sets are parallel, pair by pair


def test_xnli_tsv_matches_csv_module(data_dir):
    path = data_dir / "xnli" / "dev-zh.tsv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    examples = read_xnli_tsv(path)
    assert [(e.text_a, e.text_b, NLI_LABELS[e.label]) for e in examples] == [tuple(r) for r in rows]


CONLL = {
    "conll2003/eng.train": (14041, "IOB1", 946),
    "conll2003/eng.testa": (3250, "IOB1", 216),
    "conll2003/eng.testb": (3453, "IOB1", 231),
    "conll2003/german/deu.testa": (2867, "IOB1", 201),
    "conll2003/german/deu.testb": (3005, "IOB1", 155),
    "conll2002/esp.train": (8323, "IOB2", 1),
    "conll2002/esp.testa": (1915, "IOB2", 1),
    "conll2002/esp.testb": (1517, "IOB2", 1),
    "conll2002/ned.train": (15806, "IOB2", 287),
    "conll2002/ned.testa": (2895, "IOB2", 74),
    "conll2002/ned.testb": (5195, "IOB2", 119),
}


@pytest.mark.parametrize("name", sorted(CONLL))
def test_conll_counts_and_scheme(data_dir, name):
    sentences, scheme, documents = CONLL[name]
    data = read_conll(data_dir / name)
    assert len(data) == sentences
    assert tag_scheme(s.tags for s in data) == scheme
    assert data[-1].document + 1 == documents
    assert all(len(s.tokens) == len(s.tags) > 0 for s in data)
    assert "-DOCSTART-" not in {t for s in data for t in s.tokens}
    converted = [iob1_to_iob2(s.tags) for s in data]
    opens_with_i = sum(
        t.startswith("I-") and (i == 0 or c[i - 1][2:] != t[2:])
        for c in converted
        for i, t in enumerate(c)
    )
    assert opens_with_i == 0


def test_conll_encodings_and_slips(data_dir):
    # German CoNLL-2003 is ISO-8859-1, the nltk CoNLL-2002 copies UTF-8: both decode.
    assert read_conll(data_dir / "conll2003/german/deu.testa")[0].tokens[0] == "Großer"
    assert any("ñ" in t for s in read_conll(data_dir / "conll2002/esp.testa") for t in s.tokens)
    # Each Spanish file has exactly one chunk opened by I- (an annotation slip), yet is IOB2.
    for split in ("train", "testa", "testb"):
        data = read_conll(data_dir / f"conll2002/esp.{split}")
        changed = [s.id for s in data if iob1_to_iob2(s.tags) != s.tags]
        assert len(changed) == 1


def test_iob1_to_iob2():
    tags = ("I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "O", "B-MISC")
    assert iob1_to_iob2(tags) == (
        "B-PER",
        "I-PER",
        "B-PER",
        "O",
        "B-LOC",
        "B-ORG",
        "I-ORG",
        "O",
        "B-MISC",
    )
    assert tag_scheme([tags]) == "IOB1"
    assert tag_scheme([iob1_to_iob2(tags)]) == tag_scheme([("O", "O")]) == "IOB2"


GLUE_DEV = {"QNLI": 5463, "SST-2": 872, "MRPC": 408, "STS-B": 1500, "RTE": 277}


@pytest.mark.parametrize("task", sorted(GLUE_DEV))
def test_glue_dev_matches_csv_module(data_dir, task):
    path = data_dir / "glue" / task / "dev.tsv"
    spec = glue_task(task)
    examples = read_glue(path, task)
    assert len(examples) == GLUE_DEV[task] == len({e.id for e in examples})
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for example, row in zip(examples, rows, strict=True):
        assert example.text_a == row[spec.text_a]
        assert example.text_b == (row[spec.text_b] if spec.text_b else None)
        value = row[spec.label]
        expected = (
            float(value)
            if spec.labels is None
            else (spec.labels.index(value) if value in spec.labels else int(value))
        )
        assert example.label == expected


def test_glue_label_conventions(data_dir):
    mrpc = read_glue(data_dir / "glue/MRPC/dev.tsv", "mrpc")
    assert (mrpc[0].id, mrpc[0].label) == ("1355540-1355592", 1)  # "#1 ID-#2 ID"; 1 = equivalent
    rte = read_glue(data_dir / "glue/RTE/dev.tsv", "rte")  # HF export: label 1 = not_entailment
    assert rte[0].text_b == "Christopher Reeve had an accident." and rte[0].label == 1
    stsb = read_glue(data_dir / "glue/STS-B/dev.tsv", "STS-B")
    assert stsb[1].label == 4.75 and all(0.0 <= e.label <= 5.0 for e in stsb)


MLQA = {
    "ar-question-ar": 517, "de-question-de": 512, "en-question-ar": 517, "en-question-de": 512,
    "en-question-en": 1148, "en-question-es": 500, "en-question-hi": 507, "en-question-vi": 511,
    "en-question-zh": 504, "es-question-es": 500, "hi-question-hi": 507, "vi-question-vi": 511,
    "zh-question-zh": 504,
}  # fmt: skip


def test_mlqa_dev_counts(data_dir):
    for name, count in MLQA.items():
        examples = read_squad(data_dir / "mlqa" / f"dev-context-{name}.json")
        assert len(examples) == count == len({e.id for e in examples})
        for e in examples:
            assert len(e.answers) == 1
            a = e.answers[0]
            assert e.context[a.start : a.start + len(a.text)] == a.text


# --- the original distribution formats (format_samples) ------------------------------------


def test_xnli_original_samples(samples):
    root = samples / "xnli/dummy_data"
    dev_tsv = read_xnli_original(root / "XNLI-1.0.zip/XNLI-1.0/xnli.dev.tsv")
    assert len(dev_tsv) == 15 and {e.language for e in dev_tsv} == set(XNLI_LANGUAGES)
    dev_jsonl = read_xnli_original(root / "XNLI-1.0.zip/XNLI-1.0/xnli.dev.jsonl")
    assert [e.id for e in dev_jsonl] == ["ar-1", "ar-2", "ar-3", "ar-16", "ar-17"]
    assert (dev_jsonl[0].text_a, dev_jsonl[0].label) == (dev_tsv[0].text_a, dev_tsv[0].label)
    assert dev_tsv[4].id == "en-1" and dev_tsv[4].text_a == "And he said, Mama, I'm home."
    assert NLI_LABELS[dev_tsv[4].label] == "neutral"
    only_de = read_xnli_original(root / "XNLI-1.0.zip/XNLI-1.0/xnli.test.tsv", ["de"])
    assert [e.language for e in only_de] == ["de"]
    mt = root / "XNLI-MT-1.0.zip/XNLI-MT-1.0"
    assert len(read_xnli_original(mt / "xnli/xnli.dev.en.tsv")) == 4
    assert len(read_xnli_original(mt / "xnli/xnli.test.en.jsonl")) == 5
    for lang in XNLI_LANGUAGES:
        train = read_xnli_mt_train(mt / f"multinli/multinli.train.{lang}.tsv", lang)
        assert [e.label for e in train] == [1, 0, 0, 0]


def test_multinli_and_pawsx_samples(samples):
    root = samples / "multi_nli/dummy_data/multinli_1.0.zip/multinli_1.0"
    for split, first_id in (
        ("train", "31193n"),
        ("dev_matched", "63735n"),
        ("dev_mismatched", "75290c"),
    ):
        examples = read_multinli(root / f"multinli_1.0_{split}.jsonl")
        assert len(examples) == 5 and examples[0].id == first_id
    for lang_dir in sorted((samples / "paws-x").iterdir()):
        files = sorted(lang_dir.rglob("*.tsv"))
        assert len(files) == 3
        for path in files:
            examples = read_pawsx(path, lang_dir.name)
            assert len(examples) == 4 and {e.label for e in examples} <= {0, 1}
        dev = read_pawsx(lang_dir / f"dummy_data/x-final.tar.gz/x-final/{lang_dir.name}/dev_2k.tsv")
        assert [e.id for e in dev][:2] == ["4", "6"]


GLUE_SAMPLES = {  # file: (task, examples, labeled)
    "ax/dummy_data/ax.tsv": ("ax", 3, False),
    "cola/dummy_data/CoLA/dev.tsv": ("cola", 2, True),
    "cola/dummy_data/CoLA/test.tsv": ("cola", 1, False),
    "cola/dummy_data/CoLA/train.tsv": ("cola", 3, True),
    "mnli/dummy_data/MNLI/dev_matched.tsv": ("mnli", 2, True),
    "mnli/dummy_data/MNLI/dev_mismatched.tsv": ("mnli-mm", 2, True),
    "mnli/dummy_data/MNLI/test_matched.tsv": ("mnli", 1, False),
    "mnli/dummy_data/MNLI/test_mismatched.tsv": ("mnli-mm", 1, False),
    "mnli/dummy_data/MNLI/train.tsv": ("mnli", 3, True),
    "mrpc/dummy_data/MRPC/test": ("mrpc", 15, True),
    "mrpc/dummy_data/MRPC/train": ("mrpc", 18, True),
    "qnli/dummy_data/QNLI/dev.tsv": ("qnli", 2, True),
    "qnli/dummy_data/QNLI/test.tsv": ("qnli", 1, False),
    "qnli/dummy_data/QNLI/train.tsv": ("qnli", 3, True),
    "qqp/dummy_data/QQP/dev.tsv": ("qqp", 2, True),
    "qqp/dummy_data/QQP/test.tsv": ("qqp", 1, False),
    "qqp/dummy_data/QQP/train.tsv": ("qqp", 3, True),
    "rte/dummy_data/RTE/dev.tsv": ("rte", 2, True),
    "rte/dummy_data/RTE/test.tsv": ("rte", 1, False),
    "rte/dummy_data/RTE/train.tsv": ("rte", 3, True),
    "sst2/dummy_data/SST-2/dev.tsv": ("sst2", 2, True),
    "sst2/dummy_data/SST-2/test.tsv": ("sst2", 1, False),
    "sst2/dummy_data/SST-2/train.tsv": ("sst2", 3, True),
    "stsb/dummy_data/SST-B/dev.tsv": ("stsb", 2, True),
    "stsb/dummy_data/SST-B/test.tsv": ("stsb", 1, False),
    "stsb/dummy_data/SST-B/train.tsv": ("stsb", 3, True),
    "wnli/dummy_data/WNLI/dev.tsv": ("wnli", 2, True),
    "wnli/dummy_data/WNLI/test.tsv": ("wnli", 1, False),
    "wnli/dummy_data/WNLI/train.tsv": ("wnli", 3, True),
}


def test_glue_samples(samples):
    found = {
        str(p.relative_to(samples / "glue")) for p in (samples / "glue").rglob("*") if p.is_file()
    }
    assert found - set(GLUE_SAMPLES) == {"mrpc/dummy_data/MRPC/dev_ids"}
    for name, (task, count, labeled) in GLUE_SAMPLES.items():
        examples = read_glue(samples / "glue" / name, task)
        assert len(examples) == count, name
        assert all((e.label is not None) == labeled for e in examples), name
    qqp = read_glue(samples / "glue/qqp/dummy_data/QQP/dev.tsv", "qqp")
    assert (qqp[0].id, qqp[0].text_b, qqp[0].label) == (
        "201359",
        "Why are hispanics so beautiful?",
        0,
    )
    cola = read_glue(samples / "glue/cola/dummy_data/CoLA/dev.tsv", "cola")
    assert (
        cola[0].text_a == "The sailors rode the breeze clear of the rocks." and cola[0].label == 1
    )
    # GLUE's MRPC dev split = the raw train rows listed in dev_ids.
    mrpc_dir = samples / "glue/mrpc/dummy_data/MRPC"
    dev_ids = read_mrpc_dev_ids(mrpc_dir / "dev_ids")
    train = read_glue(mrpc_dir / "train", "mrpc")
    assert len(dev_ids) == 8 and {e.id for e in train} >= dev_ids


def test_conll2003_samples(samples):
    for split in ("train", "valid", "test"):
        (sentence,) = read_conll(samples / f"conll2003/dummy_data/{split}.txt")
        assert tag_scheme([sentence.tags]) == "IOB2"  # the HF samples are converted to IOB2
    train = read_conll(samples / "conll2003/dummy_data/train.txt")[0]
    assert train.tokens[:3] == ("The", "European", "Commission") and train.tags[1:3] == (
        "B-ORG",
        "I-ORG",
    )


# --- bad input ------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_tsv_errors_name_file_and_line(tmp_path):
    ok = "a\tb\tentailment\n"
    path = _write(tmp_path, "dev-xx.tsv", ok + ok + "a\tb\n")
    with pytest.raises(
        FormatError, match=r"dev-xx\.tsv:3: expected 3 tab-separated columns, got 2"
    ):
        read_xnli_tsv(path)
    path = _write(tmp_path, "labels.tsv", ok + "a\tb\tmaybe\n")
    with pytest.raises(FormatError, match=r"labels\.tsv:2: label 'maybe' is not one of"):
        read_xnli_tsv(path)
    path = _write(tmp_path, "gap.tsv", ok + "\n" + ok)
    with pytest.raises(FormatError, match=r"gap\.tsv:2: empty line"):
        read_xnli_tsv(path)
    with pytest.raises(FormatError, match=r"empty\.tsv: empty file"):
        read_xnli_tsv(_write(tmp_path, "empty.tsv", "\n"))
    header_only = _write(tmp_path, "multinli.train.xx.tsv", "premise\thypo\tlabel\n")
    with pytest.raises(FormatError, match=r"multinli\.train\.xx\.tsv: no examples"):
        read_xnli_mt_train(header_only)
    with pytest.raises(FormatError, match=r"bad_header\.tsv:1: header"):
        read_pawsx(_write(tmp_path, "bad_header.tsv", "id\ts1\ts2\tlabel\n1\ta\tb\t0\n"))
    with pytest.raises(
        FormatError, match=r"glue\.tsv:3: label '2' is not one of \('negative', 'positive'\)"
    ):
        read_glue(_write(tmp_path, "glue.tsv", "sentence\tlabel\ngood\t1\nodd\t2\n"), "sst2")
    with pytest.raises(FormatError, match=r"stsb\.tsv:2: 'high' is not a number"):
        read_glue(_write(tmp_path, "stsb.tsv", "sentence1\tsentence2\tscore\na\tb\thigh\n"), "stsb")


def test_nli_label_alias_and_multinli_no_consensus(tmp_path, caplog):
    path = _write(tmp_path, "mt.tsv", "premise\thypo\tlabel\np\th\tcontradictory\np\th\tneutral\n")
    assert [e.label for e in read_xnli_mt_train(path)] == [2, 1]
    record = {"sentence1": "p", "sentence2": "h", "pairID": "1e", "gold_label": "entailment"}
    lines = [json.dumps(record), json.dumps({**record, "pairID": "2", "gold_label": "-"})]
    with caplog.at_level(logging.INFO):
        examples = read_multinli(_write(tmp_path, "mnli.jsonl", "\n".join(lines) + "\n"))
    assert [e.id for e in examples] == ["1e"]
    assert "skipped 1 pairs without gold label" in caplog.text
    with pytest.raises(FormatError, match=r"broken\.jsonl:2: invalid JSON"):
        read_multinli(_write(tmp_path, "broken.jsonl", lines[0] + "\n{oops\n"))
    with pytest.raises(FormatError, match=r"partial\.jsonl:1: missing fields \['pairID'\]"):
        read_multinli(
            _write(
                tmp_path,
                "partial.jsonl",
                json.dumps({k: v for k, v in record.items() if k != "pairID"}),
            )
        )


def _squad(answers: list[dict]) -> str:
    context = "Paris is the capital of France."
    qas = [
        {"id": f"q{i}", "question": "Which city?", "answers": [a]} for i, a in enumerate(answers)
    ]
    data = {
        "version": "1.1",
        "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}],
    }
    return json.dumps(data, indent=1)


def test_squad_answer_start_policies(tmp_path, caplog):
    good, bad = {"text": "Paris", "answer_start": 0}, {"text": "France", "answer_start": 3}
    path = _write(tmp_path, "squad.json", _squad([good, bad, good]))
    with pytest.raises(
        FormatError,
        match=r"squad\.json:\d+: question 'q1', answer 0: 'France' is not at answer_start 3",
    ):
        read_squad(path)
    with caplog.at_level(logging.WARNING):
        skipped = read_squad(path, on_mismatch="skip")
    assert [e.id for e in skipped] == ["q0", "q2"]
    assert (
        "1 answers of 1 questions do not match their answer_start (skip; 1 questions" in caplog.text
    )
    kept = read_squad(path, on_mismatch="keep")
    assert [e.answers[0].text for e in kept] == ["Paris", "France", "Paris"]
    with pytest.raises(FormatError, match=r"dup\.json:\d+: duplicate question id 'q0'"):
        read_squad(_write(tmp_path, "dup.json", _squad([good, good]).replace('"q1"', '"q0"')))
    with pytest.raises(FormatError, match=r"trunc\.json:\d+: invalid JSON"):
        read_squad(_write(tmp_path, "trunc.json", _squad([good])[:-5]))
    with pytest.raises(FormatError, match=r"nodata\.json: no examples"):
        read_squad(_write(tmp_path, "nodata.json", json.dumps({"data": []})))


def test_conll_errors(tmp_path):
    text = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n"
    assert read_conll(_write(tmp_path, "ok.txt", text))[0].line == 3
    with pytest.raises(FormatError, match=r"cols\.txt:4: expected 4 columns, got 3"):
        read_conll(
            _write(tmp_path, "cols.txt", text.replace("rejects VBZ I-VP O", "rejects VBZ O"))
        )
    with pytest.raises(FormatError, match=r"tag\.txt:4: tag 'I-FOO' is not O or B-/I- of"):
        read_conll(_write(tmp_path, "tag.txt", text.replace("I-VP O", "I-VP I-FOO")))
    with pytest.raises(FormatError, match=r"docs\.txt: no examples"):
        read_conll(_write(tmp_path, "docs.txt", "-DOCSTART- -X- O O\n\n"))
    latin1 = _write(tmp_path, "latin1.txt", "Groß NN O\n", encoding="latin-1")
    assert read_conll(latin1)[0].tokens == ("Groß",)
