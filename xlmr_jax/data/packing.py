"""fairseq's TokenBlockDataset: sentences of a token stream packed into fixed-size blocks.

fairseq (masked_lm task) reads a corpus line by line, appends `</s>` to every line (so a blank
line between documents becomes a lone `</s>`), cuts the stream into blocks of at most
tokens_per_sample - 1 tokens, and prepends `<s>` to each block:

- none: consecutive slices of exactly tokens_per_sample - 1 tokens, crossing sentences and
  documents (only the last block of the stream is shorter).
- complete (default): greedily as many whole sentences as fit; a block never splits a sentence.
- complete_doc: as complete, but a block never crosses a document boundary; the blank-line
  separators are dropped.
- eos: one sentence per block.

Differences from fairseq: a sentence longer than a block is cut into block-sized pieces, each
packed like a sentence (fairseq emits it as one over-long block that the model cannot take);
exactly one separator `</s>` stands between two documents in none/complete (fairseq keeps one
per blank line of the file, including a trailing one); eos mode drops the separators.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

BREAK_MODES = ("none", "complete", "complete_doc", "eos")


class TokenBlockPacker:
    """Feeds documents (lists of sentence token arrays without `</s>`); yields finished blocks.

    Every block is int32 `<s>` + at most tokens_per_sample - 1 tokens; call `finish()` after the
    last document for the final partial block.
    """

    def __init__(
        self,
        tokens_per_sample: int = 512,
        break_mode: str = "complete",
        *,
        bos_id: int,
        eos_id: int,
    ):
        if break_mode not in BREAK_MODES:
            raise ValueError(f"break_mode must be one of {BREAK_MODES}, got {break_mode!r}.")
        if tokens_per_sample < 2:
            raise ValueError(f"tokens_per_sample must be at least 2, got {tokens_per_sample}.")
        self.block_size = tokens_per_sample - 1  # room after <s>
        self.break_mode = break_mode
        self.bos_id, self.eos_id = bos_id, eos_id
        self._items: list[np.ndarray] = []  # the current block's pieces
        self._length = 0
        self._documents = 0

    def add_document(self, sentences: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
        """Blocks completed by this document."""
        eos = np.array([self.eos_id], np.int32)
        items = [np.concatenate([np.asarray(s, np.int32), eos]) for s in sentences]
        if self.break_mode in ("none", "complete") and self._documents:
            items.insert(0, eos)  # the blank line between two documents
        self._documents += 1
        if self.break_mode == "none":
            yield from self._add_stream(items)
            return
        for item in items:
            for start in range(0, len(item), self.block_size):
                yield from self._add_item(item[start : start + self.block_size])
        if self.break_mode == "complete_doc":
            yield from self.finish()

    def finish(self) -> Iterator[np.ndarray]:
        """The last, partial block, if any."""
        if self._length:
            yield self._emit()

    def _add_stream(self, items: list[np.ndarray]) -> Iterator[np.ndarray]:
        self._items.extend(items)
        self._length += sum(len(i) for i in items)
        if self._length < self.block_size:
            return
        stream = np.concatenate(self._items)
        full = len(stream) // self.block_size * self.block_size
        for start in range(0, full, self.block_size):
            yield self._block(stream[start : start + self.block_size])
        self._items, self._length = [stream[full:]], len(stream) - full

    def _add_item(self, item: np.ndarray) -> Iterator[np.ndarray]:
        if self.break_mode == "eos" or self._length + len(item) > self.block_size:
            yield from self.finish()
        self._items.append(item)
        self._length += len(item)

    def _emit(self) -> np.ndarray:
        block = self._block(np.concatenate(self._items))
        self._items, self._length = [], 0
        return block

    def _block(self, tokens: np.ndarray) -> np.ndarray:
        return np.concatenate([np.array([self.bos_id], np.int32), tokens])
