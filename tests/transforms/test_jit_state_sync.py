"""axon.jit and the state it carries, seen from outside: what a user writes to a model or an
optimizer between two compiled calls must reach the next call, and what a user reads between
calls must be the current value, as an eager step would leave it.

Each test does the same operations on a compiled model and on an eager twin (or checks values
worked out by hand), and compares after every step, so that a value left stale by one call is
caught at the next.
"""

from __future__ import annotations

import copy
import pickle

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close
from helpers import train_step as step

import axon
from axon import nn, optim

LOSS = nn.CrossEntropyLoss()
TOL = dict(rtol=1e-5, atol=1e-6)


def accumulating_step(model, opt, x, y):
    """No zero_grad: backward adds into the .grads that came in, and step() uses the sum."""
    loss = LOSS(model(x), y)
    loss.backward()
    opt.step()
    return loss


def penalised_step(model, opt, x, y):
    """A second training step with another loss, for two compiled functions on one model."""
    opt.zero_grad()
    loss = LOSS(model(x), y) + 0.1 * (model[0].weight * model[0].weight).sum()
    loss.backward()
    opt.step()
    return loss


def make(*, bn=False, dropout=0.0, seed=0, bn_momentum=0.1, lr=1e-2, opt=optim.Adam):
    """A 4 -> 8 -> 3 MLP (with BatchNorm and Dropout if asked) and its optimizer (Adam)."""
    axon.manual_seed(seed)
    layers = [nn.Linear(4, 8), nn.ReLU()]
    if bn:
        layers.append(nn.BatchNorm1d(8, momentum=bn_momentum))
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(8, 3))
    model = nn.Sequential(*layers)
    return model, opt(model.parameters(), lr=lr)


def twins(**kwargs):
    """`(model, opt, eager, opt_eager)`: two equal models with their optimizers."""
    return (*make(**kwargs), *make(**kwargs))


def stepped_twins(steps: int, **kwargs):
    """`twins(**kwargs)` stepped `steps` times, one through `axon.jit(step)` and one eagerly:
    `(model, opt, eager, opt_eager, fast, (x, y))`."""
    return helpers.stepped_twins(lambda: make(**kwargs), data(), steps)


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(n, 4)).astype(np.float32))
    return x, jnp.asarray(rng.integers(0, 3, n))


def snapshot(state: dict) -> dict:
    """jax copies of a state dict's arrays (np.asarray would pin the buffers: no donation)."""
    return {k: v.copy() for k, v in state.items()}


def assert_same_model(a: nn.Module, b: nn.Module, grads: bool = True, **tol) -> None:
    """Equal state dicts (parameters and buffers) and, with `grads`, equal `.grad`s."""
    tol = {**TOL, **tol}
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert isinstance(sa[key], jax.Array), (key, type(sa[key]))
        assert_close(sa[key], sb[key], jnp.float32, **tol)
    for (name, p), q in zip(a.named_parameters().items(), b.parameters(), strict=True):
        assert isinstance(p.data, jax.Array), (name, type(p.data))
        assert_close(p.data, q.data, jnp.float32, **tol)
        if not grads:
            continue
        if q.grad is None:
            assert p.grad is None, name
        else:
            assert isinstance(p.grad, jax.Array), (name, type(p.grad))
            assert_close(p.grad, q.grad, jnp.float32, **tol)
    for (name, buf), other in zip(a.named_buffers().items(), b.buffers(), strict=True):
        assert isinstance(buf, jax.Array), (name, type(buf))
        assert_close(buf, other, jnp.float32, **tol)


def assert_same_optimizer(a: optim.Optimizer, b: optim.Optimizer, **tol) -> None:
    """Equal `state_dict()`s and equal `state[p]` for every parameter, in PyTorch's layout."""
    tol = {**TOL, **tol}
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert list(sa["state"]) == list(sb["state"])
    for i, entries in sb["state"].items():
        assert list(sa["state"][i]) == list(entries), i
        for name, value in entries.items():
            assert isinstance(sa["state"][i][name], jax.Array), (i, name)
            assert_close(sa["state"][i][name], value, jnp.float32, **tol)
    flat_a = [p for g in a.param_groups for p in g["params"]]
    flat_b = [p for g in b.param_groups for p in g["params"]]
    for p, q in zip(flat_a, flat_b, strict=True):
        assert sorted(a.state[p]) == sorted(b.state[q])
        for name, value in b.state[q].items():
            assert isinstance(a.state[p][name], jax.Array), name
            assert_close(a.state[p][name], value, jnp.float32, **tol)


