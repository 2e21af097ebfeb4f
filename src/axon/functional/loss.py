"""Loss functions with `torch.nn.functional`'s names, signatures and numerics.

Each public function checks its arguments in Python first (shapes, dtypes and hyper-parameters,
read from `.shape`/`.dtype`, so no device sync), then calls one tape op: plain jax on arrays, one
compiled kernel with its VJP on Variables. Reductions, `ignore_index`, `label_smoothing`, `beta`,
`delta` and `log_target` are static; `weight` and `pos_weight` are dynamic inputs, so a new weight
array does not recompile. Half-precision inputs are computed in float32 and the loss is cast back.

The checking wrappers take `where` (a module or a name) so that `axon.nn.CrossEntropyLoss` reports
its own name in error messages; the public functions pass `axon.functional.<name>`.
"""

from __future__ import annotations

import enum

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from axon import _errors
from axon.autograd.tape import op
from axon.autograd.variable import Variable

REDUCTIONS = ("mean", "sum", "none")
KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")
_BCE_EPS = float(np.float32(1e-12))  # PyTorch's floor on x(1 - x) in the BCE gradient (a float)
_LOG_FLOOR = -100.0  # PyTorch clamps BCE's logs at -100


# ----------------------------------------------------------------------------- checks
def canonical_reduction(where, reduction, allowed: tuple[str, ...] = REDUCTIONS) -> str:
    """The reduction as a plain string; accepts `axon.nn.Reduction` members and strings."""
    value = reduction.value if isinstance(reduction, enum.Enum) else reduction
    if not isinstance(value, str) or value not in allowed:
        valid = ", ".join(repr(a) for a in allowed)
        raise _errors.value_error(
            where, f"reduction must be one of {valid} (or an axon.nn.Reduction), got {reduction!r}."
        )
    return value


def _operand(x):
    """Variables and arrays pass through; Python numbers and lists become jax arrays."""
    if isinstance(x, Variable) or (hasattr(x, "shape") and hasattr(x, "dtype")):
        return x
    return jnp.asarray(x)


def _shape(x) -> tuple[int, ...]:
    return tuple(x.shape)


def _is_float(x) -> bool:
    return jnp.issubdtype(x.dtype, jnp.floating)


def _is_int(x) -> bool:
    return jnp.issubdtype(x.dtype, jnp.integer)


def _check_float_input(where, x, name: str = "input") -> None:
    if not _is_float(x):
        raise _errors.type_error(
            where,
            f"expected a floating-point {name}, got dtype {x.dtype}.",
            "Convert it with .astype(jnp.float32).",
        )


def _check_same_shape(where, input, target) -> None:
    if _shape(input) != _shape(target):
        raise _errors.value_error(
            where,
            f"expected target of the input's shape {_errors.shape_str(_shape(input))}, "
            f"got {_errors.shape_str(_shape(target))}.",
            "Reshape the target to match; axon does not broadcast loss targets.",
        )


