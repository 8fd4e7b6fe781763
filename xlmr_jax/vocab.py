"""XLM-R vocabulary: fairseq/HF token ids over a SentencePiece model, and SentencePiece training.

fairseq builds its dictionary from the SentencePiece vocabulary after four specials, so
`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, SentencePiece piece i (i >= 3) -> i + 1, SentencePiece
`<unk>` (0) -> 3 and `<mask>` = len(spm) + 1 is the last id. HF's XLMRobertaTokenizer copies this.
The SentencePiece model must therefore hold `<unk>`=0, `<s>`=1, `</s>`=2 (`train_sentencepiece`
makes such models; the released `sentencepiece.bpe.model` is one).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence

import numpy as np
import sentencepiece as spm
import seqio
import tensorflow as tf
from google.protobuf.message import DecodeError
from sentencepiece import sentencepiece_model_pb2

from xlmr_jax import storage
from xlmr_jax.config import PAD_ID

BOS_ID = 0
EOS_ID = 2
UNK_ID = 3
WORD_START = "\u2581"  # SentencePiece's "▁": a piece beginning with it starts a word.
_SPECIAL_PIECES = {BOS_ID: "<s>", PAD_ID: "<pad>", EOS_ID: "</s>", UNK_ID: "<unk>"}
# Python's str.isspace() set as an RE2 class, so decode_tf strips exactly what str.strip() does.
_SPACE = r"[\x{09}-\x{0d}\x{1c}-\x{20}\x{85}\p{Z}]"
_LOAD_LOCK = threading.Lock()  # SentencePiece loading is not thread-safe (see seqio).


@dataclasses.dataclass(frozen=True)
class _Model:
    processor: spm.SentencePieceProcessor
    proto: bytes
    model_type: str


def _load_model(path: str) -> _Model:
    """Reads and checks a SentencePiece model (a local path or a gs:// URL)."""
    file = storage.as_path(path, "SentencePiece model path")
    if not file.is_file():
        raise FileNotFoundError(
            f"SentencePiece model not found: {storage.where(path)}. Pass the released sentencepiece.bpe.model "
            "or train one with `xlmr spm-train` (xlmr_jax.vocab.train_sentencepiece)."
        )
    proto = file.read_bytes()
    try:
        model_type = sentencepiece_model_pb2.ModelProto.FromString(proto).trainer_spec.model_type
        with _LOAD_LOCK:
            processor = spm.SentencePieceProcessor(model_proto=proto)
    except (DecodeError, RuntimeError) as e:
        raise ValueError(
            f"{path} is not a valid SentencePiece model ({e}); re-download or retrain it."
        ) from e
    if not len(processor):
        raise ValueError(
            f"{path} is not a valid SentencePiece model (no pieces); re-download or retrain it."
        )
    layout = (processor.unk_id(), processor.bos_id(), processor.eos_id())
    if layout != (0, 1, 2):
        raise ValueError(
            f"{path}: XLM-R ids need SentencePiece <unk>=0, <s>=1, </s>=2, got "
            f"<unk>={layout[0]}, <s>={layout[1]}, </s>={layout[2]}; retrain it with "
            "xlmr_jax.vocab.train_sentencepiece."
        )
    name = sentencepiece_model_pb2.TrainerSpec.ModelType.Name(model_type).lower()
    return _Model(processor, proto, name)


class XLMRVocabulary(seqio.Vocabulary):
    """fairseq/HF ids over a SentencePiece model, usable as a seqio output feature's vocabulary.

    The file is read on first use, so tasks can be registered before it exists; two instances
    are equal when their model_file paths are (seqio mixtures need equal vocabularies). Text is
    never parsed for special tokens: "<mask>" in text is plain text (HF split_special_tokens=True).
    """

    def __init__(self, model_file: str | os.PathLike):
        super().__init__(extra_ids=0)
        self._model_file = os.fspath(model_file)

    # Loaded state, dropped on pickling (gin deep-copies configurable arguments).
    @functools.cached_property
    def _model(self) -> _Model:
        return _load_model(self._model_file)

    @functools.cached_property
    def _pieces(self) -> list[str]:
        """Piece text of every id, "" for the specials (which decode drops)."""
        sp = self._model.processor
        return ["", "", "", ""] + [sp.id_to_piece(i) for i in range(3, len(sp))] + [""]

    @functools.cached_property
    def word_starts(self) -> np.ndarray:
        """bool[vocab_size]: id begins a word (whole-word masking).

        Pieces beginning with ▁ and all specials: fairseq's get_whole_word_mask counts
        `<s> <pad> </s> <unk>` as word starts, so `</s>` or an unknown character never joins the
        previous word; `<mask>` too (it is never in the text being masked).
        """
        starts = np.array([p.startswith(WORD_START) for p in self._pieces])
        starts[list(self.special_ids)] = True
        return starts

    @functools.cached_property
    def _tf_pieces(self) -> tf.Tensor:
        # Built eagerly even when first used inside a tf.function or tf.data map, so the cached
        # constant stays valid for every later graph and for eager calls.
        with tf.init_scope():
            return tf.constant(self._pieces)

    def __getstate__(self) -> dict:
        return {"_model_file": self._model_file, "_extra_ids": self._extra_ids}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, XLMRVocabulary) and self._model_file == other._model_file

    def __hash__(self) -> int:
        return hash(self._model_file)

    def __str__(self) -> str:
        return f"XLMRVocabulary(model_file={self._model_file!r})"

    def load(self) -> XLMRVocabulary:
        """Read and check the model now (a bad file then fails here, not inside tf.data)."""
        self._model  # noqa: B018 (the cached property reads the file)
        return self

    @property
    def model_file(self) -> str:
        return self._model_file

    @property
    def model_type(self) -> str:
        """trainer_spec.model_type: "unigram" for the released XLM-R model despite its file name."""
        return self._model.model_type

    @property
    def bos_id(self) -> int:
        return BOS_ID

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def eos_id(self) -> int:
        return EOS_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    @property
    def mask_id(self) -> int:
        """len(spm) + 1 (250001 for XLM-R): the last id, never the embedding table's last row."""
        return len(self._model.processor) + 1

    @property
    def special_ids(self) -> tuple[int, ...]:
        return (BOS_ID, PAD_ID, EOS_ID, UNK_ID, self.mask_id)

    @property
    def _base_vocab_size(self) -> int:
        return len(self._model.processor) + 2

    @property
    def random_token_range(self) -> tuple[int, int]:
        """[low, high) of the real pieces (no specials, no `<mask>`), for 80/10/10 random tokens."""
        return UNK_ID + 1, self.mask_id

    def id_to_piece(self, token_id: int) -> str:
        if not 0 <= token_id < self.vocab_size:
            raise ValueError(f"token id {token_id} is outside [0, {self.vocab_size}).")
        if token_id == self.mask_id:
            return "<mask>"
        return _SPECIAL_PIECES.get(token_id) or self._pieces[token_id]

    def is_word_start(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """bool array shaped like `ids`; see `word_starts`."""
        return self.word_starts[np.asarray(ids)]

    def _encode(self, s: str | bytes) -> list[int]:
        return _to_fairseq(self._model.processor.encode(s))

    def encode_batch(self, texts: Sequence[str | bytes]) -> list[list[int]]:
        """`encode` of every text, in SentencePiece's threads (faster for many texts)."""
        return [_to_fairseq(ids) for ids in self._model.processor.encode(list(texts))]

    def encode_single(self, text: str, max_length: int | None = None) -> list[int]:
        """`<s> A </s>`, A cut to fit max_length (HF tokenizer(text, truncation=True))."""
        ids = self.encode(text)
        if max_length is not None:
            ids = ids[: _budget(max_length, 2)]
        return [BOS_ID, *ids, EOS_ID]

    def encode_pair(self, a: str, b: str, max_length: int | None = None) -> list[int]:
        """`<s> A </s></s> B </s>`, truncated "longest_first" to max_length as HF does."""
        ids_a, ids_b = self.encode(a), self.encode(b)
        if max_length is not None:
            ids_a, ids_b = _truncate_longest_first(ids_a, ids_b, _budget(max_length, 4))
        return [BOS_ID, *ids_a, EOS_ID, EOS_ID, *ids_b, EOS_ID]

    def _decode(self, ids: Iterable[int]) -> str:
        pieces, size = self._pieces, self.vocab_size
        text = "".join(pieces[i] if 0 <= i < size else "" for i in map(int, ids))
        return text.replace(WORD_START, " ").strip()

    def decode(self, ids: Iterable[int]) -> str:
        """Text without specials or `<unk>`, as HF decode(ids, skip_special_tokens=True).

        Unlike seqio it does not stop at the first `</s>` (a pair has three); out-of-range ids
        (padded embedding rows) decode like `<unk>`, as in seqio.
        """
        if isinstance(ids, tf.Tensor):
            ids = ids.numpy()
        return self._decode(ids)

    def _encode_tf(self, s: tf.Tensor) -> tf.Tensor | tf.RaggedTensor:
        """`encode` in TensorFlow: a string scalar -> int32 [n]; a vector -> ragged [batch, None].

        Runs this Python SentencePiece processor through tf.numpy_function, so the ids equal
        `encode` (and HF) exactly: tf_text's SentencepieceTokenizer breaks equal-score unigram
        ties differently and its FastSentencepieceTokenizer cannot do BPE. Vectors of strings
        tokenize in parallel threads: prefer them where throughput matters.
        """
        s = tf.convert_to_tensor(s, tf.string)
        if s.shape.rank == 0:
            ids = tf.numpy_function(self._encode_bytes, [s], tf.int32, stateful=False)
            ids.set_shape([None])
            return ids
        if s.shape.rank == 1:
            values, lengths = tf.numpy_function(
                self._encode_batch, [s], [tf.int32, tf.int64], stateful=False
            )
            values.set_shape([None])
            lengths.set_shape(s.shape)
            return tf.RaggedTensor.from_row_lengths(values, lengths)
        raise ValueError(f"encode_tf takes a string scalar or vector, got shape {s.shape}.")

    def _encode_bytes(self, text: bytes) -> np.ndarray:
        return np.array(self._encode(text), np.int32)

    def _encode_batch(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = self.encode_batch(texts.tolist())
        lengths = np.array([len(x) for x in ids], np.int64)
        return np.fromiter(itertools.chain.from_iterable(ids), np.int32, lengths.sum()), lengths

    def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
        ids = tf.where((ids >= 0) & (ids < self.vocab_size), ids, UNK_ID)
        text = tf.strings.reduce_join(tf.gather(self._tf_pieces, ids), axis=-1)
        text = tf.strings.regex_replace(text, WORD_START, " ")
        return tf.strings.regex_replace(text, f"^{_SPACE}+|{_SPACE}+$", "")

    def decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
        """`decode` in TensorFlow, over the last axis of a dense int tensor."""
        return self._decode_tf(tf.convert_to_tensor(ids))


def _to_fairseq(spm_ids: list[int]) -> list[int]:
    """SentencePiece id i -> i + 1; its `<unk>` (0) -> 3."""
    return [i + 1 if i else UNK_ID for i in spm_ids]


def _budget(max_length: int, num_specials: int) -> int:
    if max_length < num_specials:
        raise ValueError(f"max_length={max_length} leaves no room for {num_specials} special ids.")
    return max_length - num_specials


def _truncate_longest_first(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Drops tokens one at a time from the longer list, from b on ties (HF "longest_first")."""
    excess = len(a) + len(b) - budget
    if excess <= 0:
        return a, b
    first = min(abs(len(a) - len(b)), excess)  # evens the lengths, then alternates
    rest = excess - first
    cut_a = rest // 2 + (first if len(a) > len(b) else 0)
    cut_b = excess - cut_a
    return a[: len(a) - cut_a], b[: len(b) - cut_b]


def train_sentencepiece(
    sentences: Iterable[str],
    model_prefix: str | os.PathLike,
    vocab_size: int,
    *,
    model_type: str = "unigram",
    character_coverage: float = 0.9995,
    input_sentence_size: int = 0,
    num_threads: int | None = None,
    seed: int = 0,
) -> str:
    """Trains an XLM-R-compatible SentencePiece model; returns the path of `<prefix>.model`.

    vocab_size counts SentencePiece's `<unk> <s> </s>`; XLMRVocabulary then has vocab_size + 2
    ids (250000 -> 250002). XLM-R's settings: nmt_nfkc normalization, no byte fallback (unknown
    characters become `<unk>`), `<unk>`=0 `<s>`=1 `</s>`=2 and no pad, so piece i is fairseq id
    i + 1. input_sentence_size > 0 trains on a random sample of that many sentences (0: all).
    The same sentences and seed give the same model.
    """
    if model_type not in ("unigram", "bpe"):
        raise ValueError(f"model_type must be 'unigram' or 'bpe', got {model_type!r}.")
    it = (s for s in sentences if s.strip())
    first = next(it, None)
    if first is None:
        raise ValueError("train_sentencepiece: no non-blank sentences to train on.")
    prefix = os.fspath(model_prefix)
    spm.set_random_generator_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:  # the trainer writes local files only
        # (then copied to `prefix`, which may be a gs:// URL)
        local = os.path.join(tmp, "spm")
        options = dict(
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            input_sentence_size=input_sentence_size,
            num_threads=num_threads or os.cpu_count() or 1,
        )
        _train(itertools.chain([first], it), local, prefix, options)
        model = sentencepiece_model_pb2.ModelProto.FromString(open(f"{local}.model", "rb").read())
        model.trainer_spec.model_prefix = prefix  # what training in place would have recorded
        storage.write_bytes(f"{prefix}.model", model.SerializeToString())
        storage.copy_file(f"{local}.vocab", f"{prefix}.vocab")
    return f"{prefix}.model"


def _train(sentences, local_prefix: str, prefix: str, options: dict) -> None:
    """SentencePiece training with XLM-R's fixed settings (train_sentencepiece's docstring)."""
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences,
            model_prefix=local_prefix,
            **options,
            shuffle_input_sentence=True,
            normalization_rule_name="nmt_nfkc",
            byte_fallback=False,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            minloglevel=1,
        )
    except RuntimeError as e:
        raise ValueError(f"SentencePiece training of {prefix}.model failed: {e}") from e
