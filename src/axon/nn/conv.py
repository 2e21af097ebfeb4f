"""Convolution layers: `Conv1d`, `Conv2d`, `ConvTranspose1d`, `ConvTranspose2d`.

One implementation (`_ConvNd`) holds what all four share: argument checks, parameters in
PyTorch's layouts, PyTorch's default initialisation, its repr and the seed's constructors.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors
from axon.autograd.variable import Variable
from axon.functional.conv import (
    PADDING_MODES,
    check_groups,
    check_output_padding,
    conv1d,
    conv2d,
    conv_geometry,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose_geometry,
    ntuple,
    padding_pairs,
    transposed_size,
)
from axon.nn import init
from axon.nn.module import Module
from axon.nn.parameter import Parameter


def _placeholder(shape, dtype) -> jax.Array:
    """Zeros for `reset_parameters` to overwrite. Built in numpy: `jnp.empty` would compile a
    fill program for every new weight shape."""
    return jax.device_put(np.zeros(shape, jnp.dtype(dtype)))


class _ConvNd(Module):
    """The shared implementation; subclasses set `_n` (spatial dims), `_transposed` and `_op`."""

    _n: int = 0  # spatial dims
    _transposed: bool = False

    def _setup(
        self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode, output_padding, dtype,
    ) -> None:  # fmt: skip
        n = self._n
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _errors.value_error(self, f"{name} must be a positive int, got {value!r}.")
        groups = check_groups(groups, self)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % groups:
                raise _errors.value_error(
                    self, f"{name} ({value}) must be divisible by groups ({groups})."
                )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, n, "kernel_size", self, minimum=1)
        self.stride = ntuple(stride, n, "stride", self, minimum=1)
        self.dilation = ntuple(dilation, n, "dilation", self, minimum=1)
        if isinstance(padding, str) and not self._transposed:
            padding_pairs(padding, self.kernel_size, self.stride, self.dilation, self)  # checks
            self.padding = padding
        else:
            self.padding = ntuple(padding, n, "padding", self)
        self.output_padding = ntuple(output_padding, n, "output_padding", self)
        if self._transposed:
            check_output_padding(self.output_padding, self.stride, self.dilation, self)
        if padding_mode not in PADDING_MODES:
            raise _errors.value_error(
                self, f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}."
            )
        if self._transposed and padding_mode != "zeros":
            raise _errors.value_error(
                self, f"only padding_mode='zeros' is supported, got {padding_mode!r}."
            )
        self.padding_mode = padding_mode
        if self._transposed:  # (C_in, C_out/groups, *kernel), as PyTorch
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:  # (C_out, C_in/groups, *kernel)
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(_placeholder(shape, dtype))
        self.bias = Parameter(_placeholder((out_channels,), dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init: weight kaiming_uniform_(a=√5), i.e. U(±1/√fan_in); bias U(±1/√fan_in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    # the seed's constructors
    @classmethod
    def new(cls, in_channels: int, out_channels: int, kernel_size):
        return cls(in_channels, out_channels, kernel_size)

    @classmethod
    def with_options(
        cls, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, bias=True
    ):
        """The seed's `Conv2d::with_options(3, 64, 3, 1, 1, true)`."""
        return cls(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias
        )

    @classmethod
    def with_groups(cls, in_channels: int, out_channels: int, kernel_size, groups: int):
        return cls(in_channels, out_channels, kernel_size, groups=groups)

    @classmethod
    def depthwise(cls, channels: int, kernel_size):
        """One filter per channel (`groups=channels`), padded by `kernel_size // 2` (so an odd
        kernel keeps the spatial size)."""
        where = f"axon.nn.{cls.__name__}.depthwise"
        kernel = ntuple(kernel_size, cls._n, "kernel_size", where, minimum=1)
        padding = tuple(k // 2 for k in kernel)
        return cls(channels, channels, kernel, padding=padding, groups=channels)

    def _check_type(self, x) -> None:
        if not isinstance(x, (Variable, jax.Array)) and not hasattr(x, "__array__"):
            raise _errors.type_error(
                self, f"expected a Variable or array input, got {type(x).__name__}."
            )

    def extra_repr(self) -> str:
        n = self._n
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _op = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        self._setup(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, 0, dtype,
        )  # fmt: skip

    def forward(self, input):  # noqa: A002
        self._check_type(input)
        bias_shape = None if self.bias is None else self.bias.shape
        conv_geometry(
            self, self._n, input.shape, self.weight.shape, bias_shape, self.stride, self.padding,
            self.dilation, self.groups, self.padding_mode,
        )  # fmt: skip
        with jax.named_scope(f"axon.nn.{type(self).__name__}"):
            return self._op(
                input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                self.groups, padding_mode=self.padding_mode,
            )  # fmt: skip


class _ConvTranspose(_ConvNd):
    _transposed = True
    _op = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        self._setup(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, output_padding, dtype,
        )  # fmt: skip

    def forward(self, input, output_size=None):  # noqa: A002
        """`output_size` (spatial, or with the leading dims) picks one of the `stride` possible
        output sizes, as PyTorch: it overrides `output_padding` for this call."""
        self._check_type(input)
        bias_shape = None if self.bias is None else self.bias.shape
        conv_transpose_geometry(
            self, self._n, input.shape, self.weight.shape, bias_shape, self.stride, self.padding,
            self.output_padding, self.groups, self.dilation,
        )  # fmt: skip
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = self._output_padding(input.shape, output_size)
        with jax.named_scope(f"axon.nn.{type(self).__name__}"):
            return self._op(
                input, self.weight, self.bias, self.stride, self.padding, output_padding,
                self.groups, self.dilation,
            )  # fmt: skip

    def _output_padding(self, input_shape, output_size) -> tuple[int, ...]:
        n = self._n
        leading = len(input_shape) - n  # 2 batched, 1 unbatched
        size = tuple(int(s) for s in output_size)
        if len(size) == leading + n:
            size = size[leading:]
        if len(size) != n:
            raise _errors.value_error(
                self,
                f"output_size must have {n} or {leading + n} elements for a "
                f"{len(input_shape)}-D input, got {tuple(output_size)}.",
            )
        spatial = tuple(input_shape[-n:])
        smallest = transposed_size(
            spatial, self.kernel_size, self.stride, self.padding, (0,) * n, self.dilation
        )
        largest = tuple(m + s - 1 for m, s in zip(smallest, self.stride, strict=True))
        if any(not lo <= s <= hi for s, lo, hi in zip(size, smallest, largest, strict=True)):
            raise _errors.value_error(
                self,
                f"requested an output size of {size}, but valid sizes range from {smallest} to "
                f"{largest} (for an input of spatial size {spatial}).",
            )
        return tuple(s - m for s, m in zip(size, smallest, strict=True))


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) inputs: out[n, o] = b[o] + Σ_i w[o, i] ⋆ x[n, i].

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size: int or 1-tuple.
        stride: int or 1-tuple.
        padding: int, 1-tuple, "valid" or "same" (stride 1 only; an odd total padding puts the
            extra element on the right, as PyTorch).
        dilation: spacing between kernel elements.
        groups: in_channels and out_channels are split into this many independent groups.
        bias: learn an additive bias.
        padding_mode: "zeros", "reflect", "replicate" or "circular".
        dtype: parameter dtype (float32 by default).

    Shape:
        - input: (N, C_in, L_in) or (C_in, L_in)
        - output: (N, C_out, L_out) or (C_out, L_out), with
          L_out = ⌊(L_in + 2·padding − dilation·(kernel_size − 1) − 1) / stride⌋ + 1

    Attributes:
        weight: (out_channels, in_channels / groups, kernel_size), U(-1/√fan_in, 1/√fan_in)
            with fan_in = in_channels / groups · kernel_size (PyTorch's `kaiming_uniform_(a=√5)`).
        bias: (out_channels,), U(-1/√fan_in, 1/√fan_in).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.Conv1d.with_options(32, 64, 3, 2, 1, True)(axon.Tensor.randn([4, 32, 50])).shape
        (4, 64, 25)
    """

    _n = 1
    _op = staticmethod(conv1d)


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) inputs: out[n, o] = b[o] + Σ_i w[o, i] ⋆ x[n, i].

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size: int or (kH, kW).
        stride: int or pair.
        padding: int, pair, "valid" or "same" (stride 1 only; an odd total padding puts the
            extra row/column at the bottom/right, as PyTorch).
        dilation: int or pair, spacing between kernel elements.
        groups: in_channels and out_channels are split into this many independent groups
            (`groups = in_channels` is a depthwise convolution, see `Conv2d.depthwise`).
        bias: learn an additive bias.
        padding_mode: "zeros", "reflect", "replicate" or "circular".
        dtype: parameter dtype (float32 by default).

    Shape:
        - input: (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        - output: (N, C_out, H_out, W_out) or (C_out, H_out, W_out), with
          H_out = ⌊(H_in + 2·padding[0] − dilation[0]·(kH − 1) − 1) / stride[0]⌋ + 1 (W alike)

    Attributes:
        weight: (out_channels, in_channels / groups, kH, kW) (OIHW), U(-1/√fan_in, 1/√fan_in)
            with fan_in = in_channels / groups · kH · kW (PyTorch's `kaiming_uniform_(a=√5)`).
        bias: (out_channels,), U(-1/√fan_in, 1/√fan_in).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> conv = nn.Conv2d.with_options(3, 64, 3, 1, 1, True)
        >>> conv(axon.Tensor.randn([16, 3, 32, 32])).shape
        (16, 64, 32, 32)
    """

    _n = 2
    _op = staticmethod(conv2d)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution over (N, C_in, L) inputs: the gradient of a `Conv1d` with the
    same arguments with respect to its input (upsamples by `stride`).

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size, stride, padding, dilation: int or 1-tuple; `padding` trims
            `dilation·(kernel_size − 1) − padding` from each side of the full output.
        output_padding: extra length added on the right (smaller than stride or dilation).
        groups: in_channels and out_channels are split into this many independent groups.
        bias: learn an additive bias.
        padding_mode: "zeros" only, as PyTorch.
        dtype: parameter dtype (float32 by default).

    Shape:
        - input: (N, C_in, L_in) or (C_in, L_in)
        - output: (N, C_out, L_out) or (C_out, L_out), with
          L_out = (L_in − 1)·stride − 2·padding + dilation·(kernel_size − 1) + output_padding + 1

    Attributes:
        weight: (in_channels, out_channels / groups, kernel_size), U(-1/√fan_in, 1/√fan_in)
            with fan_in = out_channels / groups · kernel_size (PyTorch's rule, from dim 1).
        bias: (out_channels,), U(-1/√fan_in, 1/√fan_in).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.ConvTranspose1d(16, 8, 4, stride=2, padding=1)(axon.Tensor.randn([2, 16, 10])).shape
        (2, 8, 20)
    """

    _n = 1
    _op = staticmethod(conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution over (N, C_in, H, W) inputs: the gradient of a `Conv2d` with
    the same arguments with respect to its input (upsamples by `stride`).

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size, stride, padding, dilation: int or pair; `padding` trims
            `dilation·(k − 1) − padding` from each side of the full output.
        output_padding: extra rows/columns added at the bottom/right (each smaller than stride
            or dilation); `forward(x, output_size=...)` picks it for one call instead.
        groups: in_channels and out_channels are split into this many independent groups.
        bias: learn an additive bias.
        padding_mode: "zeros" only, as PyTorch.
        dtype: parameter dtype (float32 by default).

    Shape:
        - input: (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        - output: (N, C_out, H_out, W_out) or (C_out, H_out, W_out), with
          H_out = (H_in − 1)·stride[0] − 2·padding[0] + dilation[0]·(kH − 1) + output_padding[0] + 1
          (W alike)

    Attributes:
        weight: (in_channels, out_channels / groups, kH, kW) (IOHW, as PyTorch),
            U(-1/√fan_in, 1/√fan_in) with fan_in = out_channels / groups · kH · kW.
        bias: (out_channels,), U(-1/√fan_in, 1/√fan_in).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> up = nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
        >>> up(axon.Tensor.randn([2, 64, 8, 8])).shape
        (2, 32, 16, 16)
    """

    _n = 2
    _op = staticmethod(conv_transpose2d)
