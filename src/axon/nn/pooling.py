"""Pooling layers: `MaxPool1d/2d`, `AvgPool1d/2d`, `AdaptiveAvgPool1d/2d`, `AdaptiveMaxPool1d/2d`.

Each `forward` is one call into `axon.functional.pooling`; the 1-d and 2-d classes share one
implementation and differ only in the number of pooled (trailing) dims.
"""

from __future__ import annotations

from axon.functional.pooling import (
    adaptive_avg_pool_nd,
    adaptive_max_pool_nd,
    avg_pool_nd,
    check_output_size,
    max_pool_nd,
    pool_args,
)
from axon.nn.module import Module


class _MaxPoolNd(Module):
    _n = 0

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        dilation=1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        pool_args(self, self._n, kernel_size, stride, padding, dilation)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):  # noqa: A002
        return max_pool_nd(
            input, self._n, self.kernel_size, self.stride, self.padding, self.dilation,
            self.ceil_mode, self.return_indices, where=self,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """The maximum over sliding windows of the last dim; padding is -inf and at most half the
    kernel. With `return_indices`, also each maximum's position along L_in (PyTorch's indices, so
    the gradient goes to the first maximum of each window).

    Args:
        kernel_size: window size.
        stride: window step (default: kernel_size).
        padding: -inf padding on both sides, at most kernel_size // 2.
        dilation: step between window elements.
        return_indices: return `(output, indices)`.
        ceil_mode: round the output length up, keeping every window's start inside the input or
            the left padding.

    Shape:
        - input: (N, C, L_in) or (C, L_in)
        - output: (N, C, L_out) or (C, L_out), L_out = ⌊(L_in + 2·padding − dilation·(kernel_size
          − 1) − 1) / stride⌋ + 1 (⌈·⌉ with ceil_mode)

    Note:
        Indices have jax's default integer dtype: int32, or PyTorch's int64 under
        `jax_enable_x64`. Their values equal PyTorch's.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.MaxPool1d(3, stride=2)(axon.Tensor.randn([2, 4, 9])).shape
        (2, 4, 4)
    """

    _n = 1


class MaxPool2d(_MaxPoolNd):
    """The maximum over sliding windows of the last two dims (arguments as `MaxPool1d`, each an
    int or an (h, w) pair). With `return_indices`, indices are flat positions h·W_in + w in each
    input plane, as PyTorch's.

    Shape:
        - input: (N, C, H_in, W_in) or (C, H_in, W_in)
        - output: (N, C, H_out, W_out) or (C, H_out, W_out), each size as L_out of `MaxPool1d`

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.MaxPool2d.with_options(2, 2, 0)(axon.Tensor.randn([2, 4, 8, 8])).shape
        (2, 4, 4, 4)
    """

    _n = 2

    @classmethod
    def with_options(cls, kernel_size, stride=None, padding=0) -> MaxPool2d:
        """The seed's `MaxPool2d::with_options(2, 2, 0)`."""
        return cls(kernel_size, stride, padding)


class _AvgPoolNd(Module):
    _n = 0

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override=None,
    ) -> None:
        super().__init__()
        pool_args(self, self._n, kernel_size, stride, padding)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):  # noqa: A002
        return avg_pool_nd(
            input, self._n, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override, where=self,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """The mean over sliding windows of the last dim, with zero padding.

    Args:
        kernel_size, stride, padding, ceil_mode: as `MaxPool1d` (no dilation).
        count_include_pad: count the padding in the divisor. Either way the part of a ceil_mode
            window that runs past the padding is not counted, as in PyTorch.

    Shape:
        - input: (N, C, L_in) or (C, L_in)
        - output: (N, C, L_out) or (C, L_out)

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.AvgPool1d(3, stride=2, padding=1)(axon.Tensor.randn([2, 4, 9])).shape
        (2, 4, 5)
    """

    _n = 1

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        # PyTorch keeps AvgPool1d's sizes as 1-tuples (and prints them so)
        self.kernel_size, self.stride, self.padding = (
            tuple(v) if isinstance(v, (tuple, list)) else (v,)
            for v in (kernel_size, self.stride, padding)
        )


class AvgPool2d(_AvgPoolNd):
    """The mean over sliding windows of the last two dims (arguments as `AvgPool1d`, each an int
    or an (h, w) pair); `divisor_override`, when given, replaces every window's divisor.

    Shape:
        - input: (N, C, H_in, W_in) or (C, H_in, W_in)
        - output: (N, C, H_out, W_out) or (C, H_out, W_out)

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.AvgPool2d(2)(axon.Tensor.randn([2, 4, 8, 8])).shape
        (2, 4, 4, 4)
    """

    _n = 2


class _AdaptivePoolNd(Module):
    _n = 0

    def __init__(self, output_size) -> None:
        super().__init__()
        check_output_size(self, self._n, output_size)
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    def forward(self, input):  # noqa: A002
        return adaptive_avg_pool_nd(input, self._n, self.output_size, where=self)


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):  # noqa: A002
        return adaptive_max_pool_nd(
            input, self._n, self.output_size, self.return_indices, where=self
        )


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """The mean over `output_size` bins of the last dim, whatever its length: bin i covers
    [⌊i·L_in/out⌋, ⌈(i+1)·L_in/out⌉), so bins overlap when the sizes do not divide.

    Shape:
        - input: (N, C, L_in) or (C, L_in)
        - output: (N, C, output_size) or (C, output_size)

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.AdaptiveAvgPool1d(4)(axon.Tensor.randn([2, 3, 10])).shape
        (2, 3, 4)
    """

    _n = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """The mean over an (H_out, W_out) grid of bins, each dim binned as `AdaptiveAvgPool1d`.
    `output_size` is an int (a square grid) or a pair; a None entry keeps that input size.

    Shape:
        - input: (N, C, H_in, W_in) or (C, H_in, W_in)
        - output: (N, C, H_out, W_out) or (C, H_out, W_out)

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.AdaptiveAvgPool2d.square(1)(axon.Tensor.randn([2, 3, 7, 7])).shape
        (2, 3, 1, 1)
    """

    _n = 2

    @classmethod
    def square(cls, size: int) -> AdaptiveAvgPool2d:
        """The seed's `AdaptiveAvgPool2d::square(1)`: a size × size output grid."""
        return cls(size)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """The maximum over `output_size` bins of the last dim (bins as `AdaptiveAvgPool1d`); with
    `return_indices`, also each maximum's position along L_in.

    Shape:
        - input: (N, C, L_in) or (C, L_in)
        - output: (N, C, output_size) or (C, output_size)

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.AdaptiveMaxPool1d(4)(axon.Tensor.randn([2, 3, 10])).shape
        (2, 3, 4)
    """

    _n = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """The maximum over an (H_out, W_out) grid of bins (as `AdaptiveAvgPool2d`); indices are
    flat positions h·W_in + w in each input plane.

    Shape:
        - input: (N, C, H_in, W_in) or (C, H_in, W_in)
        - output: (N, C, H_out, W_out) or (C, H_out, W_out)

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.AdaptiveMaxPool2d((None, 2))(axon.Tensor.randn([2, 3, 5, 7])).shape
        (2, 3, 5, 2)
    """

    _n = 2
