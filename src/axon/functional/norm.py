"""Normalisation: pure jax on arrays, one tape op on Variables; reductions in float32 or wider.

Half-precision inputs (float16, bfloat16) are normalised in float32 and the result is cast back
to the input's dtype. Arrays are immutable, so unlike `torch.nn.functional.batch_norm` and
`instance_norm` these ops never update `running_mean`/`running_var` in place:
`batch_norm_running_stats` and `instance_norm_running_stats` return the updated pair (the
`axon.nn` layers call them).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from axon import _errors
from axon.autograd.tape import op


def _wide(x):
    return x.astype(jnp.float32) if x.dtype in (jnp.float16, jnp.bfloat16) else x


def _channel_shape(x) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)  # (1, C, 1, ...)


def _standardize(x, axes, eps):
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)  # biased, as PyTorch
    return (x - mean) * jax.lax.rsqrt(var + eps)


def _scale_shift(out, weight, bias, shape):
    if weight is not None:
        out = out * weight.reshape(shape).astype(out.dtype)
    if bias is not None:
        out = out + bias.reshape(shape).astype(out.dtype)
    return out


# ------------------------------------------------------------------------------ checks
# Shared by the ops (where = "axon.functional.<op>") and the layers (where = the module), so a
# layer's message names the layer. They read shapes only, so they cost nothing under jit.
def check_channel_vectors(where, x, **vectors) -> None:
    """Each given vector (running_mean, weight, ...) must have shape (C,), C = x.shape[1]."""
    c = x.shape[1]
    for name, v in vectors.items():
        if v is not None and tuple(v.shape) != (c,):
            raise _errors.value_error(
                where,
                f"expected {name} of shape ({c},) for input of shape "
                f"{_errors.shape_str(x.shape)}, got {_errors.shape_str(v.shape)}.",
            )


def check_min_rank(where, x, rank: int, form: str) -> None:
    if x.ndim < rank:
        raise _errors.value_error(
            where, f"expected input of shape {form}, got {_errors.shape_str(x.shape)}."
        )


def check_batch_values(where, x) -> None:
    """Batch statistics need more than one value per channel (PyTorch's rule)."""
    if x.shape[0] * math.prod(x.shape[2:]) == 1:
        raise _errors.value_error(
            where,
            f"expected more than 1 value per channel when training, got input of shape "
            f"{_errors.shape_str(x.shape)}.",
            "Use a batch of at least 2, or call .eval() to use the running statistics.",
        )


def check_spatial_values(where, x) -> None:
    """Instance statistics need more than one spatial element (PyTorch's rule)."""
    if math.prod(x.shape[2:]) == 1:
        raise _errors.value_error(
            where,
            f"expected more than 1 spatial element when training, got input of shape "
            f"{_errors.shape_str(x.shape)}.",
        )


def normalized_tuple(normalized_shape) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(d) for d in normalized_shape)


def check_trailing(where, x, normalized_shape: tuple[int, ...], **params) -> None:
    """x ends in normalized_shape; each given parameter (weight, bias) has exactly that shape."""
    k = len(normalized_shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k :]) != normalized_shape:
        form = "(*, " + ", ".join(str(d) for d in normalized_shape) + ")"
        raise _errors.value_error(
            where,
            f"expected input of shape {form} (normalized_shape={normalized_shape}), got "
            f"{_errors.shape_str(x.shape)}.",
            "The trailing dimensions of the input must equal normalized_shape.",
        )
    for name, p in params.items():
        if p is not None and tuple(p.shape) != normalized_shape:
            raise _errors.value_error(
                where,
                f"expected {name} of shape {_errors.shape_str(normalized_shape)} "
                f"(normalized_shape), got {_errors.shape_str(p.shape)}.",
            )


def check_groups(where, x, num_groups: int) -> None:
    check_min_rank(where, x, 2, "(N, C, *)")
    if x.shape[1] % num_groups != 0:
        raise _errors.value_error(
            where,
            f"expected the channels (dim 1) of the input to be divisible by "
            f"num_groups={num_groups}, got input of shape {_errors.shape_str(x.shape)}.",
        )


