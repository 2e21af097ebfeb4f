"""Mixture of experts against a direct per-token reference written with jnp, plus the auxiliary
loss across `axon.jit`, utilisation statistics, training, and every error message."""

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
D, H, E, K = 6, 8, 4, 2  # d_model, intermediate (hidden), experts, top_k


def params_of(moe):
    return {k: v for k, v in moe.state_dict().items()}


def choices(params, x, top_k):
    """(T, k) experts of each token, best first (computed once, outside any jax.grad)."""
    probs = jax.nn.softmax(x @ params["router.gate.weight"].T, axis=-1)
    return np.argsort(-np.asarray(probs), axis=-1, kind="stable")[:, :top_k]


def reference(params, x, order, capacity=None):
    """The definition: softmax router, the chosen experts' probabilities renormalised, SwiGLU
    experts; with a capacity, assignments are served first choices first, then in token order,
    and those past an expert's capacity are dropped (a plain loop over the assignments).
    Returns (output (T, D), aux loss, expert fractions, dropped fraction)."""
    tokens, top_k = order.shape
    probs = jax.nn.softmax(x @ params["router.gate.weight"].T, axis=-1)  # (T, E)
    num_experts = probs.shape[1]
    used = [0] * num_experts
    kept = np.zeros(order.shape, np.float32)
    for k in range(top_k):  # slot-major priority
        for t in range(tokens):
            e = order[t, k]
            kept[t, k] = capacity is None or used[e] < capacity
            used[e] += 1
    experts = []
    for e in range(num_experts):  # every expert on every token: (E, T, D)
        p = {n: params[f"experts.{e}.{n}_proj.weight"] for n in ("gate", "up", "down")}
        experts.append((jax.nn.silu(x @ p["gate"].T) * (x @ p["up"].T)) @ p["down"].T)
    chosen = jnp.take_along_axis(probs, jnp.asarray(order), axis=1)  # (T, k)
    weights = chosen / chosen.sum(-1, keepdims=True) * kept
    picked = jnp.stack(experts)[order, jnp.arange(tokens)[:, None]]  # (T, k, D)
    out = (weights[..., None] * picked).sum(1)
    fraction = np.bincount(order.reshape(-1), minlength=num_experts) / order.size
    aux = num_experts * jnp.sum(jnp.asarray(fraction, jnp.float32) * probs.mean(0))
    return out, aux, jnp.asarray(fraction), jnp.asarray(1.0 - kept.mean())


def _inputs(seed=0, shape=(4, 4, D)):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize(
    "capacity_factor, capacity",
    [(None, None), (0.5, 4)],
    ids=["dense", "capacity_drops"],
)
def test_moe_matches_reference_forward_and_gradients(capacity_factor, capacity):
    moe = nn.MoELayer(D, H, E, K, capacity_factor=capacity_factor)
    x = _inputs()  # (B, T, D) = (4, 4, 6): 16 tokens
    assert moe.capacity(16) == capacity
    xa = axon.Variable(x, requires_grad=True)
    out = moe(xa)
    assert out.shape == (4, 4, D)
    params = {k: jnp.asarray(v) for k, v in params_of(moe).items()}
    tokens = x.reshape(-1, D)
    order = choices(params, tokens, K)
    cot = jnp.asarray(np.random.default_rng(1).standard_normal((16, D)).astype(np.float32))

    def ref_loss(params, tokens):
        y, aux, fraction, dropped = reference(params, tokens, order, capacity)
        return (y * cot).sum() + 0.3 * aux, (y, aux, fraction, dropped)

    value_and_grad = jax.value_and_grad(ref_loss, argnums=(0, 1), has_aux=True)
    (_, (ref, ref_aux, ref_fraction, ref_dropped)), (grads, gx) = jax.jit(value_and_grad)(
        params, tokens
    )
    assert_close(out.data.reshape(-1, D), ref, **TOL)
    assert_close(moe.load_balancing_loss(), ref_aux, **TOL)
    assert_close(moe.expert_utilization(), ref_fraction.astype(np.float32), **TOL)
    assert_close(moe.dropped_fraction, ref_dropped.astype(np.float32), **TOL)
    assert (float(moe.dropped_fraction) > 0) == (capacity_factor == 0.5)

    # gradients of output and auxiliary loss through the tape vs jax.grad of the reference
    loss = (out * cot.reshape(4, 4, D)).sum() + 0.3 * moe.load_balancing_loss()
    loss.backward()
    assert_close(xa.grad.reshape(-1, D), gx, **TOL)
    for name, p in moe.named_parameters().items():
        assert_close(p.grad, grads[name], rtol=1e-5, atol=1e-5)


