"""`Tensor`: factories that return plain `jax.Array`s, named as in the seed (`Tensor::randn`).

axon has no tensor type of its own: data is a `jax.Array`, and `Variable` adds the gradient slot.
Random factories draw from the global stream (`axon.manual_seed`).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from axon import _random

DEFAULT_DTYPE = jnp.float32


def _shape(shape, *more) -> tuple[int, ...]:
    if more:  # Tensor.zeros(2, 3) as well as Tensor.zeros([2, 3])
        shape = (shape, *more)
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, Sequence) or not all(
        isinstance(d, (int, np.integer)) and d >= 0 for d in shape
    ):
        raise ValueError(
            f"axon.Tensor: expected a shape of non-negative ints such as [32, 784], got {shape!r}."
        )
    return tuple(int(d) for d in shape)


class Tensor:
    """Namespace of array factories. Each returns a `jax.Array` (float32 unless `dtype=`)."""

    def __new__(cls, *args, **kwargs):
        raise TypeError(
            "axon.Tensor is a namespace of factories (Tensor.randn, Tensor.zeros, ...), "
            "not a type: "
            "arrays are jax.Array; wrap one in axon.Variable to track gradients."
        )

    @staticmethod
    def zeros(shape, *more, dtype=DEFAULT_DTYPE) -> jax.Array:
        return jnp.zeros(_shape(shape, *more), dtype)

    @staticmethod
    def ones(shape, *more, dtype=DEFAULT_DTYPE) -> jax.Array:
        return jnp.ones(_shape(shape, *more), dtype)

    @staticmethod
    def full(shape, fill_value, dtype=DEFAULT_DTYPE) -> jax.Array:
        return jnp.full(_shape(shape), fill_value, dtype)

    @staticmethod
    def randn(shape, *more, dtype=DEFAULT_DTYPE) -> jax.Array:
        """Standard normal samples from the global stream."""
        return jax.random.normal(_random.next_key(), _shape(shape, *more), dtype)

    @staticmethod
    def rand(shape, *more, dtype=DEFAULT_DTYPE) -> jax.Array:
        """Uniform samples in [0, 1) from the global stream."""
        return jax.random.uniform(_random.next_key(), _shape(shape, *more), dtype)

    @staticmethod
    def randint(low: int, high: int, shape, dtype=jnp.int32) -> jax.Array:
        """Integers in [low, high) from the global stream."""
        return jax.random.randint(_random.next_key(), _shape(shape), low, high, dtype)

    @staticmethod
    def arange(start, end=None, step=1, dtype=None) -> jax.Array:
        return jnp.arange(start, end, step, dtype=dtype)

    @staticmethod
    def eye(n: int, m: int | None = None, dtype=DEFAULT_DTYPE) -> jax.Array:
        return jnp.eye(n, m, dtype=dtype)

    @staticmethod
    def from_numpy(array: np.ndarray) -> jax.Array:
        """The same values and dtype as the numpy array (float64 needs `jax_enable_x64`).

        The data is copied: jax arrays are immutable, and later writes to `array` must not show.
        """
        return jnp.asarray(np.array(array, copy=True))

    @staticmethod
    def from_vec(values, shape) -> jax.Array:
        """`Tensor::from_vec(values, &shape)`: a flat list of values laid out in `shape`."""
        shape = _shape(shape)
        flat = np.asarray(values, dtype=np.float32 if _is_float_list(values) else None)
        if flat.size != int(np.prod(shape)):
            raise ValueError(
                f"axon.Tensor.from_vec: {flat.size} values cannot fill shape {shape} "
                f"({int(np.prod(shape))} elements)."
            )
        return jnp.asarray(flat.reshape(shape))


def _is_float_list(values) -> bool:
    return np.asarray(values).dtype.kind == "f"
