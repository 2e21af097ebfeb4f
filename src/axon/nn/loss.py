"""Loss modules with PyTorch's constructors; each `forward` is one call into `axon.functional.loss`.

Every loss takes `reduction` as a string ("mean" | "sum" | "none") or a `Reduction` member and
stores it as the plain string (as PyTorch does). `loss_fn.compute(prediction, target)` (the seed's
name) and `loss_fn(prediction, target)` are the same call; `new()` and `with_reduction(r)` are
the seed's constructors.
"""

from __future__ import annotations

import enum

import jax.numpy as jnp

from axon import _errors
from axon.autograd.variable import Variable
from axon.functional import loss as F
from axon.nn.module import Module


class Reduction(enum.StrEnum):
    """How a loss reduces its per-element values: `Reduction.MEAN == "mean"`.

    Example:
        >>> from axon.nn import Reduction
        >>> Reduction("sum"), Reduction.NONE == "none"
        (<Reduction.SUM: 'sum'>, True)
    """

    MEAN = "mean"
    SUM = "sum"
    NONE = "none"


def _weight_buffer(module: Module, name: str, weight, *, vector: bool):
    """`weight` as an array (or None); class weights must be 1-D."""
    if weight is None:
        return None
    if isinstance(weight, Variable):  # keep its value: losses do not train their weights
        weight = weight.data
    weight = jnp.asarray(weight)
    if not jnp.issubdtype(weight.dtype, jnp.floating):
        raise _errors.type_error(
            module, f"{name} must be floating point, got dtype {weight.dtype}."
        )
    if vector and weight.ndim != 1:
        raise _errors.value_error(
            module,
            f"expected {name} of shape (C,), one value per class, got "
            f"{_errors.shape_str(weight.shape)}.",
        )
    return weight


class _Loss(Module):
    """Base of the losses: the reduction, `compute` and the seed's `new` and `with_reduction`."""

    _reductions = F.REDUCTIONS

    def __init__(self, reduction: Reduction | str = "mean") -> None:
        super().__init__()
        self.reduction = F.canonical_reduction(self, reduction, self._reductions)

    def compute(self, prediction, target):
        """The seed's name for calling the loss: `loss_fn.compute(pred, y) == loss_fn(pred, y)`."""
        return self(prediction, target)

    @classmethod
    def new(cls):
        """The loss with default options (the seed's `MSELoss::new()`)."""
        return cls()

    @classmethod
    def with_reduction(cls, reduction: Reduction | str):
        """The loss with default options and the given reduction (the seed's constructor)."""
        return cls(reduction=reduction)


