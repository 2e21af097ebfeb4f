"""The tape: accumulation, graph shapes, errors, no_grad, detach, and backward under `jax.jit`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import DTYPE_IDS, DTYPES, assert_close, x64

import axon
from axon import Variable
from axon import functional as F
from axon.autograd import op


def leaf(values, dtype=jnp.float32):
    return Variable(jnp.asarray(values, dtype), requires_grad=True)


# ----------------------------------------------------------------------------- accumulation, graphs
def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    (3 * x).sum().backward()
    assert_close(x.grad, np.array([5.0, 7.0, 9.0], np.float32))
    x.zero_grad()
    assert x.grad is None
    (x * 2).sum().backward()
    assert_close(x.grad, np.full(3, 2.0, np.float32))


def test_accumulation_matches_torch():
    data = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)
    x, t = leaf(data), torch.tensor(data, requires_grad=True)
    for fn in (lambda a: (a * a).sum(), lambda a: a.exp().mean(), lambda a: (a @ a).sum()):
        fn(x).backward()
        fn(t).backward()
    assert_close(x.grad, t.grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_diamond_variable_used_twice(dtype):
    """x feeds two branches that meet again: both contributions reach x."""
    data = np.array([0.3, -1.2, 2.0], dtype)
    with x64(dtype):
        x, t = leaf(data, dtype), torch.tensor(data, requires_grad=True)
        for a in (x, t):
            h = a * 2.0
            (h.exp() * h.sin() + h * h).sum().backward()
        assert_close(x.grad, t.grad, dtype)


def test_same_variable_as_both_operands():
    x = leaf([1.0, -2.0, 3.0])
    ((x * x + x / x).sum() + x @ x).backward()
    # d/dx [x·x + 1 + Σx²] per element = 2x + 0 + 2x
    assert_close(x.grad, np.array([4.0, -8.0, 12.0], np.float32))


def test_deep_chain_does_not_recurse():
    """A long chain (beyond Python's recursion limit) backpropagates: the walk is iterative."""
    x = leaf(1.0)
    y = x
    for _ in range(3000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_only_leaves_that_require_grad_get_grad():
    x = leaf([1.0, 2.0])
    c = Variable(jnp.asarray([3.0, 4.0]))  # a constant
    (x * c).sum().backward()
    assert_close(x.grad, np.array([3.0, 4.0], np.float32))
    assert c.grad is None and not c.requires_grad


def test_intermediate_values_get_no_grad():
    x = leaf([1.0, 2.0])
    h = x * 2
    (h * h).sum().backward()
    assert h.grad is None and not h.is_leaf and h.grad_fn == "mul"


def test_unused_branch_and_partial_graph():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    _unused = y * 5
    (x * 2).sum().backward()
    assert y.grad is None
    assert_close(x.grad, np.array([2.0, 2.0], np.float32))


def test_backward_on_a_leaf():
    x = leaf(2.0)
    x.backward()
    assert x.grad.item() == 1.0


# ---------------------------------------------------------------------------- cotangents, errors
def test_backward_with_grad_on_a_non_scalar():
    data = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    cot = np.array([[1.0, -1.0], [0.5, 2.0]], np.float32)
    x, t = leaf(data), torch.tensor(data, requires_grad=True)
    (x * x).backward(jnp.asarray(cot))
    (t * t).backward(torch.tensor(cot))
    assert_close(x.grad, t.grad)
    # numpy arrays and Variables are accepted as the cotangent too
    x.zero_grad()
    (x * x).backward(cot)
    (x * x).backward(Variable(jnp.asarray(cot)))
    assert_close(x.grad, 2 * t.grad.numpy())


def test_non_scalar_without_grad_is_a_clear_error():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"grad can be implied only for a scalar output.*\(2,\)"):
        (x * 2).backward()


def test_cotangent_of_wrong_shape_is_a_clear_error():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the output has shape \(2,\)"):
        (x * 2).backward(jnp.ones(3))


def test_backward_without_graph_is_a_clear_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Variable(jnp.ones(())).backward()
    x = leaf([1.0])
    with axon.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_twice_needs_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(
        RuntimeError, match="backward through the graph a second time.*retain_graph=True"
    ):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, np.array([6.0, 12.0], np.float32))


def test_shared_subgraph_freed_by_first_backward():
    """As torch: two losses sharing a subgraph need retain_graph on the first backward."""
    x = leaf([1.0, 2.0])
    h = x.exp()
    a, b = h.sum(), (h * 2).sum()
    a.backward(retain_graph=True)
    b.backward()
    assert_close(x.grad, 3 * np.exp([1.0, 2.0]).astype(np.float32))


def test_requires_grad_on_integer_data_is_a_type_error():
    with pytest.raises(TypeError, match=r"only floating point.*int32.*astype"):
        Variable(jnp.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="only floating point"):
        Variable(jnp.arange(3)).requires_grad_()
    with pytest.raises(TypeError, match="only floating point"):
        Variable([True, False], requires_grad=True)


