"""`TernaryLinear` (BitNet b1.58) and `PackedTernaryWeights`, its 2-bit export."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors
from axon.functional import sparse as _F
from axon.nn.linear import check_input
from axon.nn.module import Module
from axon.nn.parameter import Parameter
from axon.nn.sparse import _host, _uniform_init


@dataclass(frozen=True)
class PackedTernaryWeights:
    """Ternary weights at 2 bits each: `data` (uint8, ceil(n/4) bytes), `shape`, `scale`.

    Codes 00 = 0, 01 = +1, 10 = −1, four weights per byte, the first in the low bits (the
    seed's encoding). `unpack()` returns the int8 ternary matrix, `dequantize()` T·scale.

    Example:
        >>> import numpy as np
        >>> from axon.nn import PackedTernaryWeights
        >>> packed = PackedTernaryWeights.pack(np.array([[1, 0, -1], [-1, 1, 0]]), 0.5)
        >>> packed.storage_bytes(), packed.unpack().tolist()
        (2, [[1, 0, -1], [-1, 1, 0]])
    """

    data: np.ndarray
    shape: tuple[int, ...]
    scale: float

    @classmethod
    def pack(cls, ternary, scale: float) -> PackedTernaryWeights:
        ternary = np.asarray(ternary)
        return cls(_F.pack_ternary(ternary), tuple(ternary.shape), float(scale))

    def unpack(self) -> np.ndarray:
        return _F.unpack_ternary(self.data, math.prod(self.shape)).reshape(self.shape)

    def dequantize(self, dtype=jnp.float32) -> jax.Array:
        return jnp.asarray(self.unpack(), dtype) * jnp.asarray(self.scale, dtype)

    def storage_bytes(self) -> int:
        return int(self.data.size)

    def count_zeros(self) -> int:
        return int((self.unpack() == 0).sum())


class TernaryLinear(Module):
    """A Linear layer whose weights act as {−1, 0, +1}·scale (BitNet b1.58).

    Forward: scale = mean|W|, T = clip(round(W / scale), −1, 1), y = x (T·scale)ᵀ + b. Backward
    is straight-through: W (the full-precision "shadow" weight) receives the gradient x Wᵀ would
    give, so it keeps training while the forward stays ternary.

    Args:
        in_features, out_features, bias: as `Linear`.

    Shape:
        - input: (*, in_features)
        - output: (*, out_features)

    Attributes:
        weight: (out, in), the full-precision weights (the seed's `shadow_weight`), PyTorch's
            Linear init U(±1/√in_features); bias: (out,), the same law.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> layer = nn.TernaryLinear(16, 8)
        >>> layer(axon.Tensor.randn([4, 16])).shape
        (4, 8)
        >>> sorted(set(layer.quantize_weights()[0].reshape(-1).tolist())) <= [-1, 0, 1]
        True
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, dtype=jnp.float32
    ):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _errors.value_error(self, f"{name} must be a positive int, got {value!r}.")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_host(np.zeros((out_features, in_features), dtype)))
        self.bias = Parameter(_host(np.zeros((out_features,), dtype))) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias from PyTorch's Linear law U(±1/√in_features)."""
        _uniform_init(self)

    @classmethod
    def new(cls, in_features: int, out_features: int) -> TernaryLinear:
        return cls(in_features, out_features)

    @classmethod
    def with_bias(cls, in_features: int, out_features: int, bias: bool) -> TernaryLinear:
        return cls(in_features, out_features, bias)

    def forward(self, input):  # noqa: A002
        check_input(self, input, last_dim=self.in_features)
        return _F.ternary_linear(input, self.weight, self.bias)

    def quantize_weights(self) -> tuple[np.ndarray, float]:
        """(T as int8 (out, in), scale): the ternary weights the forward uses."""
        ternary, scale = _F.ternary_quantize(self.weight.data)
        return np.asarray(ternary).astype(np.int8), float(scale)

    def packed_weights(self) -> PackedTernaryWeights:
        return PackedTernaryWeights.pack(*self.quantize_weights())

    def weight_sparsity(self) -> float:
        """Fraction of the ternary weights that are 0."""
        return float((self.quantize_weights()[0] == 0).mean())

    def compression_ratio(self) -> float:
        """Bytes of the full-precision weight over bytes of its packed form."""
        return self.weight.data.nbytes / self.packed_weights().storage_bytes()

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
