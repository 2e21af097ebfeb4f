"""Checks every layer test repeats: gradients reach each parameter (through the tape and
through `jax.grad` on the module as a pytree), and a training step under `axon.jit` equals the
eager one. Also `numpy_init`, a fixture that makes building layers cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close

import axon
from axon import nn, optim


@pytest.fixture
def numpy_init(monkeypatch):
    """Draw Linear-style initial weights with numpy instead of `jax.random`: the same law,
    U(±1/√fan_in), without compiling one RNG program per weight shape (most of these tests'
    time otherwise). Use with `pytestmark = pytest.mark.usefixtures("numpy_init")` after
    importing it; the real initialisers are tested where they are defined."""
    rng = np.random.default_rng(0)

    def reset_parameters(self):
        bound = 1 / math.sqrt(nn.init.calculate_fan_in_and_fan_out(self.weight)[0])
        for p in (self.weight, self.bias):
            if p is not None:
                p.data = jax.device_put(rng.uniform(-bound, bound, p.shape).astype(p.dtype))

    for cls in (nn.Linear, nn.conv._ConvNd, nn.SparseLinear, nn.TernaryLinear):
        monkeypatch.setattr(cls, "reset_parameters", reset_parameters)


def _scalar(out):
    """A scalar loss of a module's output (a Variable or a tuple whose first item is one)."""
    out = out[0] if isinstance(out, tuple) else out
    weights = jnp.cos(jnp.arange(out.data.size, dtype=out.dtype).reshape(out.shape))
    return (out * weights).sum()  # a fixed, non-uniform cotangent


def assert_grads_reach_every_parameter(
    module, *inputs, loss: Callable | None = None, skip: tuple[str, ...] = ()
) -> dict:
    """`loss(module, *inputs)` (default: a weighted sum of the output) gives every parameter a
    non-zero gradient through `.backward()`, and `jax.grad` over the module pytree agrees."""
    loss = loss or (lambda m, *xs: _scalar(m(*xs)))
    module.zero_grad()
    loss(module, *inputs).backward()
    tape = {}
    for name, p in module.named_parameters().items():
        if name in skip or not p.requires_grad:
            continue
        assert p.grad is not None, f"{name}: no gradient through backward()"
        assert float(jnp.abs(p.grad).sum()) > 0, f"{name}: zero gradient through backward()"
        tape[name] = p.grad
    grads = jax.jit(jax.grad(lambda m: loss(m, *inputs).data, allow_int=True))(module)
    pytree = grads.named_parameters()
    for name, g in tape.items():
        assert_close(pytree[name].data, g, rtol=1e-4, atol=1e-6)
    module.zero_grad()
    return tape


def assert_jit_matches_eager(
    make: Callable, inputs: tuple, loss: Callable, steps: int = 3, lr: float = 0.05
) -> list[float]:
    """`steps` SGD steps of `loss(model, *inputs)`: eagerly and as one `axon.jit` step give the
    same losses and parameters, the compiled step traces at most twice (the first call has no
    `.grad` yet), and the loss goes down. Returns the eager losses."""

    def step(model, opt, *xs):
        opt.zero_grad()
        value = loss(model, *xs)
        value.backward()
        opt.step()
        return value

    eager_model, jit_model = make(), make()
    jit_model.load_state_dict(eager_model.state_dict())
    eager_opt = optim.SGD(eager_model.parameters(), lr=lr)
    jit_opt = optim.SGD(jit_model.parameters(), lr=lr)
    fast = axon.jit(step)
    eager = [float(step(eager_model, eager_opt, *inputs)) for _ in range(steps)]
    compiled = [float(fast(jit_model, jit_opt, *inputs)) for _ in range(steps)]
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-6)
    for key, value in eager_model.state_dict().items():
        assert_close(jit_model.state_dict()[key], value, rtol=1e-4, atol=1e-6)
    assert fast.num_compiles <= 2, f"compiled {fast.num_compiles} times"
    assert eager[-1] < eager[0], f"the loss did not go down: {eager}"
    return eager
