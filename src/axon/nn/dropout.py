"""Dropout layers: the identity in eval mode, seeded by the global stream in training.

`Dropout` zeros elements, `Dropout2d` whole channels; `AlphaDropout` keeps SELU's
self-normalisation.
"""

from __future__ import annotations

from axon import _errors
from axon.functional.dropout import alpha_dropout, draw_key, dropout, feature_dropout
from axon.nn.module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise _errors.value_error(self, f"dropout probability p must be in [0, 1], got {p!r}.")
        self.p = float(p)
        self.inplace = inplace  # accepted for PyTorch compatibility; arrays are immutable

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """During training, zero each element with probability `p` and scale the rest by 1/(1-p).

    In eval mode (`model.eval()`) it returns its input unchanged. Masks are drawn from the global
    stream, so `axon.manual_seed` makes them reproducible; inside `axon.jit` the stream is carried
    through the compiled call, so each call gets a fresh mask.

    Shape:
        - input: any; output: same shape.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> drop = nn.Dropout(0.5).eval()
        >>> drop(axon.Tensor.ones([2, 3])).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def forward(self, input):  # noqa: A002
        if not self.training or self.p == 0.0:
            return input
        return dropout(input, self.p, True, key=draw_key(_errors.describe(self), input))


class Dropout2d(_DropoutNd):
    """During training, zero each channel (a whole (n, c) feature map) with probability `p` and
    scale the kept ones by 1/(1-p); the identity in eval mode. Masks come from the global stream,
    as `Dropout`'s do.

    Shape:
        - input: (N, C, H, W), or (N, C, L) (see the note); output: same shape.

    Note:
        As PyTorch does today, a 3-D input is read as (N, C, L) (with a warning), not as one
        unbatched image: PyTorch's documentation announces that this will change. To drop the
        channels of one image (C, H, W), pass `x[None]` and take `[0]` of the result.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.Dropout2d(0.2)(axon.Tensor.randn([8, 16, 5, 5])).shape
        (8, 16, 5, 5)
    """

    def forward(self, input):  # noqa: A002
        return feature_dropout(input, self.p, self.training, None, where=self)


class AlphaDropout(_DropoutNd):
    """Dropout for self-normalising (SELU) networks: during training each element is set, with
    probability `p`, to SELU's saturation value α' = -1.7580993408473766, then an affine map
    a·x + b restores zero mean and unit variance (a = ((1 - p)(1 + p·α'²))^(-1/2), b = -a·α'·p),
    as PyTorch's `AlphaDropout`. The identity in eval mode.

    Shape:
        - input: any; output: same shape.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.AlphaDropout(0.1)(axon.Tensor.randn([4, 8])).shape
        (4, 8)
    """

    def forward(self, input):  # noqa: A002
        if not self.training or self.p == 0.0:
            return input
        return alpha_dropout(input, self.p, True, key=draw_key(_errors.describe(self), input))
