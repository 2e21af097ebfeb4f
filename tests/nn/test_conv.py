"""`Conv1d`, `Conv2d`, `ConvTranspose1d`, `ConvTranspose2d` and their functional ops vs. torch."""

from __future__ import annotations

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import DTYPE_IDS, DTYPES, assert_close, check_op, check_raises, x64

import axon
from axon import functional as F
from axon import nn, optim

_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
# float32: XLA and ATen sum a conv's terms in different orders, so a gradient entry that
# cancels to ~0 carries an absolute error of the order of its neighbours' roundoff.
_TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-5), np.dtype(np.float64): {}}


@pytest.fixture
def numpy_init(monkeypatch):
    """Draw initial weights with numpy instead of `jax.random`: PyTorch's law, U(±1/√fan_in),
    without compiling one RNG program per weight shape (the slowest part of these tests). Every
    test but the init tests below uses it; those check the real initialiser."""
    rng = np.random.default_rng(0)

    def reset_parameters(self):
        bound = 1 / math.sqrt(nn.init.calculate_fan_in_and_fan_out(self.weight)[0])
        for p in (self.weight, self.bias):
            if p is not None:
                p.data = jax.device_put(rng.uniform(-bound, bound, p.shape).astype(p.dtype))

    monkeypatch.setattr(nn.conv._ConvNd, "reset_parameters", reset_parameters)


