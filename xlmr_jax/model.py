"""The XLM-R encoder in Flax (linen): embeddings, pre-/post-LN layers, MLM and task heads.

Every parameter and activation carries logical axis names (vocab, embed, heads, kv, mlp, layers,
batch, length); sharding.py maps them onto the (data, model) mesh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from xlmr_jax import attention
from xlmr_jax.config import ModelConfig

HEADS = ("mlm", "sequence_classification", "token_classification", "question_answering", "none")


def position_ids_from_input_ids(input_ids: jax.Array, pad_id: int) -> jax.Array:
    """fairseq/HF positions: real tokens count from pad_id + 1, pads get pad_id."""
    not_pad = (input_ids != pad_id).astype(jnp.int32)
    return jnp.cumsum(not_pad, axis=1) * not_pad + pad_id


def _normal(cfg: ModelConfig, axes: tuple[str | None, ...]) -> Callable:
    return nn.with_logical_partitioning(nn.initializers.normal(cfg.init_std), axes)


def _zeros(axes: tuple[str | None, ...]) -> Callable:
    return nn.with_logical_partitioning(nn.initializers.zeros_init(), axes)


class Dense(nn.Module):
    """x @ kernel + bias over the last `len(in_axes)` dims of x; kernel [*in, *out] in float32.

    Flax's DenseGeneral initialises a flattened 2-D kernel, which breaks logical constraints on
    3-D attention kernels under a mesh; this one creates the kernel in its final shape.
    """

    features: tuple[int, ...]
    in_axes: tuple[str | None, ...]
    out_axes: tuple[str | None, ...]
    init_std: float
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        n_in = len(self.in_axes)
        in_shape = x.shape[x.ndim - n_in :]
        kernel = self.param(
            "kernel",
            nn.with_logical_partitioning(
                nn.initializers.normal(self.init_std), self.in_axes + self.out_axes
            ),
            in_shape + self.features,
            jnp.float32,
        )
        bias = self.param("bias", _zeros(self.out_axes), self.features, jnp.float32)
        contract = (tuple(range(x.ndim - n_in, x.ndim)), tuple(range(n_in)))
        y = jax.lax.dot_general(
            x.astype(self.dtype), kernel.astype(self.dtype), (contract, ((), ()))
        )
        return y + bias.astype(self.dtype)


def _dense(cfg: ModelConfig, features, in_axes, out_axes, name: str) -> Dense:
    """A Dense layer with the model's init and compute dtype."""
    features = features if isinstance(features, tuple) else (features,)
    out_axes = out_axes if isinstance(out_axes, tuple) else (out_axes,)
    return Dense(features, in_axes, out_axes, cfg.init_std, jnp.dtype(cfg.dtype), name=name)


def _layer_norm(cfg: ModelConfig, name: str) -> nn.Module:
    """LayerNorm computed in float32 (eps 1e-5, not Flax's 1e-6)."""
    return nn.LayerNorm(
        epsilon=cfg.layer_norm_eps,
        dtype=jnp.float32,
        param_dtype=jnp.float32,
        scale_init=nn.with_logical_partitioning(nn.initializers.ones_init(), ("embed",)),
        bias_init=_zeros(("embed",)),
        name=name,
    )


def _embedding_init(
    cfg: ModelConfig, axes, zero_row: int | None, sinusoidal: bool = False
) -> Callable:
    """N(0, init_std) with the padding row zeroed, as HF/fairseq initialise; `sinusoidal`: the
    sin/cos table (Vaswani et al. 2017) of the row index instead, scaled to std init_std."""

    def init(key, shape, dtype=jnp.float32):
        if sinusoidal:
            rows, dim = shape
            freqs = 10000.0 ** (-jnp.arange(0, dim, 2, dtype=jnp.float32) / dim)
            angles = jnp.arange(rows, dtype=jnp.float32)[:, None] * freqs[None, :]
            table = jnp.zeros(shape, jnp.float32)
            table = table.at[:, 0::2].set(jnp.sin(angles)).at[:, 1::2].set(jnp.cos(angles))
            table = (table * cfg.init_std * 2**0.5).astype(dtype)  # sin/cos std: 2 ** -0.5
        else:
            table = nn.initializers.normal(cfg.init_std)(key, shape, dtype)
        return table if zero_row is None else table.at[zero_row].set(0)

    return nn.with_logical_partitioning(init, axes)