def test_dense_equals_capacity_without_drops_and_expert_module():
    moe = nn.MoELayer(D, H, E, K)
    roomy = nn.MoELayer(D, H, E, K, capacity_factor=float(E))
    roomy.load_state_dict(moe.state_dict())
    x = _inputs(3)
    assert_close(roomy(x), moe(x), **TOL)
    assert float(roomy.dropped_fraction) == 0.0
    # each expert is the SwiGLU Expert module, equal to a torch twin
    expert = moe.experts[1]
    xt = torch.tensor(np.asarray(x))
    w = {k: torch.tensor(np.asarray(v)) for k, v in expert.state_dict().items()}
    twin = (
        torch.nn.functional.silu(xt @ w["gate_proj.weight"].T) * (xt @ w["up_proj.weight"].T)
    ) @ w["down_proj.weight"].T
    assert_close(expert(x), twin, **TOL)


def test_router_route():
    router = nn.MoERouter(D, E, K)
    x = _inputs(4, (5, D))
    probs, weights, indices = router.route(x)
    assert probs.shape == (5, E) and weights.shape == (5, K) and indices.shape == (5, K)
    assert_close(probs.data.sum(-1), np.ones(5, np.float32), **TOL)
    assert_close(weights.data.sum(-1), np.ones(5, np.float32), **TOL)
    top = np.argsort(-np.asarray(probs.data), axis=-1)[:, :K]
    np.testing.assert_array_equal(np.asarray(indices), top)
    chosen = np.take_along_axis(np.asarray(probs.data), top, -1)
    assert_close(weights, chosen / chosen.sum(-1, keepdims=True), **TOL)
    assert list(router.state_dict()) == ["gate.weight"]


def test_names_grads_and_pytree():
    names = list(nn.MoELayer(D, H, 8, K).named_parameters())
    assert len(names) == 25 and names[:3] == [
        "router.gate.weight", "experts.0.up_proj.weight", "experts.0.gate_proj.weight",
    ]  # fmt: skip
    moe = nn.MoELayer(D, H, E, K)
    assert "aux_loss" not in moe.state_dict()  # statistics are not persistent
    x = _inputs(5)
    moe(x)
    assert (moe.expert_utilization() > 0).all()  # every expert has tokens
    assert_grads_reach_every_parameter(moe, x)
    vmapped = jax.jit(jax.vmap(lambda m, row: m(row).data, in_axes=(None, 0)))
    batched = vmapped(moe, x)  # routing within each sample
    assert not isinstance(moe.aux_loss, jax.core.Tracer)  # the module itself was not traced
    assert_close(batched[1], moe(x[1]).data, **TOL)


def test_aux_loss_is_differentiable_inside_axon_jit():
    """The auxiliary loss from the forward in the same compiled step carries gradient to the
    router; after the call the buffers hold the last forward's statistics, and repeated calls
    do not recompile."""

    def step(model, opt, x):
        opt.zero_grad()
        model(x)
        aux = model.load_balancing_loss()
        aux.backward()
        opt.step()
        return aux

    x = _inputs(7)
    eager = nn.MoELayer(D, H, E, K)
    compiled = nn.MoELayer(D, H, E, K)
    compiled.load_state_dict(eager.state_dict())
    fast = axon.jit(step)
    opt_e = optim.SGD(eager.parameters(), lr=1.0)
    opt_c = optim.SGD(compiled.parameters(), lr=1.0)
    before = np.asarray(compiled.router.gate.weight.data)
    for _ in range(3):
        assert_close(fast(compiled, opt_c, x), step(eager, opt_e, x), **TOL)
    assert not np.allclose(np.asarray(compiled.router.gate.weight.data), before)
    assert_close(compiled.router.gate.weight.data, eager.router.gate.weight.data, **TOL)
    assert fast.num_compiles <= 2
    # outside the trace: the value of the last forward, a constant
    aux = compiled.load_balancing_loss()
    assert aux.grad_fn is None
    assert_close(aux, eager.load_balancing_loss(), **TOL)
    assert_close(compiled.expert_utilization(), eager.expert_utilization(), **TOL)


def test_moe_trains_with_aux_loss_eager_equals_jit():
    x = _inputs(8)
    y = jnp.tanh(x @ _inputs(9, (D, D)))  # (4, 4, D)

    def loss(model, x, y):
        return nn.MSELoss()(model(x), y) + 0.01 * model.load_balancing_loss()

    losses = assert_jit_matches_eager(
        lambda: nn.MoELayer(D, H, E, K, capacity_factor=1.5), (x, y), loss, steps=6, lr=1.0
    )
    assert losses[-1] < 0.9 * losses[0]


def test_errors():
    with pytest.raises(
        ValueError, match=r"MoERouter: top_k \(5\) must not exceed num_experts \(4\)"
    ):
        nn.MoELayer(D, H, 4, 5)
    with pytest.raises(ValueError, match="MoELayer: capacity_factor must be None or a positive"):
        nn.MoELayer(D, H, E, K, capacity_factor=0)
    with pytest.raises(ValueError, match="MoERouter: num_experts must be a positive int, got 0"):
        nn.MoELayer(D, H, 0, 1)
    with pytest.raises(ValueError, match="Expert: intermediate must be a positive int"):
        nn.Expert(D, -1)
    with pytest.raises(
        ValueError, match=r"MoELayer: expected input of shape \(\*, 6\), got \(2, 5\)"
    ):
        nn.MoELayer(D, H, E, K)(jnp.zeros((2, 5)))
