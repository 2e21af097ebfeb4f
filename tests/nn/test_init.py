"""axon.nn.init against torch.nn.init: the laws (bounds, mean, std), fans, gains and errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close

import axon
from axon.nn import Parameter, init

jax.config.update("jax_default_matmul_precision", "highest")

tinit = torch.nn.init


def _torch_fans(shape):
    return tinit._calculate_fan_in_and_fan_out(torch.empty(shape))


def _xavier_std(shape, gain=1.0):
    fan_in, fan_out = _torch_fans(shape)
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def _kaiming_std(shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    fan_in, fan_out = _torch_fans(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return tinit.calculate_gain(nonlinearity, a) / math.sqrt(fan)


# ----------------------------------------------------------------------------- the laws
# (id, name, shape, kwargs, law, (lo, hi) for uniform laws or (mean, std) for normal laws),
# the theoretical values computed with torch's own fan and gain functions.
SQ = (256, 256)
CONV = (64, 32, 3, 3)
LAWS = [
    ("uniform-default", "uniform_", SQ, {}, "uniform", (0.0, 1.0)),
    ("uniform-ab", "uniform_", SQ, dict(a=-2.0, b=3.0), "uniform", (-2.0, 3.0)),
    ("normal-default", "normal_", SQ, {}, "normal", (0.0, 1.0)),
    ("normal-mean-std", "normal_", SQ, dict(mean=1.0, std=0.5), "normal", (1.0, 0.5)),
    ("xavier_uniform", "xavier_uniform_", SQ, {}, "uniform", _xavier_std(SQ) * math.sqrt(3)),
    (
        "xavier_uniform-conv-gain",
        "xavier_uniform_",
        CONV,
        dict(gain=2.0),
        "uniform",
        _xavier_std(CONV, 2.0) * math.sqrt(3),
    ),
    ("xavier_normal", "xavier_normal_", SQ, {}, "normal", (0.0, _xavier_std(SQ))),
    ("xavier_normal-conv", "xavier_normal_", CONV, {}, "normal", (0.0, _xavier_std(CONV))),
    ("kaiming_uniform", "kaiming_uniform_", SQ, {}, "uniform", _kaiming_std(SQ) * math.sqrt(3)),
    (
        "kaiming_uniform-a-sqrt5",
        "kaiming_uniform_",
        SQ,
        dict(a=math.sqrt(5)),
        "uniform",
        _kaiming_std(SQ, math.sqrt(5)) * math.sqrt(3),
    ),
    (
        "kaiming_uniform-conv-fan_out-relu",
        "kaiming_uniform_",
        CONV,
        dict(mode="fan_out", nonlinearity="relu"),
        "uniform",
        _kaiming_std(CONV, 0, "fan_out", "relu") * math.sqrt(3),
    ),
    ("kaiming_normal", "kaiming_normal_", SQ, {}, "normal", (0.0, _kaiming_std(SQ))),
    (
        "kaiming_normal-leaky-0.2",
        "kaiming_normal_",
        SQ,
        dict(a=0.2),
        "normal",
        (0.0, _kaiming_std(SQ, 0.2)),
    ),
    (
        "kaiming_normal-conv-fan_out-tanh",
        "kaiming_normal_",
        CONV,
        dict(mode="fan_out", nonlinearity="tanh"),
        "normal",
        (0.0, _kaiming_std(CONV, 0, "fan_out", "tanh")),
    ),
    ("trunc_normal-default", "trunc_normal_", SQ, {}, "trunc", (-2.0, 2.0)),
    (
        "trunc_normal-vit",
        "trunc_normal_",
        SQ,
        dict(std=0.02, a=-0.04, b=0.04),
        "trunc",
        (-0.04, 0.04),
    ),
    (
        "trunc_normal-offset",
        "trunc_normal_",
        SQ,
        dict(mean=0.5, std=1.0, a=0.0, b=3.0),
        "trunc",
        (0.0, 3.0),
    ),
]


@pytest.mark.parametrize(
    "name, shape, kwargs, law, expected", [row[1:] for row in LAWS], ids=[row[0] for row in LAWS]
)
def test_law_matches_torch(name, shape, kwargs, law, expected):
    ours = np.asarray(getattr(init, name)(jnp.zeros(shape), **kwargs), dtype=np.float64)
    theirs = getattr(tinit, name)(torch.empty(shape), **kwargs).double().numpy()
    n = ours.size
    if law == "uniform" and not isinstance(expected, tuple):
        expected = (-expected, expected)
    if law in ("uniform", "trunc"):
        lo, hi = (float(np.float32(v)) for v in expected)
        assert ours.min() >= lo and ours.max() <= hi  # the bounds, exactly
        span = hi - lo
        assert ours.min() <= lo + 0.01 * span and ours.max() >= hi - 0.01 * span
    if law == "uniform":
        mean, std = (lo + hi) / 2, (hi - lo) / math.sqrt(12)
    elif law == "normal":
        mean, std = expected
    else:  # truncated normal: torch's sample gives the reference moments
        mean, std = theirs.mean(), theirs.std()
    assert abs(ours.mean() - mean) < 5 * std / math.sqrt(n)
    assert ours.std() == pytest.approx(std, rel=0.02)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.03)  # and torch's own sample agrees


# ----------------------------------------------------------------------------- deterministic laws
DETERMINISTIC = [
    ("constant", lambda m, t: m.constant_(t, 0.25), (3, 4)),
    ("zeros", lambda m, t: m.zeros_(t), (3, 4)),
    ("ones", lambda m, t: m.ones_(t), (2, 5)),
    ("eye-wide", lambda m, t: m.eye_(t), (3, 5)),
    ("eye-tall", lambda m, t: m.eye_(t), (5, 3)),
    ("dirac-1d", lambda m, t: m.dirac_(t), (4, 3, 5)),
    ("dirac-2d", lambda m, t: m.dirac_(t), (4, 6, 3, 3)),
    ("dirac-2d-groups", lambda m, t: m.dirac_(t, groups=2), (6, 2, 3, 3)),
    ("dirac-3d", lambda m, t: m.dirac_(t), (2, 2, 3, 3, 3)),
]


@pytest.mark.parametrize(
    "fill, shape", [r[1:] for r in DETERMINISTIC], ids=[r[0] for r in DETERMINISTIC]
)
def test_deterministic_fill_equals_torch(fill, shape):
    ours = fill(init, jnp.full(shape, 7.0))
    theirs = fill(tinit, torch.full(shape, 7.0))
    assert_close(ours, theirs, rtol=0, atol=0)


# ----------------------------------------------------------------------------- orthogonal
@pytest.mark.parametrize(
    "shape", [(64, 64), (32, 128), (128, 32), (16, 8, 3, 3)], ids=["square", "wide", "tall", "conv"]
)
@pytest.mark.parametrize(
    "dtype, atol", [(np.float32, 1e-5), (np.float64, 1e-12)], ids=["f32", "f64"]
)
def test_orthogonal_is_orthogonal(shape, dtype, atol):
    with jax.enable_x64(dtype == np.float64):
        q = init.orthogonal_(jnp.zeros(shape, dtype), gain=2.0)
        assert q.dtype == dtype and q.shape == shape
        flat = np.asarray(q, np.float64).reshape(shape[0], -1) / 2.0
        gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
        np.testing.assert_allclose(gram, np.eye(len(gram)), atol=atol)


@pytest.mark.parametrize("shape", [(4, 9), (9, 4)], ids=["wide", "tall"])
def test_orthogonal_equals_torch_algorithm_on_the_same_draw(shape):
    """QR with R's diagonal made positive is unique: the sign fix pins Q down exactly."""
    with jax.enable_x64(True):
        axon.manual_seed(3)
        key = axon._random.next_key()
        axon.manual_seed(3)
        q = init.orthogonal_(jnp.zeros(shape, jnp.float64))
        flat = torch.tensor(np.asarray(jax.random.normal(key, shape, jnp.float64)))
        rows, cols = shape
        if rows < cols:
            flat = flat.T
        tq, tr = torch.linalg.qr(flat)
        tq = tq * torch.diag(tr).sign()
        if rows < cols:
            tq = tq.T
        assert_close(q, tq)


