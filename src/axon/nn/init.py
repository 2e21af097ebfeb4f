"""Parameter initialisers with `torch.nn.init`'s names, arguments and laws.

Each `name_(tensor, ...)` fills a `Parameter` or `Variable` in place, PyTorch-style: it rebinds
`tensor.data` and returns the same object (gradients and graph are untouched, as under
`torch.no_grad()`). Given a raw `jax.Array` (or numpy array), it returns a new array of the same
shape and dtype instead, since arrays are immutable. Random laws draw from the global seeded
stream (`axon.manual_seed`), one key per call, and sample in the tensor's dtype (float16 and
bfloat16 are drawn in float32 and cast, as PyTorch does internally).

Fans follow PyTorch's layout convention: dim 0 is the output dim, dim 1 the input dim and the
trailing dims the receptive field, so `(out, in)` for `Linear` and `(out, in, kH, kW)` for `Conv2d`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from axon import _random
from axon._errors import shape_str, type_error, value_error
from axon.autograd.variable import Variable

__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
    # PyTorch's older names (torch deprecated them; here they are plain aliases)
    "constant",
    "dirac",
    "eye",
    "kaiming_normal",
    "kaiming_uniform",
    "normal",
    "orthogonal",
    "sparse",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
]

TensorLike = Variable | jax.Array | np.ndarray
"""What the initialisers fill: a Parameter or Variable (in place) or an array (a new one)."""

_WHERE = "axon.nn.init"
_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)
_NONLINEARITIES = (*_LINEAR_FNS, "sigmoid", "tanh", "relu", "leaky_relu", "selu")


# ----------------------------------------------------------------------------- plumbing
def _array(tensor, where: str) -> jax.Array:
    if isinstance(tensor, Variable):
        return tensor.data
    if isinstance(tensor, (jax.Array, np.ndarray)):
        return jnp.asarray(tensor)
    raise type_error(
        where,
        f"expected a Parameter, Variable or array, got {type(tensor).__name__}.",
        "Wrap Python lists with jnp.asarray first.",
    )


def _write(tensor, value: jax.Array):
    """Rebind a Variable's data (returning it) or return the new array."""
    if isinstance(tensor, Variable):
        tensor.data = value
        return tensor
    return value


def _float_dtype(data: jax.Array, where: str):
    if not jnp.issubdtype(data.dtype, jnp.floating):
        raise type_error(
            where,
            f"expected a floating point tensor, got dtype {data.dtype}.",
            "Random initialisers fill float tensors only.",
        )
    return data.dtype


def _draw_dtype(dtype):
    """Sample half-precision tensors in float32, then cast (as PyTorch does)."""
    return jnp.dtype(jnp.float32) if jnp.dtype(dtype).itemsize < 4 else jnp.dtype(dtype)


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


@partial(jax.jit, static_argnames=("shape", "dtype"))
def _uniform(key, low, high, *, shape, dtype):
    draw = jax.random.uniform(key, shape, _draw_dtype(dtype), low, high)
    return draw.astype(dtype)


@partial(jax.jit, static_argnames=("shape", "dtype"))
def _normal(key, mean, std, *, shape, dtype):
    draw = jax.random.normal(key, shape, _draw_dtype(dtype))
    return (mean + std * draw).astype(dtype)


@partial(jax.jit, static_argnames=("shape", "dtype"))
def _trunc_normal(key, mean, std, a, b, *, shape, dtype):
    dt = _draw_dtype(dtype)
    z = jax.random.truncated_normal(key, (a - mean) / std, (b - mean) / std, shape, dt)
    return jnp.clip(mean + std * z, a, b).astype(dtype)


@partial(jax.jit, static_argnames=("rows", "cols", "dtype"))
def _orthogonal(key, gain, *, rows, cols, dtype):
    flat = jax.random.normal(key, (rows, cols), _draw_dtype(dtype))
    if rows < cols:
        flat = flat.T  # (cols, rows): QR of the tall side
    q, r = jnp.linalg.qr(flat)  # reduced: q (max, min) with orthonormal columns
    q = q * jnp.sign(jnp.diagonal(r))  # PyTorch's sign fix makes Q Haar-uniform
    if rows < cols:
        q = q.T
    return (gain * q).astype(dtype)


