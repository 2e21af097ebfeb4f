"""Tensor ops with PyTorch's names and signatures, as tape ops.

On arrays each is plain jax; on Variables each is one compiled kernel with its VJP (see
`axon.autograd.tape`). `Variable`'s operators and methods call these.
"""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp
import numpy as np

from axon.autograd.tape import op


def _axis(dim):
    return tuple(dim) if isinstance(dim, list) else dim


@op
def add(a, b):
    return jnp.add(a, b)


@op
def sub(a, b):
    return jnp.subtract(a, b)


@op
def mul(a, b):
    return jnp.multiply(a, b)


@op
def div(a, b):
    return jnp.true_divide(a, b)


@op
def neg(x):
    return jnp.negative(x)


@op(static=("exponent",))
def pow(x, exponent):  # noqa: A001 - PyTorch's name
    """`x ** exponent`; a Python-number exponent is static (integer powers stay exact)."""
    return jnp.power(x, exponent)


@op
def matmul(a, b):
    return jnp.matmul(a, b)


@op
def exp(x):
    return jnp.exp(x)


@op
def log(x):
    return jnp.log(x)


@op
def sqrt(x):
    return jnp.sqrt(x)


@op
def abs(x):  # noqa: A001
    return jnp.abs(x)


@op
def sin(x):
    return jnp.sin(x)


@op
def cos(x):
    return jnp.cos(x)


@op(static=("min", "max"))
def clamp(x, min=None, max=None):  # noqa: A002
    """Values outside [min, max] are clipped; their gradient is zero (as PyTorch)."""
    if min is not None:
        x = jnp.where(x < min, jnp.asarray(min, x.dtype), x)
    if max is not None:
        x = jnp.where(x > max, jnp.asarray(max, x.dtype), x)
    return x


@op(static=("dim", "keepdim"))
def sum(x, dim=None, keepdim=False):  # noqa: A001
    return jnp.sum(x, axis=_axis(dim), keepdims=keepdim)


@op(static=("dim", "keepdim"))
def mean(x, dim=None, keepdim=False):
    return jnp.mean(x, axis=_axis(dim), keepdims=keepdim)


@op(static=("dim", "unbiased", "keepdim"))
def var(x, dim=None, unbiased=True, keepdim=False):
    return jnp.var(x, axis=_axis(dim), ddof=int(unbiased), keepdims=keepdim)


@op(static=("dim", "unbiased", "keepdim"))
def std(x, dim=None, unbiased=True, keepdim=False):
    return jnp.std(x, axis=_axis(dim), ddof=int(unbiased), keepdims=keepdim)


@op(static=("dim", "keepdim"))
def amax(x, dim=None, keepdim=False):
    return jnp.max(x, axis=_axis(dim), keepdims=keepdim)


@op(static=("dim", "keepdim"))
def amin(x, dim=None, keepdim=False):
    return jnp.min(x, axis=_axis(dim), keepdims=keepdim)


@op(static=("dim", "keepdim"), differentiable=False)
def argmax(x, dim=None, keepdim=False):
    return jnp.argmax(x, axis=dim, keepdims=keepdim)


@op(static=("dim", "keepdim"), differentiable=False)
def argmin(x, dim=None, keepdim=False):
    return jnp.argmin(x, axis=dim, keepdims=keepdim)


def max_with_indices(x, dim=None, keepdim=False):
    """PyTorch's `max`: the largest element, or `(values, indices)` along `dim`."""
    if dim is None:
        return amax(x)
    return amax(x, dim, keepdim), argmax(x, dim, keepdim)


def min_with_indices(x, dim=None, keepdim=False):
    if dim is None:
        return amin(x)
    return amin(x, dim, keepdim), argmin(x, dim, keepdim)


@op(static=("shape",))
def reshape(x, shape):
    return jnp.reshape(x, shape)


@op(static=("dim0", "dim1"))
def transpose(x, dim0, dim1):
    return jnp.swapaxes(x, dim0, dim1)


