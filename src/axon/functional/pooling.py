"""Pooling over the last 1 or 2 dims: pure jax on arrays, tape ops on Variables.

Max pools take each window's maximum with `reduce_window` (`lax.max`, which exports to ONNX
`MaxPool`) under a custom JVP that sends the gradient to one element per window exactly as in
PyTorch: the first maximum in the window (the last NaN, if any), found by a non-differentiable
arg-max op that gives PyTorch's flat indices into each input plane. `return_indices=True`
gathers the values at those indices instead.
Average pools sum with `jax.lax.reduce_window` and divide by PyTorch's divisor, computed from the
static shapes. Adaptive pools use `reduce_window` when the bins tile the input evenly and gather
each bin's elements (PyTorch's boundaries `floor(i·L/out)` to `ceil((i+1)·L/out)`) otherwise.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from axon import _errors
from axon.autograd.tape import op

_INPUT_FORMS = {1: "(N, C, L) or (C, L)", 2: "(N, C, H, W) or (C, H, W)"}


# ----------------------------------------------------------------------------- arguments
def _ints(where, name: str, value, n: int, *, low: int) -> tuple[int, ...]:
    """`value` (an int or n ints, each >= low) as a tuple of n ints."""
    items = value if isinstance(value, (tuple, list)) else (value,) * n
    ok = len(items) == n and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low for v in items
    )
    if not ok:
        kind = "positive" if low > 0 else "non-negative"
        many = "" if n == 1 else f" or a tuple of {n}"
        raise _errors.value_error(where, f"{name} must be a {kind} int{many}, got {value!r}.")
    return tuple(int(v) for v in items)


def pool_args(where, n: int, kernel_size, stride=None, padding=0, dilation=1):
    """Validate and canonicalise pooling hyper-parameters to tuples of `n` ints."""
    kernel = _ints(where, "kernel_size", kernel_size, n, low=1)
    # PyTorch reads an empty stride as "the kernel size" in the functional form
    stride = kernel if stride is None or stride == () or stride == [] else stride
    stride = _ints(where, "stride", stride, n, low=1)
    padding = _ints(where, "padding", padding, n, low=0)
    dilation = _ints(where, "dilation", dilation, n, low=1)
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise _errors.value_error(
            where,
            f"padding must be at most half of kernel_size, got padding={padding} with "
            f"kernel_size={kernel}.",
            "Use a larger kernel_size or less padding.",
        )
    return kernel, stride, padding, dilation


def _check_rank(where, input, n: int) -> None:  # noqa: A002
    if input.ndim not in (n + 1, n + 2):
        raise _errors.value_error(
            where,
            f"expected input of shape {_INPUT_FORMS[n]}, got {_errors.shape_str(input.shape)}.",
        )


def _out_len(length: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's output length: a ceil-mode window must start inside the input or left padding."""
    span = d * (k - 1) + 1
    out = (length + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    return out


def _out_shape(where, input, kernel, stride, padding, dilation, ceil_mode) -> tuple[int, ...]:  # noqa: A002
    n = len(kernel)
    spatial = tuple(input.shape[-n:])
    out = tuple(
        _out_len(L, k, s, p, d, ceil_mode)
        for L, k, s, p, d in zip(spatial, kernel, stride, padding, dilation, strict=True)
    )
    if min(out) < 1:
        span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
        raise _errors.value_error(
            where,
            f"the pooling window spans {span} elements, more than the padded input "
            f"(spatial size {spatial} with padding {padding}) of input "
            f"{_errors.shape_str(input.shape)}.",
            "Use a smaller kernel_size or dilation, more padding, or ceil_mode=True.",
        )
    return out


def _window(input, kernel, stride, padding, dilation, out):  # noqa: A002
    """`reduce_window` arguments: unit windows over the leading dims, PyTorch's padding on the
    left, and on the right as much as the last (ceil-mode) window needs."""
    lead = input.ndim - len(kernel)
    spatial = input.shape[lead:]
    pads = [
        (p, max(p, (o - 1) * s + d * (k - 1) + 1 - L - p))
        for L, k, s, p, d, o in zip(spatial, kernel, stride, padding, dilation, out, strict=True)
    ]
    return dict(
        window_dimensions=(1,) * lead + kernel,
        window_strides=(1,) * lead + stride,
        padding=((0, 0),) * lead + tuple(pads),
        window_dilation=(1,) * lead + dilation,
    )


def _index_dtype():
    return jnp.asarray(0).dtype  # int32, or int64 under jax_enable_x64 (PyTorch's int64)


def _lowest(dtype):
    return -jnp.inf if jnp.issubdtype(dtype, jnp.inexact) else jnp.iinfo(dtype).min


def _wide(x):
    return x.astype(jnp.float32) if x.dtype in (jnp.float16, jnp.bfloat16) else x


# ----------------------------------------------------------------------------- max pooling
def _first_max(a, b):
    """Pick between two (value, index) pairs as PyTorch's scan does: a NaN beats a number and a
    later NaN an earlier one; otherwise the larger value wins and, among equals, the earlier."""
    (va, ia), (vb, ib) = a, b
    na, nb = jnp.isnan(va), jnp.isnan(vb)
    take_a = jnp.where(na | nb, na & (~nb | (ia > ib)), (va > vb) | ((va == vb) & (ia < ib)))
    return jnp.where(take_a, va, vb), jnp.where(take_a, ia, ib)


def _plane_index(shape, n: int):
    """Each element's flat index within its plane (the last n dims), e.g. h·W + w."""
    dtype = _index_dtype()
    index = jnp.zeros(shape, dtype)
    for axis in range(len(shape) - n, len(shape)):
        index = index * shape[axis] + lax.broadcasted_iota(dtype, shape, axis)
    return index


@op(static=("kernel", "stride", "padding", "dilation", "out"), differentiable=False)
def _max_pool_indices(input, kernel, stride, padding, dilation, out):  # noqa: A002
    input = lax.stop_gradient(input)  # noqa: A001 - indices carry no gradient
    plane = math.prod(input.shape[-len(kernel) :])
    _, index = lax.reduce_window(
        (input, _plane_index(input.shape, len(kernel))),
        (jnp.asarray(_lowest(input.dtype), input.dtype), jnp.asarray(plane, _index_dtype())),
        _first_max,
        **_window(input, kernel, stride, padding, dilation, out),
    )
    return index


def _take_plane(input, indices, n: int, fill):  # noqa: A002
    """input[..., indices] within each plane of the last n dims: (*, *S_in), (*, *S_out)."""
    lead = input.shape[:-n]
    flat = input.reshape(lead + (-1,))  # (*, prod(S_in))
    picked = jnp.take_along_axis(
        flat, indices.reshape(lead + (-1,)), axis=-1, mode="fill", fill_value=fill
    )  # (*, prod(S_out))
    return picked.reshape(indices.shape)


@op(static=("n",))
def _gather_plane(input, indices, n):  # noqa: A002
    return _take_plane(input, indices, n, _lowest(input.dtype))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4, 5))