@partial(jax.jit, static_argnames=("shape", "dtype"))
def _sparse(key, std, num_zeros, *, shape, dtype):
    k_values, k_perm = jax.random.split(key)
    values = std * jax.random.normal(k_values, shape, _draw_dtype(dtype))
    # a uniformly random rank per column: the num_zeros lowest ranks are zeroed
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k_perm, shape), axis=0), axis=0)
    return jnp.where(ranks < num_zeros, 0, values).astype(dtype)


# ----------------------------------------------------------------------------- gains and fans
def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as `torch.nn.init.calculate_gain`.

    ============================ ======================================
    nonlinearity                 gain
    ============================ ======================================
    linear, conv*, sigmoid       1
    tanh                         5/3
    relu                         sqrt(2)
    leaky_relu                   sqrt(2 / (1 + negative_slope ** 2))
    selu                         3/4
    ============================ ======================================

    Args:
        nonlinearity: the `axon.functional` name of the nonlinearity.
        param: the negative slope for `"leaky_relu"` (default 0.01).

    Returns:
        The gain, a Python number.

    Raises:
        ValueError: for an unknown nonlinearity or a non-numeric `param`.

    Example:
        >>> from axon.nn import init
        >>> round(init.calculate_gain("leaky_relu", 0.2), 4)
        1.3868
    """
    where = f"{_WHERE}.calculate_gain"
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            negative_slope = param
        else:
            raise value_error(
                where, f"negative_slope {param!r} is not a valid number.", "Pass a float."
            )
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise value_error(
        where,
        f"unsupported nonlinearity {nonlinearity!r}; expected one of {list(_NONLINEARITIES)}.",
    )


def _shape_of(tensor) -> tuple[int, ...]:
    if isinstance(tensor, (Variable, jax.Array, np.ndarray)):
        return tuple(tensor.shape)
    if isinstance(tensor, Sequence) and all(isinstance(d, (int, np.integer)) for d in tensor):
        return tuple(int(d) for d in tensor)
    raise type_error(
        f"{_WHERE}.calculate_fan_in_and_fan_out",
        f"expected a tensor or a shape, got {type(tensor).__name__}.",
    )


def _fans(shape: tuple[int, ...], where: str) -> tuple[int, int]:
    if len(shape) < 2:
        raise value_error(
            where,
            f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, "
            f"got shape {shape_str(shape)}.",
            "Initialise 1-D tensors such as biases with uniform_, normal_ or zeros_.",
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def calculate_fan_in_and_fan_out(tensor: TensorLike | Sequence[int]) -> tuple[int, int]:
    """`(fan_in, fan_out)` of a weight in PyTorch's layout (as torch's private function).

    `fan_in = size(1) * receptive_field`, `fan_out = size(0) * receptive_field`, where the
    receptive field is the product of the dims after the first two.

    Args:
        tensor: a Parameter, Variable or array of at least 2 dims, or its shape.

    Raises:
        ValueError: for fewer than 2 dims.

    Example:
        >>> from axon.nn import init
        >>> init.calculate_fan_in_and_fan_out((64, 3, 3, 3))
        (27, 576)
    """
    return _fans(_shape_of(tensor), f"{_WHERE}.calculate_fan_in_and_fan_out")


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # torch's private name, for ports


def _correct_fan(shape, mode: str, where: str) -> int:
    lowered = mode.lower() if isinstance(mode, str) else mode
    if lowered not in ("fan_in", "fan_out"):
        raise value_error(where, f"mode {mode!r} is not supported; expected 'fan_in' or 'fan_out'.")
    fan_in, fan_out = _fans(shape, where)
    return fan_in if lowered == "fan_in" else fan_out


# ----------------------------------------------------------------------------- constant laws
def constant_(tensor: TensorLike, val: float) -> TensorLike:
    """Fill `tensor` with `val`.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.nn import init
        >>> init.constant_(jnp.zeros(3), 0.5).tolist()
        [0.5, 0.5, 0.5]
    """
    data = _array(tensor, f"{_WHERE}.constant_")
    return _write(tensor, jnp.full(data.shape, val, data.dtype))


def ones_(tensor: TensorLike) -> TensorLike:
    """Fill `tensor` with ones.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.nn import init
        >>> init.ones_(jnp.zeros(2)).tolist()
        [1.0, 1.0]
    """
    data = _array(tensor, f"{_WHERE}.ones_")
    return _write(tensor, jnp.ones(data.shape, data.dtype))


def zeros_(tensor: TensorLike) -> TensorLike:
    """Fill `tensor` with zeros.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.nn import init
        >>> init.zeros_(jnp.ones(2)).tolist()
        [0.0, 0.0]
    """
    data = _array(tensor, f"{_WHERE}.zeros_")
    return _write(tensor, jnp.zeros(data.shape, data.dtype))


def eye_(tensor: TensorLike) -> TensorLike:
    """Fill a 2-D `tensor` with the identity (ones on the main diagonal of a rectangle).

    Raises:
        ValueError: unless `tensor` is 2-D.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.nn import init
        >>> init.eye_(jnp.zeros((2, 3))).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    where = f"{_WHERE}.eye_"
    data = _array(tensor, where)
    if data.ndim != 2:
        raise value_error(
            where, f"only 2-D tensors are supported, got shape {shape_str(data.shape)}."
        )
    return _write(tensor, jnp.eye(*data.shape, dtype=data.dtype))


