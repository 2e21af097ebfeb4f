"""Activation modules against their torch twins: forward, gradient, repr and argument checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import DTYPE_IDS, DTYPES, assert_close, check_op

import axon
from axon import nn

jax.config.update("jax_default_matmul_precision", "highest")

T = torch.nn
SHAPE = (2, 3, 4)  # one input shape for the whole table: fewer kernels to compile

# (id, axon module, torch module, input shape)
CASES = [
    ("relu", lambda: nn.ReLU(), lambda: T.ReLU(), SHAPE),
    ("sigmoid", lambda: nn.Sigmoid(), lambda: T.Sigmoid(), SHAPE),
    ("tanh", lambda: nn.Tanh(), lambda: T.Tanh(), SHAPE),
    ("gelu", lambda: nn.GELU(), lambda: T.GELU(), SHAPE),
    ("gelu_tanh", lambda: nn.GELU(approximate="tanh"), lambda: T.GELU(approximate="tanh"), SHAPE),
    ("silu", lambda: nn.SiLU(), lambda: T.SiLU(), SHAPE),
    ("mish", lambda: nn.Mish(), lambda: T.Mish(), SHAPE),
    ("identity", lambda: nn.Identity(), lambda: T.Identity(), SHAPE),
    ("leaky_relu", lambda: nn.LeakyReLU(), lambda: T.LeakyReLU(), SHAPE),
    ("leaky_relu_0.1_seed", lambda: nn.LeakyReLU.with_slope(0.1), lambda: T.LeakyReLU(0.1), SHAPE),
    ("elu", lambda: nn.ELU(), lambda: T.ELU(), SHAPE),
    ("elu_0.5_seed", lambda: nn.ELU.with_alpha(0.5), lambda: T.ELU(alpha=0.5), SHAPE),
    ("softmax_dim0", lambda: nn.Softmax(dim=0), lambda: T.Softmax(dim=0), SHAPE),
    ("softmax_dim1", lambda: nn.Softmax(dim=1), lambda: T.Softmax(dim=1), SHAPE),
    ("softmax_dim-1", lambda: nn.Softmax(dim=-1), lambda: T.Softmax(dim=-1), SHAPE),
    ("log_softmax_dim0", lambda: nn.LogSoftmax(dim=0), lambda: T.LogSoftmax(dim=0), SHAPE),
    ("log_softmax_dim-2", lambda: nn.LogSoftmax(dim=-2), lambda: T.LogSoftmax(dim=-2), SHAPE),
    ("flatten", lambda: nn.Flatten(), lambda: T.Flatten(), SHAPE),
    ("flatten_0_1", lambda: nn.Flatten(0, 1), lambda: T.Flatten(0, 1), SHAPE),
    ("flatten_all", lambda: nn.Flatten(0, -1), lambda: T.Flatten(0, -1), SHAPE),
    ("flatten_-2_-1", lambda: nn.Flatten(-2, -1), lambda: T.Flatten(-2, -1), SHAPE),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(
    "make, make_torch, shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_matches_torch(make, make_torch, shape, dtype):
    """Forward and the gradient of a random cotangent through the tape (arrays: next tests)."""
    check_op(make(), make_torch(), [shape], dtype, low=-3.0, high=3.0)


def test_seed_values():
    x = jnp.array([-1.0, 0.0, 1.0])
    assert nn.LeakyReLU.with_slope(0.1)(x).tolist() == pytest.approx([-0.1, 0.0, 1.0])
    assert nn.ELU.with_alpha(0.5)(x).tolist() == pytest.approx([0.5 * (np.exp(-1) - 1), 0.0, 1.0])
    assert nn.LeakyReLU.with_slope(0.1).negative_slope == 0.1
    assert nn.ELU.with_alpha(0.5).alpha == 0.5
    assert nn.LeakyReLU().negative_slope == 0.01 and nn.ELU().alpha == 1.0


@pytest.mark.parametrize(
    "make, make_torch",
    [(lambda: nn.ReLU(), lambda: T.ReLU()),
     (lambda: nn.LeakyReLU(0.1), lambda: T.LeakyReLU(0.1)),
     (lambda: nn.ELU(0.5), lambda: T.ELU(0.5)),
     (lambda: nn.GELU(), lambda: T.GELU()),
     (lambda: nn.SiLU(), lambda: T.SiLU()),
     (lambda: nn.Mish(), lambda: T.Mish())],
    ids=["relu", "leaky_relu", "elu", "gelu", "silu", "mish"],
)  # fmt: skip
def test_gradient_at_zero_matches_torch(make, make_torch):
    """The kinks: which side's derivative is taken at exactly 0 must match PyTorch."""
    check_op(make(), make_torch(), inputs=[np.array([-1.0, 0.0, 1.0], np.float32)])


