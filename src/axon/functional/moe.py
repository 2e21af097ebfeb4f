"""Mixture-of-experts routing and dispatch as fixed-shape jax programs (one tape op each).

Tokens are routed to their `top_k` most probable experts with the chosen probabilities
renormalised to sum to one. Two dispatch schemes, both without a Python loop over tokens:

- dense (`capacity=None`): every expert runs on every token and the outputs are mixed by a
  sparse `(T, E)` gate matrix. No token is dropped; compute grows with the number of experts.
- capacity-based gather (`capacity=C`): each expert gets a fixed `(C, D)` slab of tokens, filled
  in priority order (all first choices, in token order, then all second choices, ...). Assignments
  past an expert's capacity are dropped: that expert contributes nothing to that token (the Switch
  Transformer / GShard rule; the surrounding residual connection carries the token).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from axon.autograd.tape import op


def _top_k(probs, top_k):
    """Renormalised top-k weights and their expert indices, each (T, k)."""
    values, indices = jax.lax.top_k(probs, top_k)
    return values / values.sum(-1, keepdims=True), indices


def _swiglu(x, w_gate, w_up, w_down):
    """Every expert on its own tokens: x (E, N, D) -> (E, N, D); weights (E, I, D), (E, D, I)."""
    h = jax.nn.silu(jnp.einsum("end,eid->eni", x, w_gate)) * jnp.einsum("end,eid->eni", x, w_up)
    return jnp.einsum("eni,edi->end", h, w_down)


def _slots(indices, num_experts, capacity):
    """Where each assignment goes: (k·T,) flat slot index in [0, E·C), or E·C when dropped,
    in slot-major priority order (all first choices, then all second choices, ...)."""
    tokens, top_k = indices.shape
    experts = indices.T.reshape(-1)  # (k·T,) slot-major
    onehot = jax.nn.one_hot(experts, num_experts, dtype=jnp.int32)  # (k·T, E)
    before = jnp.cumsum(onehot, axis=0) - onehot  # assignments to the same expert ahead of it
    position = jnp.take_along_axis(before, experts[:, None], axis=1)[:, 0]  # (k·T,)
    keep = position < capacity
    return jnp.where(keep, experts * capacity + position, num_experts * capacity), keep


@op(static=("top_k", "capacity"))
def moe_swiglu(input, probs, w_gate, w_up, w_down, top_k, capacity=None):  # noqa: A002
    """Top-k mixture of SwiGLU experts: Σ_k w_k · down_e(silu(gate_e x) ⊙ up_e x).

    Args:
        input: tokens (T, D).
        probs: router probabilities (T, E) (softmax of the router logits).
        w_gate, w_up: per-expert weights, a sequence of E arrays (I, D) or one (E, I, D) array.
        w_down: E arrays (D, I) or one (E, D, I) array.
        top_k: experts per token; their probabilities are renormalised to sum to one.
        capacity: None for dense dispatch, else the number of token slots per expert.

    Shape:
        - input: (T, D); probs: (T, E)
        - output: (T, D)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.functional.moe import moe_swiglu
        >>> x, probs = jnp.ones((5, 4)), jnp.full((5, 3), 1 / 3)
        >>> moe_swiglu(x, probs, jnp.ones((3, 8, 4)), jnp.ones((3, 8, 4)), jnp.ones((3, 4, 8)),
        ...            top_k=2, capacity=4).shape
        (5, 4)
    """
    w_gate, w_up, w_down = (jnp.stack(w) if isinstance(w, (list, tuple)) else w
                            for w in (w_gate, w_up, w_down))  # fmt: skip
    tokens, dim = input.shape
    num_experts = probs.shape[-1]
    weights, indices = _top_k(probs, top_k)  # (T, k)
    weights = weights.astype(input.dtype)
    if capacity is None:  # dense: all experts on all tokens, mixed by a sparse gate matrix
        onehot = jax.nn.one_hot(indices, num_experts, dtype=input.dtype)  # (T, k, E)
        gates = (onehot * weights[..., None]).sum(1)  # (T, E)
        expert_in = jnp.broadcast_to(input, (num_experts, tokens, dim))  # (E, T, D)
        return jnp.einsum("te,etd->td", gates, _swiglu(expert_in, w_gate, w_up, w_down))
    slot, _ = _slots(indices, num_experts, capacity)  # (k·T,)
    n_slots = num_experts * capacity
    token = jnp.tile(jnp.arange(tokens), top_k)  # (k·T,) slot-major, as `slot`
    slot_token = jnp.full((n_slots,), tokens).at[slot].set(token, mode="drop")  # empty: T
    slot_weight = (
        jnp.zeros((n_slots,), input.dtype).at[slot].set(weights.T.reshape(-1), mode="drop")
    )
    padded = jnp.concatenate([input, jnp.zeros((1, dim), input.dtype)])  # row T: empty slots
    expert_in = padded[slot_token].reshape(num_experts, capacity, dim)  # (E, C, D)
    expert_out = _swiglu(expert_in, w_gate, w_up, w_down) * slot_weight.reshape(
        num_experts, capacity, 1
    )
    out = (
        jnp.zeros((tokens + 1, dim), input.dtype)
        .at[slot_token]
        .add(expert_out.reshape(n_slots, dim))
    )
    return out[:tokens]


@op(static=("top_k",))
def load_balancing_loss(probs, top_k):
    """Switch Transformer auxiliary loss E · Σ_i f_i · P_i (1 when perfectly balanced).

    f_i is the fraction of the T·k token-to-expert assignments that chose expert i (a count,
    carrying no gradient) and P_i the mean router probability of expert i (differentiable), so
    the gradient pushes probability away from over-used experts.

    Shape:
        - probs: (T, E)
        - output: () scalar

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.functional.moe import load_balancing_loss
        >>> float(load_balancing_loss(jnp.full((4, 2), 0.5), top_k=1))
        1.0
    """
    num_experts = probs.shape[-1]
    fraction = jax.lax.stop_gradient(expert_fraction(probs, top_k))
    mean_prob = probs.astype(jnp.float32).mean(0)
    return (num_experts * jnp.sum(fraction * mean_prob)).astype(probs.dtype)


def expert_fraction(probs, top_k):
    """(E,) fraction of the T·k assignments that each expert received (sums to one)."""
    _, indices = jax.lax.top_k(jax.lax.stop_gradient(probs), top_k)
    counts = jax.nn.one_hot(indices, probs.shape[-1], dtype=jnp.float32).sum((0, 1))
    return counts / indices.size


@functools.partial(jax.jit, static_argnames=("top_k", "capacity"))
def routing_stats(probs, top_k, capacity=None):
    """(expert fraction (E,), fraction of assignments dropped for lack of capacity ()).

    Not differentiable (statistics only); one compiled program, inlined under a trace.
    """
    fraction = expert_fraction(probs, top_k)
    if capacity is None:
        return fraction, jnp.zeros((), jnp.float32)
    _, indices = jax.lax.top_k(probs, top_k)
    _, keep = _slots(indices, probs.shape[-1], capacity)
    return fraction, jnp.mean(~keep, dtype=jnp.float32)


@op(static=("top_k",))
def top_k_weights(probs, top_k):
    """The renormalised top-k router probabilities (T, k), in descending order (differentiable).

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.functional.moe import top_k_weights
        >>> [round(w, 3) for w in top_k_weights(jnp.array([[0.1, 0.6, 0.3]]), top_k=2)[0].tolist()]
        [0.667, 0.333]
    """
    return _top_k(probs, top_k)[0]
