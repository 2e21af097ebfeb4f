"""The global, seedable random stream.

One jax PRNG key lives here. Every draw (an initialiser, `Tensor.randn`, a dropout mask) splits it
into a new stream key and a key for the draw, so the same `manual_seed` gives the same numbers on
every run. `axon.jit` swaps a traced key in for the duration of a compiled call and writes the
advanced key back, so dropout differs from call to call and stays reproducible.
"""

from __future__ import annotations

import jax

DEFAULT_SEED = 0

_key: jax.Array | None = None


@jax.jit
def _split(key):
    new_stream, draw = jax.random.split(key)
    return new_stream, draw


def manual_seed(seed: int) -> None:
    """Seed the global stream: initialisers, `Tensor` factories and dropout all draw from it."""
    global _key
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"axon.manual_seed: expected an int seed, got {type(seed).__name__}.")
    _key = jax.random.key(seed)


def next_key() -> jax.Array:
    """Split the global stream and return a fresh key for one draw."""
    global _key
    if _key is None:
        manual_seed(DEFAULT_SEED)
    if isinstance(_key, jax.core.Tracer):
        _key, draw = jax.random.split(_key)
    else:
        _key, draw = _split(_key)
    return draw


def get_rng_state() -> jax.Array:
    """The current stream key (a typed jax key array)."""
    if _key is None:
        manual_seed(DEFAULT_SEED)
    return _key


def set_rng_state(key: jax.Array) -> None:
    """Replace the stream key, e.g. with one saved by `get_rng_state`."""
    global _key
    _key = key


def is_traced() -> bool:
    """True while a compiled call has swapped a traced key in."""
    return isinstance(_key, jax.core.Tracer)