def assert_same(model, opt, eager, opt_eager, **tol) -> None:
    assert_same_model(model, eager, **tol)
    assert_same_optimizer(opt, opt_eager, **tol)


# ----------------------------------------------------------------------------- writes between calls
def test_data_written_between_steps_is_where_the_next_step_starts():
    model, opt, eager, opt_eager, fast, (x, y) = stepped_twins(1)

    # `.data = new array`: read back at once, and the next step starts from it
    new = {}
    for name, m in (("fast", model), ("eager", eager)):
        new[name] = jnp.full((8, 4), 0.125, jnp.float32)
        m[0].weight.data = new[name]
        np.testing.assert_array_equal(np.asarray(m[0].weight.data), np.full((8, 4), 0.125))
    kept = new["fast"].copy()
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same(model, opt, eager, opt_eager)
    # the array handed in is the user's: still readable, still its value
    assert not new["fast"].is_deleted()
    np.testing.assert_array_equal(np.asarray(new["fast"]), np.asarray(kept))
    # the step started from 0.125: Adam's second step moves each weight by at most about lr
    assert np.all(np.abs(np.asarray(model[0].weight.data) - 0.125) < 2.5e-2)

    # the in-place initialisers (rebinding .data under no_grad, as torch.nn.init does)
    for m in (model, eager):
        with axon.no_grad():
            nn.init.constant_(m[2].bias, 0.25)
            nn.init.zeros_(m[0].bias)
        np.testing.assert_array_equal(np.asarray(m[2].bias.data), np.full(3, 0.25))
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same(model, opt, eager, opt_eager)

    # a value derived from the current one (reads the last call's result, then replaces it)
    for m in (model, eager):
        m[2].weight.data = m[2].weight.data * -2.0
    for _ in range(2):
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
        assert_same(model, opt, eager, opt_eager)
    assert fast.num_compiles == 1


def test_variable_data_written_between_calls_is_read_by_the_next_call():
    v = axon.Variable(jnp.arange(3.0))

    @axon.jit
    def double(v):
        v.data = v.data * 2.0

    double(v)
    np.testing.assert_array_equal(np.asarray(v.data), [0.0, 2.0, 4.0])
    v.data = jnp.ones(3)
    double(v)
    np.testing.assert_array_equal(np.asarray(v.data), [2.0, 2.0, 2.0])
    double(v)
    np.testing.assert_array_equal(np.asarray(v.data), [4.0, 4.0, 4.0])
    v.data = v.data - 1.0
    double(v)
    np.testing.assert_array_equal(np.asarray(v.data), [6.0, 6.0, 6.0])
    assert double.num_compiles == 1


def test_load_state_dict_between_steps_continues_from_the_loaded_state():
    model, opt, eager, opt_eager = twins(bn=True)
    other, _ = make(bn=True, seed=1)
    x, y = data()
    fast = axon.jit(step)
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    # what a checkpoint after step 1 holds (its arrays stay with the user)
    saved_model = model.state_dict()
    saved_opt = opt.state_dict()
    saved_copy = snapshot(saved_model)
    saved_opt_eager = opt_eager.state_dict()
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    after_two = snapshot(model.state_dict())
    step_two_opt = {i: snapshot(s) for i, s in opt.state_dict()["state"].items()}

    # a model's state from elsewhere (parameters and BatchNorm statistics)
    theirs = other.state_dict()
    for m in (model, eager):
        m.load_state_dict(theirs)
    for key, value in model.state_dict().items():  # read back at once
        np.testing.assert_array_equal(np.asarray(value), np.asarray(theirs[key]))
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same(model, opt, eager, opt_eager)

    # an earlier optimizer state, with a new learning rate in its param group
    for o, saved in ((opt, saved_opt), (opt_eager, saved_opt_eager)):
        o.load_state_dict(
            {"state": saved["state"], "param_groups": [dict(saved["param_groups"][0], lr=0.05)]}
        )
        assert o.param_groups[0]["lr"] == 0.05
        assert float(o.state[o.param_groups[0]["params"][0]]["step"]) == 1.0
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same(model, opt, eager, opt_eager)
    assert float(opt.state[model[0].weight]["step"]) == 2.0

    # resuming from the step-1 checkpoint (model and optimizer) redoes step 2 exactly, twice:
    # the checkpoint's arrays, now also in the model, were not consumed by the first resume
    for _ in range(2):
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
        fast(model, opt, x, y)
        for key, value in model.state_dict().items():
            assert_close(value, after_two[key], jnp.float32, **TOL)
        for i, entries in opt.state_dict()["state"].items():
            for name, value in entries.items():
                assert_close(value, step_two_opt[i][name], jnp.float32, **TOL)
    for key, value in saved_model.items():
        assert not value.is_deleted(), key
        np.testing.assert_array_equal(np.asarray(value), np.asarray(saved_copy[key]))


