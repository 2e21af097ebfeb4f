"""`axon.nn.utils`: gradient clipping and flat parameter vectors, as `torch.nn.utils`.

Each function is one compiled computation over all the gradients (cached on their shapes, with
the thresholds as dynamic arguments), and works unchanged on traced values inside `axon.jit`,
`jax.jit` or `jax.grad`. "In place" means the `.grad` (or `.data`) of each Variable is rebound
to a new array: jax arrays are immutable.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Iterable, Mapping

import jax
import jax.numpy as jnp

from axon._errors import type_error, value_error
from axon.autograd import Variable

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "parameters_to_vector",
    "vector_to_parameters",
]

_Tracer = jax.core.Tracer


def _any_tracer(tree) -> bool:
    return any(isinstance(x, _Tracer) for x in jax.tree.leaves(tree))


def _type_name(value) -> str:
    return "jax.Array" if isinstance(value, jax.Array) else type(value).__name__


def _as_variables(parameters, where: str) -> list[Variable]:
    """A list of Variables from one Variable, an iterable of them, or a `{name: Variable}`."""
    if isinstance(parameters, Variable):
        return [parameters]
    if isinstance(parameters, Mapping):
        parameters = parameters.values()
    is_generator = isinstance(parameters, types.GeneratorType)
    try:
        params = list(parameters)
    except TypeError:
        raise type_error(
            where,
            f"expected a Parameter or an iterable of Parameters, got {_type_name(parameters)}.",
        ) from None
    for i, p in enumerate(params):
        if not isinstance(p, Variable):
            raise type_error(
                where,
                f"expected Parameters (Variables with a .grad), but parameters[{i}] is "
                f"{_type_name(p)}.",
                "Pass model.parameters().",
            )
    if is_generator and not params:
        warnings.warn(
            f"{where}: `parameters` is an empty generator, no gradient clipping will occur.",
            stacklevel=3,
        )
    return params


def _check_norm_type(norm_type, where: str) -> float:
    try:
        return float(norm_type)
    except (TypeError, ValueError):
        raise type_error(
            where, f"expected norm_type to be a number (or inf), got {norm_type!r}."
        ) from None


# ----------------------------------------------------------------------------- computations
def _total_norm(grads, norm_type: float):
    norms = [jnp.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads]
    return jnp.linalg.norm(jnp.stack(norms), ord=norm_type)


def _scale(grads, max_norm, total_norm):
    clip_coef = max_norm / (total_norm + 1e-6)
    clip_coef_clamped = jnp.minimum(clip_coef, 1.0)
    return [(g * clip_coef_clamped).astype(g.dtype) for g in grads]


def _clip_norm(grads, max_norm, norm_type: float):
    total = _total_norm(grads, norm_type)
    return total, _scale(grads, max_norm, total)


def _clip_value(grads, clip_value):
    return [jnp.clip(g, -clip_value, clip_value).astype(g.dtype) for g in grads]


def _flatten(arrays):
    return jnp.concatenate([a.reshape(-1) for a in arrays])


def _split(vec, layout):
    out, start = [], 0
    for shape, dtype in layout:
        size = 1
        for d in shape:
            size *= d
        out.append(vec[start : start + size].reshape(shape).astype(dtype))
        start += size
    return out


_total_norm_jit = jax.jit(_total_norm, static_argnums=(1,))
_scale_jit = jax.jit(_scale)
_clip_norm_jit = jax.jit(_clip_norm, static_argnums=(2,))
_clip_value_jit = jax.jit(_clip_value)
_flatten_jit = jax.jit(_flatten)
_split_jit = jax.jit(_split, static_argnums=(1,))


def _call(eager, compiled, *args):
    """The compiled kernel eagerly; the plain function under an outer trace (it inlines)."""
    return eager(*args) if _any_tracer(args) else compiled(*args)


def _check_finite(total, norm_type: float, where: str) -> None:
    if isinstance(total, _Tracer):
        raise value_error(
            where,
            "error_if_nonfinite=True needs the norm's value, but it is traced here (inside "
            "axon.jit, jax.jit or jax.grad).",
            "Pass error_if_nonfinite=False and test the returned norm with jnp.isfinite.",
        )
    if not bool(jnp.isfinite(total)):
        raise value_error(
            where,
            f"the total norm of order {norm_type} for gradients from `parameters` is "
            f"non-finite, so it cannot be clipped.",
            "To disable this error and scale the gradients by the non-finite norm anyway, set "
            "error_if_nonfinite=False.",
        )


# ----------------------------------------------------------------------------- public
def get_total_norm(
    tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None
) -> jax.Array:
    """The norm of the norms of `tensors`: their norm as if concatenated into one vector.

    Args:
        tensors: an array or Variable, or an iterable of them (typically gradients).
        norm_type: the order `p` of the norm; `inf` for the largest absolute value.
        error_if_nonfinite: raise when the norm is nan or inf.
        foreach: accepted for PyTorch compatibility; ignored (one fused computation always).

    Returns:
        The total norm, a jax scalar (0.0 when `tensors` is empty).

    Raises:
        ValueError: with `error_if_nonfinite`, for a non-finite norm, or a traced one.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.nn.utils import get_total_norm
        >>> float(get_total_norm([jnp.array([3.0]), jnp.array([4.0])]))
        5.0
    """
    del foreach
    where = "axon.nn.utils.get_total_norm"
    if isinstance(tensors, (jax.Array, Variable)):
        tensors = [tensors]
    arrays = [t.data if isinstance(t, Variable) else jnp.asarray(t) for t in tensors]
    norm_type = _check_norm_type(norm_type, where)
    if not arrays:
        return jnp.asarray(0.0)
    total = _call(_total_norm, _total_norm_jit, arrays, norm_type)
    if error_if_nonfinite:
        _check_finite(total, norm_type, where)
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale the `.grad`s by `min(1, max_norm / (total_norm + 1e-6))`, given the total norm.

    The second half of `clip_grad_norm_` (with `get_total_norm` the first), as PyTorch's
    `clip_grads_with_norm_`: useful when the norm is computed over several calls.

    Args:
        parameters: a Parameter or an iterable of Parameters; those without `.grad` are skipped.
        max_norm: the largest allowed total norm.
        total_norm: the total norm of the gradients (e.g. from `get_total_norm`).
        foreach: accepted for PyTorch compatibility; ignored.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> from axon.nn.utils import clip_grads_with_norm_
        >>> w = axon.nn.Parameter(jnp.zeros(2))
        >>> w.grad = jnp.array([3.0, 4.0])
        >>> clip_grads_with_norm_([w], max_norm=1.0, total_norm=jnp.asarray(5.0))
        >>> [round(x, 4) for x in w.grad.tolist()]
        [0.6, 0.8]
    """
    del foreach
    params = _as_variables(parameters, "axon.nn.utils.clip_grads_with_norm_")
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad:
        return
    grads = [p.grad for p in with_grad]
    total_norm = jnp.asarray(total_norm)
    eager = _any_tracer(grads) or isinstance(total_norm, _Tracer)
    new = (_scale if eager else _scale_jit)(grads, max_norm, total_norm)
    for p, g in zip(with_grad, new, strict=True):
        p.grad = g


