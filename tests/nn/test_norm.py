"""Normalisation layers and ops against torch: forward, gradients, running statistics, state
dicts, reprs, half precision, `axon.jit`, and every error message."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import DTYPE_IDS, DTYPES, assert_close, check_op, check_raises, random_inputs, x64

import axon
from axon import functional as F
from axon import nn, optim

jax.config.update("jax_default_matmul_precision", "highest")

T = torch.nn
_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def randomize(ref: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial weight, bias and running statistics (variance positive) in a torch module."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if name == "weight" else 0.0))
        if getattr(ref, "running_mean", None) is not None:
            ref.running_mean.copy_(torch.randn(ref.running_mean.shape, generator=g))
            ref.running_var.copy_(torch.rand(ref.running_var.shape, generator=g) + 0.5)
            ref.num_batches_tracked.fill_(3)
    return ref


def twin(make, dtype, train: bool, seed: int = 0):
    """The axon layer and its torch twin (built by the same `make(nn)`), same state, same mode."""
    ref = randomize(make(T), seed).to(_TORCH_DTYPE[np.dtype(dtype)]).train(train)
    model = make(nn)
    model.to(jnp.dtype(dtype))
    model.load_state_dict(ref.state_dict())
    return model.train(train), ref


def assert_same_state(model, ref, dtype) -> None:
    ours, theirs = model.state_dict(), ref.state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        try:
            assert_close(ours[key], theirs[key], dtype)
        except AssertionError as e:
            raise AssertionError(f"state '{key}': {e}") from None


def parity(make, shape, dtype, train, input_grad=True, seed=0):
    """Same state in both; compare outputs, the gradients of a random cotangent with respect to
    the input (when it requires grad) and every parameter, and the state after the call."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2.0 + 0.5).astype(dtype)
    with x64(dtype):
        model, ref = twin(make, dtype, train, seed)
        xa = axon.Variable(jnp.asarray(x), requires_grad=input_grad)
        xt = torch.tensor(x, requires_grad=input_grad)
        out, tout = model(xa), ref(xt)
        assert isinstance(out, axon.Variable)
        assert_close(out, tout, dtype)
        cot = rng.standard_normal(tuple(tout.shape)).astype(dtype)
        out.backward(jnp.asarray(cot))
        tout.backward(torch.tensor(cot))
        if input_grad:
            assert_close(xa.grad, xt.grad, dtype)
        else:
            assert xa.grad is None
        names = list(model.named_parameters())
        assert names == [k for k, _ in ref.named_parameters()]
        for name, p, tp in zip(names, model.parameters(), ref.parameters(), strict=True):
            assert p.grad is not None, f"no gradient reached {name}"
            try:
                assert_close(p.grad, tp.grad, dtype)
            except AssertionError as e:
                raise AssertionError(f"gradient of {name}: {e}") from None
        assert_same_state(model, ref, dtype)  # running statistics updated (or not) as torch's


