"""Reader for SQuAD v1.1 JSON, the format of SQuAD, MLQA and XQuAD.

Every answer's `answer_start` is checked against its context
(`context[start:start + len(text)] == text`). `on_mismatch` decides what a bad one does:
"error" (default) raises, "skip" drops the answer (and a question left without answers) and
"keep" keeps it; both log how many answers and questions were affected.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Literal

from xlmr_jax.data.formats.common import FormatError, PathLike, read_text, require_examples

logger = logging.getLogger(__name__)

MismatchPolicy = Literal["error", "skip", "keep"]
MLQA_LANGUAGES = ("en", "es", "de", "ar", "hi", "vi", "zh")  # 2019 paper, Table 3
XQUAD_LANGUAGES = (
    "en",
    "ar",
    "de",
    "el",
    "es",
    "hi",
    "ru",
    "th",
    "tr",
    "vi",
    "zh",
)  # 2021, Table 3


@dataclasses.dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset into the context


@dataclasses.dataclass(frozen=True)
class QAExample:
    """One question with its context; `id` is the question id of the file."""

    id: str
    title: str
    context: str
    question: str
    answers: tuple[Answer, ...]


def read_squad(path: PathLike, on_mismatch: MismatchPolicy = "error") -> list[QAExample]:
    """All questions of a SQuAD v1.1-format file, in file order."""
    if on_mismatch not in ("error", "skip", "keep"):
        raise ValueError(f"on_mismatch must be error|skip|keep, got {on_mismatch!r}")
    text = read_text(path, "utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(path, e.lineno, f"invalid JSON: {e.msg}") from None
    examples, seen = [], set()
    bad_answers = bad_questions = dropped = 0
    for a, article in enumerate(_field(data, "data", path, "")):
        title = article.get("title", "")
        for p, paragraph in enumerate(_field(article, "paragraphs", path, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _field(paragraph, "context", path, where)
            for q, qa in enumerate(_field(paragraph, "qas", path, where)):
                qid = str(_field(qa, "id", path, f"{where}.qas[{q}]"))
                if qid in seen:
                    raise FormatError(path, _line_of(text, qid), f"duplicate question id {qid!r}")
                seen.add(qid)
                answers, bad = _answers(qa, context, on_mismatch, path, text, qid)
                bad_answers += bad
                bad_questions += bool(bad)
                if bad and not answers:
                    dropped += 1
                    continue
                question = _field(qa, "question", path, f"{where}.qas[{q}]")
                examples.append(QAExample(qid, title, context, question, tuple(answers)))
    if bad_answers:
        logger.warning(
            "%s: %d answers of %d questions do not match their answer_start (%s; %d questions "
            "left without answers dropped)",
            path, bad_answers, bad_questions, on_mismatch, dropped,
        )  # fmt: skip
    return require_examples(examples, path)


def _answers(
    qa: dict, context: str, on_mismatch: MismatchPolicy, path: PathLike, text: str, qid: str
) -> tuple[list[Answer], int]:
    """A question's answers under `on_mismatch`, and how many do not match their context."""
    answers, bad = [], 0
    for i, answer in enumerate(_field(qa, "answers", path, f"question {qid!r}")):
        where = f"question {qid!r}, answer {i}"
        start, answer_text = (
            int(_field(answer, "answer_start", path, where)),
            _field(answer, "text", path, where),
        )
        found = context[start : start + len(answer_text)]
        if found != answer_text:
            if on_mismatch == "error":
                message = (
                    f"{where}: {answer_text!r} is not at answer_start {start} (found {found!r})"
                )
                raise FormatError(path, _line_of(text, qid), message)
            bad += 1
            if on_mismatch == "skip":
                continue
        answers.append(Answer(answer_text, start))
    return answers, bad


def _field(obj: Any, key: str, path: PathLike, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise FormatError(path, None, f"{where or 'top level'}: missing field {key!r}")
    return obj[key]


def _line_of(text: str, qid: str) -> int:
    """Line of the question id in the file (error messages only; ids are unique strings)."""
    position = text.find(json.dumps(qid))
    return text.count("\n", 0, max(position, 0)) + 1
