"""Mixture of experts: `Expert` (SwiGLU), `MoERouter`, `MoELayer`.

`MoELayer` is one fixed-shape program (see `axon.functional.moe`): no Python loop over tokens,
so it runs the same eagerly, under `axon.jit` and under `jax.jit`/`grad`/`vmap`, and gradients
reach the router, every expert and the input.

How the auxiliary loss crosses a compiled boundary: each forward writes its statistics into
buffers registered in `__init__` (`aux_loss`, `expert_load`, `dropped_fraction`; not persistent,
so not in `state_dict()`). `axon.jit` carries every buffer in and out of the compiled call, so
after the call they hold the values of the last forward. The differentiable loss itself (a
Variable on the tape) is remembered beside the module, keyed by the very array written into
`aux_loss`: `load_balancing_loss()` returns that Variable while the buffer still holds that array
(the same eager step, or the same trace inside `axon.jit`), and otherwise a constant Variable of
the buffer's value (after `axon.jit` wrote the buffer back).
"""

from __future__ import annotations

import math
import weakref

import jax
import numpy as np

from axon import _errors
from axon.autograd.variable import Variable
from axon.functional import moe as _F
from axon.functional.activation import silu, softmax
from axon.functional.math import reshape
from axon.nn.container import ModuleList
from axon.nn.linear import Linear, check_input
from axon.nn.module import Module

