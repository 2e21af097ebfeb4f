"""axon.jit: the PyTorch-style step compiled whole, state carried in and out."""

from __future__ import annotations

import copy
import importlib
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


def accumulate(model, x, y):
    """A step without zero_grad: backward adds into the .grads that came in."""
    loss = LOSS(model(x), y)
    loss.backward()
    return loss


def make(dropout=0.1, seed=0):
    axon.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.BatchNorm1d(16), nn.Dropout(dropout), nn.Linear(16, 3)
    )
    return model, optim.Adam(model.parameters(), lr=1e-2)


def data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=(n, 6)).astype(np.float32)), jnp.asarray(
        rng.integers(0, 3, n)
    )


def stepped_twins(steps: int):
    """Two equal models (no dropout), one stepped `steps` times through `axon.jit(step)` and one
    eagerly: `(model, opt, eager, opt_eager, fast, (x, y))`."""
    return helpers.stepped_twins(lambda: make(dropout=0.0), data(), steps)


def assert_same_state(a: nn.Module, b: nn.Module, atol=1e-6, rtol=1e-5):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert_close(sa[key], sb[key], jnp.float32, rtol=rtol, atol=atol)


def test_compiled_step_equals_eager_step():
    x, y = data()
    eager_model, eager_opt = make()
    jit_model, jit_opt = make()
    fast = axon.jit(step)
    axon.manual_seed(7)
    eager_losses = [float(step(eager_model, eager_opt, x, y)) for _ in range(6)]
    axon.manual_seed(7)
    jit_losses = [float(fast(jit_model, jit_opt, x, y)) for _ in range(6)]
    np.testing.assert_allclose(jit_losses, eager_losses, rtol=1e-5)
    assert_same_state(eager_model, jit_model)  # parameters and BatchNorm statistics
    for p_eager, p_jit in zip(eager_model.parameters(), jit_model.parameters(), strict=True):
        assert_close(p_jit.grad, p_eager.grad, jnp.float32, rtol=1e-5, atol=1e-6)
    eager_state = eager_opt.state_dict()["state"]
    jit_state = jit_opt.state_dict()["state"]
    for i in eager_state:
        for name in ("exp_avg", "exp_avg_sq"):
            assert_close(
                jit_state[i][name], eager_state[i][name], jnp.float32, rtol=1e-5, atol=1e-7
            )
        assert float(jit_state[i]["step"]) == float(eager_state[i]["step"]) == 6


def test_state_is_concrete_after_the_call():
    model, opt = make()
    x, y = data()
    loss = axon.jit(step)(model, opt, x, y)
    assert isinstance(loss, axon.Variable) and not loss.requires_grad
    for leaf in jax.tree.leaves(model) + [p.grad for p in model.parameters()]:
        assert not isinstance(leaf, jax.core.Tracer)
    assert int(model[2].num_batches_tracked) == 1
    assert not isinstance(axon.get_rng_state(), jax.core.Tracer)


def test_dropout_changes_per_call_and_is_reproducible():
    model, _ = make(dropout=0.5)
    x, _ = data()
    forward = axon.jit(lambda m, x: m(x))
    axon.manual_seed(3)
    first, second = forward(model, x), forward(model, x)
    assert not np.allclose(np.asarray(first), np.asarray(second))
    axon.manual_seed(3)
    np.testing.assert_array_equal(np.asarray(forward(model, x)), np.asarray(first))


def test_recompiles_only_on_structure_or_shape_changes():
    model, opt = make()
    x, y = data()
    fast = axon.jit(step)
    for _ in range(4):
        fast(model, opt, x, y)
    # the first call starts without .grad and optimizer state: one more program for "with"
    warm = fast.num_compiles
    assert warm <= 2
    for _ in range(3):
        fast(model, opt, x, y)
    assert fast.num_compiles == warm
    opt.param_groups[0]["lr"] = 1e-4  # hyper-parameters are inputs, not constants
    fast(model, opt, x, y)
    assert fast.num_compiles == warm
    x2, y2 = data(n=5)
    fast(model, opt, x2, y2)  # a new batch size compiles once
    assert fast.num_compiles == warm + 1
    fast(model, opt, x2, y2)
    assert fast.num_compiles == warm + 1