# (id, make(nn or torch.nn), input shape, train, input requires grad)
CASES = [
    ("bn1d_2d_train", lambda m: m.BatchNorm1d(3), (6, 3), True, True),
    ("bn1d_3d_eval", lambda m: m.BatchNorm1d(3), (4, 3, 5), False, True),
    ("bn1d_no_affine_train", lambda m: m.BatchNorm1d(3, affine=False), (5, 3), True, True),
    ("bn1d_no_bias_train", lambda m: m.BatchNorm1d(3, bias=False), (5, 3, 2), True, True),
    ("bn1d_momentum_none", lambda m: m.BatchNorm1d(3, momentum=None), (4, 3, 5), True, True),
    ("bn1d_untracked_eval", lambda m: m.BatchNorm1d(3, track_running_stats=False), (4, 3), False,
     True),
    ("bn1d_input_no_grad", lambda m: m.BatchNorm1d(3), (4, 3, 5), True, False),
    ("bn2d_train", lambda m: m.BatchNorm2d(4), (2, 4, 3, 5), True, True),
    ("bn2d_eval", lambda m: m.BatchNorm2d(4, eps=1e-3), (2, 4, 3, 5), False, True),
    ("bn2d_untracked_no_affine", lambda m: m.BatchNorm2d(4, 1e-5, 0.1, False, False),
     (2, 4, 3, 3), True, True),
    ("ln_two_dims", lambda m: m.LayerNorm([3, 5]), (2, 4, 3, 5), True, True),
    ("ln_no_affine", lambda m: m.LayerNorm(5, elementwise_affine=False), (2, 3, 5), False, True),
    ("ln_no_bias", lambda m: m.LayerNorm([5], bias=False), (2, 3, 5), True, True),
    ("ln_no_batch", lambda m: m.LayerNorm(7, eps=1e-3), (7,), True, True),
    ("ln_input_no_grad", lambda m: m.LayerNorm(4), (3, 4), True, False),
    ("gn_2d_spatial", lambda m: m.GroupNorm(3, 6), (2, 6, 3, 4), False, True),
    ("gn_one_group", lambda m: m.GroupNorm(1, 4), (2, 4, 3), True, True),
    ("gn_no_affine", lambda m: m.GroupNorm(2, 6, affine=False), (2, 6, 5), True, True),
    ("gn_no_spatial", lambda m: m.GroupNorm(2, 6), (3, 6), True, True),
    ("in1d_no_batch", lambda m: m.InstanceNorm1d(3), (3, 6), True, True),
    ("in1d_tracked_train", lambda m: m.InstanceNorm1d(3, affine=True, track_running_stats=True),
     (2, 3, 6), True, True),
    ("in1d_tracked_eval", lambda m: m.InstanceNorm1d(3, affine=True, track_running_stats=True),
     (2, 3, 6), False, True),
    ("in1d_momentum_none", lambda m: m.InstanceNorm1d(3, momentum=None, track_running_stats=True),
     (2, 3, 6), True, True),
    ("in2d_no_batch_affine", lambda m: m.InstanceNorm2d(3, affine=True), (3, 4, 5), True, True),
    ("in2d_tracked_no_batch_eval", lambda m: m.InstanceNorm2d(3, track_running_stats=True),
     (3, 4, 5), False, True),
    ("in2d_input_no_grad", lambda m: m.InstanceNorm2d(3, affine=True), (2, 3, 4, 5), True, False),
    ("rms_two_dims_eps", lambda m: m.RMSNorm([3, 5], eps=1e-3), (2, 3, 5), True, True),
    ("rms_no_affine", lambda m: m.RMSNorm(5, elementwise_affine=False), (2, 3, 5), True, True),
    ("rms_no_batch_input_no_grad", lambda m: m.RMSNorm([6]), (6,), False, False),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(
    "make, shape, train, input_grad", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_matches_torch(make, shape, train, input_grad, dtype):
    parity(make, shape, dtype, train, input_grad)


# ------------------------------------------------------------------------------ functional ops
FUNCTIONAL = [
    ("batch_norm_train", lambda f: lambda x, w, b: f.batch_norm(x, None, None, w, b, True),
     [(4, 3, 5), (3,), (3,)]),
    ("instance_norm", lambda f: lambda x, w, b: f.instance_norm(x, weight=w, bias=b),
     [(2, 3, 5), (3,), (3,)]),
    ("layer_norm", lambda f: lambda x, w, b: f.layer_norm(x, [3, 4], w, b, 1e-3),
     [(2, 3, 4), (3, 4), (3, 4)]),
    ("layer_norm_no_affine", lambda f: lambda x: f.layer_norm(x, (4,)), [(2, 3, 4)]),
    ("group_norm", lambda f: lambda x, w, b: f.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)]),
    ("rms_norm", lambda f: lambda x, w: f.rms_norm(x, [4], w), [(2, 3, 4), (4,)]),
    ("rms_norm_eps", lambda f: lambda x: f.rms_norm(x, [3, 4], eps=0.1), [(2, 3, 4)]),
]  # fmt: skip


@pytest.mark.parametrize("fn, shapes", [c[1:] for c in FUNCTIONAL], ids=[c[0] for c in FUNCTIONAL])
def test_functional_matches_torch(fn, shapes):
    """torch's signatures and results, in float64 (the layers' table covers float32)."""
    check_op(fn(F), fn(torch.nn.functional), shapes, np.float64)