def parity(cls, args, kwargs, input_shape, dtype, forward_kwargs=None, seed=0):
    """Build the layer in axon and torch, load torch's state dict into axon's, run both on the
    same input, and compare the outputs and the gradients (of a random cotangent) with respect
    to the input and every parameter. The reprs must match too."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape).astype(dtype)
    forward_kwargs = forward_kwargs or {}
    tol = _TOL[np.dtype(dtype)]
    ref = getattr(torch.nn, cls.__name__)(*args, **kwargs).to(_TORCH_DTYPE[np.dtype(dtype)])
    with x64(dtype):
        model = cls(*args, **kwargs, dtype=dtype)
        assert repr(model) == repr(ref)
        model.load_state_dict(ref.state_dict())
        xa = axon.Variable(jax.device_put(x), requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        out, tout = model(xa, **forward_kwargs), ref(xt, **forward_kwargs)
        assert isinstance(out, axon.Variable)
        assert_close(out, tout, dtype, **tol)
        cot = rng.standard_normal(tuple(tout.shape)).astype(dtype)
        out.backward(jax.device_put(cot))
        tout.backward(torch.tensor(cot))
        assert_close(xa.grad, xt.grad, dtype, **tol)
        names = list(model.named_parameters())
        assert names == [k for k, _ in ref.named_parameters()]
        for name, p, tp in zip(names, model.parameters(), ref.parameters(), strict=True):
            try:
                assert_close(p.grad, tp.grad, dtype, **tol)
            except AssertionError as e:
                raise AssertionError(f"gradient of {name}: {e}") from None


C1, C2, T1, T2 = nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d

# (id, layer class, constructor args, constructor kwargs, input shape[, forward kwargs])
CASES = [
    # --- Conv1d
    ("c1_default", C1, (4, 6, 3), {}, (2, 4, 11)),
    ("c1_dilation3", C1, (4, 5, 3), dict(dilation=3, padding=2), (2, 4, 16)),
    ("c1_same_even_kernel", C1, (4, 6, 4), dict(padding="same"), (2, 4, 9)),
    ("c1_valid", C1, (4, 6, 5), dict(padding="valid"), (3, 4, 7)),
    ("c1_groups2", C1, (4, 6, 3), dict(groups=2, stride=2), (2, 4, 9)),
    ("c1_depthwise", C1, (4, 4, 5), dict(groups=4, padding=2), (2, 4, 9)),
    ("c1_reflect", C1, (3, 4, 3), dict(padding=2, padding_mode="reflect"), (2, 3, 7)),
    ("c1_circular_stride2", C1, (3, 4, 3), dict(padding=3, stride=2, padding_mode="circular"),
     (2, 3, 7)),
    ("c1_replicate_same", C1, (3, 4, 4), dict(padding="same", padding_mode="replicate"),
     (2, 3, 6)),
    ("c1_no_batch", C1, (4, 6, 3), dict(padding=1), (4, 11)),
    ("c2_default", C2, (3, 8, 3), {}, (2, 3, 9, 7)),
    ("c2_rect_kernel_stride", C2, (3, 4, (3, 2)), dict(stride=(2, 1), padding=(1, 0)),
     (2, 3, 9, 8)),
    ("c2_dilation", C2, (2, 4, 3), dict(dilation=(2, 3), padding=(2, 1)), (2, 2, 9, 10)),
    ("c2_same_even_kernel", C2, (3, 4, (4, 2)), dict(padding="same"), (2, 3, 7, 6)),
    ("c2_same_dilated", C2, (3, 4, 3), dict(padding="same", dilation=2), (2, 3, 8, 7)),
    ("c2_groups2", C2, (4, 6, 3), dict(groups=2), (2, 4, 7, 7)),
    ("c2_groups3_stride2", C2, (6, 9, 3), dict(groups=3, stride=2, padding=1), (2, 6, 9, 8)),
    ("c2_depthwise", C2, (3, 3, 3), dict(groups=3, padding=1), (2, 3, 8, 8)),
    ("c2_depthwise_multiplier", C2, (3, 6, 3), dict(groups=3), (2, 3, 7, 7)),
    ("c2_reflect", C2, (3, 4, 3), dict(padding=(1, 2), padding_mode="reflect"), (2, 3, 6, 7)),
    ("c2_circular_stride2", C2, (3, 4, 3), dict(padding=1, stride=2, padding_mode="circular"),
     (2, 3, 7, 8)),
    ("c2_reflect_same_even", C2, (3, 4, 4), dict(padding="same", padding_mode="reflect"),
     (2, 3, 6, 6)),
    ("c2_no_batch", C2, (3, 5, 3), dict(padding=1), (3, 6, 7)),
    ("c2_no_bias_1x1", C2, (3, 5, 1), dict(bias=False), (2, 3, 4, 4)),
    ("c2_kernel_equals_input", C2, (2, 3, 5), {}, (2, 2, 5, 5)),
    # --- ConvTranspose1d
    ("t1_default", T1, (4, 6, 3), {}, (2, 4, 7)),
    ("t1_stride2_outpad1", T1, (4, 6, 3), dict(stride=2, padding=1, output_padding=1),
     (2, 4, 7)),
    ("t1_groups2_dilation2", T1, (4, 6, 3), dict(groups=2, dilation=2, stride=2), (2, 4, 6)),
    ("t1_padding_beyond_kernel", T1, (3, 4, 3), dict(stride=3, padding=3), (2, 3, 5)),
    ("t1_no_batch_no_bias", T1, (4, 6, 3), dict(stride=2, bias=False), (4, 7)),
    # --- ConvTranspose2d
    ("t2_default", T2, (3, 8, 3), {}, (2, 3, 5, 6)),
    ("t2_upsample_k4_s2_p1", T2, (4, 3, 4), dict(stride=2, padding=1), (2, 4, 5, 5)),
    ("t2_rect", T2, (3, 4, (3, 2)), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2)),
     (2, 3, 4, 5)),
    ("t2_groups2", T2, (4, 8, 3), dict(groups=2, stride=2), (2, 4, 4, 5)),
    ("t2_depthwise", T2, (4, 4, 3), dict(groups=4, padding=1), (2, 4, 5, 5)),
    ("t2_dilation_outpad", T2, (3, 4, 3), dict(dilation=2, output_padding=1), (2, 3, 4, 5)),
    ("t2_no_batch", T2, (3, 4, 3), dict(stride=2), (3, 4, 4)),
    ("t2_output_size", T2, (3, 4, 3), dict(stride=2, padding=1), (2, 3, 5, 5),
     dict(output_size=(10, 9))),
    ("t2_output_size_no_batch", T2, (3, 4, 3), dict(stride=3), (3, 4, 4),
     dict(output_size=[4, 12, 14])),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_torch(case, dtype, numpy_init):
    _, cls, args, kwargs, shape, *forward_kwargs = case
    parity(cls, args, kwargs, shape, dtype, *forward_kwargs)


def test_case_table_covers_every_layer():
    assert len(CASES) >= 35
    assert any(not c[3].get("bias", True) for c in CASES)
    assert {c[1] for c in CASES} == {C1, C2, T1, T2}


# ------------------------------------------------------------------------------------ functional
# (id, axon op, torch op, input shape, weight shape, bias?, kwargs)
FUNCTIONAL_CASES = [
    ("conv1d", F.conv1d, TF.conv1d, (2, 4, 9), (6, 2, 3), True, dict(stride=2, groups=2)),
    ("conv1d_same_no_batch", F.conv1d, TF.conv1d, (4, 9), (6, 4, 4), False,
     dict(padding="same", dilation=2)),
    ("conv2d", F.conv2d, TF.conv2d, (2, 3, 7, 6), (4, 3, 3, 2), True,
     dict(stride=(2, 1), padding=(1, 2))),
    ("conv2d_same_even", F.conv2d, TF.conv2d, (2, 4, 6, 5), (6, 2, 4, 3), False,
     dict(padding="same", groups=2)),
    ("conv_transpose1d", F.conv_transpose1d, TF.conv_transpose1d, (2, 4, 5), (4, 3, 3), True,
     dict(stride=2, padding=1, output_padding=1, groups=2)),
    ("conv_transpose2d", F.conv_transpose2d, TF.conv_transpose2d, (2, 4, 4, 3), (4, 2, 3, 2),
     True, dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2))),
    ("conv_transpose2d_no_batch", F.conv_transpose2d, TF.conv_transpose2d, (4, 4, 3),
     (4, 5, 3, 3), False, dict(stride=2, output_padding=1)),
]  # fmt: skip


@pytest.mark.parametrize("case", FUNCTIONAL_CASES, ids=[c[0] for c in FUNCTIONAL_CASES])
def test_functional_matches_torch(case):
    """On arrays, under `jax.jit` (one program per case instead of one per primitive)."""
    _, ours, theirs, x_shape, w_shape, bias, kwargs = case
    out_channels = w_shape[1] * kwargs.get("groups", 1) if "transpose" in case[0] else w_shape[0]
    shapes = [x_shape, w_shape] + ([(out_channels,)] if bias else [])
    out = check_op(
        jax.jit(lambda *a: ours(*a, **kwargs)),
        lambda *a: theirs(*a, **kwargs),
        shapes,
        arrays=True,
    )
    assert isinstance(out[0], jax.Array)


@pytest.mark.parametrize(
    "ours, theirs",
    [(F.conv1d, TF.conv1d), (F.conv_transpose1d, TF.conv_transpose1d)],
    ids=["conv1d", "conv_transpose1d"],
)
def test_functional_on_variables_is_one_tape_op(ours, theirs):
    out = check_op(
        lambda x, w, b: ours(x, w, b, stride=2, padding=1, groups=2),
        lambda x, w, b: theirs(x, w, b, stride=2, padding=1, groups=2),
        [(2, 4, 7), (4, 2, 3), (4,)],
    )
    assert out[0].grad_fn == ours.__name__  # the whole call is one node on the tape


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_functional_padding_mode_equals_torch_pad_then_conv(mode):
    """axon's keyword-only padding_mode is what nn.Conv2d does in torch: F.pad, then conv."""
    check_op(
        jax.jit(lambda x, w: F.conv2d(x, w, padding=(2, 1), padding_mode=mode)),
        lambda x, w: TF.conv2d(TF.pad(x, (1, 1, 2, 2), mode=mode), w),
        [(2, 3, 5, 6), (4, 3, 3, 3)],
        arrays=True,
    )


