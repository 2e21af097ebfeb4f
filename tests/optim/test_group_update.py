"""One update over a whole param group equals one update per parameter.

Parameters of a group that step together share their step count (`Optimizer.counters`); the
built-in optimizers (`per_leaf`) then update the group with one optax update over the list of
its parameters. These tests run the same steps with that switched off and compare to one
float32 rounding: the arithmetic is the same, but XLA may fuse the two programs differently and
contract a multiply-add into one rounding in one of them (seen once in Adam's coupled decay).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import axon
from axon import optim
from axon.nn import Parameter
from axon.optim import optimizer as optimizer_module

SHAPES = [(4, 3), (4,), (2, 4), ()]

OPTIMIZERS = {
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
    "sgd-nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=0.1),
    "adam-amsgrad": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=1e-1, lr_decay=0.01),
    "lamb": lambda ps: optim.LAMB(ps, lr=1e-2, weight_decay=0.01),
}


def _run(make, monkeypatch, grouped: bool, steps=4, dtype=jnp.float32):
    """Params and state after `steps` steps; `grouped` False turns the group update off (a
    different static argument of the jitted update, so nothing cached is reused). Returns also
    how many group updates the traces made."""
    made = []

    def spy(*args):
        result = update_group(*args)
        made.append(result is not None)
        return result

    update_group = optimizer_module._update_group
    monkeypatch.setattr(optimizer_module, "_update_group", spy)
    optimizer_module._update_per_param_jit.clear_cache()  # trace again, through the spy
    rng = np.random.default_rng(0)
    params = [Parameter(jnp.asarray(rng.normal(size=s), dtype)) for s in SHAPES]
    opt = make(params)
    if not grouped:
        monkeypatch.setattr(type(opt), "per_leaf", False)
    for _ in range(steps):
        for p in params:
            p.grad = jnp.asarray(rng.normal(size=p.shape), dtype)
        opt.step()
    monkeypatch.undo()
    return [np.asarray(p.data) for p in params], opt.state_dict()["state"], sum(made)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_group_update_equals_per_parameter_updates(name, monkeypatch):
    make = OPTIMIZERS[name]
    assert type(make([Parameter(jnp.zeros(1))])).per_leaf
    params_a, state_a, grouped = _run(make, monkeypatch, grouped=True)
    params_b, state_b, none = _run(make, monkeypatch, grouped=False)
    assert grouped >= 1 and none == 0
    for a, b in zip(params_a, params_b, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-7, atol=1e-7)
    assert state_a.keys() == state_b.keys()
    for index in state_a:
        assert state_a[index].keys() == state_b[index].keys()
        for key in state_a[index]:
            a, b = np.asarray(state_a[index][key]), np.asarray(state_b[index][key])
            np.testing.assert_allclose(a, b, rtol=2e-7, atol=1e-7)


def test_group_update_mixed_dtypes_inside_jit(monkeypatch):
    """bfloat16 and float32 parameters in one group, stepped by `axon.jit`: as per parameter."""

    def make(ps):
        return optim.Adam(ps, lr=1e-2)

    def run(grouped):
        if not grouped:
            monkeypatch.setattr(optim.Adam, "per_leaf", False)
        rng = np.random.default_rng(0)
        params = [
            Parameter(jnp.asarray(rng.normal(size=(3, 2)), jnp.bfloat16)),
            Parameter(jnp.asarray(rng.normal(size=(3,)), jnp.float32)),
        ]
        opt = make(params)

        @axon.jit
        def step(opt, grads):
            opt.step(grads)

        for _ in range(3):
            step(opt, [jnp.ones((3, 2), jnp.bfloat16), jnp.full((3,), 0.5, jnp.float32)])
        monkeypatch.undo()
        return [np.asarray(p.data.astype(jnp.float32)) for p in params]

    for a, b in zip(run(True), run(False), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-2)  # bfloat16: within its own rounding


def test_a_parameter_that_skipped_steps_is_updated_on_its_own():
    """Counts that differ inside a group (one parameter missed a step) cannot share one update:
    each parameter keeps its own count, as PyTorch."""
    a, b = Parameter(jnp.ones(2)), Parameter(jnp.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = jnp.ones(2)
    opt.step()  # b has no gradient: it does not step
    a.grad, b.grad = jnp.ones(2), jnp.ones(2)
    opt.step()
    assert float(opt.state[a]["step"]) == 2.0
    assert float(opt.state[b]["step"]) == 1.0
    # b's first step moves it by lr exactly (Adam's first update is sign(g) * lr)
    np.testing.assert_allclose(np.asarray(b.data), [0.9, 0.9], rtol=1e-6)