def test_train_eval_switch_is_a_structure_change():
    model, _ = make()
    x, _ = data()
    forward = axon.jit(lambda m, x: m(x))
    forward(model, x)
    assert forward.num_compiles == 1
    model.eval()
    out_eval = forward(model, x)
    assert forward.num_compiles == 2
    with axon.no_grad():
        np.testing.assert_allclose(np.asarray(out_eval), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    model.train()
    forward(model, x)
    assert forward.num_compiles == 2  # the training program is reused


def test_two_identical_models_share_a_program():
    forward = axon.jit(lambda m, x: m(x))
    x, _ = data()
    a, _ = make(seed=1)
    b, _ = make(seed=2)
    out_a, out_b = forward(a, x), forward(b, x)
    assert forward.num_compiles == 1
    assert not np.allclose(np.asarray(out_a), np.asarray(out_b))


def test_learning_rate_change_takes_effect():
    x, y = data()
    a, opt_a = make(dropout=0.0)
    b, opt_b = make(dropout=0.0)
    fast = axon.jit(step)
    opt_a.param_groups[0]["lr"] = 0.0
    fast(a, opt_a, x, y)
    for p, p0 in zip(a.parameters(), make(dropout=0.0)[0].parameters(), strict=True):
        np.testing.assert_array_equal(np.asarray(p.data), np.asarray(p0.data))  # lr 0: unchanged
    fast(b, opt_b, x, y)
    assert not np.allclose(np.asarray(a[0].weight.data), np.asarray(b[0].weight.data))
    assert isinstance(opt_a.param_groups[0]["lr"], float)  # untouched Python value


def test_a_learning_rate_changed_in_place_between_steps_takes_effect():
    """The kept inputs are converted again only when a value is a new object; an array changed
    in place is the same object, and its new contents must still reach the step."""
    x, y = data()
    model, opt = make(dropout=0.0)
    lr = np.array(1e-2, np.float32)
    opt.param_groups[0]["lr"] = lr
    fast = axon.jit(step)
    fast(model, opt, x, y)
    lr[...] = 0.0
    before = [p.data.copy() for p in model.parameters()]
    fast(model, opt, x, y)
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(np.asarray(p.data), np.asarray(b))
    assert fast.num_compiles == 1


def test_references_you_hold_survive_donation():
    model, opt = make()
    x, y = data()
    kept = model.state_dict()
    # Snapshots are jax copies: np.asarray would pin the buffer (no donation, nothing tested).
    before = {k: v.copy() for k, v in kept.items()}
    twin = copy.deepcopy(model)
    twin.load_state_dict(kept)
    axon.jit(step)(model, opt, x, y)
    for key, value in kept.items():  # still readable, still the old values
        assert not value.is_deleted(), key
        np.testing.assert_array_equal(np.asarray(value), np.asarray(before[key]))
    np.testing.assert_array_equal(np.asarray(twin[0].weight.data), np.asarray(before["0.weight"]))


def test_optimizer_state_you_hold_survives_donation():
    model, opt = make()
    x, y = data()
    fast = axon.jit(step)
    fast(model, opt, x, y)
    kept = opt.state_dict()["state"]
    before = {(i, k): v.copy() for i, s in kept.items() for k, v in s.items()}  # not np: pins
    fast(model, opt, x, y)
    fast(model, opt, x, y)
    for (i, k), value in before.items():  # still readable, still the old values
        assert not kept[i][k].is_deleted(), (i, k)
        np.testing.assert_array_equal(np.asarray(kept[i][k]), np.asarray(value))
    assert float(opt.state_dict()["state"][0]["step"]) == 3.0


@pytest.mark.parametrize("make_opt", [optim.Adam, optim.SGD], ids=["adam-shared", "sgd"])
def test_state_held_only_by_its_slots_is_donated_not_copied(monkeypatch, make_opt):
    """Steady state copies nothing: every array goes to XLA as donated. (Adam's group-shared
    step count makes the flat state hold one array twice, a separate counting path.)"""
    jit_module = importlib.import_module("axon.transforms.jit")
    model, _ = make(dropout=0.0)
    opt = make_opt(model.parameters(), lr=1e-2)
    x, y = data()
    fast = axon.jit(step)
    fast(model, opt, x, y)
    copied = []
    real = jit_module._copy_held

    def counting(unique, *rest):
        before = list(map(id, unique))  # ids: a list of the arrays would itself hold them
        real(unique, *rest)
        copied.append(sum(a != id(b) for a, b in zip(before, unique, strict=True)))

    monkeypatch.setattr(jit_module, "_copy_held", counting)
    for _ in range(3):
        fast(model, opt, x, y)
    assert sum(copied) == 0  # (a steady call skips _copy_held when the counts are as expected)
    held = model[0].weight.data  # now something else holds it: exactly that one is copied
    fast(model, opt, x, y)
    assert copied and copied[-1] == 1 and not held.is_deleted()


def test_step_counts_of_a_group_are_one_array_across_the_boundary():
    model, opt, eager, opt_eager, fast, (x, y) = stepped_twins(3)
    for o in (opt, opt_eager):
        steps = (
            [o.state[p]["step"] for p in model.parameters()]
            if o is opt
            else [o.state[p]["step"] for p in eager.parameters()]
        )
        assert all(s is steps[0] for s in steps)  # shared, not merely equal
        assert float(steps[0]) == 3.0
    assert_same_state(model, eager)
    assert fast.num_compiles == 1


def test_a_parameter_that_skips_a_step_keeps_its_own_count():
    w, v = nn.Parameter(jnp.ones(3)), nn.Parameter(jnp.ones(3))
    opt = optim.Adam([w, v], lr=0.1)

    def only_w(w, v, opt):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    def both(w, v, opt):
        opt.zero_grad()
        (w * w + v * v).sum().backward()
        opt.step()

    axon.jit(both)(w, v, opt)
    axon.jit(only_w)(w, v, opt)
    axon.jit(both)(w, v, opt)
    assert float(opt.state[w]["step"]) == 3.0
    assert float(opt.state[v]["step"]) == 2.0
    eager_w, eager_v = nn.Parameter(jnp.ones(3)), nn.Parameter(jnp.ones(3))
    eager = optim.Adam([eager_w, eager_v], lr=0.1)
    for fn in (both, only_w, both):
        fn(eager_w, eager_v, eager)
    assert_close(w.data, eager_w.data, jnp.float32)
    assert_close(v.data, eager_v.data, jnp.float32)


def test_small_gradients_come_back_packed_and_read_like_arrays():
    """Small models get their new .grads back as one buffer per dtype (fewer results per call);
    reading them, anywhere, gives the same arrays an eager step leaves."""
    model, opt, eager, opt_eager, fast, (x, y) = stepped_twins(2)
    twin = copy.deepcopy(model)
    inside = jax.jit(lambda: model[4].weight.grad * 1.0)()  # first read inside another trace
    assert_close(inside, eager[4].weight.grad, jnp.float32)
    for a, b, c in zip(model.parameters(), eager.parameters(), twin.parameters(), strict=True):
        assert isinstance(a.grad, jax.Array) and a.grad.shape == a.shape
        assert_close(a.grad, b.grad, jnp.float32)
        assert_close(c.grad, b.grad, jnp.float32)
    assert isinstance(model[4].weight.grad, jax.Array)  # concrete, not a leaked tracer


def test_packed_gradients_of_several_dtypes_and_accumulation():
    a = axon.Variable(jnp.arange(3.0), requires_grad=True)
    b = axon.Variable(jnp.arange(4.0).astype(jnp.bfloat16), requires_grad=True)
    c = axon.Variable(jnp.ones((2, 2)), requires_grad=True)

    @axon.jit
    def accumulate(a, b, c):  # no zero_grad: each call adds to the .grads the last one left
        loss = (a * a).sum() + (b.astype(jnp.float32) * 3).sum() + (c * 2).sum()
        loss.backward()

    for calls in (1, 2, 3):
        accumulate(a, b, c)
        np.testing.assert_allclose(np.asarray(a.grad), calls * 2 * np.arange(3.0))
        assert b.grad.dtype == jnp.bfloat16
        np.testing.assert_allclose(np.asarray(b.grad, np.float32), np.full(4, 3.0 * calls))
        np.testing.assert_allclose(np.asarray(c.grad), np.full((2, 2), 2.0 * calls))
    big = axon.Variable(jnp.ones(40000), requires_grad=True)  # over the packing limit
    small = axon.Variable(jnp.ones(3), requires_grad=True)

    @axon.jit
    def both(big, small):
        big.grad = None
        small.grad = None
        ((big * 2).sum() + (small * 3).sum()).backward()

    both(big, small)
    np.testing.assert_array_equal(np.asarray(big.grad), np.full(40000, 2.0))
    np.testing.assert_array_equal(np.asarray(small.grad), np.full(3, 3.0))


def test_state_replaced_between_compiled_steps_is_picked_up():
    """A steady-state call reuses what it knows about the arrays it wrote back last time; state
    replaced in between (a parameter, or one Adam step count no longer shared) must be seen."""
    model, opt, eager, opt_eager, fast, (x, y) = stepped_twins(2)
    for m, o in ((model, opt), (eager, opt_eager)):
        m[0].weight.data = m[0].weight.data * 0.5
        first = m.parameters()[0]
        o.state[first]["step"] = o.state[first]["step"] + 0.0  # equal, no longer shared
    for _ in range(3):
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
    assert_same_state(model, eager)
    for p_fast, p_eager in zip(model.parameters(), eager.parameters(), strict=True):
        assert float(opt.state[p_fast]["step"]) == float(opt_eager.state[p_eager]["step"]) == 5.0
        assert_close(opt.state[p_fast]["exp_avg"], opt_eager.state[p_eager]["exp_avg"], jnp.float32)


def test_positional_calls_with_new_argument_kinds():
    """Positional calls are split by argument types; a number, a numpy array or a keyword in
    the same position is a different split and must still work."""
    model = nn.Linear(3, 2)
    f = axon.jit(lambda m, x: m(x).sum())
    x = jnp.ones((4, 3))
    expected = float(model(x).sum())
    assert float(f(model, x)) == pytest.approx(expected)
    assert float(f(model, np.ones((4, 3), np.float32))) == pytest.approx(expected)
    assert float(f(model, x=x)) == pytest.approx(expected)
    assert float(f(model, [x][0])) == pytest.approx(expected)
    g = axon.jit(lambda m, x, s: (m(x) * s).sum())
    assert float(g(model, x, 2.0)) == pytest.approx(2 * expected)
    assert float(g(model, x, 3)) == pytest.approx(3 * expected)


def test_loaded_equal_step_counts_are_shared():
    model, opt = make(dropout=0.0)
    x, y = data()
    step(model, opt, x, y)
    saved = opt.state_dict()
    saved = {
        "state": {i: {k: np.asarray(v) for k, v in s.items()} for i, s in saved["state"].items()},
        "param_groups": saved["param_groups"],
    }
    fresh, opt2 = make(dropout=0.0)
    opt2.load_state_dict(saved)
    steps = [opt2.state[p]["step"] for p in fresh.parameters()]
    assert all(s is steps[0] for s in steps)


def test_variables_arrays_and_static_arguments():
    v = axon.Variable(jnp.arange(3.0), requires_grad=True)

    @axon.jit
    def f(v, scale, mode):
        loss = (v * scale).sum() if mode == "sum" else (v * scale).mean()
        loss.backward()
        return loss

    assert float(f(v, 2.0, "sum")) == 6.0
    np.testing.assert_allclose(np.asarray(v.grad), [2.0, 2.0, 2.0])
    f(v, 3.0, "sum")  # a new Python number is traced, not compiled in
    np.testing.assert_allclose(np.asarray(v.grad), [5.0, 5.0, 5.0])  # accumulates like eager
    n = f.num_compiles
    f(v, 4.0, "sum")
    assert f.num_compiles == n
    f(v, 4.0, "mean")
    assert f.num_compiles == n + 1


def test_static_argnums():
    scaled = axon.jit(lambda x, n: x * n if n > 1 else x, static_argnums=1)
    assert float(scaled(jnp.ones(()), 3)) == 3.0
    assert float(scaled(jnp.ones(()), 1)) == 1.0


def test_python_branch_on_a_traced_value_is_a_clear_error():
    scaled = axon.jit(lambda x, n: x * n if n > 1 else x)
    with pytest.raises(
        TypeError, match=r"axon\.jit\(<lambda>\): Python control flow .* static_argnums"
    ):
        scaled(jnp.ones(()), 3)


def test_new_attribute_inside_is_a_clear_error():
    model, _ = make()
    x, _ = data()

    def remember(m, x):
        out = m(x)
        m[0].last_output = out
        return out

    with pytest.raises(
        TypeError, match=r"axon\.nn\.Linear \(0\) gained a new attribute 'last_output'"
    ):
        axon.jit(remember)(model, x)
    assert "last_output" not in model[0].__dict__  # nothing leaked


def test_value_and_grad_equals_backward():
    model, _ = make(dropout=0.0)
    twin = copy.deepcopy(model)
    x, y = data()

    def loss_of(m, x, y):
        return LOSS(m(x), y)

    loss, grads = axon.value_and_grad(loss_of)(model, x, y)
    twin.zero_grad()
    expected = loss_of(twin, x, y)
    expected.backward()
    assert_close(loss, expected, jnp.float32)
    assert list(grads) == list(twin.named_parameters())
    for name, p in twin.named_parameters().items():
        assert_close(grads[name], p.grad, jnp.float32, rtol=1e-5, atol=1e-6)
        assert_close(model.named_parameters()[name].grad, p.grad, jnp.float32, rtol=1e-5, atol=1e-6)
    assert_same_state(model, twin)  # BatchNorm statistics were updated once, as in eager mode


def test_value_and_grad_inside_jit_with_opt_step_of_grads():
    x, y = data()
    a, opt_a = make(dropout=0.0)
    b, opt_b = make(dropout=0.0)

    @axon.jit
    def functional_step(model, opt, x, y):
        loss, grads = axon.value_and_grad(lambda m: LOSS(m(x), y))(model)
        opt.step(grads)
        return loss

    for _ in range(3):
        functional_step(a, opt_a, x, y)
        step(b, opt_b, x, y)
    assert_same_state(a, b, atol=1e-5)


def test_grad_has_aux_and_errors():
    model = nn.Linear(3, 2)
    x = jnp.ones((4, 3))
    grads, aux = axon.grad(lambda m: (m(x).sum(), {"n": 4}), has_aux=True)(model)
    assert set(grads) == {"weight", "bias"} and aux == {"n": 4}
    np.testing.assert_allclose(np.asarray(grads["bias"]), [4.0, 4.0])
    with pytest.raises(ValueError, match=r"must return a scalar loss"):
        axon.grad(lambda m: m(x))(model)
    with pytest.raises(TypeError, match=r"argument 0 must be a Module, a Variable"):
        axon.grad(lambda a: a.sum())(jnp.ones(3))


def test_gradients_outside_survive_a_step_that_does_not_touch_them():
    model, _ = make(dropout=0.0)
    x, y = data()
    LOSS(model(x), y).backward()
    before = {k: np.asarray(p.grad) for k, p in model.named_parameters().items()}
    forward = axon.jit(lambda m, x: m(x))
    forward(model, x)
    forward(model, x)
    for k, p in model.named_parameters().items():
        np.testing.assert_array_equal(np.asarray(p.grad), before[k])


def test_zero_grad_inside_clears_gradients_outside():
    model, _ = make(dropout=0.0)
    x, y = data()
    LOSS(model(x), y).backward()
    clear = axon.jit(lambda m: m.zero_grad())
    clear(model)
    assert all(p.grad is None for p in model.parameters())


def test_accumulating_step_reads_incoming_gradients():
    """Without zero_grad, backward accumulates into the .grads that came in, as in eager mode."""
    x, y = data()
    a, _ = make(dropout=0.0)
    b = copy.deepcopy(a)

    fast = axon.jit(accumulate)
    for _ in range(3):
        fast(a, x, y)
        accumulate(b, x, y)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert_close(pa.grad, pb.grad, jnp.float32, rtol=1e-5, atol=1e-6)


def test_the_four_line_step_compiles_once():
    model, opt = make()
    x, y = data()
    fast = axon.jit(step)
    for _ in range(3):
        fast(model, opt, x, y)
    assert fast.num_compiles == 1


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: optim.AdamW(ps, lr=1e-2),
        lambda ps: optim.SGD(ps, lr=1e-2, momentum=0.9),
        lambda ps: optim.RMSprop(ps, lr=1e-3, momentum=0.5),
    ],
    ids=["adamw-betas", "sgd-momentum", "rmsprop-momentum"],
)
def test_schedulers_between_compiled_steps_equal_eager(make_opt):
    """OneCycleLR changes lr and momentum/beta1 every step: all of it reaches the program."""
    x, y = data()
    runs = []
    for compiled in (False, True):
        model, _ = make(dropout=0.0)
        opt = make_opt(model.parameters())
        sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=8)
        fn = axon.jit(step) if compiled else step
        for _ in range(6):
            fn(model, opt, x, y)
            sched.step()
        runs.append((model, fn))
    # float32 roundoff of fused vs per-op kernels, grown by RMSprop's 1/sqrt(v) over 6 steps
    assert_same_state(runs[0][0], runs[1][0], atol=1e-4, rtol=1e-4)
    assert runs[1][1].num_compiles == 1