# -------------------------------------------------------------------------------- JAX invariants
@pytest.mark.parametrize(
    "make, make_torch", [c[1:3] for c in CASES[::5]], ids=[c[0] for c in CASES[::5]]
)
def test_on_arrays_is_plain_jax(make, make_torch):
    check_op(make(), make_torch(), [SHAPE], low=-3.0, high=3.0, arrays=True)


def test_under_jit_grad_vmap():
    x = jnp.asarray(np.random.default_rng(0).uniform(-2, 2, SHAPE), jnp.float32)
    for module in (nn.GELU(), nn.LogSoftmax(dim=-2)):
        eager = module(x)
        assert isinstance(eager, jax.Array)
        assert_close(jax.jit(lambda m, x: m(x))(module, x), eager)
        assert_close(jax.vmap(module)(x), eager)  # negative dims mean the same per example
        g = jax.grad(lambda x, m=module: (m(x) ** 2).sum())(x)
        v = axon.Variable(x, requires_grad=True)
        (module(v) ** 2).sum().backward()
        assert_close(g, v.grad)


def test_modules_work_bare_in_sequential():
    classes = [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.Mish, nn.Identity, nn.LeakyReLU,
               nn.ELU, nn.Softmax, nn.LogSoftmax, nn.Flatten]  # fmt: skip
    model = nn.Sequential()
    for cls in classes:
        model.add(cls)
    assert [type(m) for m in model] == classes
    assert model(jnp.ones((2, 3))).shape == (2, 3)


def test_parameterless():
    for cls in (nn.ReLU, nn.GELU, nn.Softmax, nn.Flatten, nn.ELU):
        module = cls()
        assert module.parameters() == [] and module.state_dict() == {}
        assert module.num_parameters() == 0


# ------------------------------------------------------------------------------------------ repr
REPRS = [
    (nn.ReLU(), T.ReLU()),
    (nn.ReLU(inplace=True), T.ReLU(inplace=True)),
    (nn.Sigmoid(), T.Sigmoid()),
    (nn.Tanh(), T.Tanh()),
    (nn.GELU(), T.GELU()),
    (nn.GELU(approximate="tanh"), T.GELU(approximate="tanh")),
    (nn.SiLU(), T.SiLU()),
    (nn.SiLU(inplace=True), T.SiLU(inplace=True)),
    (nn.Mish(), T.Mish()),
    (nn.Identity(), T.Identity()),
    (nn.Identity(3, foo=1), T.Identity(3, foo=1)),
    (nn.LeakyReLU(), T.LeakyReLU()),
    (nn.LeakyReLU.with_slope(0.1), T.LeakyReLU(0.1)),
    (nn.LeakyReLU(0.2, inplace=True), T.LeakyReLU(0.2, inplace=True)),
    (nn.ELU(), T.ELU()),
    (nn.ELU.with_alpha(0.5), T.ELU(alpha=0.5)),
    (nn.ELU(2, inplace=True), T.ELU(2, inplace=True)),
    (nn.ELU(2.0), T.ELU(2.0)),
    (nn.LeakyReLU(1), T.LeakyReLU(1)),
    (nn.Softmax(dim=1), T.Softmax(dim=1)),
    (nn.LogSoftmax(dim=-1), T.LogSoftmax(dim=-1)),
    (nn.Flatten(), T.Flatten()),
    (nn.Flatten(0, 2), T.Flatten(0, 2)),
]


