"""Every Variable operator and method of API.md against PyTorch: forward values and gradients.

Each row of a table is (id, axon function, torch function, input shapes, options); `check_op` builds
the same random inputs for both, compares the outputs, pulls a random cotangent back through both
and compares every input gradient, in float32 and (inside `jax.enable_x64`) float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import DTYPE_IDS, DTYPES, assert_close, check_op, x64

import axon
from axon import Variable
from axon import functional as F


@dataclass
class Case:
    id: str
    axon_fn: Callable
    torch_fn: Callable
    shapes: list[tuple[int, ...]]
    opts: dict = field(default_factory=dict)  # low/high/rtol/atol for check_op

    @property
    def param(self):
        return pytest.param(self, id=self.id)


def const(shape, like, low=0.5, high=1.5, seed=7) -> np.ndarray:
    """A fixed numpy constant in the float dtype of `like` (a Variable or a torch tensor)."""
    dtype = np.float64 if str(like.dtype).endswith("64") else np.float32
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


def jc(shape, like, **kw):  # the constant as a jax array
    return jnp.asarray(const(shape, like, **kw))


def tc(shape, like, **kw):  # the constant as a torch tensor
    return torch.tensor(const(shape, like, **kw))


POS = dict(low=0.5, high=2.0)  # inputs of log, sqrt, division, fractional powers

# ----------------------------------------------------------------------------- operators
OPERATOR_CASES = [
    # Variable with Variable, same shape and broadcast
    Case("add", lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (3, 4)]),
    Case("add-broadcast", lambda a, b: a + b, lambda a, b: a + b, [(2, 3, 4), (4,)]),
    Case("add-broadcast-both", lambda a, b: a + b, lambda a, b: a + b, [(3, 1), (1, 4)]),
    Case("sub", lambda a, b: a - b, lambda a, b: a - b, [(3, 4), (3, 4)]),
    Case("sub-broadcast", lambda a, b: a - b, lambda a, b: a - b, [(4,), (2, 3, 4)]),
    Case("mul", lambda a, b: a * b, lambda a, b: a * b, [(3, 4), (3, 4)]),
    Case("mul-broadcast", lambda a, b: a * b, lambda a, b: a * b, [(2, 1, 4), (3, 1)]),
    Case("div", lambda a, b: a / b, lambda a, b: a / b, [(3, 4), (3, 4)], POS),
    Case("div-broadcast", lambda a, b: a / b, lambda a, b: a / b, [(3, 4), (4,)], POS),
    Case("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 5)]),
    Case("matmul-batched", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    Case(
        "matmul-batch-broadcast", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)]
    ),
    Case("matmul-vec-mat", lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (4, 5)]),
    Case("matmul-mat-vec", lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4,)]),
    Case("matmul-vec-vec", lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (4,)]),
    Case("pow-var-var", lambda a, b: a**b, lambda a, b: a**b, [(3, 4), (3, 4)], POS),
    Case("neg", lambda a: -a, lambda a: -a, [(3, 4)]),
    Case("pos", lambda a: +a, lambda a: +a, [(3, 4)]),
    Case("abs-builtin", lambda a: abs(a), lambda a: abs(a), [(3, 4)]),
    # Variable with a jax array, a numpy array, on either side
    Case("add-jax-right", lambda a: a + jc((4,), a), lambda a: a + tc((4,), a), [(3, 4)]),
    Case("add-jax-left", lambda a: jc((4,), a) + a, lambda a: tc((4,), a) + a, [(3, 4)]),
    Case("add-numpy-left", lambda a: const((4,), a) + a, lambda a: tc((4,), a) + a, [(3, 4)]),
    Case("sub-jax-left", lambda a: jc((3, 4), a) - a, lambda a: tc((3, 4), a) - a, [(3, 4)]),
    Case("sub-numpy-right", lambda a: a - const((3, 4), a), lambda a: a - tc((3, 4), a), [(3, 4)]),
    Case("sub-numpy-left", lambda a: const((3, 4), a) - a, lambda a: tc((3, 4), a) - a, [(3, 4)]),
    Case("mul-jax-left", lambda a: jc((3, 1), a) * a, lambda a: tc((3, 1), a) * a, [(3, 4)]),
    Case("mul-numpy-right", lambda a: a * const((4,), a), lambda a: a * tc((4,), a), [(3, 4)]),
    Case("div-jax-left", lambda a: jc((4,), a) / a, lambda a: tc((4,), a) / a, [(3, 4)], POS),
    Case("div-numpy-right", lambda a: a / const((4,), a), lambda a: a / tc((4,), a), [(3, 4)]),
    Case("div-numpy-left", lambda a: const((4,), a) / a, lambda a: tc((4,), a) / a, [(3, 4)], POS),
    Case("matmul-jax-left", lambda a: jc((2, 3), a) @ a, lambda a: tc((2, 3), a) @ a, [(3, 4)]),
    Case(
        "matmul-numpy-left", lambda a: const((2, 3), a) @ a, lambda a: tc((2, 3), a) @ a, [(3, 4)]
    ),
    Case("matmul-jax-right", lambda a: a @ jc((4, 2), a), lambda a: a @ tc((4, 2), a), [(3, 4)]),
    Case("pow-jax-exponent", lambda a: a ** jc((4,), a), lambda a: a ** tc((4,), a), [(3, 4)], POS),
    Case("pow-jax-base", lambda a: jc((4,), a) ** a, lambda a: tc((4,), a) ** a, [(3, 4)]),
    # Variable with Python numbers, on either side
    Case("add-number", lambda a: a + 2.5, lambda a: a + 2.5, [(3, 4)]),
    Case("radd-number", lambda a: 2.5 + a, lambda a: 2.5 + a, [(3, 4)]),
    Case("add-int", lambda a: a + 2, lambda a: a + 2, [(3, 4)]),
    Case("sub-number", lambda a: a - 1.5, lambda a: a - 1.5, [(3, 4)]),
    Case("rsub-number", lambda a: 1.5 - a, lambda a: 1.5 - a, [(3, 4)]),
    Case("mul-number", lambda a: a * 3.0, lambda a: a * 3.0, [(3, 4)]),
    Case("rmul-int", lambda a: 3 * a, lambda a: 3 * a, [(3, 4)]),
    Case("div-number", lambda a: a / 4.0, lambda a: a / 4.0, [(3, 4)]),
    Case("rdiv-number", lambda a: 3.0 / a, lambda a: 3.0 / a, [(3, 4)], POS),
    Case("pow-int", lambda a: a**2, lambda a: a**2, [(3, 4)]),
    Case("pow-int3", lambda a: a**3, lambda a: a**3, [(3, 4)]),
    Case("pow-half", lambda a: a**0.5, lambda a: a**0.5, [(3, 4)], POS),
    Case("pow-negative", lambda a: a**-1.5, lambda a: a**-1.5, [(3, 4)], POS),
    Case("rpow-number", lambda a: 2.0**a, lambda a: 2.0**a, [(3, 4)]),
    # 0-d Variables
    Case("scalar-mul", lambda a, b: a * b, lambda a, b: a * b, [(), (3,)]),
]

# ----------------------------------------------------------------------------- indexing
MASK = np.array(
    [[True, False, True, False], [False, False, True, True], [True, True, False, False]]
)
IDX = np.array([2, 0, 2])  # a repeated index: its gradient is accumulated
IDX2 = np.array([[1, 0], [2, 2]])

INDEX_CASES = [
    Case("int", lambda a: a[1], lambda a: a[1], [(3, 4)]),
    Case("negative-int", lambda a: a[-1], lambda a: a[-1], [(3, 4)]),
    Case("int-int", lambda a: a[1, 2], lambda a: a[1, 2], [(3, 4)]),
    Case("slice", lambda a: a[1:3], lambda a: a[1:3], [(5, 4)]),
    Case("slice-step", lambda a: a[::2, 1:], lambda a: a[::2, 1:], [(5, 4)]),
    Case("slice-negative-bounds", lambda a: a[-3:-1], lambda a: a[-3:-1], [(5, 4)]),
    # torch has no negative steps: flip, then step forward
    Case("negative-step", lambda a: a[::-1], lambda a: a.flip(0), [(5, 4)]),
    Case("negative-step-2", lambda a: a[:, ::-2], lambda a: a.flip(1)[:, ::2], [(3, 5)]),
    Case("none", lambda a: a[None], lambda a: a[None], [(3, 4)]),
    Case("none-middle", lambda a: a[:, None, 1:], lambda a: a[:, None, 1:], [(3, 4)]),
    Case("ellipsis", lambda a: a[..., 1], lambda a: a[..., 1], [(2, 3, 4)]),
    Case("ellipsis-slice", lambda a: a[..., :2], lambda a: a[..., :2], [(2, 3, 4)]),
    Case("ellipsis-none", lambda a: a[0, ..., None], lambda a: a[0, ..., None], [(2, 3, 4)]),
    Case("int-array", lambda a: a[jnp.asarray(IDX)], lambda a: a[torch.tensor(IDX)], [(3, 4)]),
    Case("numpy-int-array", lambda a: a[IDX], lambda a: a[torch.tensor(IDX)], [(3, 4)]),
    Case("list-index", lambda a: a[[2, 0, 2]], lambda a: a[[2, 0, 2]], [(3, 4)]),
    Case("int-array-2d", lambda a: a[jnp.asarray(IDX2)], lambda a: a[torch.tensor(IDX2)], [(3, 4)]),
    Case(
        "int-array-dim1",
        lambda a: a[:, jnp.asarray(IDX)],
        lambda a: a[:, torch.tensor(IDX)],
        [(3, 4)],
    ),
    Case(
        "variable-index",
        lambda a: a[Variable(jnp.asarray(IDX))],
        lambda a: a[torch.tensor(IDX)],
        [(3, 4)],
    ),
    Case(
        "two-int-arrays",
        lambda a: a[jnp.asarray(IDX), jnp.asarray([0, 3, 3])],
        lambda a: a[torch.tensor(IDX), torch.tensor([0, 3, 3])],
        [(3, 4)],
    ),
    Case("bool-mask", lambda a: a[jnp.asarray(MASK)], lambda a: a[torch.tensor(MASK)], [(3, 4)]),
    Case("numpy-bool-mask", lambda a: a[MASK], lambda a: a[torch.tensor(MASK)], [(3, 4)]),
    Case(
        "bool-mask-rows", lambda a: a[MASK[:, 0]], lambda a: a[torch.tensor(MASK[:, 0])], [(3, 4)]
    ),
    Case("variable-mask", lambda a: a[a > 0], lambda a: a[a > 0], [(3, 4)]),
    Case(
        "bool-list-dim1",
        lambda a: a[:, [True, False, False, True]],
        lambda a: a[:, [True, False, False, True]],
        [(3, 4)],
    ),
    Case("ellipsis-int-array", lambda a: a[..., [0, 0]], lambda a: a[..., [0, 0]], [(2, 3, 4)]),
]

# ----------------------------------------------------------------------------- comparisons
COMPARE_CASES = [
    Case("lt", lambda a, b: a < b, lambda a, b: a < b, [(3, 4), (3, 4)]),
    Case("le", lambda a, b: a <= b, lambda a, b: a <= b, [(3, 4), (4,)]),
    Case("gt-number", lambda a: a > 0.5, lambda a: a > 0.5, [(3, 4)]),
    Case("ge-number-left", lambda a: 0.5 >= a, lambda a: 0.5 >= a, [(3, 4)]),
    Case("eq", lambda a: a == a[0], lambda a: a == a[0], [(3, 4)]),
    Case("ne", lambda a: a != a[:, :1], lambda a: a != a[:, :1], [(3, 4)]),
    Case(
        "gt-jax-left",
        lambda a: jc((4,), a, low=-1, high=1) > a,
        lambda a: tc((4,), a, low=-1, high=1) > a,
        [(3, 4)],
    ),
    Case(
        "lt-numpy-left",
        lambda a: const((4,), a, low=-1, high=1) < a,
        lambda a: tc((4,), a, low=-1, high=1) < a,
        [(3, 4)],
    ),
]

# ----------------------------------------------------------------------------- methods
METHOD_CASES = [
    # reductions
    Case("sum", lambda a: a.sum(), lambda a: a.sum(), [(3, 4)]),
    Case("sum-dim", lambda a: a.sum(1), lambda a: a.sum(1), [(3, 4)]),
    Case(
        "sum-dim-negative-keepdim",
        lambda a: a.sum(-1, keepdim=True),
        lambda a: a.sum(-1, keepdim=True),
        [(2, 3, 4)],
    ),
    Case("sum-dims-tuple", lambda a: a.sum((0, 2)), lambda a: a.sum((0, 2)), [(2, 3, 4)]),
    Case("sum-dims-list", lambda a: a.sum([0, 1]), lambda a: a.sum([0, 1]), [(2, 3, 4)]),
    Case("mean", lambda a: a.mean(), lambda a: a.mean(), [(3, 4)]),
    Case("mean-dim", lambda a: a.mean(0), lambda a: a.mean(0), [(3, 4)]),
    Case(
        "mean-dim-keepdim",
        lambda a: a.mean(1, keepdim=True),
        lambda a: a.mean(1, keepdim=True),
        [(2, 3, 4)],
    ),
    Case("var", lambda a: a.var(), lambda a: a.var(), [(3, 4)]),
    Case("var-dim", lambda a: a.var(1), lambda a: a.var(1), [(3, 4)]),
    Case(
        "var-biased-keepdim",
        lambda a: a.var(0, False, True),
        lambda a: a.var(0, unbiased=False, keepdim=True),
        [(3, 4)],
    ),
    Case("std", lambda a: a.std(), lambda a: a.std(), [(3, 4)]),
    Case("std-dim", lambda a: a.std(-1), lambda a: a.std(-1), [(2, 3, 4)]),
    Case(
        "std-biased",
        lambda a: a.std(1, unbiased=False),
        lambda a: a.std(1, unbiased=False),
        [(3, 4)],
    ),
    Case("max", lambda a: a.max(), lambda a: a.max(), [(3, 4)]),
    Case("max-dim", lambda a: a.max(1), lambda a: tuple(a.max(1)), [(3, 4)]),
    Case(
        "max-dim-keepdim",
        lambda a: a.max(0, keepdim=True),
        lambda a: tuple(a.max(0, keepdim=True)),
        [(3, 4)],
    ),
    Case("min", lambda a: a.min(), lambda a: a.min(), [(3, 4)]),
    Case("min-dim", lambda a: a.min(-1), lambda a: tuple(a.min(-1)), [(2, 3, 4)]),
    Case("argmax", lambda a: a.argmax(), lambda a: a.argmax(), [(3, 4)]),
    Case("argmax-dim", lambda a: a.argmax(1), lambda a: a.argmax(1), [(3, 4)]),
    Case(
        "argmax-dim-keepdim",
        lambda a: a.argmax(0, keepdim=True),
        lambda a: a.argmax(0, keepdim=True),
        [(3, 4)],
    ),
    Case("argmin-dim", lambda a: a.argmin(1), lambda a: a.argmin(1), [(3, 4)]),
    # shapes
    Case("reshape", lambda a: a.reshape(4, 3), lambda a: a.reshape(4, 3), [(3, 4)]),
    Case("reshape-tuple", lambda a: a.reshape((2, -1)), lambda a: a.reshape((2, -1)), [(3, 4)]),
    Case("view", lambda a: a.view(-1), lambda a: a.view(-1), [(3, 4)]),
    Case("view-tuple", lambda a: a.view((2, 2, 3)), lambda a: a.view((2, 2, 3)), [(3, 4)]),
    Case("transpose", lambda a: a.transpose(0, 1), lambda a: a.transpose(0, 1), [(3, 4)]),
    Case(
        "transpose-negative",
        lambda a: a.transpose(-1, 0),
        lambda a: a.transpose(-1, 0),
        [(2, 3, 4)],
    ),
    Case("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
    Case(
        "permute-tuple", lambda a: a.permute((1, 2, 0)), lambda a: a.permute((1, 2, 0)), [(2, 3, 4)]
    ),
    Case("flatten", lambda a: a.flatten(), lambda a: a.flatten(), [(2, 3, 4)]),
    Case("flatten-start", lambda a: a.flatten(1), lambda a: a.flatten(1), [(2, 3, 4)]),
    Case("flatten-range", lambda a: a.flatten(0, 1), lambda a: a.flatten(0, 1), [(2, 3, 4)]),
    Case("flatten-0d", lambda a: a.flatten(), lambda a: a.flatten(), [()]),
    Case("squeeze", lambda a: a.squeeze(), lambda a: a.squeeze(), [(1, 3, 1, 4)]),
    Case("squeeze-dim", lambda a: a.squeeze(2), lambda a: a.squeeze(2), [(1, 3, 1, 4)]),
    Case("squeeze-non-1-dim", lambda a: a.squeeze(1), lambda a: a.squeeze(1), [(1, 3, 1, 4)]),
    Case("unsqueeze", lambda a: a.unsqueeze(0), lambda a: a.unsqueeze(0), [(3, 4)]),
    Case("unsqueeze-negative", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [(3, 4)]),
    Case(
        "unsqueeze-middle-negative", lambda a: a.unsqueeze(-2), lambda a: a.unsqueeze(-2), [(3, 4)]
    ),
    Case("expand", lambda a: a.expand(3, 4), lambda a: a.expand(3, 4), [(1, 4)]),
    Case("expand-minus-one", lambda a: a.expand(2, -1, 4), lambda a: a.expand(2, -1, 4), [(3, 1)]),
    Case("expand-tuple", lambda a: a.expand((2, 3)), lambda a: a.expand((2, 3)), [(3,)]),
    Case("T", lambda a: a.T, lambda a: a.T, [(3, 4)]),
    # elementwise
    Case("exp", lambda a: a.exp(), lambda a: a.exp(), [(3, 4)]),
    Case("log", lambda a: a.log(), lambda a: a.log(), [(3, 4)], POS),
    Case("sqrt", lambda a: a.sqrt(), lambda a: a.sqrt(), [(3, 4)], POS),
    Case("abs", lambda a: a.abs(), lambda a: a.abs(), [(3, 4)]),
    Case("pow-method", lambda a: a.pow(3), lambda a: a.pow(3), [(3, 4)]),
    Case("pow-method-var", lambda a, b: a.pow(b), lambda a, b: a.pow(b), [(3, 4), (4,)], POS),
    Case("clamp", lambda a: a.clamp(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), [(3, 4)]),
    Case("clamp-min", lambda a: a.clamp(min=0.1), lambda a: a.clamp(min=0.1), [(3, 4)]),
    Case("clamp-max", lambda a: a.clamp(max=0.1), lambda a: a.clamp(max=0.1), [(3, 4)]),
    Case("matmul-method", lambda a, b: a.matmul(b), lambda a, b: a.matmul(b), [(3, 4), (4, 2)]),
    Case("add-method", lambda a, b: a.add(b), lambda a, b: a.add(b), [(3, 4), (4,)]),
    Case("sub-method", lambda a, b: a.sub(b), lambda a, b: a.sub(b), [(3, 4), (4,)]),
    Case("mul-method", lambda a, b: a.mul(b), lambda a, b: a.mul(b), [(3, 4), (4,)]),
    Case("div-method", lambda a, b: a.div(b), lambda a, b: a.div(b), [(3, 4), (4,)], POS),
    Case("neg-method", lambda a: a.neg(), lambda a: a.neg(), [(3, 4)]),
    # a small composite graph
    Case(
        "mlp-composite",
        lambda x, w, b: ((x @ w.T + b).relu() ** 2).mean(0),
        lambda x, w, b: ((x @ w.T + b).relu() ** 2).mean(0),
        [(5, 4), (3, 4), (3,)],
    ),
]

# ----------------------------------------------------------------------------- activations
# (id, Variable method call, axon.functional call, torch call, options): each is checked three ways
ACTIVATIONS = [
    ("relu", lambda a: a.relu(), lambda a: F.relu(a), TF.relu, {}),
    ("sigmoid", lambda a: a.sigmoid(), lambda a: F.sigmoid(a), torch.sigmoid, {}),
    ("tanh", lambda a: a.tanh(), lambda a: F.tanh(a), torch.tanh, {}),
    ("gelu", lambda a: a.gelu(), lambda a: F.gelu(a), TF.gelu, {}),
    (
        "gelu-none",
        lambda a: a.gelu("none"),
        lambda a: F.gelu(a, approximate="none"),
        lambda t: TF.gelu(t, approximate="none"),
        {},
    ),
    (
        "gelu-tanh",
        lambda a: a.gelu(approximate="tanh"),
        lambda a: F.gelu(a, "tanh"),
        lambda t: TF.gelu(t, approximate="tanh"),
        {},
    ),
    ("silu", lambda a: a.silu(), lambda a: F.silu(a), TF.silu, {}),
    ("mish", lambda a: a.mish(), lambda a: F.mish(a), TF.mish, {}),
    (
        "softmax-last",
        lambda a: a.softmax(-1),
        lambda a: F.softmax(a, -1),
        lambda t: t.softmax(-1),
        {},
    ),
    (
        "softmax-dim0",
        lambda a: a.softmax(0),
        lambda a: F.softmax(a, dim=0),
        lambda t: t.softmax(0),
        {},
    ),
    (
        "log-softmax-last",
        lambda a: a.log_softmax(-1),
        lambda a: F.log_softmax(a, -1),
        lambda t: t.log_softmax(-1),
        {},
    ),
    (
        "log-softmax-dim1",
        lambda a: a.log_softmax(1),
        lambda a: F.log_softmax(a, dim=1),
        lambda t: t.log_softmax(1),
        {},
    ),
    ("leaky-relu", lambda a: a.leaky_relu(), lambda a: F.leaky_relu(a), TF.leaky_relu, {}),
    (
        "leaky-relu-slope",
        lambda a: a.leaky_relu(0.2),
        lambda a: F.leaky_relu(a, 0.2),
        lambda t: TF.leaky_relu(t, 0.2),
        {},
    ),
    ("elu", lambda a: a.elu(), lambda a: F.elu(a), TF.elu, {}),
    (
        "elu-alpha",
        lambda a: a.elu(0.5),
        lambda a: F.elu(a, alpha=0.5),
        lambda t: TF.elu(t, alpha=0.5),
        {},
    ),
    ("exp", lambda a: a.exp(), lambda a: F.exp(a), torch.exp, {}),
    ("log", lambda a: a.log(), lambda a: F.log(a), torch.log, POS),
    ("sqrt", lambda a: a.sqrt(), lambda a: F.sqrt(a), torch.sqrt, POS),
    ("abs", lambda a: a.abs(), lambda a: F.abs(a), torch.abs, {}),
    (
        "sum-dim",
        lambda a: a.sum(1, True),
        lambda a: F.sum(a, 1, keepdim=True),
        lambda t: t.sum(1, True),
        {},
    ),
    ("mean-dim", lambda a: a.mean(0), lambda a: F.mean(a, 0), lambda t: t.mean(0), {}),
    ("var-dim", lambda a: a.var(1), lambda a: F.var(a, 1), lambda t: t.var(1), {}),
    ("std-dim", lambda a: a.std(1), lambda a: F.std(a, 1), lambda t: t.std(1), {}),
    (
        "reshape",
        lambda a: a.reshape(2, -1),
        lambda a: F.reshape(a, (2, -1)),
        lambda t: t.reshape(2, -1),
        {},
    ),
    (
        "transpose",
        lambda a: a.transpose(1, 2),
        lambda a: F.transpose(a, 1, 2),
        lambda t: t.transpose(1, 2),
        {},
    ),
    (
        "permute",
        lambda a: a.permute(2, 1, 0),
        lambda a: F.permute(a, (2, 1, 0)),
        lambda t: t.permute(2, 1, 0),
        {},
    ),
    ("flatten", lambda a: a.flatten(1), lambda a: F.flatten(a, 1), lambda t: t.flatten(1), {}),
    (
        "unsqueeze",
        lambda a: a.unsqueeze(1),
        lambda a: F.unsqueeze(a, 1),
        lambda t: t.unsqueeze(1),
        {},
    ),
    ("clamp", lambda a: a.clamp(-1, 1), lambda a: F.clamp(a, -1, 1), lambda t: t.clamp(-1, 1), {}),
    ("pow", lambda a: a.pow(2), lambda a: F.pow(a, 2), lambda t: t.pow(2), {}),
    ("amax-dim", lambda a: a.max(2)[0], lambda a: F.amax(a, 2), lambda t: t.amax(2), {}),
]
ACTIVATION_SHAPE = (2, 3, 5)

_F_PAIRS = [
    ("add", F.add, torch.add),
    ("sub", F.sub, torch.sub),
    ("mul", F.mul, torch.mul),
    ("div", F.div, torch.div),
    ("matmul", F.matmul, torch.matmul),
]


def _run(case: Case, dtype):
    check_op(case.axon_fn, case.torch_fn, case.shapes, dtype, **case.opts)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", [c.param for c in OPERATOR_CASES])
def test_operator(case, dtype):
    _run(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", [c.param for c in INDEX_CASES])
def test_indexing(case, dtype):
    _run(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", [c.param for c in COMPARE_CASES])
def test_comparison(case, dtype):
    outs = check_op(case.axon_fn, case.torch_fn, case.shapes, dtype)
    for out in outs:
        assert out.dtype == jnp.bool_
        assert not out.requires_grad and out.is_leaf


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", [c.param for c in METHOD_CASES])
def test_method(case, dtype):
    _run(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("form", ["method", "functional-variable", "functional-array"])
@pytest.mark.parametrize(
    "name, method, functional, torch_fn, opts", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS]
)
def test_method_and_functional(name, method, functional, torch_fn, opts, form, dtype):
    axon_fn = method if form == "method" else functional
    check_op(
        axon_fn, torch_fn, [ACTIVATION_SHAPE], dtype, arrays=form == "functional-array", **opts
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("arrays", [False, True], ids=["variable", "array"])
@pytest.mark.parametrize("name, axon_fn, torch_fn", _F_PAIRS, ids=[p[0] for p in _F_PAIRS])
def test_functional_binary(name, axon_fn, torch_fn, arrays, dtype):
    check_op(axon_fn, torch_fn, [(4, 4), (4, 4)], dtype, arrays=arrays, **POS)


def test_functional_on_arrays_is_plain_jax():
    """On arrays `axon.functional` is ordinary jax: jit, grad and vmap see no Variable."""
    x = jnp.linspace(-2.0, 2.0, 12).reshape(3, 4)
    assert isinstance(F.relu(x), jax.Array)
    assert isinstance(F.softmax(x, -1), jax.Array)
    g = jax.grad(lambda a: F.gelu(a).sum())(x)
    want = jax.grad(lambda a: jax.nn.gelu(a, approximate=False).sum())(x)
    assert_close(g, want, jnp.float32)
    batched = jax.vmap(lambda r: F.log_softmax(r, -1))(x)
    assert_close(batched, jax.nn.log_softmax(x, -1), jnp.float32)
    assert_close(jax.jit(F.silu)(x), jax.nn.silu(x), jnp.float32)


# ----------------------------------------------------------------------------- special cases
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_max_dim_ties_send_gradient_to_returned_index(dtype):
    """`max(dim)` routes the gradient to the index it returns; `max()` splits it among ties."""
    data = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], dtype)
    with x64(dtype):
        for reduce in (
            lambda a: a.max(1)[0],
            lambda a: a.min(0)[0],
            lambda a: a.max(),
            lambda a: a.min(),
        ):
            v = Variable(jnp.asarray(data), requires_grad=True)
            t = torch.tensor(data, requires_grad=True)
            reduce(v).sum().backward()
            reduce(t).sum().backward()
            assert_close(v.grad, t.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_clamp_and_relu_gradients_at_the_boundary(dtype):
    """At a kink the subgradient is torch's: clamp 1 (inclusive bounds), relu 0, abs 0, ..."""
    data = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], dtype)
    with x64(dtype):
        kinks = (
            lambda a: a.clamp(-0.5, 0.5),
            lambda a: a.relu(),
            lambda a: a.abs(),
            lambda a: a.leaky_relu(0.1) if isinstance(a, Variable) else TF.leaky_relu(a, 0.1),
            lambda a: a.elu(0.5) if isinstance(a, Variable) else TF.elu(a, 0.5),
        )
        for fn in kinks:
            v = Variable(jnp.asarray(data), requires_grad=True)
            t = torch.tensor(data, requires_grad=True)
            fn(v).sum().backward()
            fn(t).sum().backward()
            assert_close(v.grad, t.grad, dtype)