def _max_pool_values(input, kernel, stride, padding, dilation, out):  # noqa: A002
    # one leading dim: ONNX MaxPool (what this exports to) pools over at most 3 dims
    planes = input.reshape((-1,) + input.shape[-len(kernel) :])  # (N·C, *S_in)
    init = jnp.asarray(_lowest(input.dtype), input.dtype)
    pooled = lax.reduce_window(
        planes, init, lax.max, **_window(planes, kernel, stride, padding, dilation, out)
    )  # (N·C, *S_out)
    return pooled.reshape(input.shape[: -len(kernel)] + pooled.shape[1:])


@_max_pool_values.defjvp
def _max_pool_values_jvp(kernel, stride, padding, dilation, out, primals, tangents):
    """The tangent of the first maximum of each window (PyTorch's gradient), not XLA's choice."""
    (input,), (tangent,) = primals, tangents  # noqa: A001
    indices = _max_pool_indices.raw(input, kernel, stride, padding, dilation, out)
    n = len(kernel)  # the values at the indices: one window pass when differentiating, not two
    return _take_plane(input, indices, n, _lowest(input.dtype)), _take_plane(tangent, indices, n, 0)


@op(static=("kernel", "stride", "padding", "dilation", "out"))
def _max_pool(input, kernel, stride, padding, dilation, out):  # noqa: A002
    return _max_pool_values(input, kernel, stride, padding, dilation, out)