@pytest.mark.parametrize("ours, theirs", REPRS, ids=[repr(t) for _, t in REPRS])
def test_repr_equals_torch(ours, theirs):
    assert repr(ours) == repr(theirs)


# --------------------------------------------------------------------------------- bad arguments
def test_gelu_bad_approximation():
    with pytest.raises(
        ValueError, match=r"^axon\.nn\.GELU: approximate must be 'none' or 'tanh', got 'x'\.$"
    ):
        nn.GELU(approximate="x")
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        T.GELU(approximate="x")(torch.zeros(1))  # torch checks only when called
    with pytest.raises(
        ValueError,
        match=r"axon\.functional\.gelu: approximate must be one of \('none', 'tanh'\), got 'x'",
    ):
        axon.functional.gelu(jnp.zeros(2), "x")


@pytest.mark.parametrize(
    "make, shown",
    [(lambda: nn.Softmax(dim="a"), "axon.nn.Softmax: dim must be an int, got 'a'."),
     (lambda: nn.LogSoftmax(dim=None), "axon.nn.LogSoftmax: dim must be an int, got None."),
     (lambda: nn.Flatten(start_dim=1.5), "axon.nn.Flatten: dim must be an int, got 1.5."),
     (lambda: nn.Flatten(end_dim=True), "axon.nn.Flatten: dim must be an int, got True."),
     (lambda: nn.LeakyReLU("0.1"),
      "axon.nn.LeakyReLU: negative_slope must be a number, got '0.1'."),
     (lambda: nn.ELU(None), "axon.nn.ELU: alpha must be a number, got None.")],
    ids=["softmax_str", "log_softmax_none", "flatten_float", "flatten_bool", "leaky_str",
         "elu_none"],
)  # fmt: skip
def test_bad_argument_types(make, shown):
    with pytest.raises(TypeError, match="^" + shown.replace(".", r"\.") + "$"):
        make()


@pytest.mark.parametrize(
    "module, torch_module, shape, shown",
    [(nn.Softmax(dim=3), T.Softmax(dim=3), SHAPE,
      r"axon\.nn\.Softmax: dimension 3 is out of range for an input of shape \(2, 3, 4\) "
      r"\(valid: -3 to 2\)\."),
     (nn.LogSoftmax(dim=-4), T.LogSoftmax(dim=-4), SHAPE,
      r"axon\.nn\.LogSoftmax: dimension -4 is out of range for an input of shape \(2, 3, 4\)"),
     (nn.Flatten(1, 5), T.Flatten(1, 5), SHAPE,
      r"axon\.nn\.Flatten: dimension 5 is out of range for an input of shape \(2, 3, 4\)"),
     (nn.Flatten(2, 1), T.Flatten(2, 1), SHAPE,
      r"axon\.nn\.Flatten: start_dim=2 comes after end_dim=1 for an input of shape \(2, 3, 4\)\."),
     (nn.Flatten(-1, 0), T.Flatten(-1, 0), SHAPE, r"start_dim=-1 comes after end_dim=0"),
     (nn.Flatten(2, -1), T.Flatten(2, -1), (4,),
      r"axon\.nn\.Flatten: dimension 2 is out of range for an input of shape \(4,\) "
      r"\(valid: -1 to 0\)")],
    ids=["softmax_dim", "log_softmax_dim", "flatten_end", "flatten_order", "flatten_order_neg",
         "flatten_1d"],
)  # fmt: skip
def test_bad_dims_at_call(module, torch_module, shape, shown):
    with pytest.raises(ValueError, match=shown):
        module(jnp.zeros(shape))
    with pytest.raises((IndexError, RuntimeError)):
        torch_module(torch.zeros(shape))


def test_flatten_rank0_like_torch():
    assert (
        nn.Flatten(0, -1)(jnp.ones(())).shape
        == tuple(T.Flatten(0, -1)(torch.ones(())).shape)
        == (1,)
    )
    with pytest.raises(
        ValueError, match=r"axon\.nn\.Softmax: expected an input with at least 1 dimension"
    ):
        nn.Softmax(dim=0)(jnp.ones(()))