class Embeddings(nn.Module):
    """Word + learned position (+ token type) embeddings; LayerNorm only for post-LN models."""

    config: ModelConfig

    def setup(self):
        cfg = self.config
        self.word_embeddings = nn.Embed(
            cfg.vocab_size,
            cfg.hidden_size,
            dtype=jnp.dtype(cfg.dtype),
            param_dtype=jnp.float32,
            embedding_init=_embedding_init(cfg, ("vocab", "embed"), cfg.pad_id),
        )
        self.position_embeddings = nn.Embed(
            cfg.max_positions,
            cfg.hidden_size,
            dtype=jnp.dtype(cfg.dtype),
            param_dtype=jnp.float32,
            embedding_init=_embedding_init(
                cfg, (None, "embed"), cfg.pad_id, cfg.position_init == "sinusoidal"
            ),
        )
        self.token_type_embeddings = nn.Embed(
            cfg.type_vocab_size,
            cfg.hidden_size,
            dtype=jnp.dtype(cfg.dtype),
            param_dtype=jnp.float32,
            embedding_init=_embedding_init(cfg, (None, "embed"), None),
        )
        if not cfg.pre_layer_norm:
            self.layer_norm = _layer_norm(cfg, "layer_norm")
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def __call__(self, input_ids, token_type_ids, deterministic: bool):
        cfg = self.config
        positions = position_ids_from_input_ids(input_ids, cfg.pad_id)
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings(token_type_ids)
        )
        if not cfg.pre_layer_norm:
            x = self.layer_norm(x)
        x = self.dropout(x, deterministic=deterministic)
        return nn.with_logical_constraint(x.astype(cfg.dtype), ("batch", "length", "embed"))


class SelfAttention(nn.Module):
    """Multi-head self-attention with a key-padding mask; softmax in float32 (`xla`), or a
    fused kernel from attention.py (`ModelConfig.attention_impl`)."""

    config: ModelConfig
    deterministic: bool

    @nn.compact
    def __call__(self, x, attention_mask):
        cfg = self.config
        shape = (cfg.num_heads, cfg.head_dim)
        axes = ("embed",), ("heads", "kv")
        q = _dense(cfg, shape, *axes, name="query")(x)
        k = _dense(cfg, shape, *axes, name="key")(x)
        v = _dense(cfg, shape, *axes, name="value")(x)
        activation_axes = ("batch", "length", "heads", "kv")
        q, k, v = (nn.with_logical_constraint(t, activation_axes) for t in (q, k, v))
        impl = attention.resolve(cfg.attention_impl, cfg.attention_dropout_rate)
        if impl != "xla":
            out = attention.fused_attention(impl, q, k, v, attention_mask)
            out = nn.with_logical_constraint(out, activation_axes)
            return _dense(cfg, cfg.hidden_size, ("heads", "kv"), "embed", name="out")(out)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32)
        scores = scores * (cfg.head_dim**-0.5)
        big_neg = jnp.finfo(jnp.float32).min
        scores = jnp.where(attention_mask[:, None, None, :], scores, big_neg)
        probs = jax.nn.softmax(scores, axis=-1)
        probs = nn.Dropout(cfg.attention_dropout_rate)(probs, deterministic=self.deterministic)
        out = jnp.einsum("bhqk,bkhd->bqhd", probs.astype(cfg.dtype), v)
        out = nn.with_logical_constraint(out, activation_axes)
        return _dense(cfg, cfg.hidden_size, ("heads", "kv"), "embed", name="out")(out)


class FeedForward(nn.Module):
    """fc1 -> exact (erf) GELU -> fc2."""

    config: ModelConfig

    @nn.compact
    def __call__(self, x):
        cfg = self.config
        h = _dense(cfg, cfg.mlp_dim, ("embed",), "mlp", name="fc1")(x)
        h = nn.with_logical_constraint(h, ("batch", "length", "mlp"))
        h = jax.nn.gelu(h, approximate=False)
        return _dense(cfg, cfg.hidden_size, ("mlp",), "embed", name="fc2")(h)


class EncoderLayer(nn.Module):
    """One Transformer layer, post-LN (Base/Large) or pre-LN (XL/XXL)."""

    config: ModelConfig
    deterministic: bool

    @nn.compact
    def __call__(self, x, attention_mask):
        cfg = self.config
        dropout = nn.Dropout(cfg.dropout_rate)
        attention = SelfAttention(cfg, self.deterministic, name="attention")
        feed_forward = FeedForward(cfg, name="mlp")
        attention_ln = _layer_norm(cfg, "attention_layer_norm")
        mlp_ln = _layer_norm(cfg, "mlp_layer_norm")

        def sublayer(x, fn, ln):
            if cfg.pre_layer_norm:
                y = fn(ln(x).astype(cfg.dtype))
                return x + dropout(y, deterministic=self.deterministic)
            y = dropout(fn(x), deterministic=self.deterministic)
            return ln(x + y).astype(cfg.dtype)

        x = sublayer(x, lambda h: attention(h, attention_mask), attention_ln)
        x = sublayer(x, feed_forward, mlp_ln)
        x = nn.with_logical_constraint(x.astype(cfg.dtype), ("batch", "length", "embed"))
        return x, None


