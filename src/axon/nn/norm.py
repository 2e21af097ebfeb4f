"""Normalisation layers with PyTorch's parameters, buffers, running-statistics rules and reprs:
`BatchNorm1d/2d`, `InstanceNorm1d/2d`, `LayerNorm`, `GroupNorm`, `RMSNorm`.

Each forward is one `axon.functional` op (one tape op on Variables). Half-precision inputs are
normalised in float32 and returned in their own dtype.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp

from axon import _errors
from axon.autograd.variable import Variable
from axon.functional import norm as _F
from axon.functional.math import squeeze, unsqueeze
from axon.nn.module import Module
from axon.nn.parameter import Parameter


def _positive_int(module, name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _errors.value_error(module, f"{name} must be a positive int, got {value!r}.")
    return value


def _check_eps(module, eps, allow_none: bool = False) -> None:
    if eps is None and allow_none:
        return
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        expected = "a non-negative float or None" if allow_none else "a non-negative float"
        raise _errors.value_error(module, f"eps must be {expected}, got {eps!r}.")


def _shape_arg(module, normalized_shape) -> tuple[int, ...]:
    try:
        shape = _F.normalized_tuple(normalized_shape)
    except (TypeError, ValueError):
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise _errors.value_error(
            module,
            f"normalized_shape must be a positive int or a non-empty list of positive ints, "
            f"got {normalized_shape!r}.",
        )
    return shape


def _stop(x):
    return jax.lax.stop_gradient(jnp.asarray(x.data if isinstance(x, Variable) else x))


# ------------------------------------------------------------------------------ batch / instance
class _NormBase(Module):
    """Per-channel weight and bias (C,), and running statistics as buffers when tracked."""

    _ranks: tuple[int, ...] = ()  # accepted input ranks
    _form = ""  # the expected input shape, for messages

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
        _positive_int(self, "num_features", num_features)
        _check_eps(self, eps)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise _errors.value_error(
                self, f"momentum must be in [0, 1] or None, got {momentum!r}."
            )
        self.num_features = num_features
        self.eps = eps
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
    def new(cls, num_features: int):
        """The seed's `BatchNorm1d::new(256)` / `InstanceNorm2d::new(64)`: default options."""
        return cls(num_features)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean = jnp.zeros_like(self.running_mean)
            self.running_var = jnp.ones_like(self.running_var)
            self.num_batches_tracked = jnp.zeros_like(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data = jnp.ones_like(self.weight.data)
        if self.bias is not None:
            self.bias.data = jnp.zeros_like(self.bias.data)

    def _channel_mismatch(self, x) -> str:
        return (
            f"expected input of shape {self._form.format(C=self.num_features)}, "
            f"got {_errors.shape_str(x.shape)}."
        )

    def _check_rank(self, x) -> None:
        if x.ndim not in self._ranks:
            raise _errors.value_error(self, self._channel_mismatch(x))

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    @classmethod
    def with_options(
        cls,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        track_running_stats: bool = True,
    ):
        """The seed's `BatchNorm1d::with_options(256, 1e-5, 0.1)`."""
        return cls(num_features, eps, momentum, track_running_stats=track_running_stats)

    def forward(self, input):  # noqa: A002
        self._check_rank(input)
        if input.shape[1] != self.num_features:
            raise _errors.value_error(self, self._channel_mismatch(input))
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            _F.check_batch_values(self, input)
        if self.training and self.track_running_stats:
            self.num_batches_tracked = self.num_batches_tracked + 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / self.num_batches_tracked.astype(self.running_mean.dtype)
            else:
                factor = self.momentum
            self.running_mean, self.running_var = _F.batch_norm_running_stats(
                _stop(input), self.running_mean, self.running_var, factor
            )
        return _F.batch_norm(
            input,
            None if use_batch_stats else self.running_mean,
            None if use_batch_stats else self.running_var,
            self.weight,
            self.bias,
            use_batch_stats,
            eps=self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs: y = (x − E[x]) / √(Var[x] + eps)·γ + β.

    Training normalises by the batch statistics (biased variance) and updates `running_mean` and
    `running_var` with the unbiased batch variance: `r ← (1 − momentum)·r + momentum·batch`
    (`momentum=None`: the cumulative average over `num_batches_tracked` batches). Eval
    normalises by the running statistics; with `track_running_stats=False` there are none and
    batch statistics are used in both modes.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance for stability.
        momentum: the running-statistics factor, or None for a cumulative average.
        affine: learn a per-channel scale γ and shift β.
        track_running_stats: keep running statistics (buffers) for eval.
        bias: (keyword-only) learn β; PyTorch's keyword, only used when `affine`.
        dtype: (keyword-only) dtype of parameters and running statistics (float32).

    Shape:
        - input: (N, C) or (N, C, L)
        - output: same as input

    Attributes:
        weight: (C,), ones; bias: (C,), zeros (absent when `affine=False` or `bias=False`).
        running_mean (zeros), running_var (ones), num_batches_tracked (0): buffers, absent when
        `track_running_stats=False`.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.BatchNorm1d(16)(axon.Tensor.randn([8, 16])).shape
        (8, 16)
    """

    _ranks = (2, 3)
    _form = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) inputs; see `BatchNorm1d` for the rules.

    Shape:
        - input: (N, C, H, W)
        - output: same as input

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.BatchNorm2d(3)(axon.Tensor.randn([2, 3, 4, 4])).shape
        (2, 3, 4, 4)
    """

    _ranks = (4,)
    _form = "(N, {C}, H, W)"


class _InstanceNorm(_NormBase):
    _no_batch_rank = 0

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        *,
        bias: bool = True,
        dtype=jnp.float32,
    ):
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, bias=bias, dtype=dtype
        )

    def forward(self, input):  # noqa: A002
        self._check_rank(input)
        unbatched = input.ndim == self._no_batch_rank
        if input.shape[0 if unbatched else 1] != self.num_features:
            if self.affine or self.track_running_stats:
                raise _errors.value_error(self, self._channel_mismatch(input))
            warnings.warn(  # PyTorch's behaviour: num_features is not used without them
                _errors.message(
                    self,
                    f"input's channels do not match num_features={self.num_features}, "
                    f"got input of shape {_errors.shape_str(input.shape)}; num_features is "
                    f"unused because affine=False and track_running_stats=False.",
                ),
                stacklevel=2,
            )
        x = unsqueeze(input, 0) if unbatched else input  # (N, C, *)
        use_input_stats = self.training or not self.track_running_stats
        if use_input_stats:
            _F.check_spatial_values(self, x)
        if self.training and self.track_running_stats:
            factor = 0.0 if self.momentum is None else self.momentum  # PyTorch's rule
            self.running_mean, self.running_var = _F.instance_norm_running_stats(
                _stop(x), self.running_mean, self.running_var, factor
            )
        out = _F.instance_norm(
            x,
            None if use_input_stats else self.running_mean,
            None if use_input_stats else self.running_var,
            self.weight,
            self.bias,
            use_input_stats,
            eps=self.eps,
        )
        return squeeze(out, 0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over (N, C, L) or (C, L) inputs: each channel of each sample is
    normalised over L (biased variance), y = (x − E[x]) / √(Var[x] + eps)·γ + β.

    With `track_running_stats=True`, training also updates `running_mean`/`running_var` with
    the per-sample statistics (unbiased variance) averaged over the batch, and eval normalises
    by them. As in PyTorch, `num_batches_tracked` is kept in the state dict but not counted, and
    `momentum=None` leaves the running statistics unchanged.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance for stability.
        momentum: the running-statistics factor.
        affine: learn a per-channel scale γ and shift β (off by default).
        track_running_stats: keep running statistics for eval (off by default).
        bias: (keyword-only) learn β when `affine`.
        dtype: (keyword-only) dtype of parameters and running statistics (float32).

    Shape:
        - input: (N, C, L) or (C, L)
        - output: same as input

    Attributes:
        weight: (C,), ones; bias: (C,), zeros (only when `affine=True`). running_mean,
        running_var, num_batches_tracked: buffers (only when `track_running_stats=True`).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.InstanceNorm1d(4)(axon.Tensor.randn([2, 4, 10])).shape
        (2, 4, 10)
    """

    _ranks = (2, 3)
    _no_batch_rank = 2
    _form = "(N, {C}, L) or ({C}, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over (N, C, H, W) or (C, H, W) inputs, each channel of each
    sample over H and W; see `InstanceNorm1d` for the rules.

    Shape:
        - input: (N, C, H, W) or (C, H, W)
        - output: same as input

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.InstanceNorm2d.new(64)(axon.Tensor.randn([2, 64, 8, 8])).shape
        (2, 64, 8, 8)
    """

    _ranks = (3, 4)
    _no_batch_rank = 3
    _form = "(N, {C}, H, W) or ({C}, H, W)"


# ------------------------------------------------------------------------------ per-sample norms
class LayerNorm(Module):
    """Layer normalisation over the trailing `normalized_shape` dimensions of each sample:
    y = (x − E[x]) / √(Var[x] + eps)·γ + β (biased variance).

    Args:
        normalized_shape: an int or a list of ints: the trailing shape to normalise over.
        eps: added to the variance for stability.
        elementwise_affine: learn an elementwise scale γ (and shift β).
        bias: learn β (when `elementwise_affine`).
        dtype: (keyword-only) parameter dtype (float32).

    Shape:
        - input: (*, *normalized_shape)
        - output: same as input

    Attributes:
        weight: normalized_shape, ones; bias: normalized_shape, zeros.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.LayerNorm([4, 5])(axon.Tensor.randn([2, 3, 4, 5])).shape
        (2, 3, 4, 5)
    """

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        self.normalized_shape = _shape_arg(self, normalized_shape)
        _check_eps(self, eps)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        shape = self.normalized_shape
        self.weight = Parameter(jnp.ones(shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(jnp.zeros(shape, dtype)) if elementwise_affine and bias else None

    @classmethod
    def new(cls, normalized_shape):
        """The seed's `LayerNorm::new(vec![256])`."""
        return cls(normalized_shape)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data = jnp.ones_like(self.weight.data)
        if self.bias is not None:
            self.bias.data = jnp.zeros_like(self.bias.data)

    def forward(self, input):  # noqa: A002
        _F.check_trailing(self, input, self.normalized_shape)
        return _F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Group normalisation: the C channels are split into `num_groups` groups and each group of
    each sample is normalised over its channels and spatial positions, then scaled and shifted
    per channel: y = (x − E[x]) / √(Var[x] + eps)·γ + β.

    Args:
        num_groups: number of groups; must divide `num_channels`.
        num_channels: C, the number of channels.
        eps: added to the variance for stability.
        affine: learn a per-channel scale γ and shift β.
        bias: (keyword-only) learn β when `affine`.
        dtype: (keyword-only) parameter dtype (float32).

    Shape:
        - input: (N, C, *)
        - output: same as input

    Attributes:
        weight: (C,), ones; bias: (C,), zeros.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.GroupNorm.with_options(32, 256, 1e-5, True)(axon.Tensor.randn([2, 256, 4])).shape
        (2, 256, 4)
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        *,
        bias: bool = True,
        dtype=jnp.float32,
    ):
        super().__init__()
        _positive_int(self, "num_groups", num_groups)
        _positive_int(self, "num_channels", num_channels)
        if num_channels % num_groups != 0:
            raise _errors.value_error(
                self,
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups}).",
            )
        _check_eps(self, eps)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        self.weight = Parameter(jnp.ones(num_channels, dtype)) if affine else None
        self.bias = Parameter(jnp.zeros(num_channels, dtype)) if affine and bias else None

    @classmethod
    def new(cls, num_groups: int, num_channels: int):
        """The seed's `GroupNorm::new(32, 256)`."""
        return cls(num_groups, num_channels)

    @classmethod
    def with_options(cls, num_groups: int, num_channels: int, eps: float, affine: bool):
        """The seed's `GroupNorm::with_options(32, 256, 1e-5, true)`."""
        return cls(num_groups, num_channels, eps, affine)

    reset_parameters = LayerNorm.reset_parameters

    def forward(self, input):  # noqa: A002
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise _errors.value_error(
                self,
                f"expected input of shape (N, {self.num_channels}, *), "
                f"got {_errors.shape_str(input.shape)}.",
            )
        _F.check_group_values(self, input, self.num_groups)
        return _F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing `normalized_shape` dimensions:
    y = x / √(mean(x²) + eps)·γ, as `torch.nn.RMSNorm`.

    Args:
        normalized_shape: an int or a list of ints: the trailing shape to normalise over.
        eps: added to the mean square; None uses the machine epsilon of the computation dtype
            (`jnp.finfo(float32).eps` for float32 and half-precision inputs).
        elementwise_affine: learn an elementwise scale γ.
        dtype: (keyword-only) parameter dtype (float32).

    Shape:
        - input: (*, *normalized_shape)
        - output: same as input

    Attributes:
        weight: normalized_shape, ones.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.RMSNorm(8)(axon.Tensor.randn([2, 5, 8])).shape
        (2, 5, 8)
    """

    def __init__(
        self,
        normalized_shape,
        eps: float | None = None,
        elementwise_affine: bool = True,
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        self.normalized_shape = _shape_arg(self, normalized_shape)
        _check_eps(self, eps, allow_none=True)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        shape = self.normalized_shape
        self.weight = Parameter(jnp.ones(shape, dtype)) if elementwise_affine else None

    @classmethod
    def new(cls, normalized_shape, eps: float | None = None):
        """The seed's `RMSNorm::new(hidden_size, eps)`."""
        return cls(normalized_shape, eps)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data = jnp.ones_like(self.weight.data)

    def forward(self, input):  # noqa: A002
        _F.check_trailing(self, input, self.normalized_shape)
        return _F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
