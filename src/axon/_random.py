"""The global, seedable random stream.

One jax PRNG key lives here. Every draw (an initialiser, `Tensor.randn`, a dropout mask) splits it
into a new stream key and a key for the draw, so the same `manual_seed` gives the same numbers on
every run. `axon.jit` swaps a traced key in for the duration of a compiled call and writes the
advanced key back, so dropout differs from call to call and stays reproducible.

The stream key is kept as raw key data (`uint32[2]` for the default generator): a compiled step
carries raw data in and out about ten times more cheaply than a typed key array. Every write of
it bumps `_structure.changes`, so a compiled step knows without looking whether it moved on.
"""

from __future__ import annotations

import jax

from axon import _structure

DEFAULT_SEED = 0

_key_data: jax.Array | None = None  # raw data of the stream key


def _split_impl(data):
    new_stream, draw = jax.random.split(jax.random.wrap_key_data(data))
    return jax.random.key_data(new_stream), draw


_split = jax.jit(_split_impl)


def manual_seed(seed: int) -> None:
    """Seed the global stream: initialisers, `Tensor` factories and dropout all draw from it."""
    global _key_data
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"axon.manual_seed: expected an int seed, got {type(seed).__name__}.")
    _key_data = jax.random.key_data(jax.random.key(seed))
    _structure.changed()


def next_key() -> jax.Array:
    """Split the global stream and return a fresh (typed) key for one draw."""
    global _key_data
    if _key_data is None:
        manual_seed(DEFAULT_SEED)
    if isinstance(_key_data, jax.core.Tracer):
        _key_data, draw = _split_impl(_key_data)
    else:
        _key_data, draw = _split(_key_data)
    _structure.changed()
    return draw


def get_rng_state() -> jax.Array:
    """The current stream key, as a typed jax key array."""
    return jax.random.wrap_key_data(get_key_data())


def set_rng_state(key: jax.Array) -> None:
    """Replace the stream key with one from `get_rng_state` (a typed key or its raw data)."""
    global _key_data
    is_typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    _key_data = jax.random.key_data(key) if is_typed else key
    _structure.changed()


def get_key_data() -> jax.Array:
    """The raw data of the stream key (what `axon.jit` carries)."""
    if _key_data is None:
        manual_seed(DEFAULT_SEED)
    return _key_data


def set_key_data(data: jax.Array) -> None:
    global _key_data
    _key_data = data
    _structure.changed()


def is_traced() -> bool:
    """True while a compiled call has swapped a traced key in."""
    return isinstance(_key_data, jax.core.Tracer)