def test_changing_a_fixed_setting_recompiles():
    model, _ = make(dropout=0.0)
    opt = optim.SGD(model.parameters(), lr=1e-2, momentum=0.0)
    x, y = data()
    fast = axon.jit(step)
    fast(model, opt, x, y)
    fast(model, opt, x, y)
    assert fast.num_compiles == 1
    opt.param_groups[0]["momentum"] = 0.9  # zero momentum keeps no buffer: a new program
    fast(model, opt, x, y)
    assert fast.num_compiles == 2
    assert "momentum_buffer" in opt.state_dict()["state"][0]


def test_step_compiles_once_even_when_grads_exist_before_the_first_call():
    model, opt = make()
    x, y = data()
    LOSS(model(x), y).backward()  # an eager backward left .grads behind
    fast = axon.jit(step)
    for _ in range(3):
        fast(model, opt, x, y)
    assert fast.num_compiles == 1


def test_accumulating_step_gets_gradients_that_existed_before_the_first_call():
    x, y = data()
    a, _ = make(dropout=0.0)
    b = copy.deepcopy(a)
    for m in (a, b):
        LOSS(m(x), y).backward()  # both start with the same .grads

    fast = axon.jit(accumulate)
    for _ in range(2):
        fast(a, x, y)
        accumulate(b, x, y)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert_close(pa.grad, pb.grad, jnp.float32, rtol=1e-5, atol=1e-6)
    assert fast.num_compiles == 1  # the first trace, given no gradients, was redone with them


