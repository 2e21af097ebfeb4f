"""Attention: pure jax on arrays, one tape op on Variables.

`scaled_dot_product_attention` is `torch.nn.functional.scaled_dot_product_attention`. The two
kernels below it, `multi_head_attention` and `differential_attention`, hold the whole forward of
`axon.nn.MultiHeadAttention` and `axon.nn.DifferentialAttention` (projections, heads, masks,
softmax, dropout, output projection), so an eager layer call is one compiled kernel.

Two mask conventions meet here, both PyTorch's:

- `scaled_dot_product_attention`: a boolean `attn_mask` is a *keep* mask (True = may attend), as
  in `torch.nn.functional.scaled_dot_product_attention` and `jax.nn.dot_product_attention`.
- the layers (`attn_mask`, `key_padding_mask`): a boolean True means *may not attend*, as in
  `torch.nn.MultiheadAttention` and API.md.

A float mask is added to the scores in both. A query row with every key masked gives zeros, as
PyTorch's scaled_dot_product_attention does (its `_safe_softmax`), never NaN.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from axon import _errors
from axon.autograd.tape import op
from axon.autograd.variable import Variable
from axon.functional.dropout import draw_key

_SDPA = "axon.functional.scaled_dot_product_attention"
# jax.nn.dot_product_attention always takes its softmax in float32: exact for these dtypes only
_FUSED_DTYPES = (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))


# ----------------------------------------------------------------------------- the maths
def _softmax(scores):
    """Softmax over the last axis; a row of all -inf gives zeros (PyTorch's `_safe_softmax`)."""
    top = jnp.max(scores, axis=-1, keepdims=True)
    top = jax.lax.stop_gradient(jnp.where(top == -jnp.inf, 0.0, top))
    e = jnp.exp(scores - top)
    total = jnp.sum(e, axis=-1, keepdims=True)
    return e / jnp.where(total == 0.0, 1.0, total)


def _causal_keep(length: int, source: int):
    return jnp.tril(jnp.ones((length, source), bool))  # top-left aligned, as PyTorch


def _logits(q, k, mask, is_causal, scale):
    """q kᵀ·scale with the mask applied, in float32 or wider: (..., L, S)."""
    acc = jnp.promote_types(q.dtype, jnp.float32)
    s = jnp.matmul(q, jnp.swapaxes(k, -1, -2), preferred_element_type=acc) * scale
    if mask is not None:
        s = jnp.where(mask, s, -jnp.inf) if mask.dtype == jnp.bool_ else s + mask.astype(acc)
    if is_causal:
        s = jnp.where(_causal_keep(*s.shape[-2:]), s, -jnp.inf)
    return s


def _drop(weights, dropout_p, rng):
    if dropout_p == 0.0:
        return weights
    if dropout_p == 1.0:
        return jnp.zeros_like(weights)
    keep = jax.random.bernoulli(rng, 1.0 - dropout_p, weights.shape)
    return jnp.where(keep, weights / (1.0 - dropout_p), jnp.zeros((), weights.dtype))


def _probs(q, k, mask, is_causal, scale, dropout_p, rng):
    return _drop(_softmax(_logits(q, k, mask, is_causal, scale)), dropout_p, rng)


def _fused_backend() -> bool:
    """Off the CPU, `jax.nn.dot_product_attention` may pick a fused kernel (cuDNN on GPU). On the
    CPU it lowers to the same XLA ops as `_probs`, in a five-dimensional layout (ready for
    grouped heads) that XLA compiles more slowly (2-layer encoder step: about 7%) and that runs
    no faster, so the CPU takes the written-out path."""
    return jax.default_backend() != "cpu"


def _fusable(q, k, v, mask, dropout_p) -> bool:
    """Whether `jax.nn.dot_product_attention` computes it exactly, on a backend that gains."""
    return (
        _fused_backend()
        and dropout_p == 0.0
        and (mask is None or mask.dtype == jnp.bool_)
        and q.dtype in _FUSED_DTYPES
        and q.shape[:-2] == k.shape[:-2] == v.shape[:-2]
        and k.shape == v.shape
    )


def _attend_fused(q, k, v, mask, is_causal, scale):
    """`jax.nn.dot_product_attention` on (..., T, D) arrays; fully masked rows set to zero."""
    lead, length, source = q.shape[:-2], q.shape[-2], k.shape[-2]
    heads = lead[-1] if lead else 1
    batch = math.prod(lead[:-1])

    def bthd(x):  # (*lead, T, D) -> (B, T, H, D)
        return jnp.swapaxes(x.reshape(batch, heads, *x.shape[-2:]), 1, 2)

    m = None
    if mask is not None:
        if len(lead) <= 2:
            m = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)  # broadcastable (B, H, L, S)
        else:
            m = jnp.broadcast_to(mask, (*lead, length, source)).reshape(
                batch, heads, length, source
            )
    out = jax.nn.dot_product_attention(
        bthd(q), bthd(k), bthd(v), mask=m, scale=scale, is_causal=is_causal
    )  # (B, L, H, D)
    out = jnp.swapaxes(out, 1, 2).reshape(*lead, length, v.shape[-1])
    if mask is not None:  # jax gives a fully masked row the mean of v; PyTorch gives zeros
        keep = mask & _causal_keep(length, source) if is_causal else mask
        out = jnp.where(jnp.any(keep, axis=-1, keepdims=True), out, jnp.zeros((), out.dtype))
    return out