@pytest.mark.parametrize("fn, shapes", [c[1:] for c in FUNCTIONAL], ids=[c[0] for c in FUNCTIONAL])
def test_functional_on_arrays_is_plain_jax(fn, shapes):
    """On arrays each op is plain jax (it returns a jax.Array, and jax.jit and jax.grad trace
    it) and agrees with the tape's result and gradients."""
    inputs = [jnp.asarray(a) for a in random_inputs(shapes, np.float32)]
    variables = [axon.Variable(a, requires_grad=True) for a in inputs]
    taped = fn(F)(*variables)
    cot = jnp.cos(taped.data)
    taped.backward(cot)

    def value_and_grads(*a):
        out = fn(F)(*a)
        assert isinstance(out, jax.Array)
        grads = jax.grad(lambda *a: (fn(F)(*a) * cot).sum(), tuple(range(len(a))))(*a)
        return out, grads

    out, grads = jax.jit(value_and_grads)(*inputs)
    assert_close(out, taped)
    for g, v in zip(grads, variables, strict=True):
        assert_close(g, v.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name", ["batch_norm", "instance_norm"])
def test_functional_with_running_stats_matches_torch(name, dtype):
    """Eval form: normalise by given running statistics (torch cannot differentiate them, so
    they are constants here)."""
    rng = np.random.default_rng(3)
    rm, rv = rng.standard_normal(3).astype(dtype), rng.uniform(0.5, 1.5, 3).astype(dtype)
    ours, theirs = getattr(F, name), getattr(torch.nn.functional, name)
    check_op(
        lambda x, w, b: ours(x, jnp.asarray(rm), jnp.asarray(rv), w, b, False, 0.1, 1e-3),
        lambda x, w, b: theirs(x, torch.tensor(rm), torch.tensor(rv), w, b, False, 0.1, 1e-3),
        [(4, 3, 5), (3,), (3,)],
        dtype,
    )


# ------------------------------------------------------------------------------ running statistics
STEP_CASES = [
    ("bn1d", lambda m: m.BatchNorm1d(4), (6, 4, 3)),
    ("bn1d_momentum_none", lambda m: m.BatchNorm1d(4, momentum=None), (6, 4)),
    ("in1d_tracked", lambda m: m.InstanceNorm1d(4, affine=True, track_running_stats=True),
     (3, 4, 5)),
]  # fmt: skip


@pytest.mark.parametrize("make, shape", [c[1:] for c in STEP_CASES], ids=[c[0] for c in STEP_CASES])
def test_five_training_steps_then_eval_match_torch(make, shape):
    """Five SGD steps in train mode (a new batch each), then eval: the outputs, running
    statistics, num_batches_tracked and parameters follow torch's step by step."""
    dtype = np.float32
    model, ref = twin(make, dtype, train=True)
    opt, topt = optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(ref.parameters(), lr=0.1)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = (rng.standard_normal(shape) * 3.0 + 1.0).astype(dtype)
        cot = rng.standard_normal(shape).astype(dtype)
        opt.zero_grad(), topt.zero_grad()
        out, tout = model(jnp.asarray(x)), ref(torch.tensor(x))
        assert_close(out, tout, dtype)
        (out * jnp.asarray(cot)).sum().backward()
        (tout * torch.tensor(cot)).sum().backward()
        opt.step(), topt.step()
        assert_same_state(model, ref, dtype)
    model.eval(), ref.eval()
    x = rng.standard_normal(shape).astype(dtype)
    assert_close(model(jnp.asarray(x)), ref(torch.tensor(x)).detach(), dtype)
    assert_same_state(model, ref, dtype)  # eval leaves the statistics alone


@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum_0.1", "momentum_none"])
def test_five_steps_in_axon_jit_equal_eager(momentum):
    def step(model, opt, x, cot):
        opt.zero_grad()
        loss = (model(x) * cot).sum()
        loss.backward()
        opt.step()
        return loss

    def make():
        model, _ = twin(lambda m: m.BatchNorm1d(4, momentum=momentum), np.float32, train=True)
        return model, optim.SGD(model.parameters(), lr=0.1)

    eager, eager_opt = make()
    compiled, compiled_opt = make()
    fast = axon.jit(step)
    rng = np.random.default_rng(2)
    for _ in range(5):
        x = jnp.asarray(rng.standard_normal((6, 4, 3)).astype(np.float32) * 2.0)
        cot = jnp.asarray(rng.standard_normal((6, 4, 3)).astype(np.float32))
        assert_close(fast(compiled, compiled_opt, x, cot), step(eager, eager_opt, x, cot))
    assert int(compiled.num_batches_tracked) == int(eager.num_batches_tracked) == 3 + 5
    state, eager_state = compiled.state_dict(), eager.state_dict()
    assert list(state) == list(eager_state)
    for key in state:
        assert_close(state[key], eager_state[key], np.float32)


# ------------------------------------------------------------------------------ half precision
HALF_CASES = [
    ("bn1d", lambda m: m.BatchNorm1d(64), (8, 64)),
    ("bn2d_eval", lambda m: m.BatchNorm2d(4).eval(), (2, 4, 8, 8)),
    ("ln", lambda m: m.LayerNorm(256), (4, 256)),
    ("gn", lambda m: m.GroupNorm(2, 8), (2, 8, 32)),
    ("in2d", lambda m: m.InstanceNorm2d(4, affine=True), (2, 4, 8, 8)),
    ("rms", lambda m: m.RMSNorm(256), (4, 256)),
]


@pytest.mark.parametrize(
    "make, shape, half",
    [c[1:] + (jnp.bfloat16,) for c in HALF_CASES] + [(HALF_CASES[2][1], (4, 256), jnp.float16)],
    ids=[f"{c[0]}-bf16" for c in HALF_CASES] + ["ln-f16"],
)
def test_half_precision_input_normalises_in_float32(make, shape, half):
    """A large common offset (100) with small noise: statistics reduced in half precision would
    lose the noise entirely; in float32 the result matches the float32 layer."""
    rng = np.random.default_rng(0)
    x32 = jnp.asarray(100.0 + rng.uniform(-1, 1, shape), jnp.float32).astype(half)
    ref = randomize(make(T))
    model, model32 = make(nn), make(nn)
    for m in (model, model32):
        m.load_state_dict(ref.state_dict())
    if not model.training:  # eval: running statistics around the same offset
        for m in (model, model32):
            m.running_mean = jnp.full_like(m.running_mean, 100.0)
    xh = axon.Variable(x32, requires_grad=True)
    out = model(xh)
    assert out.dtype == half
    expected = model32(x32.astype(jnp.float32))
    assert_close(out.data.astype(jnp.float32), expected, np.float32, rtol=2e-2, atol=3e-2)
    out.sum().backward()
    assert xh.grad is not None and xh.grad.dtype == half
    for p in model.parameters():
        assert p.grad is not None
    for name, buf in model.named_buffers().items():
        if name != "num_batches_tracked":
            assert buf.dtype == jnp.float32, f"{name} is {buf.dtype}"


def test_rms_norm_default_eps_is_float32_eps_for_half_inputs():
    # torch uses the epsilon of the computation dtype: float32's, not bfloat16's (0.0078)
    x = jnp.full((4,), 0.01, jnp.bfloat16)
    ours = F.rms_norm(x, [4])
    theirs = torch.nn.functional.rms_norm(torch.full((4,), 0.01, dtype=torch.bfloat16), [4])
    assert_close(ours.astype(jnp.float32), theirs.float(), np.float32, rtol=1e-2, atol=0)
    with jax.enable_x64(True):
        x = np.full((3,), 1e-9)
        assert_close(
            F.rms_norm(jnp.asarray(x), [3]),
            torch.nn.functional.rms_norm(torch.tensor(x), [3]),
            np.float64,
        )


# ------------------------------------------------------------------------------ modules
REPRS = [
    lambda m: m.BatchNorm1d(256),
    lambda m: m.BatchNorm1d(3, momentum=None, affine=False),
    lambda m: m.BatchNorm2d(4, eps=1e-3, track_running_stats=False, bias=False),
    lambda m: m.InstanceNorm1d(3),
    lambda m: m.InstanceNorm2d(3, 1e-4, 0.2, True, True),
    lambda m: m.LayerNorm([4, 5]),
    lambda m: m.LayerNorm(4, elementwise_affine=False, bias=False),
    lambda m: m.GroupNorm(2, 4),
    lambda m: m.GroupNorm(3, 6, affine=False),
    lambda m: m.RMSNorm([3]),
    lambda m: m.RMSNorm(8, eps=1e-6, elementwise_affine=False),
]


@pytest.mark.parametrize("make", REPRS)
def test_repr_state_dict_and_buffers_equal_torch(make):
    model, ref = make(nn), make(T)
    assert repr(model) == repr(ref)
    assert list(model.state_dict()) == list(ref.state_dict())
    assert list(model.named_buffers()) == [k for k, _ in ref.named_buffers()]
    for key, value in ref.state_dict().items():
        assert model.state_dict()[key].shape == tuple(value.shape), key
        assert_close(model.state_dict()[key], value, check_dtype=False)  # the initial values


def test_print_model_with_norms_equals_torch():
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.RMSNorm(8), nn.BatchNorm1d(8))
    ref = T.Sequential(T.Linear(4, 8), T.LayerNorm(8), T.RMSNorm(8), T.BatchNorm1d(8))
    assert repr(model) == repr(ref)