def dirac_(tensor: TensorLike, groups: int = 1) -> TensorLike:
    """Fill a 3-, 4- or 5-D conv weight with the Dirac delta, so the conv is the identity.

    With `groups > 1` each group of output channels preserves its inputs.

    Raises:
        ValueError: for other ranks, or when `groups` does not divide dim 0.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.nn import init
        >>> w = init.dirac_(jnp.zeros((2, 2, 3)))
        >>> w[:, :, 1].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    where = f"{_WHERE}.dirac_"
    data = _array(tensor, where)
    if data.ndim not in (3, 4, 5):
        raise value_error(
            where,
            f"only tensors with 3, 4 or 5 dimensions are supported, got shape "
            f"{shape_str(data.shape)}.",
        )
    if data.shape[0] % groups != 0:
        raise value_error(where, f"dim 0 ({data.shape[0]}) must be divisible by groups ({groups}).")
    out_per_group = data.shape[0] // groups
    min_dim = min(out_per_group, data.shape[1])
    centre = tuple(s // 2 for s in data.shape[2:])
    out_idx = np.array([g * out_per_group + d for g in range(groups) for d in range(min_dim)])
    in_idx = np.array([d for _ in range(groups) for d in range(min_dim)])
    index = (out_idx, in_idx, *(np.full(len(out_idx), c) for c in centre))
    value = jnp.zeros(data.shape, data.dtype)
    if len(out_idx):
        value = value.at[index].set(1)
    return _write(tensor, value)


# ----------------------------------------------------------------------------- random laws
def uniform_(tensor: TensorLike, a: float = 0.0, b: float = 1.0) -> TensorLike:
    """Fill `tensor` with samples of U(a, b).

    Raises:
        ValueError: when `a > b`.

    Example:
        >>> import axon
        >>> from axon.nn import init
        >>> w = init.uniform_(axon.nn.Parameter(axon.Tensor.zeros([2, 3])), -1.0, 1.0)
        >>> w.shape
        (2, 3)
    """
    where = f"{_WHERE}.uniform_"
    data = _array(tensor, where)
    dtype = _float_dtype(data, where)
    if _concrete(a) and _concrete(b) and a > b:
        raise value_error(where, f"expected a <= b, got a={a}, b={b}.")
    value = _uniform(_random.next_key(), a, b, shape=data.shape, dtype=dtype)
    return _write(tensor, value)


def _check_std(std, where: str, strict: bool = False) -> None:
    if _concrete(std) and (std <= 0 if strict else std < 0):
        bound = "std > 0" if strict else "std >= 0"
        raise value_error(where, f"expected {bound}, got {std}.")


def normal_(tensor: TensorLike, mean: float = 0.0, std: float = 1.0) -> TensorLike:
    """Fill `tensor` with samples of N(mean, std²).

    Raises:
        ValueError: when `std < 0`.

    Example:
        >>> import axon
        >>> from axon.nn import init
        >>> init.normal_(axon.Tensor.zeros([4, 5]), std=0.02).shape
        (4, 5)
    """
    where = f"{_WHERE}.normal_"
    data = _array(tensor, where)
    dtype = _float_dtype(data, where)
    _check_std(std, where)
    value = _normal(_random.next_key(), mean, std, shape=data.shape, dtype=dtype)
    return _write(tensor, value)


def trunc_normal_(
    tensor: TensorLike, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> TensorLike:
    """Fill `tensor` with samples of N(mean, std²) truncated to [a, b].

    The law is exact (inverse-CDF sampling) rather than PyTorch's rejection loop; the
    distribution is the same. As in PyTorch, `a` and `b` are absolute bounds, not multiples
    of `std`.

    Raises:
        ValueError: when `std <= 0` or `a >= b`.

    Example:
        >>> import axon
        >>> from axon.nn import init
        >>> w = init.trunc_normal_(axon.Tensor.zeros([100]), std=0.02, a=-0.04, b=0.04)
        >>> bool(abs(w).max() <= 0.04)
        True
    """
    where = f"{_WHERE}.trunc_normal_"
    data = _array(tensor, where)
    dtype = _float_dtype(data, where)
    _check_std(std, where, strict=True)
    if all(_concrete(x) for x in (mean, std, a, b)):
        if a >= b:
            raise value_error(where, f"expected a < b, got a={a}, b={b}.")
        if mean < a - 2 * std or mean > b + 2 * std:
            warnings.warn(
                f"{where}: mean is more than 2 std from [a, b]; the distribution of values "
                f"may be incorrect.",
                stacklevel=2,
            )
    value = _trunc_normal(_random.next_key(), mean, std, a, b, shape=data.shape, dtype=dtype)
    return _write(tensor, value)


def xavier_uniform_(tensor: TensorLike, gain: float = 1.0) -> TensorLike:
    """Glorot uniform: U(-a, a) with `a = gain * sqrt(6 / (fan_in + fan_out))`.

    Raises:
        ValueError: for tensors of fewer than 2 dims.

    Example:
        >>> import axon
        >>> from axon.nn import init
        >>> w = init.xavier_uniform_(axon.nn.Parameter(axon.Tensor.zeros([3, 5])))
        >>> bool(abs(w.data).max() <= (6 / 8) ** 0.5)
        True
    """
    where = f"{_WHERE}.xavier_uniform_"
    data = _array(tensor, where)
    dtype = _float_dtype(data, where)
    fan_in, fan_out = _fans(data.shape, where)
    if data.size == 0:
        return tensor
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _write(
        tensor, _uniform(_random.next_key(), -bound, bound, shape=data.shape, dtype=dtype)
    )


def xavier_normal_(tensor: TensorLike, gain: float = 1.0) -> TensorLike:
    """Glorot normal: N(0, std²) with `std = gain * sqrt(2 / (fan_in + fan_out))`.

    Raises:
        ValueError: for tensors of fewer than 2 dims.

    Example:
        >>> import axon
        >>> from axon.nn import init
        >>> init.xavier_normal_(axon.Tensor.zeros([3, 5])).shape
        (3, 5)
    """
    where = f"{_WHERE}.xavier_normal_"
    data = _array(tensor, where)
    dtype = _float_dtype(data, where)
    fan_in, fan_out = _fans(data.shape, where)
    if data.size == 0:
        return tensor
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _write(tensor, _normal(_random.next_key(), 0.0, std, shape=data.shape, dtype=dtype))


def _kaiming_std(data, a, mode, nonlinearity, where) -> float:
    fan = _correct_fan(data.shape, mode, where)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    tensor: TensorLike, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> TensorLike:
    """He uniform: U(-bound, bound) with `bound = gain * sqrt(3 / fan_mode)`.

    Args:
        tensor: the weight, at least 2-D, in PyTorch's `(out, in, *kernel)` layout.
        a: the negative slope of the rectifier after this layer (used by `"leaky_relu"`).
        mode: `"fan_in"` preserves the forward variance, `"fan_out"` the backward one.
        nonlinearity: the nonlinearity after this layer (see `calculate_gain`).

    Raises:
        ValueError: for tensors of fewer than 2 dims, or an unknown mode or nonlinearity.

    Example:
        >>> import math, axon
        >>> from axon.nn import init
        >>> w = init.kaiming_uniform_(axon.Tensor.zeros([4, 6]), a=math.sqrt(5))
        >>> bool(abs(w).max() <= 1 / math.sqrt(6))
        True
    """
    where = f"{_WHERE}.kaiming_uniform_"
    data = _array(tensor, where)
    dtype = _float_dtype(data, where)
    if data.size == 0:
        warnings.warn(f"{where}: initializing zero-element tensors is a no-op.", stacklevel=2)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(data, a, mode, nonlinearity, where)
    return _write(
        tensor, _uniform(_random.next_key(), -bound, bound, shape=data.shape, dtype=dtype)
    )


def kaiming_normal_(
    tensor: TensorLike, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> TensorLike:
    """He normal: N(0, std²) with `std = gain / sqrt(fan_mode)`.

    Arguments as `kaiming_uniform_`.

    Raises:
        ValueError: for tensors of fewer than 2 dims, or an unknown mode or nonlinearity.

    Example:
        >>> import axon
        >>> from axon.nn import init
        >>> w = init.kaiming_normal_(axon.Tensor.zeros([8, 4]), mode="fan_out", nonlinearity="relu")
        >>> w.shape
        (8, 4)
    """
    where = f"{_WHERE}.kaiming_normal_"
    data = _array(tensor, where)
    dtype = _float_dtype(data, where)
    if data.size == 0:
        warnings.warn(f"{where}: initializing zero-element tensors is a no-op.", stacklevel=2)
        return tensor
    std = _kaiming_std(data, a, mode, nonlinearity, where)
    return _write(tensor, _normal(_random.next_key(), 0.0, std, shape=data.shape, dtype=dtype))


def orthogonal_(tensor: TensorLike, gain: float = 1) -> TensorLike:
    """Fill `tensor` with a (semi-)orthogonal matrix times `gain` (Saxe et al., 2013).

    The trailing dims are flattened: a `(rows, *rest)` tensor is viewed as `(rows, prod(rest))`,
    whose rows (if rows <= cols) or columns are orthonormal. Built as PyTorch does: QR of a
    standard normal matrix, with Q's columns multiplied by the signs of R's diagonal.

    Raises:
        ValueError: for tensors of fewer than 2 dims.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> from axon.nn import init
        >>> q = init.orthogonal_(axon.Tensor.zeros([3, 5]))
        >>> bool(jnp.allclose(q @ q.T, jnp.eye(3), atol=1e-5))
        True
    """
    where = f"{_WHERE}.orthogonal_"
    data = _array(tensor, where)
    dtype = _float_dtype(data, where)
    if data.ndim < 2:
        raise value_error(
            where,
            f"only tensors with 2 or more dimensions are supported, got shape "
            f"{shape_str(data.shape)}.",
        )
    if data.size == 0:
        return tensor
    rows = data.shape[0]
    cols = data.size // rows
    q = _orthogonal(_random.next_key(), gain, rows=rows, cols=cols, dtype=dtype)
    return _write(tensor, q.reshape(data.shape))  # (rows, cols) -> (rows, *rest)


def sparse_(tensor: TensorLike, sparsity: float, std: float = 0.01) -> TensorLike:
    """Fill a 2-D `tensor` as a sparse matrix (Martens, 2010), as `torch.nn.init.sparse_`.

    Every column gets exactly `ceil(sparsity * rows)` zeros at random rows; the other entries
    are drawn from N(0, std²).

    Args:
        tensor: a 2-D tensor.
        sparsity: the fraction of elements of each column set to zero, in [0, 1].
        std: the standard deviation of the non-zero values.

    Raises:
        ValueError: unless `tensor` is 2-D and `0 <= sparsity <= 1`.

    Example:
        >>> import axon
        >>> from axon.nn import init
        >>> w = init.sparse_(axon.Tensor.zeros([10, 4]), sparsity=0.3)
        >>> (w == 0).sum(axis=0).tolist()
        [3, 3, 3, 3]
    """
    where = f"{_WHERE}.sparse_"
    data = _array(tensor, where)
    dtype = _float_dtype(data, where)
    if data.ndim != 2:
        raise value_error(
            where, f"only 2-D tensors are supported, got shape {shape_str(data.shape)}."
        )
    if not 0 <= sparsity <= 1:
        raise value_error(where, f"expected 0 <= sparsity <= 1, got {sparsity}.")
    _check_std(std, where)
    num_zeros = math.ceil(sparsity * data.shape[0])
    value = _sparse(_random.next_key(), std, num_zeros, shape=data.shape, dtype=dtype)
    return _write(tensor, value)


# PyTorch's pre-underscore names. PyTorch deprecated them with a FutureWarning; axon keeps them as
# plain aliases so ported code runs unchanged.
uniform = uniform_
normal = normal_
constant = constant_
eye = eye_
dirac = dirac_
xavier_uniform = xavier_uniform_
xavier_normal = xavier_normal_
kaiming_uniform = kaiming_uniform_
kaiming_normal = kaiming_normal_
orthogonal = orthogonal_
sparse = sparse_