def test_nested_arguments():
    """Modules, optimizers and arrays inside lists, tuples and dicts are found and carried."""
    x, y = data()
    a, opt_a = make(dropout=0.0)
    b, opt_b = make(dropout=0.0, seed=1)
    twins = [copy.deepcopy(m) for m in (a, b)]
    twin_opts = [optim.Adam(m.parameters(), lr=1e-2) for m in twins]

    @axon.jit
    def both(pairs, batch):
        losses = [step(m, o, batch["x"], batch["y"]) for m, o in pairs]
        return {"total": losses[0] + losses[1]}

    out = both([(a, opt_a), (b, opt_b)], {"x": x, "y": y})
    expected = sum(float(step(m, o, x, y)) for m, o in zip(twins, twin_opts, strict=True))
    np.testing.assert_allclose(float(out["total"]), expected, rtol=1e-5)
    assert_same_state(a, twins[0])
    assert_same_state(b, twins[1])


def test_value_and_grad_inside_jit_traces_inline():
    model = nn.Linear(3, 1)
    x = jnp.ones((2, 3))
    loss_and_grads = axon.value_and_grad(lambda m: m(x).sum())
    outer = axon.jit(lambda m: loss_and_grads(m)[0])
    outer(model)
    assert outer.num_compiles == 1
    assert loss_and_grads.compiled.num_compiles == 0  # no nested axon.jit of its own