def test_seed_constructors():
    bn = nn.BatchNorm1d.with_options(256, 1e-5, 0.1)
    assert repr(bn) == repr(T.BatchNorm1d(256, 1e-5, 0.1))
    assert repr(nn.BatchNorm1d.new(256)) == repr(T.BatchNorm1d(256))
    assert repr(nn.BatchNorm2d.new(64)) == repr(T.BatchNorm2d(64))
    assert nn.BatchNorm2d.with_options(8, 1e-3, 0.2).momentum == 0.2
    assert nn.LayerNorm([256]).weight.shape == (256,)
    assert nn.LayerNorm([256, 256]).weight.shape == (256, 256)
    assert repr(nn.LayerNorm.new([256])) == repr(T.LayerNorm([256]))
    gn = nn.GroupNorm.with_options(32, 256, 1e-5, True)
    assert repr(gn) == repr(T.GroupNorm(32, 256, 1e-5, True))
    assert repr(nn.GroupNorm.new(32, 256)) == repr(T.GroupNorm(32, 256))
    assert repr(nn.InstanceNorm2d.new(64)) == repr(T.InstanceNorm2d(64))
    assert repr(nn.RMSNorm.new(16, 1e-6)) == repr(T.RMSNorm(16, 1e-6))


def test_reset_running_stats_and_parameters():
    model = nn.BatchNorm1d(3)
    model(jnp.asarray(np.random.default_rng(0).standard_normal((4, 3)), jnp.float32))
    model.weight.data = model.weight.data * 3.0
    assert int(model.num_batches_tracked) == 1
    model.reset_parameters()
    fresh = nn.BatchNorm1d(3).state_dict()
    for key, value in model.state_dict().items():
        assert_close(value, fresh[key])