def _check_broadcastable(where, name: str, w, input) -> None:
    """An optional weight `w` (None passes) must broadcast to the input's shape."""
    if w is None:
        return
    shape = _shape(input)
    try:
        ok = np.broadcast_shapes(_shape(w), shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise _errors.value_error(
            where,
            f"expected {name} broadcastable to the input's shape {_errors.shape_str(shape)}, "
            f"got {_errors.shape_str(_shape(w))}.",
        )


def _check_class_input(where, input) -> int:
    """Input of shape (C,), (N, C) or (N, C, d1, ...): returns C."""
    _check_float_input(where, input)
    if input.ndim == 0:
        raise _errors.value_error(
            where, "expected input of shape (C,), (N, C) or (N, C, d1, ...), got ()."
        )
    return _shape(input)[0 if input.ndim == 1 else 1]


def _class_target_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    return () if len(input_shape) == 1 else (input_shape[0], *input_shape[2:])


def _check_class_target(where, input, target, *, allow_probs: bool) -> None:
    expected = _class_target_shape(_shape(input))
    if _is_int(target) and _shape(target) == expected:
        return
    also = (
        f", or class probabilities of the input's shape {_errors.shape_str(_shape(input))}"
        if allow_probs
        else ""
    )
    problem = (
        f"expected an integer class-index target of shape {_errors.shape_str(expected)}{also}; "
        f"got a {target.dtype} target of shape {_errors.shape_str(_shape(target))}."
    )
    if not _is_int(target):
        raise _errors.type_error(where, problem, "Convert class indices with .astype(jnp.int32).")
    raise _errors.value_error(where, problem)


def _check_class_weight(where, weight, n_classes: int) -> None:
    if weight is not None and _shape(weight) != (n_classes,):
        raise _errors.value_error(
            where,
            f"expected weight of shape (C,) = ({n_classes},), got "
            f"{_errors.shape_str(_shape(weight))}.",
        )


def check_label_smoothing(where, label_smoothing) -> None:
    if (
        not isinstance(label_smoothing, (int, float))
        or isinstance(label_smoothing, bool)
        or not 0.0 <= label_smoothing <= 1.0
    ):
        raise _errors.value_error(
            where, f"label_smoothing must be a float in [0.0, 1.0], got {label_smoothing!r}."
        )


def check_ignore_index(where, ignore_index) -> None:
    if not isinstance(ignore_index, (int, np.integer)) or isinstance(ignore_index, bool):
        raise _errors.type_error(where, f"ignore_index must be an int, got {ignore_index!r}.")


def check_beta(where, beta) -> None:
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or beta < 0:
        raise _errors.value_error(where, f"beta must be a non-negative float, got {beta!r}.")


def check_delta(where, delta) -> None:
    if not isinstance(delta, (int, float)) or isinstance(delta, bool) or delta <= 0:
        raise _errors.value_error(where, f"delta must be a positive float, got {delta!r}.")


# ----------------------------------------------------------------------------- kernels
def _compute_dtype(x):
    """At least float32: half precision is reduced in float32 and cast back."""
    return jnp.promote_types(x.dtype, jnp.float32)


def _reduce(loss, reduction):
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    return loss


def _promote(input, target):
    dtype = _compute_dtype(input)
    return input.astype(dtype), target.astype(dtype)


@op(static=("reduction",), name="mse_loss")
def _mse(input, target, reduction):
    x, t = _promote(input, target)
    return _reduce(jnp.square(x - t), reduction).astype(input.dtype)


@op(static=("reduction",), name="l1_loss")
def _l1(input, target, reduction):
    x, t = _promote(input, target)
    return _reduce(jnp.abs(x - t), reduction).astype(input.dtype)


@op(static=("reduction", "beta"), name="smooth_l1_loss")
def _smooth_l1(input, target, reduction, beta):
    x, t = _promote(input, target)
    d = jnp.abs(x - t)
    if beta > 0.0:  # beta = 0 is L1; its quadratic branch would divide by zero (NaN gradients)
        d = jnp.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(d, reduction).astype(input.dtype)


@op(static=("reduction", "delta"), name="huber_loss")
def _huber(input, target, reduction, delta):
    x, t = _promote(input, target)
    d = jnp.abs(x - t)
    loss = jnp.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _reduce(loss, reduction).astype(input.dtype)


def _pick_class(logp, index, cdim):
    """`logp[n, index[n], ...]` along the class axis `cdim`, as a masked sum over the classes.

    The same values as `take_along_axis`, but the gradient is a select instead of a scatter into
    zeros, which XLA fuses into the softmax's gradient: a compiled training step has four fewer
    kernels (each costs roughly 5-10 ms of XLA compile on a 2-core CPU)."""
    classes = jax.lax.broadcasted_iota(index.dtype, logp.shape, cdim)
    hit = classes == jnp.expand_dims(index, cdim)
    return jnp.sum(jnp.where(hit, logp, 0), axis=cdim)  # one term per row: exact


def _nll_core(logp, target, weight, ignore_index, reduction, label_smoothing):
    """PyTorch's weighted NLL (and label smoothing) over log-probabilities `logp`."""
    cdim = 0 if logp.ndim == 1 else 1
    n_classes = logp.shape[cdim]
    # At least int32: in uint8, ignore_index -100 would read as 156 and C = 300 as 44.
    target = target.astype(jnp.promote_types(target.dtype, jnp.int32))
    valid = target != ignore_index
    safe = jnp.where(valid, target, 0)
    picked = _pick_class(logp, safe, cdim)  # (N, d1, ...)
    picked = jnp.where((safe >= 0) & (safe < n_classes), picked, jnp.nan)  # bad class: NaN
    if weight is None:
        w_t = valid.astype(logp.dtype)
    else:
        weight = weight.astype(logp.dtype)
        w_t = jnp.where(valid, jnp.take(weight, safe, mode="clip"), 0)
    nll = jnp.where(valid, -w_t * picked, 0)
    if label_smoothing > 0.0:
        w_b = 1 if weight is None else weight.reshape((-1,) + (1,) * (logp.ndim - cdim - 1))
        smooth = jnp.where(valid, -jnp.sum(logp * w_b, axis=cdim), 0)
    if reduction == "none":
        loss = nll
        if label_smoothing > 0.0:
            loss = (1 - label_smoothing) * nll + (label_smoothing / n_classes) * smooth
        return loss
    loss = jnp.sum(nll)
    if label_smoothing > 0.0:
        loss = (1 - label_smoothing) * loss + (label_smoothing / n_classes) * jnp.sum(smooth)
    if reduction == "mean":
        loss = loss / jnp.sum(w_t)  # all ignored: 0/0 = NaN, as PyTorch
    return loss


@op(static=("ignore_index", "reduction"), name="nll_loss")
def _nll_loss(input, target, weight, ignore_index, reduction):
    logp = input.astype(_compute_dtype(input))
    return _nll_core(logp, target, weight, ignore_index, reduction, 0.0).astype(input.dtype)


@op(static=("ignore_index", "reduction", "label_smoothing"), name="cross_entropy")
def _cross_entropy_indices(input, target, weight, ignore_index, reduction, label_smoothing):
    cdim = 0 if input.ndim == 1 else 1
    logp = jax.nn.log_softmax(input.astype(_compute_dtype(input)), axis=cdim)
    loss = _nll_core(logp, target, weight, ignore_index, reduction, label_smoothing)
    return loss.astype(input.dtype)


@op(static=("reduction", "label_smoothing"), name="cross_entropy")
def _cross_entropy_probs(input, target, weight, reduction, label_smoothing):
    cdim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[cdim]
    dtype = _compute_dtype(input)
    logp = jax.nn.log_softmax(input.astype(dtype), axis=cdim)
    p = target.astype(dtype)
    if label_smoothing > 0.0:
        p = p * (1 - label_smoothing) + label_smoothing / n_classes
    if weight is not None:
        p = p * weight.astype(dtype).reshape((-1,) + (1,) * (input.ndim - cdim - 1))
    loss = -jnp.sum(logp * p, axis=cdim)  # (N, d1, ...)
    if reduction == "mean":
        return (jnp.sum(loss) / (input.size // n_classes)).astype(input.dtype)
    return _reduce(loss, reduction).astype(input.dtype)


@jax.custom_jvp
def _bce_pointwise(x, t):
    log_x = jnp.maximum(jnp.log(x), _LOG_FLOOR)
    log_1mx = jnp.maximum(jnp.log1p(-x), _LOG_FLOOR)
    return -(t * log_x + (1 - t) * log_1mx)


@_bce_pointwise.defjvp
def _bce_pointwise_jvp(primals, tangents):
    # PyTorch's derivatives: finite at x in {0, 1}, where the clamped logs have no slope.
    x, t = primals
    dx, dt = tangents
    d_x = (x - t) / jnp.maximum((1 - x) * x, _BCE_EPS)
    d_t = jnp.log1p(-x) - jnp.log(x)
    return _bce_pointwise(x, t), dx * d_x + dt * d_t


@op(static=("reduction",), name="binary_cross_entropy")
def _binary_cross_entropy(input, target, weight, reduction):
    dtype = _compute_dtype(input)
    loss = _bce_pointwise(input.astype(dtype), target.astype(dtype))
    if weight is not None:
        loss = loss * jnp.broadcast_to(weight.astype(dtype), loss.shape)
    return _reduce(loss, reduction).astype(input.dtype)


@op(static=("reduction",), name="binary_cross_entropy_with_logits")
def _binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction):
    dtype = _compute_dtype(input)
    x, t = input.astype(dtype), target.astype(dtype)
    log_sig = jax.nn.log_sigmoid(x)
    if pos_weight is None:
        loss = (1 - t) * x - log_sig
    else:
        log_weight = (jnp.broadcast_to(pos_weight.astype(dtype), x.shape) - 1) * t + 1
        loss = (1 - t) * x - log_weight * log_sig
    if weight is not None:
        loss = loss * jnp.broadcast_to(weight.astype(dtype), loss.shape)
    return _reduce(loss, reduction).astype(input.dtype)


@op(static=("reduction", "log_target"), name="kl_div")
def _kl_div(input, target, reduction, log_target):
    dtype = _compute_dtype(input)
    x, t = input.astype(dtype), target.astype(dtype)
    loss = jnp.exp(t) * (t - x) if log_target else xlogy(t, t) - t * x
    if reduction == "batchmean":
        total = jnp.sum(loss)
        return (total / input.shape[0] if input.ndim else total).astype(input.dtype)
    return _reduce(loss, reduction).astype(input.dtype)


# ----------------------------------------------------------------------------- checked calls
def _elementwise_operands(where, input, target, reduction, allowed=REDUCTIONS):
    """The element-wise losses' checks: the reduction, a float input, a target of its shape.

    Returns `(input, target, reduction)` as the kernels take them.
    """
    reduction = canonical_reduction(where, reduction, allowed)
    input, target = _operand(input), _operand(target)
    _check_float_input(where, input)
    _check_same_shape(where, input, target)
    return input, target, reduction


def _class_operands(where, input, target, weight):
    """Logits or log-probabilities with a class dimension C, and a (C,) weight if any."""
    input, target = _operand(input), _operand(target)
    n_classes = _check_class_input(where, input)
    _check_class_weight(where, weight, n_classes)
    return input, target


def pointwise_checked(where, kernel, input, target, reduction, **static):
    """Check and run an element-wise loss (`_mse`, `_l1`, `_smooth_l1`, `_huber`)."""
    input, target, reduction = _elementwise_operands(where, input, target, reduction)
    return kernel(input, target, reduction, **static)


def mse_checked(where, input, target, reduction):
    return pointwise_checked(where, _mse, input, target, reduction)


def l1_checked(where, input, target, reduction):
    return pointwise_checked(where, _l1, input, target, reduction)


def smooth_l1_checked(where, input, target, reduction, beta):
    check_beta(where, beta)
    return pointwise_checked(where, _smooth_l1, input, target, reduction, beta=float(beta))


def huber_checked(where, input, target, reduction, delta):
    check_delta(where, delta)
    return pointwise_checked(where, _huber, input, target, reduction, delta=float(delta))


def cross_entropy_checked(where, input, target, weight, ignore_index, reduction, label_smoothing):
    reduction = canonical_reduction(where, reduction)
    check_label_smoothing(where, label_smoothing)
    check_ignore_index(where, ignore_index)
    input, target = _class_operands(where, input, target, weight)
    if _shape(target) == _shape(input):  # class probabilities
        expected = _class_target_shape(_shape(input))
        if not _is_float(target):
            raise _errors.type_error(
                where,
                f"a target of the input's shape holds class probabilities and must be floating "
                f"point, got dtype {target.dtype}.",
                f"Pass class indices of shape {_errors.shape_str(expected)} instead, or convert "
                f"it with .astype(jnp.float32).",
            )
        if ignore_index >= 0:
            raise _errors.value_error(
                where,
                f"ignore_index is not supported for class-probability targets, got {ignore_index}.",
                "Leave ignore_index at its default (-100), or pass integer class indices.",
            )
        return _cross_entropy_probs(input, target, weight, reduction, float(label_smoothing))
    _check_class_target(where, input, target, allow_probs=True)
    return _cross_entropy_indices(
        input, target, weight, int(ignore_index), reduction, float(label_smoothing)
    )


def nll_checked(where, input, target, weight, ignore_index, reduction):
    reduction = canonical_reduction(where, reduction)
    check_ignore_index(where, ignore_index)
    input, target = _class_operands(where, input, target, weight)
    _check_class_target(where, input, target, allow_probs=False)
    return _nll_loss(input, target, weight, int(ignore_index), reduction)


def bce_checked(where, input, target, weight, reduction):
    input, target, reduction = _elementwise_operands(where, input, target, reduction)
    _check_broadcastable(where, "weight", weight, input)
    return _binary_cross_entropy(input, target, weight, reduction)


def bce_logits_checked(where, input, target, weight, reduction, pos_weight):
    input, target, reduction = _elementwise_operands(where, input, target, reduction)
    _check_broadcastable(where, "weight", weight, input)
    _check_broadcastable(where, "pos_weight", pos_weight, input)
    return _binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction)


def kl_div_checked(where, input, target, reduction, log_target):
    input, target, reduction = _elementwise_operands(where, input, target, reduction, KL_REDUCTIONS)
    return _kl_div(input, target, reduction, bool(log_target))


# ----------------------------------------------------------------------------- public
def _name(fn_name: str) -> str:
    return f"axon.functional.{fn_name}"


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error: ℓ = (x − y)², reduced by `reduction`.

    Args:
        input: predictions, any shape, floating point.
        target: values of the input's shape (also differentiated).
        reduction: "mean" | "sum" | "none" (or `axon.nn.Reduction`).

    Shape:
        - input: (*)
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Note:
        PyTorch warns and broadcasts a target of another shape (here and in `l1_loss`,
        `smooth_l1_loss`, `huber_loss`, `kl_div`); axon raises a ValueError instead. Broadcast
        the target yourself (`jnp.broadcast_to`) to get PyTorch's behaviour.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> float(F.mse_loss(jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 3.0, 4.0])))
        1.0
    """
    return mse_checked(_name("mse_loss"), input, target, reduction)


def l1_loss(input, target, reduction: str = "mean"):
    """Mean absolute error: ℓ = |x − y|, reduced by `reduction`.

    Args:
        input: predictions, floating point.
        target: values of the input's shape (also differentiated).
        reduction: "mean" | "sum" | "none" (or `axon.nn.Reduction`).

    Shape:
        - input: (*)
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> float(F.l1_loss(jnp.array([1.0, 2.0]), jnp.array([2.0, 4.0])))
        1.5
    """
    return l1_checked(_name("l1_loss"), input, target, reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):
    """Smooth L1: 0.5·d²/β where d = |x − y| < β, else d − 0.5·β (β = 0 gives L1).

    Args:
        input: predictions, floating point.
        target: values of the input's shape (also differentiated).
        reduction: "mean" | "sum" | "none" (or `axon.nn.Reduction`).
        beta: the switch point between the quadratic and linear parts, ≥ 0.

    Shape:
        - input: (*)
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> x, y = jnp.array([0.0, 0.0]), jnp.array([0.5, 3.0])
        >>> F.smooth_l1_loss(x, y, reduction="none").tolist()
        [0.125, 2.5]
    """
    return smooth_l1_checked(_name("smooth_l1_loss"), input, target, reduction, beta)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):
    """Huber: 0.5·d² where d = |x − y| < δ, else δ·(d − 0.5·δ).

    Args:
        input: predictions, floating point.
        target: values of the input's shape (also differentiated).
        reduction: "mean" | "sum" | "none" (or `axon.nn.Reduction`).
        delta: the switch point between the quadratic and linear parts, > 0.

    Shape:
        - input: (*)
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> x, y = jnp.array([0.0, 0.0]), jnp.array([0.5, 3.0])
        >>> F.huber_loss(x, y, reduction="none", delta=2.0).tolist()
        [0.125, 4.0]
    """
    return huber_checked(_name("huber_loss"), input, target, reduction, delta)


def cross_entropy(
    input,
    target,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
):
    """Cross entropy between logits and class indices or class probabilities, as PyTorch.

    With class indices: ℓₙ = −w[yₙ]·log softmax(xₙ)[yₙ]; "mean" divides by Σ w[yₙ] over the
    targets that are not `ignore_index`. With label smoothing ε, the loss mixes (1 − ε) of that
    with ε/C of −Σ_c w[c]·log softmax(xₙ)[c], normalised the same way. A target of the input's
    shape (floating point) holds class probabilities; "mean" then divides by N·d1·….

    Args:
        input: logits, floating point.
        target: integer class indices, or class probabilities of the input's shape.
        weight: a (C,) rescaling weight per class.
        ignore_index: a class index whose targets add nothing (class-index targets only).
        reduction: "mean" | "sum" | "none" (or `axon.nn.Reduction`).
        label_smoothing: ε in [0, 1].

    Shape:
        - input: (C,), (N, C) or (N, C, d1, ..., dk)
        - target: (), (N,) or (N, d1, ..., dk) integer; or the input's shape, floating point
        - output: () or, with reduction="none", (), (N,) or (N, d1, ..., dk)

    Note:
        PyTorch raises on a class index outside [0, C); axon cannot check without a device
        sync, and returns NaN for that element instead.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> round(float(F.cross_entropy(jnp.zeros((2, 16)), jnp.array([3, 7]))), 4)  # ln 16
        2.7726
    """
    return cross_entropy_checked(
        _name("cross_entropy"), input, target, weight, ignore_index, reduction, label_smoothing
    )


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log likelihood of log-probabilities: ℓₙ = −w[yₙ]·x[n, yₙ].

    "mean" divides by Σ w[yₙ] over the targets that are not `ignore_index`.

    Args:
        input: log-probabilities, floating point.
        target: integer class indices.
        weight: a (C,) rescaling weight per class.
        ignore_index: a class index whose targets add nothing.
        reduction: "mean" | "sum" | "none" (or `axon.nn.Reduction`).

    Shape:
        - input: (C,), (N, C) or (N, C, d1, ..., dk) log-probabilities
        - target: (), (N,) or (N, d1, ..., dk) integer class indices
        - output: () or, with reduction="none", the target's shape

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> float(F.nll_loss(jnp.array([[-1.0, -2.0], [-3.0, -4.0]]), jnp.array([0, 1])))
        2.5
    """
    return nll_checked(_name("nll_loss"), input, target, weight, ignore_index, reduction)


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean"):
    """Binary cross entropy of probabilities: ℓ = −w·(y·log x + (1 − y)·log(1 − x)).

    As PyTorch, each log is clamped at −100, so x = 0 or 1 gives a finite loss and gradient.

    Args:
        input: probabilities in [0, 1] (not checked: that would need a device sync).
        target: values in [0, 1] of the input's shape (also differentiated).
        weight: a rescaling weight broadcastable to the input.
        reduction: "mean" | "sum" | "none" (or `axon.nn.Reduction`).

    Shape:
        - input: (*) probabilities in [0, 1]
        - target: (*), the same shape
        - weight: broadcastable to (*)
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> round(float(F.binary_cross_entropy(jnp.array([0.5]), jnp.array([1.0]))), 4)  # ln 2
        0.6931
    """
    return bce_checked(_name("binary_cross_entropy"), input, target, weight, reduction)


def binary_cross_entropy_with_logits(
    input, target, weight=None, reduction: str = "mean", pos_weight=None
):
    """Sigmoid and binary cross entropy in one stable formula, with PyTorch's `pos_weight`.

    ℓ = −w·(p·y·log σ(x) + (1 − y)·log(1 − σ(x))), p = pos_weight (1 by default).

    Args:
        input: logits, floating point.
        target: values in [0, 1] of the input's shape (also differentiated).
        weight: a rescaling weight broadcastable to the input.
        reduction: "mean" | "sum" | "none" (or `axon.nn.Reduction`).
        pos_weight: a weight on the positive term, broadcastable to the input.

    Shape:
        - input: (*) logits
        - target: (*), the same shape
        - weight, pos_weight: broadcastable to (*) (pos_weight usually (C,), the last dim)
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> round(float(F.binary_cross_entropy_with_logits(jnp.zeros(3), jnp.ones(3))), 4)
        0.6931
    """
    return bce_logits_checked(
        _name("binary_cross_entropy_with_logits"), input, target, weight, reduction, pos_weight
    )


def kl_div(input, target, reduction: str = "mean", log_target: bool = False):
    """Kullback-Leibler divergence with `input` in log space: ℓ = y·(log y − x).

    With `log_target=True` the target is log-probabilities too: ℓ = eʸ·(y − x). "batchmean"
    divides the sum by the batch size (the mathematical KL); "mean" divides by every element.

    Args:
        input: log-probabilities, floating point.
        target: probabilities (or log-probabilities) of the input's shape.
        reduction: "mean" | "batchmean" | "sum" | "none".
        log_target: the target is given in log space.

    Shape:
        - input: (*) log-probabilities
        - target: (*), the same shape
        - output: () or, with reduction="none", (*)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> logq = jnp.log(jnp.array([[0.5, 0.5]]))
        >>> float(F.kl_div(logq, jnp.array([[0.5, 0.5]]), reduction="batchmean"))
        0.0

    Note:
        PyTorch warns that "mean" will change to mean "batchmean"; axon computes the same
        "mean" as PyTorch today, without the warning.
    """
    return kl_div_checked(_name("kl_div"), input, target, reduction, log_target)
