"""Test helpers: one tolerance table, `assert_close` and a tinygrad-style `check_op`.

`check_op(axon_fn, torch_fn, shapes)` builds random inputs, runs both functions forward, pulls a
random cotangent back through both, and compares the outputs and every input gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import torch

import axon

# rtol and atol together, per dtype: float32 leaves room for reordered sums (XLA vs. ATen); the
# float64 pass is where a wrong formula cannot hide behind roundoff.
TOL: dict[np.dtype, dict[str, float]] = {
    np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6),
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12),
}
DTYPES = (np.float32, np.float64)
DTYPE_IDS = ("f32", "f64")


def tol(dtype) -> dict[str, float]:
    """The tolerance for `dtype` (exact for integer and boolean dtypes)."""
    dtype = np.dtype(dtype)
    if dtype in TOL:
        return dict(TOL[dtype])
    return dict(rtol=0.0, atol=0.0)


def x64(dtype):
    """`with x64(dtype):` enables jax's 64-bit mode only for float64 tests (never globally)."""
    if np.dtype(dtype) == np.float64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def to_numpy(value) -> np.ndarray:
    """A numpy copy of a jax array, axon Variable, numpy array, torch tensor or Python number."""
    if isinstance(value, axon.Variable):
        value = value.data
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def assert_close(actual, expected, dtype=None, *, check_dtype: bool = True, **override) -> None:
    """Assert equal shapes and values within the tolerance of `dtype` (default: actual's dtype).

    `override` replaces `rtol`/`atol`. With `check_dtype`, the two dtypes must also agree
    (torch's int64 indices may compare with jax's int32 ones: integer kinds are compared only).
    """
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"shape mismatch: axon {a.shape} vs expected {e.shape}"
    if check_dtype:
        if a.dtype.kind in "iu" and e.dtype.kind in "iu":
            pass
        else:
            assert a.dtype == e.dtype, f"dtype mismatch: axon {a.dtype} vs expected {e.dtype}"
    tolerance = tol(dtype if dtype is not None else a.dtype)
    tolerance.update(override)
    if a.dtype.kind in "biu" and e.dtype.kind in "biu":
        np.testing.assert_array_equal(a, e)
    else:
        np.testing.assert_allclose(a, e, **tolerance)


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _is_float(x) -> bool:
    return to_numpy(x).dtype.kind in "fc"