# ----------------------------------------------------------------------------- sparse
@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.33, 0.5, 1.0])
def test_sparse_zero_fraction_per_column_is_exact(sparsity):
    rows, cols = 100, 40
    w = np.asarray(init.sparse_(jnp.zeros((rows, cols)), sparsity, std=0.5))
    zeros_per_column = (w == 0).sum(axis=0)
    np.testing.assert_array_equal(zeros_per_column, math.ceil(sparsity * rows))
    t = tinit.sparse_(torch.empty(rows, cols), sparsity, std=0.5)
    np.testing.assert_array_equal((t == 0).sum(dim=0).numpy(), zeros_per_column)
    if 0 < sparsity < 1:
        assert len({tuple(np.flatnonzero(w[:, j] == 0)) for j in range(cols)}) > 1  # rows vary
        assert w[w != 0].std() == pytest.approx(0.5, rel=0.1)


# ----------------------------------------------------------------------------- gains and fans
GAINS = [
    *[(n, None) for n in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d")],
    *[(n, None) for n in ("conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu")],
    ("leaky_relu", None),
    ("leaky_relu", 0.2),
    ("leaky_relu", 1),
    ("selu", None),
]


@pytest.mark.parametrize("nonlinearity, param", GAINS, ids=[f"{n}-{p}" for n, p in GAINS])
def test_calculate_gain_equals_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == tinit.calculate_gain(nonlinearity, param)


@pytest.mark.parametrize(
    "shape", [(3, 5), (5, 3), (64, 3, 3, 3), (8, 4, 5), (8, 4, 2, 3, 2), (2, 3, 1)]
)
def test_fans_equal_torch(shape):
    expected = _torch_fans(shape)
    assert init.calculate_fan_in_and_fan_out(jnp.zeros(shape)) == expected
    assert init.calculate_fan_in_and_fan_out(Parameter(jnp.zeros(shape))) == expected
    assert init.calculate_fan_in_and_fan_out(shape) == expected
    assert init._calculate_fan_in_and_fan_out(shape) == expected


# ----------------------------------------------------------------------------- objects and seeds
RANDOM = [
    ("uniform_", {}),
    ("normal_", {}),
    ("trunc_normal_", {}),
    ("xavier_uniform_", {}),
    ("xavier_normal_", {}),
    ("kaiming_uniform_", {}),
    ("kaiming_normal_", {}),
    ("orthogonal_", {}),
    ("sparse_", dict(sparsity=0.5)),
]


@pytest.mark.parametrize("name, kwargs", RANDOM, ids=[r[0] for r in RANDOM])
def test_same_seed_same_values(name, kwargs):
    fn = getattr(init, name)
    axon.manual_seed(7)
    first = fn(jnp.zeros((6, 5)), **kwargs)
    second = fn(jnp.zeros((6, 5)), **kwargs)
    axon.manual_seed(7)
    again = fn(jnp.zeros((6, 5)), **kwargs)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("name, kwargs", RANDOM, ids=[r[0] for r in RANDOM])
def test_parameter_is_filled_in_place(name, kwargs):
    p = Parameter(jnp.zeros((6, 5)))
    p.grad = jnp.ones((6, 5))
    out = getattr(init, name)(p, **kwargs)
    assert out is p
    assert p.requires_grad and p.data.shape == (6, 5) and p.data.dtype == jnp.float32
    assert np.count_nonzero(np.asarray(p.data)) > 0
    np.testing.assert_array_equal(p.grad, 1.0)  # the gradient slot is left alone


@pytest.mark.parametrize("name, kwargs", RANDOM, ids=[r[0] for r in RANDOM])
def test_array_input_returns_a_new_array(name, kwargs):
    x = jnp.zeros((6, 5))
    out = getattr(init, name)(x, **kwargs)
    assert isinstance(out, jax.Array) and out is not x and out.shape == x.shape
    np.testing.assert_array_equal(x, 0.0)
    from_numpy = getattr(init, name)(np.zeros((6, 5), np.float32), **kwargs)
    assert isinstance(from_numpy, jax.Array) and from_numpy.dtype == jnp.float32


KERNELS = [
    r for r in RANDOM if r[0] in ("uniform_", "normal_", "trunc_normal_", "orthogonal_", "sparse_")
]


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float64], ids=["bf16", "f64"])
def test_dtype_is_the_tensors(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        for name, kwargs in KERNELS:
            assert getattr(init, name)(jnp.zeros((6, 5), dtype), **kwargs).dtype == dtype
        v = init.kaiming_uniform_(axon.Variable(jnp.zeros((6, 5), dtype)))
        assert v.data.dtype == dtype
        assert np.abs(np.asarray(v.data, np.float64)).max() <= math.sqrt(6 / 5) * 1.01


def test_old_names_are_aliases():
    for old in ("uniform", "normal", "constant", "eye", "dirac", "xavier_uniform"):
        assert getattr(init, old) is getattr(init, old + "_")
    for old in ("xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"):
        assert getattr(init, old) is getattr(init, old + "_")


def test_zero_element_kaiming_warns_and_is_a_no_op():
    p = Parameter(jnp.zeros((0, 4)))
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        assert init.kaiming_uniform_(p) is p
    assert p.data.shape == (0, 4)


def test_trunc_normal_warns_when_mean_is_far_from_the_interval():
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        init.trunc_normal_(jnp.zeros(10), mean=5.0, std=1.0, a=-1.0, b=1.0)


# ----------------------------------------------------------------------------- errors
ONE_D = r"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, "
ERRORS = [
    ("xavier_uniform-1d", lambda: init.xavier_uniform_(jnp.zeros(5)), ValueError,
     r"axon.nn.init.xavier_uniform_: " + ONE_D + r"got shape \(5,\)\. Initialise 1-D"),
    ("xavier_normal-1d", lambda: init.xavier_normal_(jnp.zeros(5)), ValueError,
     r"axon.nn.init.xavier_normal_: " + ONE_D),
    ("kaiming_uniform-1d", lambda: init.kaiming_uniform_(jnp.zeros(5)), ValueError,
     r"axon.nn.init.kaiming_uniform_: " + ONE_D),
    ("kaiming_normal-0d", lambda: init.kaiming_normal_(jnp.zeros(())), ValueError,
     r"axon.nn.init.kaiming_normal_: " + ONE_D + r"got shape \(\)"),
    ("fans-1d", lambda: init.calculate_fan_in_and_fan_out((5,)), ValueError,
     r"axon.nn.init.calculate_fan_in_and_fan_out: " + ONE_D),
    ("fans-bad-type", lambda: init.calculate_fan_in_and_fan_out("ab"), TypeError,
     r"expected a tensor or a shape, got str"),
    ("orthogonal-1d", lambda: init.orthogonal_(Parameter(jnp.zeros(5))), ValueError,
     r"axon.nn.init.orthogonal_: only tensors with 2 or more dimensions are supported, "
     r"got shape \(5,\)"),
    ("eye-3d", lambda: init.eye_(jnp.zeros((2, 2, 2))), ValueError,
     r"axon.nn.init.eye_: only 2-D tensors are supported, got shape \(2, 2, 2\)"),
    ("dirac-2d", lambda: init.dirac_(jnp.zeros((2, 2))), ValueError,
     r"axon.nn.init.dirac_: only tensors with 3, 4 or 5 dimensions are supported"),
    ("dirac-groups", lambda: init.dirac_(jnp.zeros((3, 2, 3)), groups=2), ValueError,
     r"axon.nn.init.dirac_: dim 0 \(3\) must be divisible by groups \(2\)"),
    ("sparse-3d", lambda: init.sparse_(jnp.zeros((2, 2, 2)), 0.5), ValueError,
     r"axon.nn.init.sparse_: only 2-D tensors are supported"),
    ("sparse-fraction", lambda: init.sparse_(jnp.zeros((4, 4)), 1.5), ValueError,
     r"axon.nn.init.sparse_: expected 0 <= sparsity <= 1, got 1.5"),
    ("uniform-a>b", lambda: init.uniform_(jnp.zeros(3), 1.0, 0.0), ValueError,
     r"axon.nn.init.uniform_: expected a <= b, got a=1.0, b=0.0"),
    ("normal-std<0", lambda: init.normal_(jnp.zeros(3), 0.0, -1.0), ValueError,
     r"axon.nn.init.normal_: expected std >= 0, got -1.0"),
    ("trunc-std0", lambda: init.trunc_normal_(jnp.zeros(3), std=0.0), ValueError,
     r"axon.nn.init.trunc_normal_: expected std > 0, got 0.0"),
    ("trunc-a>=b", lambda: init.trunc_normal_(jnp.zeros(3), a=1.0, b=1.0), ValueError,
     r"axon.nn.init.trunc_normal_: expected a < b, got a=1.0, b=1.0"),
    ("kaiming-mode", lambda: init.kaiming_uniform_(jnp.zeros((2, 2)), mode="fan_avg"), ValueError,
     r"axon.nn.init.kaiming_uniform_: mode 'fan_avg' is not supported; expected 'fan_in' or "
     r"'fan_out'"),
    ("gain-unknown", lambda: init.calculate_gain("softplus"), ValueError,
     r"axon.nn.init.calculate_gain: unsupported nonlinearity 'softplus'; expected one of"),
    ("gain-param", lambda: init.calculate_gain("leaky_relu", "0.1"), ValueError,
     r"axon.nn.init.calculate_gain: negative_slope '0.1' is not a valid number"),
    ("int-dtype", lambda: init.normal_(jnp.zeros(3, jnp.int32)), TypeError,
     r"axon.nn.init.normal_: expected a floating point tensor, got dtype int32"),
    ("not-a-tensor", lambda: init.zeros_([1.0, 2.0]), TypeError,
     r"axon.nn.init.zeros_: expected a Parameter, Variable or array, got list"),
]  # fmt: skip


@pytest.mark.parametrize("call, exc, match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_torch_rejects_the_same_inputs():
    """The cases above that torch also rejects (torch raises for them with its own wording)."""
    for call in (
        lambda: tinit.xavier_uniform_(torch.empty(5)),
        lambda: tinit.orthogonal_(torch.empty(5)),
        lambda: tinit.eye_(torch.empty(2, 2, 2)),
        lambda: tinit.kaiming_uniform_(torch.empty(2, 2), mode="fan_avg"),
        lambda: tinit.calculate_gain("softplus"),
        lambda: tinit.calculate_gain("leaky_relu", "0.1"),
    ):
        with pytest.raises(ValueError):
            call()