# ------------------------------------------------------------------------------ jit, grad, vmap
def test_conv2d_training_step_under_axon_jit_equals_eager(numpy_init):
    def make(state=None):
        model = nn.Sequential(
            nn.Conv2d(4, 6, 3, stride=2, groups=2, padding=1, padding_mode="reflect"), nn.ReLU()
        )
        if state is not None:
            model.load_state_dict(state)
        return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(model, opt, x, y):
        opt.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    x = jax.device_put(rng.standard_normal((2, 4, 7, 6)).astype(np.float32))
    y = jax.device_put(rng.standard_normal((2, 6, 4, 3)).astype(np.float32))
    eager_model, eager_opt = make()
    jit_model, jit_opt = make(eager_model.state_dict())
    fast = axon.jit(step)
    eager = [float(step(eager_model, eager_opt, x, y)) for _ in range(3)]
    compiled = [float(fast(jit_model, jit_opt, x, y)) for _ in range(3)]
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    assert eager[-1] < eager[0]
    for key, value in eager_model.state_dict().items():
        assert_close(jit_model.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    assert fast.num_compiles <= 2  # the first call has no .grad or momentum yet
    fast(jit_model, jit_opt, x, y)
    assert fast.num_compiles <= 2


def test_layers_under_jax_jit_grad_and_vmap(numpy_init):
    conv = nn.Conv2d(3, 4, 3, padding="same")
    up = nn.ConvTranspose1d(3, 2, 3, stride=2)
    x = jax.device_put(np.random.default_rng(0).standard_normal((5, 3, 6, 6)).astype(np.float32))
    eager = conv(x).data
    assert_close(jax.jit(lambda m, x: m(x).data)(conv, x), eager)
    assert_close(jax.vmap(lambda sample: conv(sample).data)(x), eager)  # (C, H, W) samples
    grads = jax.grad(lambda m: (m(x).data ** 2).sum())(conv)
    ref = torch.nn.Conv2d(3, 4, 3, padding="same")
    ref.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in conv.state_dict().items()})
    (ref(torch.tensor(np.asarray(x))) ** 2).sum().backward()
    assert_close(grads.weight.data, ref.weight.grad, rtol=1e-5, atol=1e-4)
    assert_close(grads.bias.data, ref.bias.grad, rtol=1e-5, atol=1e-4)
    seq = x[:, :, 0, :]  # (5, 3, 6)
    assert_close(jax.vmap(lambda sample: up(sample).data)(seq), up(seq).data)