def test_a_second_optimizer_through_a_compiled_step_lists_its_state():
    x, y = data()
    fast = axon.jit(step)
    a, opt_a = make(dropout=0.0)
    fast(a, opt_a, x, y)
    b, opt_b = make(dropout=0.0)  # same structure: the cached program runs, nothing is traced
    fast(b, opt_b, x, y)
    assert fast.num_compiles == 1
    assert sorted(opt_b.state_dict()["state"]) == sorted(opt_a.state_dict()["state"])
    assert len(opt_b.state_dict()["state"]) == len(b.parameters())


# ----------------------------------------------------------------------------- the state cell
def plain(seed=0):
    """A model without buffers or dropout, and its Adam: the steady-state path applies."""
    axon.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    return model, optim.Adam(model.parameters(), lr=1e-2)


def test_after_a_call_the_slots_hold_handles_into_one_cell():
    variable = importlib.import_module("axon.autograd.variable")
    model, opt = plain()
    fast = axon.jit(step)
    x, y = data()
    for _ in range(2):
        fast(model, opt, x, y)
    held = [p._data for p in model.parameters()]
    assert all(type(h) is variable.Held for h in held)
    cell = held[0].cell
    assert all(h.cell is cell for h in held) and not cell.dirty
    assert type(opt._state_value) is variable.HeldTree and opt._state_value.cell is cell
    assert fast._steady is not None  # the next call takes the short way
    model[0].weight.data = model[0].weight.data * 1.0  # any other write marks the cell dirty
    assert cell.dirty