def test_optimizer_state_written_between_steps_is_used_by_the_next_step():
    model, opt, eager, opt_eager, fast, (x, y) = stepped_twins(2)
    assert sorted(opt.state[model[0].weight]) == ["exp_avg", "exp_avg_sq", "step"]

    # the PyTorch-style mapping: one entry replaced, one derived from its current value
    for m, o in ((model, opt), (eager, opt_eager)):
        o.state[m[0].weight]["exp_avg"] = jnp.full((8, 4), 0.5, jnp.float32)
        o.state[m[2].bias]["exp_avg_sq"] = o.state[m[2].bias]["exp_avg_sq"] * 4.0
    np.testing.assert_array_equal(np.asarray(opt.state[model[0].weight]["exp_avg"]), 0.5)
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same(model, opt, eager, opt_eager)

    # the step counts (one shared array per group) replaced by a new shared one: bias correction
    for m, o in ((model, opt), (eager, opt_eager)):
        count = jnp.asarray(10.0, jnp.float32)
        for p in m.parameters():
            o.state[p]["step"] = count
    for _ in range(2):
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
        assert_same(model, opt, eager, opt_eager)
    assert float(opt.state[model[0].weight]["step"]) == 12.0
    assert fast.num_compiles == 1


def test_optimizer_state_dict_held_across_steps_stays_live():
    """`opt.state[p]` is the live state dict of `p` (as in PyTorch, and as an eager step keeps
    it): a dict taken before a compiled step shows the values after it."""
    model, opt, eager, opt_eager, fast, (x, y) = stepped_twins(1)
    held = opt.state[model[0].weight]
    held_eager = opt_eager.state[eager[0].weight]
    for expected_step in (2.0, 3.0):
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
        assert float(held_eager["step"]) == expected_step  # eager: the same dict, updated
        for name, value in held_eager.items():
            assert_close(held[name], value, jnp.float32, **TOL)


# ----------------------------------------------------------------------------- reads between calls
def test_reads_between_steps_equal_eager_after_every_step():
    model, opt, eager, opt_eager = twins(bn=True)
    x, y = data()
    fast = axon.jit(step)
    previous = None
    for k in (1, 2, 3):
        loss = fast(model, opt, x, y)
        loss_eager = step(eager, opt_eager, x, y)
        assert_close(loss, loss_eager, jnp.float32, **TOL)
        # every way of reading the state, each compared with the eager twin
        for p, q in zip(model.parameters(), eager.parameters(), strict=True):
            assert_close(np.asarray(p), q.data, jnp.float32, **TOL)
            assert_close(p.numpy(), q.data, jnp.float32, **TOL)
            assert_close(p.grad, q.grad, jnp.float32, **TOL)
            for name in ("exp_avg", "exp_avg_sq", "step"):
                assert_close(opt.state[p][name], opt_eager.state[q][name], jnp.float32, **TOL)
            assert float(opt.state[p]["step"]) == k
        for attr in ("running_mean", "running_var", "num_batches_tracked"):
            value = getattr(model[2], attr)
            assert isinstance(value, jax.Array), attr
            assert_close(value, getattr(eager[2], attr), jnp.float32, **TOL)
        assert int(model[2].num_batches_tracked) == k
        assert_same(model, opt, eager, opt_eager)
        # and the model did move, so a value left from the step before would show
        weight = model[0].weight.data.copy()
        if previous is not None:
            assert not np.allclose(np.asarray(weight), np.asarray(previous))
        previous = weight
    assert fast.num_compiles == 1


