"""Attention layers: `MultiHeadAttention`, `CrossAttention`, `DifferentialAttention`.

Each layer checks its inputs here, in Python, then runs one fused kernel from
`axon.functional.attention`. Masks follow PyTorch's layer convention: a boolean True means "may
not attend", a float mask is added to the scores.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from axon import _errors
from axon.autograd.variable import Variable
from axon.functional import attention as _F
from axon.functional.dropout import draw_key
from axon.nn import init
from axon.nn.linear import Linear
from axon.nn.module import Module
from axon.nn.norm import RMSNorm
from axon.nn.parameter import Parameter

_BLOCKED = "True = may not attend"


def _check_positive(where, name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _errors.value_error(where, f"{name} must be a positive int, got {value!r}.")


def _check_dropout(where, p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise _errors.value_error(where, f"dropout must be a number in [0, 1], got {p!r}.")
    return float(p)


def _check_heads(where, embed_dim: int, num_heads: int) -> None:
    _check_positive(where, "embed_dim", embed_dim)
    _check_positive(where, "num_heads", num_heads)
    if embed_dim % num_heads:
        raise _errors.value_error(
            where,
            f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads}).",
            "Pick a num_heads that divides embed_dim.",
        )


def _check_inputs(
    where, query, key, value, attn_mask, key_padding_mask, *, dims, num_heads, batch_first
) -> None:
    """Shapes and dtypes of an attention call; `dims` = (embed_dim, kdim, vdim)."""
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, (Variable, jax.Array)) and not hasattr(x, "__array__"):
            raise _errors.type_error(
                where, f"expected {name} to be a Variable or array, got {type(x).__name__}."
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise _errors.type_error(where, f"expected a floating point {name}, got {x.dtype}.")
    batched = query.ndim == 3
    seq = "(N, L, E)" if batch_first else "(L, N, E)"
    if query.ndim not in (2, 3):
        raise _errors.value_error(
            where,
            f"expected query of shape {seq} (batch_first={batch_first}) or (L, E) unbatched, "
            f"got {_errors.shape_str(query.shape)}.",
        )
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise _errors.value_error(
            where,
            f"key and value must be {query.ndim}-D like query {_errors.shape_str(query.shape)}, "
            f"got key {_errors.shape_str(key.shape)} and value {_errors.shape_str(value.shape)}.",
        )
    for name, x, dim, arg in zip(
        ("query", "key", "value"),
        (query, key, value),
        dims,
        ("embed_dim", "kdim", "vdim"),
        strict=True,
    ):
        if x.shape[-1] != dim:
            raise _errors.value_error(
                where,
                f"expected {name} with last dimension {arg}={dim}, got "
                f"{_errors.shape_str(x.shape)}.",
            )
    b, s = (0, 1) if batch_first else (1, 0)
    if batched and not query.shape[b] == key.shape[b] == value.shape[b]:
        raise _errors.value_error(
            where,
            f"query, key and value must share the batch size (dim {b} with "
            f"batch_first={batch_first}), got {_errors.shape_str(query.shape)}, "
            f"{_errors.shape_str(key.shape)} and {_errors.shape_str(value.shape)}.",
        )
    s = s if batched else 0
    if key.shape[s] != value.shape[s]:
        raise _errors.value_error(
            where,
            f"key and value must have the same sequence length, got key "
            f"{_errors.shape_str(key.shape)} and value {_errors.shape_str(value.shape)}.",
        )
    n = query.shape[b] if batched else None
    length, source = query.shape[s], key.shape[s]
    if attn_mask is not None:
        _F.check_mask_dtype(where, "attn_mask", attn_mask, _BLOCKED)
        shapes = [(length, source), ((n * num_heads) if batched else num_heads, length, source)]
        if tuple(attn_mask.shape) not in shapes:
            third = "(N·num_heads, L, S)" if batched else "(num_heads, L, S)"
            raise _errors.value_error(
                where,
                f"expected attn_mask of shape (L, S) = {_errors.shape_str(shapes[0])} or "
                f"{third} = {_errors.shape_str(shapes[1])}, got "
                f"{_errors.shape_str(attn_mask.shape)}.",
            )
    if key_padding_mask is not None:
        _F.check_mask_dtype(where, "key_padding_mask", key_padding_mask, _BLOCKED)
        shape = (n, source) if batched else (source,)
        if tuple(key_padding_mask.shape) != shape:
            form = "(N, S)" if batched else "(S,)"
            raise _errors.value_error(
                where,
                f"expected key_padding_mask of shape {form} = {_errors.shape_str(shape)}, got "
                f"{_errors.shape_str(key_padding_mask.shape)}.",
            )


class MultiHeadAttention(Module):
    """Multi-head attention, as `torch.nn.MultiheadAttention` (with `batch_first=True`).

    out = concat(head_1, …, head_h) W_oᵀ + b_o, head_i = softmax(Q_i K_iᵀ/√d + mask) V_i, with
    Q = query W_qᵀ + b_q, K = key W_kᵀ + b_k, V = value W_vᵀ + b_v and d = embed_dim / num_heads.

    Args:
        embed_dim: the model width E (the query's last dim and the output's).
        num_heads: the number of heads; must divide `embed_dim`.
        dropout: probability of dropping an attention weight in training mode.
        bias: learn `in_proj_bias` and `out_proj.bias`.
        add_bias_kv: (keyword-only) learn `bias_k`, `bias_v`: one extra key and value appended
            to every sequence.
        add_zero_attn: (keyword-only) append a zero key and value after the projections.
        kdim, vdim: (keyword-only) the key's and value's widths (`embed_dim` by default); when
            either differs, the projections are held as three separate weights.
        batch_first: (keyword-only) inputs are (N, T, E) when True (the default), (T, N, E)
            otherwise.
        dtype: (keyword-only) the parameters' dtype (float32).

    Shape:
        - query: (N, L, E), or (L, E) unbatched; key: (N, S, kdim); value: (N, S, vdim)
          ((L, N, E) and so on with batch_first=False)
        - attn_mask: (L, S) or (N·num_heads, L, S) ((num_heads, L, S) unbatched)
        - key_padding_mask: (N, S) ((S,) unbatched)
        - output: like query; weights: (N, L, S) averaged, (N, num_heads, L, S) per head

    Attributes:
        in_proj_weight: (3E, E), Xavier-uniform; or q_proj_weight (E, E), k_proj_weight
            (E, kdim), v_proj_weight (E, vdim) when kdim or vdim differs from E.
        in_proj_bias: (3E,), zeros.
        out_proj: Linear(E, E): weight U(-1/√E, 1/√E), bias zeros.
        bias_k, bias_v: (1, 1, E), Xavier-normal (with add_bias_kv).

    Note:
        Differences from PyTorch: `batch_first` defaults to True; the constructor arguments
        after `bias` are keyword-only (PyTorch's and API.md's positional orders differ);
        `forward(x)` is self-attention returning the output only, and `attention(...)` is the
        full call (API.md's argument order, `need_weights=False` by default); `is_causal=True`
        without `attn_mask` builds the causal mask (PyTorch raises), and with one it is
        combined with it (PyTorch's hint assumes the mask is already causal); a query row
        with every key masked gives zeros (PyTorch gives zeros with need_weights=False and
        NaN with need_weights=True).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> mha = nn.MultiHeadAttention(16, 4)
        >>> x = axon.Tensor.randn([2, 5, 16])
        >>> mha(x).shape
        (2, 5, 16)
        >>> out, weights = mha.attention(x, x, x, need_weights=True)
        >>> weights.shape
        (2, 5, 5)
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        *,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = True,
        dtype=jnp.float32,
    ):
        super().__init__()
        _check_heads(self, embed_dim, num_heads)
        kdim = embed_dim if kdim is None else kdim
        vdim = embed_dim if vdim is None else vdim
        _check_positive(self, "kdim", kdim)
        _check_positive(self, "vdim", vdim)
        self.embed_dim, self.kdim, self.vdim = embed_dim, kdim, vdim
        self._qkv_same_embed_dim = kdim == embed_dim and vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = _check_dropout(self, dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = bool(add_zero_attn)
        # PyTorch's registration order, so named_parameters() lists the same keys in order
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(jnp.empty((3 * embed_dim, embed_dim), dtype))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = Parameter(jnp.empty((embed_dim, embed_dim), dtype))
            self.k_proj_weight = Parameter(jnp.empty((embed_dim, kdim), dtype))
            self.v_proj_weight = Parameter(jnp.empty((embed_dim, vdim), dtype))
            self.in_proj_weight = None
        self.in_proj_bias = Parameter(jnp.empty((3 * embed_dim,), dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(jnp.empty((1, 1, embed_dim), dtype))
            self.bias_v = Parameter(jnp.empty((1, 1, embed_dim), dtype))
        else:
            self.bias_k = self.bias_v = None
        self._reset_projections()

    def _reset_projections(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def reset_parameters(self) -> None:
        self.out_proj.reset_parameters()
        self._reset_projections()

    # the seed's constructors
    @classmethod
    def new(cls, embed_dim: int, num_heads: int):
        return cls(embed_dim, num_heads)

    @classmethod
    def with_options(cls, embed_dim: int, num_heads: int, dropout: float, batch_first: bool):
        return cls(embed_dim, num_heads, dropout, batch_first=batch_first)

    def forward(self, x, *args, attn_mask=None, key_padding_mask=None, is_causal: bool = False):
        """Self-attention of `x`; returns the output only."""
        if args:
            raise _errors.type_error(
                self,
                f"forward(x) is self-attention and takes one input, got {1 + len(args)}.",
                "For PyTorch's mha(query, key, value), call "
                "mha.attention(query, key, value, need_weights=True), which returns "
                "(output, weights).",
            )
        return self.attention(
            x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
            is_causal=is_causal,
        )[0]  # fmt: skip

    def attention(
        self,
        query,
        key,
        value,
        attn_mask=None,
        key_padding_mask=None,
        need_weights: bool = False,
        is_causal: bool = False,
        average_attn_weights: bool = True,
    ):
        """The full call: returns `(output, weights)`, weights None unless `need_weights`.

        Args:
            query, key, value: see Shape in the class docstring.
            attn_mask: bool (True = may not attend) or float (added to the scores).
            key_padding_mask: bool (True = padding, ignored) or float (added).
            need_weights: also return the attention weights (after dropout, as PyTorch).
            is_causal: query i attends keys 0..i only (combined with `attn_mask` if given).
            average_attn_weights: average the weights over heads; per head when False.
        """
        _check_inputs(
            self, query, key, value, attn_mask, key_padding_mask,
            dims=(self.embed_dim, self.kdim, self.vdim), num_heads=self.num_heads,
            batch_first=self.batch_first,
        )  # fmt: skip
        p = self.dropout if self.training else 0.0
        rng = draw_key(_errors.describe(self), query) if p > 0.0 else None
        if query is key and key is value:  # self-attention: projected by one product
            key = value = None
        args = (
            query, key, value, self.in_proj_weight, self.q_proj_weight, self.k_proj_weight,
            self.v_proj_weight, self.in_proj_bias, self.bias_k, self.bias_v,
            self.out_proj.weight, self.out_proj.bias, attn_mask, key_padding_mask, rng,
            self.num_heads, self.add_zero_attn, p, bool(is_causal), self.batch_first,
        )  # fmt: skip
        with jax.named_scope(f"axon.nn.{type(self).__name__}"):
            out = _F.multi_head_attention(*args, "output")
            if not need_weights:
                return out, None
            need = "weights" if average_attn_weights else "head_weights"
            return out, _F.multi_head_attention(*args, need)

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if not self._qkv_same_embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        if self.bias_k is not None:
            s += ", add_bias_kv=True"
        if self.add_zero_attn:
            s += ", add_zero_attn=True"
        return s + f", batch_first={self.batch_first}"


class CrossAttention(MultiHeadAttention):
    """Queries attend to a separate `context` (an encoder's memory): a `MultiHeadAttention`
    whose `forward(query, context)` returns the output only.

    Same constructor, parameters and state-dict keys as `MultiHeadAttention`, so a
    `torch.nn.MultiheadAttention` state dict loads into it; pass `kdim=vdim=context_dim` when
    the context is narrower or wider than `embed_dim`.

    Shape:
        - query: (N, L, E), or (L, E) unbatched; context: (N, S, kdim)
        - attn_mask: (L, S) or (N·num_heads, L, S); key_padding_mask: (N, S), True = padding
        - output: (N, L, E)

    Example:
        >>> import axon
        >>> from axon import nn
        >>> cross = nn.CrossAttention(16, 4, kdim=8, vdim=8)
        >>> cross(axon.Tensor.randn([2, 5, 16]), axon.Tensor.randn([2, 7, 8])).shape
        (2, 5, 16)
    """

    def forward(self, query, context, attn_mask=None, key_padding_mask=None):
        return self.attention(query, context, context, attn_mask, key_padding_mask)[0]

    def cross_attention(self, query, memory, attn_mask=None):
        """The seed's name for `forward(query, memory, attn_mask)`."""
        return self.forward(query, memory, attn_mask)


class DifferentialAttention(Module):
    """Differential attention (Ye et al., 2024, "Differential Transformer", arXiv:2410.05258).

    Each head of width d = embed_dim / num_heads splits its query and key into halves of d/2
    and takes the difference of two softmax maps, which cancels attention noise:

        A_j = softmax(Q_j K_jᵀ / √(d/2) + mask),  j = 1, 2
        head = (1 − λ_init) · RMSNorm((A1 − λ A2) V)
        λ = exp(λ_q1·λ_k1) − exp(λ_q2·λ_k2) + λ_init,  λ_init = 0.8 − 0.6·exp(−0.3·(depth − 1))

    and out = concat(heads) W_oᵀ. The RMSNorm (eps 1e-5, one learned scale of width d shared
    by the heads) normalises each head on its own. Parameter names follow the authors' code
    (`q_proj`, `k_proj`, `v_proj`, `out_proj`, `lambda_q1`, `lambda_k1`, `lambda_q2`,
    `lambda_k2`, `subln`).

    Args:
        embed_dim: the model width E.
        num_heads: the number of differential heads; E / num_heads must be even.
        dropout: probability of dropping a weight of A1 − λA2 in training mode.
        bias: biases in the four projections (the paper has none).
        batch_first: (keyword-only) inputs are (N, T, E) when True (the default).
        depth: (keyword-only) the layer's index l, counted from 1, that sets λ_init.
        lambda_init: (keyword-only) override λ_init (a float); None derives it from `depth`.
        eps: (keyword-only) the RMSNorm's epsilon.
        dtype: (keyword-only) the parameters' dtype (float32).

    Shape:
        - query: (N, L, E), or (L, E) unbatched; key, value: (N, S, E)
        - attn_mask: (L, S) or (N·num_heads, L, S); key_padding_mask: (N, S); True = blocked
        - output: like query; weights (A1 − λA2): (N, L, S) averaged, (N, num_heads, L, S)

    Attributes:
        q_proj, k_proj, v_proj, out_proj: Linear(E, E), PyTorch's default init.
        lambda_q1, lambda_k1, lambda_q2, lambda_k2: (d/2,), N(0, 0.1²).
        subln: RMSNorm(d, eps), weight ones.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> diff = nn.DifferentialAttention(16, 2, depth=3)
        >>> round(diff.lambda_init, 4)
        0.4707
        >>> diff(axon.Tensor.randn([2, 5, 16]), is_causal=True).shape
        (2, 5, 16)
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = False,
        *,
        batch_first: bool = True,
        depth: int = 1,
        lambda_init: float | None = None,
        eps: float = 1e-5,
        dtype=jnp.float32,
    ):
        super().__init__()
        _check_heads(self, embed_dim, num_heads)
        head_dim = embed_dim // num_heads
        if head_dim % 2:
            raise _errors.value_error(
                self,
                f"the head width embed_dim / num_heads = {head_dim} must be even (it is split "
                f"into two halves), got embed_dim={embed_dim}, num_heads={num_heads}.",
            )
        _check_positive(self, "depth", depth)
        if lambda_init is None:
            lambda_init = 0.8 - 0.6 * math.exp(-0.3 * (depth - 1))
        elif isinstance(lambda_init, bool) or not isinstance(lambda_init, (int, float)):
            raise _errors.value_error(
                self, f"lambda_init must be a float or None, got {lambda_init!r}."
            )
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, head_dim
        self.dropout = _check_dropout(self, dropout)
        self.batch_first = bool(batch_first)
        self.depth = depth
        self.lambda_init = float(lambda_init)
        self.eps = float(eps)
        self.q_proj = Linear(embed_dim, embed_dim, bias, dtype=dtype)
        self.k_proj = Linear(embed_dim, embed_dim, bias, dtype=dtype)
        self.v_proj = Linear(embed_dim, embed_dim, bias, dtype=dtype)
        self.out_proj = Linear(embed_dim, embed_dim, bias, dtype=dtype)
        half = head_dim // 2
        self.lambda_q1 = Parameter(jnp.empty((half,), dtype))
        self.lambda_k1 = Parameter(jnp.empty((half,), dtype))
        self.lambda_q2 = Parameter(jnp.empty((half,), dtype))
        self.lambda_k2 = Parameter(jnp.empty((half,), dtype))
        self.subln = RMSNorm(head_dim, eps=self.eps, dtype=dtype)
        self._reset_lambdas()

    def _reset_lambdas(self) -> None:
        for p in (self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2):
            init.normal_(p, 0.0, 0.1)

    def reset_parameters(self) -> None:
        for layer in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            layer.reset_parameters()
        self.subln.reset_parameters()
        self._reset_lambdas()

    # the seed's constructors
    @classmethod
    def new(cls, embed_dim: int, num_heads: int):
        return cls(embed_dim, num_heads)

    @classmethod
    def with_lambda(cls, embed_dim: int, num_heads: int, lambda_init: float):
        return cls(embed_dim, num_heads, lambda_init=lambda_init)

    def lambda_value(self) -> jax.Array:
        """The current λ = exp(λq1·λk1) − exp(λq2·λk2) + λ_init (not recorded for backward)."""
        return _F.differential_lambda(
            self.lambda_q1.data, self.lambda_k1.data, self.lambda_q2.data, self.lambda_k2.data,
            self.lambda_init,
        )  # fmt: skip

    def forward(self, x, *args, attn_mask=None, key_padding_mask=None, is_causal: bool = False):
        """Self-attention of `x`; returns the output only."""
        if args:
            raise _errors.type_error(
                self,
                f"forward(x) is self-attention and takes one input, got {1 + len(args)}.",
                "Call attention(query, key, value) for the full form.",
            )
        return self.attention(
            x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
            is_causal=is_causal,
        )[0]  # fmt: skip

    def attention(
        self,
        query,
        key,
        value,
        attn_mask=None,
        key_padding_mask=None,
        need_weights: bool = False,
        is_causal: bool = False,
        average_attn_weights: bool = True,
    ):
        """The full call: returns `(output, weights)`; weights (A1 − λA2) only with
        `need_weights`. Arguments as `MultiHeadAttention.attention`."""
        e = self.embed_dim
        _check_inputs(
            self, query, key, value, attn_mask, key_padding_mask, dims=(e, e, e),
            num_heads=self.num_heads, batch_first=self.batch_first,
        )  # fmt: skip
        p = self.dropout if self.training else 0.0
        rng = draw_key(_errors.describe(self), query) if p > 0.0 else None
        args = (
            query, key, value, self.q_proj.weight, self.q_proj.bias, self.k_proj.weight,
            self.k_proj.bias, self.v_proj.weight, self.v_proj.bias, self.out_proj.weight,
            self.out_proj.bias, self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2,
            self.subln.weight, attn_mask, key_padding_mask, rng, self.num_heads,
            self.lambda_init, self.eps, p, bool(is_causal), self.batch_first,
        )  # fmt: skip
        with jax.named_scope("axon.nn.DifferentialAttention"):
            out = _F.differential_attention(*args, "output")
            if not need_weights:
                return out, None
            need = "weights" if average_attn_weights else "head_weights"
            return out, _F.differential_attention(*args, need)

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
            f"lambda_init={self.lambda_init:.4g}, batch_first={self.batch_first}"
        )