def test_requires_grad_false_on_a_non_leaf_is_an_error():
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="only leaves.*detach"):
        y.requires_grad_(False)


# ----------------------------------------------------------------------------- no_grad, detach
def test_no_grad_context_records_nothing():
    x = leaf([1.0, 2.0])
    with axon.no_grad():
        assert not axon.is_grad_enabled()
        y = (x * 2).relu().sum()
        z = F.softmax(x, -1)
    assert axon.is_grad_enabled()
    for v in (y, z):
        assert not v.requires_grad and v.is_leaf and v.grad_fn is None


def test_no_grad_decorator_records_nothing_and_restores():
    @axon.no_grad()
    def f(a):
        assert not axon.is_grad_enabled()
        return a * 3

    x = leaf([1.0, 2.0])
    y = f(x)
    assert not y.requires_grad and y.is_leaf
    assert axon.is_grad_enabled()
    assert f.__name__ == "f"


def test_bare_decorators_as_pytorch():
    @axon.no_grad
    def frozen(a):
        return a * 3

    @axon.enable_grad
    def tracked(a):
        return a * 3

    x = leaf([1.0])
    assert not frozen(x).requires_grad
    with axon.no_grad():
        assert tracked(x).requires_grad
    assert axon.is_grad_enabled()


def test_set_grad_enabled_as_a_function_and_decorator():
    x = leaf([1.0])
    try:
        axon.set_grad_enabled(False)  # as torch: takes effect at once
        assert not axon.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        axon.set_grad_enabled(True)
    assert axon.is_grad_enabled()

    @axon.set_grad_enabled(False)
    def f(a):
        return a * 2

    assert axon.is_grad_enabled()  # decorating does not switch the mode
    assert not f(x).requires_grad
    assert axon.is_grad_enabled()


def test_no_grad_restores_on_exception():
    with pytest.raises(ZeroDivisionError):
        with axon.no_grad():
            raise ZeroDivisionError
    assert axon.is_grad_enabled()


def test_enable_grad_and_set_grad_enabled_nest():
    x = leaf([1.0])
    with axon.no_grad():
        with axon.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with axon.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    d = (x * 3).detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert_close(d, np.array([3.0, 6.0], np.float32))
    (x * d).sum().backward()  # d is a constant here
    assert_close(x.grad, np.array([3.0, 6.0], np.float32))


# ---------------------------------------------------------------------------- eager, jax, torch
def _mlp_pure(x, w1, b1, w2, b2):
    h = jax.nn.gelu(x @ w1.T + b1, approximate=False)
    return jax.nn.log_softmax(h @ w2.T + b2, -1).mean()


def _mlp_axon(x, w1, b1, w2, b2):
    h = F.gelu(x @ w1.T + b1)
    return (h @ w2.T + b2).log_softmax(-1).mean()


def _mlp_torch(x, w1, b1, w2, b2):
    h = torch.nn.functional.gelu(x @ w1.T + b1)
    return (h @ w2.T + b2).log_softmax(-1).mean()


def _mlp_inputs(dtype):
    rng = np.random.default_rng(3)
    shapes = [(6, 5), (4, 5), (4,), (3, 4), (3,)]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_eager_backward_equals_jax_grad_equals_torch(dtype):
    arrays = _mlp_inputs(dtype)
    with x64(dtype):
        params = [leaf(a, dtype) for a in arrays[1:]]
        loss = _mlp_axon(Variable(jnp.asarray(arrays[0])), *params)
        loss.backward()

        jax_loss, jax_grads = jax.value_and_grad(_mlp_pure, argnums=(1, 2, 3, 4))(
            *(jnp.asarray(a) for a in arrays)
        )
        t = [torch.tensor(a, requires_grad=i > 0) for i, a in enumerate(arrays)]
        t_loss = _mlp_torch(*t)
        t_loss.backward()

        assert_close(loss, jax_loss, dtype)
        assert_close(loss, t_loss, dtype)
        for p, jg, tp in zip(params, jax_grads, t[1:], strict=True):
            assert_close(p.grad, jg, dtype)
            assert_close(p.grad, tp.grad, dtype)


def _train_grads(x, w1, b1, w2, b2):
    """Build Variables from (possibly traced) arrays, backward, and return the gradients."""
    params = [Variable(a, requires_grad=True) for a in (w1, b1, w2, b2)]
    loss = _mlp_axon(Variable(x), *params)
    loss.backward()
    return loss.data, [p.grad for p in params]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_backward_inside_jax_jit_equals_eager(dtype):
    arrays = _mlp_inputs(dtype)
    with x64(dtype):
        args = [jnp.asarray(a) for a in arrays]
        eager_loss, eager_grads = _train_grads(*args)
        jit_loss, jit_grads = jax.jit(_train_grads)(*args)
        ref_loss, ref_grads = jax.value_and_grad(_mlp_pure, argnums=(1, 2, 3, 4))(*args)
        assert_close(jit_loss, eager_loss, dtype)
        assert_close(jit_loss, ref_loss, dtype)
        for jg, eg, rg in zip(jit_grads, eager_grads, ref_grads, strict=True):
            assert isinstance(jg, jax.Array)
            assert_close(jg, eg, dtype)
            assert_close(jg, rg, dtype)


