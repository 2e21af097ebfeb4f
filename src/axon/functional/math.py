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


@op(static=("exponent",), name="pow")
def _pow_number(x, exponent):
    return jnp.power(x, exponent)


@op(name="pow")
def _pow_array(x, exponent):
    return jnp.power(x, exponent)


def pow(x, exponent):  # noqa: A001 - PyTorch's name
    """`x ** exponent`. A Python-number exponent is static (integer powers stay exact, as
    `lax.integer_pow`); an array or Variable exponent is an input (and differentiable)."""
    if isinstance(exponent, (int, float)) and not isinstance(x, (int, float)):
        return _pow_number(x, exponent)
    return _pow_array(x, exponent)


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


@jax.custom_jvp
def _abs(x):
    return jnp.abs(x)


@_abs.defjvp
def _abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    if jnp.iscomplexobj(x):  # d|x| = Re(conj(x) dx) / |x|, and 0 at x = 0 (PyTorch's sgn rule)
        r = jnp.abs(x)
        safe = jnp.where(r == 0, 1, r)
        return r, jnp.where(r == 0, 0, jnp.real(jnp.conj(x) * t) / safe).astype(r.dtype)
    return jnp.abs(x), jnp.sign(x) * t  # sign(0) = 0: PyTorch's subgradient at the kink


@op
def abs(x):  # noqa: A001
    """|x|; the gradient at 0 is 0, as PyTorch's (jax's own abs gives 1 there)."""
    return _abs(x)


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


def _take_at(x, indices, dim, keepdim):
    values = jnp.take_along_axis(x, jnp.expand_dims(indices, dim), axis=dim)
    return values if keepdim else jnp.squeeze(values, dim)


# PyTorch's `max(dim)` sends the gradient to the one index it returns (the first of tied values),
# while `amax` and the full `max()` share it evenly between ties; so the values along `dim` are
# gathered at the arg-max rather than reduced with jnp.max.
@op(static=("dim", "keepdim"), name="max")
def _max_values(x, dim, keepdim=False):
    return _take_at(x, jnp.argmax(x, axis=dim), dim, keepdim)


@op(static=("dim", "keepdim"), name="min")
def _min_values(x, dim, keepdim=False):
    return _take_at(x, jnp.argmin(x, axis=dim), dim, keepdim)


def max_with_indices(x, dim=None, keepdim=False):
    """PyTorch's `max`: the largest element, or `(values, indices)` along `dim`."""
    if dim is None:
        return amax(x)
    return _max_values(x, dim, keepdim), argmax(x, dim, keepdim)


def min_with_indices(x, dim=None, keepdim=False):
    """PyTorch's `min`: the smallest element, or `(values, indices)` along `dim`."""
    if dim is None:
        return amin(x)
    return _min_values(x, dim, keepdim), argmin(x, dim, keepdim)


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
    if start > end:
        raise ValueError(
            f"axon.functional.flatten: start_dim={start_dim} comes after end_dim={end_dim} "
            f"for an input of rank {x.ndim}."
        )
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
def _cat(*tensors, dim=0):
    return jnp.concatenate(tensors, axis=dim)


def cat(tensors, dim=0):
    """Concatenate a sequence of arrays or Variables along `dim` (one tape op for all)."""
    return _cat(*tensors, dim=dim)


@op(static=("dim",))
def _stack(*tensors, dim=0):
    return jnp.stack(tensors, axis=dim)


def stack(tensors, dim=0):
    """Stack a sequence of arrays or Variables along a new `dim` (one tape op for all)."""
    return _stack(*tensors, dim=dim)


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
        else:  # an array, list or Variable of indices, or a boolean mask
            if isinstance(part, (list, tuple)):
                part = np.asarray(part)
            data = getattr(part, "data", part) if hasattr(part, "_node") else part
            if getattr(data, "dtype", None) == jnp.bool_ and not isinstance(data, jax.core.Tracer):
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


@op(static=("template",), name="getitem")
def _getitem(x, template, arrays):
    return x[_decode_index(template, arrays)]


def _dims_indexed(part) -> int:
    """How many dimensions of the indexed array one part of an index consumes."""
    if part is None or isinstance(part, bool):
        return 0
    dtype = getattr(part, "dtype", None)
    if dtype == np.bool_:
        return part.ndim
    return 1


def _check_int_bounds(index, shape) -> None:
    """Raise IndexError for an out-of-range integer, as PyTorch does (jax would clamp it)."""
    parts = index if isinstance(index, tuple) else (index,)
    consumed = builtins.sum(_dims_indexed(p) for p in parts if p is not Ellipsis)
    if consumed > len(shape):
        raise IndexError(
            f"axon.Variable: too many indices: the Variable is {len(shape)}-dimensional, "
            f"but {consumed} were indexed."
        )
    dim = 0
    for part in parts:
        if part is Ellipsis:
            dim += len(shape) - consumed
            continue
        if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
            if not -shape[dim] <= part < shape[dim]:
                raise IndexError(
                    f"axon.Variable: index {part} is out of bounds for dimension {dim} "
                    f"with size {shape[dim]}."
                )
        dim += _dims_indexed(part)


def getitem(x, index):
    """`x[index]` with PyTorch/numpy semantics: ints, slices, None, ..., integer and bool arrays.

    On a Variable an out-of-range integer raises IndexError, as in PyTorch; on arrays this is
    jax indexing (which clamps).
    """
    if hasattr(x, "_node"):
        _check_int_bounds(index, x.shape)
    template, arrays = _encode_index(index)
    arrays = [a.data if hasattr(a, "_node") and not a.requires_grad else a for a in arrays]
    return _getitem(x, template, arrays)
