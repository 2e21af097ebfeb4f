"""Adagrad (Duchi et al., 2011) with PyTorch's learning-rate decay and eager state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from axon.autograd import Variable
from axon.optim.optimizer import Optimizer, ParamsT, check_at_least, is_zero

__all__ = ["Adagrad", "scale_by_torch_adagrad"]


class ScaleByTorchAdagradState(NamedTuple):
    """The step count and the running sum of g²."""

    count: jax.Array
    sum: Any


def scale_by_torch_adagrad(
    lr_decay, eps, initial_accumulator_value=0.0
) -> optax.GradientTransformation:
    """Adagrad's scaling computed as PyTorch computes it.

    `s = s + g²`, and the update is `g / (sqrt(s) + eps) / (1 + (t - 1) lr_decay)` at step `t`
    (the learning-rate decay is folded in, so that a following `scale_by_learning_rate(lr)`
    gives PyTorch's `clr = lr / (1 + (t - 1) lr_decay)`). The sum starts at
    `initial_accumulator_value`.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.optim.adagrad import scale_by_torch_adagrad
        >>> tx = scale_by_torch_adagrad(0.0, 0.0, initial_accumulator_value=5.0)
        >>> u, state = tx.update(jnp.full(2, 2.0), tx.init(jnp.zeros(2)))
        >>> u.tolist(), state.sum.tolist()                     # 2 / sqrt(5 + 4)
        ([0.6666666865348816, 0.6666666865348816], [9.0, 9.0])
    """

    def init_fn(params):
        total = jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        return ScaleByTorchAdagradState(jnp.zeros([], jnp.int32), total)

    def update_fn(updates, state, params=None):
        del params
        count = optax.safe_increment(state.count)
        total = jax.tree.map(lambda g, s: s + g * g, updates, state.sum)
        updates = jax.tree.map(lambda g, s: g / (jnp.sqrt(s) + eps), updates, total)
        if not is_zero(lr_decay):
            updates = jax.tree.map(
                lambda u: u / (1 + (count - 1).astype(u.dtype) * lr_decay), updates
            )
        return updates, ScaleByTorchAdagradState(count, total)

    return optax.GradientTransformation(init_fn, update_fn)


class Adagrad(Optimizer):
    """Adagrad, as `torch.optim.Adagrad`.

    Per parameter, with `g` its gradient (negated when `maximize`) and `t` its step count:

        g = g + weight_decay * p
        s = s + g²
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    Args:
        params: Parameters or param-group dicts (see `Optimizer`).
        lr: learning rate.
        lr_decay: learning-rate decay per step.
        weight_decay: L2 penalty added to the gradient.
        initial_accumulator_value: the starting value of the sum of squared gradients.
        eps: added to the denominator for numerical stability.
        maximize: maximize the objective instead of minimizing it.

    State per parameter: `step` and `sum`. As in PyTorch, the state of every parameter given to
    the constructor is created right away (so `state_dict()` lists them before any step);
    parameters of groups added later get theirs at their first step.

    Note:
        As in PyTorch, every parameter's sum starts at the constructor's
        `initial_accumulator_value` (`defaults`), even in a param group that sets its own.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> w = axon.nn.Parameter(jnp.ones(2))
        >>> opt = axon.optim.Adagrad([w], lr=0.5)
        >>> sorted(opt.state_dict()["state"][0])
        ['step', 'sum']
        >>> w.grad = jnp.full(2, 3.0)
        >>> opt.step()                                 # 1 - 0.5 * 3 / sqrt(9)
        >>> [round(x, 6) for x in w.data.tolist()]
        [0.5, 0.5]
    """

    per_leaf = True
    state_names = {"step": "count", "sum": "sum"}
    static_when_zero = ("lr_decay", "weight_decay")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            maximize=maximize,
        )
        self._validate(defaults)
        super().__init__(params, defaults)
        self.init_state()  # PyTorch creates Adagrad's state in the constructor
        self._live = [True] * len(self._live)

    def _validate(self, hyper) -> None:
        where = self._where()
        check_at_least(where, "learning rate", "lr", hyper["lr"])
        check_at_least(where, "lr_decay value", "lr_decay", hyper["lr_decay"])
        check_at_least(where, "weight_decay value", "weight_decay", hyper["weight_decay"])
        check_at_least(
            where,
            "initial_accumulator_value value",
            "initial_accumulator_value",
            hyper["initial_accumulator_value"],
        )
        check_at_least(where, "epsilon value", "eps", hyper["eps"])

    def _fresh_state(self, group: Mapping[str, Any], param: Variable) -> dict[str, jax.Array]:
        """`step` 0 and `sum` filled with the defaults' `initial_accumulator_value` (PyTorch)."""
        value = self.defaults["initial_accumulator_value"]
        return {
            "step": jnp.zeros([], jnp.float32),
            "sum": jnp.full_like(param.data, value),
        }

    @staticmethod
    def make_transform(
        lr, lr_decay, eps, weight_decay, initial_accumulator_value, maximize
    ) -> optax.GradientTransformation:
        """The optax chain of one group: [negate], L2, Adagrad scaling, `-lr` scaling."""
        return optax.chain(
            optax.scale(-1.0) if maximize else optax.identity(),
            optax.add_decayed_weights(weight_decay),  # skips itself for a constant 0
            scale_by_torch_adagrad(lr_decay, eps, initial_accumulator_value),
            optax.scale_by_learning_rate(lr),
        )
