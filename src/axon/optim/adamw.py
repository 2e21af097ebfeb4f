"""AdamW: Adam with PyTorch's decoupled weight decay (Loshchilov & Hutter, 2019)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import optax

from axon.optim.adam import Adam, scale_by_torch_adam
from axon.optim.optimizer import Optimizer, ParamsT, is_zero

__all__ = ["AdamW", "decoupled_decay"]


def decoupled_decay(factor) -> optax.GradientTransformation:
    """Add `p * factor - p` to the updates: the parameter is multiplied by `factor`.

    With `factor = 1 - lr * weight_decay` this is AdamW's decay `p *= 1 - lr * weight_decay`.
    `p * factor` is rounded as PyTorch's `param.mul_(factor)` rounds it; the difference to `p`
    is then exact (the two are within a factor of two of each other).

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.optim.adamw import decoupled_decay
        >>> tx = decoupled_decay(0.5)
        >>> p = jnp.array([2.0, -4.0])
        >>> u, _ = tx.update(jnp.zeros(2), tx.init(p), p)
        >>> (p + u).tolist()
        [1.0, -2.0]
    """

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(optax.NO_PARAMS_MSG)
        updates = jax.tree.map(lambda u, p: u + (p * factor - p), updates, params)
        return updates, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


class AdamW(Adam):
    """AdamW, as `torch.optim.AdamW`: Adam with decoupled weight decay.

    Per parameter, with `g` its gradient (negated when `maximize`) and `t` its step count:

        p = p * (1 - lr * weight_decay)                (decoupled: not added to the gradient)
        m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g²
        v_max = max(v_max, v)                          (amsgrad; then v_max replaces v)
        p = p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    Args:
        params: Parameters or param-group dicts (see `Optimizer`).
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
        weight_decay: decoupled weight decay coefficient.
        amsgrad: use the AMSGrad variant (Reddi et al., 2018).
        maximize: maximize the objective instead of minimizing it.

    State per parameter: `step`, `exp_avg`, `exp_avg_sq` and, with amsgrad, `max_exp_avg_sq`.
    Each param group also holds `decoupled_weight_decay: True`, as PyTorch's AdamW groups do, so
    a state dict saved here loads into `torch.optim.AdamW` or `torch.optim.Adam` and keeps its
    meaning.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> w = axon.nn.Parameter(jnp.ones(2))
        >>> opt = axon.optim.AdamW([w], lr=0.1, weight_decay=0.5)
        >>> w.grad = jnp.zeros(2)
        >>> opt.step()                                 # a zero gradient: only the decay acts
        >>> [round(x, 4) for x in w.data.tolist()]
        [0.95, 0.95]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
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
            decoupled_weight_decay=True,
        )
        self._validate(defaults)
        defaults["betas"] = tuple(betas)
        Optimizer.__init__(self, params, defaults)

    @staticmethod
    def derived_hyper(hyper) -> dict[str, Any]:
        """`1 - beta` and the decay factor `1 - lr * weight_decay`, both in double precision."""
        return {
            **Adam.derived_hyper(hyper),
            "decay_factor": 1 - hyper["lr"] * hyper["weight_decay"],
        }

    @staticmethod
    def make_transform(
        lr,
        betas,
        eps,
        weight_decay,
        amsgrad,
        maximize,
        decoupled_weight_decay=True,
        one_minus_betas=None,
        decay_factor=None,
    ) -> optax.GradientTransformation:
        """The optax chain of one group: [negate], Adam scaling, `-lr` scaling, decoupled decay."""
        del decoupled_weight_decay  # always True, as in PyTorch's AdamW
        b1, b2 = betas
        c1, c2 = one_minus_betas if one_minus_betas is not None else (None, None)
        if decay_factor is None:
            decay_factor = 1 - lr * weight_decay
        return optax.chain(
            optax.scale(-1.0) if maximize else optax.identity(),
            scale_by_torch_adam(b1, b2, eps, amsgrad, one_minus_b1=c1, one_minus_b2=c2),
            optax.scale_by_learning_rate(lr),
            optax.identity() if is_zero(weight_decay) else decoupled_decay(decay_factor),
        )

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """As `Optimizer.load_state_dict`; the groups keep `decoupled_weight_decay=True`.

        PyTorch's AdamW forces the flag on whatever it loads; so does axon's.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.AdamW([axon.nn.Parameter(jnp.zeros(2))])
            >>> saved = opt.state_dict()
            >>> saved["param_groups"][0]["decoupled_weight_decay"] = False
            >>> opt.load_state_dict(saved)
            >>> opt.param_groups[0]["decoupled_weight_decay"]
            True
        """
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