def test_float64_stays_float64():
    with jax.enable_x64(True):
        a = Variable(jnp.ones((2, 3), jnp.float64), requires_grad=True)
        out = (a * 2.5 + 1).softmax(-1).sum()
        assert out.dtype == jnp.float64
        out.backward()
        assert a.grad.dtype == jnp.float64


def test_python_number_does_not_upcast_float32():
    a = Variable(jnp.ones(3, jnp.float32), requires_grad=True)
    for out in (a + 2.5, 2 * a, a / 3, 1.0 - a, a**2, 2.0**a):
        assert out.dtype == jnp.float32


def test_array_on_the_left_gives_a_variable():
    """`jax_array op variable` and `numpy_array op variable` stay on the tape (no silent detach)."""
    a = Variable(jnp.ones((2, 3)), requires_grad=True)
    left = [jnp.full((2, 3), 2.0), np.full((2, 3), 2.0, np.float32), np.float32(2.0)]
    for other in left:
        for out in (other + a, other - a, other * a, other / a, other**a):
            assert isinstance(out, Variable) and out.requires_grad
    for out in (jnp.ones((4, 2)) @ a, np.ones((4, 2), np.float32) @ a):
        assert isinstance(out, Variable) and out.requires_grad
    (jnp.full((2, 3), 2.0) * a).sum().backward()
    assert_close(a.grad, np.full((2, 3), 2.0, np.float32), jnp.float32)


