"""Convolutions: pure jax on arrays, one tape op on Variables.

`conv1d`/`conv2d` are `jax.lax.conv_general_dilated` in PyTorch's layouts (inputs `(N, C, *)`,
weights `(C_out, C_in/groups, *kernel)`); on CPU, 1x1, depthwise and few-channel convs run as
matmuls or shifted sums instead (`axon.functional._conv_impl`, measured in docs/performance.md).
`conv_transpose1d`/`conv_transpose2d` are the gradient of a conv with respect to its input,
written as a conv of the stride-dilated input with the flipped kernel, its in and out channels
swapped within each group (weights `(C_in, C_out/groups, *kernel)`, as PyTorch's).

The `*_geometry` helpers validate a call and canonicalise its hyper-parameters; the layers in
`axon.nn.conv` call them first so that a bad input is reported with the layer's name.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from axon._errors import shape_str, value_error
from axon.autograd.tape import op
from axon.functional._conv_impl import conv_nd

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_JNP_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_SPATIAL_NAMES = {1: ("L",), 2: ("H", "W")}

Pads = tuple[tuple[int, int], ...]  # (low, high) per spatial dim


# ----------------------------------------------------------------------------- arguments
def ntuple(value, n: int, name: str, where, minimum: int = 0) -> tuple[int, ...]:
    """`value` as a tuple of `n` ints >= `minimum`: an int is repeated, a sequence is kept."""
    items = (value,) * n if _is_int(value) else value
    if not (
        isinstance(items, (tuple, list))
        and len(items) == n
        and all(_is_int(v) and v >= minimum for v in items)
    ):
        bound = "positive" if minimum == 1 else "non-negative"
        raise value_error(
            where,
            f"{name} must be a {bound} int or a tuple of {n} {bound} ints, got {value!r}.",
        )
    return tuple(int(v) for v in items)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_groups(groups, where) -> int:
    if not _is_int(groups) or groups < 1:
        raise value_error(where, f"groups must be a positive int, got {groups!r}.")
    return int(groups)


def padding_pairs(padding, kernel_size, stride, dilation, where) -> Pads:
    """PyTorch's `padding` (int, tuple, "same" or "valid") as (low, high) pairs.

    "same" pads `dilation * (kernel_size - 1)` in total per dim, the odd element on the high side.
    """
    n = len(kernel_size)
    if not isinstance(padding, str):
        return tuple((p, p) for p in ntuple(padding, n, "padding", where))
    if padding == "valid":
        return ((0, 0),) * n
    if padding != "same":
        raise value_error(
            where,
            f"padding must be an int, a tuple of {n} ints, 'same' or 'valid', got {padding!r}.",
        )
    if any(s != 1 for s in stride):
        raise value_error(
            where,
            f"padding='same' is not supported for strided convolutions, got stride={stride}.",
            "Use stride=1, or pass the padding as ints.",
        )
    totals = [d * (k - 1) for k, d in zip(kernel_size, dilation, strict=True)]
    return tuple((t // 2, t - t // 2) for t in totals)


def check_output_padding(output_padding, stride, dilation, where) -> None:
    """PyTorch's rule: in each dim, output_padding < stride or output_padding < dilation."""
    for p, s, d in zip(output_padding, stride, dilation, strict=True):
        if p >= s and p >= d:
            raise value_error(
                where,
                f"output_padding {output_padding} must be smaller than either stride {stride} "
                f"or dilation {dilation} in each dimension.",
            )


def input_form(n: int, channels: int) -> str:
    """`(N, 3, H, W) or (3, H, W)`: the input shapes a conv with `channels` inputs accepts."""
    spatial = ", ".join(_SPATIAL_NAMES[n])
    return f"(N, {channels}, {spatial}) or ({channels}, {spatial})"


def _check_input(where, input_shape, n: int, channels: int) -> tuple[int, ...]:
    """Rank and channel checks; returns the spatial size."""
    shape = tuple(input_shape)
    if len(shape) not in (n + 1, n + 2):
        raise value_error(
            where,
            f"expected input of shape {input_form(n, channels)}, got {shape_str(shape)}.",
            f"A {n}-D convolution takes {n + 2}-D (batched) or {n + 1}-D (unbatched) input.",
        )
    if shape[-n - 1] != channels:
        raise value_error(
            where,
            f"expected input of shape {input_form(n, channels)}, got {shape_str(shape)}.",
            f"The channel dimension must equal in_channels={channels}.",
        )
    return shape[-n:]


