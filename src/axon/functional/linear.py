"""Linear maps: pure jax on arrays, one tape op on Variables."""

from __future__ import annotations

import jax.numpy as jnp

from axon.autograd.tape import op


@op
def linear(input, weight, bias=None):  # noqa: A002 - PyTorch's name
    """y = x Wᵀ + b.

    Shape:
        - input: (*, in_features)
        - weight: (out_features, in_features)
        - bias: (out_features,)
        - output: (*, out_features)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.linear(jnp.ones((2, 3)), jnp.ones((4, 3)), jnp.zeros(4)).shape
        (2, 4)
    """
    out = jnp.matmul(input, weight.T)
    return out if bias is None else out + bias