def test_max_dim_returns_values_and_indices():
    a = Variable(jnp.asarray([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]), requires_grad=True)
    values, indices = a.max(1)
    assert values.requires_grad and not indices.requires_grad
    assert indices.dtype.kind == "i"
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert a.max().item() == 7.0 and a.min().item() == 0.0


def test_integer_variable_indexing_and_arange_ops():
    idx = Variable(jnp.arange(6).reshape(2, 3))
    assert (idx + 1).dtype.kind == "i"
    assert not (idx * 2).requires_grad
    assert idx[1].tolist() == [3, 4, 5]
    assert idx.argmax().item() == 5


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate must be one of"):
        F.gelu(Variable(jnp.ones(3)), approximate="erf")


def test_unhashable_static_argument_says_what_to_pass():
    with pytest.raises(TypeError, match="must be hashable"):
        Variable(jnp.ones((2, 3))).sum(dim={0: 1})


def test_no_gradient_through_argmax_and_comparisons_under_backward():
    a = Variable(jnp.asarray([1.0, -2.0, 3.0]), requires_grad=True)
    mask = (a > 0).data.astype(jnp.float32)
    (a * mask).sum().backward()
    assert a.grad.tolist() == [1.0, 0.0, 1.0]
    assert axon.is_grad_enabled()


