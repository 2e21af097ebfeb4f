"""`Dropout` and `F.dropout`: modes, scaling, statistics, seeding, gradients and keys under jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close

import axon
from axon import functional as F
from axon import nn


def positive(*shape, seed=0):
    """Inputs away from 0, so a dropped element (exactly 0) is never confused with a kept one."""
    return jnp.asarray(np.random.default_rng(seed).uniform(0.5, 2.0, shape), jnp.float32)


@pytest.mark.parametrize("wrap", [False, True], ids=["array", "variable"])
def test_eval_is_identity(wrap):
    x = positive(8, 8)
    x = axon.Variable(x, requires_grad=True) if wrap else x
    drop = nn.Dropout(0.5)
    assert drop.eval() is drop and not drop.training
    assert drop(x) is x
    model = nn.Sequential(nn.Identity(), nn.Dropout(0.9)).eval()
    assert model(x) is x


def test_p_zero_is_identity_in_training():
    x = positive(4, 4)
    assert nn.Dropout(0.0)(x) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x


@pytest.mark.parametrize("wrap", [False, True], ids=["array", "variable"])
def test_p_one_gives_zeros(wrap):
    x = positive(4, 4)
    v = axon.Variable(x, requires_grad=True) if wrap else x
    out = nn.Dropout(1.0)(v)
    assert out.shape == (4, 4)
    np.testing.assert_array_equal(
        np.asarray(getattr(out, "data", out)), np.zeros((4, 4), np.float32)
    )
    if wrap:
        out.sum().backward()
        np.testing.assert_array_equal(np.asarray(v.grad), np.zeros((4, 4), np.float32))
    torch_out = torch.nn.Dropout(1.0)(torch.ones(4, 4))
    assert not torch_out.any()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_training_scales_kept_elements(p):
    x = positive(64, 32)
    out = np.asarray(nn.Dropout(p)(x))
    kept = out != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(out[kept], np.asarray(x)[kept] / (1 - p), rtol=1e-6)
    assert out.dtype == np.float32


@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
def test_kept_fraction_is_about_one_minus_p(p):
    n = 400 * 500
    out = np.asarray(nn.Dropout(p)(jnp.ones((400, 500))))
    kept = (out != 0).mean()
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(kept - (1 - p)) < 6 * sigma
    assert abs(out.mean() - 1.0) < 6 * sigma / (1 - p)  # inverted dropout keeps the mean


def test_same_seed_same_mask_and_consecutive_calls_differ():
    x = positive(16, 16)
    drop = nn.Dropout(0.5)
    axon.manual_seed(123)
    first, second = np.asarray(drop(x)), np.asarray(drop(x))
    assert not np.array_equal(first != 0, second != 0)
    axon.manual_seed(123)
    np.testing.assert_array_equal(np.asarray(drop(x)), first)
    np.testing.assert_array_equal(np.asarray(drop(x)), second)
    axon.manual_seed(124)
    assert not np.array_equal(np.asarray(drop(x)) != 0, first != 0)
    axon.manual_seed(123)
    np.testing.assert_array_equal(np.asarray(F.dropout(x, 0.5)), first)  # one stream for both


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_gradient_is_mask_over_keep_probability(p):
    x = axon.Variable(positive(8, 16), requires_grad=True)
    out = nn.Dropout(p)(x)
    assert out.grad_fn is not None
    cot = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    (out * jnp.asarray(cot)).sum().backward()
    mask = (np.asarray(out.data) != 0).astype(np.float32)
    assert_close(x.grad, cot * mask / (1 - p))


@pytest.mark.parametrize(
    "p", [-0.1, 1.5, "0.5", True, None], ids=["negative", "above_one", "str", "bool", "none"]
)
def test_bad_p(p):
    with pytest.raises(
        ValueError, match=r"^axon\.nn\.Dropout: dropout probability p must be in \[0, 1\], got "
    ):
        nn.Dropout(p)
    with pytest.raises(
        ValueError, match=r"^axon\.functional\.dropout: p must be a number in \[0, 1\], got "
    ):
        F.dropout(jnp.ones(3), p)
    if not isinstance(p, bool):  # torch reads True as p=1
        with pytest.raises((ValueError, TypeError)):
            torch.nn.Dropout(p)


@pytest.mark.parametrize(
    "transform",
    [lambda f: jax.jit(f), lambda f: jax.grad(lambda x: f(x).sum()), lambda f: jax.vmap(f)],
    ids=["jit", "grad", "vmap"],
)
def test_training_dropout_under_plain_jax_transform_raises(transform):
    drop = nn.Dropout(0.5)
    with pytest.raises(
        RuntimeError,
        match=r"axon\.nn\.Dropout: random masks inside jax\.jit/grad/vmap need a key that "
        r"changes per call.*Use axon\.jit .*pass key=\.\.\., or call model\.eval\(\)\.",
    ):
        transform(lambda x: drop(x))(jnp.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"axon\.functional\.dropout: random masks inside"):
        transform(lambda x: F.dropout(x, 0.5))(jnp.ones((2, 3)))
    # in eval mode there is no mask to draw
    drop.eval()
    out = transform(lambda x: drop(x))(jnp.ones((2, 3)))
    assert out.shape in ((), (2, 3))


def test_functional_dropout_with_explicit_key_under_jit():
    x = positive(32, 32)
    f = jax.jit(lambda x, key: F.dropout(x, 0.5, key=key))
    a = f(x, jax.random.key(0))
    assert isinstance(a, jax.Array)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(f(x, jax.random.key(0))))
    np.testing.assert_array_equal(
        np.asarray(a), np.asarray(F.dropout(x, 0.5, key=jax.random.key(0)))
    )
    b = f(x, jax.random.key(1))
    assert not np.array_equal(np.asarray(a) != 0, np.asarray(b) != 0)
    kept = np.asarray(a) != 0
    np.testing.assert_allclose(np.asarray(a)[kept], np.asarray(x)[kept] * 2, rtol=1e-6)
    # a key is an ordinary argument, so grad and vmap work too
    g = jax.grad(lambda x: F.dropout(x, 0.5, key=jax.random.key(0)).sum())(x)
    np.testing.assert_allclose(np.asarray(g), kept * 2.0)
    keys = jax.random.split(jax.random.key(2), 4)
    batched = jax.vmap(lambda k: F.dropout(x, 0.5, key=k))(keys)
    assert batched.shape == (4, 32, 32)
    assert not np.array_equal(np.asarray(batched[0]) != 0, np.asarray(batched[1]) != 0)


def test_functional_dropout_does_not_touch_the_global_stream_with_a_key():
    def stream():
        return np.asarray(jax.random.key_data(axon.get_rng_state()))

    state = stream()
    F.dropout(jnp.ones(4), 0.5, key=jax.random.key(0))
    np.testing.assert_array_equal(stream(), state)
    nn.Dropout(0.5)(jnp.ones(4))
    assert not np.array_equal(stream(), state)


def test_repr_and_state():
    assert repr(nn.Dropout()) == repr(torch.nn.Dropout())
    assert repr(nn.Dropout(0.2)) == repr(torch.nn.Dropout(0.2))
    assert repr(nn.Dropout(p=0.1, inplace=True)) == repr(torch.nn.Dropout(p=0.1, inplace=True))
    drop = nn.Dropout(0.3)
    assert drop.p == 0.3 and drop.parameters() == [] and drop.state_dict() == {}
    assert nn.Dropout(1).p == 1.0