def check_group_values(where, x, num_groups: int) -> None:
    """PyTorch's rule for group norm: N · C/G · prod(spatial) must exceed 1."""
    if x.shape[0] * (x.shape[1] // num_groups) * math.prod(x.shape[2:]) == 1:
        raise _errors.value_error(
            where,
            f"expected more than 1 value per group, got input of shape "
            f"{_errors.shape_str(x.shape)} and num_groups={num_groups}.",
        )


# ------------------------------------------------------------------------------ ops
@op(static=("training", "eps"))
def batch_norm(
    input,  # noqa: A002 - PyTorch's name
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
):
    """Normalise each channel (dim 1) by batch statistics (`training=True`) or by the running
    statistics (`training=False`), then scale by `weight` and shift by `bias`:
    y = (x − E[x]) / √(Var[x] + eps)·γ + β, with the biased variance.

    Note:
        PyTorch's `batch_norm` also updates `running_mean`/`running_var` in place when
        training; jax arrays are immutable, so this op computes the output only and
        `batch_norm_running_stats` returns the updated statistics (`BatchNorm1d` does both).

    Shape:
        - input: (N, C) or (N, C, *)
        - running_mean, running_var, weight, bias: (C,)
        - output: same as input

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.batch_norm(jnp.ones((4, 3)), None, None, training=True).shape
        (4, 3)
    """
    del momentum  # used by batch_norm_running_stats only
    where = "axon.functional.batch_norm"
    check_min_rank(where, input, 2, "(N, C, *)")
    check_channel_vectors(
        where, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias
    )
    x = _wide(input)
    shape = _channel_shape(x)
    if training:
        check_batch_values(where, input)
        out = _standardize(x, (0,) + tuple(range(2, x.ndim)), eps)
    else:
        if running_mean is None or running_var is None:
            raise _errors.value_error(
                where,
                "running_mean and running_var must be given when training=False.",
                "Pass training=True to normalise by the batch statistics.",
            )
        mean = running_mean.reshape(shape).astype(x.dtype)
        var = running_var.reshape(shape).astype(x.dtype)
        out = (x - mean) * jax.lax.rsqrt(var + eps)
    return _scale_shift(out, weight, bias, shape).astype(input.dtype)


@op(static=("use_input_stats", "eps"))
def instance_norm(
    input,  # noqa: A002
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats=True,
    momentum=0.1,
    eps=1e-5,
):
    """Normalise each channel of each sample over its spatial dimensions (`use_input_stats`),
    or by the running statistics, then scale by `weight` and shift by `bias`.

    Note:
        As `batch_norm`, this never updates the running statistics in place;
        `instance_norm_running_stats` returns them (`InstanceNorm1d/2d` do both).

    Shape:
        - input: (N, C, *) with at least one spatial dimension
        - running_mean, running_var, weight, bias: (C,)
        - output: same as input

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.instance_norm(jnp.ones((2, 3, 5))).shape
        (2, 3, 5)
    """
    del momentum  # used by instance_norm_running_stats only
    where = "axon.functional.instance_norm"
    check_min_rank(where, input, 3, "(N, C, *)")
    check_channel_vectors(
        where, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias
    )
    x = _wide(input)
    shape = _channel_shape(x)
    if use_input_stats:
        check_spatial_values(where, input)
        out = _standardize(x, tuple(range(2, x.ndim)), eps)
    else:
        if running_mean is None or running_var is None:
            raise _errors.value_error(
                where, "running_mean and running_var must be given when use_input_stats=False."
            )
        mean = running_mean.reshape(shape).astype(x.dtype)
        var = running_var.reshape(shape).astype(x.dtype)
        out = (x - mean) * jax.lax.rsqrt(var + eps)
    return _scale_shift(out, weight, bias, shape).astype(input.dtype)


@op(static=("normalized_shape", "eps"))
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise over the trailing `normalized_shape` dimensions, then scale by `weight` and
    shift by `bias` (both of shape `normalized_shape`).

    Shape:
        - input: (*, *normalized_shape)
        - weight, bias: normalized_shape
        - output: same as input

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.layer_norm(jnp.ones((2, 4, 5)), [4, 5]).shape
        (2, 4, 5)
    """
    shape = normalized_tuple(normalized_shape)
    check_trailing("axon.functional.layer_norm", input, shape, weight=weight, bias=bias)
    x = _wide(input)
    out = _standardize(x, tuple(range(x.ndim - len(shape), x.ndim)), eps)
    return _scale_shift(out, weight, bias, shape).astype(input.dtype)


@op(static=("num_groups", "eps"))
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Split the channels into `num_groups` groups and normalise each group of each sample
    over its channels and spatial dimensions, then scale and shift per channel.

    Shape:
        - input: (N, C, *), C divisible by num_groups
        - weight, bias: (C,)
        - output: same as input

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.group_norm(jnp.ones((2, 6, 5)), 3).shape
        (2, 6, 5)
    """
    where = "axon.functional.group_norm"
    check_groups(where, input, num_groups)
    check_channel_vectors(where, input, weight=weight, bias=bias)
    check_group_values(where, input, num_groups)
    x = _wide(input)
    n, c = x.shape[:2]
    grouped = x.reshape(n, num_groups, -1)  # (N, G, C/G · *)
    out = _standardize(grouped, (2,), eps).reshape(x.shape)
    return _scale_shift(out, weight, bias, _channel_shape(x)).astype(input.dtype)


@op(static=("normalized_shape", "eps"))
def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002
    """y = x / √(mean(x²) + eps)·γ over the trailing `normalized_shape` dimensions.

    `eps=None` uses the machine epsilon of the computation dtype (float32 for half-precision
    inputs), as PyTorch does.

    Shape:
        - input: (*, *normalized_shape)
        - weight: normalized_shape
        - output: same as input

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.rms_norm(jnp.ones((2, 8)), [8]).shape
        (2, 8)
    """
    shape = normalized_tuple(normalized_shape)
    check_trailing("axon.functional.rms_norm", input, shape, weight=weight)
    x = _wide(input)
    if eps is None:
        eps = jnp.finfo(x.dtype).eps
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    out = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axes, keepdims=True) + eps)
    return _scale_shift(out, weight, None, shape).astype(input.dtype)


