"""Activation functions with PyTorch's semantics, as tape ops (arrays in: plain jax)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from axon.autograd.tape import op

_GELU_APPROXIMATIONS = ("none", "tanh")


@op
def relu(x):
    """max(0, x). Shape: any."""
    return jax.nn.relu(x)


@op
def sigmoid(x):
    """1 / (1 + exp(-x)). Shape: any."""
    return jax.nn.sigmoid(x)


@op
def tanh(x):
    return jnp.tanh(x)


@op(static=("approximate",))
def gelu(x, approximate="none"):
    """x·Φ(x) with the exact erf form (`approximate="none"`, PyTorch's default) or `"tanh"`."""
    if approximate not in _GELU_APPROXIMATIONS:
        raise ValueError(
            f"axon.functional.gelu: approximate must be one of {_GELU_APPROXIMATIONS}, "
            f"got {approximate!r}."
        )
    return jax.nn.gelu(x, approximate=approximate == "tanh")


@op
def silu(x):
    """x·sigmoid(x)."""
    return jax.nn.silu(x)


@op
def mish(x):
    """x·tanh(softplus(x))."""
    return x * jnp.tanh(jax.nn.softplus(x))


@op
def softplus(x):
    return jax.nn.softplus(x)


@op(static=("negative_slope",))
def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, else negative_slope·x (the gradient at 0 is the slope, as PyTorch's)."""
    return jnp.where(x > 0, x, negative_slope * x)


@op(static=("alpha",))
def elu(x, alpha=1.0):
    """x for x > 0, else alpha·(exp(x) − 1); the gradient at 0 is alpha, as PyTorch's."""
    negative = jnp.where(x > 0, jnp.zeros_like(x), x)  # not jnp.minimum: it halves the tie's grad
    return jnp.where(x > 0, x, alpha * jnp.expm1(negative))


def _upcast(x):
    """Reduce half precision in float32 (softmax, norms, losses), as the style guide asks."""
    return x.astype(jnp.float32) if x.dtype in (jnp.float16, jnp.bfloat16) else x


@op(static=("dim",))
def softmax(x, dim=-1):
    """exp(x) / sum(exp(x)) along `dim`, computed stably."""
    return jax.nn.softmax(_upcast(x), axis=dim).astype(x.dtype)


@op(static=("dim",))
def log_softmax(x, dim=-1):
    return jax.nn.log_softmax(_upcast(x), axis=dim).astype(x.dtype)