# ------------------------------------------------------------------------------------ seed forms
def test_seed_constructors(numpy_init):
    conv = nn.Conv2d.new(3, 64, 3)
    assert type(conv) is nn.Conv2d and repr(conv) == repr(torch.nn.Conv2d(3, 64, 3))
    padded = nn.Conv2d.with_options(3, 64, 3, 1, 1, True)
    assert repr(padded) == repr(torch.nn.Conv2d(3, 64, 3, 1, 1, bias=True))
    assert padded(jnp.zeros((2, 3, 10, 10))).shape == (2, 64, 10, 10)
    c1 = nn.Conv1d.with_options(32, 64, 3, 2, 1, False)
    assert c1.bias is None and c1(jnp.zeros((1, 32, 9))).shape == (1, 64, 5)
    up = nn.ConvTranspose2d.with_options(8, 4, 4, 2, 1, True)
    assert repr(up) == repr(torch.nn.ConvTranspose2d(8, 4, 4, 2, 1))
    assert up(jnp.zeros((1, 8, 5, 5))).shape == (1, 4, 10, 10)
    grouped = nn.Conv2d.with_groups(8, 16, 3, 4)
    assert grouped.groups == 4 and grouped.weight.shape == (16, 2, 3, 3)
    assert repr(grouped) == repr(torch.nn.Conv2d(8, 16, 3, groups=4))
    dw = nn.Conv2d.depthwise(6, 5)
    assert repr(dw) == repr(torch.nn.Conv2d(6, 6, 5, padding=2, groups=6))
    assert dw.weight.shape == (6, 1, 5, 5)
    assert dw(jnp.zeros((2, 6, 7, 7))).shape == (2, 6, 7, 7)  # odd kernels keep the size
    assert nn.Conv1d.depthwise(4, (3,)).padding == (1,)
    assert nn.ConvTranspose1d.with_groups(4, 6, 3, 2).weight.shape == (4, 3, 3)
    for cls in (C1, C2, T1, T2):
        for name in ("new", "with_options", "with_groups", "depthwise"):
            assert isinstance(inspect.getattr_static(cls, name), classmethod)