def _check_weight(where, weight_shape, bias_shape, n: int, groups: int, transposed: bool):
    """Weight rank, group divisibility and bias shape; returns (in_channels, out_channels)."""
    layout = (
        "in_channels, out_channels/groups" if transposed else "out_channels, in_channels/groups"
    )
    kernel = ", ".join(f"k{s}" for s in _SPATIAL_NAMES[n])
    if len(weight_shape) != n + 2:
        raise value_error(
            where,
            f"expected a weight of shape ({layout}, {kernel}), got {shape_str(weight_shape)}.",
        )
    if weight_shape[0] % groups:
        raise value_error(
            where,
            f"the weight's dim 0 ({weight_shape[0]}) must be divisible by groups ({groups}).",
        )
    if transposed:
        in_channels, out_channels = weight_shape[0], weight_shape[1] * groups
    else:
        in_channels, out_channels = weight_shape[1] * groups, weight_shape[0]
    if bias_shape is not None and tuple(bias_shape) != (out_channels,):
        raise value_error(
            where, f"expected a bias of shape ({out_channels},), got {shape_str(bias_shape)}."
        )
    return in_channels, out_channels


def conv_geometry(
    where, n, input_shape, weight_shape, bias_shape, stride, padding, dilation, groups, padding_mode
):
    """Validate a conv call; returns canonical (stride, pads, dilation)."""
    groups = check_groups(groups, where)
    in_channels, _ = _check_weight(where, weight_shape, bias_shape, n, groups, transposed=False)
    stride = ntuple(stride, n, "stride", where, minimum=1)
    dilation = ntuple(dilation, n, "dilation", where, minimum=1)
    pads = padding_pairs(padding, tuple(weight_shape[2:]), stride, dilation, where)
    if padding_mode not in PADDING_MODES:
        raise value_error(
            where, f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}."
        )
    spatial = _check_input(where, input_shape, n, in_channels)
    if padding_mode in ("reflect", "circular"):
        limit = 0 if padding_mode == "reflect" else 1  # reflect: pad < size; circular: pad <= size
        if any(max(p) >= size + limit for p, size in zip(pads, spatial, strict=True)):
            needs = "smaller than" if padding_mode == "reflect" else "at most"
            raise value_error(
                where,
                f"padding_mode={padding_mode!r} needs each padding {needs} the size it pads, "
                f"got padding {pads} for input spatial size {spatial}.",
            )
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(spatial, pads, strict=True))
    window = tuple(d * (k - 1) + 1 for k, d in zip(weight_shape[2:], dilation, strict=True))
    if any(p < w for p, w in zip(padded, window, strict=True)):
        raise value_error(
            where,
            f"the input's spatial size {spatial}, padded to {padded}, is smaller than the "
            f"dilated kernel size {window}.",
            "Use a larger input, more padding, or a smaller kernel or dilation.",
        )
    return stride, pads, dilation


def conv_transpose_geometry(
    where, n, input_shape, weight_shape, bias_shape, stride, padding, output_padding, groups,
    dilation,
):  # fmt: skip
    """Validate a transposed-conv call; returns canonical (stride, padding, output_padding,
    dilation)."""
    groups = check_groups(groups, where)
    in_channels, _ = _check_weight(where, weight_shape, bias_shape, n, groups, transposed=True)
    stride = ntuple(stride, n, "stride", where, minimum=1)
    padding = ntuple(padding, n, "padding", where)
    output_padding = ntuple(output_padding, n, "output_padding", where)
    dilation = ntuple(dilation, n, "dilation", where, minimum=1)
    check_output_padding(output_padding, stride, dilation, where)
    spatial = _check_input(where, input_shape, n, in_channels)
    out = transposed_size(spatial, weight_shape[2:], stride, padding, output_padding, dilation)
    if any(o < 1 for o in out):
        raise value_error(
            where,
            f"for input spatial size {spatial} the output size would be {out}; it must be "
            "positive.",
            "Use less padding or a larger input.",
        )
    return stride, padding, output_padding, dilation