def _attend(q, k, v, mask, is_causal, scale, dropout_p, rng):
    """softmax(q kᵀ·scale + mask) v, through jax.nn.dot_product_attention where that is exact."""
    if _fusable(q, k, v, mask, dropout_p):
        return _attend_fused(q, k, v, mask, is_causal, scale)
    p = _probs(q, k, mask, is_causal, scale, dropout_p, rng)
    return jnp.matmul(p.astype(v.dtype), v)


# ----------------------------------------------------------------------------- sdpa
def _is_array(x) -> bool:
    return isinstance(x, (Variable, jax.Array)) or hasattr(x, "__array__")


def check_mask_dtype(where, name: str, mask, meaning: str) -> None:
    """A mask is boolean or floating point (TypeError otherwise)."""
    if not _is_array(mask):
        raise _errors.type_error(where, f"{name} must be an array, got {type(mask).__name__}.")
    dtype = jnp.dtype(mask.dtype)
    if dtype != jnp.bool_ and not jnp.issubdtype(dtype, jnp.floating):
        raise _errors.type_error(
            where,
            f"{name} must be a bool mask ({meaning}) or a float mask (added to the scores), got "
            f"dtype {dtype}.",
            "Convert it with mask.astype(bool).",
        )


def _check_sdpa(q, k, v, attn_mask, enable_gqa) -> None:
    for name, x in (("query", q), ("key", k), ("value", v)):
        if not _is_array(x):
            raise _errors.type_error(
                _SDPA, f"expected {name} to be a Variable or array, got {type(x).__name__}."
            )
        if x.ndim < 2:
            raise _errors.value_error(
                _SDPA,
                f"expected {name} of shape (..., T, D) with at least 2 dims, got "
                f"{_errors.shape_str(x.shape)}.",
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise _errors.type_error(_SDPA, f"expected a floating point {name}, got {x.dtype}.")
    if not q.dtype == k.dtype == v.dtype:
        raise _errors.type_error(
            _SDPA,
            f"query, key and value must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}.",
        )
    shapes = f"query {_errors.shape_str(q.shape)}, key {_errors.shape_str(k.shape)}, value " + (
        _errors.shape_str(v.shape)
    )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise _errors.value_error(
            _SDPA,
            f"expected query (..., L, E), key (..., S, E) and value (..., S, Ev), got {shapes}.",
        )
    lead = [q.shape[:-2], k.shape[:-2], v.shape[:-2]]
    if enable_gqa:
        if q.ndim < 3 or k.ndim < 3 or k.shape[-3] != v.shape[-3] or q.shape[-3] % k.shape[-3]:
            raise _errors.value_error(
                _SDPA,
                f"enable_gqa needs (..., H, T, D) inputs whose query heads are a multiple of the "
                f"key/value heads, got {shapes}.",
            )
        lead = [s[:-1] for s in lead]
    try:
        batch = jnp.broadcast_shapes(*lead)
    except ValueError:
        raise _errors.value_error(
            _SDPA, f"the leading (batch, head) dims do not broadcast: {shapes}."
        ) from None
    if attn_mask is not None:
        check_mask_dtype(_SDPA, "attn_mask", attn_mask, "True = may attend")
        heads = tuple(q.shape[-3:-2]) if enable_gqa else ()
        full = (*batch, *heads, q.shape[-2], k.shape[-2])
        try:
            ok = jnp.broadcast_shapes(tuple(attn_mask.shape), full) == full
        except ValueError:
            ok = False
        if not ok:
            raise _errors.value_error(
                _SDPA,
                f"attn_mask of shape {_errors.shape_str(attn_mask.shape)} does not broadcast "
                f"to the scores' shape (..., L, S) = {_errors.shape_str(full)}.",
            )


@op(static=("dropout_p", "is_causal", "scale", "enable_gqa"), name="scaled_dot_product_attention")
def _sdpa(q, k, v, attn_mask, dropout_p, is_causal, scale, key, enable_gqa):
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    if enable_gqa:
        repeats = q.shape[-3] // k.shape[-3]
        k, v = jnp.repeat(k, repeats, axis=-3), jnp.repeat(v, repeats, axis=-3)
    return _attend(q, k, v, attn_mask, is_causal, scale, dropout_p, key)


def scaled_dot_product_attention(
    q,
    k,
    v,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    key=None,
    *,
    enable_gqa: bool = False,
):
    """softmax(q kᵀ·scale + mask) v, as `torch.nn.functional.scaled_dot_product_attention`.

    The softmax runs in float32 or wider. A query row whose keys are all masked gives zeros (as
    PyTorch), and no NaN reaches the gradients. Without dropout and with a boolean or no mask,
    float32 and half-precision inputs go through `jax.nn.dot_product_attention` (which can pick
    fused kernels); everything else through the same formula written out.

    Args:
        q, k, v: query, key and value.
        attn_mask: a boolean mask where **True means "may attend"** (PyTorch's and
            `jax.nn.dot_product_attention`'s convention for this function), or a float mask
            added to the scores (`-inf` blocks); it broadcasts to (..., L, S).
        dropout_p: probability of dropping an attention weight (weights kept are scaled by
            1/(1-p)); applied whenever it is > 0, as in PyTorch: pass 0.0 in eval mode.
        is_causal: query i attends keys 0..i (a top-left aligned lower triangle, also for
            L != S); combined with `attn_mask` when both are given.
        scale: the factor on q kᵀ; 1/√E by default.
        key: a jax PRNG key for dropout; by default one is drawn from the global stream
            (`axon.manual_seed`).
        enable_gqa: grouped-query attention: the key/value heads (dim -3) are repeated to match
            the query heads, which must be a multiple of them.

    Shape:
        - q: (..., L, E); k: (..., S, E); v: (..., S, Ev); leading dims broadcast
        - attn_mask: broadcastable to (..., L, S)
        - output: (..., L, Ev)

    Note:
        The boolean mask here keeps (True = attend), while the attention *layers*
        (`nn.MultiHeadAttention` and the rest) take PyTorch's layer convention, True = blocked.
        Both are PyTorch's own conventions; `~mask` converts one into the other.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> q = k = v = jnp.ones((2, 4, 5, 8))      # (N, heads, T, head_dim)
        >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
        (2, 4, 5, 8)
    """
    _check_sdpa(q, k, v, attn_mask, enable_gqa)
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float)):
        raise _errors.value_error(
            _SDPA, f"dropout_p must be a number in [0, 1], got {dropout_p!r}."
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise _errors.value_error(_SDPA, f"dropout_p must be in [0, 1], got {dropout_p!r}.")
    rng = None
    if dropout_p > 0.0:
        rng = key if key is not None else draw_key(_SDPA, q)
    return _sdpa(
        q, k, v, attn_mask, float(dropout_p), bool(is_causal),
        None if scale is None else float(scale), rng, bool(enable_gqa),
    )  # fmt: skip


# ----------------------------------------------------------------------------- layer kernels
def _project(x, weight, bias):
    y = jnp.matmul(x, weight.T)
    return y if bias is None else y + bias


def _batch_major(x, batched: bool, batch_first: bool):
    """(N, T, E) from (N, T, E), (T, N, E) or unbatched (T, E)."""
    if not batched:
        return x[None]
    return x if batch_first else jnp.swapaxes(x, 0, 1)


def _restore_layout(x, batched: bool, batch_first: bool):
    if not batched:
        return x[0]
    return x if batch_first else jnp.swapaxes(x, 0, 1)


def _split_heads(x, heads: int):
    n, t, e = x.shape
    return x.reshape(n, t, heads, e // heads).transpose(0, 2, 1, 3)  # (N, H, T, D)


def _merge_heads(x):
    n, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, t, h * d)  # (N, T, H·D)


def _layer_mask(attn_mask, key_padding_mask, n, heads, pad, acc, causal=None):
    """The layers' masks (True = blocked, or float) as one (N|1, H|1, L|1, S + pad) mask in
    scaled_dot_product_attention's convention: boolean keep when every part is boolean,
    otherwise additive float. `pad` key columns (bias_k, zero attention) are never masked."""
    parts = []
    if attn_mask is not None:  # (L, S) or (N·H, L, S)
        m = attn_mask if attn_mask.ndim == 2 else attn_mask.reshape(n, heads, *attn_mask.shape[1:])
        parts.append(m.reshape((1,) * (4 - m.ndim) + m.shape))
    if key_padding_mask is not None:  # (N, S)
        parts.append(key_padding_mask[:, None, None, :])
    if causal is not None:
        parts.append(~_causal_keep(*causal)[None, None])
    if not parts:
        return None
    widths = [(0, 0)] * 3 + [(0, pad)]
    if all(p.dtype == jnp.bool_ for p in parts):
        blocked = parts[0]
        for p in parts[1:]:
            blocked = blocked | p
        return jnp.pad(~blocked, widths, constant_values=True)
    total = None
    for p in parts:
        p = jnp.where(p, -jnp.inf, 0.0).astype(acc) if p.dtype == jnp.bool_ else p.astype(acc)
        total = p if total is None else total + p
    return jnp.pad(total, widths)


def _reduce_weights(weights, need: str, batched: bool, dtype):
    if need == "weights":
        weights = jnp.mean(weights, axis=1)  # over heads
    weights = weights.astype(dtype)
    return weights if batched else weights[0]


@op(
    static=("num_heads", "add_zero_attn", "dropout_p", "is_causal", "batch_first", "need"),
    name="multi_head_attention",
)
def multi_head_attention(
    query, key, value, in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight,
    in_proj_bias, bias_k, bias_v, out_proj_weight, out_proj_bias, attn_mask, key_padding_mask,
    rng, num_heads, add_zero_attn, dropout_p, is_causal, batch_first, need,
):  # fmt: skip
    """The forward of `nn.MultiHeadAttention` (PyTorch's `multi_head_attention_forward`).

    Inputs are checked by the layer. `in_proj_weight` (3E, E) or the three separate projection
    weights; masks in the layer convention (True = blocked). `key` and `value` None mean
    self-attention (both are `query`), projected by one product with `in_proj_weight`, as
    PyTorch does. `need` picks the result: "output" (the attention output), "weights" (weights
    averaged over heads) or "head_weights".
    """
    batched = query.ndim == 3
    query = _batch_major(query, batched, batch_first)
    if key_padding_mask is not None and not batched:
        key_padding_mask = key_padding_mask[None]
    n, length, embed = query.shape
    if key is None and in_proj_weight is not None:  # self-attention: one (E, 3E) product
        q, k, v = jnp.split(_project(query, in_proj_weight, in_proj_bias), 3, axis=-1)
    else:
        if key is None:
            key = value = query
        else:
            key, value = (_batch_major(x, batched, batch_first) for x in (key, value))
        if in_proj_weight is not None:
            q_proj_weight, k_proj_weight, v_proj_weight = jnp.split(in_proj_weight, 3)
        bq = bk = bv = None
        if in_proj_bias is not None:
            bq, bk, bv = jnp.split(in_proj_bias, 3)
        q = _project(query, q_proj_weight, bq)  # (N, L, E)
        k = _project(key, k_proj_weight, bk)  # (N, S, E)
        v = _project(value, v_proj_weight, bv)  # (N, S, E)
    source = k.shape[1]
    if bias_k is not None:  # one learned key/value appended to every sequence
        k = jnp.concatenate([k, jnp.broadcast_to(bias_k.reshape(1, 1, embed), (n, 1, embed))], 1)
        v = jnp.concatenate([v, jnp.broadcast_to(bias_v.reshape(1, 1, embed), (n, 1, embed))], 1)
    q, k, v = (_split_heads(x, num_heads) for x in (q, k, v))  # (N, H, T, D)
    if add_zero_attn:  # a zero key/value appended after the projections
        zeros = jnp.zeros((n, num_heads, 1, k.shape[-1]), k.dtype)
        k, v = jnp.concatenate([k, zeros], 2), jnp.concatenate([v, zeros], 2)
    pad = k.shape[2] - source
    causal_inline = is_causal and pad == 0
    acc = jnp.promote_types(q.dtype, jnp.float32)
    mask = _layer_mask(
        attn_mask, key_padding_mask, n, num_heads, pad, acc,
        causal=(length, source) if is_causal and pad else None,
    )  # fmt: skip
    scale = 1.0 / math.sqrt(q.shape[-1])
    if need != "output":
        weights = _probs(q, k, mask, causal_inline, scale, dropout_p, rng)  # (N, H, L, S')
        return _reduce_weights(weights, need, batched, query.dtype)
    out = _attend(q, k, v, mask, causal_inline, scale, dropout_p, rng)  # (N, H, L, D)
    out = _project(_merge_heads(out), out_proj_weight, out_proj_bias)  # (N, L, E)
    return _restore_layout(out, batched, batch_first)


def _rms_norm(x, weight, eps):
    wide = jnp.promote_types(x.dtype, jnp.float32)
    xw = x.astype(wide)
    out = xw * jax.lax.rsqrt(jnp.mean(jnp.square(xw), axis=-1, keepdims=True) + eps)
    return (out * weight.astype(wide)).astype(x.dtype)


def differential_lambda(lambda_q1, lambda_k1, lambda_q2, lambda_k2, lambda_init):
    """λ = exp(λq1·λk1) − exp(λq2·λk2) + λ_init, in float32 or wider."""
    wide = jnp.promote_types(lambda_q1.dtype, jnp.float32)

    def dot(a, b):
        return jnp.sum(a.astype(wide) * b.astype(wide))

    return jnp.exp(dot(lambda_q1, lambda_k1)) - jnp.exp(dot(lambda_q2, lambda_k2)) + lambda_init


@op(
    static=("num_heads", "lambda_init", "eps", "dropout_p", "is_causal", "batch_first", "need"),
    name="differential_attention",
)
def differential_attention(
    query, key, value, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, out_weight,
    out_bias, lambda_q1, lambda_k1, lambda_q2, lambda_k2, norm_weight, attn_mask,
    key_padding_mask, rng, num_heads, lambda_init, eps, dropout_p, is_causal, batch_first, need,
):  # fmt: skip
    """The forward of `nn.DifferentialAttention` (Ye et al., 2024, "Differential Transformer").

    Per head of width d, [Q1 Q2] = X W_q and [K1 K2] = X W_k are split into halves of d/2,
    A_j = softmax(Q_j K_jᵀ / √(d/2) + mask), and the head's output is
    (1 − λ_init) · RMSNorm((A1 − λ A2) V) with the λ of `differential_lambda`; the heads are
    concatenated and projected by W_o. Masks in the layer convention (True = blocked); `need`
    as in `multi_head_attention` (the weights are A1 − λ A2).
    """
    batched = query.ndim == 3
    query, key, value = (_batch_major(x, batched, batch_first) for x in (query, key, value))
    if key_padding_mask is not None and not batched:
        key_padding_mask = key_padding_mask[None]
    n, length, embed = query.shape
    source = key.shape[1]
    half = embed // num_heads // 2
    q = _project(query, q_weight, q_bias).reshape(n, length, num_heads, 2, half)
    k = _project(key, k_weight, k_bias).reshape(n, source, num_heads, 2, half)
    q, k = q.transpose(0, 2, 3, 1, 4), k.transpose(0, 2, 3, 1, 4)  # (N, H, 2, T, d/2)
    v = _split_heads(_project(value, v_weight, v_bias), num_heads)  # (N, H, S, d)
    acc = jnp.promote_types(q.dtype, jnp.float32)
    mask = _layer_mask(attn_mask, key_padding_mask, n, num_heads, 0, acc)
    if mask is not None:
        mask = mask[:, :, None]  # the same mask for both maps: (N, H, 1, L, S)
    maps = _softmax(_logits(q, k, mask, is_causal, half**-0.5))  # (N, H, 2, L, S)
    lam = differential_lambda(lambda_q1, lambda_k1, lambda_q2, lambda_k2, lambda_init)
    weights = maps[:, :, 0] - lam.astype(maps.dtype) * maps[:, :, 1]  # (N, H, L, S)
    weights = _drop(weights, dropout_p, rng)
    if need != "output":
        return _reduce_weights(weights, need, batched, query.dtype)
    out = jnp.matmul(weights.astype(v.dtype), v)  # (N, H, L, d)
    out = _rms_norm(out, norm_weight, eps) * (1.0 - lambda_init)
    out = _project(_merge_heads(out), out_weight, out_bias)  # (N, L, E)
    return _restore_layout(out, batched, batch_first)
