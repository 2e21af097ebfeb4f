"""`Dropout` and `F.dropout`: modes, scaling, statistics, seeding, gradients and keys under jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close, x64

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


# ----------------------------------------------------------------------- Dropout2d, AlphaDropout
SELU_SATURATION = 1.7580993408473766  # -α' of AlphaDropout


def alpha_affine(p):
    """PyTorch's a, b: kept x -> a·x + b, dropped -> a·α' + b."""
    a = 1.0 / np.sqrt((SELU_SATURATION**2 * p + 1.0) * (1.0 - p))
    return a, SELU_SATURATION * a * p


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout2d_zeros_whole_channels(p):
    x = positive(64, 32, 3, 2)
    out = np.asarray(nn.Dropout2d(p)(x))
    kept = (out != 0).reshape(64, 32, -1)
    assert (kept.all(-1) | ~kept.any(-1)).all(), "a channel was dropped only in part"
    channel_kept = kept.all(-1)
    np.testing.assert_allclose(out[channel_kept], np.asarray(x)[channel_kept] / (1 - p), rtol=1e-6)
    n = channel_kept.size
    assert abs(channel_kept.mean() - (1 - p)) < 6 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_dropout2d_exact_given_its_mask_and_gradient(dtype):
    p = 0.4
    x = np.random.default_rng(0).uniform(0.5, 2.0, (4, 6, 3, 5)).astype(dtype)
    with x64(dtype):
        v = axon.Variable(jnp.asarray(x), requires_grad=True)
        out = nn.Dropout2d(p)(v)
        mask = (np.asarray(out.data) != 0).all(axis=(2, 3), keepdims=True)  # (N, C, 1, 1)
        assert 0 < mask.sum() < mask.size
        expected = torch.tensor(x) * torch.tensor(mask) / (1 - p)  # PyTorch's feature dropout
        assert_close(out, expected)
        cot = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
        (out * jnp.asarray(cot)).sum().backward()
        assert_close(v.grad, cot * mask / (1 - p))


def test_dropout2d_reads_3d_input_as_n_c_l_like_torch():
    x = jnp.ones((16, 8, 5))
    with pytest.warns(
        UserWarning, match=r"^axon\.nn\.Dropout2d: a 3-D input is read as \(N, C, L\)"
    ):
        out = np.asarray(nn.Dropout2d(0.5)(x))
    rows = out != 0
    assert (rows.all(-1) | ~rows.any(-1)).all() and 0 < rows.all(-1).sum() < 16 * 8
    with pytest.warns(UserWarning):
        ref = torch.nn.Dropout2d(0.5)(torch.ones(16, 8, 5)).numpy() != 0
    assert (ref.all(-1) | ~ref.any(-1)).all()  # torch drops the same (n, c) rows whole


def test_alpha_dropout_statistics():
    """For a zero-mean, unit-variance input the output keeps mean 0 and variance 1."""
    n = 400 * 500
    x = jax.random.normal(jax.random.key(1), (400, 500))
    for p in (0.2, 0.5):
        out = np.asarray(nn.AlphaDropout(p)(x))
        a, b = alpha_affine(p)
        dropped = np.isclose(out, -a * SELU_SATURATION + b, rtol=0, atol=1e-6)
        assert abs(dropped.mean() - p) < 6 * np.sqrt(p * (1 - p) / n)
        assert abs(out.mean()) < 0.02 and abs(out.var() - 1.0) < 0.03


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_alpha_dropout_exact_given_its_mask_vs_torch_formula(dtype):
    p = 0.3
    a, b = alpha_affine(p)
    x = np.random.default_rng(0).standard_normal((32, 24)).astype(dtype)

    def torch_formula(x, keep):  # ATen's _dropout_impl with alpha_dropout=true
        noise = keep.to(x.dtype)
        return x * (noise * a) + ((noise - 1) * (SELU_SATURATION * a) + SELU_SATURATION * a * p)

    def mask_of(out):
        return ~np.isclose(np.asarray(out), -a * SELU_SATURATION + b, rtol=0, atol=1e-6)

    with x64(dtype):
        # the formula is torch's: torch's own output equals it for torch's mask
        tout = torch.nn.AlphaDropout(p)(torch.tensor(x))
        assert_close(tout, torch_formula(torch.tensor(x), torch.tensor(mask_of(tout))))
        v = axon.Variable(jnp.asarray(x), requires_grad=True)
        out = nn.AlphaDropout(p)(v)
        keep = mask_of(out.data)
        assert 0 < keep.sum() < keep.size
        assert_close(out, torch_formula(torch.tensor(x), torch.tensor(keep)))
        out.sum().backward()
        assert_close(v.grad, (keep * a).astype(dtype))


@pytest.mark.parametrize("cls", ["Dropout2d", "AlphaDropout"])
def test_new_dropouts_modes_and_edge_probabilities(cls):
    x = positive(2, 3, 4, 4)
    layer = getattr(nn, cls)(0.5)
    assert layer.eval()(x) is x
    assert getattr(nn, cls)(0.0)(x) is x
    zeros = np.asarray(getattr(nn, cls)(1.0)(x))
    np.testing.assert_array_equal(zeros, np.zeros_like(zeros))
    torch_zeros = getattr(torch.nn, cls)(1.0)(torch.ones(2, 3, 4, 4))
    assert not torch_zeros.any()  # torch gives zeros for p=1, for AlphaDropout too
    assert F.dropout2d(x, 0.5, training=False) is x
    assert F.alpha_dropout(x, 0.5) is x  # training=False by default, as torch's


def test_new_dropouts_seeding_and_explicit_keys():
    x = positive(8, 16, 2, 2)
    for layer, fn in ((nn.Dropout2d(0.5), F.dropout2d), (nn.AlphaDropout(0.5), F.alpha_dropout)):
        axon.manual_seed(7)
        first, second = np.asarray(layer(x)), np.asarray(layer(x))
        assert not np.array_equal(first, second)
        axon.manual_seed(7)
        np.testing.assert_array_equal(np.asarray(layer(x)), first)
        # an explicit key: plain jax, reproducible, and the global stream is left alone
        state = np.asarray(jax.random.key_data(axon.get_rng_state()))
        keyed = jax.jit(lambda x, key, fn=fn: fn(x, 0.5, True, key=key))
        a, b = keyed(x, jax.random.key(3)), keyed(x, jax.random.key(4))
        np.testing.assert_array_equal(np.asarray(keyed(x, jax.random.key(3))), np.asarray(a))
        assert not np.array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(jax.random.key_data(axon.get_rng_state())), state)


def test_new_dropouts_inside_axon_jit_and_plain_jit():
    model = nn.Sequential(nn.Dropout2d(0.5), nn.AlphaDropout(0.5))
    x = positive(8, 16, 2, 2)
    forward = axon.jit(lambda m, x: m(x))
    axon.manual_seed(5)
    first, second = np.asarray(forward(model, x)), np.asarray(forward(model, x))
    assert not np.array_equal(first, second)
    axon.manual_seed(5)
    np.testing.assert_array_equal(np.asarray(forward(model, x)), first)
    assert forward.num_compiles == 1
    with pytest.raises(RuntimeError, match=r"^axon\.nn\.Dropout2d \(0\): random masks inside"):
        jax.jit(lambda x: model(x))(x)
    with pytest.raises(RuntimeError, match=r"^axon\.nn\.AlphaDropout: random masks inside"):
        jax.jit(lambda x: nn.AlphaDropout(0.5)(x))(x)


@pytest.mark.parametrize(
    "p", [-0.1, 1.5, "0.5", None], ids=["negative", "above_one", "str", "none"]
)
def test_new_dropouts_bad_p(p):
    for cls in ("Dropout2d", "AlphaDropout"):
        with pytest.raises(
            ValueError, match=rf"^axon\.nn\.{cls}: dropout probability p must be in \[0, 1\], got "
        ):
            getattr(nn, cls)(p)
        with pytest.raises((ValueError, TypeError)):
            getattr(torch.nn, cls)(p)
    for fn in ("dropout2d", "alpha_dropout"):
        with pytest.raises(
            ValueError, match=rf"^axon\.functional\.{fn}: p must be a number in \[0, 1\], got "
        ):
            getattr(F, fn)(jnp.ones((2, 3, 4)), p)


@pytest.mark.parametrize("shape", [(4, 5), (1, 2, 3, 4, 5)], ids=["2d", "5d"])
def test_dropout2d_wrong_rank(shape):
    with pytest.raises(
        ValueError,
        match=r"^axon\.nn\.Dropout2d: expected input of shape \(N, C, H, W\) or \(N, C, L\), "
        rf"got \({', '.join(map(str, shape))}\)\. Use dropout for other ranks\.$",
    ):
        nn.Dropout2d(0.5)(np.ones(shape, np.float32))
    with pytest.raises(ValueError, match=r"^axon\.functional\.dropout2d: expected input of shape"):
        F.dropout2d(np.ones(shape, np.float32), 0.5)


def test_new_dropouts_repr_and_state():
    for cls in ("Dropout2d", "AlphaDropout"):
        for kwargs in ({}, dict(p=0.2), dict(p=0.1, inplace=True)):
            layer = getattr(nn, cls)(**kwargs)
            assert repr(layer) == repr(getattr(torch.nn, cls)(**kwargs))
            assert layer.parameters() == [] and layer.state_dict() == {}
            assert not isinstance(layer, nn.Dropout)


def test_functional_dropout_takes_torchs_positional_arguments():
    x = jnp.ones((4, 5))
    axon.manual_seed(0)
    a = F.dropout(x, 0.5, True, False)  # torch: (input, p, training, inplace)
    axon.manual_seed(0)
    b = F.dropout(x, 0.5, training=True)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert F.dropout(x, 0.5, False, False) is x
