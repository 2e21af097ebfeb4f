"""Adam with PyTorch's coupled L2 weight decay, bias correction and AMSGrad."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from axon._errors import type_error, value_error
from axon.optim.optimizer import Optimizer, ParamsT, check_at_least, concrete

__all__ = ["Adam"]


class ScaleByTorchAMSGradState(NamedTuple):
    """Adam's moments plus the running maximum of the raw second moment."""

    count: jax.Array
    mu: Any
    nu: Any
    nu_max: Any


def scale_by_torch_amsgrad(b1, b2, eps) -> optax.GradientTransformation:
    """AMSGrad as PyTorch computes it: the maximum is taken over the raw second moment.

    `optax.scale_by_amsgrad` takes it over the bias-corrected one, a different rule. Here
    `nu_max = max(nu_max, nu)` and the update is `mu_hat / (sqrt(nu_max / (1 - b2^t)) + eps)`.
    """

    def init_fn(params):
        zeros = optax.tree.zeros_like(params)
        return ScaleByTorchAMSGradState(jnp.zeros([], jnp.int32), zeros, zeros, zeros)

    def update_fn(updates, state, params=None):
        del params
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = optax.safe_increment(state.count)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
        mu_hat = optax.tree.bias_correction(mu, b1, count)
        nu_hat = optax.tree.bias_correction(nu_max, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return updates, ScaleByTorchAMSGradState(count, mu, nu, nu_max)

    return optax.GradientTransformation(init_fn, update_fn)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014), as `torch.optim.Adam`.

    Per parameter, with `g` its gradient (negated when `maximize`) and `t` its step count:

        g = g + weight_decay * p                       (coupled L2, as PyTorch's Adam)
        m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g²
        v_max = max(v_max, v)                          (amsgrad; then v_max replaces v)
        p = p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    Args:
        params: Parameters or param-group dicts (see `Optimizer`).
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient (for decoupled decay use AdamW).
        amsgrad: use the AMSGrad variant (Reddi et al., 2018).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: `step`, `exp_avg`, `exp_avg_sq` and, with amsgrad, `max_exp_avg_sq`.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> w = axon.nn.Parameter(jnp.ones(2))
        >>> opt = axon.optim.Adam([w], 0.1)
        >>> w.grad = jnp.ones(2)
        >>> opt.step()
        >>> [round(x, 4) for x in w.data.tolist()], float(opt.state[w]["step"])
        ([0.9, 0.9], 1.0)
    """

    state_names = {
        "step": "count",
        "exp_avg": "mu",
        "exp_avg_sq": "nu",
        "max_exp_avg_sq": "nu_max",
    }
    static_when_zero = ("weight_decay",)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
        )
        self._validate(defaults)
        defaults["betas"] = tuple(betas)
        super().__init__(params, defaults)

    def _validate(self, hyper) -> None:
        where = self._where()
        check_at_least(where, "learning rate", "lr", hyper["lr"])
        check_at_least(where, "epsilon value", "eps", hyper["eps"])
        betas = hyper["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise type_error(where, f"expected betas to be a pair (beta1, beta2), got {betas!r}.")
        for i, beta in enumerate(betas):
            b = concrete(beta)
            if b is not None and not 0.0 <= b < 1.0:
                raise value_error(
                    where,
                    f"invalid beta parameter at index {i}: expected 0 <= beta < 1, got {beta}.",
                )
        check_at_least(where, "weight_decay value", "weight_decay", hyper["weight_decay"])

    @staticmethod
    def make_transform(
        lr, betas, eps, weight_decay, amsgrad, maximize
    ) -> optax.GradientTransformation:
        """The optax chain of one group: [negate], L2, Adam or AMSGrad scaling, `-lr` scaling."""
        b1, b2 = betas
        if amsgrad:
            scale = scale_by_torch_amsgrad(b1, b2, eps)
        else:
            scale = optax.scale_by_adam(b1, b2, eps)
        return optax.chain(
            optax.scale(-1.0) if maximize else optax.identity(),
            optax.add_decayed_weights(weight_decay),  # skips itself for a constant 0
            scale,
            optax.scale_by_learning_rate(lr),
        )

    @classmethod
    def with_betas(cls, params: ParamsT, lr: float, betas: tuple[float, float]) -> Adam:
        """The seed's `Adam::with_betas(params, lr, (b1, b2))`.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> p = [axon.nn.Parameter(jnp.zeros(2))]
            >>> axon.optim.Adam.with_betas(p, 1e-3, (0.8, 0.99)).param_groups[0]["betas"]
            (0.8, 0.99)
        """
        return cls(params, lr, betas)

    @classmethod
    def with_options(
        cls,
        params: ParamsT,
        lr: float,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
        amsgrad: bool,
    ) -> Adam:
        """The seed's `Adam::with_options(params, lr, betas, eps, weight_decay, amsgrad)`.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> p = [axon.nn.Parameter(jnp.zeros(2))]
            >>> opt = axon.optim.Adam.with_options(p, 1e-3, (0.9, 0.999), 1e-6, 0.01, True)
            >>> opt.param_groups[0]["amsgrad"]
            True
        """
        return cls(params, lr, betas, eps, weight_decay, amsgrad)