def _edit_groups(edit: str, opt, k: int) -> None:
    """One way to change an optimizer's param groups between steps (at step 1, some again
    later), done alike to the compiled twin and the eager one."""
    group = opt.param_groups[0]
    if edit == "set lr":
        group["lr"] = 0.05 / (k + 1)
    elif edit == "update betas" and k == 1:
        group.update(betas=(0.8, 0.99), eps=1e-6)
    elif edit == "swap a parameter" and k == 1:  # the same length: model[0].weight stops
        axon.manual_seed(7)
        group["params"][0] = nn.Parameter(jnp.ones((16, 6)))
    elif edit == "new params list" and k == 1:
        group["params"] = [nn.Parameter(jnp.ones((16, 6)))] + list(group["params"][1:])
    elif edit == "new plain groups":  # plain dicts, unwatched: still seen at every step
        if k == 1:
            opt.param_groups = [dict(g, lr=0.03) for g in opt.param_groups]
        elif k == 2:
            group["lr"] = 0.001


GROUP_EDITS = ["set lr", "update betas", "swap a parameter", "new params list", "new plain groups"]


@pytest.mark.parametrize(
    "between",
    ["nothing", "write data", "read optimizer state", "set grad", "load state dict", *GROUP_EDITS],
)
def test_steady_steps_equal_eager_whatever_happens_between_them(between):
    """Steady steps take the short way while nothing changed; every kind of change between
    them is seen, param-group edits included (the groups note their changes, plain dicts are
    checked on every call)."""
    (model, opt), (eager, opt_eager) = plain(), plain()
    fast = axon.jit(step)
    x, y = data()
    saved = [None, None]
    for k in range(4):
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
        if k == 1:
            saved = [copy.deepcopy(m.state_dict()) for m in (model, eager)]
        for m, o in ((model, opt), (eager, opt_eager)):
            w = m[2].weight
            if between == "write data":
                w.data = w.data * 0.5
            elif between == "read optimizer state":
                assert float(o.state[w]["step"]) == k + 1
            elif between == "set grad":
                w.grad = None
            elif between == "load state dict" and k == 2:
                m.load_state_dict(saved[0] if m is model else saved[1])
            elif between in GROUP_EDITS:
                _edit_groups(between, o, k)
    assert_same_state(model, eager)
    params = zip(opt.param_groups[0]["params"], opt_eager.param_groups[0]["params"], strict=True)
    for p, q in params:
        assert_close(p.data, q.data, jnp.float32)
        assert_close(opt.state[p]["exp_avg"], opt_eager.state[q]["exp_avg"], jnp.float32)
    # Other Parameters are a new program, whose first step changes the state's layout: one more.
    assert fast.num_compiles == (3 if between in ("swap a parameter", "new params list") else 1)


def test_steady_steps_check_the_groups_only_after_they_change(monkeypatch):
    jit_module = importlib.import_module("axon.transforms.jit")
    checks_hold, calls = jit_module.checks_hold, []

    def counting(checks):
        calls.append(len(checks))
        return checks_hold(checks)

    monkeypatch.setattr(jit_module, "checks_hold", counting)
    model, opt = plain()
    fast = axon.jit(step)
    x, y = data()
    for _ in range(3):
        fast(model, opt, x, y)
    before = len(calls)
    for _ in range(3):
        fast(model, opt, x, y)
    assert len(calls) == before  # nothing changed: no checks
    opt.param_groups[0]["lr"] = 1e-3
    fast(model, opt, x, y)
    fast(model, opt, x, y)
    assert len(calls) == before + 1  # checked once after the change, then not again
    opt.param_groups = list(opt.param_groups)  # a plain list: checked on every call
    fast(model, opt, x, y)
    fast(model, opt, x, y)
    assert len(calls) >= before + 3
    assert fast.num_compiles == 1


def test_one_compiled_step_alternating_between_two_models():
    (a, opt_a), (b, opt_b) = plain(0), plain(1)
    (a_eager, opt_a_eager), (b_eager, opt_b_eager) = plain(0), plain(1)
    fast = axon.jit(step)
    x, y = data()
    for _ in range(3):
        fast(a, opt_a, x, y)
        fast(b, opt_b, x, y)
        step(a_eager, opt_a_eager, x, y)
        step(b_eager, opt_b_eager, x, y)
    assert_same_state(a, a_eager)
    assert_same_state(b, b_eager)
    assert fast.num_compiles == 1


def test_an_error_inside_a_steady_step_leaves_the_state_usable():
    (model, opt), (eager, opt_eager) = plain(), plain()
    fast = axon.jit(step)
    x, y = data()
    for _ in range(2):
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
    with pytest.raises(ValueError, match="Linear"):
        fast(model, opt, x[:, :4], y)  # a new shape traces again, and the trace fails
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    assert_same_state(model, eager)