def _remat_policy(name: str):
    return {
        "full": None,
        "dots_saveable": jax.checkpoint_policies.dots_saveable,
        "dots_with_no_batch_dims_saveable": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    }[name]


class Encoder(nn.Module):
    """The layer stack (optionally scanned and/or rematerialised) and the pre-LN final LayerNorm."""

    config: ModelConfig

    @nn.compact
    def __call__(self, x, attention_mask, deterministic: bool):
        cfg = self.config
        layer_cls = EncoderLayer
        if cfg.remat_policy != "none":
            layer_cls = nn.remat(
                layer_cls, policy=_remat_policy(cfg.remat_policy), prevent_cse=not cfg.scan_layers
            )
        if cfg.scan_layers:
            stack = nn.scan(
                layer_cls,
                variable_axes={"params": 0},
                split_rngs={"params": True, "dropout": True},
                in_axes=nn.broadcast,
                length=cfg.num_layers,
                metadata_params={nn.PARTITION_NAME: "layers"},
            )
            x, _ = stack(cfg, deterministic, name="layers")(x, attention_mask)
        else:
            for i in range(cfg.num_layers):
                x, _ = layer_cls(cfg, deterministic, name=f"layers_{i}")(x, attention_mask)
        if cfg.pre_layer_norm:
            x = _layer_norm(cfg, "final_layer_norm")(x)
        return x


@jax.custom_vjp
def tied_decoder(h: jax.Array, embedding: jax.Array, bias: jax.Array) -> jax.Array:
    """float32 logits `h @ embedding^T + bias` ([..., H] x [V, H] -> [..., V]).

    The backward pass is written out so that XLA:CPU gets the layouts it runs fast: there,
    the logits' gradient is transposed once to vocabulary-major (the `g @ E` dot over the
    250K vocabulary is ~2x slower than the same dot with both operands vocabulary-major) and
    the bias gradient is a matmul with ones (a leading-axis reduce_sum is ~70x slower);
    docs/benchmarks.md. Other platforms take the plain autodiff formulas.
    """
    return _decode(h, embedding, bias)


def _decode(h, embedding, bias):
    return (h @ embedding.T).astype(jnp.float32) + bias


def _tied_decoder_fwd(h, embedding, bias):
    return _decode(h, embedding, bias), (h, embedding)


def _decoder_grads(g_c, h_rows, embedding, rows):
    """(dh, d_embedding, d_bias) from the logits' gradient: autodiff's formulas."""
    return g_c @ embedding, g_c.T @ h_rows, rows.sum(0)


def _decoder_grads_cpu(g_c, h_rows, embedding, rows):
    """The same gradients in the layouts XLA:CPU runs fast."""
    g_t = jax.lax.optimization_barrier(g_c.T)  # materialised [V, N]
    ones = jnp.ones((rows.shape[0],), rows.dtype)
    bias_grad = jnp.matmul(ones, rows, precision=jax.lax.Precision.HIGHEST)
    return g_t.T @ embedding, g_t @ h_rows, bias_grad


def _tied_decoder_bwd(residuals, g):
    h, embedding = residuals
    rows = g.reshape(-1, g.shape[-1])
    g_c, h_rows = rows.astype(h.dtype), h.reshape(-1, h.shape[-1])
    dh, d_embedding, d_bias = jax.lax.platform_dependent(
        g_c, h_rows, embedding, rows, cpu=_decoder_grads_cpu, default=_decoder_grads
    )
    return dh.reshape(h.shape), d_embedding, d_bias


tied_decoder.defvjp(_tied_decoder_fwd, _tied_decoder_bwd)


class LMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> tied decoder + bias."""

    config: ModelConfig

    @nn.compact
    def __call__(self, x, embedding: jax.Array):
        cfg = self.config
        h = _dense(cfg, cfg.hidden_size, ("embed",), "embed_out", name="dense")(x)
        h = jax.nn.gelu(h, approximate=False)
        h = _layer_norm(cfg, "layer_norm")(h).astype(cfg.dtype)
        bias = self.param("bias", _zeros(("vocab",)), (cfg.vocab_size,), jnp.float32)
        return tied_decoder(h, embedding.astype(cfg.dtype), bias)


class ClassificationHead(nn.Module):
    """Sentence(-pair) head on token 0: dropout -> dense -> tanh -> dropout -> out_proj."""

    config: ModelConfig
    num_labels: int

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        dropout = nn.Dropout(cfg.classifier_dropout_rate)
        h = dropout(x[:, 0], deterministic=deterministic)
        h = jnp.tanh(_dense(cfg, cfg.hidden_size, ("embed",), "embed_out", name="dense")(h))
        h = dropout(h, deterministic=deterministic)
        return _dense(cfg, self.num_labels, ("embed",), None, name="out_proj")(h).astype(
            jnp.float32
        )


class XLMRoberta(nn.Module):
    """Embeddings + encoder + one head.

    head: "mlm" (tied decoder; `masked_positions` [B, M] evaluates the vocabulary only there),
    "sequence_classification" (num_labels=1 is regression), "token_classification",
    "question_answering" (start/end logits) or "none" (features only). All heads share the
    `embeddings`/`encoder` parameter names, so a pretrained tree initialises any of them.
    """

    config: ModelConfig
    head: str = "mlm"
    num_labels: int = 0

    def setup(self):
        cfg = self.config
        if self.head not in HEADS:
            raise ValueError(f"XLMRoberta: unknown head {self.head!r}; choose one of {HEADS}.")
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)
        if self.head == "mlm":
            self.lm_head = LMHead(cfg)
        elif self.head == "sequence_classification":
            self.classifier = ClassificationHead(cfg, self.num_labels)
        elif self.head == "token_classification":
            self.token_dropout = nn.Dropout(cfg.classifier_dropout_rate)
            self.classifier = _dense(cfg, self.num_labels, ("embed",), None, name="classifier")
        elif self.head == "question_answering":
            self.qa_outputs = _dense(cfg, 2, ("embed",), None, name="qa_outputs")

    def __call__(
        self,
        input_ids: jax.Array,
        token_type_ids: jax.Array | None = None,
        attention_mask: jax.Array | None = None,
        *,
        masked_positions: jax.Array | None = None,
        deterministic: bool = True,
    ) -> dict[str, Any]:
        cfg = self.config
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be [batch, length], got shape {input_ids.shape}.")
        if input_ids.shape[1] > cfg.max_tokens:
            raise ValueError(
                f"Sequence length {input_ids.shape[1]} exceeds the model's {cfg.max_tokens} tokens "
                f"(max_positions={cfg.max_positions}); truncate or window the input."
            )
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = input_ids != cfg.pad_id
        x = self.embeddings(input_ids, token_type_ids, deterministic)
        x = self.encoder(x, attention_mask.astype(bool), deterministic)
        out: dict[str, Any] = {"last_hidden_state": x}
        if self.head == "mlm":
            if masked_positions is not None:
                x = jnp.take_along_axis(x, masked_positions[..., None], axis=1)
            out["logits"] = self.lm_head(x, self.embeddings.word_embeddings.embedding)
        elif self.head == "sequence_classification":
            out["logits"] = self.classifier(x, deterministic)
        elif self.head == "token_classification":
            h = self.token_dropout(x, deterministic=deterministic)
            out["logits"] = self.classifier(h).astype(jnp.float32)
        elif self.head == "question_answering":
            logits = self.qa_outputs(x).astype(jnp.float32)
            out["start_logits"], out["end_logits"] = logits[..., 0], logits[..., 1]
        return out


def init_params(model: XLMRoberta, rng: jax.Array, seq_len: int = 8) -> dict:
    """Initialised parameter tree (boxed with logical axis metadata)."""
    ids = jnp.full((1, seq_len), 5, jnp.int32)
    return model.init(rng, ids)["params"]


def stack_layers(params: dict, num_layers: int) -> dict:
    """Per-layer tree (`layers_i`) -> scanned tree (`layers` with a leading axis)."""
    encoder = dict(params["encoder"])
    layers = [encoder.pop(f"layers_{i}") for i in range(num_layers)]
    encoder["layers"] = jax.tree.map(lambda *xs: jnp.stack(xs), *layers)
    return {**params, "encoder": encoder}


def unstack_layers(params: dict, num_layers: int) -> dict:
    """Scanned tree -> per-layer tree (the layout the converters use)."""
    encoder = dict(params["encoder"])
    stacked = encoder.pop("layers")
    for i in range(num_layers):
        encoder[f"layers_{i}"] = jax.tree.map(lambda x, i=i: x[i], stacked)
    return {**params, "encoder": encoder}