def test_repr_of_a_model_matches_torch(numpy_init):
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding="same", padding_mode="circular"),
        nn.Conv2d(16, 16, (3, 5), stride=(2, 1), dilation=2, groups=4, bias=False),
        nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, output_padding=1, dilation=2),
        nn.Conv1d(8, 8, 3, padding="valid"),
        nn.ConvTranspose1d(8, 4, 3, groups=2, bias=False),
    )
    ref = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding="same", padding_mode="circular"),
        torch.nn.Conv2d(16, 16, (3, 5), stride=(2, 1), dilation=2, groups=4, bias=False),
        torch.nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, output_padding=1, dilation=2),
        torch.nn.Conv1d(8, 8, 3, padding="valid"),
        torch.nn.ConvTranspose1d(8, 4, 3, groups=2, bias=False),
    )
    assert repr(model) == repr(ref)
    sd, tsd = model.state_dict(), ref.state_dict()
    assert list(sd) == list(tsd)
    assert [tuple(v.shape) for v in sd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert model.num_parameters() == sum(p.numel() for p in ref.parameters())


def test_dtype_argument(numpy_init):
    with jax.enable_x64(True):
        conv = nn.ConvTranspose2d(2, 3, 3, dtype=jnp.float64)
        assert conv.weight.dtype == jnp.float64 and conv.bias.dtype == jnp.float64
        assert conv(jnp.zeros((1, 2, 4, 4), jnp.float64)).dtype == jnp.float64


# ------------------------------------------------------------------------------------------ init
@pytest.mark.parametrize(
    "cls, args, fan_in",
    [(nn.Conv2d, (64, 96, 3, 1, 0, 1, 4), 16 * 9), (nn.Conv1d, (128, 64, 5), 128 * 5),
     (nn.ConvTranspose2d, (64, 128, 4, 1, 0, 0, 2), 64 * 16)],
    ids=["conv2d_groups", "conv1d", "transpose2d_groups"],
)  # fmt: skip
def test_default_init_law(cls, args, fan_in):
    layer = cls(*args)
    assert init_fan_in(layer.weight.shape) == fan_in
    bound = 1 / math.sqrt(fan_in)
    w, b = np.asarray(layer.weight.data), np.asarray(layer.bias.data)
    for values in (w, b):
        assert values.min() >= -bound and values.max() <= bound
    # U(-bound, bound): std bound/√3, mean 0, the whole range used
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert abs(w.mean()) < 0.02 * bound
    assert w.min() < -0.99 * bound and w.max() > 0.99 * bound
    assert b.min() < -0.5 * bound and b.max() > 0.5 * bound  # the bias is not zeros
    t = getattr(torch.nn, cls.__name__)(*args).weight.detach().numpy()
    assert abs(w.std() - t.std()) < 0.04 * bound
    assert abs(np.abs(t).max() - np.abs(w).max()) < 0.01 * bound


def init_fan_in(shape):
    return nn.init.calculate_fan_in_and_fan_out(shape)[0]


def test_init_is_seeded_and_reset_redraws():
    # the shapes of an init-law case above: their RNG programs are already compiled
    axon.manual_seed(5)
    a = nn.Conv1d(128, 64, 5)
    axon.manual_seed(5)
    b = nn.Conv1d(128, 64, 5)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    b.reset_parameters()
    assert not np.array_equal(a.weight.data, b.weight.data)


# ---------------------------------------------------------------------------------------- errors
# (id, axon call, torch call or None, exception, message)
ERRORS = [
    ("channels",
     lambda: nn.Conv2d(3, 8, 3)(jnp.zeros((2, 4, 5, 5))),
     lambda: torch.nn.Conv2d(3, 8, 3)(torch.zeros(2, 4, 5, 5)),
     r"^axon\.nn\.Conv2d: expected input of shape \(N, 3, H, W\) or \(3, H, W\), got "
     r"\(2, 4, 5, 5\)\. The channel dimension must equal in_channels=3\.$"),
    ("channels_transposed_no_batch",
     lambda: nn.ConvTranspose1d(4, 8, 3)(jnp.zeros((3, 5))),
     lambda: torch.nn.ConvTranspose1d(4, 8, 3)(torch.zeros(3, 5)),
     r"^axon\.nn\.ConvTranspose1d: expected input of shape \(N, 4, L\) or \(4, L\), got "
     r"\(3, 5\)\. The channel dimension must equal in_channels=4\.$"),
    ("rank",
     lambda: nn.Conv2d(3, 8, 3)(jnp.zeros((3, 5))),
     lambda: torch.nn.Conv2d(3, 8, 3)(torch.zeros(3, 5)),
     r"^axon\.nn\.Conv2d: expected input of shape \(N, 3, H, W\) or \(3, H, W\), got \(3, 5\)\. "
     r"A 2-D convolution takes 4-D \(batched\) or 3-D \(unbatched\) input\.$"),
    ("rank_conv1d",
     lambda: nn.Conv1d(3, 8, 3)(jnp.zeros((1, 3, 5, 5))),
     lambda: torch.nn.Conv1d(3, 8, 3)(torch.zeros(1, 3, 5, 5)),
     r"^axon\.nn\.Conv1d: expected input of shape \(N, 3, L\) or \(3, L\), got \(1, 3, 5, 5\)"),
    ("too_small",
     lambda: nn.Conv2d(3, 8, 3)(jnp.zeros((1, 3, 2, 2))),
     lambda: torch.nn.Conv2d(3, 8, 3)(torch.zeros(1, 3, 2, 2)),
     r"^axon\.nn\.Conv2d: the input's spatial size \(2, 2\), padded to \(2, 2\), is smaller than "
     r"the dilated kernel size \(3, 3\)\. Use a larger input, more padding, or a smaller kernel "
     r"or dilation\.$"),
    ("too_small_dilated",
     lambda: nn.Conv1d(2, 2, 3, dilation=3, padding=1)(jnp.zeros((1, 2, 4))),
     lambda: torch.nn.Conv1d(2, 2, 3, dilation=3, padding=1)(torch.zeros(1, 2, 4)),
     r"spatial size \(4,\), padded to \(6,\), is smaller than the dilated kernel size \(7,\)"),
    ("transposed_output_not_positive",
     lambda: nn.ConvTranspose2d(3, 8, 3, padding=3)(jnp.zeros((1, 3, 1, 1))),
     lambda: torch.nn.ConvTranspose2d(3, 8, 3, padding=3)(torch.zeros(1, 3, 1, 1)),
     r"^axon\.nn\.ConvTranspose2d: for input spatial size \(1, 1\) the output size would be "
     r"\(-3, -3\); it must be positive\. Use less padding or a larger input\.$"),
    ("in_channels_groups",
     lambda: nn.Conv2d(3, 8, 3, groups=2), lambda: torch.nn.Conv2d(3, 8, 3, groups=2),
     r"^axon\.nn\.Conv2d: in_channels \(3\) must be divisible by groups \(2\)\.$"),
    ("out_channels_groups",
     lambda: nn.ConvTranspose2d(4, 6, 3, groups=4),
     lambda: torch.nn.ConvTranspose2d(4, 6, 3, groups=4),
     r"^axon\.nn\.ConvTranspose2d: out_channels \(6\) must be divisible by groups \(4\)\.$"),
    ("groups_zero",
     lambda: nn.Conv1d(4, 4, 3, groups=0), lambda: torch.nn.Conv1d(4, 4, 3, groups=0),
     r"^axon\.nn\.Conv1d: groups must be a positive int, got 0\.$"),
    ("padding_mode",
     lambda: nn.Conv2d(3, 8, 3, padding_mode="mirror"),
     lambda: torch.nn.Conv2d(3, 8, 3, padding_mode="mirror"),
     r"^axon\.nn\.Conv2d: padding_mode must be one of \('zeros', 'reflect', 'replicate', "
     r"'circular'\), got 'mirror'\.$"),
    ("transposed_padding_mode",
     lambda: nn.ConvTranspose2d(3, 8, 3, padding_mode="reflect"),
     lambda: torch.nn.ConvTranspose2d(3, 8, 3, padding_mode="reflect"),
     r"^axon\.nn\.ConvTranspose2d: only padding_mode='zeros' is supported, got 'reflect'\.$"),
    ("same_with_stride",
     lambda: nn.Conv2d(3, 8, 3, stride=2, padding="same"),
     lambda: torch.nn.Conv2d(3, 8, 3, stride=2, padding="same"),
     r"^axon\.nn\.Conv2d: padding='same' is not supported for strided convolutions, got "
     r"stride=\(2, 2\)\. Use stride=1, or pass the padding as ints\.$"),
    ("valid_with_stride_is_fine_but_unknown_string_is_not",
     lambda: nn.Conv1d(3, 8, 3, stride=2, padding="full"),
     lambda: torch.nn.Conv1d(3, 8, 3, stride=2, padding="full"),
     r"^axon\.nn\.Conv1d: padding must be an int, a tuple of 1 ints, 'same' or 'valid', got "
     r"'full'\.$"),
    ("output_padding",
     lambda: nn.ConvTranspose2d(3, 8, 3, stride=2, output_padding=2),
     lambda: torch.nn.ConvTranspose2d(3, 8, 3, stride=2, output_padding=2)(
         torch.zeros(1, 3, 4, 4)),
     r"^axon\.nn\.ConvTranspose2d: output_padding \(2, 2\) must be smaller than either stride "
     r"\(2, 2\) or dilation \(1, 1\) in each dimension\.$"),
    ("output_padding_one_dim",
     lambda: nn.ConvTranspose2d(3, 8, 3, stride=(2, 1), output_padding=(1, 1)),
     lambda: torch.nn.ConvTranspose2d(3, 8, 3, stride=(2, 1), output_padding=(1, 1))(
         torch.zeros(1, 3, 4, 4)),
     r"output_padding \(1, 1\) must be smaller than either stride \(2, 1\) or dilation \(1, 1\)"),
    ("reflect_too_wide",
     lambda: nn.Conv2d(3, 8, 3, padding=2, padding_mode="reflect")(jnp.zeros((1, 3, 2, 5))),
     lambda: torch.nn.Conv2d(3, 8, 3, padding=2, padding_mode="reflect")(
         torch.zeros(1, 3, 2, 5)),
     r"^axon\.nn\.Conv2d: padding_mode='reflect' needs each padding smaller than the size it "
     r"pads, got padding \(\(2, 2\), \(2, 2\)\) for input spatial size \(2, 5\)\.$"),
    ("circular_too_wide",
     lambda: nn.Conv1d(3, 8, 3, padding=4, padding_mode="circular")(jnp.zeros((1, 3, 3))),
     lambda: torch.nn.Conv1d(3, 8, 3, padding=4, padding_mode="circular")(torch.zeros(1, 3, 3)),
     r"padding_mode='circular' needs each padding at most the size it pads, got padding "
     r"\(\(4, 4\),\) for input spatial size \(3,\)"),
    ("output_size_length",
     lambda: nn.ConvTranspose2d(3, 8, 3, stride=2)(jnp.zeros((1, 3, 4, 4)), output_size=(9,)),
     lambda: torch.nn.ConvTranspose2d(3, 8, 3, stride=2)(torch.zeros(1, 3, 4, 4),
                                                          output_size=(9,)),
     r"^axon\.nn\.ConvTranspose2d: output_size must have 2 or 4 elements for a 4-D input, got "
     r"\(9,\)\.$"),
    ("output_size_range",
     lambda: nn.ConvTranspose2d(3, 8, 3, stride=2)(jnp.zeros((3, 4, 4)), output_size=(12, 9)),
     lambda: torch.nn.ConvTranspose2d(3, 8, 3, stride=2)(torch.zeros(3, 4, 4),
                                                          output_size=(12, 9)),
     r"^axon\.nn\.ConvTranspose2d: requested an output size of \(12, 9\), but valid sizes range "
     r"from \(9, 9\) to \(10, 10\) \(for an input of spatial size \(4, 4\)\)\.$"),
    ("kernel_size",
     lambda: nn.Conv2d(3, 8, (3, 0)), lambda: torch.nn.Conv2d(3, 8, (3, 0))(
         torch.zeros(1, 3, 4, 4)),
     r"^axon\.nn\.Conv2d: kernel_size must be a positive int or a tuple of 2 positive ints, got "
     r"\(3, 0\)\.$"),
    ("stride_zero",
     lambda: nn.Conv1d(3, 8, 3, stride=0), lambda: torch.nn.Conv1d(3, 8, 3, stride=0)(
         torch.zeros(1, 3, 4)),
     r"^axon\.nn\.Conv1d: stride must be a positive int or a tuple of 1 positive ints, got 0\.$"),
    ("negative_padding",
     lambda: nn.Conv2d(3, 8, 3, padding=(1, -1)), lambda: torch.nn.Conv2d(3, 8, 3, padding=(
         1, -1))(torch.zeros(1, 3, 4, 4)),
     r"padding must be a non-negative int or a tuple of 2 non-negative ints, got \(1, -1\)"),
    ("transposed_string_padding",
     lambda: nn.ConvTranspose2d(3, 8, 3, padding="same"),
     lambda: torch.nn.ConvTranspose2d(3, 8, 3, padding="same")(torch.zeros(1, 3, 4, 4)),
     r"^axon\.nn\.ConvTranspose2d: padding must be a non-negative int or a tuple of 2 "
     r"non-negative ints, got 'same'\.$"),
    ("in_channels",
     lambda: nn.Conv2d(0, 8, 3), None,
     r"^axon\.nn\.Conv2d: in_channels must be a positive int, got 0\.$"),
    ("functional_channels",
     lambda: F.conv2d(jnp.zeros((1, 3, 5, 5)), jnp.zeros((8, 2, 3, 3)), groups=2),
     lambda: TF.conv2d(torch.zeros(1, 3, 5, 5), torch.zeros(8, 2, 3, 3), groups=2),
     r"^axon\.functional\.conv2d: expected input of shape \(N, 4, H, W\) or \(4, H, W\), got "
     r"\(1, 3, 5, 5\)\. The channel dimension must equal in_channels=4\.$"),
    ("functional_weight_rank",
     lambda: F.conv1d(jnp.zeros((1, 3, 5)), jnp.zeros((8, 3, 3, 3))),
     lambda: TF.conv1d(torch.zeros(1, 3, 5), torch.zeros(8, 3, 3, 3)),
     r"^axon\.functional\.conv1d: expected a weight of shape \(out_channels, "
     r"in_channels/groups, kL\), got \(8, 3, 3, 3\)\.$"),
    ("functional_weight_groups",
     lambda: F.conv_transpose2d(jnp.zeros((1, 6, 5, 5)), jnp.zeros((6, 2, 3, 3)), groups=4),
     lambda: TF.conv_transpose2d(torch.zeros(1, 6, 5, 5), torch.zeros(6, 2, 3, 3), groups=4),
     r"^axon\.functional\.conv_transpose2d: the weight's dim 0 \(6\) must be divisible by groups "
     r"\(4\)\.$"),
    ("functional_bias",
     lambda: F.conv2d(jnp.zeros((1, 3, 5, 5)), jnp.zeros((8, 3, 3, 3)), jnp.zeros(3)),
     lambda: TF.conv2d(torch.zeros(1, 3, 5, 5), torch.zeros(8, 3, 3, 3), torch.zeros(3)),
     r"^axon\.functional\.conv2d: expected a bias of shape \(8,\), got \(3,\)\.$"),
    ("functional_on_variables",
     lambda: F.conv2d(axon.Variable(jnp.zeros((1, 3, 2, 2)), requires_grad=True),
                      jnp.zeros((8, 3, 3, 3))),
     lambda: TF.conv2d(torch.zeros(1, 3, 2, 2), torch.zeros(8, 3, 3, 3)),
     r"^axon\.functional\.conv2d: the input's spatial size \(2, 2\), padded to \(2, 2\), is "
     r"smaller than the dilated kernel size \(3, 3\)"),
]  # fmt: skip


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_error_messages(case, numpy_init):
    _, ours, theirs, match = case
    check_raises(ours, theirs, ValueError, match)


def test_error_names_the_layer_path(numpy_init):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    with pytest.raises(
        ValueError,
        match=r"^axon\.nn\.Conv2d \(2\): the input's spatial size \(1, 1\), padded to \(1, 1\)",
    ):
        model(jnp.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"^axon\.nn\.Conv2d \(0\): expected input of shape"):
        model(jnp.zeros((1, 1, 3, 3)))


@pytest.mark.parametrize("bad", [[[1.0, 2.0]], "abc", None], ids=["list", "str", "none"])
def test_non_array_input(bad, numpy_init):
    with pytest.raises(
        TypeError, match=r"^axon\.nn\.Conv1d: expected a Variable or array input, got \w+\.$"
    ):
        nn.Conv1d(1, 1, 1)(bad)