@pytest.mark.parametrize(
    "index, message",
    [
        (5, "index 5 is out of bounds for dimension 0 with size 3"),
        (-4, "index -4 is out of bounds for dimension 0 with size 3"),
        ((0, 4), "index 4 is out of bounds for dimension 1 with size 4"),
        ((..., 7), "index 7 is out of bounds for dimension 1 with size 4"),
        ((None, 1, 9), "index 9 is out of bounds for dimension 1 with size 4"),
        ((0, 0, 0), "too many indices"),
    ],
    ids=["int", "negative", "second-dim", "ellipsis", "none", "too-many"],
)
def test_out_of_range_index_raises_as_torch(index, message):
    """jax clamps out-of-range integers; a Variable raises IndexError, as a torch tensor does."""
    a = Variable(jnp.zeros((3, 4)), requires_grad=True)
    with pytest.raises(IndexError, match=message):
        a[index]
    with pytest.raises(IndexError):
        torch.zeros(3, 4)[index]


def test_iteration_yields_differentiable_rows():
    data = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    a, t = Variable(jnp.asarray(data), requires_grad=True), torch.tensor(data, requires_grad=True)
    rows = list(a)
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    first, _, last = a
    (first * 2 + last).sum().backward()
    first_t, _, last_t = t
    (first_t * 2 + last_t).sum().backward()
    assert_close(a.grad, t.grad)
    with pytest.raises(TypeError, match="0-d"):
        iter(Variable(jnp.asarray(1.0)))