@pytest.mark.parametrize(
    "result",
    ["variable", "array", "dict", "tuple", "none"],
)
def test_results_keep_their_structure_and_variables_come_back_without_grad(result):
    model, opt = plain()
    x, y = data()

    def fn(model, opt, x, y):
        loss = step(model, opt, x, y)
        return {
            "variable": loss,
            "array": loss.data * 2.0,
            "dict": {"loss": loss, "twice": loss.data * 2.0},
            "tuple": (loss, loss.data * 2.0),
            "none": None,
        }[result]

    fast, (eager, opt_eager) = axon.jit(fn), plain()
    for _ in range(2):  # the second call takes the steady path
        out = fast(model, opt, x, y)
        expected = np.float32(step(eager, opt_eager, x, y).data)
    if result == "none":
        assert out is None
        return
    loss, twice = {
        "variable": (out, None),
        "array": (None, out),
        "dict": (out["loss"], out["twice"]) if isinstance(out, dict) else (None, None),
        "tuple": out if isinstance(out, tuple) else (None, None),
    }[result]
    if loss is not None:
        assert type(loss) is axon.Variable and not loss.requires_grad
        assert_close(loss.data, expected, jnp.float32)
    if twice is not None:
        assert isinstance(twice, jax.Array)
        assert_close(twice, 2.0 * expected, jnp.float32)
    if result in ("dict", "tuple"):
        assert loss is not None and twice is not None


def test_switching_between_compiled_functions_copies_nothing(monkeypatch):
    """A second compiled function on the same objects takes their state over from the first's
    cell without copying it (the cell is emptied first, so only the slots hold the arrays)."""
    jit_module = importlib.import_module("axon.transforms.jit")
    model, opt = plain()
    eager, opt_eager = plain()
    x, y = data()
    train, train_again = axon.jit(step), axon.jit(step)
    copied = []
    real = jit_module._copy_held

    def counting(unique, *rest):
        before = list(map(id, unique))
        real(unique, *rest)
        copied.append(sum(a != id(b) for a, b in zip(before, unique, strict=True)))

    monkeypatch.setattr(jit_module, "_copy_held", counting)
    for fast in (train, train, train_again, train_again, train, train_again):
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
    assert sum(copied) == 0
    assert_same_state(model, eager)


def test_a_value_read_between_steady_steps_is_not_donated():
    """Reading through a handle marks the cell as lent, so the next steady call checks the
    reference counts and copies what the reader still holds instead of donating it."""
    model, opt = plain()
    fast = axon.jit(step)
    x, y = data()
    for _ in range(2):
        fast(model, opt, x, y)
    kept = model[0].weight.data
    before = np.asarray(kept).copy()
    fast(model, opt, x, y)
    assert not kept.is_deleted()
    np.testing.assert_array_equal(np.asarray(kept), before)
    assert not np.array_equal(np.asarray(model[0].weight.data), before)  # the model moved on


@pytest.mark.parametrize("size", [1, 3])
def test_a_new_variable_argument_is_not_taken_for_the_last_one(size):
    """Variables compare elementwise with ==; the steady path must compare arguments by
    identity, or an equal Variable would be stepped through the previous one's state."""

    def increment(v):
        v.data = v.data + 1.0

    fast = axon.jit(increment)
    first, second = axon.Variable(jnp.ones(size)), axon.Variable(jnp.ones(size))
    fast(first)
    fast(first)
    fast(second)
    np.testing.assert_array_equal(np.asarray(first.data), np.full(size, 3.0))
    np.testing.assert_array_equal(np.asarray(second.data), np.full(size, 2.0))


# ------------------------------------------------------------------- the shortest way
def test_a_settled_step_takes_the_shortest_way(monkeypatch):
    """Once a call settles, the next ones check only their arguments and the change counter:
    no write-back beyond the cell's values (`_finish`), no kept inputs worked out again. Any
    change sends one call the longer way, after which the calls settle again."""
    jit_module = importlib.import_module("axon.transforms.jit")
    longer = []
    finish, kept_inputs = jit_module._Jit._finish, jit_module._kept_inputs

    def counting_finish(self, *args):
        longer.append("finish")
        return finish(self, *args)

    def counting_kept(entry):
        longer.append("kept")
        return kept_inputs(entry)

    monkeypatch.setattr(jit_module._Jit, "_finish", counting_finish)
    monkeypatch.setattr(jit_module, "_kept_inputs", counting_kept)
    (model, opt), (eager, opt_eager) = plain(), plain()
    fast = axon.jit(step)
    x, y = data()
    for k in range(8):
        if k == 2:
            longer.clear()
        if k == 5:
            assert longer == []  # three settled steps took the shortest way
            _ = model[0].weight.data  # lent: the next call checks before donating
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
        if k == 5:
            assert "finish" in longer and "kept" in longer
            longer.clear()
    assert longer == []  # settled again
    assert_same_state(model, eager)
    assert fast.num_compiles == 1


def _lend(model, opt):
    _ = model[0].weight.data


def _write(model, opt):
    model[0].weight.data = model[0].weight.data + 0.0


def _read_state(model, opt):
    _ = opt.state[model[0].weight]["exp_avg"]


def _clear_a_grad(model, opt):
    model[0].weight.grad = None


def _draw(model, opt):
    axon.Tensor.randn([2])


def _restore_rng(model, opt):
    axon.set_rng_state(axon.get_rng_state())


CHANGES = {
    "lend a value": _lend,
    "write a value": _write,
    "read optimizer state": _read_state,
    "clear a packed grad": _clear_a_grad,
    "reseed": lambda model, opt: axon.manual_seed(3),
    "draw random numbers": _draw,
    "restore the stream": _restore_rng,
    "set lr": lambda model, opt: opt.param_groups[0].__setitem__("lr", 1e-3),
    "eval mode": lambda model, opt: model.eval(),
    "stop a gradient": lambda model, opt: model[0].bias.requires_grad_(False),
}