def test_layers_under_jax_transforms():
    """Plain jax.jit, jax.grad and jax.vmap see ordinary jax: same results as the tape."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((3, 4, 6)), jnp.float32)

    @jax.jit
    def transformed(model, x):
        out = model(x).data
        per_sample = jax.vmap(lambda m, row: m(row[None]).data[0], (None, 0))(model, x)
        gx = jax.grad(lambda x: (model(x).data ** 2).sum())(x)
        return out, per_sample, gx

    for make in (
        lambda m: m.BatchNorm1d(4).eval(),
        lambda m: m.LayerNorm(6),
        lambda m: m.GroupNorm(2, 4),
        lambda m: m.InstanceNorm1d(4, affine=True),
        lambda m: m.RMSNorm(6),
    ):
        model = make(nn)
        model.load_state_dict(randomize(make(T)).state_dict())
        xv = axon.Variable(x, requires_grad=True)
        expected = model(xv)
        (expected**2).sum().backward()
        out, per_sample, gx = transformed(model, x)
        assert_close(out, expected)
        assert_close(per_sample, expected, rtol=1e-5, atol=1e-5)
        assert_close(gx, xv.grad, rtol=1e-4, atol=1e-5)


def test_no_retrace_on_second_call():
    traces = []

    @jax.jit
    def f(m, x):
        traces.append(1)
        return m(x).data

    x = jnp.ones((2, 4, 3))
    model = nn.GroupNorm(2, 4)
    f(model, x)
    f(model, x + 1.0)
    assert len(traces) == 1


# ------------------------------------------------------------------------------ errors
def _ones(*shape):
    return jnp.ones(shape), torch.ones(shape)


@pytest.mark.filterwarnings("ignore:input's size at dim")  # torch warns, then raises
@pytest.mark.parametrize(
    "make, shape, match",
    [
        (lambda m: m.BatchNorm1d(3), (4, 5), r"BatchNorm1d: expected input of shape \(N, 3\) or "
         r"\(N, 3, L\), got \(4, 5\)"),
        (lambda m: m.BatchNorm1d(3), (2, 3, 4, 4), r"BatchNorm1d: expected input of shape "
         r"\(N, 3\) or \(N, 3, L\), got \(2, 3, 4, 4\)"),
        (lambda m: m.BatchNorm2d(3), (2, 3, 4), r"BatchNorm2d: expected input of shape "
         r"\(N, 3, H, W\), got \(2, 3, 4\)"),
        (lambda m: m.BatchNorm1d(3), (1, 3), r"BatchNorm1d: expected more than 1 value per "
         r"channel when training, got input of shape \(1, 3\)"),
        (lambda m: m.BatchNorm2d(3, track_running_stats=False).eval(), (1, 3, 1, 1),
         r"BatchNorm2d: expected more than 1 value per channel"),
        (lambda m: m.LayerNorm([4, 5]), (2, 5, 4), r"LayerNorm: expected input of shape "
         r"\(\*, 4, 5\) \(normalized_shape=\(4, 5\)\), got \(2, 5, 4\)"),
        (lambda m: m.LayerNorm(4), (), r"LayerNorm: expected input of shape \(\*, 4\)"),
        (lambda m: m.RMSNorm([3]), (2, 4), r"RMSNorm: expected input of shape \(\*, 3\) "
         r"\(normalized_shape=\(3,\)\), got \(2, 4\)"),
        (lambda m: m.GroupNorm(2, 4), (2, 6, 3), r"GroupNorm: expected input of shape "
         r"\(N, 4, \*\), got \(2, 6, 3\)"),
        (lambda m: m.GroupNorm(2, 4), (4,), r"GroupNorm: expected input of shape \(N, 4, \*\)"),
        (lambda m: m.GroupNorm(4, 4), (1, 4), r"GroupNorm: expected more than 1 value per "
         r"group, got input of shape \(1, 4\) and num_groups=4"),
        (lambda m: m.InstanceNorm1d(3, affine=True), (2, 4, 5), r"InstanceNorm1d: expected "
         r"input of shape \(N, 3, L\) or \(3, L\), got \(2, 4, 5\)"),
        (lambda m: m.InstanceNorm2d(3, track_running_stats=True), (4, 5, 5), r"InstanceNorm2d: "
         r"expected input of shape \(N, 3, H, W\) or \(3, H, W\), got \(4, 5, 5\)"),
        (lambda m: m.InstanceNorm2d(3), (2, 3, 4, 5, 6), r"InstanceNorm2d: expected input of "
         r"shape \(N, 3, H, W\) or \(3, H, W\), got \(2, 3, 4, 5, 6\)"),
        (lambda m: m.InstanceNorm1d(3), (2, 3, 1), r"InstanceNorm1d: expected more than 1 "
         r"spatial element when training, got input of shape \(2, 3, 1\)"),
    ],
)  # fmt: skip
def test_forward_errors(make, shape, match):
    x, tx = _ones(*shape)
    model, ref = make(nn), make(T)
    check_raises(lambda: model(x), lambda: ref(tx), ValueError, match)


def test_instance_norm_channel_mismatch_without_affine_warns_like_torch():
    x, tx = _ones(2, 4, 5)
    with pytest.warns(UserWarning, match=r"InstanceNorm1d: input's channels do not match "):
        out = nn.InstanceNorm1d(3)(x)
    with pytest.warns(UserWarning):
        expected = T.InstanceNorm1d(3)(tx)
    assert_close(out, expected)


@pytest.mark.parametrize(
    "build, match, torch_rejects",
    [
        (lambda m: m.GroupNorm(3, 4), r"GroupNorm: num_channels \(4\) must be divisible by "
         r"num_groups \(3\)", True),
        (lambda m: m.GroupNorm(0, 4), r"GroupNorm: num_groups must be a positive int, got 0", True),
        (lambda m: m.BatchNorm1d(0), r"BatchNorm1d: num_features must be a positive int, got 0",
         False),
        (lambda m: m.BatchNorm2d(3, momentum=1.5), r"BatchNorm2d: momentum must be in \[0, 1\] "
         r"or None, got 1.5", False),
        (lambda m: m.InstanceNorm1d(3, eps=-1.0), r"InstanceNorm1d: eps must be a non-negative "
         r"float, got -1.0", False),
        (lambda m: m.LayerNorm([]), r"LayerNorm: normalized_shape must be a positive int or a "
         r"non-empty list of positive ints, got \[\]", False),
        (lambda m: m.LayerNorm([4, 0]), r"LayerNorm: normalized_shape must be .*got \[4, 0\]",
         False),
        (lambda m: m.RMSNorm("x"), r"RMSNorm: normalized_shape must be .*got 'x'", True),
        (lambda m: m.RMSNorm(4, eps="small"), r"RMSNorm: eps must be a non-negative float or "
         r"None, got 'small'", False),
    ],
)  # fmt: skip
def test_constructor_errors(build, match, torch_rejects):
    check_raises(lambda: build(nn), (lambda: build(T)) if torch_rejects else None, ValueError,
                 match)  # fmt: skip


def test_functional_errors():
    x = jnp.ones((4, 3))
    v = axon.Variable(x, requires_grad=True)
    with pytest.raises(ValueError, match=r"functional.batch_norm: running_mean and running_var "
                       r"must be given when training=False"):  # fmt: skip
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"functional.batch_norm: expected weight of shape "
                       r"\(3,\) for input of shape \(4, 3\), got \(4,\)"):  # fmt: skip
        F.batch_norm(v, None, None, jnp.ones(4), training=True)
    with pytest.raises(ValueError, match=r"functional.layer_norm: expected input of shape "
                       r"\(\*, 4\) \(normalized_shape=\(4,\)\), got \(4, 3\)"):  # fmt: skip
        F.layer_norm(v, [4])
    with pytest.raises(ValueError, match=r"functional.layer_norm: expected weight of shape "
                       r"\(3,\) \(normalized_shape\), got \(2,\)"):  # fmt: skip
        F.layer_norm(v, 3, jnp.ones(2))
    with pytest.raises(ValueError, match=r"functional.group_norm: expected the channels \(dim "
                       r"1\) of the input to be divisible by num_groups=2, got input of shape "
                       r"\(4, 3\)"):  # fmt: skip
        F.group_norm(v, 2)
    with pytest.raises(ValueError, match=r"functional.instance_norm: expected input of shape "
                       r"\(N, C, \*\), got \(4, 3\)"):  # fmt: skip
        F.instance_norm(x)
    with pytest.raises(ValueError, match=r"functional.instance_norm: running_mean and "
                       r"running_var must be given when use_input_stats=False"):  # fmt: skip
        F.instance_norm(jnp.ones((2, 3, 4)), use_input_stats=False)
    with pytest.raises(ValueError, match=r"functional.rms_norm: expected weight of shape "
                       r"\(3,\)"):  # fmt: skip
        F.rms_norm(x, [3], jnp.ones((1, 3)))
