"""`tokenizer.json` for an export: HF's fast XLM-R tokenizer built offline from our SentencePiece
model, so `AutoTokenizer` loads it without converting (and without protobuf) at every load.

The pipeline is the one transformers' `XLMRobertaConverter` builds (the hub's xlm-roberta-base
`tokenizer.json`) plus the compositions it misses (see `_compositions`): the model's precompiled normalizer, Metaspace pre-tokenizer, a Unigram model
over the fairseq ids (`<s> <pad> </s> <unk>`, pieces 3.. shifted by one, `<mask>` last) and the
`<s> A </s></s> B </s>` template, so ids equal `XLMRVocabulary`'s (tests/test_hf_export.py).
"""

from __future__ import annotations

import os
import sys
import unicodedata

from sentencepiece import sentencepiece_model_pb2
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import Unigram
from tokenizers.processors import TemplateProcessing

from xlmr_jax import storage
from xlmr_jax.vocab import BOS_ID, EOS_ID, UNK_ID

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
MASK = "<mask>"
UNIGRAM = 1  # sentencepiece TrainerSpec.ModelType


def _read_proto(spm_path: str | os.PathLike) -> sentencepiece_model_pb2.ModelProto:
    with storage.as_path(spm_path).open("rb") as f:
        proto = sentencepiece_model_pb2.ModelProto.FromString(f.read())
    if proto.trainer_spec.model_type != UNIGRAM:
        raise ValueError(
            f"{spm_path}: tokenizer.json is written for unigram SentencePiece models only "
            "(XLM-R's kind); retrain it with `xlmr spm-train`."
        )
    return proto


def _compositions() -> list:
    """Replace steps for the canonical pairs SentencePiece's charsmap composes but tokenizers'
    `Precompiled` does not: it looks up whole grapheme clusters of under 6 bytes and otherwise
    single characters, so a pair inside a longer cluster (Tamil த+ெ+ா, whose ெ+ா is ொ; Devanagari
    र+़ = ऱ) stays apart. Composing those pairs first gives SentencePiece's pieces.
    """
    steps = []
    for code in range(sys.maxunicode + 1):
        composed = chr(code)
        parts = unicodedata.decomposition(composed).split()
        if len(parts) != 2 or parts[0].startswith("<"):
            continue
        pair = "".join(chr(int(p, 16)) for p in parts)
        if unicodedata.normalize("NFC", pair) != composed:
            continue  # a composition exclusion: NFKC does not compose it either
        if len(pair.encode()) >= 6 or unicodedata.category(pair[0]).startswith("M"):
            steps.append(normalizers.Replace(pair, composed))
    return steps


def fast_tokenizer(spm_path: str | os.PathLike) -> Tokenizer:
    """A `tokenizers.Tokenizer` with XLM-R's fairseq ids over the SentencePiece model."""
    proto = _read_proto(spm_path)
    vocab = [(piece, 0.0) for piece in SPECIALS]
    vocab += [(p.piece, p.score) for p in proto.pieces[3:]]
    vocab.append((MASK, 0.0))
    tokenizer = Tokenizer(Unigram(vocab, unk_id=UNK_ID, byte_fallback=False))
    steps = [
        normalizers.Strip(left=False, right=True),
        normalizers.Replace(Regex(" {2,}"), "\u2581"),
    ]
    charsmap = proto.normalizer_spec.precompiled_charsmap
    if charsmap:
        steps[:0] = [*_compositions(), normalizers.Precompiled(charsmap)]
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="\u2581", prepend_scheme="always"
    )
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.post_processor = TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", BOS_ID), ("</s>", EOS_ID)],
    )
    tokenizer.add_special_tokens(
        [AddedToken(t, normalized=False, special=True) for t in SPECIALS]
        + [AddedToken(MASK, lstrip=True, normalized=False, special=True)]
    )
    return tokenizer


def write_tokenizer_json(spm_path: str | os.PathLike, path: str | os.PathLike) -> None:
    """Write `tokenizer.json` for the SentencePiece model at spm_path."""
    storage.write_text(path, fast_tokenizer(spm_path).to_str(pretty=True))