def test_references_held_across_steps_keep_their_values():
    model, opt = make(bn=True)
    x, y = data()
    fast = axon.jit(step)
    w_before = model[0].weight.data  # held before any compiled call
    w_before_copy = w_before.copy()
    losses = [fast(model, opt, x, y)]
    w = model[0].weight.data
    g = model[0].weight.grad
    mean = model[2].running_mean
    state = model.state_dict()
    opt_state = opt.state_dict()
    exp_avg = opt.state[model[0].weight]["exp_avg"]
    copies = {
        "w": w.copy(),
        "g": g.copy(),
        "mean": mean.copy(),
        "exp_avg": exp_avg.copy(),
        **{f"state.{k}": v.copy() for k, v in state.items()},
        **{
            f"opt.{i}.{k}": v.copy()
            for i, entries in opt_state["state"].items()
            for k, v in entries.items()
        },
    }
    for _ in range(3):
        losses.append(fast(model, opt, x, y))
    held = {"w": w, "g": g, "mean": mean, "exp_avg": exp_avg}
    held |= {f"state.{k}": v for k, v in state.items()}
    held |= {
        f"opt.{i}.{k}": v for i, entries in opt_state["state"].items() for k, v in entries.items()
    }
    for key, value in held.items():  # readable, and still the old values
        assert not value.is_deleted(), key
        np.testing.assert_array_equal(np.asarray(value), np.asarray(copies[key]), err_msg=key)
    assert not w_before.is_deleted()
    np.testing.assert_array_equal(np.asarray(w_before), np.asarray(w_before_copy))
    assert all(np.isfinite(float(loss)) for loss in losses)  # every returned loss readable
    # while the model moved on
    assert not np.allclose(np.asarray(model[0].weight.data), np.asarray(copies["w"]))
    assert not np.allclose(np.asarray(model[0].weight.grad), np.asarray(copies["g"]))
    assert not np.allclose(np.asarray(model[2].running_mean), np.asarray(copies["mean"]))
    assert float(opt.state[model[0].weight]["step"]) == 4.0
    assert float(opt_state["state"][0]["step"]) == 1.0


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize(
    "make_opt",
    [optim.Adam, lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9)],
    ids=["adam", "sgd-momentum"],
)
def test_gradients_written_between_accumulating_steps_are_read_by_the_next_step(make_opt):
    model, opt, eager, opt_eager = twins(opt=make_opt)
    x, y = data()
    x2, y2 = data(seed=1)
    fast = axon.jit(accumulating_step)
    for m in (model, eager):  # an eager backward leaves .grads for the first step to add to
        LOSS(m(x2), y2).backward()

    def both():
        loss = fast(model, opt, x, y)
        loss_eager = accumulating_step(eager, opt_eager, x, y)
        assert_close(loss, loss_eager, jnp.float32, **TOL)
        assert_same(model, opt, eager, opt_eager)

    both()
    both()  # adds to the .grads the last compiled step left
    for o in (opt, opt_eager):
        o.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    both()
    for m in (model, eager):
        m[2].bias.grad = jnp.full(3, 0.5, jnp.float32)
        m[0].weight.grad = m[0].weight.grad * 3.0
    np.testing.assert_array_equal(np.asarray(model[2].bias.grad), np.full(3, 0.5))
    both()
    for m in (model, eager):
        nn.utils.clip_grad_norm_(m.parameters(), 0.01)
    both()
    for m in (model, eager):
        m.zero_grad(set_to_none=False)
    assert all(float(jnp.abs(p.grad).max()) == 0.0 for p in model.parameters())
    both()
    for m in (model, eager):
        m[0].bias.grad = None  # one parameter's gradient dropped: backward starts it afresh
    both()


def test_gradient_arithmetic_between_calls_by_hand():
    """A compiled backward that only accumulates: each incoming .grad, however it was set, is
    added to exactly once."""
    w = nn.Parameter(jnp.ones(3))

    @axon.jit
    def backward(w):
        (w * jnp.asarray([1.0, 2.0, 3.0])).sum().backward()

    backward(w)
    np.testing.assert_array_equal(np.asarray(w.grad), [1.0, 2.0, 3.0])
    backward(w)
    np.testing.assert_array_equal(np.asarray(w.grad), [2.0, 4.0, 6.0])
    w.grad = jnp.asarray([10.0, 10.0, 10.0])
    backward(w)
    np.testing.assert_array_equal(np.asarray(w.grad), [11.0, 12.0, 13.0])
    w.grad = w.grad * 0.0
    backward(w)
    np.testing.assert_array_equal(np.asarray(w.grad), [1.0, 2.0, 3.0])
    w.grad = None
    backward(w)
    np.testing.assert_array_equal(np.asarray(w.grad), [1.0, 2.0, 3.0])


