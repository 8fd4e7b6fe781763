"""Packing into fairseq blocks: exact semantics of each break mode, and on real text through the
registered seqio task that no token is lost, duplicated or reordered."""

from __future__ import annotations

import numpy as np
import pytest
import seqio

from xlmr_jax.data.packing import TokenBlockPacker
from xlmr_jax.data.sample_corpus import write_sample_corpus
from xlmr_jax.data.sources import discover, iter_documents
from xlmr_jax.tasks.pretrain import register_cc100, task_name
from xlmr_jax.vocab import BOS_ID, EOS_ID, XLMRVocabulary

B, E = BOS_ID, EOS_ID


def pack(docs, tokens_per_sample, mode):
    packer = TokenBlockPacker(tokens_per_sample, mode, bos_id=B, eos_id=E)
    blocks = [b for doc in docs for b in packer.add_document([np.array(s) for s in doc])]
    return [b.tolist() for b in blocks + list(packer.finish())]


DOCS = [[[10, 11, 12], [13, 14]], [[20], [21, 22, 23, 24, 25, 26, 27]]]


@pytest.mark.parametrize(
    "mode, expected",
    [
        # One stream: 10 11 12 E 13 14 E | E | 20 E 21 ... 27 E, cut every 5 tokens.
        ("none", [[B, 10, 11, 12, E, 13], [B, 14, E, E, 20, E], [B, 21, 22, 23, 24, 25], [B, 26, 27, E]]),
        # Whole sentences while they fit; the separator E is a one-token sentence; a sentence
        # longer than 5 is cut into 5-token pieces.
        ("complete", [[B, 10, 11, 12, E], [B, 13, 14, E, E], [B, 20, E], [B, 21, 22, 23, 24, 25], [B, 26, 27, E]]),
        ("complete_doc", [[B, 10, 11, 12, E], [B, 13, 14, E], [B, 20, E], [B, 21, 22, 23, 24, 25], [B, 26, 27, E]]),
        ("eos", [[B, 10, 11, 12, E], [B, 13, 14, E], [B, 20, E], [B, 21, 22, 23, 24, 25], [B, 26, 27, E]]),
    ],
)  # fmt: skip
def test_break_modes(mode, expected):
    assert pack(DOCS, 6, mode) == expected


def test_complete_doc_never_crosses_documents():
    docs = [[[1]], [[2]], [[3, 4]]]
    assert pack(docs, 8, "complete_doc") == [[B, 1, E], [B, 2, E], [B, 3, 4, E]]
    assert pack(docs, 8, "complete") == [[B, 1, E, E, 2, E, E], [B, 3, 4, E]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="break_mode"):
        TokenBlockPacker(512, "sentences", bos_id=B, eos_id=E)
    with pytest.raises(ValueError, match="tokens_per_sample"):
        TokenBlockPacker(1, "none", bos_id=B, eos_id=E)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("corpus")
    write_sample_corpus(data_dir / "text", out, ["en", "ja", "sw"], xz=True)
    return out


@pytest.mark.parametrize("mode", ["none", "complete", "complete_doc", "eos"])
def test_real_text_blocks_hold_every_token_once(corpus, spm_model, mode):
    vocab = XLMRVocabulary(spm_model)
    name = register_cc100(corpus, vocab, name="packing", break_mode=mode, validation_fraction=0.0)
    for lang in ["en", "ja"]:
        task = seqio.get_mixture_or_task(task_name(name, lang))
        ds = task.get_dataset(None, split="train", shuffle=False, num_epochs=1)
        blocks = [ex["input_ids"] for ex in ds.as_numpy_iterator()]

        # The expected stream, tokenized in Python (not the TensorFlow op the task uses).
        docs = list(iter_documents(discover(corpus)[lang], "train", 0.0))
        stream = []
        for i, doc in enumerate(docs):
            if i and mode in ("none", "complete"):
                stream.append(E)  # the blank line between documents
            for line in doc:
                stream += vocab.encode(line) + [E]
        assert all(b[0] == B and len(b) <= 512 for b in blocks)
        assert np.concatenate([b[1:] for b in blocks]).tolist() == stream
        # Sum of block tokens = document tokens + specials (<s> per block, </s> per sentence,
        # one </s> between documents in none/complete).
        sentences = sum(len(d) for d in docs)
        separators = len(docs) - 1 if mode in ("none", "complete") else 0
        text_tokens = sum(len(vocab.encode(line)) for doc in docs for line in doc)
        total = sum(len(b) for b in blocks)
        assert total == text_tokens + len(blocks) + sentences + separators
        if mode == "none":
            assert [len(b) for b in blocks[:-1]] == [512] * (len(blocks) - 1)
        if mode == "eos":
            assert len(blocks) == sentences  # no sentence here is longer than 511 tokens
        if mode in ("complete", "complete_doc"):
            assert all(b[-1] == E for b in blocks)  # blocks end at sentence ends
            ends = {len(b) for b in blocks}
            assert max(ends) > 400  # and are filled greedily
