"""Learned and iterative sparsity: `SparseLinear`, `GroupSparsity`, `LotteryTicket`."""

from __future__ import annotations

import math
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors, _random
from axon.autograd.variable import Variable
from axon.functional import sparse as _F
from axon.functional.math import mul
from axon.nn.linear import check_input
from axon.nn.module import Module
from axon.nn.parameter import Parameter


def _size(module, name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _errors.value_error(module, f"{name} must be a positive int, got {value!r}.")
    return value


def _number(module, name: str, value, *, positive: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        kind = "a positive" if positive else "a finite"
        raise _errors.value_error(module, f"{name} must be {kind} number, got {value!r}.")
    return float(value)


def _host(array: np.ndarray) -> jax.Array:
    """A placeholder built in numpy: `jnp.zeros` would compile a fill program per new shape."""
    return jax.device_put(array)


def _uniform_init(layer) -> None:
    """PyTorch's Linear initialisation of `layer.weight` and `layer.bias`: U(±1/√in_features)."""
    bound = 1.0 / math.sqrt(layer.in_features)
    for p in (layer.weight, layer.bias):
        if p is not None:
            p.data = jax.random.uniform(_random.next_key(), p.shape, p.dtype, -bound, bound)


class SparseLinear(Module):
    """A Linear layer that learns which weights to drop: y = x (W ⊙ M ⊙ σ((|W| − t)·τ))ᵀ + b.

    The soft mask σ((|W| − t)·τ) is differentiable in both W and the learned thresholds t, so
    training (with a sparsity pressure such as `GroupSparsity` or an L1 term on the effective
    weight) moves the thresholds; M is a fixed 0/1 buffer set by `hard_prune()`.

    Args:
        in_features, out_features, bias: as `Linear`.
        structured: (keyword-only) one threshold per output row (True, the default) or one per
            weight (False; also `SparseLinear.unstructured(in, out)`).
        threshold: (keyword-only) initial threshold value (0.01).
        temperature: (keyword-only) τ, the sharpness of the soft mask (10).

    Shape:
        - input: (*, in_features)
        - output: (*, out_features)

    Attributes:
        weight: (out, in) and bias: (out,), PyTorch's Linear init, U(±1/√in_features).
        threshold: (out,) when structured, else (out, in), filled with `threshold`.
        weight_mask: (out, in) buffer of ones; `hard_prune()` zeroes the pruned entries.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> layer = nn.SparseLinear(16, 8)
        >>> layer(axon.Tensor.randn([4, 16])).shape, layer.threshold.shape
        ((4, 8), (8,))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        structured: bool = True,
        threshold: float = 0.01,
        temperature: float = 10.0,
        dtype=jnp.float32,
    ):
        super().__init__()
        self.in_features = _size(self, "in_features", in_features)
        self.out_features = _size(self, "out_features", out_features)
        self.structured = bool(structured)
        self.temperature = _number(self, "temperature", temperature, positive=True)
        threshold = _number(self, "threshold", threshold)
        shape = (out_features, in_features)
        self.weight = Parameter(_host(np.zeros(shape, dtype)))
        self.threshold = Parameter(
            _host(np.full((out_features,) if structured else shape, threshold, dtype))
        )
        self.bias = Parameter(_host(np.zeros((out_features,), dtype))) if bias else None
        self.register_buffer("weight_mask", _host(np.ones(shape, dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias from PyTorch's Linear law U(±1/√in_features)."""
        _uniform_init(self)

    # the seed's constructors
    @classmethod
    def new(cls, in_features: int, out_features: int) -> SparseLinear:
        return cls(in_features, out_features)

    @classmethod
    def unstructured(cls, in_features: int, out_features: int) -> SparseLinear:
        return cls(in_features, out_features, structured=False)

    @classmethod
    def with_bias(cls, in_features: int, out_features: int, bias: bool) -> SparseLinear:
        return cls(in_features, out_features, bias)

    def forward(self, input):  # noqa: A002
        check_input(self, input, last_dim=self.in_features)
        return _F.sparse_linear(
            input, self.weight, self.threshold, self.bias, self.weight_mask, self.temperature
        )

    def is_structured(self) -> bool:
        return self.structured

    def effective_weight(self) -> jax.Array:
        """W ⊙ M ⊙ σ((|W| − t)·τ), the weight the forward uses (no gradient)."""
        w = self.weight.data
        return w * self.weight_mask * _F.soft_mask(w, self.threshold.data, self.temperature)

    def active_mask(self) -> jax.Array:
        """Boolean (out, in): weights not hard-pruned whose magnitude exceeds their threshold."""
        t = self.threshold.data
        t = t.reshape(-1, 1) if t.ndim == 1 else t
        return (jnp.abs(self.weight.data) > t) & (self.weight_mask > 0)

    def num_active(self) -> int:
        return int(jnp.sum(self.active_mask()))

    def density(self) -> float:
        """Fraction of weights that are active (see `active_mask`)."""
        return self.num_active() / (self.in_features * self.out_features)

    def sparsity(self) -> float:
        return 1.0 - self.density()

    def hard_prune(self) -> SparseLinear:
        """Drop the inactive weights for good: record them in `weight_mask`, zero them, and reset
        the thresholds to 0 (the seed's rule; the soft mask keeps gating the survivors)."""
        keep = self.active_mask().astype(self.weight_mask.dtype)
        self.weight_mask = keep
        self.weight.data = self.weight.data * keep
        self.threshold.data = jnp.zeros_like(self.threshold.data)
        return self

    def reset_threshold(self, value: float) -> None:
        self.threshold.data = jnp.full_like(self.threshold.data, _number(self, "value", value))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, structured={self.structured}, "
            f"temperature={self.temperature}"
        )


class GroupSparsity(Module):
    """Group-lasso regulariser λ·Σ_g ‖g‖₂ that drives whole groups of a weight to zero.

    Groups are the slices along `dim` (dim=0: each output row of a Linear weight, each filter of
    a conv weight; dim=1: each input column), or with `group_size` consecutive chunks of the
    flattened weight (the seed's form). Differentiable; a group that is exactly zero has zero
    (sub)gradient.

    Args:
        lambda_: the penalty weight λ ≥ 0 (also accepted positionally, as the seed's `lambda`).
        group_size: consecutive chunks of this many elements instead of slices along `dim`.
        dim: (keyword-only) the dimension whose slices form the groups (0).

    `penalty(weight)` (also `module(weight)`) takes a Parameter, Variable or array, or a list of
    them (penalties summed) and returns a scalar.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> float(nn.GroupSparsity(0.5).penalty(jnp.array([[3.0, 4.0], [0.0, 0.0]])))
        2.5
    """

    def __init__(self, lambda_: float, group_size: int | None = None, *, dim: int = 0):
        super().__init__()
        self.lambda_ = _number(self, "lambda_", lambda_)
        if self.lambda_ < 0:
            raise _errors.value_error(self, f"lambda_ must be non-negative, got {lambda_!r}.")
        self.group_size = None if group_size is None else _size(self, "group_size", group_size)
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise _errors.value_error(self, f"dim must be an int, got {dim!r}.")
        self.dim = dim

    @classmethod
    def new(cls, lambda_: float, group_size: int) -> GroupSparsity:
        return cls(lambda_, group_size)

    def penalty(self, weight):
        if isinstance(weight, (list, tuple)):
            if not weight:
                raise _errors.value_error(self, "expected at least one weight, got an empty list.")
            terms = [self.penalty(w) for w in weight]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            return total
        if weight.ndim == 0 or not -weight.ndim <= self.dim < weight.ndim:
            raise _errors.value_error(
                self,
                f"dim={self.dim} is out of range for a weight of shape "
                f"{_errors.shape_str(weight.shape)}.",
            )
        return self.lambda_ * _F.group_lasso(weight, group_size=self.group_size, dim=self.dim)

    forward = penalty

    def group_norms(self, weight) -> jax.Array:
        """‖g‖₂ of every group, for inspecting which groups were driven to zero."""
        w = jnp.asarray(weight.data if isinstance(weight, Variable) else weight)
        if self.group_size is not None:
            flat = jnp.pad(w.reshape(-1), (0, (-w.size) % self.group_size))
            return jnp.linalg.norm(flat.reshape(-1, self.group_size), axis=1)
        return jnp.linalg.norm(jnp.moveaxis(w, self.dim, 0).reshape(w.shape[self.dim], -1), axis=1)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_}, group_size={self.group_size}, dim={self.dim}"