@pytest.mark.parametrize("change", CHANGES)
def test_every_change_a_settled_step_relies_on_is_counted(change):
    """The shortest way trusts `_structure.changes` for everything but the arguments: each
    change that would make it wrong moves the counter, and the steps still equal eager ones."""
    structure = importlib.import_module("axon._structure")
    (model, opt), (eager, opt_eager) = plain(), plain()
    fast = axon.jit(step)
    x, y = data()
    for k in range(4):
        before = structure.changes
        if k == 2:
            for m, o in ((model, opt), (eager, opt_eager)):
                CHANGES[change](m, o)
            assert structure.changes != before
        fast(model, opt, x, y)
        step(eager, opt_eager, x, y)
    assert_same_state(model, eager)


def test_a_settled_step_traces_again_for_a_new_shape():
    """A new batch size on the shortest way traces again (the arguments are rebuilt from the
    steady description), and the step still equals the eager one."""
    (model, opt), (eager, opt_eager) = plain(), plain()
    fast = axon.jit(step)
    for n in (12, 12, 12, 5, 5, 12):
        x, y = data(n)
        loss = fast(model, opt, x, y)
        expected = step(eager, opt_eager, x, y)
        assert_close(loss.data, expected.data, jnp.float32)
    assert_same_state(model, eager)
    assert fast.num_compiles == 2


def test_the_argument_matcher():
    jit_module = importlib.import_module("axon.transforms.jit")
    model, opt = plain()
    x, y = data()
    match = jit_module._matcher((model, opt, x, y), frozenset({0, 1}))
    other, _ = plain()
    arrays = match((model, opt, y, x))
    assert arrays is not None and arrays[0] is y and arrays[1] is x
    assert match((other, opt, x, y)) is None  # another model
    assert match((model, opt, np.asarray(x), y)) is None  # another kind of array
    assert match((model, opt, x)) is None  # fewer arguments
    assert match((model, opt, x, y, y)) is None


def test_copies_and_pickles_of_a_compiled_step_compile_afresh():
    fast = axon.jit(step, donate=False)
    (model, opt), (eager, opt_eager) = plain(), plain()
    x, y = data()
    fast(model, opt, x, y)
    step(eager, opt_eager, x, y)
    for other in (copy.copy(fast), copy.deepcopy(fast), pickle.loads(pickle.dumps(fast))):
        assert isinstance(other, axon.transforms.CompiledFunction) and other is not fast
        assert other.num_compiles == 0 and other.fn is step and other.donate is False
        other(model, opt, x, y)
        step(eager, opt_eager, x, y)
        assert other.num_compiles == 1
    assert_same_state(model, eager)
    assert repr(fast) == "axon.jit(train_step)" and fast.__name__ == "train_step"


def _eager_step(model, opt):
    step(model, opt, *data(seed=1))


MIXED_EVENTS = [
    *CHANGES.values(),
    lambda model, opt: model.train(),
    lambda model, opt: model[0].bias.requires_grad_(True),
    _eager_step,
]


def with_dropout(batchnorm: bool):
    """A model with dropout, and its Adam. Without BatchNorm its steps settle; BatchNorm's
    running statistics are plain arrays, which anyone may read unnoticed, so steps of a model
    with them always check reference counts before donating and never take the shortest way."""
    axon.manual_seed(0)
    norm = [nn.BatchNorm1d(16)] if batchnorm else []
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), *norm, nn.Dropout(0.2), nn.Linear(16, 3))
    return model, optim.Adam(model.parameters(), lr=1e-2)


@pytest.mark.parametrize("batchnorm", [False, True], ids=["dropout", "batchnorm"])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_interleavings_of_changes_and_compiled_steps_equal_eager(seed, batchnorm):
    """Compiled steps with random runs of the changes above between them (several in a row,
    or none for a while, so that calls settle and unsettle in every order), with dropout: the
    model, its gradients and the optimizer state equal an eager twin's at the end."""
    rng = np.random.default_rng(seed)
    (model, opt), (eager, opt_eager) = with_dropout(batchnorm), with_dropout(batchnorm)
    fast = axon.jit(step)
    x, y = data()
    axon.manual_seed(11)
    for _ in range(24):
        picks = rng.choice(len(MIXED_EVENTS), size=rng.integers(0, 3), replace=False)
        for k in picks:
            state = axon.get_rng_state()
            for m, o in ((model, opt), (eager, opt_eager)):
                axon.set_rng_state(state)  # both twins draw the same numbers
                MIXED_EVENTS[k](m, o)
        state = axon.get_rng_state()
        loss = fast(model, opt, x, y)
        after = axon.get_rng_state()
        axon.set_rng_state(state)
        expected = step(eager, opt_eager, x, y)
        np.testing.assert_array_equal(
            jax.random.key_data(axon.get_rng_state()), jax.random.key_data(after)
        )
        assert_close(loss.data, expected.data, jnp.float32, rtol=1e-5, atol=1e-6)
    assert_same_state(model, eager)
    for p, q in zip(model.parameters(), eager.parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            assert_close(p.grad, q.grad, jnp.float32, rtol=1e-5, atol=1e-6)
            assert_close(opt.state[p]["exp_avg"], opt_eager.state[q]["exp_avg"], jnp.float32)
