"""LAMB (You et al., 2019): Adam's direction scaled per parameter by the trust ratio ‖p‖ / ‖r‖."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from axon.optim.adam import Adam, _bias_corrections
from axon.optim.optimizer import Optimizer, ParamsT

__all__ = ["LAMB", "scale_by_lamb_moments"]


def scale_by_lamb_moments(
    b1, b2, eps, bias_correction: bool = True, *, one_minus_b1=None, one_minus_b2=None
) -> optax.GradientTransformation:
    """LAMB's Adam direction `m̂ / (sqrt(v̂) + eps)`, optionally without bias correction.

    `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g²`; with `bias_correction`,
    `m̂ = m / (1 - b1^t)` and `v̂ = v / (1 - b2^t)`, otherwise `m̂ = m`, `v̂ = v`. The state is
    optax's `ScaleByAdamState(count, mu, nu)`. `1 - b` may come in precomputed in double.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.optim.lamb import scale_by_lamb_moments
        >>> tx = scale_by_lamb_moments(0.9, 0.999, 0.0, bias_correction=False)
        >>> u, state = tx.update(jnp.full(2, 3.0), tx.init(jnp.zeros(2)))
        >>> [round(x, 4) for x in u.tolist()]          # (0.1 * 3) / sqrt(0.001 * 9)
        [3.1623, 3.1623]
    """
    c1 = 1 - b1 if one_minus_b1 is None else one_minus_b1
    c2 = 1 - b2 if one_minus_b2 is None else one_minus_b2

    def init_fn(params):
        zeros = optax.tree.zeros_like
        return optax.ScaleByAdamState(jnp.zeros([], jnp.int32), zeros(params), zeros(params))

    def update_fn(updates, state, params=None):
        del params
        count = optax.safe_increment(state.count)
        mu = jax.tree.map(lambda g, m: m + c1 * (g - m), updates, state.mu)
        nu = jax.tree.map(lambda g, v: v * b2 + c2 * g * g, updates, state.nu)

        corrections = _bias_corrections(c1, c2, count)

        def direction(m, v):
            if not bias_correction:
                return m / (jnp.sqrt(v) + eps)
            bc1, bc2_sqrt = corrections(m.dtype)
            return (m / bc1) / (jnp.sqrt(v) / bc2_sqrt + eps)

        return jax.tree.map(direction, mu, nu), optax.ScaleByAdamState(count, mu, nu)

    return optax.GradientTransformation(init_fn, update_fn)


class LAMB(Optimizer):
    """LAMB: layer-wise adaptive moments for large-batch training (You et al., 2019).

    Per parameter (each parameter tensor is one "layer"), with `g` its gradient and `t` its
    step count:

        m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g²
        m̂ = m / (1 - b1^t),      v̂ = v / (1 - b2^t)       (bias_correction; else m̂ = m, v̂ = v)
        r = m̂ / (sqrt(v̂) + eps) + weight_decay * p
        trust = ‖p‖ / ‖r‖          (1 when either norm is 0; no clamp)
        p = p - lr * trust * r

    With `bias_correction=True` this is `optax.lamb`. PyTorch has no LAMB; the state uses the
    names of PyTorch's Adam.

    Args:
        params: Parameters or param-group dicts (see `Optimizer`).
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
        weight_decay: decoupled weight decay, added to the Adam direction before the trust ratio.
        bias_correction: divide the moments by `1 - beta^t`.

    State per parameter: `step`, `exp_avg`, `exp_avg_sq`.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> w = axon.nn.Parameter(jnp.array([3.0, 4.0]))      # ‖p‖ = 5
        >>> opt = axon.optim.LAMB([w], lr=0.1)
        >>> w.grad = jnp.array([1.0, 1.0])                    # r ≈ (1, 1), ‖r‖ ≈ √2
        >>> opt.step()
        >>> [round(x, 3) for x in w.data.tolist()]            # p - 0.1 * (5 / √2) * r
        [2.646, 3.646]
    """

    per_leaf = True
    state_names = {"step": "count", "exp_avg": "mu", "exp_avg_sq": "nu"}
    static_when_zero = ("weight_decay",)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0,
        *,
        bias_correction: bool = True,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            bias_correction=bias_correction,
        )
        self._validate(defaults)
        defaults["betas"] = tuple(betas)
        super().__init__(params, defaults)

    _validate = Adam._validate  # lr, eps, betas and weight_decay, checked as Adam's
    derived_hyper = staticmethod(Adam.derived_hyper)  # `1 - beta` in double precision, as Adam

    @staticmethod
    def make_transform(
        lr, betas, eps, weight_decay, bias_correction, one_minus_betas=None
    ) -> optax.GradientTransformation:
        """The optax chain of one group: moments, weight decay, trust ratio, `-lr` scaling."""
        b1, b2 = betas
        c1, c2 = one_minus_betas if one_minus_betas is not None else (None, None)
        return optax.chain(
            scale_by_lamb_moments(b1, b2, eps, bias_correction, one_minus_b1=c1, one_minus_b2=c2),
            optax.add_decayed_weights(weight_decay),  # skips itself for a constant 0
            optax.scale_by_trust_ratio(),
            optax.scale_by_learning_rate(lr),
        )

    @classmethod
    def with_betas(cls, params: ParamsT, lr: float, betas: tuple[float, float]) -> LAMB:
        """The seed's `LAMB::with_betas(params, lr, (b1, b2))`.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> p = [axon.nn.Parameter(jnp.zeros(2))]
            >>> axon.optim.LAMB.with_betas(p, 1e-3, (0.8, 0.99)).param_groups[0]["betas"]
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
    ) -> LAMB:
        """The seed's `LAMB::with_options(params, lr, betas, eps, weight_decay)`.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> p = [axon.nn.Parameter(jnp.zeros(2))]
            >>> opt = axon.optim.LAMB.with_options(p, 1e-3, (0.9, 0.999), 1e-8, 0.01)
            >>> opt.param_groups[0]["eps"], opt.param_groups[0]["weight_decay"]
            (1e-08, 0.01)
        """
        return cls(params, lr, betas, eps, weight_decay)