def random_inputs(shapes, dtype, *, low=-2.0, high=2.0, seed=0) -> list[np.ndarray]:
    """Uniform numpy inputs of `shapes` in [low, high), reproducible through `seed`."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, size=s).astype(dtype) for s in shapes]


def check_op(
    axon_fn: Callable,
    torch_fn: Callable,
    shapes: Sequence[tuple[int, ...]] = (),
    dtype=np.float32,
    *,
    inputs: Sequence[np.ndarray] | None = None,
    low: float = -2.0,
    high: float = 2.0,
    grad: bool = True,
    arrays: bool = False,
    seed: int = 0,
    **override,
):
    """Compare `axon_fn` and `torch_fn` forward and backward on the same random inputs.

    Args:
        axon_fn: called with one axon `Variable` per input (`requires_grad=True`), or with jax
            arrays when `arrays=True` (then gradients come from `jax.vjp` of the plain function).
        torch_fn: called with one torch tensor per input (`requires_grad=True`).
        shapes: one shape per input; or pass `inputs` (numpy arrays) directly.
        dtype: float32 or float64 (the float64 case runs inside `jax.enable_x64(True)`).
        low, high: the range of the uniform inputs (keep away from kinks and poles).
        grad: also compare input gradients of `sum(out * cotangent)` for a random cotangent.
        override: `rtol`/`atol` for this op.

    Outputs may be one value or a tuple (e.g. `max(dim)`'s values and indices); only float
    outputs carry a cotangent.
    """
    np_inputs = (
        list(inputs)
        if inputs is not None
        else random_inputs(shapes, dtype, low=low, high=high, seed=seed)
    )
    with x64(dtype):
        t_in = [torch.tensor(a, requires_grad=grad and _is_float(a)) for a in np_inputs]
        t_out = _as_tuple(torch_fn(*t_in))
        rng = np.random.default_rng(seed + 1)
        cots = [
            rng.standard_normal(tuple(o.shape)).astype(to_numpy(o).dtype) if _is_float(o) else None
            for o in t_out
        ]

        if arrays:
            j_in = [jnp.asarray(a) for a in np_inputs]
            diff = [i for i, a in enumerate(np_inputs) if _is_float(a)]

            def f(*d):
                full = list(j_in)
                for i, v in zip(diff, d, strict=True):
                    full[i] = v
                return _as_tuple(axon_fn(*full))

            a_out, vjp = jax.vjp(f, *(j_in[i] for i in diff))
            for o in a_out:
                assert isinstance(o, jax.Array), f"on arrays expected a jax.Array, got {type(o)}"
        else:
            a_in = [
                axon.Variable(jnp.asarray(a), requires_grad=grad and _is_float(a))
                for a in np_inputs
            ]
            a_out = _as_tuple(axon_fn(*a_in))
            for o in a_out:
                assert isinstance(o, axon.Variable), (
                    f"on Variables expected a Variable, got {type(o)}"
                )

        assert len(a_out) == len(t_out), f"axon gave {len(a_out)} outputs, torch {len(t_out)}"
        for a, t in zip(a_out, t_out, strict=True):
            assert_close(a, t, dtype, **override)

        if not grad or not any(c is not None for c in cots):
            return a_out
        t_loss = sum(
            (o * torch.tensor(c)).sum() for o, c in zip(t_out, cots, strict=True) if c is not None
        )
        t_loss.backward()
        t_grads = [
            (t.grad if t.grad is not None else torch.zeros_like(t)) if t.requires_grad else None
            for t in t_in
        ]
        if arrays:
            ct = tuple(
                jnp.asarray(c) if c is not None else np.zeros(o.shape, jax.dtypes.float0)
                for o, c in zip(a_out, cots, strict=True)
            )
            grads = dict(zip(diff, vjp(ct), strict=True))
            a_grads = [grads.get(i) for i in range(len(np_inputs))]
        else:
            loss = None
            for o, c in zip(a_out, cots, strict=True):
                if c is not None:
                    term = (o * jnp.asarray(c)).sum()
                    loss = term if loss is None else loss + term
            loss.backward()
            a_grads = [
                (v.grad if v.grad is not None else jnp.zeros_like(v.data))
                if v.requires_grad
                else None
                for v in a_in
            ]
        for i, (ag, tg) in enumerate(zip(a_grads, t_grads, strict=True)):
            if tg is None:
                continue
            assert ag is not None, f"input {i}: torch has a gradient, axon none"
            try:
                assert_close(ag, tg, dtype, **override)
            except AssertionError as e:
                raise AssertionError(f"gradient of input {i}: {e}") from None
        return a_out


def check_raises(axon_fn: Callable, torch_fn: Callable | None, exc, match: str | None = None):
    """Assert that axon raises `exc` (matching `match`), and that torch also rejects the call."""
    import pytest

    with pytest.raises(exc, match=match):
        axon_fn()
    if torch_fn is not None:
        with pytest.raises(Exception):  # noqa: B017 - torch's exception types vary
            torch_fn()


_CROSS_ENTROPY = axon.nn.CrossEntropyLoss()


def train_step(model, opt, x, y):
    """The four-line PyTorch-style step (cross-entropy loss), eager or under `axon.jit`."""
    opt.zero_grad()
    loss = _CROSS_ENTROPY(model(x), y)
    loss.backward()
    opt.step()
    return loss


def stepped_twins(make_pair: Callable, batch: tuple, steps: int):
    """Two `(model, opt)` pairs from `make_pair()`, one stepped `steps` times on `batch` through
    `axon.jit(train_step)` and one eagerly: `(model, opt, eager, opt_eager, fast, batch)`."""
    (model, opt), (eager, opt_eager) = make_pair(), make_pair()
    x, y = batch
    fast = axon.jit(train_step)
    for _ in range(steps):
        fast(model, opt, x, y)
        train_step(eager, opt_eager, x, y)
    return model, opt, eager, opt_eager, fast, batch
