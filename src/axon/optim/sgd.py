"""Stochastic gradient descent with PyTorch's momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax

from axon._errors import value_error
from axon.optim.optimizer import Optimizer, ParamsT, check_at_least, concrete, is_zero

__all__ = ["SGD"]


class DampenedTraceState(NamedTuple):
    """The momentum buffer; None until the first step (PyTorch's lazily created buffer)."""

    trace: Any


def dampened_trace(momentum, dampening, nesterov: bool = False) -> optax.GradientTransformation:
    """PyTorch's momentum with dampening: `b = g` at the first step, then `b = m b + (1 - d) g`.

    `optax.trace` starts from a zero buffer, which equals PyTorch's first step only when
    `dampening == 0`; this transformation keeps no buffer until the first update instead.
    With `nesterov`, the update is `g + m b`, otherwise `b`.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.optim.sgd import dampened_trace
        >>> tx = dampened_trace(0.9, 0.5)
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.ones(2), state)  # the first buffer is the raw gradient
        >>> u, state = tx.update(jnp.ones(2), state)  # then 0.9 * 1 + 0.5 * 1
        >>> u.tolist()
        [1.399999976158142, 1.399999976158142]
    """

    def init_fn(params):
        del params
        return DampenedTraceState(trace=None)

    def update_fn(updates, state, params=None):
        del params
        if state.trace is None:
            trace = updates
        else:
            trace = jax.tree.map(
                lambda g, t: momentum * t + (1 - dampening) * g, updates, state.trace
            )
        if nesterov:
            updates = jax.tree.map(lambda g, t: g + momentum * t, updates, trace)
        else:
            updates = trace
        return updates, DampenedTraceState(trace=trace)

    return optax.GradientTransformation(init_fn, update_fn)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum, as `torch.optim.SGD`.

    Per parameter, with `g` its gradient (negated when `maximize`):

        g = g + weight_decay * p
        b = g (first step), else b = momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b        (when momentum != 0)
        p = p - lr * g

    Args:
        params: Parameters or param-group dicts (see `Optimizer`).
        lr: learning rate.
        momentum: momentum factor.
        dampening: dampening for momentum.
        weight_decay: L2 penalty added to the gradient.
        nesterov: Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: `momentum_buffer` (when `momentum != 0`).

    Example:
        >>> import jax.numpy as jnp, axon
        >>> w = axon.nn.Parameter(jnp.ones(2))
        >>> opt = axon.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.grad = jnp.ones(2)
        >>> opt.step()
        >>> opt.state[w]["momentum_buffer"].tolist()
        [1.0, 1.0]
    """

    per_leaf = True
    state_names = {"momentum_buffer": "trace"}
    static_when_zero = ("momentum", "dampening", "weight_decay")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, hyper) -> None:
        where = self._where()
        check_at_least(where, "learning rate", "lr", hyper["lr"])
        check_at_least(where, "momentum value", "momentum", hyper["momentum"])
        check_at_least(where, "weight_decay value", "weight_decay", hyper["weight_decay"])
        if hyper["nesterov"]:
            momentum, dampening = concrete(hyper["momentum"]), concrete(hyper["dampening"])
            if (momentum is not None and momentum <= 0) or (dampening not in (None, 0.0)):
                raise value_error(
                    where,
                    f"Nesterov momentum requires a momentum and zero dampening, got "
                    f"momentum={hyper['momentum']}, dampening={hyper['dampening']}.",
                    "Set momentum > 0 and dampening=0, or nesterov=False.",
                )

    @staticmethod
    def make_transform(
        lr, momentum, dampening, weight_decay, nesterov, maximize
    ) -> optax.GradientTransformation:
        """The optax chain of one group: [negate], weight decay, momentum, `-lr` scaling."""
        if is_zero(momentum):
            accumulate = optax.identity()
        elif is_zero(dampening):
            accumulate = optax.trace(decay=momentum, nesterov=nesterov)  # zero start == torch's
        else:
            accumulate = dampened_trace(momentum, dampening, nesterov)
        return optax.chain(
            optax.scale(-1.0) if maximize else optax.identity(),
            optax.add_decayed_weights(weight_decay),  # skips itself for a constant 0
            accumulate,
            optax.scale_by_learning_rate(lr),
        )

    @classmethod
    def with_momentum(cls, params: ParamsT, lr: float, momentum: float) -> SGD:
        """The seed's `SGD::with_momentum(params, lr, momentum)`.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.SGD.with_momentum([axon.nn.Parameter(jnp.zeros(2))], 0.1, 0.9)
            >>> opt.param_groups[0]["momentum"]
            0.9
        """
        return cls(params, lr, momentum)

    @classmethod
    def with_options(
        cls,
        params: ParamsT,
        lr: float,
        momentum: float,
        weight_decay: float,
        dampening: float,
        nesterov: bool,
    ) -> SGD:
        """The seed's `SGD::with_options(params, lr, momentum, weight_decay, dampening, nesterov)`.

        Note the seed's order: `weight_decay` before `dampening`, unlike the constructor.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> p = [axon.nn.Parameter(jnp.zeros(2))]
            >>> opt = axon.optim.SGD.with_options(p, 0.1, 0.9, 1e-4, 0.0, True)
            >>> opt.param_groups[0]["nesterov"], opt.param_groups[0]["weight_decay"]
            (True, 0.0001)
        """
        return cls(
            params,
            lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