def max_pool_nd(
    input,  # noqa: A002
    n: int,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    *,
    where,
):
    """Max pooling over the last `n` dims; `where` names the caller in error messages."""
    kernel, stride, padding, dilation = pool_args(where, n, kernel_size, stride, padding, dilation)
    _check_rank(where, input, n)
    out = _out_shape(where, input, kernel, stride, padding, dilation, bool(ceil_mode))
    if not return_indices:
        return _max_pool(input, kernel, stride, padding, dilation, out)
    indices = _max_pool_indices(input, kernel, stride, padding, dilation, out)
    return _gather_plane(input, indices, n), indices


def max_pool1d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """The maximum over each window of the last dim, with -inf padding.

    Shape:
        - input: (N, C, L_in) or (C, L_in)
        - output: (N, C, L_out) or (C, L_out), L_out = ⌊(L_in + 2·padding − dilation·(kernel_size
          − 1) − 1) / stride⌋ + 1 (⌈·⌉ with ceil_mode, keeping the last window's start inside
          the input or left padding)
        - indices (return_indices): like output, positions along L_in

    Note:
        Indices have jax's default integer dtype: int32, or PyTorch's int64 under
        `jax_enable_x64`. Their values equal PyTorch's.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.max_pool1d(jnp.ones((2, 3, 8)), 2).shape
        (2, 3, 4)
    """
    return max_pool_nd(
        input, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
        where="axon.functional.max_pool1d",
    )  # fmt: skip


def max_pool2d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """The maximum over each window of the last two dims, with -inf padding.

    Shape:
        - input: (N, C, H_in, W_in) or (C, H_in, W_in)
        - output: (N, C, H_out, W_out) or (C, H_out, W_out), each size as in `max_pool1d`
        - indices (return_indices): like output, flat positions h·W_in + w in each plane

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.max_pool2d(jnp.ones((2, 3, 8, 8)), 2).shape
        (2, 3, 4, 4)
    """
    return max_pool_nd(
        input, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
        where="axon.functional.max_pool2d",
    )  # fmt: skip


# ----------------------------------------------------------------------------- average pooling
def _divisor(spatial, kernel, stride, padding, out, count_include_pad, divisor_override):
    """PyTorch's divisor per output position: the window's size clipped to the padded input
    (count_include_pad) or to the input itself; a ceil-mode overhang never counts."""
    if divisor_override is not None:
        return np.asarray(divisor_override)
    divisor = np.ones((), np.int64)
    for L, k, s, p, o in zip(spatial, kernel, stride, padding, out, strict=True):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, L + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, L)
        divisor = np.multiply.outer(divisor, end - start)
    return divisor


@op(static=("kernel", "stride", "padding", "out", "count_include_pad", "divisor_override"))
def _avg_pool(input, kernel, stride, padding, out, count_include_pad, divisor_override):  # noqa: A002
    x = _wide(input)
    ones = (1,) * len(kernel)
    total = lax.reduce_window(
        x, np.zeros((), x.dtype), lax.add, **_window(x, kernel, stride, padding, ones, out)
    )
    spatial = input.shape[-len(kernel) :]
    divisor = _divisor(
        spatial, kernel, stride, padding, out, count_include_pad, divisor_override
    ).astype(np.float64)
    return (total / jnp.asarray(divisor, x.dtype)).astype(input.dtype)


def avg_pool_nd(
    input,  # noqa: A002
    n: int,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
    *,
    where,
):
    """Average pooling over the last `n` dims; `where` names the caller in error messages."""
    kernel, stride, padding, ones = pool_args(where, n, kernel_size, stride, padding)
    if divisor_override is not None:
        _ints(where, "divisor_override", divisor_override, 1, low=1)
        divisor_override = int(divisor_override)
    _check_rank(where, input, n)
    out = _out_shape(where, input, kernel, stride, padding, ones, bool(ceil_mode))
    return _avg_pool(input, kernel, stride, padding, out, bool(count_include_pad), divisor_override)


def avg_pool1d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
):
    """The mean over each window of the last dim, with zero padding.

    The divisor is the window size clipped to the padded input (count_include_pad=True) or to the
    input itself (False); the part of a ceil_mode window past the padding never counts.

    Shape:
        - input: (N, C, L_in) or (C, L_in)
        - output: (N, C, L_out) or (C, L_out), L_out as in `max_pool1d` with dilation 1

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.avg_pool1d(jnp.ones((2, 3, 8)), 3, 2, 1).shape
        (2, 3, 4)
    """
    return avg_pool_nd(
        input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad,
        where="axon.functional.avg_pool1d",
    )  # fmt: skip


