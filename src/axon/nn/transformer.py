"""Transformer blocks: `TransformerEncoderLayer`, `TransformerDecoderLayer`, the stacks
`TransformerEncoder` and `TransformerDecoder`, and `Seq2SeqTransformer` (PyTorch's
`nn.Transformer`).

Every block is PyTorch's, parameter names included (`self_attn.in_proj_weight`, `linear1.weight`,
`norm1.weight`, `multihead_attn.*`, `layers.{i}.*`, `encoder.norm.*`), so a PyTorch state dict
loads unchanged. Masks follow PyTorch's layer convention: a boolean True means "may not attend",
a float mask is added to the scores.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import jax
import jax.numpy as jnp

from axon import _errors
from axon.functional.activation import gelu, relu
from axon.functional.attention import check_mask_dtype
from axon.nn import _layer_scan, init
from axon.nn.attention import MultiHeadAttention
from axon.nn.container import ModuleList
from axon.nn.dropout import Dropout
from axon.nn.linear import Linear
from axon.nn.module import Module
from axon.nn.norm import LayerNorm

_ACTIVATIONS = {"relu": relu, "gelu": gelu}


def _check_sizes(where, d_model, nhead, dim_feedforward) -> None:
    for name, value in (
        ("d_model", d_model),
        ("nhead", nhead),
        ("dim_feedforward", dim_feedforward),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise _errors.value_error(where, f"{name} must be a positive int, got {value!r}.")
    if d_model % nhead:
        raise _errors.value_error(
            where,
            f"d_model ({d_model}) must be divisible by nhead ({nhead}).",
            "Pick an nhead that divides d_model.",
        )


def _activation(where, activation):
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise _errors.value_error(
                where,
                f"activation must be one of {sorted(_ACTIVATIONS)} or a callable, got "
                f"{activation!r}.",
            )
        return _ACTIVATIONS[activation]
    if not callable(activation):
        raise _errors.type_error(
            where,
            f"activation must be 'relu', 'gelu' or a callable, got {type(activation).__name__}.",
        )
    return activation


class _Block(Module):
    """What the two layers share: attention, feed-forward, norms and dropouts."""

    def _build(
        self,
        d_model,
        nhead,
        dim_feedforward,
        dropout,
        activation,
        layer_norm_eps,
        batch_first,
        norm_first,
        bias,
        dtype,
        cross: bool,
    ) -> None:
        _check_sizes(self, d_model, nhead, dim_feedforward)
        act = _activation(self, activation)
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward
        self.batch_first, self.norm_first = bool(batch_first), bool(norm_first)
        # PyTorch's registration order, so named_parameters() lists the same keys in order
        self.self_attn = MultiHeadAttention(
            d_model, nhead, dropout, bias, batch_first=batch_first, dtype=dtype
        )
        if cross:
            self.multihead_attn = MultiHeadAttention(
                d_model, nhead, dropout, bias, batch_first=batch_first, dtype=dtype
            )
        self.linear1 = Linear(d_model, dim_feedforward, bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias, dtype=dtype)
        for i in range(1, 4 if cross else 3):
            setattr(self, f"norm{i}", LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype))
        for i in range(1, 4 if cross else 3):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = act

    def _sizes(self, x) -> tuple[int | None, int] | None:
        """(N, T) of a sequence in this layer's layout, N None when unbatched."""
        if not hasattr(x, "shape") or x.ndim not in (2, 3):
            return None  # the attention layer explains what it expects
        if x.ndim == 2:
            return None, x.shape[0]
        return (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])

    def _check_masks(self, query, key, attn_mask, attn_name, kpm, kpm_name) -> None:
        """Masks checked up front, under the names the caller used (before any compute)."""
        q, k = self._sizes(query), self._sizes(key)
        if q is None or k is None:
            return
        n, length, source = q[0], q[1], k[1]
        if attn_mask is not None:
            check_mask_dtype(self, attn_name, attn_mask, "True = may not attend")
            shapes = [(length, source), ((n or 1) * self.nhead, length, source)]
            if tuple(attn_mask.shape) not in shapes:
                third = "N·nhead" if n else "nhead"
                raise _errors.value_error(
                    self,
                    f"expected {attn_name} of shape (L, S) = {_errors.shape_str(shapes[0])} or "
                    f"({third}, L, S) = {_errors.shape_str(shapes[1])}, got "
                    f"{_errors.shape_str(attn_mask.shape)}.",
                )
        if kpm is not None:
            check_mask_dtype(self, kpm_name, kpm, "True = padding")
            shape = (n, source) if n else (source,)
            if tuple(kpm.shape) != shape:
                form = "(N, S)" if n else "(S,)"
                raise _errors.value_error(
                    self,
                    f"expected {kpm_name} of shape {form} = {_errors.shape_str(shape)}, got "
                    f"{_errors.shape_str(kpm.shape)}.",
                )

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn.attention(
            x, x, x, attn_mask, key_padding_mask, is_causal=bool(is_causal)
        )[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout_last(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def extra_repr(self) -> str:
        act = getattr(self.activation, "__name__", None)
        act = "" if isinstance(self.activation, Module) else f", activation={act or '<callable>'}"
        return (
            f"d_model={self.d_model}, nhead={self.nhead}, dim_feedforward={self.dim_feedforward}"
            f"{act}, batch_first={self.batch_first}, norm_first={self.norm_first}"
        )


class TransformerEncoderLayer(_Block):
    """Self-attention and a feed-forward network, each in a residual branch, as
    `torch.nn.TransformerEncoderLayer`:

        post-norm (default): x = norm1(x + SA(x)); x = norm2(x + FF(x))
        pre-norm (norm_first): x = x + SA(norm1(x)); x = x + FF(norm2(x))

    with FF(x) = linear2(dropout(activation(linear1(x)))) and dropout after each branch.

    Args:
        d_model: the model width E.
        nhead: attention heads; must divide `d_model`.
        dim_feedforward: the hidden width of the feed-forward network.
        dropout: dropout probability (attention weights, feed-forward, residual branches).
        activation: "relu", "gelu" (exact erf form) or a callable (a function or a Module).
        layer_norm_eps: the LayerNorms' epsilon.
        batch_first: inputs are (N, S, E) when True (the default), (S, N, E) otherwise.
        norm_first: pre-norm (LayerNorm before each branch) instead of post-norm.
        bias: biases in the linear layers, the attention and the LayerNorms.
        dtype: (keyword-only) the parameters' dtype (float32).

    Shape:
        - src: (N, S, E) ((S, N, E) with batch_first=False), or (S, E) unbatched
        - src_mask: (S, S) or (N·nhead, S, S); src_key_padding_mask: (N, S)
        - output: like src

    Attributes:
        self_attn: MultiHeadAttention(E, nhead); linear1: Linear(E, dim_feedforward);
        linear2: Linear(dim_feedforward, E); norm1, norm2: LayerNorm(E). PyTorch's inits.

    Note:
        `batch_first` defaults to True (PyTorch: False); pass `batch_first=False` for
        PyTorch's (S, N, E) layout. `is_causal=True` without a mask applies the causal mask
        (PyTorch requires `src_mask` with it).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32)
        >>> layer(axon.Tensor.randn([2, 5, 16])).shape
        (2, 5, 16)
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        self._build(
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            dtype,
            cross=False,
        )

    @property
    def dropout_last(self) -> Dropout:
        return self.dropout2

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        """Args as `torch.nn.TransformerEncoderLayer.forward`; masks True = may not attend."""
        self._check_masks(
            src, src, src_mask, "src_mask", src_key_padding_mask, "src_key_padding_mask"
        )
        with jax.named_scope("axon.nn.TransformerEncoderLayer"):
            x = src
            if self.norm_first:
                x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
                return x + self._ff_block(self.norm2(x))
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            return self.norm2(x + self._ff_block(x))


class TransformerDecoderLayer(_Block):
    """Self-attention, attention to the encoder's memory, and a feed-forward network, each in a
    residual branch, as `torch.nn.TransformerDecoderLayer`:

        post-norm: x = norm1(x + SA(x)); x = norm2(x + MHA(x, memory)); x = norm3(x + FF(x))
        pre-norm:  x = x + SA(norm1(x)); x = x + MHA(norm2(x), memory); x = x + FF(norm3(x))

    Args: as `TransformerEncoderLayer`.

    Shape:
        - tgt: (N, T, E) ((T, N, E) with batch_first=False), or (T, E) unbatched
        - memory: (N, S, E)
        - tgt_mask: (T, T) or (N·nhead, T, T); memory_mask: (T, S) or (N·nhead, T, S)
        - tgt_key_padding_mask: (N, T); memory_key_padding_mask: (N, S)
        - output: like tgt

    Attributes:
        self_attn, multihead_attn: MultiHeadAttention(E, nhead); linear1, linear2 as in the
        encoder layer; norm1, norm2, norm3: LayerNorm(E).

    Note:
        `batch_first` defaults to True (PyTorch: False). No causal mask is applied unless you
        pass `tgt_mask` or `tgt_is_causal=True`.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> layer = nn.TransformerDecoderLayer(16, 4, dim_feedforward=32)
        >>> tgt, memory = axon.Tensor.randn([2, 5, 16]), axon.Tensor.randn([2, 7, 16])
        >>> layer(tgt, memory, tgt_is_causal=True).shape
        (2, 5, 16)
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        self._build(
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            dtype,
            cross=True,
        )

    @property
    def dropout_last(self) -> Dropout:
        return self.dropout3

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn.attention(
            x, memory, memory, attn_mask, key_padding_mask, is_causal=bool(is_causal)
        )[0]
        return self.dropout2(x)

    def forward(
        self,
        tgt,
        memory,
        tgt_mask=None,
        memory_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ):
        """Args as `torch.nn.TransformerDecoderLayer.forward`; masks True = may not attend."""
        sa = (tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        ca = (memory_mask, memory_key_padding_mask, memory_is_causal)
        self._check_masks(
            tgt, tgt, tgt_mask, "tgt_mask", tgt_key_padding_mask, "tgt_key_padding_mask"
        )
        self._check_masks(
            tgt,
            memory,
            memory_mask,
            "memory_mask",
            memory_key_padding_mask,
            "memory_key_padding_mask",
        )
        with jax.named_scope("axon.nn.TransformerDecoderLayer"):
            x = tgt
            if self.norm_first:
                x = x + self._sa_block(self.norm1(x), *sa)
                x = x + self._mha_block(self.norm2(x), memory, *ca)
                return x + self._ff_block(self.norm3(x))
            x = self.norm1(x + self._sa_block(x, *sa))
            x = self.norm2(x + self._mha_block(x, memory, *ca))
            return self.norm3(x + self._ff_block(x))


def _clones(where, layer, kind: type, num_layers) -> ModuleList:
    if not isinstance(layer, kind):
        raise _errors.type_error(
            where, f"expected a {kind.__name__} to clone, got {type(layer).__name__}."
        )
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 0:
        raise _errors.value_error(
            where, f"num_layers must be a non-negative int, got {num_layers!r}."
        )
    return ModuleList(copy.deepcopy(layer) for _ in range(num_layers))


def _check_norm(where, norm) -> None:
    if norm is not None and not isinstance(norm, Module):
        raise _errors.type_error(where, f"norm must be a Module or None, got {type(norm)}.")


def _check_scan(where, scan) -> bool:
    if not isinstance(scan, bool):
        raise _errors.type_error(where, f"scan must be a bool, got {scan!r}.")
    return scan


def _run_layers(stack, x, args: tuple, **flags):
    """`x` through `stack.layers` (each called as `layer(x, *args, **flags)`): one `lax.scan`
    when `stack.scan` is set, a Python loop otherwise or while a layer has a forward hook."""
    layers = list(stack.layers)
    if stack.scan and layers and not _layer_scan.has_hooks(layers):
        _layer_scan.check_identical(stack, layers)
        return _layer_scan.scan_layers(stack, layers, x, args, **flags)
    for layer in layers:
        x = layer(x, *args, **flags)
    return x


class TransformerEncoder(Module):
    """`num_layers` deep copies of `encoder_layer` applied in turn, then `norm` if given, as
    `torch.nn.TransformerEncoder`.

    Args:
        encoder_layer: a `TransformerEncoderLayer` (copied; the copies start with its weights).
        num_layers: how many copies.
        norm: an optional final module (a `LayerNorm(d_model)` for pre-norm stacks).
        enable_nested_tensor, mask_check: accepted for PyTorch compatibility; axon always
            computes padded positions (PyTorch's nested-tensor fast path returns zeros there
            in eval mode), and masks are checked by the attention layers.
        scan: (keyword-only) run the layers as one `lax.scan` (see the note).

    Shape:
        - src: (N, S, E) (layout of the layer's `batch_first`); mask: (S, S) or
          (N·nhead, S, S); src_key_padding_mask: (N, S)
        - output: like src

    Note:
        `scan=True` (axon only) runs the layers as one `jax.lax.scan` over their weights stacked
        along a new leading axis, so the traced program holds one layer body instead of
        `num_layers` copies. Whether the first call gets faster depends on the step (measured on
        CPU by `scripts/benchmarks/scan_compile.py`, see docs/performance.md): for
        `jax.jit(jax.value_and_grad(loss))(model, ...)` at 24 layers it was 7x faster (XLA
        compiled the unrolled program in 88 s, the scanned one in 12 s); in an `axon.jit`
        training step, whose unrolled program XLA already compiles in a few seconds, tracing
        got 5x faster but XLA's compile slower (the stacked gradients are sliced back into one
        array per layer and parameter), and the first call took 1.3x-2.3x as long as unrolled.
        The layers stay the storage: state-dict keys, `named_parameters()`, `.grad` slots and
        optimizers are per layer exactly as with `scan=False`, and outputs and gradients agree
        to float32 roundoff. The layers must be structurally identical (same types, shapes,
        dtypes, hyper-parameters and training mode; `requires_grad` may differ): otherwise
        forward raises a ValueError naming the first layer that differs and how. While any
        layer (or one of its sub-modules) has a forward hook, the stack runs as a loop so that
        hooks see every layer. In training mode with dropout, one key is drawn from the global
        stream per call and split per layer: the masks differ per layer and are reproducible
        under `axon.manual_seed`, but are not the unrolled loop's masks.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32)
        >>> encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(16))
        >>> encoder(axon.Tensor.randn([2, 5, 16]), is_causal=True).shape
        (2, 5, 16)
        >>> list(encoder.state_dict())[0]
        'layers.0.self_attn.in_proj_weight'
        >>> scanned = nn.TransformerEncoder(layer, num_layers=2, scan=True)
        >>> scanned(axon.Tensor.randn([2, 5, 16])).shape
        (2, 5, 16)
        >>> list(scanned.state_dict()) == list(nn.TransformerEncoder(layer, 2).state_dict())
        True
    """

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
        *,
        scan: bool = False,
    ):
        super().__init__()
        self.layers = _clones(self, encoder_layer, TransformerEncoderLayer, num_layers)
        self.num_layers = num_layers
        _check_norm(self, norm)
        self.norm = norm
        self.scan = _check_scan(self, scan)

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None):
        """Args as `torch.nn.TransformerEncoder.forward`; masks True = may not attend."""
        with jax.named_scope("axon.nn.TransformerEncoder"):
            x = _run_layers(self, src, (mask, src_key_padding_mask), is_causal=bool(is_causal))
            return x if self.norm is None else self.norm(x)

    def extra_repr(self) -> str:
        return "scan=True" if self.scan else ""


class TransformerDecoder(Module):
    """`num_layers` deep copies of `decoder_layer` applied in turn, each attending to the same
    `memory`, then `norm` if given, as `torch.nn.TransformerDecoder`.

    Args:
        decoder_layer: a `TransformerDecoderLayer` (copied; the copies start with its weights).
        num_layers: how many copies.
        norm: an optional final module (a `LayerNorm(d_model)` for pre-norm stacks).
        scan: (keyword-only) run the layers as one `lax.scan` (see the note).

    Shape:
        - tgt: (N, T, E); memory: (N, S, E) (layout of the layer's `batch_first`)
        - tgt_mask: (T, T); memory_mask: (T, S); *_key_padding_mask: (N, T) and (N, S)
        - output: like tgt

    Note:
        `scan=True` runs the layers as one `jax.lax.scan`, with `memory` and the masks as scan
        constants; everything said in `TransformerEncoder`'s note holds here too.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> layer = nn.TransformerDecoderLayer(16, 4, dim_feedforward=32)
        >>> decoder = nn.TransformerDecoder(layer, num_layers=2)
        >>> decoder(axon.Tensor.randn([2, 5, 16]), axon.Tensor.randn([2, 7, 16])).shape
        (2, 5, 16)
    """

    def __init__(
        self,
        decoder_layer: TransformerDecoderLayer,
        num_layers: int,
        norm: Module | None = None,
        *,
        scan: bool = False,
    ):
        super().__init__()
        self.layers = _clones(self, decoder_layer, TransformerDecoderLayer, num_layers)
        self.num_layers = num_layers
        _check_norm(self, norm)
        self.norm = norm
        self.scan = _check_scan(self, scan)

    def forward(
        self,
        tgt,
        memory,
        tgt_mask=None,
        memory_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ):
        """Args as `torch.nn.TransformerDecoder.forward`; masks True = may not attend."""
        args = (memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask)
        with jax.named_scope("axon.nn.TransformerDecoder"):
            x = _run_layers(
                self, tgt, args,
                tgt_is_causal=bool(tgt_is_causal), memory_is_causal=bool(memory_is_causal),
            )  # fmt: skip
            return x if self.norm is None else self.norm(x)

    def extra_repr(self) -> str:
        return "scan=True" if self.scan else ""


def generate_square_subsequent_mask(sz: int, dtype=jnp.float32) -> jax.Array:
    """PyTorch's causal float mask (sz, sz): 0 on and below the diagonal, -inf above it."""
    if not isinstance(sz, int) or isinstance(sz, bool) or sz < 0:
        raise ValueError(
            "axon.nn.Seq2SeqTransformer.generate_square_subsequent_mask: sz must be a "
            f"non-negative int, got {sz!r}."
        )
    return jnp.triu(jnp.full((sz, sz), -jnp.inf, dtype), k=1)


class Seq2SeqTransformer(Module):
    """An encoder-decoder transformer, the role of `torch.nn.Transformer` (same parameter
    names, so its state dict loads): `encoder` = TransformerEncoder(layer, num_encoder_layers,
    LayerNorm), `decoder` = TransformerDecoder(layer, num_decoder_layers, LayerNorm).

    Like PyTorch's, it holds no embeddings, positional encodings or output projection: inputs
    and outputs are (N, ·, d_model) features.

    Args:
        d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
            norm_first, bias: as `TransformerEncoderLayer`, for every layer.
        num_encoder_layers, num_decoder_layers: the depths of the two stacks.
        custom_encoder, custom_decoder: modules used instead of the built stacks.
        dtype: (keyword-only) the parameters' dtype (float32).
        scan: (keyword-only) build both stacks with `scan=True`: each runs its layers as one
            `lax.scan` (see `TransformerEncoder`); parameter names are unchanged.

    Shape:
        - src: (N, S, E); tgt: (N, T, E) ((S, N, E), (T, N, E) with batch_first=False)
        - src_mask: (S, S); tgt_mask: (T, T); memory_mask: (T, S)
        - src_key_padding_mask, memory_key_padding_mask: (N, S); tgt_key_padding_mask: (N, T)
        - output: (N, T, E)

    Attributes:
        Every parameter with more than one dimension is Xavier-uniform (as PyTorch's
        `Transformer._reset_parameters`); biases as their layers'; LayerNorms ones and zeros.

    Note:
        `batch_first` defaults to True (PyTorch: False). `forward(src, tgt)` is
        `decode(tgt, encode(src))`.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> model = nn.Seq2SeqTransformer(16, 4, 2, 2, dim_feedforward=32, dropout=0.0)
        >>> src, tgt = axon.Tensor.randn([2, 7, 16]), axon.Tensor.randn([2, 5, 16])
        >>> mask = model.generate_square_subsequent_mask(5)
        >>> model(src, tgt, tgt_mask=mask).shape
        (2, 5, 16)
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable = "relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        dtype=jnp.float32,
        scan: bool = False,
    ):
        super().__init__()
        _check_sizes(self, d_model, nhead, dim_feedforward)
        _check_scan(self, scan)
        options = dict(
            dropout=dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            batch_first=batch_first,
            norm_first=norm_first,
            bias=bias,
            dtype=dtype,
        )
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, **options)
            norm = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm, scan=scan)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, **options)
            norm = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm, scan=scan)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, bool(batch_first)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform on every parameter with more than one dimension (PyTorch's)."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)

    def _check(self, name, x) -> None:
        if not hasattr(x, "shape") or x.ndim not in (2, 3) or x.shape[-1] != self.d_model:
            shape = _errors.shape_str(x.shape) if hasattr(x, "shape") else type(x).__name__
            layout = "(N, T, E)" if self.batch_first else "(T, N, E)"
            raise _errors.value_error(
                self,
                f"expected {name} of shape {layout} with E = d_model = {self.d_model}, or (T, E) "
                f"unbatched, got {shape}.",
            )

    def encode(self, src, src_mask=None, src_key_padding_mask=None, src_is_causal=None):
        """The encoder's output (the memory): (N, S, E)."""
        self._check("src", src)
        return self.encoder(src, src_mask, src_key_padding_mask, is_causal=src_is_causal)

    def decode(
        self,
        tgt,
        memory,
        tgt_mask=None,
        memory_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        tgt_is_causal=None,
        memory_is_causal: bool = False,
    ):
        """The decoder's output for `tgt` attending to `memory`: (N, T, E)."""
        self._check("tgt", tgt)
        self._check("memory", memory)
        return self.decoder(
            tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal,
        )  # fmt: skip

    def forward(
        self,
        src,
        tgt,
        src_mask=None,
        tgt_mask=None,
        memory_mask=None,
        src_key_padding_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        src_is_causal=None,
        tgt_is_causal=None,
        memory_is_causal: bool = False,
    ):
        """`decode(tgt, encode(src))`, with `torch.nn.Transformer.forward`'s arguments."""
        self._check("src", src)
        self._check("tgt", tgt)
        if src.ndim != tgt.ndim or (
            src.ndim == 3
            and src.shape[0 if self.batch_first else 1] != tgt.shape[0 if self.batch_first else 1]
        ):
            raise _errors.value_error(
                self,
                f"src and tgt must have the same batch size, got {_errors.shape_str(src.shape)} "
                f"and {_errors.shape_str(tgt.shape)} (batch_first={self.batch_first}).",
            )
        memory = self.encode(src, src_mask, src_key_padding_mask, src_is_causal)
        return self.decode(
            tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
            tgt_is_causal, memory_is_causal,
        )  # fmt: skip

    def forward_seq2seq(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None):
        """The seed's name for `forward(src, tgt, src_mask, tgt_mask, memory_mask)`."""
        return self.forward(src, tgt, src_mask, tgt_mask, memory_mask)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, nhead={self.nhead}, batch_first={self.batch_first}"
