"""`Dropout`: inverted dropout, the identity in eval mode, seeded by the global stream."""

from __future__ import annotations

from axon import _errors
from axon.functional.dropout import draw_key, dropout
from axon.nn.module import Module


class Dropout(Module):
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

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise _errors.value_error(self, f"dropout probability p must be in [0, 1], got {p!r}.")
        self.p = float(p)
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        if not self.training or self.p == 0.0:
            return input
        return dropout(input, self.p, True, key=draw_key(_errors.describe(self), input))

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
