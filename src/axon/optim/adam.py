"""Adam with PyTorch's coupled L2 weight decay, bias correction and AMSGrad."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from axon._errors import type_error, value_error
from axon.optim.optimizer import Optimizer, ParamsT, check_at_least, concrete

__all__ = ["Adam", "scale_by_torch_adam"]


class ScaleByTorchAMSGradState(NamedTuple):
    """Adam's moments plus the running maximum of the raw second moment."""

    count: jax.Array
    mu: Any
    nu: Any
    nu_max: Any


def _one_minus_pow(one_minus_b, count, dtype):
    """`1 - b ** t` from `1 - b`, accurate to rounding even for b near 1 (in >= float32)."""
    dtype = jnp.promote_types(dtype, jnp.float32)
    return -jnp.expm1(count.astype(dtype) * jnp.log1p(-jnp.asarray(one_minus_b, dtype)))


def _bias_corrections(c1, c2, count):
    """`dtype -> (1 - b1^t, sqrt(1 - b2^t))` in that dtype, each computed once per dtype: an
    update over many parameters shares one count, so it needs them once, not per parameter."""
    memo = {}

    def of(dtype):
        if dtype not in memo:
            bc1 = _one_minus_pow(c1, count, dtype).astype(dtype)
            memo[dtype] = bc1, jnp.sqrt(_one_minus_pow(c2, count, dtype)).astype(dtype)
        return memo[dtype]

    return of


def scale_by_torch_adam(
    b1, b2, eps, amsgrad: bool = False, *, one_minus_b1=None, one_minus_b2=None
) -> optax.GradientTransformation:
    """Adam's scaling computed as PyTorch computes it.

    `optax.scale_by_adam` forms `1 - b` and `1 - b^t` from the beta as traced (float32 unless
    x64 is on): `1 - f32(0.999)` is 1.3e-5 away from `1 - 0.999`, which PyTorch forms in double,
    and a PyTorch state continued with it drifts at that level. Here `1 - b` may come in
    precomputed (`one_minus_b1`, `one_minus_b2`) and `1 - b^t` is `-expm1(t log1p(-(1 - b)))`.
    With `amsgrad`, the running maximum is over the raw second moment, as PyTorch (optax's
    `scale_by_amsgrad` takes it over the bias-corrected one, a different rule).

    Updates: `m = m + (1 - b1)(g - m)`, `v = b2 v + (1 - b2) g²`, `v_max = max(v_max, v)`, and
    `(m / (1 - b1^t)) / (sqrt(v) / sqrt(1 - b2^t) + eps)`. The state is optax's
    `ScaleByAdamState(count, mu, nu)` (or `ScaleByTorchAMSGradState` with `nu_max`).

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.optim.adam import scale_by_torch_adam
        >>> tx = scale_by_torch_adam(0.9, 0.999, 1e-8, one_minus_b2=1e-3)
        >>> u, state = tx.update(jnp.full(2, 3.0), tx.init(jnp.zeros(2)))
        >>> [round(x, 6) for x in u.tolist()], int(state.count)
        ([1.0, 1.0], 1)
    """
    c1 = 1 - b1 if one_minus_b1 is None else one_minus_b1
    c2 = 1 - b2 if one_minus_b2 is None else one_minus_b2

    def init_fn(params):
        count = jnp.zeros([], jnp.int32)
        mu, nu = optax.tree.zeros_like(params), optax.tree.zeros_like(params)
        if amsgrad:
            return ScaleByTorchAMSGradState(count, mu, nu, optax.tree.zeros_like(params))
        return optax.ScaleByAdamState(count, mu, nu)

    def update_fn(updates, state, params=None):
        del params
        count = optax.safe_increment(state.count)
        mu = jax.tree.map(lambda g, m: m + c1 * (g - m), updates, state.mu)  # torch's lerp
        nu = jax.tree.map(lambda g, v: v * b2 + c2 * g * g, updates, state.nu)
        second = nu
        if amsgrad:
            second = jax.tree.map(jnp.maximum, state.nu_max, nu)

        corrections = _bias_corrections(c1, c2, count)

        def scale(m, v):
            bc1, bc2_sqrt = corrections(m.dtype)
            return (m / (jnp.sqrt(v) / bc2_sqrt + eps)) / bc1

        updates = jax.tree.map(scale, mu, second)
        if amsgrad:
            return updates, ScaleByTorchAMSGradState(count, mu, nu, second)
        return updates, optax.ScaleByAdamState(count, mu, nu)

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

    per_leaf = True
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
    def derived_hyper(hyper) -> dict[str, Any]:
        """`1 - beta` in double precision, before rounding (see `scale_by_torch_adam`)."""
        return {"one_minus_betas": tuple(1 - b for b in hyper["betas"])}

    @staticmethod
    def make_transform(
        lr, betas, eps, weight_decay, amsgrad, maximize, one_minus_betas=None
    ) -> optax.GradientTransformation:
        """The optax chain of one group: [negate], L2, Adam scaling, `-lr` scaling."""
        b1, b2 = betas
        c1, c2 = one_minus_betas if one_minus_betas is not None else (None, None)
        return optax.chain(
            optax.scale(-1.0) if maximize else optax.identity(),
            optax.add_decayed_weights(weight_decay),  # skips itself for a constant 0
            scale_by_torch_adam(b1, b2, eps, amsgrad, one_minus_b1=c1, one_minus_b2=c2),
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
