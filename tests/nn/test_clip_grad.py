"""axon.nn.utils: gradient clipping and parameter vectors against torch.nn.utils."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close, x64

import axon
from axon.nn import Parameter, utils

SHAPES = [(4, 3), (4,), (2, 4), (5,)]


def _pairs(dtype, scale=1.0, none=(3,)):
    """Parameters with gradients (the last one without), in axon and torch."""
    rng = np.random.default_rng(0)
    params, tparams = [], []
    for i, shape in enumerate(SHAPES):
        value = rng.standard_normal(shape).astype(dtype)
        grad = (scale * rng.standard_normal(shape)).astype(dtype)
        p, tp = Parameter(jnp.asarray(value)), torch.tensor(value, requires_grad=True)
        if i not in none:
            p.grad, tp.grad = jnp.asarray(grad), torch.tensor(grad)
        params.append(p)
        tparams.append(tp)
    return params, tparams


def _assert_grads(params, tparams, dtype):
    for p, tp in zip(params, tparams, strict=True):
        if tp.grad is None:
            assert p.grad is None
        else:
            assert p.grad.dtype == dtype
            assert_close(p.grad, tp.grad)


def test_seed_clip_grad_norm():
    w = Parameter(jnp.zeros(2))
    w.grad = jnp.array([3.0, 4.0])
    total = utils.clip_grad_norm_([w], 1.0)
    assert isinstance(total, jax.Array) and float(total) == 5.0
    np.testing.assert_allclose(w.grad, [0.6, 0.8], rtol=1e-6)  # the direction is kept
    assert axon.nn.utils is utils


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    "max_norm, norm_type",
    [(1.0, 2.0), (100.0, 2.0), (0.5, 1), (2.0, float("inf")), (1.0, 3.5), (0.3, "inf"),
     (1.0, 0.5)],
    ids=["l2-clips", "l2-no-clip", "l1", "inf", "p3.5", "inf-str", "p0.5"],
)  # fmt: skip
def test_clip_grad_norm_equals_torch(max_norm, norm_type, dtype):
    with x64(dtype):
        params, tparams = _pairs(dtype)
        total = utils.clip_grad_norm_(params, max_norm, norm_type)
        ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
        assert_close(total, ttotal)
        _assert_grads(params, tparams, dtype)


def test_total_norm_and_clip_with_norm_equal_torch():
    params, tparams = _pairs(np.float32)
    grads = [p.grad for p in params if p.grad is not None]
    total = utils.get_total_norm(grads, 3.0)
    ttotal = torch.nn.utils.get_total_norm([p.grad for p in tparams if p.grad is not None], 3.0)
    assert_close(total, ttotal)
    utils.clip_grads_with_norm_(params, 0.5, total)
    torch.nn.utils.clip_grads_with_norm_(tparams, 0.5, ttotal)
    _assert_grads(params, tparams, np.float32)
    assert float(utils.get_total_norm([])) == 0.0
    assert_close(utils.get_total_norm(params[0]), torch.linalg.vector_norm(tparams[0].detach()))


def test_nothing_to_clip():
    a, b = Parameter(jnp.ones(2)), Parameter(jnp.ones(3))
    total = utils.clip_grad_norm_([a, b], 1.0)
    assert float(total) == 0.0 and a.grad is None
    utils.clip_grad_value_([a, b], 1.0)
    utils.clip_grads_with_norm_(a, 1.0, 3.0)
    assert a.grad is None
    with pytest.warns(UserWarning, match=r"clip_grad_norm_: `parameters` is an empty generator"):
        utils.clip_grad_norm_((p for p in []), 1.0)


def test_a_single_parameter_and_a_dict_of_parameters():
    params, tparams = _pairs(np.float32)
    total = utils.clip_grad_norm_(params[0], 0.1)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams[0], 0.1)
    assert_close(total, ttotal)
    assert_close(params[0].grad, tparams[0].grad)
    by_name = {f"p{i}": p for i, p in enumerate(params)}
    total = utils.clip_grad_norm_(by_name, 0.05)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 0.05)
    assert_close(total, ttotal)
    _assert_grads(params, tparams, np.float32)


def test_nonfinite_norms():
    params, tparams = _pairs(np.float32)
    params[0].grad = params[0].grad.at[0, 0].set(jnp.nan)
    tparams[0].grad[0, 0] = float("nan")
    with pytest.raises(
        ValueError,
        match=r"axon.nn.utils.clip_grad_norm_: the total norm of order 2.0 for gradients from "
        r"`parameters` is non-finite, so it cannot be clipped\. To disable this error",
    ):
        utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(tparams, 1.0, error_if_nonfinite=True)
    assert not np.isnan(np.asarray(params[1].grad)).any()  # nothing was scaled
    total = utils.clip_grad_norm_(params, 1.0)  # without the check: NaNs spread, as torch
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 1.0)
    assert np.isnan(float(total)) and torch.isnan(ttotal)
    assert np.isnan(np.asarray(params[1].grad)).all() and torch.isnan(tparams[1].grad).all()
    finite, _ = _pairs(np.float32)
    utils.clip_grad_norm_(finite, 1.0, error_if_nonfinite=True)  # finite: clips, no error


def test_works_on_traced_gradients_and_compiles_once():
    params, _ = _pairs(np.float32)
    grads = [p.grad for p in params[:3]]

    @jax.jit
    def clipped(grads, max_norm):
        for p, g in zip(params, grads, strict=False):
            p.grad = g
        total = utils.clip_grad_norm_(params, max_norm)
        return total, [p.grad for p in params[:3]]

    total, new = clipped(grads, 0.5)
    for p, g in zip(params, grads, strict=False):
        p.grad = g
    eager_total = utils.clip_grad_norm_(params, 0.5)
    assert_close(total, eager_total, rtol=1e-6)
    for a, p in zip(new, params, strict=False):
        assert_close(a, p.grad, rtol=1e-6)

    cache = utils._clip_norm_jit._cache_size()
    for max_norm in (0.1, 0.2, 3.0):  # a new max_norm is a dynamic argument: no recompile
        for p, g in zip(params, grads, strict=False):
            p.grad = g
        utils.clip_grad_norm_(params, max_norm)
    assert utils._clip_norm_jit._cache_size() == cache

    with pytest.raises(
        ValueError,
        match=r"clip_grad_norm_: error_if_nonfinite=True needs the norm's value, but it is "
        r"traced here .* Pass error_if_nonfinite=False and test the returned norm",
    ):
        jax.jit(lambda g: utils.clip_grad_norm_(_with_grad(g), 1.0, error_if_nonfinite=True))(
            grads[0]
        )


def _with_grad(g):
    p = Parameter(jnp.zeros(g.shape))
    p.grad = g
    return [p]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_clip_grad_value_equals_torch(dtype):
    with x64(dtype):
        params, tparams = _pairs(dtype, scale=2.0)
        utils.clip_grad_value_(params, 1.5)
        torch.nn.utils.clip_grad_value_(tparams, 1.5)
        _assert_grads(params, tparams, dtype)
        traced = jax.jit(lambda g: (utils.clip_grad_value_(_with_grad(g)[0], 0.1), g)[1])
        assert traced(params[0].grad).shape == (4, 3)


def test_parameters_to_vector_and_back_equal_torch():
    params, tparams = _pairs(np.float32)
    vec = utils.parameters_to_vector(params)
    tvec = torch.nn.utils.parameters_to_vector(tparams)
    assert_close(vec, tvec.detach())
    new = jnp.arange(vec.shape[0], dtype=jnp.float32)
    utils.vector_to_parameters(new, params)
    torch.nn.utils.vector_to_parameters(torch.arange(vec.shape[0], dtype=torch.float32), tparams)
    for p, tp in zip(params, tparams, strict=True):
        assert_close(p.data, tp.detach())
    model = axon.nn.Linear(3, 2)
    assert utils.parameters_to_vector(model.parameters()).shape == (8,)
    traced = jax.jit(lambda v: (utils.vector_to_parameters(v, [model.weight, model.bias]),
                                model.bias.data)[1])  # fmt: skip
    np.testing.assert_array_equal(traced(jnp.arange(8.0)), [6.0, 7.0])


def test_vector_to_parameters_keeps_each_dtype():
    a, b = Parameter(jnp.zeros(2, jnp.float32)), Parameter(jnp.zeros(1, jnp.bfloat16))
    utils.vector_to_parameters(jnp.array([1.0, 2.0, 3.0]), [a, b])
    assert a.data.dtype == jnp.float32 and b.data.dtype == jnp.bfloat16
    assert b.data.tolist() == [3.0]


ERRORS = [
    ("clip-not-parameters", lambda: utils.clip_grad_norm_([jnp.ones(2)], 1.0), TypeError,
     r"axon.nn.utils.clip_grad_norm_: expected Parameters \(Variables with a .grad\), but "
     r"parameters\[0\] is jax.Array\. Pass model.parameters\(\)"),
    ("clip-not-iterable", lambda: utils.clip_grad_value_(3, 1.0), TypeError,
     r"axon.nn.utils.clip_grad_value_: expected a Parameter or an iterable of Parameters, got "
     r"int\."),
    ("norm_type", lambda: utils.clip_grad_norm_([Parameter(jnp.ones(1))], 1.0, "two"),
     TypeError, r"clip_grad_norm_: expected norm_type to be a number \(or inf\), got 'two'\."),
    ("vec-type", lambda: utils.vector_to_parameters([1.0, 2.0], [Parameter(jnp.ones(2))]),
     TypeError, r"vector_to_parameters: expected vec to be a jax.Array, but got list\."),
    ("vec-ndim", lambda: utils.vector_to_parameters(jnp.ones((1, 2)), [Parameter(jnp.ones(2))]),
     ValueError, r"vector_to_parameters: expected a 1-d vec, got shape \(1, 2\)\."),
    ("vec-size", lambda: utils.vector_to_parameters(jnp.ones(3), [Parameter(jnp.ones(2))]),
     ValueError, r"vector_to_parameters: vec has 3 elements, but the parameters have 2 "
     r"together\."),
    ("to-vector-type", lambda: utils.parameters_to_vector([np.ones(2)]), TypeError,
     r"parameters_to_vector: expected Parameters, but parameters\[0\] is ndarray\."),
    ("to-vector-empty", lambda: utils.parameters_to_vector([]), ValueError,
     r"parameters_to_vector: got no parameters to concatenate\."),
]  # fmt: skip


@pytest.mark.parametrize("build, exc, match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors(build, exc, match):
    with pytest.raises(exc, match=match):
        build()
