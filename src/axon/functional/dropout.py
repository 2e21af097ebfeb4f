"""Dropout: pure jax on arrays (with an explicit key), one tape op on Variables."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp

from axon import _errors, _random
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


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, key=None):  # noqa: A002
    """Zero each element with probability `p` and scale the rest by 1/(1-p) (inverted dropout).

    Args:
        p: drop probability in [0, 1].
        training: identity when False.
        inplace: accepted for PyTorch compatibility (`F.dropout(x, 0.5, True, False)`); arrays
            are immutable, so the result is always a new array.
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


def _check_p(where, p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise _errors.value_error(where, f"p must be a number in [0, 1], got {p!r}.")
    return float(p)


@op(static=("p",))
def _feature_dropout(input, p, key):  # noqa: A002
    if p == 1.0:
        return jnp.zeros_like(input)
    keep = jax.random.bernoulli(key, 1.0 - p, input.shape[:2] + (1,) * (input.ndim - 2))
    return jnp.where(keep, input / (1.0 - p), jnp.zeros((), input.dtype))  # keep: (N, C, 1, ...)


def feature_dropout(input, p: float, training: bool, key, *, where):  # noqa: A002
    """`dropout2d` on behalf of `where` (named in errors and warnings)."""
    shape = tuple(input.shape)
    if len(shape) not in (3, 4):
        raise _errors.value_error(
            where,
            f"expected input of shape (N, C, H, W) or (N, C, L), got {_errors.shape_str(shape)}.",
            "Use dropout for other ranks.",
        )
    if len(shape) == 3:
        warnings.warn(
            f"{_errors.describe(where)}: a 3-D input is read as (N, C, L), as PyTorch does, so "
            f"each (n, c) row is zeroed whole. For one unbatched image (C, H, W), pass "
            f"input[None] and take [0] of the result.",
            stacklevel=3,
        )
    if not training or p == 0.0:
        return input
    if key is None:
        key = draw_key(_errors.describe(where), input)
    return _feature_dropout(input, p, key)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, key=None):  # noqa: A002
    """Zero whole channels: each (n, c) feature map with probability `p`, the kept ones scaled by
    1/(1-p).

    Args:
        p: drop probability of a channel, in [0, 1].
        training: identity when False.
        inplace: accepted for PyTorch compatibility; arrays are immutable.
        key: a jax PRNG key; by default one is drawn from the global stream (`axon.manual_seed`).

    Shape:
        - input: (N, C, H, W), or (N, C, L): a 3-D input is read as PyTorch reads it, with a
          batch dimension (a warning says so); output: same as input.

    Note:
        PyTorch's documentation announces that 3-D inputs will one day be read as unbatched
        (C, H, W); axon follows PyTorch's current behaviour. For one unbatched image, pass
        `input[None]` and take `[0]`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.dropout2d(jnp.ones((2, 3, 4, 4)), 0.5, key=jax.random.key(0)).shape
        (2, 3, 4, 4)
    """
    del inplace
    p = _check_p("axon.functional.dropout2d", p)
    return feature_dropout(input, p, training, key, where="axon.functional.dropout2d")


_SELU_SATURATION = 1.7580993408473766  # λ·α of SELU; its negative, α', is where dropped units go


@op(static=("p",))
def _alpha_dropout(input, p, key):  # noqa: A002
    if p == 1.0:
        return jnp.zeros_like(input)  # PyTorch's special case (the affine map below is undefined)
    keep = jax.random.bernoulli(key, 1.0 - p, input.shape).astype(input.dtype)
    a = 1.0 / math.sqrt((_SELU_SATURATION**2 * p + 1.0) * (1.0 - p))
    # PyTorch's formula: kept x -> a·x + a·λα·p, dropped -> a·(α' + λα·p) with α' = -λα
    b = (keep - 1.0) * (_SELU_SATURATION * a) + _SELU_SATURATION * a * p
    return input * (keep * a) + b


def alpha_dropout(
    input,  # noqa: A002
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    key=None,
):
    """Dropout that keeps SELU's self-normalisation: each element is set, with probability `p`,
    to SELU's saturation value α' = -1.7580993408473766, and an affine map a·x + b brings a zero
    mean, unit variance input back to zero mean and unit variance:
    a = ((1 - p)(1 + p·α'²))^(-1/2), b = -a·α'·p.

    Args:
        p: drop probability in [0, 1] (p = 1 gives zeros, as in PyTorch).
        training: identity when False (PyTorch's default here).
        inplace: accepted for PyTorch compatibility; arrays are immutable.
        key: a jax PRNG key; by default one is drawn from the global stream (`axon.manual_seed`).

    Shape:
        - input: any; output: same as input.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.alpha_dropout(jnp.ones(4), 0.2, training=True, key=jax.random.key(0)).shape
        (4,)
    """
    del inplace
    p = _check_p("axon.functional.alpha_dropout", p)
    if not training or p == 0.0:
        return input
    if key is None:
        key = draw_key("axon.functional.alpha_dropout", input)
    return _alpha_dropout(input, p, key)


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