def avg_pool2d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
):
    """The mean over each window of the last two dims, with zero padding (divisor as in
    `avg_pool1d`, or `divisor_override` when given).

    Shape:
        - input: (N, C, H_in, W_in) or (C, H_in, W_in)
        - output: (N, C, H_out, W_out) or (C, H_out, W_out)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.avg_pool2d(jnp.ones((2, 3, 8, 8)), 2).shape
        (2, 3, 4, 4)
    """
    return avg_pool_nd(
        input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
        where="axon.functional.avg_pool2d",
    )  # fmt: skip


# ----------------------------------------------------------------------------- adaptive pooling
def _bins(length: int, size: int):
    """PyTorch's adaptive bins: [floor(i·L/size), ceil((i+1)·L/size)) for i < size."""
    i = np.arange(size)
    return (i * length) // size, -((-(i + 1) * length) // size)


def _bin_members(length: int, size: int):
    """(size, k) indices of each bin's elements, k the largest bin, the shorter bins padded by
    repeating their last element; and (size, k) True where the element is not a repeat."""
    start, end = _bins(length, size)
    offsets = np.arange(int((end - start).max()))
    members = start[:, None] + offsets  # (size, k)
    return np.minimum(members, end[:, None] - 1), members < end[:, None]


def check_output_size(where, n: int, output_size) -> tuple:
    """`output_size` as n entries, each a positive int or None (keep that input size)."""
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * n
    ok = len(sizes) == n and all(
        s is None or (isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0)
        for s in sizes
    )
    if not ok:
        many = "" if n == 1 else f", or a tuple of {n} positive ints or None"
        raise _errors.value_error(
            where, f"output_size must be a positive int{many}, got {output_size!r}."
        )
    return tuple(sizes)


def adaptive_output_size(where, input, n: int, output_size) -> tuple[int, ...]:  # noqa: A002
    """The output's spatial size: `output_size` with each None replaced by the input's size."""
    sizes = check_output_size(where, n, output_size)
    _check_rank(where, input, n)
    spatial = tuple(input.shape[-n:])
    if min(spatial) < 1:
        raise _errors.value_error(
            where, f"expected non-empty spatial dims, got input {_errors.shape_str(input.shape)}."
        )
    return tuple(L if s is None else int(s) for s, L in zip(sizes, spatial, strict=True))


def _adaptive_mean_along(x, axis: int, size: int):
    """Mean over each adaptive bin along one axis: a strided window sum when the bins tile the
    axis evenly, a gather of each bin's members otherwise."""
    length = x.shape[axis]
    if length % size == 0:
        k = length // size
        window = tuple(k if a == axis else 1 for a in range(x.ndim))
        return lax.reduce_window(x, np.zeros((), x.dtype), lax.add, window, window, "VALID") / k
    members, real = _bin_members(length, size)  # (size, k)
    weights = real / real.sum(axis=1, keepdims=True)  # 1/|bin| for real members, 0 for repeats
    gathered = jnp.take(x, jnp.asarray(members), axis=axis)  # (..., size, k, ...)
    shape = (1,) * axis + weights.shape + (1,) * (x.ndim - axis - 1)
    return jnp.sum(gathered * jnp.asarray(weights.reshape(shape), x.dtype), axis=axis + 1)


@op(static=("output_size",))
def _adaptive_avg_pool(input, output_size):  # noqa: A002
    x = _wide(input)
    n = len(output_size)
    for axis, size in zip(range(x.ndim - n, x.ndim), output_size, strict=True):
        x = _adaptive_mean_along(x, axis, size)  # a bin's mean is the mean of its rows' means
    return x.astype(input.dtype)