def test_backward_inside_jit_traces_once():
    traces = []

    def step(x, w):
        traces.append(1)
        wv = Variable(w, requires_grad=True)
        (Variable(x) @ wv).tanh().sum().backward()
        return wv.grad

    f = jax.jit(step)
    x, w = jnp.ones((2, 3)), jnp.ones((3, 4))
    f(x, w)
    f(x + 1, w * 2)
    assert len(traces) == 1


def test_backward_inside_grad_and_vmap():
    """The tape composes with jax.grad (second order) and jax.vmap (per-example gradients)."""

    def tape_grad(w):
        wv = Variable(w, requires_grad=True)
        (wv**3).sum().backward()
        return wv.grad

    w = jnp.asarray([1.0, 2.0, 3.0])
    assert_close(tape_grad(w), 3 * w**2)
    assert_close(jax.vmap(tape_grad)(w[:, None]), (3 * w**2)[:, None])
    # d/dw sum(3w²) = 6w: jax.grad through backward()
    assert_close(jax.grad(lambda a: tape_grad(a).sum())(w), 6 * w)


def test_second_same_shaped_call_does_not_retrace_the_kernel():
    traces = []

    @op(static=("scale",))
    def scaled_square(x, scale):
        traces.append(x.shape)
        return scale * x * x

    x = leaf(np.ones((2, 3), np.float32))
    for values in ([1.0] * 6, [2.0] * 6):
        x = leaf(np.asarray(values, np.float32).reshape(2, 3))
        scaled_square(x, 3.0).sum().backward()
    assert len(traces) == 1, "a same-shaped, same-static call retraced the kernel"
    scaled_square(x, 4.0)  # a new static value is a new kernel
    scaled_square(leaf(np.ones((5,), np.float32)), 4.0)  # a new shape retraces
    assert len(traces) == 3
    # on plain arrays the op is the raw function, called directly
    scaled_square(jnp.ones(2), 3.0)
    assert len(traces) == 4


def test_python_number_arguments_do_not_retrace():
    traces = []

    @op
    def affine(x, a):
        traces.append(1)
        return x * a

    x = leaf([1.0, 2.0])
    for a in (0.5, 1.5, 2.5):
        affine(x, a).sum().backward()
    assert len(traces) == 1
    assert_close(x.grad, np.full(2, 4.5, np.float32))


def test_builtin_op_kernel_is_cached():
    """The eager matmul kernel compiles once per shape: later calls hit jax.jit's cache."""
    from axon.functional import math as M

    kernels = [c.cell_contents for c in M.matmul.__closure__ if isinstance(c.cell_contents, dict)]
    assert len(kernels) == 1
    cache = kernels[0]
    a, b = leaf(np.ones((3, 7), np.float32)), leaf(np.ones((7, 2), np.float32))
    (a @ b).sum().backward()
    n_kernels = len(cache)
    sizes = {k: f._cache_size() for k, f in cache.items() if hasattr(f, "_cache_size")}
    for _ in range(3):
        (a @ b).sum().backward()
    assert len(cache) == n_kernels
    assert {k: f._cache_size() for k, f in cache.items() if hasattr(f, "_cache_size")} == sizes


def test_numpy_array_on_the_left_gives_a_variable():
    x = leaf([1.0, 2.0, 3.0])
    n = np.array([2.0, 2.0, 2.0], np.float32)
    for out in (n + x, n - x, n * x, n / x, n**x):
        assert isinstance(out, Variable) and out.requires_grad
    assert isinstance(n < x, Variable)
    (n * x).sum().backward()
    assert_close(x.grad, n)


def test_no_grad_inside_jit():
    def f(w):
        wv = Variable(w, requires_grad=True)
        with axon.no_grad():
            frozen = wv * 2
        (wv * frozen.data).sum().backward()
        return wv.grad, frozen.requires_grad

    grad, frozen_requires_grad = jax.jit(f)(jnp.asarray([1.0, 2.0]))
    assert_close(grad, np.array([2.0, 4.0], np.float32))
    assert not bool(frozen_requires_grad)


def test_variable_is_a_pytree_with_one_leaf():
    x = leaf([1.0, 2.0])
    leaves, treedef = jax.tree_util.tree_flatten(x)
    assert len(leaves) == 1
    y = jax.tree_util.tree_unflatten(treedef, leaves)
    assert isinstance(y, Variable) and y.requires_grad
    doubled = jax.jit(lambda v: v * 2)(x)
    assert isinstance(doubled, Variable)
