"""LoRA on `Linear`: PEFT's parameters and init, parity with a torch twin, freezing, merging,
detaching, `axon.jit` (one recompile on attach), training, and every error message."""

from __future__ import annotations

import math

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
X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)


def test_attach_adds_peft_parameters_and_keeps_the_output():
    layer = nn.Linear(6, 5)
    base = layer(X).data
    assert layer.attach_lora(rank=3, alpha=6.0) is layer
    assert list(layer.named_parameters()) == ["weight", "bias", "lora_A", "lora_B"]
    assert list(layer.state_dict()) == ["weight", "bias", "lora_A", "lora_B"]
    assert layer.lora_A.shape == (3, 6) and layer.lora_B.shape == (5, 3)
    assert float(jnp.abs(layer.lora_B.data).max()) == 0.0  # B = 0: the output is unchanged
    a = np.asarray(layer.lora_A.data)
    assert np.abs(a).max() <= 1 / math.sqrt(6) and a.std() > 0.1  # kaiming-uniform(a=√5)
    assert_close(layer(X), base, **TOL)
    assert "lora_rank=3, lora_alpha=6.0" in repr(layer)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU())
    model[0].attach_lora(2)  # alpha defaults to rank: scale 1
    assert "0.lora_A" in model.state_dict() and model[0].lora_alpha == 2.0


def test_matches_torch_twin_forward_and_gradients():
    layer = nn.Linear(6, 5).attach_lora(3, alpha=6.0)
    rng = np.random.default_rng(1)
    layer.lora_B.data = jnp.asarray(rng.standard_normal((5, 3)).astype(np.float32))
    t = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in layer.state_dict().items()}
    xt = torch.tensor(X, requires_grad=True)
    ref = torch.nn.functional.linear(xt, t["weight"], t["bias"]) + 2.0 * (
        xt @ t["lora_A"].T @ t["lora_B"].T
    )
    xa = axon.Variable(jnp.asarray(X), requires_grad=True)
    out = layer(xa)
    assert_close(out, ref, **TOL)
    cot = rng.standard_normal((4, 5)).astype(np.float32)
    (out * jnp.asarray(cot)).sum().backward()
    (ref * torch.tensor(cot)).sum().backward()
    assert_close(xa.grad, xt.grad, **TOL)
    for name, p in layer.named_parameters().items():
        assert_close(p.grad, t[name].grad, **TOL)
    layer.zero_grad()
    assert_grads_reach_every_parameter(layer, jnp.asarray(X))


def test_freeze_base_merge_and_detach():
    layer = nn.Linear(6, 5).attach_lora(2, alpha=4.0).freeze_base()
    assert not layer.weight.requires_grad and not layer.bias.requires_grad
    assert layer.num_parameters() == 2 * 6 + 5 * 2
    weight, bias = layer.weight.data, layer.bias.data
    x, y = jnp.asarray(X), jnp.asarray(np.tanh(X[:, :5]))
    opt = optim.SGD([p for p in layer.parameters() if p.requires_grad], lr=0.1)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = nn.MSELoss()(layer(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    assert layer.weight.grad is None and layer.lora_A.grad is not None
    assert_close(layer.weight.data, weight, rtol=0, atol=0)  # the base did not move
    assert_close(layer.bias.data, bias, rtol=0, atol=0)

    adapted = layer(x).data
    delta = 2.0 * layer.lora_B.data @ layer.lora_A.data
    assert layer.merge_lora() is layer
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert_close(layer.weight.data, weight + delta, **TOL)
    assert_close(layer(x), adapted, rtol=1e-5, atol=1e-5)  # merged: the same outputs
    assert "lora" not in repr(layer)

    layer.attach_lora(2)
    layer.lora_B.data = jnp.ones_like(layer.lora_B.data)
    assert layer.detach_lora() is layer and list(layer.state_dict()) == ["weight", "bias"]
    assert_close(layer(x), adapted, rtol=1e-5, atol=1e-5)  # detached: the merged base again


def test_axon_jit_recompiles_once_on_attach_and_equals_eager():
    x, y = jnp.asarray(X), jnp.asarray(np.tanh(X[:, :5]))

    def step(model, opt, x, y):
        opt.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        opt.step()
        return loss

    layer = nn.Linear(6, 5)
    fast = axon.jit(lambda m, x: m(x))
    fast(layer, x)
    fast(layer, x)
    assert fast.num_compiles == 1
    layer.attach_lora(2)
    layer.lora_B.data = jnp.full_like(layer.lora_B.data, 0.5)
    assert_close(fast(layer, x), layer(x), **TOL)
    fast(layer, x)
    assert fast.num_compiles == 2  # attaching changed the structure: one new trace

    def make():
        model = nn.Linear(6, 5).attach_lora(2, alpha=4.0)
        model.lora_B.data = jnp.full_like(model.lora_B.data, 0.1)
        return model

    assert_jit_matches_eager(make, (x, y), lambda m, x, y: nn.MSELoss()(m(x), y))


def test_errors():
    layer = nn.Linear(6, 5)
    with pytest.raises(ValueError, match="Linear: merge_lora\\(\\) needs LoRA attached"):
        layer.merge_lora()
    with pytest.raises(ValueError, match="Linear: detach_lora\\(\\) needs LoRA attached"):
        layer.detach_lora()
    with pytest.raises(ValueError, match="Linear: LoRA rank must be a positive int, got 0"):
        layer.attach_lora(0)
    with pytest.raises(ValueError, match="Linear: LoRA alpha must be a finite number"):
        layer.attach_lora(2, alpha=float("nan"))
    layer.attach_lora(2)
    with pytest.raises(ValueError, match=r"LoRA is already attached \(rank=2\).*merge_lora"):
        layer.attach_lora(4)
    with pytest.raises(ValueError, match=r"Linear: expected input of shape \(\*, 6\)"):
        layer(jnp.zeros((2, 5)))