# ------------------------------------------------------------------------------ running statistics
def _blend(running_mean, running_var, mean, var, factor):
    """PyTorch's update `r ← (1 − factor)·r + factor·batch_stat`."""
    new_mean = (1.0 - factor) * running_mean + factor * mean.astype(running_mean.dtype)
    new_var = (1.0 - factor) * running_var + factor * var.astype(running_var.dtype)
    return new_mean.astype(running_mean.dtype), new_var.astype(running_var.dtype)


@jax.jit
def batch_norm_running_stats(input, running_mean, running_var, factor):  # noqa: A002
    """New (running_mean, running_var) after one training batch, as PyTorch updates them:
    `r ← (1 − factor)·r + factor·batch_stat`, with the unbiased batch variance."""
    x = _wide(input)
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // x.shape[1]
    mean = jnp.mean(x, axis=axes)
    var = jnp.var(x, axis=axes) * (n / max(n - 1, 1))
    return _blend(running_mean, running_var, mean, var, factor)


@jax.jit
def instance_norm_running_stats(input, running_mean, running_var, factor):  # noqa: A002
    """New (running_mean, running_var) after one training batch of instance norm, as PyTorch:
    the per-sample statistics (unbiased variance) averaged over the batch, then blended."""
    x = _wide(input)
    axes = tuple(range(2, x.ndim))
    n = math.prod(x.shape[2:])
    mean = jnp.mean(x, axis=axes).mean(0)
    var = (jnp.var(x, axis=axes) * (n / max(n - 1, 1))).mean(0)
    return _blend(running_mean, running_var, mean, var, factor)