def clip_grad_norm_(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> jax.Array:
    """Clip the gradients' total norm to `max_norm`, as `torch.nn.utils.clip_grad_norm_`.

    The norm is computed over all gradients together, as if they were concatenated into one
    vector; each `.grad` is then multiplied by `min(1, max_norm / (total_norm + 1e-6))` (so
    their direction is kept). One compiled computation; works on traced gradients too.

    Args:
        parameters: a Parameter or an iterable of Parameters (or `{name: Parameter}`); those
            whose `.grad` is None are skipped.
        max_norm: the largest allowed total norm.
        norm_type: the order `p` of the norm; `float("inf")` for the largest absolute value.
        error_if_nonfinite: raise when the total norm is nan or inf (needs a concrete norm, so
            not inside `axon.jit`).
        foreach: accepted for PyTorch compatibility; ignored (one fused computation always).

    Returns:
        The total norm of the gradients before clipping, a jax scalar.

    Raises:
        ValueError: with `error_if_nonfinite`, for a non-finite or traced norm.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> w = axon.nn.Parameter(jnp.zeros(2))
        >>> w.grad = jnp.array([3.0, 4.0])
        >>> float(axon.nn.utils.clip_grad_norm_([w], max_norm=1.0))
        5.0
        >>> [round(x, 4) for x in w.grad.tolist()]
        [0.6, 0.8]
    """
    del foreach
    where = "axon.nn.utils.clip_grad_norm_"
    params = _as_variables(parameters, where)
    norm_type = _check_norm_type(norm_type, where)
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad:
        return jnp.asarray(0.0)
    grads = [p.grad for p in with_grad]
    if error_if_nonfinite:  # the check sits between the norm and the scaling, as in PyTorch
        total = _call(_total_norm, _total_norm_jit, grads, norm_type)
        _check_finite(total, norm_type, where)
        clip_grads_with_norm_(with_grad, max_norm, total)
        return total
    total, new = _call(_clip_norm, _clip_norm_jit, grads, max_norm, norm_type)
    for p, g in zip(with_grad, new, strict=True):
        p.grad = g
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to `[-clip_value, clip_value]`, as PyTorch's.

    Args:
        parameters: a Parameter or an iterable of Parameters; those without `.grad` are skipped.
        clip_value: the largest allowed absolute value.
        foreach: accepted for PyTorch compatibility; ignored.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> w = axon.nn.Parameter(jnp.zeros(3))
        >>> w.grad = jnp.array([-3.0, 0.5, 2.0])
        >>> axon.nn.utils.clip_grad_value_([w], 1.0)
        >>> w.grad.tolist()
        [-1.0, 0.5, 1.0]
    """
    del foreach
    params = _as_variables(parameters, "axon.nn.utils.clip_grad_value_")
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad:
        return
    new = _call(_clip_value, _clip_value_jit, [p.grad for p in with_grad], clip_value)
    for p, g in zip(with_grad, new, strict=True):
        p.grad = g


def parameters_to_vector(parameters: Iterable[Variable]) -> jax.Array:
    """All parameters flattened and concatenated into one vector, as PyTorch's.

    Args:
        parameters: an iterable of Parameters (or arrays).

    Returns:
        A 1-d jax array of the parameters' total size.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> lin = axon.nn.Linear(3, 2)
        >>> axon.nn.utils.parameters_to_vector(lin.parameters()).shape
        (8,)
    """
    where = "axon.nn.utils.parameters_to_vector"
    if isinstance(parameters, (Variable, jax.Array)):
        parameters = [parameters]
    arrays = []
    for i, p in enumerate(parameters):
        if isinstance(p, Variable):
            arrays.append(p.data)
        elif isinstance(p, jax.Array):
            arrays.append(p)
        else:
            raise type_error(where, f"expected Parameters, but parameters[{i}] is {_type_name(p)}.")
    if not arrays:
        raise value_error(where, "got no parameters to concatenate.")
    return _call(_flatten, _flatten_jit, arrays)


def vector_to_parameters(vec, parameters: Iterable[Variable]) -> None:
    """Copy the slices of one vector into the parameters (rebinding `.data`), as PyTorch's.

    The inverse of `parameters_to_vector`.

    Args:
        vec: a 1-d array with as many elements as the parameters together.
        parameters: an iterable of Parameters.

    Raises:
        TypeError: when `vec` is not an array, or a parameter is not a Variable.
        ValueError: when `vec` is not 1-d or its size differs from the parameters' total.

    Note:
        Each parameter keeps its dtype (the slice is cast to it); PyTorch's `param.data = ...`
        would take the vector's dtype instead. PyTorch also ignores elements beyond the
        parameters' total; axon raises.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> lin = axon.nn.Linear(3, 2)
        >>> axon.nn.utils.vector_to_parameters(jnp.arange(8.0), lin.parameters())
        >>> lin.bias.data.tolist()
        [6.0, 7.0]
    """
    where = "axon.nn.utils.vector_to_parameters"
    if isinstance(vec, Variable):
        vec = vec.data
    if not isinstance(vec, jax.Array):
        raise type_error(where, f"expected vec to be a jax.Array, but got {_type_name(vec)}.")
    params = _as_variables(parameters, where)
    if vec.ndim != 1:
        raise value_error(where, f"expected a 1-d vec, got shape {tuple(vec.shape)}.")
    total = sum(p.data.size for p in params)
    if vec.shape[0] != total:
        raise value_error(
            where,
            f"vec has {vec.shape[0]} elements, but the parameters have {total} together.",
        )
    if not params:
        return
    layout = tuple((tuple(p.data.shape), jnp.dtype(p.data.dtype)) for p in params)
    pieces = _split(vec, layout) if isinstance(vec, _Tracer) else _split_jit(vec, layout)
    for p, piece in zip(params, pieces, strict=True):
        p.data = piece