def transposed_size(spatial, kernel_size, stride, padding, output_padding, dilation):
    """Per dim: (size − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1."""
    return tuple(
        (size - 1) * s - 2 * p + d * (k - 1) + op + 1
        for size, k, s, p, op, d in zip(
            spatial, kernel_size, stride, padding, output_padding, dilation, strict=True
        )
    )


# ----------------------------------------------------------------------------- implementations
def _dimension_numbers(n: int) -> tuple[str, str, str]:
    spatial = "DHW"[-n:]
    return f"NC{spatial}", f"OI{spatial}", f"NC{spatial}"  # NCHW, OIHW, NCHW for n=2


def _add_bias(out, bias, n: int):
    if bias is None:
        return out
    return out + bias.reshape(1, -1, *(1,) * n)  # (1, C_out, 1, ...)


def _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, n, name):  # noqa: A002
    stride, pads, dilation = conv_geometry(
        f"axon.functional.{name}", n, input.shape, weight.shape,
        None if bias is None else bias.shape, stride, padding, dilation, groups, padding_mode,
    )  # fmt: skip
    unbatched = input.ndim == n + 1
    x = input[None] if unbatched else input  # (N, C_in, *spatial)
    if padding_mode != "zeros":  # as PyTorch: pad explicitly, then convolve without padding
        x = jnp.pad(x, ((0, 0), (0, 0), *pads), mode=_JNP_PAD_MODE[padding_mode])
        pads = ((0, 0),) * n
    # On CPU, 1x1, depthwise and few-channel convs run as matmuls / shifted sums (2-10x faster
    # there, see docs/performance.md); everything else is lax.conv_general_dilated.
    out = conv_nd(x, weight, stride, pads, dilation, groups)  # (N, C_out, *spatial_out)
    out = _add_bias(out, bias, n)
    return out[0] if unbatched else out