# ----------------------------------------------------------------------------- hyper-parameters
def test_learning_rate_and_scheduler_between_steps_equal_eager():
    model, opt, eager, opt_eager = twins()
    x, y = data()
    fast = axon.jit(step)
    scheds = [optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5) for o in (opt, opt_eager)]
    lrs = []
    for k in range(6):
        if k == 3:  # by hand, on top of the scheduler
            for o in (opt, opt_eager):
                o.param_groups[0]["lr"] = 0.03
                o.param_groups[0]["betas"] = (0.5, 0.9)
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
        assert_same(model, opt, eager, opt_eager)
        lrs.append(opt.param_groups[0]["lr"])
        for s in scheds:
            s.step()
    assert lrs == [0.01, 0.01, 0.005, 0.03, 0.015, 0.015]
    assert opt.param_groups[0]["lr"] == opt_eager.param_groups[0]["lr"] == 0.0075
    assert isinstance(opt.param_groups[0]["lr"], float)
    assert fast.num_compiles == 1


def test_a_zero_learning_rate_set_between_steps_freezes_the_next_step():
    model, opt = make()
    x, y = data()
    fast = axon.jit(step)
    fast(model, opt, x, y)
    opt.param_groups[0]["lr"] = 0.0
    before = snapshot(model.state_dict())
    fast(model, opt, x, y)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(before[key]), err_msg=key)
    opt.param_groups[0]["lr"] = 1e-2
    fast(model, opt, x, y)
    assert not np.allclose(np.asarray(model[0].weight.data), np.asarray(before["0.weight"]))
    assert fast.num_compiles == 1


# ----------------------------------------------------------------------------- several callers
def test_two_compiled_functions_and_eager_steps_interleaved_equal_eager():
    model, opt, eager, opt_eager = twins(bn=True)
    x, y = data()
    x2, _ = data(seed=2)
    train = axon.jit(step)
    train2 = axon.jit(penalised_step)
    forward = axon.jit(lambda m, x: m(x))  # training mode: updates BatchNorm's statistics
    for _ in range(2):
        out = train(model, opt, x, y)
        expected = step(eager, opt_eager, x, y)
        assert_close(out, expected, jnp.float32, **TOL)
        assert_same(model, opt, eager, opt_eager)

        out = forward(model, x2)
        expected = eager(x2)
        assert_close(out, expected, jnp.float32, **TOL)
        assert_same(model, opt, eager, opt_eager)

        out = train2(model, opt, x, y)
        expected = penalised_step(eager, opt_eager, x, y)
        assert_close(out, expected, jnp.float32, **TOL)
        assert_same(model, opt, eager, opt_eager)

        step(model, opt, x2, y)  # eager steps on the compiled model
        step(eager, opt_eager, x2, y)
        assert_same(model, opt, eager, opt_eager)
        model(x)
        eager(x)
        penalised_step(model, opt, x, y)
        penalised_step(eager, opt_eager, x, y)
        assert_same(model, opt, eager, opt_eager)
    assert (train.num_compiles, train2.num_compiles, forward.num_compiles) == (1, 1, 1)


# ----------------------------------------------------------------------------- copies
def test_copies_taken_between_steps_hold_the_current_values(tmp_path):
    model, opt, eager, opt_eager, fast, (x, y) = stepped_twins(2, bn=True)
    deep = copy.deepcopy(model)
    pickled, pickled_opt = pickle.loads(pickle.dumps((model, opt)))
    axon.save(model.state_dict(), tmp_path / "model.safetensors")
    assert pickled_opt.param_groups[0]["params"][0] is pickled[0].weight
    expected = snapshot(model.state_dict())
    for copied in (deep, pickled):
        assert_same_model(copied, eager)
    assert_same_optimizer(pickled_opt, opt_eager)
    loaded = axon.load(tmp_path / "model.safetensors")
    assert sorted(loaded) == sorted(expected)  # (safetensors keeps its keys sorted)
    for key, value in loaded.items():
        assert_close(value, expected[key], jnp.float32, **TOL)

    fast(model, opt, x, y)  # the original moves on; the copies do not
    step(eager, opt_eager, x, y)
    fast(model, opt, x, y)
    for copied in (deep, pickled):
        for key, value in copied.state_dict().items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(expected[key]))
    assert float(pickled_opt.state[pickled[0].weight]["step"]) == 2.0

    # the pickled pair trains on from where the original was when it was copied
    fast(pickled, pickled_opt, x, y)
    assert_same_model(pickled, eager, grads=False)
    for p, q in zip(pickled.parameters(), eager.parameters(), strict=True):
        assert_close(pickled_opt.state[p]["exp_avg"], opt_eager.state[q]["exp_avg"], **TOL)
    assert float(pickled_opt.state[pickled[0].weight]["step"]) == 3.0