class LotteryTicket(Module):
    """Iterative magnitude pruning with rewinding (Frankle & Carbin's lottery ticket procedure).

    Wraps a model. For each pruned parameter `name` of a sub-module it registers two persistent
    buffers on that sub-module, as `torch.nn.utils.prune` does: `{name}_mask` (0/1) and
    `{name}_init` (the weights when the ticket was made, or at the last `snapshot()`). The
    wrapper's forward runs the model with `param ⊙ mask` in place of each pruned parameter, so
    pruned weights contribute nothing and receive zero gradient, eagerly and under `axon.jit`.

    Procedure: train; `prune()` removes `prune_rate` of the remaining weights with the smallest
    magnitude; `rewind()` resets the surviving weights to their initial values; repeat.

    Args:
        module: the model.
        prune_rate: fraction of the *remaining* weights removed by each `prune()` (0.2).
        names: (keyword-only) parameter names (as in `module.named_parameters()`) to prune;
            default: every `weight` of 2 or more dims (Linear and conv weights; not biases,
            norm scales or `SparseLinear` thresholds).
        scope: (keyword-only) "layer" ranks magnitudes within each parameter, "global" across all.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> ticket = nn.LotteryTicket(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)))
        >>> ticket.prune()
        >>> ticket.sparsity()
        0.2
        >>> ticket.rewind()
        >>> ticket(axon.Tensor.randn([3, 8])).shape
        (3, 2)
    """

    def __init__(
        self,
        module: Module,
        prune_rate: float = 0.2,
        *,
        names: Iterable[str] | None = None,
        scope: str = "layer",
    ):
        super().__init__()
        if not isinstance(module, Module):
            raise _errors.type_error(self, f"expected a Module, got {type(module).__name__}.")
        if (
            isinstance(prune_rate, bool)
            or not isinstance(prune_rate, (int, float))
            or not (0.0 < prune_rate < 1.0)
        ):
            raise _errors.value_error(self, f"prune_rate must be in (0, 1), got {prune_rate!r}.")
        if scope not in ("layer", "global"):
            raise _errors.value_error(self, f"scope must be 'layer' or 'global', got {scope!r}.")
        params = module.named_parameters()
        if names is None:
            names = [n for n, p in params.items() if p.ndim >= 2 and n.endswith("weight")]
        else:
            names = list(names)
            unknown = [n for n in names if n not in params]
            if unknown:
                raise _errors.value_error(
                    self,
                    f"no parameters named {unknown} in the module.",
                    f"Choose from {list(params)}.",
                )
        if not names:
            raise _errors.value_error(self, "the module has no parameters to prune.")
        self.module = module
        self.prune_rate = float(prune_rate)
        self.scope = scope
        self.names = tuple(names)
        modules = module.named_modules()
        for name in self.names:
            owner, attr = self._locate(modules, name)
            data = owner.__dict__[attr].data
            owner.register_buffer(f"{attr}_mask", np.ones(data.shape, data.dtype))
            owner.register_buffer(f"{attr}_init", data)

    @staticmethod
    def _locate(modules, name):
        path, _, attr = name.rpartition(".")
        return modules[path], attr

    def _targets(self):
        """(owner module, attribute, Parameter, mask) of every pruned parameter."""
        modules = self.module.named_modules()
        out = []
        for name in self.names:
            owner, attr = self._locate(modules, name)
            out.append((owner, attr, owner.__dict__[attr], owner.__dict__[f"{attr}_mask"]))
        return out

    def forward(self, *inputs, **kwargs):
        swapped = []
        try:
            for owner, attr, param, mask in self._targets():
                # the reparametrisation of torch.nn.utils.prune: the sub-module sees param ⊙ mask
                object.__setattr__(owner, attr, mul(param, mask))
                swapped.append((owner, attr, param))
            return self.module(*inputs, **kwargs)
        finally:
            for owner, attr, param in swapped:
                object.__setattr__(owner, attr, param)

    def masks(self) -> dict[str, jax.Array]:
        return {n: t[3] for n, t in zip(self.names, self._targets(), strict=True)}

    def prune(self, rate: float | None = None) -> None:
        """Remove `rate` (default `prune_rate`) of the remaining weights, smallest |w| first,
        per parameter or globally; pruned weights are also zeroed in the model."""
        rate = self.prune_rate if rate is None else rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
            raise _errors.value_error(self, f"rate must be in (0, 1), got {rate!r}.")
        targets = self._targets()
        # pruned entries score +inf, so they are never counted or chosen again
        scores = [np.where(np.asarray(m) > 0, np.abs(np.asarray(p.data)), np.inf)
                  for _, _, p, m in targets]  # fmt: skip
        if self.scope == "global":
            ends = np.cumsum([0] + [s.size for s in scores])
            keep = self._keep(np.concatenate([s.reshape(-1) for s in scores]), rate)
            keeps = [keep[a:b].reshape(s.shape)
                     for a, b, s in zip(ends[:-1], ends[1:], scores, strict=True)]  # fmt: skip
        else:
            keeps = [self._keep(s.reshape(-1), rate).reshape(s.shape) for s in scores]
        for (owner, attr, param, _), keep in zip(targets, keeps, strict=True):
            mask = jnp.asarray(keep, param.dtype)
            setattr(owner, f"{attr}_mask", mask)
            param.data = param.data * mask

    @staticmethod
    def _keep(scores: np.ndarray, rate: float) -> np.ndarray:
        """0/1 keep flags: drop round(rate · remaining) of the finite (unpruned) scores, lowest
        first (ties broken by position, so exactly that many go)."""
        remaining = int(np.isfinite(scores).sum())
        drop = int(round(rate * remaining))
        keep = np.isfinite(scores)
        if drop:
            order = np.argsort(scores, kind="stable")[:drop]
            keep[order] = False
        return keep

    def rewind(self) -> None:
        """Reset every pruned parameter to its `_init` value times its mask."""
        for owner, attr, param, mask in self._targets():
            param.data = (owner.__dict__[f"{attr}_init"] * mask).astype(param.dtype)

    def snapshot(self) -> None:
        """Make the current weights the rewind point (late rewinding)."""
        for owner, attr, param, _ in self._targets():
            setattr(owner, f"{attr}_init", param.data)

    def num_saved(self) -> int:
        return len(self.names)

    def sparsity(self) -> float:
        """Fraction of the prunable weights that are pruned."""
        masks = [np.asarray(t[3]) for t in self._targets()]
        total = sum(m.size for m in masks)
        return float(sum((m == 0).sum() for m in masks)) / total

    def extra_repr(self) -> str:
        return f"prune_rate={self.prune_rate}, scope={self.scope!r}, names={list(self.names)}"