def _conv_transpose(
    input, weight, bias, stride, padding, output_padding, groups, dilation, n, name
):  # noqa: A002
    stride, padding, output_padding, dilation = conv_transpose_geometry(
        f"axon.functional.{name}", n, input.shape, weight.shape,
        None if bias is None else bias.shape, stride, padding, output_padding, groups, dilation,
    )  # fmt: skip
    unbatched = input.ndim == n + 1
    x = input[None] if unbatched else input  # (N, C_in, *spatial)
    c_in, c_out_per_group, *kernel = weight.shape
    # the forward conv whose input-gradient this is: swap in/out within each group, flip the window
    w = weight.reshape(groups, c_in // groups, c_out_per_group, *kernel)  # (G, C_in/G, C_out/G, *k)
    w = jnp.swapaxes(w, 1, 2).reshape(groups * c_out_per_group, c_in // groups, *kernel)
    w = jnp.flip(w, axis=tuple(range(2, n + 2)))  # (C_out, C_in/G, *k), OIHW
    pads = tuple(
        (d * (k - 1) - p, d * (k - 1) - p + op)  # may be negative: XLA then crops
        for k, p, op, d in zip(kernel, padding, output_padding, dilation, strict=True)
    )
    out = jax.lax.conv_general_dilated(
        x,
        w,
        window_strides=(1,) * n,
        padding=pads,
        lhs_dilation=stride,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(n),
        feature_group_count=groups,
    )  # (N, C_out, *spatial_out)
    out = _add_bias(out, bias, n)
    return out[0] if unbatched else out


# ----------------------------------------------------------------------------- public ops
_CONV_STATIC = ("stride", "padding", "dilation", "groups", "padding_mode")
_CONV_T_STATIC = ("stride", "padding", "output_padding", "groups", "dilation")


@op(static=_CONV_STATIC)
def conv1d(
    input,  # noqa: A002 - PyTorch's name
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    *,
    padding_mode="zeros",
):
    """1-D convolution (cross-correlation, as PyTorch): out[n, o] = b[o] + Σ_i w[o, i] ⋆ x[n, i],
    the sum running over the input channels of output channel o's group.

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_out, C_in / groups, kL).
        bias: (C_out,) or None.
        stride, dilation: int or 1-tuple.
        padding: int, 1-tuple, "valid" (none) or "same" (output length = input length; stride 1
            only; an odd total puts the extra element on the right, as PyTorch).
        groups: split the channels into this many independent convolutions.
        padding_mode: axon-only, keyword-only: "zeros", "reflect", "replicate" or "circular".

    Shape:
        - input: (N, C_in, L_in) or (C_in, L_in)
        - output: (N, C_out, L_out) or (C_out, L_out), with
          L_out = ⌊(L_in + 2·padding − dilation·(kL − 1) − 1) / stride⌋ + 1

    Note:
        PyTorch's `F.conv1d` has no `padding_mode`; `nn.Conv1d` pads with `F.pad` first. Here
        one call does both (one kernel on Variables).

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.conv1d(jnp.ones((2, 4, 10)), jnp.ones((6, 4, 3)), stride=2, padding=1).shape
        (2, 6, 5)
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, 1, "conv1d")


@op(static=_CONV_STATIC)
def conv2d(
    input,  # noqa: A002 - PyTorch's name
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    *,
    padding_mode="zeros",
):
    """2-D convolution (cross-correlation, as PyTorch): out[n, o] = b[o] + Σ_i w[o, i] ⋆ x[n, i],
    the sum running over the input channels of output channel o's group.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW) (OIHW).
        bias: (C_out,) or None.
        stride, dilation: int or pair.
        padding: int, pair, "valid" (none) or "same" (output size = input size; stride 1 only;
            an odd total puts the extra row/column at the bottom/right, as PyTorch).
        groups: split the channels into this many independent convolutions.
        padding_mode: axon-only, keyword-only: "zeros", "reflect", "replicate" or "circular".

    Shape:
        - input: (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        - output: (N, C_out, H_out, W_out) or (C_out, H_out, W_out), with
          H_out = ⌊(H_in + 2·padding[0] − dilation[0]·(kH − 1) − 1) / stride[0]⌋ + 1 (W alike)

    Note:
        PyTorch's `F.conv2d` has no `padding_mode`; `nn.Conv2d` pads with `F.pad` first. Here
        one call does both (one kernel on Variables).

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.conv2d(jnp.ones((2, 3, 8, 8)), jnp.ones((16, 3, 3, 3)), padding="same").shape
        (2, 16, 8, 8)
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, 2, "conv2d")


@op(static=_CONV_T_STATIC)
def conv_transpose1d(
    input,  # noqa: A002 - PyTorch's name
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    """1-D transposed convolution: the gradient of `conv1d` with respect to its input.

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_in, C_out / groups, kL).
        bias: (C_out,) or None.
        stride, padding, dilation: int or 1-tuple; `padding` removes `dilation·(kL − 1) −
            padding` from each side of the full output.
        output_padding: extra length added on the right (smaller than stride or dilation).
        groups: split the channels into this many independent convolutions.

    Shape:
        - input: (N, C_in, L_in) or (C_in, L_in)
        - output: (N, C_out, L_out) or (C_out, L_out), with
          L_out = (L_in − 1)·stride − 2·padding + dilation·(kL − 1) + output_padding + 1

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.conv_transpose1d(jnp.ones((2, 4, 5)), jnp.ones((4, 6, 3)), stride=2).shape
        (2, 6, 11)
    """
    return _conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
        "conv_transpose1d",
    )  # fmt: skip


@op(static=_CONV_T_STATIC)
def conv_transpose2d(
    input,  # noqa: A002 - PyTorch's name
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
):
    """2-D transposed convolution (sometimes called deconvolution): the gradient of `conv2d`
    with respect to its input.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW) (IOHW, as PyTorch).
        bias: (C_out,) or None.
        stride, padding, dilation: int or pair; `padding` removes `dilation·(k − 1) − padding`
            from each side of the full output.
        output_padding: extra rows/columns added at the bottom/right (each smaller than stride
            or dilation).
        groups: split the channels into this many independent convolutions.

    Shape:
        - input: (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        - output: (N, C_out, H_out, W_out) or (C_out, H_out, W_out), with
          H_out = (H_in − 1)·stride[0] − 2·padding[0] + dilation[0]·(kH − 1) + output_padding[0] + 1
          (W alike)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> x, w = jnp.ones((1, 8, 4, 4)), jnp.ones((8, 3, 4, 4))
        >>> F.conv_transpose2d(x, w, stride=2, padding=1).shape
        (1, 3, 8, 8)
    """
    return _conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
        "conv_transpose2d",
    )  # fmt: skip
