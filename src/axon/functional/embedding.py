"""Embedding lookup: pure jax on arrays, one tape op on Variables."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors
from axon.autograd.tape import op
from axon.autograd.variable import Variable

_WHERE = "axon.functional.embedding"


def _indices(input, num: int):  # noqa: A002
    """int32/int64 indices with negatives moved out of range (PyTorch rejects them; jax would
    wrap them around)."""
    idx = input if input.dtype in (jnp.int32, jnp.int64) else input.astype(jnp.int32)
    return jnp.where(idx < 0, num, idx)


@op(static=("padding_idx", "scale_grad_by_freq"), name="embedding")
def _embedding(input, weight, padding_idx, scale_grad_by_freq):  # noqa: A002
    num = weight.shape[0]
    idx = _indices(input, num)
    # weight[idx] (*, D), NaN rows for bad indices; `.at[].get`, not jnp.take, which jax2onnx
    # (axon.onnx.export) replaces with a version that takes no fill_value
    out = weight.at[idx].get(mode="fill", fill_value=jnp.nan)
    if padding_idx is None and not scale_grad_by_freq:
        return out
    factor = jnp.ones(idx.shape, weight.dtype)  # how much gradient each lookup passes back
    if scale_grad_by_freq:
        counts = jnp.zeros(num, weight.dtype).at[idx].add(1, mode="drop")
        factor = 1 / counts.at[idx].get(mode="fill", fill_value=1)
    if padding_idx is not None:
        factor = jnp.where(idx == padding_idx, jnp.zeros((), weight.dtype), factor)
    fixed = jax.lax.stop_gradient(out)
    return fixed + (out - fixed) * factor[..., None]  # the value of `out`, the gradient scaled


@functools.partial(jax.jit, static_argnames=("max_norm", "norm_type"))
def _renorm(weight, input, max_norm, norm_type):  # noqa: A002
    num = weight.shape[0]
    referenced = jnp.zeros(num, bool).at[_indices(input, num)].set(True, mode="drop")
    norms = jnp.linalg.norm(weight, ord=norm_type, axis=1)
    scale = jnp.where(referenced & (norms > max_norm), max_norm / (norms + 1e-7), 1.0)
    return weight * scale[:, None].astype(weight.dtype)


def embedding_checked(
    where,
    input,  # noqa: A002
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type=2.0,
    scale_grad_by_freq=False,
):
    """`embedding` on behalf of `where` (a module or a name), which its errors name."""
    if not isinstance(input, (Variable, jax.Array)) and not hasattr(input, "__array__"):
        raise _errors.type_error(
            where, f"expected an integer array of indices, got {type(input).__name__}."
        )
    input = input if isinstance(input, Variable) else jnp.asarray(input)  # noqa: A001
    if not jnp.issubdtype(input.dtype, jnp.integer):
        raise _errors.type_error(
            where,
            f"expected integer indices, got dtype {input.dtype}.",
            "Convert them with .astype(jnp.int32).",
        )
    if weight.ndim != 2:
        raise _errors.value_error(
            where,
            f"expected a 2-D weight (num_embeddings, embedding_dim), got "
            f"{_errors.shape_str(weight.shape)}.",
        )
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise _errors.value_error(
                where, f"padding_idx must be in [-{num}, {num}), got {padding_idx}."
            )
        padding_idx = padding_idx % num
    data = input.data if isinstance(input, Variable) else input
    if not isinstance(data, jax.core.Tracer) and data.size:  # eager: check on the host
        host = np.asarray(data)
        low, high = int(host.min()), int(host.max())
        if low < 0 or high >= num:
            bad = low if low < 0 else high
            raise IndexError(
                _errors.message(
                    where,
                    f"index {bad} is out of range for {num} embeddings (valid: 0 to {num - 1}).",
                )
            )
    if max_norm is not None:
        w = weight.data if isinstance(weight, Variable) else weight
        renormed = _renorm(w, data, max_norm=float(max_norm), norm_type=float(norm_type))
        if isinstance(weight, Variable):
            weight.data = renormed  # in place, as PyTorch (not recorded for backward)
        else:
            weight = renormed
    return _embedding(input, weight, padding_idx, bool(scale_grad_by_freq))


def embedding(
    input,  # noqa: A002
    weight,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
):
    """Rows of `weight` picked by integer indices: out[..., :] = weight[input[...], :].

    Args:
        input: integer indices into the rows of `weight`.
        weight: the table (num_embeddings, embedding_dim).
        padding_idx: the row of this index gets no gradient (a negative index counts from the
            end).
        max_norm: before the lookup, every row that `input` references whose `norm_type`-norm
            exceeds `max_norm` is scaled to norm `max_norm` (by max_norm / (norm + 1e-7), as
            PyTorch). A Variable or Parameter weight is updated in place (its `.data` is
            rebound, outside the tape); a plain array cannot be, so only the result reflects it.
        norm_type: the p of the p-norm for `max_norm`.
        scale_grad_by_freq: divide each row's gradient by how often its index occurs in `input`.
        sparse: accepted for PyTorch compatibility; gradients are always dense arrays (their
            values are the same).

    Shape:
        - input: (*), integers in [0, num_embeddings)
        - weight: (num_embeddings, embedding_dim)
        - output: (*, embedding_dim)

    Raises:
        IndexError: in eager mode, for an index outside [0, num_embeddings).
        TypeError: for non-integer indices.

    Note:
        Under `jax.jit`/`axon.jit` the indices are not known when tracing, so nothing can be
        raised: an out-of-range index (negative ones included) gives a row of NaN, and its
        gradient is dropped. PyTorch raises in both modes.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.embedding(jnp.array([[0, 2], [1, 1]]), jnp.ones((3, 4))).shape
        (2, 2, 4)
    """
    del sparse
    return embedding_checked(
        _WHERE, input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq
    )
