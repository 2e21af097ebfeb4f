"""Sparse and ternary linear maps and the group-lasso penalty, as tape ops (arrays in: plain jax).

- `sparse_linear`: a linear map through a soft magnitude mask σ((|W| − t)·τ), differentiable in
  the weight and in the learned thresholds t.
- `group_lasso`: Σ_g ‖g‖₂ over groups of a weight (rows, columns or consecutive chunks), with a
  zero (sub)gradient, not NaN, at groups that are exactly zero.
- `ternary_linear`: BitNet b1.58 weights {−1, 0, +1}·mean|W| in forward, a straight-through
  estimator in backward; `pack_ternary` / `unpack_ternary` store 2 bits per weight.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from axon.autograd.tape import op


def soft_mask(weight, threshold, temperature):
    """σ((|W| − t)·τ) for thresholds t of shape (out,) (one per row) or weight's shape."""
    if threshold.ndim == 1:
        threshold = threshold.reshape(-1, 1)  # (out, 1): one threshold per output row
    return jax.nn.sigmoid((jnp.abs(weight) - threshold) * temperature)


@op
def sparse_linear(input, weight, threshold, bias, mask, temperature):  # noqa: A002
    """y = x (W ⊙ M ⊙ σ((|W| − t)·τ))ᵀ + b, with a fixed 0/1 mask M (hard-pruned weights).

    Shape:
        - input: (*, in_features); weight, mask: (out_features, in_features)
        - threshold: (out_features,) (structured) or (out_features, in_features)
        - bias: (out_features,) or None; output: (*, out_features)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.functional.sparse import sparse_linear
        >>> w = jnp.array([[1.0, 0.001]])
        >>> y = sparse_linear(jnp.ones((1, 2)), w, jnp.array([0.01]), None, jnp.ones((1, 2)), 1e3)
        >>> [round(v, 3) for v in y[0].tolist()]
        [1.0]
    """
    effective = weight * mask.astype(weight.dtype) * soft_mask(weight, threshold, temperature)
    out = jnp.matmul(input, effective.T)
    return out if bias is None else out + bias


def _safe_norm(sumsq):
    """√sumsq with gradient 0 (a subgradient) where sumsq == 0, instead of NaN."""
    positive = sumsq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sumsq, 1.0)), 0.0)


@op(static=("group_size", "dim"))
def group_lasso(weight, group_size=None, dim=0):
    """Σ_g ‖g‖₂: the groups are the slices along `dim` (dim=0: each row (output unit) of a
    Linear weight or each filter of a conv weight; dim=1: each input column), or with
    `group_size`, consecutive chunks of the flattened weight (the last one may be shorter).

    Shape:
        - weight: any (at least 1-D); output: () scalar

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.functional.sparse import group_lasso
        >>> float(group_lasso(jnp.array([[3.0, 4.0], [0.0, 0.0]])))
        5.0
    """
    w = weight.astype(jnp.promote_types(weight.dtype, jnp.float32))
    if group_size is not None:
        flat = w.reshape(-1)
        pad = (-flat.size) % group_size  # zeros leave every norm unchanged
        groups = jnp.pad(flat, (0, pad)).reshape(-1, group_size)  # (G, group_size)
        sumsq = jnp.sum(groups * groups, axis=1)
    else:
        axes = tuple(a for a in range(w.ndim) if a != dim % w.ndim)
        sumsq = jnp.sum(w * w, axis=axes)  # (G,) one per slice along dim
    return jnp.sum(_safe_norm(sumsq)).astype(weight.dtype)


# ------------------------------------------------------------------------------------ ternary
def ternary_quantize(weight, eps=1e-5):
    """BitNet b1.58 absmean quantisation: (T in {−1, 0, +1} as W's dtype, scale = mean|W|),
    with T = clip(round(W / scale), −1, 1) (scale floored at `eps`)."""
    scale = jnp.maximum(jnp.mean(jnp.abs(weight)), eps)
    return jnp.clip(jnp.round(weight / scale), -1, 1), scale


@op
def ternary_linear(input, weight, bias, eps=1e-5):  # noqa: A002
    """y = x (T·scale)ᵀ + b with (T, scale) = `ternary_quantize(W)`; backward treats the
    quantiser as the identity (straight-through): dy/dW = that of x Wᵀ, and dy/dx uses T·scale.

    Shape:
        - input: (*, in_features); weight: (out_features, in_features); bias: (out_features,)
        - output: (*, out_features)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.functional.sparse import ternary_linear
        >>> ternary_linear(jnp.ones((1, 3)), jnp.array([[0.9, -0.1, -2.0]]), None).tolist()
        [[0.0]]
    """
    ternary, scale = ternary_quantize(weight, eps)
    quantized = weight + jax.lax.stop_gradient(ternary * scale - weight)  # STE
    out = jnp.matmul(input, quantized.T)
    return out if bias is None else out + bias


# 2-bit codes, four weights per byte, weight j of a byte in bits 2j..2j+1: 00 = 0, 01 = +1, 10 = −1
def pack_ternary(ternary) -> np.ndarray:
    """Pack values in {−1, 0, +1} into a flat uint8 array of ceil(n / 4) bytes."""
    t = np.asarray(ternary).reshape(-1).astype(np.int8)
    if not np.isin(t, (-1, 0, 1)).all():
        raise ValueError("axon.functional.pack_ternary: values must be -1, 0 or +1.")
    codes = np.where(t == 1, 1, np.where(t == -1, 2, 0)).astype(np.uint8)
    codes = np.pad(codes, (0, (-codes.size) % 4)).reshape(-1, 4)  # (bytes, 4)
    shifts = np.array([0, 2, 4, 6], np.uint8)
    return np.bitwise_or.reduce(codes << shifts, axis=1).astype(np.uint8)


def unpack_ternary(packed, size: int) -> np.ndarray:
    """The first `size` values (int8 in {−1, 0, +1}) of a `pack_ternary` array."""
    packed = np.asarray(packed, np.uint8).reshape(-1, 1)
    codes = (packed >> np.array([0, 2, 4, 6], np.uint8)) & 3  # (bytes, 4)
    values = np.where(codes == 1, 1, np.where(codes == 2, -1, 0)).astype(np.int8)
    return values.reshape(-1)[:size]