class MSELoss(_Loss):
    """Mean squared error, ℓ = (x − y)²; see `axon.functional.mse_loss`.

    Args:
        reduction: "mean" | "sum" | "none" or a `Reduction`.

    Shape:
        - input: (*)
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> float(nn.MSELoss()(jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 3.0, 4.0])))
        1.0
    """

    def forward(self, input, target):  # noqa: A002
        return F.mse_checked(self, input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error, ℓ = |x − y|; see `axon.functional.l1_loss`.

    Shape:
        - input: (*)
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> float(nn.L1Loss(reduction="sum")(jnp.array([1.0, 2.0]), jnp.array([2.0, 4.0])))
        3.0
    """

    def forward(self, input, target):  # noqa: A002
        return F.l1_checked(self, input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Smooth L1, quadratic below `beta` and linear above; see `axon.functional.smooth_l1_loss`.

    Args:
        reduction: "mean" | "sum" | "none" or a `Reduction`.
        beta: the switch point, ≥ 0 (0 gives L1).

    Shape:
        - input: (*)
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> float(nn.SmoothL1Loss.with_beta(0.5)(jnp.array([0.0]), jnp.array([2.0])))
        1.75
    """

    def __init__(self, reduction: Reduction | str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        F.check_beta(self, beta)
        self.beta = float(beta)

    @classmethod
    def with_beta(cls, beta: float) -> SmoothL1Loss:
        """The seed's constructor: `SmoothL1Loss.with_beta(0.1)`."""
        return cls(beta=beta)

    def forward(self, input, target):  # noqa: A002
        return F.smooth_l1_checked(self, input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """Huber loss, quadratic below `delta` and δ-scaled linear above; see `F.huber_loss`.

    Args:
        reduction: "mean" | "sum" | "none" or a `Reduction`.
        delta: the switch point, > 0.

    Shape:
        - input: (*)
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> float(nn.HuberLoss(delta=0.5)(jnp.array([0.0]), jnp.array([2.0])))
        0.875
    """

    def __init__(self, reduction: Reduction | str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        F.check_delta(self, delta)
        self.delta = float(delta)

    def forward(self, input, target):  # noqa: A002
        return F.huber_checked(self, input, target, self.reduction, self.delta)


class CrossEntropyLoss(_Loss):
    """Cross entropy of logits against class indices or probabilities; see `F.cross_entropy`.

    Args:
        weight: a (C,) rescaling weight per class (stored as the buffer `weight`).
        ignore_index: a class index whose targets add nothing to the loss or its mean.
        reduction: "mean" | "sum" | "none" or a `Reduction`.
        label_smoothing: ε in [0, 1]; the target becomes (1 − ε)·one-hot + ε/C.

    Shape:
        - input: (C,), (N, C) or (N, C, d1, ..., dk) logits
        - target: (), (N,) or (N, d1, ..., dk) integer class indices; or class probabilities of
          the input's shape
        - output: () or, with reduction="none", the shape without C

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> round(float(nn.CrossEntropyLoss()(jnp.zeros((4, 16)), jnp.arange(4))), 4)  # ln 16
        2.7726
    """

    def __init__(
        self,
        weight=None,
        ignore_index: int = -100,
        reduction: Reduction | str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        F.check_ignore_index(self, ignore_index)
        F.check_label_smoothing(self, label_smoothing)
        self.register_buffer("weight", _weight_buffer(self, "weight", weight, vector=True))
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):  # noqa: A002
        return F.cross_entropy_checked(
            self,
            input,
            target,
            self.weight,
            self.ignore_index,
            self.reduction,
            self.label_smoothing,
        )


class NLLLoss(_Loss):
    """Negative log likelihood of log-probabilities; see `axon.functional.nll_loss`.

    Args:
        weight: a (C,) rescaling weight per class (stored as the buffer `weight`).
        ignore_index: a class index whose targets add nothing to the loss or its mean.
        reduction: "mean" | "sum" | "none" or a `Reduction`.

    Shape:
        - input: (C,), (N, C) or (N, C, d1, ..., dk) log-probabilities
        - target: (), (N,) or (N, d1, ..., dk) integer class indices
        - output: () or, with reduction="none", the target's shape

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> float(nn.NLLLoss()(jnp.array([[-1.0, -2.0], [-3.0, -4.0]]), jnp.array([0, 1])))
        2.5
    """

    def __init__(
        self, weight=None, ignore_index: int = -100, reduction: Reduction | str = "mean"
    ) -> None:
        super().__init__(reduction)
        F.check_ignore_index(self, ignore_index)
        self.register_buffer("weight", _weight_buffer(self, "weight", weight, vector=True))
        self.ignore_index = int(ignore_index)

    def forward(self, input, target):  # noqa: A002
        return F.nll_checked(self, input, target, self.weight, self.ignore_index, self.reduction)


class BCELoss(_Loss):
    """Binary cross entropy of probabilities, logs clamped at −100; see `F.binary_cross_entropy`.

    Args:
        weight: a rescaling weight broadcastable to the input (stored as the buffer `weight`).
        reduction: "mean" | "sum" | "none" or a `Reduction`.

    Shape:
        - input: (*) probabilities
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> round(float(nn.BCELoss()(jnp.array([0.5, 0.5]), jnp.array([0.0, 1.0]))), 4)
        0.6931
    """

    def __init__(self, weight=None, reduction: Reduction | str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(self, "weight", weight, vector=False))

    def forward(self, input, target):  # noqa: A002
        return F.bce_checked(self, input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross entropy in one stable formula, with `pos_weight`.

    See `axon.functional.binary_cross_entropy_with_logits`.

    Args:
        weight: a rescaling weight broadcastable to the input (buffer `weight`).
        reduction: "mean" | "sum" | "none" or a `Reduction`.
        pos_weight: a weight on the positive term, broadcastable to the input, usually (C,)
            (buffer `pos_weight`).

    Shape:
        - input: (*) logits
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> loss_fn = nn.BCEWithLogitsLoss(pos_weight=jnp.array([2.0, 1.0]))
        >>> round(float(loss_fn(jnp.zeros((1, 2)), jnp.ones((1, 2)))), 4)  # 1.5 · ln 2
        1.0397
    """

    def __init__(self, weight=None, reduction: Reduction | str = "mean", pos_weight=None) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(self, "weight", weight, vector=False))
        self.register_buffer(
            "pos_weight", _weight_buffer(self, "pos_weight", pos_weight, vector=False)
        )

    def forward(self, input, target):  # noqa: A002
        return F.bce_logits_checked(
            self, input, target, self.weight, self.reduction, self.pos_weight
        )


class KLDivLoss(_Loss):
    """KL divergence with log-probability input, PyTorch's `KLDivLoss`; see `F.kl_div`.

    Args:
        reduction: "mean" | "batchmean" | "sum" | "none" or a `Reduction`; "batchmean" is the
            mathematical KL divergence averaged over the batch.
        log_target: the target is given as log-probabilities too.

    Shape:
        - input: (*) log-probabilities
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Note:
        The seed's `KLDivLoss` is Hinton distillation between two sets of logits with a
        temperature; axon follows PyTorch. For distillation use
        `T**2 * KLDivLoss("batchmean")(log_softmax(s / T), softmax(t / T))`.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> logq = jnp.log(jnp.array([[0.25, 0.75]]))
        >>> p = jnp.array([[0.5, 0.5]])
        >>> round(float(nn.KLDivLoss(reduction="batchmean")(logq, p)), 4)
        0.1438
    """

    _reductions = F.KL_REDUCTIONS

    def __init__(self, reduction: Reduction | str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction)
        self.log_target = bool(log_target)

    def forward(self, input, target):  # noqa: A002
        return F.kl_div_checked(self, input, target, self.reduction, self.log_target)
