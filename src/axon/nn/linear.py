"""`Linear` and `Identity`."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from axon import _errors, _random
from axon.autograd.variable import Variable
from axon.functional.linear import linear
from axon.nn import lora as _lora
from axon.nn.module import Module
from axon.nn.parameter import Parameter


class Identity(Module):
    """Returns its input unchanged; accepts and ignores any constructor arguments."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):  # noqa: A002
        return input


def check_input(module: Module, x, *, last_dim: int, name: str = "in_features") -> None:
    """Type and trailing-dimension check shared by layers that act on the last axis."""
    if not isinstance(x, (Variable, jax.Array)) and not hasattr(x, "__array__"):
        raise _errors.type_error(
            module, f"expected a Variable or array input, got {type(x).__name__}."
        )
    shape = tuple(x.shape)
    if len(shape) == 0 or shape[-1] != last_dim:
        raise _errors.value_error(
            module,
            f"expected input of shape (*, {last_dim}), got {_errors.shape_str(shape)}.",
            f"The last dimension must equal {name}={last_dim}.",
        )


class Linear(Module):
    """Applies y = x Wᵀ + b.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias.
        dtype: parameter dtype (float32 by default).

    Shape:
        - input: (*, in_features)
        - output: (*, out_features)

    Attributes:
        weight: (out_features, in_features), U(-1/√in_features, 1/√in_features) (PyTorch's
            `kaiming_uniform_(a=√5)`).
        bias: (out_features,), U(-1/√in_features, 1/√in_features).

    Example:
        >>> import axon
        >>> from axon import nn
        >>> nn.Linear(784, 256)(axon.Tensor.randn([32, 784])).shape
        (32, 256)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, dtype=jnp.float32
    ):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _errors.value_error(
                    self, f"{name} must be a non-negative int, got {value!r}."
                )
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(jnp.empty((out_features, in_features), dtype))
        self.bias = Parameter(jnp.empty((out_features,), dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        w = self.weight.data
        self.weight.data = jax.random.uniform(_random.next_key(), w.shape, w.dtype, -bound, bound)
        if self.bias is not None:
            b = self.bias.data
            self.bias.data = jax.random.uniform(_random.next_key(), b.shape, b.dtype, -bound, bound)

    # the seed's constructors
    @classmethod
    def new(cls, in_features: int, out_features: int) -> Linear:
        return cls(in_features, out_features)

    @classmethod
    def with_bias(cls, in_features: int, out_features: int, bias: bool) -> Linear:
        return cls(in_features, out_features, bias)

    @classmethod
    def from_weights(cls, weight, bias=None) -> Linear:
        """A Linear holding the given weight (out_features, in_features) and optional bias."""
        weight = jnp.asarray(getattr(weight, "data", weight))
        if weight.ndim != 2:
            raise _errors.value_error(
                "axon.nn.Linear.from_weights",
                "expected a 2-D weight (out_features, in_features), "
                f"got {_errors.shape_str(weight.shape)}.",
            )
        layer = cls.__new__(cls)
        Module.__init__(layer)
        layer.in_features, layer.out_features = weight.shape[1], weight.shape[0]
        layer.weight = Parameter(weight)
        layer.bias = None
        if bias is not None:
            bias = jnp.asarray(getattr(bias, "data", bias))
            if bias.shape != (weight.shape[0],):
                raise _errors.value_error(
                    "axon.nn.Linear.from_weights",
                    f"expected a bias of shape ({weight.shape[0]},), "
                    f"got {_errors.shape_str(bias.shape)}.",
                )
            layer.bias = Parameter(bias)
        return layer

    def forward(self, input):  # noqa: A002
        check_input(self, input, last_dim=self.in_features)
        if _lora.has_lora(self):
            return _lora.forward(self, input)
        return linear(input, self.weight, self.bias)

    # LoRA (axon.nn.lora): each returns the layer
    def attach_lora(self, rank: int, alpha: float | None = None) -> Linear:
        """Add trainable `lora_A` (rank, in) and `lora_B` (out, rank), y += (alpha/rank)·x AᵀBᵀ;
        alpha defaults to rank. A is kaiming-uniform, B zeros (PEFT's init)."""
        return _lora.attach(self, rank, alpha)

    def merge_lora(self) -> Linear:
        """Fold (alpha/rank)·B A into `weight` and remove the LoRA parameters."""
        return _lora.merge(self)

    def detach_lora(self) -> Linear:
        """Remove the LoRA parameters without merging them."""
        return _lora.detach(self)

    def freeze_base(self) -> Linear:
        """Stop gradients to `weight` and `bias` (for LoRA fine-tuning)."""
        return _lora.freeze_base(self)

    def extra_repr(self) -> str:
        text = (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
        if _lora.has_lora(self):
            text += f", lora_rank={self.lora_rank}, lora_alpha={self.lora_alpha}"
        return text
