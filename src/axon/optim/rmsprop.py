"""RMSprop (Hinton's lecture 6e), as PyTorch implements it: eps outside the square root."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from axon.optim.optimizer import Optimizer, ParamsT, check_at_least, is_zero

__all__ = ["RMSprop", "scale_by_torch_rms"]


class ScaleByTorchRMSState(NamedTuple):
    """The step count, the running average of g² and (centered) the running average of g."""

    count: jax.Array
    square_avg: Any
    grad_avg: Any


def scale_by_torch_rms(
    alpha, eps, centered: bool = False, *, one_minus_alpha=None
) -> optax.GradientTransformation:
    """RMSprop's scaling computed as PyTorch computes it.

    `v = alpha v + (1 - alpha) g²`; centered: `a = a + (1 - alpha)(g - a)` and the update is
    `g / (sqrt(v - a²) + eps)`, otherwise `g / (sqrt(v) + eps)`. `1 - alpha` may come in
    precomputed in double precision (`one_minus_alpha`), as PyTorch forms it.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.optim.rmsprop import scale_by_torch_rms
        >>> tx = scale_by_torch_rms(0.75, 0.0)
        >>> u, state = tx.update(jnp.full(2, 2.0), tx.init(jnp.zeros(2)))
        >>> u.tolist(), state.square_avg.tolist()             # v = 0.25 * 4 = 1
        ([2.0, 2.0], [1.0, 1.0])
    """
    c = 1 - alpha if one_minus_alpha is None else one_minus_alpha

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        grad_avg = optax.tree.zeros_like(params) if centered else None
        return ScaleByTorchRMSState(jnp.zeros([], jnp.int32), zeros, grad_avg)

    def update_fn(updates, state, params=None):
        del params
        count = optax.safe_increment(state.count)
        square_avg = jax.tree.map(lambda g, v: v * alpha + c * g * g, updates, state.square_avg)
        if centered:
            grad_avg = jax.tree.map(lambda g, a: a + c * (g - a), updates, state.grad_avg)
            avg = jax.tree.map(lambda v, a: jnp.sqrt(v - a * a) + eps, square_avg, grad_avg)
        else:
            grad_avg = None
            avg = jax.tree.map(lambda v: jnp.sqrt(v) + eps, square_avg)
        updates = jax.tree.map(lambda g, d: g / d, updates, avg)
        return updates, ScaleByTorchRMSState(count, square_avg, grad_avg)

    return optax.GradientTransformation(init_fn, update_fn)


class RMSprop(Optimizer):
    """RMSprop, as `torch.optim.RMSprop`.

    Per parameter, with `g` its gradient (negated when `maximize`):

        g = g + weight_decay * p
        v = alpha v + (1 - alpha) g²
        a = alpha a + (1 - alpha) g,  d = sqrt(v - a²) + eps      (centered)
        d = sqrt(v) + eps                                          (otherwise)
        b = momentum b + g / d,  p = p - lr * b                    (momentum > 0)
        p = p - lr * g / d                                         (otherwise)

    Args:
        params: Parameters or param-group dicts (see `Optimizer`).
        lr: learning rate.
        alpha: smoothing constant of the running average of g².
        eps: added to the denominator (after the square root) for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum factor.
        centered: normalize by an estimate of the gradient's variance instead of its second
            moment.
        maximize: maximize the objective instead of minimizing it.

    State per parameter: `step`, `square_avg`, `momentum_buffer` (when `momentum > 0`) and
    `grad_avg` (when `centered`).

    Example:
        >>> import jax.numpy as jnp, axon
        >>> w = axon.nn.Parameter(jnp.ones(2))
        >>> opt = axon.optim.RMSprop([w], lr=0.01, alpha=0.75, eps=0.0)
        >>> w.grad = jnp.full(2, 2.0)
        >>> opt.step()                                 # v = 1: the step is lr * g / 1
        >>> [round(x, 6) for x in w.data.tolist()], sorted(opt.state[w])
        ([0.98, 0.98], ['square_avg', 'step'])
    """

    per_leaf = True
    state_names = {
        "step": "count",
        "square_avg": "square_avg",
        "momentum_buffer": "trace",
        "grad_avg": "grad_avg",
    }
    static_when_zero = ("momentum", "weight_decay")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            maximize=maximize,
        )
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, hyper) -> None:
        where = self._where()
        check_at_least(where, "learning rate", "lr", hyper["lr"])
        check_at_least(where, "epsilon value", "eps", hyper["eps"])
        check_at_least(where, "momentum value", "momentum", hyper["momentum"])
        check_at_least(where, "weight_decay value", "weight_decay", hyper["weight_decay"])
        check_at_least(where, "alpha value", "alpha", hyper["alpha"])

    @staticmethod
    def derived_hyper(hyper) -> dict[str, Any]:
        """`1 - alpha` in double precision, before rounding."""
        return {"one_minus_alpha": 1 - hyper["alpha"]}

    @staticmethod
    def make_transform(
        lr, momentum, alpha, eps, centered, weight_decay, maximize, one_minus_alpha=None
    ) -> optax.GradientTransformation:
        """The optax chain of one group: [negate], L2, RMS scaling, [momentum], `-lr` scaling."""
        return optax.chain(
            optax.scale(-1.0) if maximize else optax.identity(),
            optax.add_decayed_weights(weight_decay),  # skips itself for a constant 0
            scale_by_torch_rms(alpha, eps, centered, one_minus_alpha=one_minus_alpha),
            optax.identity() if is_zero(momentum) else optax.trace(decay=momentum),
            optax.scale_by_learning_rate(lr),
        )

    @classmethod
    def with_alpha(cls, params: ParamsT, lr: float, alpha: float) -> RMSprop:
        """The seed's `RMSprop::with_alpha(params, lr, alpha)`.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> p = [axon.nn.Parameter(jnp.zeros(2))]
            >>> axon.optim.RMSprop.with_alpha(p, 1e-3, 0.9).param_groups[0]["alpha"]
            0.9
        """
        return cls(params, lr, alpha)

    @classmethod
    def with_options(
        cls,
        params: ParamsT,
        lr: float,
        alpha: float,
        eps: float,
        weight_decay: float,
        momentum: float,
        centered: bool,
    ) -> RMSprop:
        """The seed's `RMSprop::with_options(params, lr, alpha, eps, weight_decay, momentum,
        centered)`.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> p = [axon.nn.Parameter(jnp.zeros(2))]
            >>> opt = axon.optim.RMSprop.with_options(p, 1e-3, 0.9, 1e-6, 0.0, 0.9, True)
            >>> opt.param_groups[0]["centered"], opt.param_groups[0]["momentum"]
            (True, 0.9)
        """
        return cls(params, lr, alpha, eps, weight_decay, momentum, centered)
