"""`SparseLinear`, `GroupSparsity` and `LotteryTicket` against direct torch formulas, with
gradients to the thresholds, `axon.jit`, training, and every error message."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close
from module_checks import (  # noqa: F401 - numpy_init is a fixture
    assert_grads_reach_every_parameter,
    assert_jit_matches_eager,
    numpy_init,
)

import axon
from axon import nn, optim

jax.config.update("jax_default_matmul_precision", "highest")
pytestmark = pytest.mark.usefixtures("numpy_init")
TOL = dict(rtol=1e-5, atol=1e-6)
RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 6)).astype(np.float32)
Y = np.tanh(X[:, :3] - X[:, 3:]).astype(np.float32)  # (4, 3)


# ------------------------------------------------------------------------------ SparseLinear
@pytest.mark.parametrize("structured", [True, False], ids=["structured", "unstructured"])
def test_sparse_linear_matches_torch_formula(structured):
    layer = nn.SparseLinear(6, 3, structured=structured, threshold=0.2, temperature=5.0)
    assert layer.threshold.shape == ((3,) if structured else (3, 6))
    layer.threshold.data = jnp.asarray(
        np.random.default_rng(1).uniform(0.1, 0.3, layer.threshold.shape).astype(np.float32)
    )
    t = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in layer.state_dict().items()}
    threshold = t["threshold"].reshape(-1, 1) if structured else t["threshold"]
    gate = torch.sigmoid((t["weight"].abs() - threshold) * 5.0)
    xt = torch.tensor(X, requires_grad=True)
    ref = xt @ (t["weight"] * t["weight_mask"] * gate).T + t["bias"]
    xa = axon.Variable(jnp.asarray(X), requires_grad=True)
    out = layer(xa)
    assert_close(out, ref, **TOL)
    cot = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    (out * jnp.asarray(cot)).sum().backward()
    (ref * torch.tensor(cot)).sum().backward()
    assert_close(xa.grad, xt.grad, **TOL)
    for name, p in layer.named_parameters().items():  # weight, threshold, bias
        assert_close(p.grad, t[name].grad, **TOL)
    assert float(jnp.abs(layer.threshold.grad).sum()) > 0  # the thresholds learn
    assert_close(layer.effective_weight(), (t["weight"] * gate).detach(), **TOL)
    layer.zero_grad()
    assert_grads_reach_every_parameter(layer, jnp.asarray(X))


def test_sparse_linear_hard_prune_and_statistics():
    layer = nn.SparseLinear.unstructured(6, 3)
    assert not layer.is_structured() and nn.SparseLinear.new(6, 3).is_structured()
    assert nn.SparseLinear.with_bias(6, 3, False).bias is None
    layer.reset_threshold(0.2)
    w = np.asarray(layer.weight.data)
    active = np.abs(w) > 0.2
    assert layer.num_active() == active.sum()
    assert layer.density() == pytest.approx(active.mean())
    assert layer.sparsity() == pytest.approx(1 - active.mean())
    assert layer.hard_prune() is layer
    np.testing.assert_array_equal(np.asarray(layer.weight_mask), active.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(layer.weight.data), np.where(active, w, 0))
    assert float(jnp.abs(layer.threshold.data).max()) == 0.0
    assert "weight_mask" in layer.state_dict()
    # pruned weights stay out: no gradient reaches them
    layer(X).sum().backward()
    assert float(jnp.abs(layer.weight.grad[~active]).max()) == 0.0
    assert layer.num_active() == active.sum()


def test_sparse_linear_trains_eager_equals_jit():
    losses = assert_jit_matches_eager(
        lambda: nn.SparseLinear(6, 3, threshold=0.05),
        (jnp.asarray(X), jnp.asarray(Y)),
        lambda m, x, y: nn.MSELoss()(m(x), y),
        steps=4,
        lr=0.5,
    )
    assert losses[-1] < 0.9 * losses[0]


# ------------------------------------------------------------------------------ GroupSparsity
@pytest.mark.parametrize(
    "kwargs, groups",
    [
        ({}, lambda w: [w[i] for i in range(w.shape[0])]),  # rows
        ({"dim": 1}, lambda w: [w[:, j] for j in range(w.shape[1])]),  # columns
        ({"group_size": 4}, lambda w: list(w.reshape(-1).split(4))),  # the seed's chunks
    ],
    ids=["rows", "columns", "chunks_of_4"],
)
def test_group_sparsity_matches_torch(kwargs, groups):
    reg = nn.GroupSparsity(0.3, **kwargs)
    w = np.random.default_rng(3).standard_normal((3, 6)).astype(np.float32)
    w[1] = 0.0  # an all-zero row: zero (sub)gradient there, not NaN
    wt = torch.tensor(w, requires_grad=True)
    ref = 0.3 * sum(torch.sqrt((g * g).sum() + 0.0) for g in groups(wt) if bool((g != 0).any()))
    wa = axon.Variable(jnp.asarray(w), requires_grad=True)
    value = reg(wa)
    assert_close(value, ref.detach(), **TOL)
    value.backward()
    ref.backward()
    assert np.isfinite(np.asarray(wa.grad)).all()
    assert_close(wa.grad, wt.grad, **TOL)
    norms = [float(torch.linalg.norm(g)) for g in groups(torch.tensor(w))]
    assert_close(reg.group_norms(w), np.asarray(norms, np.float32), **TOL)


def test_group_sparsity_drives_columns_down_while_fitting():
    """Regression where only 3 of 6 inputs matter: the column penalty shrinks the others."""
    model = nn.Linear(6, 3)
    reg = nn.GroupSparsity(0.05, dim=1)
    x, y = jnp.asarray(X), jnp.asarray(np.tanh(X[:, :3]))
    opt = optim.SGD(model.parameters(), lr=0.2)
    before = np.asarray(reg.group_norms(model.weight))
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = nn.MSELoss()(model(x), y) + reg.penalty([model.weight])
        loss.backward()
        opt.step()
        losses.append(float(loss))
    after = np.asarray(reg.group_norms(model.weight))
    assert losses[-1] < 0.7 * losses[0]
    assert after[3:].sum() < before[3:].sum()


# ------------------------------------------------------------------------------ LotteryTicket
def _mlp():
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def test_lottery_ticket_prune_rewind_and_masking():
    model = _mlp()
    init = {k: np.asarray(v) for k, v in model.state_dict().items()}
    ticket = nn.LotteryTicket(model, prune_rate=0.25)
    assert ticket.names == ("0.weight", "2.weight") and ticket.num_saved() == 2
    keys = list(ticket.state_dict())
    assert "module.0.weight_mask" in keys and "module.2.weight_init" in keys
    x, y = jnp.asarray(X), jnp.asarray(Y)
    opt = optim.SGD(model.parameters(), lr=0.2)
    for _ in range(3):  # train a little, so magnitudes move away from init
        opt.zero_grad()
        nn.MSELoss()(ticket(x), y).backward()
        opt.step()
    trained = np.asarray(model[0].weight.data)
    ticket.prune()
    mask = np.asarray(model[0].weight_mask)
    assert (mask == 0).sum() == 12  # 25% of 48, smallest |w| of the trained weights
    assert np.abs(trained[mask == 0]).max() <= np.abs(trained[mask == 1]).min()
    assert ticket.sparsity() == pytest.approx(0.25)
    ticket.prune()  # iterative: 25% of the remaining 36 more
    assert (np.asarray(model[0].weight_mask) == 0).sum() == 12 + 9
    bias = np.asarray(model[0].bias.data)
    ticket.rewind()
    mask = np.asarray(model[0].weight_mask)
    assert_close(model[0].weight.data, init["0.weight"] * mask, rtol=0, atol=0)
    assert_close(model[0].bias.data, bias, rtol=0, atol=0)  # only the pruned weights rewind

    # the wrapper's forward uses weight ⊙ mask and the pruned weights get no gradient
    model[0].weight.data = jnp.asarray(init["0.weight"])  # un-zero them behind its back
    manual = _mlp()
    manual.load_state_dict({k: v for k, v in model.state_dict().items() if "_" not in k})
    manual[0].weight.data = manual[0].weight.data * mask
    manual[2].weight.data = manual[2].weight.data * np.asarray(model[2].weight_mask)
    assert_close(ticket(x), manual(x), **TOL)
    ticket.zero_grad()
    ticket(x).sum().backward()
    manual(x).sum().backward()
    assert float(jnp.abs(model[0].weight.grad[mask == 0]).max()) == 0.0
    assert_close(model[0].weight.grad, manual[0].weight.grad * mask, **TOL)
    assert float(jnp.abs(model[0].weight.grad).max()) > 0.0


def test_lottery_ticket_global_scope_snapshot_and_jit():
    model = _mlp()
    ticket = nn.LotteryTicket(model, 0.5, scope="global")
    ticket.prune()
    weights = np.concatenate([np.abs(np.asarray(model[i].weight.data)).ravel() for i in (0, 2)])
    masks = np.concatenate([np.asarray(ticket.masks()[n]).ravel() for n in ticket.names])
    assert masks.sum() == 36 and weights[masks == 1].min() >= weights[masks == 0].max()
    ticket.snapshot()  # late rewinding point: the pruned weights
    assert_close(model[0].weight_init, model[0].weight.data, rtol=0, atol=0)

    def make():
        return nn.LotteryTicket(_mlp(), 0.5, scope="global")

    def loss(m, x, y):
        return nn.MSELoss()(m(x), y)

    x, y = jnp.asarray(X), jnp.asarray(Y)
    probe = make()
    probe.prune()
    # masks are buffers, so the eager/jit twins share them through the state dict
    losses = assert_jit_matches_eager(lambda: _pruned_like(probe), (x, y), loss, steps=3, lr=0.2)
    assert losses[-1] < losses[0]
    assert_grads_reach_every_parameter(_pruned_like(probe), x)


def _pruned_like(ticket):
    twin = nn.LotteryTicket(_mlp(), ticket.prune_rate, scope=ticket.scope)
    twin.load_state_dict(ticket.state_dict())
    return twin


def test_errors():
    with pytest.raises(ValueError, match="SparseLinear: temperature must be a positive number"):
        nn.SparseLinear(4, 2, temperature=0)
    with pytest.raises(ValueError, match="SparseLinear: in_features must be a positive int"):
        nn.SparseLinear(0, 2)
    with pytest.raises(ValueError, match=r"SparseLinear: expected input of shape \(\*, 4\)"):
        nn.SparseLinear(4, 2)(jnp.zeros((3, 5)))
    with pytest.raises(ValueError, match="GroupSparsity: lambda_ must be non-negative"):
        nn.GroupSparsity(-1.0)
    with pytest.raises(ValueError, match="GroupSparsity: group_size must be a positive int"):
        nn.GroupSparsity(0.1, 0)
    with pytest.raises(ValueError, match=r"GroupSparsity: dim=2 is out of range .* \(3, 4\)"):
        nn.GroupSparsity(0.1, dim=2)(jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"LotteryTicket: prune_rate must be in \(0, 1\), got 1"):
        nn.LotteryTicket(_mlp(), 1)
    with pytest.raises(ValueError, match=r"LotteryTicket: no parameters named \['fc.weight'\]"):
        nn.LotteryTicket(_mlp(), names=["fc.weight"])
    with pytest.raises(ValueError, match="LotteryTicket: scope must be 'layer' or 'global'"):
        nn.LotteryTicket(_mlp(), scope="net")
    with pytest.raises(TypeError, match="LotteryTicket: expected a Module, got function"):
        nn.LotteryTicket(lambda x: x)
    with pytest.raises(ValueError, match="LotteryTicket: the module has no parameters to prune"):
        nn.LotteryTicket(nn.Sequential(nn.ReLU()))


def test_real_initialiser_follows_linears_law():
    """The fixture above replaces reset_parameters; the real one draws U(±1/√in_features)."""
    from axon.nn.sparse import _uniform_init

    for layer in (nn.SparseLinear(16, 32), nn.TernaryLinear(16, 32)):
        _uniform_init(layer)
        w, b = np.asarray(layer.weight.data), np.asarray(layer.bias.data)
        assert np.abs(w).max() <= 0.25 and np.abs(b).max() <= 0.25
        assert abs(w.std() - 0.25 / np.sqrt(3)) < 0.02  # the std of U(-0.25, 0.25)
