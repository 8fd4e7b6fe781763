"""The real peer for parity tests: tiny randomly initialised HF XLM-R / XLM-R XL PyTorch models."""

from __future__ import annotations

import numpy as np
import torch
import transformers

from xlmr_jax.config import ModelConfig
from xlmr_jax.convert import hf

torch.set_num_threads(1)

VOCAB = 1000


def hf_config(pre_layer_norm: bool, *, hidden: int = 64, heads: int = 4, num_labels: int = 3, **kw):
    """An explicit XLM-R (or XL) config at test size: vocab 1000, 2 layers, eps 1e-5."""
    cls = transformers.XLMRobertaXLConfig if pre_layer_norm else transformers.XLMRobertaConfig
    fields = dict(
        vocab_size=VOCAB,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        hidden_act="gelu",
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=num_labels,
    )
    return cls(**{**fields, **kw})


def hf_model(pre_layer_norm: bool, head: str = "mlm", *, seed: int = 0, **config_kw):
    """An eval-mode HF model whose LayerNorm/bias parameters are moved away from 1/0."""
    torch.manual_seed(seed)
    config = hf_config(pre_layer_norm, **config_kw)
    name = hf.architecture(ModelConfig(pre_layer_norm=pre_layer_norm), head)
    model = getattr(transformers, name)(config).eval()
    with torch.no_grad():
        for key, p in model.named_parameters():
            if "LayerNorm" in key or "layer_norm" in key or key.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


def hf_state(model) -> dict[str, np.ndarray]:
    """The model's own state dict as numpy (tied lm_head.decoder copies included)."""
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def padded_batch(lengths: list[int], *, seed: int = 0, vocab: int = VOCAB) -> np.ndarray:
    """Right-padded <s> ... </s> rows of random ids (pad id 1), one per length."""
    rng = np.random.default_rng(seed)
    ids = np.ones((len(lengths), max(lengths)), np.int32)
    for row, n in zip(ids, lengths):
        row[:n] = [0, *rng.integers(4, vocab, n - 2), 2]
    return ids


def hf_outputs(model, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Logits and last hidden state of the HF model on fairseq-style padded ids."""
    with torch.no_grad():
        out = model(
            input_ids=torch.from_numpy(ids).long(),
            attention_mask=torch.from_numpy(ids != 1).long(),
            output_hidden_states=True,
        )
    result = {"last_hidden_state": out.hidden_states[-1].numpy()}
    for key in ("logits", "start_logits", "end_logits"):
        if getattr(out, key, None) is not None:
            result[key] = getattr(out, key).numpy()
    return result
