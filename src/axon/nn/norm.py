"""Batch normalisation (`BatchNorm1d`, `BatchNorm2d`) with PyTorch's running-statistics rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from axon import _errors
from axon.autograd.variable import Variable
from axon.functional.norm import batch_norm, batch_norm_running_stats
from axon.nn.module import Module
from axon.nn.parameter import Parameter


class _BatchNorm(Module):
    _input_ranks: tuple[int, ...] = ()
    _input_form = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
        dtype=jnp.float32,
    ):
        super().__init__()
        if not isinstance(num_features, int) or isinstance(num_features, bool) or num_features <= 0:
            raise _errors.value_error(
                self, f"num_features must be a positive int, got {num_features!r}."
            )
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise _errors.value_error(
                self, f"momentum must be in [0, 1] or None, got {momentum!r}."
            )
        self.num_features = num_features
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.weight = Parameter(jnp.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(jnp.zeros(num_features, dtype)) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", jnp.zeros(num_features, dtype))
            self.register_buffer("running_var", jnp.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", jnp.zeros((), jnp.asarray(0).dtype))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    @classmethod
    def with_options(cls, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1):
        """The seed's `BatchNorm1d::with_options(256, 1e-5, 0.1)`."""
        return cls(num_features, eps, momentum)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean = jnp.zeros_like(self.running_mean)
            self.running_var = jnp.ones_like(self.running_var)
            self.num_batches_tracked = jnp.zeros_like(self.num_batches_tracked)

    def _check_input(self, x) -> None:
        shape = tuple(x.shape)
        if len(shape) not in self._input_ranks or shape[1] != self.num_features:
            raise _errors.value_error(
                self,
                f"expected input of shape {self._input_form.format(C=self.num_features)}, "
                f"got {_errors.shape_str(shape)}.",
            )

    def forward(self, input):  # noqa: A002
        self._check_input(input)
        use_batch_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            if input.shape[0] * _prod(input.shape[2:]) <= 1:
                raise _errors.value_error(
                    self,
                    f"expected more than 1 value per channel when training, got input of shape "
                    f"{_errors.shape_str(input.shape)}.",
                )
            self._update_running_stats(input.data if isinstance(input, Variable) else input)
        return batch_norm(
            input,
            None if use_batch_stats else self.running_mean,
            None if use_batch_stats else self.running_var,
            self.weight,
            self.bias,
            use_batch_stats,
            eps=self.eps,
        )

    def _update_running_stats(self, x) -> None:
        self.num_batches_tracked = self.num_batches_tracked + 1
        if self.momentum is None:  # cumulative moving average
            factor = 1.0 / self.num_batches_tracked.astype(self.running_mean.dtype)
        else:
            factor = self.momentum
        self.running_mean, self.running_var = batch_norm_running_stats(
            jax.lax.stop_gradient(jnp.asarray(x)), self.running_mean, self.running_var, factor
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


def _prod(dims) -> int:
    out = 1
    for d in dims:
        out *= d
    return out


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs: y = (x − E[x]) / √(Var[x] + eps)·γ + β.

    Training uses batch statistics and updates `running_mean`/`running_var` with the unbiased
    batch variance: `r ← (1 − momentum)·r + momentum·batch` (`momentum=None`: cumulative average);
    eval uses the running statistics.

    Shape:
        - input: (N, C) or (N, C, L)
        - output: same as input

    Attributes:
        weight: (C,), ones. bias: (C,), zeros (absent when `affine=False` or `bias=False`).
        Buffers running_mean (zeros), running_var (ones), num_batches_tracked.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.BatchNorm1d(16)(axon.Tensor.randn([8, 16])).shape
        (8, 16)
    """

    _input_ranks = (2, 3)
    _input_form = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) inputs; see `BatchNorm1d` for the rules.

    Shape:
        - input: (N, C, H, W)
        - output: same as input
    """

    _input_ranks = (4,)
    _input_form = "(N, {C}, H, W)"
