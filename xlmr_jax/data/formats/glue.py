"""Reader for the GLUE task files (original tsv layout, plus the HF `datasets` tsv export).

Columns are found by header name, so train/dev (labeled) and test (unlabeled) files of one task
read alike; CoLA train/dev are the only files without a header. Labels index `GlueTask.labels`
(TFDS `glue/<task>` class names; files hold either the names or their 0/1 index); STS-B labels
are floats.
"""

from __future__ import annotations

import dataclasses

from xlmr_jax.data.formats.common import (
    FormatError,
    PairExample,
    PathLike,
    label_index,
    parse_number,
    require_examples,
    tsv_rows,
)

_ID_COLUMNS = (("index",), ("idx",), ("id",))


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """Where a task's texts, label and id live in its tsv files."""

    name: str
    text_a: str
    text_b: str | None
    label: str | None  # label column; None when the task has no labeled files (AX)
    labels: tuple[str, ...] | None  # class names; None for regression
    id_columns: tuple[tuple[str, ...], ...] = _ID_COLUMNS


_NLI = ("entailment", "neutral", "contradiction")
_MNLI = dict(text_a="sentence1", text_b="sentence2", label="gold_label", labels=_NLI)
GLUE_TASKS: dict[str, GlueTask] = {
    task.name: task
    for task in (
        GlueTask("cola", "sentence", None, "label", ("unacceptable", "acceptable")),
        GlueTask("sst2", "sentence", None, "label", ("negative", "positive")),
        GlueTask(
            "mrpc", "#1 String", "#2 String", "Quality", ("not_equivalent", "equivalent"),
            id_columns=(("index",), ("idx",), ("#1 ID", "#2 ID")),
        ),
        GlueTask("qqp", "question1", "question2", "is_duplicate", ("not_duplicate", "duplicate")),
        GlueTask("stsb", "sentence1", "sentence2", "score", None),
        GlueTask("mnli", **_MNLI),
        GlueTask("mnli-mm", **_MNLI),
        GlueTask("qnli", "question", "sentence", "label", ("entailment", "not_entailment")),
        GlueTask("rte", "sentence1", "sentence2", "label", ("entailment", "not_entailment")),
        GlueTask("wnli", "sentence1", "sentence2", "label", ("not_entailment", "entailment")),
        GlueTask("ax", "sentence1", "sentence2", None, _NLI),
    )
}  # fmt: skip
_ALIASES = {
    "sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli", "mnli_matched": "mnli",
    "mnli_mismatched": "mnli-mm", "diagnostic": "ax",
}  # fmt: skip
# CoLA train/dev: source, label, original annotation, sentence (no header).
_COLA_COLUMNS = ("source", "label", "original_label", "sentence")


def glue_task(name: str) -> GlueTask:
    """The task for a name as GLUE, TFDS or the data directories spell it ("SST-2", "mnli_matched")."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {name!r}; choose one of {sorted(GLUE_TASKS)}")
    return GLUE_TASKS[key]


def _header_name(name: str) -> str:
    # The HF dummy MRPC files spell the UTF-8 byte-order mark as the literal text "BOM" (TFDS
    # skips the first 3 characters of the raw MRPC file for the same reason).
    return name.removeprefix("BOM") if name == "BOMQuality" else name


def read_glue(path: PathLike, task: str, labeled: bool = False) -> list[PairExample]:
    """All examples of one GLUE tsv file of `task` (see `glue_task` for accepted names).

    `labeled`: the file must have the label column (train, dev); else a file without it reads
    as unlabeled (test).
    """
    spec = glue_task(task)
    rows = tsv_rows(path)
    first_line, first = next(rows)
    if spec.name == "cola" and first != ["index", "sentence"]:
        header, body = list(_COLA_COLUMNS), [(first_line, first), *rows]
        if len(first) != len(header):
            raise FormatError(
                path, first_line, f"expected {len(header)} CoLA columns, got {len(first)}"
            )
    else:
        header, body = [_header_name(name) for name in first], rows
    column = {name: i for i, name in enumerate(header)}
    for name in (spec.text_a, spec.text_b):
        if name is not None and name not in column:
            raise FormatError(
                path, 1, f"no column {name!r} for GLUE {spec.name} in header {header}"
            )
    id_columns = next((c for c in spec.id_columns if all(n in column for n in c)), None)
    has_label = spec.label is not None and spec.label in column
    if labeled and not has_label:
        raise FormatError(
            path, 1, f"no label column {spec.label!r} for GLUE {spec.name} in header {header}"
        )
    examples = []
    for row, (line, fields) in enumerate(body):
        label = None
        if has_label:
            value = fields[column[spec.label]]
            label = (
                parse_number(value, path, line)
                if spec.labels is None
                else label_index(value, spec.labels, path, line)
            )
        example_id = "-".join(fields[column[n]] for n in id_columns) if id_columns else str(row)
        text_b = fields[column[spec.text_b]] if spec.text_b else None
        examples.append(
            PairExample(example_id, fields[column[spec.text_a]], text_b, label, "en", line)
        )
    return require_examples(examples, path)


def read_mrpc_dev_ids(path: PathLike) -> set[str]:
    """GLUE's MRPC `dev_ids` (pairs of sentence ids) as the ids `read_glue(..., "mrpc")` gives
    rows of the raw MSR train file; GLUE's dev split is exactly these rows."""
    return {f"{a}-{b}" for _, (a, b) in tsv_rows(path, 2)}