def test_flatten_with_start_after_end_raises():
    x = axon.Variable(jnp.ones((2, 3, 4)), requires_grad=True)
    with pytest.raises(
        ValueError, match=r"axon\.functional\.flatten: start_dim=2 comes after end_dim=1"
    ):
        x.flatten(2, 1)


def test_abs_of_a_complex_value_is_differentiable_with_zero_gradient_at_zero():
    import jax

    from axon import functional as F

    x = jnp.array([-2.0, 0.0, 3.0])
    g = jax.grad(lambda x: F.abs(x * (1 + 1j)).sum())(x)  # |x (1 + i)| = sqrt(2) |x|
    np.testing.assert_allclose(np.asarray(g), np.sqrt(2) * np.array([-1.0, 0.0, 1.0]), rtol=1e-6)
    v = axon.Variable(x, requires_grad=True)
    (v * (1 + 1j)).abs().sum().backward()
    np.testing.assert_allclose(np.asarray(v.grad), np.asarray(g), rtol=1e-6)


def test_cat_and_stack_of_variables_are_one_op_with_gradients():
    from axon import functional as F

    a = axon.Variable(jnp.ones(2), requires_grad=True)
    b = axon.Variable(jnp.full(3, 2.0), requires_grad=True)
    out = F.cat([a, b])
    assert isinstance(out, axon.Variable)
    (out * jnp.arange(5.0)).sum().backward()
    np.testing.assert_array_equal(np.asarray(a.grad), [0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(b.grad), [2.0, 3.0, 4.0])
    c = axon.Variable(jnp.ones(2), requires_grad=True)
    (F.stack([c, c * 2], dim=1) * jnp.array([1.0, 10.0])).sum().backward()
    np.testing.assert_array_equal(np.asarray(c.grad), [21.0, 21.0])