# ----------------------------------------------------------------------------- buffers
def test_batchnorm_buffers_between_steps_equal_eager():
    # momentum=None: the cumulative average, which also reads num_batches_tracked
    model, opt, eager, opt_eager = twins(bn=True, bn_momentum=None)
    x, y = data()
    fast = axon.jit(step)
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same(model, opt, eager, opt_eager)
    for m in (model, eager):
        m[2].running_mean = jnp.full(8, 3.0, jnp.float32)
        m[2].running_var = m[2].running_var * 2.0
        m[2].num_batches_tracked = jnp.asarray(9, m[2].num_batches_tracked.dtype)
    np.testing.assert_array_equal(np.asarray(model[2].running_mean), np.full(8, 3.0))
    with axon.no_grad():
        batch_mean = np.asarray(model[1](model[0](x)).data).mean(axis=0)
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same(model, opt, eager, opt_eager)
    assert int(model[2].num_batches_tracked) == 10
    # the cumulative average by hand: nine batches at 3.0 (as set), then this one
    hand = (9 * 3.0 + batch_mean) / 10
    np.testing.assert_allclose(np.asarray(model[2].running_mean), hand, rtol=1e-5, atol=1e-6)
    # eval mode reads the running statistics
    for m in (model, eager):
        m.eval()
    assert_close(model(x), eager(x), jnp.float32, **TOL)
    for m in (model, eager):
        m.train()
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same(model, opt, eager, opt_eager)
    assert int(model[2].num_batches_tracked) == 11
    assert fast.num_compiles == 1


# ----------------------------------------------------------------------------- randomness
def test_reseeding_between_steps_reproduces_eager_dropout():
    x, y = data()
    fast = axon.jit(step)
    runs = []
    for fn in (fast, step):  # one global stream: the compiled run first, then the eager one
        model, opt = make(dropout=0.5)
        losses, keys = [], []

        def record(fn=fn, model=model, opt=opt, losses=losses, keys=keys):
            losses.append(float(fn(model, opt, x, y)))
            keys.append(np.asarray(jax.random.key_data(axon.get_rng_state())))

        axon.manual_seed(1)
        record()
        record()
        axon.manual_seed(1)  # the same masks again
        record()
        axon.Tensor.randn([3])  # an eager draw between steps advances the stream
        record()
        saved = axon.get_rng_state()
        record()
        axon.set_rng_state(saved)
        record()
        runs.append((model, opt, losses, keys))
    (model, opt, losses, keys), (eager, opt_eager, losses_eager, keys_eager) = runs
    np.testing.assert_allclose(losses, losses_eager, rtol=1e-5)
    for k, k_eager in zip(keys, keys_eager, strict=True):
        np.testing.assert_array_equal(k, k_eager)
    np.testing.assert_array_equal(keys[0], keys[2])  # reseeding restarts the stream
    np.testing.assert_array_equal(keys[4], keys[5])  # as does restoring a saved state
    assert not np.array_equal(keys[2], keys[3])
    assert_same(model, opt, eager, opt_eager)
    assert fast.num_compiles == 1


# ----------------------------------------------------------------------------- plain jax
def test_jax_transforms_after_compiled_steps_see_the_current_parameters():
    model, opt, eager, opt_eager, fast, (x, y) = stepped_twins(2)
    leaves, leaves_eager = jax.tree.leaves(model), jax.tree.leaves(eager)
    assert len(leaves) == len(leaves_eager) == 4
    for leaf, expected in zip(leaves, leaves_eager, strict=True):
        assert isinstance(leaf, jax.Array), type(leaf)
        assert_close(leaf, expected, jnp.float32, **TOL)
    with axon.no_grad():
        expected = eager(x).data
    out = jax.jit(lambda m, x: m(x).data)(model, x)
    assert_close(out, expected, jnp.float32, **TOL)
    rebuilt = jax.tree.map(lambda a: a + 0.0, model)
    assert_close(rebuilt(x), expected, jnp.float32, **TOL)
    # plain jax changed nothing: the next compiled step still equals eager
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same(model, opt, eager, opt_eager)
    out = jax.jit(lambda m, x: m(x).data)(model, x)
    with axon.no_grad():
        assert_close(out, eager(x).data, jnp.float32, **TOL)
