"""Normalisation: pure jax on arrays, one tape op on Variables; reductions in float32 or wider."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from axon.autograd.tape import op


def _wide(x):
    return x.astype(jnp.float32) if x.dtype in (jnp.float16, jnp.bfloat16) else x


def _channel_shape(x) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)  # (1, C, 1, ...)


def _reduce_axes(x) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


@op(static=("training", "eps"))
def batch_norm(
    input,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,  # noqa: A002
    momentum=0.1,
    eps=1e-5,
):
    """Normalise each channel (dim 1) by batch statistics (training, or no running stats) or by
    the running statistics (eval), then scale and shift.

    This computes the output only; `batch_norm_running_stats` gives the updated running
    statistics (a Module such as `BatchNorm1d` does both).

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
    x = _wide(input)
    shape = _channel_shape(x)
    if training or running_mean is None:
        axes = _reduce_axes(x)
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    else:
        mean = running_mean.reshape(shape).astype(x.dtype)
        var = running_var.reshape(shape).astype(x.dtype)
    out = (x - mean) * jax.lax.rsqrt(var + eps)
    if weight is not None:
        out = out * weight.reshape(shape).astype(x.dtype)
    if bias is not None:
        out = out + bias.reshape(shape).astype(x.dtype)
    return out.astype(input.dtype)


@jax.jit
def batch_norm_running_stats(input, running_mean, running_var, factor):  # noqa: A002
    """New (running_mean, running_var) after one training batch, as PyTorch updates them:
    `r ← (1 − factor)·r + factor·batch_stat`, with the unbiased batch variance."""
    x = _wide(input)
    axes = _reduce_axes(x)
    n = x.size // x.shape[1]
    mean = jnp.mean(x, axis=axes)
    var = jnp.var(x, axis=axes) * (n / max(n - 1, 1))
    new_mean = (1.0 - factor) * running_mean + factor * mean.astype(running_mean.dtype)
    new_var = (1.0 - factor) * running_var + factor * var.astype(running_var.dtype)
    return new_mean, new_var