@op(static=("output_size",), differentiable=False)
def _adaptive_max_indices(input, output_size):  # noqa: A002
    input = lax.stop_gradient(input)  # noqa: A001 - indices carry no gradient
    n = len(output_size)
    spatial = input.shape[-n:]
    if all(L % s == 0 for L, s in zip(spatial, output_size, strict=True)):
        kernel = tuple(L // s for L, s in zip(spatial, output_size, strict=True))
        ones, zeros = (1,) * n, (0,) * n
        return _max_pool_indices.raw(input, kernel, kernel, zeros, ones, output_size)
    # window[o_1, ..., o_n, j]: flat plane index of the j-th member of bin (o_1, ..., o_n)
    window = np.zeros((), np.int64)
    for L, size in zip(spatial, output_size, strict=True):
        members, _ = _bin_members(L, size)  # (size, k); repeats do not change a maximum
        window = window[..., None, None] * L + members  # (..., size, k)
    window = window.transpose(*range(0, 2 * n, 2), *range(1, 2 * n, 2))  # (*S_out, *k)
    window = jnp.asarray(window.reshape(output_size + (-1,)), _index_dtype())  # (*S_out, K)
    lead = input.shape[:-n]
    values = jnp.take(input.reshape(lead + (-1,)), window, axis=-1)  # (*, *S_out, K)
    index = jnp.broadcast_to(window, values.shape)
    plane = math.prod(spatial)  # an index past every real one, so it never wins a tie
    init = (jnp.asarray(_lowest(input.dtype), input.dtype), jnp.asarray(plane, index.dtype))
    _, best = lax.reduce((values, index), init, _first_max, (values.ndim - 1,))
    return best


def adaptive_avg_pool_nd(input, n: int, output_size, *, where):  # noqa: A002
    """Adaptive average pooling over the last `n` dims; `where` names the caller in errors."""
    return _adaptive_avg_pool(input, adaptive_output_size(where, input, n, output_size))


def adaptive_max_pool_nd(input, n: int, output_size, return_indices=False, *, where):  # noqa: A002
    """Adaptive max pooling over the last `n` dims; `where` names the caller in errors."""
    indices = _adaptive_max_indices(input, adaptive_output_size(where, input, n, output_size))
    values = _gather_plane(input, indices, n)
    return (values, indices) if return_indices else values


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    """The mean over `output_size` bins of the last dim; bin i covers [⌊i·L/out⌋, ⌈(i+1)·L/out⌉).

    Shape:
        - input: (N, C, L_in) or (C, L_in)
        - output: (N, C, output_size) or (C, output_size)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.adaptive_avg_pool1d(jnp.ones((2, 3, 10)), 4).shape
        (2, 3, 4)
    """
    return adaptive_avg_pool_nd(input, 1, output_size, where="axon.functional.adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """The mean over an (H_out, W_out) grid of bins, each dim binned as `adaptive_avg_pool1d`.

    Shape:
        - input: (N, C, H_in, W_in) or (C, H_in, W_in)
        - output: (N, C, H_out, W_out) or (C, H_out, W_out); output_size is an int, or a pair
          whose None entries keep that input size

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.adaptive_avg_pool2d(jnp.ones((2, 3, 7, 9)), (None, 2)).shape
        (2, 3, 7, 2)
    """
    return adaptive_avg_pool_nd(input, 2, output_size, where="axon.functional.adaptive_avg_pool2d")


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):  # noqa: A002
    """The maximum over `output_size` bins of the last dim (bins as in `adaptive_avg_pool1d`).

    Shape:
        - input: (N, C, L_in) or (C, L_in)
        - output, indices (return_indices): (N, C, output_size) or (C, output_size)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.adaptive_max_pool1d(jnp.ones((2, 3, 10)), 4).shape
        (2, 3, 4)
    """
    return adaptive_max_pool_nd(
        input, 1, output_size, return_indices, where="axon.functional.adaptive_max_pool1d"
    )


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):  # noqa: A002
    """The maximum over an (H_out, W_out) grid of bins (as in `adaptive_avg_pool2d`); indices
    are flat positions h·W_in + w in each plane.

    Shape:
        - input: (N, C, H_in, W_in) or (C, H_in, W_in)
        - output, indices (return_indices): (N, C, H_out, W_out) or (C, H_out, W_out)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.adaptive_max_pool2d(jnp.ones((2, 3, 7, 9)), 3).shape
        (2, 3, 3, 3)
    """
    return adaptive_max_pool_nd(
        input, 2, output_size, return_indices, where="axon.functional.adaptive_max_pool2d"
    )