@op(static=("dims",))
def permute(x, dims):
    return jnp.transpose(x, dims)


@op(static=("start_dim", "end_dim"))
def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return x.reshape(1)
    start = start_dim % x.ndim
    end = end_dim % x.ndim
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1 :])


@op(static=("dim",))
def squeeze(x, dim=None):
    if dim is None:
        return jnp.squeeze(x)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = tuple(d for d in dims if x.shape[d] == 1)  # PyTorch ignores non-1 dims
    return jnp.squeeze(x, dims) if dims else x


@op(static=("dim",))
def unsqueeze(x, dim):
    return jnp.expand_dims(x, dim if dim >= 0 else dim + x.ndim + 1)


@op(static=("shape",))
def expand(x, shape):
    lead = len(shape) - x.ndim
    full = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    return jnp.broadcast_to(x, full)


@op(static=("dtype",))
def astype(x, dtype):
    return x.astype(dtype)


@op(static=("dim",))
def cat(tensors, dim=0):
    return jnp.concatenate(tensors, axis=dim)


@op(static=("dim",))
def stack(tensors, dim=0):
    return jnp.stack(tensors, axis=dim)


@op
def where(condition, x, y):
    return jnp.where(condition, x, y)


@op
def maximum(a, b):
    return jnp.maximum(a, b)


@op
def minimum(a, b):
    return jnp.minimum(a, b)


# comparisons: no gradient
@op(differentiable=False)
def lt(a, b):
    return jnp.less(a, b)


@op(differentiable=False)
def le(a, b):
    return jnp.less_equal(a, b)


@op(differentiable=False)
def gt(a, b):
    return jnp.greater(a, b)


@op(differentiable=False)
def ge(a, b):
    return jnp.greater_equal(a, b)


@op(differentiable=False)
def eq(a, b):
    return jnp.equal(a, b)


@op(differentiable=False)
def ne(a, b):
    return jnp.not_equal(a, b)


# indexing: slices are not hashable before Python 3.12, so the index is encoded first
def _encode_index(index):
    """Split an index into a hashable static template and its array parts."""
    if not isinstance(index, tuple):
        index = (index,)
    template, arrays = [], []
    for part in index:
        if isinstance(part, slice):
            template.append(("slice", part.start, part.stop, part.step))
        elif part is None or part is Ellipsis or isinstance(part, (int, np.integer)):
            template.append(("item", part if not isinstance(part, np.integer) else int(part)))
        elif isinstance(part, (list, tuple)):
            template.append(("array",))
            arrays.append(jnp.asarray(part))
        else:  # an array or Variable of indices, or a boolean mask
            data = getattr(part, "data", part) if hasattr(part, "_node") else part
            if getattr(data, "dtype", None) == bool and not isinstance(data, jax.core.Tracer):
                # a concrete mask becomes integer indices, so the kernel has static shapes
                nonzero = np.nonzero(np.asarray(data))
                template.extend([("array",)] * len(nonzero))
                arrays.extend(jnp.asarray(i) for i in nonzero)
                continue
            template.append(("array",))
            arrays.append(part)
    return tuple(template), arrays


def _decode_index(template, arrays):
    it = iter(arrays)
    parts = []
    for entry in template:
        if entry[0] == "slice":
            parts.append(builtins.slice(*entry[1:]))
        elif entry[0] == "item":
            parts.append(entry[1])
        else:
            parts.append(next(it))
    return tuple(parts)


@op(static=("template",))
def _getitem(x, template, arrays):
    return x[_decode_index(template, arrays)]


def getitem(x, index):
    """`x[index]` with PyTorch/numpy semantics: ints, slices, None, ..., integer and bool arrays."""
    template, arrays = _encode_index(index)
    arrays = [a.data if hasattr(a, "_node") and not a.requires_grad else a for a in arrays]
    return _getitem(x, template, arrays)