# module -> (the array written into its `aux_loss` buffer, the differentiable loss Variable)
_LAST_AUX: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _positive_int(module, name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _errors.value_error(module, f"{name} must be a positive int, got {value!r}.")
    return value


def _data(x):
    return x.data if isinstance(x, Variable) else x


class Expert(Module):
    """A SwiGLU feed-forward expert: down_proj(silu(gate_proj(x)) ⊙ up_proj(x)).

    Args:
        d_model: input and output size D.
        intermediate: hidden size I.

    Shape:
        - input: (*, D)
        - output: (*, D)

    Attributes:
        up_proj, gate_proj: `Linear(D, I, bias=False)`; down_proj: `Linear(I, D, bias=False)`
            (PyTorch's default initialisation).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.Expert(16, 32)(axon.Tensor.randn([4, 16])).shape
        (4, 16)
    """

    def __init__(self, d_model: int, intermediate: int):
        super().__init__()
        self.d_model = _positive_int(self, "d_model", d_model)
        self.intermediate = _positive_int(self, "intermediate", intermediate)
        self.up_proj = Linear(d_model, intermediate, bias=False)
        self.gate_proj = Linear(d_model, intermediate, bias=False)
        self.down_proj = Linear(intermediate, d_model, bias=False)

    def forward(self, x):
        return self.down_proj(silu(self.gate_proj(x)) * self.up_proj(x))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, intermediate={self.intermediate}"


class MoERouter(Module):
    """A bias-free linear gate and a softmax: expert probabilities for each token.

    Args:
        d_model: token size D.
        num_experts: E.
        top_k: how many experts each token is sent to (1 ≤ top_k ≤ E).

    `forward(x)` returns the probabilities (*, E); `route(x)` the seed's triple: probabilities,
    the renormalised top-k weights (*, k) (differentiable) and their expert indices (*, k).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> probs, weights, indices = nn.MoERouter(16, 4, 2).route(axon.Tensor.randn([5, 16]))
        >>> probs.shape, weights.shape, indices.shape
        ((5, 4), (5, 2), (5, 2))
    """

    def __init__(self, d_model: int, num_experts: int, top_k: int):
        super().__init__()
        self.d_model = _positive_int(self, "d_model", d_model)
        self.num_experts = _positive_int(self, "num_experts", num_experts)
        self.top_k = _positive_int(self, "top_k", top_k)
        if top_k > num_experts:
            raise _errors.value_error(
                self, f"top_k ({top_k}) must not exceed num_experts ({num_experts})."
            )
        self.gate = Linear(d_model, num_experts, bias=False)

    def forward(self, x):
        check_input(self, x, last_dim=self.d_model, name="d_model")
        return softmax(self.gate(x), dim=-1)

    def route(self, x):
        probs = self(x)
        weights = _F.top_k_weights(probs, top_k=self.top_k)
        _, indices = jax.lax.top_k(_data(probs), self.top_k)
        return probs, weights, indices

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_experts={self.num_experts}, top_k={self.top_k}"


class MoELayer(Module):
    """Top-k mixture of SwiGLU experts: y = Σ_{e ∈ topk(x)} w_e(x) · expert_e(x).

    The router picks each token's `top_k` most probable experts and renormalises their
    probabilities to sum to one. With `capacity_factor=None` every expert runs on every token
    (dense dispatch: exact, compute × E). With a capacity factor each expert takes at most
    `C = ceil(capacity_factor · T · top_k / E)` of the T tokens in a batch, first choices first;
    assignments past that are dropped (that expert adds nothing to that token), as in the
    Switch Transformer.

    After a forward, `load_balancing_loss()` is the Switch Transformer auxiliary loss
    E · Σ_i f_i · P_i (f_i: fraction of assignments to expert i, P_i: its mean router
    probability); add `coef * moe.load_balancing_loss()` to the training loss in the same step
    (eager or inside `axon.jit`) and its gradient reaches the router. `expert_utilization()` is f
    and `dropped_fraction` the fraction of assignments dropped for lack of capacity.

    Args:
        d_model: token size D.
        intermediate: hidden size of each expert.
        num_experts: E.
        top_k: experts per token.
        capacity_factor: None (dense dispatch) or a positive float.

    Shape:
        - input: (*, D), e.g. (B, T, D); all leading dims are tokens
        - output: same as input

    Attributes:
        router: `MoERouter(D, E, top_k)`; experts: `ModuleList` of E `Expert(D, intermediate)`.
        aux_loss (), expert_load (E,), dropped_fraction (): non-persistent buffers, the
            statistics of the last forward.

    Note:
        The seed's `num_experts()` and `top_k()` methods are the attributes `num_experts` and
        `top_k` here.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> moe = nn.MoELayer(16, 32, num_experts=4, top_k=2)
        >>> moe(axon.Tensor.randn([2, 5, 16])).shape
        (2, 5, 16)
        >>> moe.load_balancing_loss().shape, moe.expert_utilization().shape
        ((), (4,))
    """

    def __init__(
        self,
        d_model: int,
        intermediate: int,
        num_experts: int,
        top_k: int,
        capacity_factor: float | None = None,
    ):
        super().__init__()
        if capacity_factor is not None and (
            isinstance(capacity_factor, bool)
            or not isinstance(capacity_factor, (int, float))
            or not capacity_factor > 0
        ):
            raise _errors.value_error(
                self, f"capacity_factor must be None or a positive number, got {capacity_factor!r}."
            )
        self.router = MoERouter(d_model, num_experts, top_k)
        self.experts = ModuleList(Expert(d_model, intermediate) for _ in range(num_experts))
        self.d_model, self.intermediate = d_model, intermediate
        self.num_experts, self.top_k = num_experts, top_k
        self.capacity_factor = capacity_factor
        # numpy zeros: no fill program compiled per shape
        self.register_buffer("aux_loss", np.zeros((), np.float32), persistent=False)
        self.register_buffer("expert_load", np.zeros((num_experts,), np.float32), persistent=False)
        self.register_buffer("dropped_fraction", np.zeros((), np.float32), persistent=False)

    @classmethod
    def new(cls, d_model: int, intermediate: int, num_experts: int, top_k: int) -> MoELayer:
        return cls(d_model, intermediate, num_experts, top_k)

    def capacity(self, num_tokens: int) -> int | None:
        """Token slots per expert for a batch of `num_tokens` tokens (None: dense dispatch)."""
        if self.capacity_factor is None:
            return None
        slots = math.ceil(self.capacity_factor * num_tokens * self.top_k / self.num_experts)
        return max(1, min(num_tokens, slots))

    def forward(self, x):
        check_input(self, x, last_dim=self.d_model, name="d_model")
        shape = tuple(x.shape)
        with jax.named_scope("axon.nn.MoELayer"):
            tokens = reshape(x, (-1, self.d_model))  # (T, D)
            probs = self.router(tokens)  # (T, E)
            capacity = self.capacity(tokens.shape[0])
            out = _F.moe_swiglu(
                tokens,
                probs,
                tuple(e.gate_proj.weight for e in self.experts),
                tuple(e.up_proj.weight for e in self.experts),
                tuple(e.down_proj.weight for e in self.experts),
                top_k=self.top_k,
                capacity=capacity,
            )
            aux = _F.load_balancing_loss(probs, top_k=self.top_k)
            load, dropped = _F.routing_stats(_data(probs), top_k=self.top_k, capacity=capacity)
        value = _data(aux).astype(self.aux_loss.dtype)
        self.aux_loss = value
        self.expert_load = load.astype(self.expert_load.dtype)
        self.dropped_fraction = dropped.astype(self.dropped_fraction.dtype)
        _LAST_AUX[self] = (value, aux if isinstance(aux, Variable) else Variable(aux))
        return reshape(out, shape)

    def load_balancing_loss(self) -> Variable:
        """The auxiliary loss of the last forward: differentiable within the step that ran it
        (eager, or inside the same `axon.jit` trace), else a constant of its value."""
        entry = _LAST_AUX.get(self)
        if entry is not None and entry[0] is self.aux_loss:
            return entry[1]
        _LAST_AUX.pop(self, None)  # stale (e.g. a tracer of a finished trace): drop it
        return Variable(self.aux_loss)

    def expert_utilization(self) -> jax.Array:
        """(E,) share of the last forward's token-to-expert assignments per expert (sums to 1)."""
        return self.expert_load

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, intermediate={self.intermediate}, "
            f"num_experts={self.num_experts}, top_k={self.top_k}, "
            f"capacity_factor={self.capacity_factor}"
        )
