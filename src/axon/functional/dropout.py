"""Dropout: pure jax on arrays (with an explicit key), one tape op on Variables."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from axon import _random
from axon.autograd.tape import op
from axon.autograd.variable import Variable


@op(static=("p", "training"))
def _dropout(input, p, training, key):  # noqa: A002
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return jnp.zeros_like(input)
    keep = jax.random.bernoulli(key, 1.0 - p, input.shape)
    return jnp.where(keep, input / (1.0 - p), jnp.zeros((), input.dtype))


def dropout(input, p: float = 0.5, training: bool = True, key=None):  # noqa: A002
    """Zero each element with probability `p` and scale the rest by 1/(1-p) (inverted dropout).

    Args:
        p: drop probability in [0, 1].
        training: identity when False.
        key: a jax PRNG key; by default one is drawn from the global stream (`axon.manual_seed`).

    Shape:
        - input: any; output: same as input.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> from axon import functional as F
        >>> F.dropout(jnp.ones(4), 0.5, key=jax.random.key(0)).shape
        (4,)
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"axon.functional.dropout: p must be a number in [0, 1], got {p!r}.")
    if not training or p == 0.0:
        return input
    if key is None:
        key = draw_key("axon.functional.dropout", input)
    return _dropout(input, float(p), True, key)


def draw_key(where: str, input):
    """A key from the global stream, refusing to bake a constant key into a traced program."""
    data = input.data if isinstance(input, Variable) else input
    if isinstance(data, jax.core.Tracer) and not _random.is_traced():
        raise RuntimeError(
            f"{where}: random masks inside jax.jit/grad/vmap need a key that changes per call, "
            f"but the global stream is not traced here, so every call would reuse one mask. Use "
            f"axon.jit (which carries the stream in and out), pass key=..., or call model.eval()."
        )
    return _random.next_key()
