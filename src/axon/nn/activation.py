"""Activation modules: each `forward` is one call into `axon.functional`.

Each works bare in `Sequential.add(ReLU)` (the class is instantiated) as in the seed.
"""

from __future__ import annotations

from axon import _errors
from axon.functional import activation as F
from axon.functional import math as M
from axon.nn.module import Module


class _Elementwise(Module):
    """Shape: input (*), output (*), same shape."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace  # accepted for PyTorch compatibility; arrays are immutable

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Elementwise):
    """max(0, x).

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> nn.ReLU()(jnp.array([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """

    def forward(self, input):  # noqa: A002
        return F.relu(input)


class Sigmoid(Module):
    """1 / (1 + exp(-x)). Shape: any, output same shape."""

    def forward(self, input):  # noqa: A002
        return F.sigmoid(input)


class Tanh(Module):
    """tanh(x). Shape: any, output same shape."""

    def forward(self, input):  # noqa: A002
        return F.tanh(input)


class SiLU(_Elementwise):
    """x·sigmoid(x). Shape: any, output same shape."""

    def forward(self, input):  # noqa: A002
        return F.silu(input)


class Mish(_Elementwise):
    """x·tanh(softplus(x)). Shape: any, output same shape."""

    def forward(self, input):  # noqa: A002
        return F.mish(input)


class GELU(Module):
    """x·Φ(x); `approximate="tanh"` for the tanh form. Shape: any, output same shape.

    Note: PyTorch's default (exact erf); the seed's Rust GELU is the tanh approximation.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise _errors.value_error(
                self, f"approximate must be 'none' or 'tanh', got {approximate!r}."
            )
        self.approximate = approximate

    def forward(self, input):  # noqa: A002
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate='{self.approximate}'"


class LeakyReLU(_Elementwise):
    """x if x ≥ 0 else negative_slope·x. Shape: any, output same shape."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.negative_slope = _check_number(self, "negative_slope", negative_slope)

    @classmethod
    def with_slope(cls, negative_slope: float) -> LeakyReLU:
        return cls(negative_slope)

    def forward(self, input):  # noqa: A002
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(_Elementwise):
    """x if x > 0 else alpha·(exp(x) − 1). Shape: any, output same shape."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = _check_number(self, "alpha", alpha)

    @classmethod
    def with_alpha(cls, alpha: float) -> ELU:
        return cls(alpha)

    def forward(self, input):  # noqa: A002
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softmax(Module):
    """exp(x) / Σ exp(x) along `dim`.

    Note: `dim` defaults to -1 (the seed's default); PyTorch's `dim=None` picks a legacy
    dimension instead. Pass `dim` explicitly for code shared with PyTorch.
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = _check_dim(self, dim)

    def forward(self, input):  # noqa: A002
        _check_dims_in_range(self, input, self.dim, min_ndim=1)
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along `dim`, computed stably. Same `dim` note as Softmax."""

    def forward(self, input):  # noqa: A002
        _check_dims_in_range(self, input, self.dim, min_ndim=1)
        return F.log_softmax(input, self.dim)


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one.

    Shape:
        - input: (*, S_start, ..., S_end, *)
        - output: (*, ∏ S, *)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> nn.Flatten()(jnp.zeros((2, 3, 4, 5))).shape
        (2, 60)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = _check_dim(self, start_dim)
        self.end_dim = _check_dim(self, end_dim)

    def forward(self, input):  # noqa: A002
        _check_dims_in_range(self, input, self.start_dim, self.end_dim)
        rank = max(len(input.shape), 1)  # a 0-d input flattens like a 1-d one, as in PyTorch
        if self.start_dim % rank > self.end_dim % rank:
            raise _errors.value_error(
                self,
                f"start_dim={self.start_dim} comes after end_dim={self.end_dim} for an input of "
                f"shape {_errors.shape_str(input.shape)}.",
            )
        return M.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


def _check_dims_in_range(module: Module, input, *dims: int, min_ndim: int = 0) -> None:  # noqa: A002
    """Name the module when a dim is not in the input (PyTorch's rank-0 rule: dims -1 and 0)."""
    shape = tuple(input.shape)
    if len(shape) < min_ndim:
        raise _errors.value_error(
            module,
            f"expected an input with at least {min_ndim} dimension(s), "
            f"got shape {_errors.shape_str(shape)}.",
        )
    rank = max(len(shape), 1)
    for d in dims:
        if not -rank <= d < rank:
            raise _errors.value_error(
                module,
                f"dimension {d} is out of range for an input of shape {_errors.shape_str(shape)} "
                f"(valid: {-rank} to {rank - 1}).",
            )


def _check_number(module: Module, name: str, value):
    """A real number, kept as given so the repr reads like PyTorch's (`ELU(alpha=2)`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _errors.type_error(module, f"{name} must be a number, got {value!r}.")
    return value


def _check_dim(module: Module, dim) -> int:
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise _errors.type_error(module, f"dim must be an int, got {dim!r}.")
    return dim
