"""`Embedding` and `F.embedding` vs. torch: lookups, gradients, padding_idx, max_norm,
scale_grad_by_freq, from_pretrained, out-of-range indices eagerly and under jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close, x64

import axon
from axon import functional as F
from axon import nn, optim

_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
NUM, DIM = 10, 4
IDX = np.array([[1, 2, 2, 7], [9, 0, 2, 1], [2, 2, 5, 1]])  # repeats, and the padding row 2

# (id, constructor kwargs, indices)
CASES = [
    ("default_2d", {}, IDX),
    ("1d", {}, IDX[0]),
    ("scalar_index", {}, np.array(7)),
    ("padding_idx", dict(padding_idx=2), IDX),
    ("negative_padding_idx", dict(padding_idx=-1), np.array([9, 3, 9, 0])),
    ("scale_grad_by_freq", dict(scale_grad_by_freq=True), IDX),
    ("padding_and_freq", dict(padding_idx=2, scale_grad_by_freq=True), IDX),
    ("max_norm", dict(max_norm=1.0), IDX),
    ("max_norm_l1", dict(max_norm=1.5, norm_type=1.0), IDX),
    ("max_norm_padding", dict(max_norm=0.5, padding_idx=2), IDX[None]),
    ("sparse", dict(sparse=True), IDX),
]
F64 = {"padding_and_freq", "max_norm", "max_norm_l1"}


@pytest.mark.parametrize(
    "kwargs, indices, dtype",
    [(*c[1:], np.float32) for c in CASES] + [(*c[1:], np.float64) for c in CASES if c[0] in F64],
    ids=[f"{c[0]}-f32" for c in CASES] + [f"{c[0]}-f64" for c in CASES if c[0] in F64],
)
def test_embedding_matches_torch(kwargs, indices, dtype):
    """Torch's state dict loaded; the lookup, the weight's gradient and (with max_norm) the
    weight renormalised in place all match."""
    rng = np.random.default_rng(0)
    with x64(dtype):
        ref = torch.nn.Embedding(NUM, DIM, **kwargs).to(_TORCH_DTYPE[np.dtype(dtype)])
        layer = nn.Embedding(NUM, DIM, **kwargs).to(jnp.dtype(dtype))
        layer.load_state_dict(ref.state_dict())
        t_out = ref(torch.tensor(indices, dtype=torch.int64))
        out = layer(jnp.asarray(indices, jnp.int32))
        assert out.grad_fn == "embedding"
        assert_close(out, t_out, dtype)
        cot = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
        (t_out * torch.tensor(cot)).sum().backward()
        (out * jnp.asarray(cot)).sum().backward()
        t_grad = ref.weight.grad.to_dense() if ref.weight.grad.is_sparse else ref.weight.grad
        assert_close(layer.weight.grad, t_grad, dtype)
        assert_close(layer.weight.data, ref.weight.detach(), dtype)  # renormalised in place
        if "padding_idx" in kwargs:
            assert np.all(np.asarray(layer.weight.grad)[layer.padding_idx] == 0)


def test_max_norm_renormalises_only_referenced_rows():
    layer = nn.Embedding(NUM, DIM, max_norm=0.5)
    before = np.array(layer.weight.data)
    with axon.no_grad():
        layer(jnp.array([1, 3]))
    after = np.asarray(layer.weight.data)
    norms = np.linalg.norm(after, axis=1)
    assert np.all(norms[[1, 3]] <= 0.5 + 1e-6)
    untouched = [i for i in range(NUM) if i not in (1, 3)]
    np.testing.assert_array_equal(after[untouched], before[untouched])


def test_init_and_padding_row():
    layer = nn.Embedding(1000, 64, padding_idx=3)
    w = np.asarray(layer.weight.data)
    assert np.all(w[3] == 0)
    rest = np.delete(w, 3, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1.0) < 0.01  # N(0, 1) as torch
    axon.manual_seed(5)
    a = nn.Embedding(NUM, DIM)
    axon.manual_seed(5)
    np.testing.assert_array_equal(a.weight.data, nn.Embedding(NUM, DIM).weight.data)
    assert list(a.state_dict()) == list(torch.nn.Embedding(NUM, DIM).state_dict()) == ["weight"]
    assert a.num_parameters() == NUM * DIM


def test_padding_row_stays_put_under_training():
    layer = nn.Embedding(NUM, DIM, padding_idx=0)
    layer.weight.data = layer.weight.data.at[0].set(1.5)  # padding rows may hold any value
    opt = optim.SGD(layer.parameters(), lr=0.5)
    for _ in range(2):
        opt.zero_grad()
        (layer(jnp.asarray(IDX) % 3) ** 2).sum().backward()  # indices 0, 1, 2
        opt.step()
    w = np.asarray(layer.weight.data)
    np.testing.assert_array_equal(w[0], 1.5)
    assert not np.allclose(w[1], 0)


@pytest.mark.parametrize(
    "kwargs", [{}, dict(padding_idx=-2), dict(max_norm=2.0, norm_type=1.0, sparse=True),
               dict(scale_grad_by_freq=True)], ids=["default", "padding", "norm", "freq"],
)  # fmt: skip
def test_repr_like_torch(kwargs):
    assert repr(nn.Embedding(NUM, DIM, **kwargs)) == repr(torch.nn.Embedding(NUM, DIM, **kwargs))


# ------------------------------------------------------------------------------ from_pretrained
@pytest.mark.parametrize("freeze", [True, False], ids=["frozen", "trainable"])
def test_from_pretrained(freeze):
    w = np.random.default_rng(0).standard_normal((NUM, DIM)).astype(np.float32)
    layer = nn.Embedding.from_pretrained(w, freeze=freeze, padding_idx=1)
    ref = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=freeze, padding_idx=1)
    assert layer.weight.requires_grad == ref.weight.requires_grad == (not freeze)
    assert_close(layer.weight.data, w)  # the padding row is kept as given, as torch
    assert_close(layer(jnp.asarray(IDX)), ref(torch.tensor(IDX)))
    assert repr(layer) == repr(ref)
    assert layer.num_parameters() == (0 if freeze else NUM * DIM)


def test_from_pretrained_errors():
    with pytest.raises(
        ValueError,
        match=r"^axon\.nn\.Embedding\.from_pretrained: expected 2-D embeddings "
        r"\(num_embeddings, embedding_dim\), got \(10,\)\.$",
    ):
        nn.Embedding.from_pretrained(jnp.ones(10))
    with pytest.raises(ValueError, match=r"^axon\.nn\.Embedding: padding_idx must be within"):
        nn.Embedding.from_pretrained(jnp.ones((3, 2)), padding_idx=3)


def test_seed_constructors():
    assert nn.Embedding.new(100, 64).weight.shape == (100, 64)
    layer = nn.Embedding.with_options(100, 64, 0)
    assert layer.padding_idx == 0 and np.all(np.asarray(layer.weight.data)[0] == 0)
    idx = jnp.array([0, 5])
    assert_close(layer.lookup(idx), layer(idx))


# -------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "indices, bad",
    [(np.array([[1, 10]]), 10), (np.array([3, -1]), -1), (np.array([-4]), -4)],
    ids=["too_high", "negative", "very_negative"],
)
def test_out_of_range_raises_eagerly(indices, bad):
    layer = nn.Embedding(NUM, DIM)
    with pytest.raises(
        IndexError,
        match=rf"^axon\.nn\.Embedding: index {bad} is out of range for 10 embeddings "
        r"\(valid: 0 to 9\)\.$",
    ):
        layer(jnp.asarray(indices))
    with pytest.raises(IndexError):
        torch.nn.Embedding(NUM, DIM)(torch.tensor(indices))
    with pytest.raises(IndexError, match=r"^axon\.functional\.embedding: index"):
        F.embedding(jnp.asarray(indices), layer.weight.data)


def test_out_of_range_under_jit_gives_nan_rows_and_no_gradient():
    """The documented behaviour: nothing can be raised while tracing, so an out-of-range index,
    negative ones included, looks up a row of NaN and passes no gradient back."""
    layer = nn.Embedding(NUM, DIM)
    idx = jnp.array([1, 10, -1, 3])

    def loss(m, idx):
        return jnp.nansum(m(idx).data)

    out = jax.jit(lambda m, idx: m(idx).data)(layer, idx)
    out = np.asarray(out)
    assert np.all(np.isnan(out[1:3])) and np.all(np.isfinite(out[[0, 3]]))
    grads = jax.jit(jax.grad(loss))(layer, idx).weight.data
    expected = np.zeros((NUM, DIM), np.float32)
    expected[[1, 3]] = 1.0
    np.testing.assert_array_equal(grads, expected)
    fast = axon.jit(lambda m, idx: m(idx))
    assert np.all(np.isnan(np.asarray(fast(layer, idx))[1:3]))


@pytest.mark.parametrize(
    "make, match",
    [(lambda: nn.Embedding(10, 3, padding_idx=10),
      r"padding_idx must be within \[-num_embeddings, num_embeddings\) = \[-10, 10\), got 10\."),
     (lambda: nn.Embedding(10, 3, padding_idx=-11), r"padding_idx must be within .* got -11\."),
     (lambda: nn.Embedding(-1, 3), r"num_embeddings must be a non-negative int, got -1\."),
     (lambda: nn.Embedding(10, 2.5), r"embedding_dim must be a non-negative int, got 2\.5\."),
     (lambda: nn.Embedding(10, 3, max_norm=-1.0),
      r"max_norm must be a positive number or None, got -1\.0\."),
     (lambda: nn.Embedding(10, 3, _weight=jnp.ones((3, 3))),
      r"expected a weight of shape \(10, 3\), got \(3, 3\)\.")],
    ids=["padding_high", "padding_low", "num", "dim", "max_norm", "weight_shape"],
)  # fmt: skip
def test_constructor_errors(make, match):
    with pytest.raises(ValueError, match=r"^axon\.nn\.Embedding: " + match + "$"):
        make()


def test_index_type_errors():
    layer = nn.Embedding(NUM, DIM)
    with pytest.raises(
        TypeError,
        match=r"^axon\.nn\.Embedding: expected integer indices, got dtype float32\. "
        r"Convert them with \.astype\(jnp\.int32\)\.$",
    ):
        layer(jnp.array([1.0, 2.0]))
    with pytest.raises(RuntimeError):
        torch.nn.Embedding(NUM, DIM)(torch.tensor([1.0, 2.0]))
    with pytest.raises(
        TypeError, match=r"^axon\.nn\.Embedding: expected an integer array of indices, got str\."
    ):
        layer("abc")
    with pytest.raises(
        ValueError, match=r"^axon\.functional\.embedding: expected a 2-D weight .* got \(10,\)\."
    ):
        F.embedding(jnp.array([1]), jnp.ones(10))


# ------------------------------------------------------------------------------ functional, jit
def test_functional_on_arrays_is_plain_jax():
    w = jnp.asarray(np.random.default_rng(0).standard_normal((NUM, DIM)), jnp.float32)
    idx = jnp.asarray(IDX)
    out = F.embedding(idx, w)
    assert isinstance(out, jax.Array)
    assert_close(out, w[idx])
    assert_close(jax.jit(jax.vmap(lambda i: F.embedding(i, w)))(idx), out)
    grad = jax.jit(jax.grad(lambda w: F.embedding(idx, w, padding_idx=2).sum()))(w)
    counts = np.bincount(IDX.ravel(), minlength=NUM).astype(np.float32)
    counts[2] = 0
    assert_close(grad, np.broadcast_to(counts[:, None], (NUM, DIM)))
    renormed = F.embedding(idx, w, max_norm=0.5)  # an array cannot change: the rows do
    assert np.all(np.linalg.norm(np.asarray(renormed), axis=-1) <= 0.5 + 1e-6)
    assert_close(F.embedding(idx, w), w[idx])  # w itself is untouched


def test_training_step_under_axon_jit_equals_eager():
    def make():
        axon.manual_seed(2)
        model = nn.Embedding(NUM, DIM, padding_idx=2, max_norm=1.0, scale_grad_by_freq=True)
        return model, optim.SGD(model.parameters(), lr=0.1)

    def step(model, opt, idx):
        opt.zero_grad()
        loss = (model(idx) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    idx = jnp.asarray(IDX)
    (m1, o1), (m2, o2) = make(), make()
    fast = axon.jit(step)
    eager = [float(step(m1, o1, idx)) for _ in range(2)]
    compiled = [float(fast(m2, o2, idx)) for _ in range(2)]
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    assert_close(m2.weight.data, m1.weight.data, rtol=1e-5, atol=1e-6)
    assert fast.num_compiles == 1
    norms = np.linalg.norm(np.asarray(m2.weight.data)[np.unique(IDX)], axis=1)
    assert np.all(norms <= 1.0 + 1e-5)  # renormalised in place inside the compiled step too
