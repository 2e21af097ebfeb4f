"""Convolution kernels in PyTorch's layouts, chosen per call for XLA's CPU backend.

`conv_nd(x, w, stride, padding, dilation, groups)` computes what
`jax.lax.conv_general_dilated(x, w, stride, padding, rhs_dilation=dilation,
feature_group_count=groups)` does with (N, C, *spatial) / (O, I, *kernel) layouts, but on the CPU
backend it expresses some convolutions as other XLA operations that run faster there (measured
in `scripts/benchmarks/conv_cpu.py`, see docs/performance.md, "CPU convolutions"):

    "pointwise"  1×1 kernels, groups 1: pad and stride the input, then one matmul over channels
    "depthwise"  groups == C_in: Σ over the kernel taps of a shifted input view times that tap's
                 per-channel weight (elementwise; XLA fuses the sum into one loop)
    "im2col"     groups 1 and few input channels (C_in·prod(kernel) ≤ IM2COL_MAX_CONTRACTION):
                 the shifted views stacked, then one matmul
    "xla"        everything else, and every backend other than CPU: `conv_general_dilated`

All four compute the same sums; they differ in summation order only (float32 roundoff). The
choice depends on static shapes, the dtype and `jax.default_backend()`, so it is made once per
trace and costs nothing at run time. Dtypes other than float32/float64 always use "xla" (the
shifted-view sums would accumulate in bfloat16/float16), as do x and w of different dtypes.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["IMPLS", "choose_impl", "conv_nd"]

IMPLS = ("xla", "pointwise", "depthwise", "im2col")
# im2col contracts C_in · prod(kernel) values per output; measured break-even with XLA's
# convolution at about 25 (batch 64, 28×28; docs/performance.md, "CPU convolutions").
IM2COL_MAX_CONTRACTION = 25
MAX_TAPS = 64  # prod(kernel) for "depthwise" and "im2col": one slice per tap in the program
_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

Pads = tuple[tuple[int, int], ...]


def choose_impl(x_shape, w_shape, dtype, stride, padding: Pads, dilation, groups: int,
                backend: str | None = None) -> str:  # fmt: skip
    """The implementation `conv_nd` uses for these static arguments (one of `IMPLS`).

    `dtype` is the dtype of x and w (None when they differ: "xla", which rejects the mix as
    `conv_general_dilated` always did); `backend` defaults to `jax.default_backend()`.
    """
    backend = jax.default_backend() if backend is None else backend
    if backend != "cpu" or dtype is None or np.dtype(dtype) not in _FAST_DTYPES:
        return "xla"
    c_in, kernel = x_shape[1], tuple(w_shape[2:])
    taps = math.prod(kernel)
    if groups == 1 and taps == 1:
        return "pointwise"
    if taps > MAX_TAPS:
        return "xla"
    if groups == c_in and groups > 1:
        return "depthwise"
    if groups == 1 and c_in * taps <= IM2COL_MAX_CONTRACTION:
        return "im2col"
    return "xla"


def conv_nd(x, w, stride, padding: Pads, dilation, groups: int = 1, *, impl: str = "auto"):
    """N-d cross-correlation with PyTorch's layouts and semantics.

    Args:
        x: (N, C_in, *spatial).
        w: (C_out, C_in / groups, *kernel).
        stride, dilation: one positive int per spatial dim.
        padding: one (low, high) pair of non-negative ints per spatial dim (zero padding).
        groups: C_in and C_out are split into this many independent convolutions.
        impl: "auto" (`choose_impl`), or one of `IMPLS` to force it ("pointwise" needs a kernel
            of ones and groups 1, "depthwise" groups == C_in).

    Shape:
        - x: (N, C_in, *S_in)
        - w: (C_out, C_in / groups, *K)
        - output: (N, C_out, *S_out), with S_out = ⌊(S_in + low + high − dilation·(K − 1) − 1) /
          stride⌋ + 1 per dim

    Example:
        >>> import jax.numpy as jnp
        >>> conv_nd(jnp.ones((2, 3, 8, 8)), jnp.ones((4, 3, 3, 3)), (1, 1), ((1, 1),) * 2,
        ...         (1, 1)).shape
        (2, 4, 8, 8)
    """
    stride, dilation = tuple(stride), tuple(dilation)
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    if impl == "auto":
        dtype = x.dtype if x.dtype == w.dtype else None
        impl = choose_impl(x.shape, w.shape, dtype, stride, padding, dilation, groups)
    if impl == "xla":
        return _xla(x, w, stride, padding, dilation, groups)
    if impl == "pointwise":
        if groups != 1 or math.prod(w.shape[2:]) != 1:
            raise ValueError(f"impl='pointwise' needs a 1×1 kernel and groups 1, got {w.shape}.")
        return _pointwise(x, w, stride, padding)
    if impl == "depthwise":
        if groups != x.shape[1]:
            raise ValueError(
                f"impl='depthwise' needs groups == C_in, got groups {groups}, C_in {x.shape[1]}."
            )
        return _remat(_depthwise, x, w, stride, padding, dilation)
    if impl == "im2col":
        return _remat(_im2col, x, w, stride, padding, dilation, groups)
    raise ValueError(f"impl must be 'auto' or one of {IMPLS}, got {impl!r}.")


# ----------------------------------------------------------------------------- implementations
def _dimension_numbers(n: int) -> tuple[str, str, str]:
    spatial = "DHW"[-n:] if n <= 3 else "".join(chr(ord("a") + i) for i in range(n))
    return f"NC{spatial}", f"OI{spatial}", f"NC{spatial}"  # NCHW, OIHW, NCHW for n=2


def _xla(x, w, stride, padding, dilation, groups):
    return jax.lax.conv_general_dilated(
        x, w, stride, padding, rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(x.ndim - 2), feature_group_count=groups,
    )  # fmt: skip


def _out_size(spatial, kernel, stride, padding, dilation) -> tuple[int, ...]:
    return tuple(
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, k, st, (lo, hi), d in zip(spatial, kernel, stride, padding, dilation, strict=True)
    )


def _taps(x, kernel, stride, padding, dilation):
    """The prod(kernel) strided views of the zero-padded input, one per kernel offset in
    row-major order, each (N, C, *S_out): view t holds the inputs that kernel tap t multiplies."""
    out = _out_size(x.shape[2:], kernel, stride, padding, dilation)
    if any(lo or hi for lo, hi in padding):
        x = jnp.pad(x, ((0, 0), (0, 0), *padding))  # (N, C, *S_padded)
    views = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        start = [o * d for o, d in zip(offset, dilation, strict=True)]  # first input read
        limit = [b + (m - 1) * st + 1 for b, m, st in zip(start, out, stride, strict=True)]
        views.append(jax.lax.slice(x, (0, 0, *start), (*x.shape[:2], *limit), (1, 1, *stride)))
    return views


def _remat(impl, x, w, *static):
    """`impl` under `jax.checkpoint`: its backward pass keeps x and w, not the prod(kernel)
    shifted views (recomputing them is a few slices; measured free under jit)."""
    return jax.checkpoint(lambda x, w: impl(x, w, *static))(x, w)


def _pointwise(x, w, stride, padding):
    """1×1 kernel: (N, C_in, P) contracted with (C_out, C_in) over the channels."""
    (view,) = _taps(x, (1,) * (x.ndim - 2), stride, padding, (1,) * (x.ndim - 2))
    batch, c_in, *out = view.shape
    y = jnp.einsum("ncp,oc->nop", view.reshape(batch, c_in, -1), w.reshape(w.shape[0], c_in))
    return y.reshape(batch, w.shape[0], *out)  # (N, C_out, *S_out)


def _depthwise(x, w, stride, padding, dilation):
    """groups == C_in, m = C_out / C_in outputs per channel (output channel c·m + j reads input
    channel c): out[n, c, j] = Σ_t view_t[n, c] · w[c·m + j, 0, t]."""
    c_in, c_out = x.shape[1], w.shape[0]
    n = x.ndim - 2
    views = _taps(x, w.shape[2:], stride, padding, dilation)  # T × (N, C_in, *S_out)
    taps = w.reshape(c_in, c_out // c_in, len(views))  # (C_in, m, T)
    bcast = (1, c_in, c_out // c_in) + (1,) * n  # (1, C_in, m, 1, ...)
    out = None
    for t, view in enumerate(views):
        term = view[:, :, None] * taps[:, :, t].reshape(bcast)  # (N, C_in, m, *S_out)
        out = term if out is None else out + term
    return out.reshape(x.shape[0], c_out, *out.shape[3:])  # (N, C_out, *S_out)


def _im2col(x, w, stride, padding, dilation, groups):
    """Shifted views stacked to (N, G, C_in/G, T, P), contracted with (G, C_out/G, C_in/G, T)."""
    kernel = w.shape[2:]
    views = _taps(x, kernel, stride, padding, dilation)
    batch, c_in, *out = views[0].shape
    cols = jnp.stack([v.reshape(batch, c_in, -1) for v in views], axis=2)  # (N, C_in, T, P)
    cols = cols.reshape(batch, groups, c_in // groups, len(views), -1)  # (N, G, C_in/G, T, P)
    wg = w.reshape(groups, w.shape[0] // groups, c_in // groups, -1)  # (G, C_out/G, C_in/G, T)
    y = jnp.einsum("ngctp,goct->ngop", cols, wg)  # (N, G, C_out/G, P)
    return y.reshape(batch, w.shape[0], *out)  # (N, C_out, *S_out)
