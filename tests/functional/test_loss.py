"""Losses: PyTorch parity (forward and gradients) for every loss, option and reduction, through
the functional form on Variables and on arrays and through the modules; closed forms from the
seed; and every error message."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import DTYPE_IDS, DTYPES, assert_close, check_op, check_raises, x64

import axon
from axon.functional import loss as F
from axon.nn import loss as L

jax.config.update("jax_default_matmul_precision", "highest")


# ----------------------------------------------------------------------------- inputs
def _softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _make_inputs(kind: str, shape, dtype, seed: int, ignore=None):
    """(input, target) numpy arrays for a loss of `kind` with input `shape`."""
    rng = np.random.default_rng(seed)
    cdim = 0 if len(shape) == 1 else 1
    if kind == "regression":
        return rng.uniform(-2, 2, shape).astype(dtype), rng.uniform(-2, 2, shape).astype(dtype)
    if kind in ("class", "nll"):
        x = rng.uniform(-2, 2, shape).astype(dtype)
        if kind == "nll":  # log-probabilities
            x = np.log(_softmax(x, cdim)).astype(dtype)
        tshape = () if len(shape) == 1 else (shape[0], *shape[2:])
        t = rng.integers(0, shape[cdim], tshape).astype(np.int64)
        if ignore is not None:
            t = np.where(rng.uniform(size=tshape) < 0.3, ignore, t)
            t.reshape(-1)[0] = ignore  # at least one ignored target
            if t.size > 1:
                t.reshape(-1)[-1] = 0 if ignore != 0 else 1  # and at least one counted one
        return x, np.asarray(t)
    if kind == "probs":
        x = rng.uniform(-2, 2, shape).astype(dtype)
        return x, _softmax(rng.uniform(-2, 2, shape), cdim).astype(dtype)
    if kind == "bce":
        return rng.uniform(0.05, 0.95, shape).astype(dtype), rng.uniform(0, 1, shape).astype(dtype)
    if kind == "bce_binary":
        x = rng.uniform(0.05, 0.95, shape).astype(dtype)
        return x, rng.integers(0, 2, shape).astype(dtype)
    if kind == "logits":
        return rng.uniform(-3, 3, shape).astype(dtype), rng.uniform(0, 1, shape).astype(dtype)
    if kind == "kl":
        x = np.log(_softmax(rng.uniform(-2, 2, shape), -1)).astype(dtype)
        return x, _softmax(rng.uniform(-2, 2, shape), -1).astype(dtype)
    if kind == "kl_log":
        x = np.log(_softmax(rng.uniform(-2, 2, shape), -1)).astype(dtype)
        return x, np.log(_softmax(rng.uniform(-2, 2, shape), -1)).astype(dtype)
    raise AssertionError(kind)


# ----------------------------------------------------------------------------- case table
# loss -> (torch.nn.functional / axon.functional name, module name, input kind)
LOSSES = {
    "mse": ("mse_loss", "MSELoss", "regression"),
    "l1": ("l1_loss", "L1Loss", "regression"),
    "smooth_l1": ("smooth_l1_loss", "SmoothL1Loss", "regression"),
    "huber": ("huber_loss", "HuberLoss", "regression"),
    "ce": ("cross_entropy", "CrossEntropyLoss", "class"),
    "ce_probs": ("cross_entropy", "CrossEntropyLoss", "probs"),
    "nll": ("nll_loss", "NLLLoss", "nll"),
    "bce": ("binary_cross_entropy", "BCELoss", "bce"),
    "bce_binary": ("binary_cross_entropy", "BCELoss", "bce_binary"),
    "bce_logits": ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss", "logits"),
    "kl": ("kl_div", "KLDivLoss", "kl"),
    "kl_log": ("kl_div", "KLDivLoss", "kl_log"),
}


@dataclass(frozen=True)
class Case:
    """One parity case. Every case runs in float64 through `F` on Variables and through the module;
    `f32` cases also run in float32, `arrays` cases also through `F` on plain arrays (jax.vjp)."""

    id: str
    loss: str
    shape: tuple[int, ...]
    kwargs: dict = field(default_factory=dict)  # hyper-parameters, same names on both sides
    consts: dict = field(default_factory=dict)  # name -> shape of a positive constant array
    ignore: int | None = None  # put this ignore_index into some of the targets
    f32: bool = False
    arrays: bool = False


def _by_reduction(loss, shape=(3, 4), reductions=("mean", "sum", "none"), f32=(), **kw):
    return [
        Case(f"{loss}-{r}", loss, shape, {"reduction": r}, f32=r in f32, **kw) for r in reductions
    ]


# fmt: off
CASES = [
    # element-wise regression losses
    *_by_reduction("mse", f32=("mean", "none"), arrays=True),
    Case("mse-0d", "mse", ()),
    *_by_reduction("l1", reductions=("mean", "none"), f32=("mean",)),
    Case("l1-3d-sum", "l1", (2, 3, 4), {"reduction": "sum"}, arrays=True),
    Case("smooth_l1-mean", "smooth_l1", (3, 4), f32=True, arrays=True),
    Case("smooth_l1-beta0-none", "smooth_l1", (3, 4), {"beta": 0.0, "reduction": "none"}, f32=True),
    Case("smooth_l1-beta0.5", "smooth_l1", (3, 4), {"beta": 0.5}),
    Case("smooth_l1-beta2-sum", "smooth_l1", (3, 4), {"beta": 2.0, "reduction": "sum"}),
    Case("huber-mean", "huber", (3, 4), f32=True),
    Case("huber-delta0.5-none", "huber", (3, 4), {"delta": 0.5, "reduction": "none"}, arrays=True),
    Case("huber-delta2-sum", "huber", (3, 4), {"delta": 2.0, "reduction": "sum"}),
    # cross entropy with class indices
    *_by_reduction("ce", (4, 5), f32=("mean", "none"), arrays=True),
    Case("ce-weight-mean", "ce", (4, 5), {}, {"weight": (5,)}, f32=True),
    Case("ce-weight-none", "ce", (4, 5), {"reduction": "none"}, {"weight": (5,)}),
    Case("ce-ignore-mean", "ce", (6, 5), ignore=-100, f32=True),
    Case("ce-ignore2-weight", "ce", (6, 5), {"ignore_index": 2}, {"weight": (5,)}, ignore=2),
    Case("ce-smooth-mean", "ce", (4, 5), {"label_smoothing": 0.1}, f32=True),
    Case("ce-smooth-none", "ce", (4, 5), {"label_smoothing": 0.1, "reduction": "none"}),
    Case("ce-smooth1", "ce", (4, 5), {"label_smoothing": 1.0}),
    *[
        Case(f"ce-smooth-weight-ignore-{r}", "ce", (6, 5), {"reduction": r, "label_smoothing": 0.2},
             {"weight": (5,)}, ignore=-100, f32=r == "mean", arrays=r == "mean")
        for r in ("mean", "sum", "none")
    ],
    Case("ce-kdim-none", "ce", (2, 5, 3), {"reduction": "none"}, f32=True),
    Case("ce-kdim2-all-options", "ce", (2, 4, 3, 2), {"label_smoothing": 0.15, "ignore_index": 1},
         {"weight": (4,)}, ignore=1, f32=True, arrays=True),
    Case("ce-unbatched", "ce", (5,), f32=True),
    Case("ce-unbatched-smooth-weight", "ce", (5,), {"label_smoothing": 0.3}, {"weight": (5,)}),
    # cross entropy with class probabilities
    *_by_reduction("ce_probs", (4, 5), f32=("mean",)),
    Case("ce_probs-weight", "ce_probs", (4, 5), {}, {"weight": (5,)}),
    Case("ce_probs-smooth", "ce_probs", (4, 5), {"label_smoothing": 0.1}),
    Case("ce_probs-kdim-weight-smooth-none", "ce_probs", (2, 5, 3),
         {"label_smoothing": 0.25, "reduction": "none"}, {"weight": (5,)}, f32=True, arrays=True),
    Case("ce_probs-unbatched", "ce_probs", (5,)),
    # nll
    *_by_reduction("nll", (4, 5), reductions=("mean", "none"), f32=("mean",)),
    Case("nll-weight-sum", "nll", (4, 5), {"reduction": "sum"}, {"weight": (5,)}),
    Case("nll-ignore-weight", "nll", (6, 5), {}, {"weight": (5,)}, ignore=-100, f32=True,
         arrays=True),
    Case("nll-ignore0-none", "nll", (6, 5), {"ignore_index": 0, "reduction": "none"}, ignore=0),
    Case("nll-kdim", "nll", (2, 5, 3, 2)),
    Case("nll-unbatched", "nll", (5,)),
    # binary cross entropy
    *_by_reduction("bce", reductions=("mean", "none"), f32=("mean",)),
    Case("bce-binary-targets-sum", "bce_binary", (3, 4), {"reduction": "sum"}),
    Case("bce-weight-row", "bce", (3, 4), {}, {"weight": (4,)}, f32=True, arrays=True),
    Case("bce-weight-col-none", "bce", (3, 4), {"reduction": "none"}, {"weight": (3, 1)}),
    *_by_reduction("bce_logits", reductions=("mean", "none"), f32=("mean",)),
    Case("bce_logits-weight-sum", "bce_logits", (3, 4), {"reduction": "sum"}, {"weight": (4,)}),
    Case("bce_logits-pos_weight", "bce_logits", (3, 4), {}, {"pos_weight": (4,)}, f32=True),
    Case("bce_logits-both-none", "bce_logits", (3, 4), {"reduction": "none"},
         {"weight": (3, 1), "pos_weight": (4,)}, arrays=True),
    Case("bce_logits-3d-pos_weight-sum", "bce_logits", (2, 3, 4), {"reduction": "sum"},
         {"pos_weight": (4,)}),
    # kl divergence
    *_by_reduction("kl", f32=("none",)),
    Case("kl-batchmean", "kl", (3, 4), {"reduction": "batchmean"}, f32=True, arrays=True),
    Case("kl-batchmean-3d", "kl", (2, 3, 4), {"reduction": "batchmean"}),
    Case("kl_log-batchmean", "kl_log", (3, 4), {"reduction": "batchmean", "log_target": True},
         f32=True),
    Case("kl_log-none", "kl_log", (3, 4), {"reduction": "none", "log_target": True},
         arrays=True),
]
# fmt: on


def _case_inputs(case: Case, dtype):
    name, _, kind = LOSSES[case.loss]
    seed = sum(map(ord, case.id))
    x, t = _make_inputs(kind, case.shape, dtype, seed, case.ignore)
    rng = np.random.default_rng(seed + 1)
    consts = {k: rng.uniform(0.5, 2.0, s).astype(dtype) for k, s in case.consts.items()}
    return name, x, t, consts


def _axon_call(case: Case, route: str, consts):
    name, module, _ = LOSSES[case.loss]

    def call(x, t):
        arrays = {k: jnp.asarray(v) for k, v in consts.items()}
        if route == "module":
            return getattr(L, module)(**case.kwargs, **arrays)(x, t)
        return getattr(F, name)(x, t, **case.kwargs, **arrays)

    return jax.jit(call) if route == "F-array-jit" else call


def _torch_call(case: Case, name, consts):
    def call(x, t):
        arrays = {k: torch.tensor(v) for k, v in consts.items()}
        return getattr(TF, name)(x, t, **case.kwargs, **arrays)

    return call


def _params():
    for case in CASES:
        for dtype, dtype_id in zip(DTYPES, DTYPE_IDS, strict=True):
            if dtype == np.float32 and not case.f32:
                continue
            routes = ["F-variable", "module"] + (["F-array-jit"] if case.arrays else [])
            for route in routes:
                yield pytest.param(case, dtype, route, id=f"{case.id}-{dtype_id}-{route}")


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")  # torch's kl_div
@pytest.mark.parametrize(("case", "dtype", "route"), list(_params()))
def test_parity_with_torch(case, dtype, route):
    """Forward, and gradients w.r.t. the input and every float target, as torch."""
    name, x, t, consts = _case_inputs(case, dtype)
    check_op(
        _axon_call(case, route, consts),
        _torch_call(case, name, consts),
        inputs=[x, t],
        dtype=dtype,
        arrays=route == "F-array-jit",
    )


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize(
    ("make", "x", "y", "expected"),
    [
        pytest.param(L.MSELoss, [1.0, 2.0, 3.0], [2.0, 3.0, 4.0], 1.0, id="mse"),
        pytest.param(L.L1Loss, [1.0, 2.0, 3.0], [2.0, 4.0, 6.0], 2.0, id="l1"),
        pytest.param(lambda: L.MSELoss("sum"), [0.0, 0.0], [3.0, 4.0], 25.0, id="mse-sum"),
        pytest.param(L.SmoothL1Loss, [0.0, 0.0], [0.5, 3.0], (0.125 + 2.5) / 2, id="smooth_l1"),
        pytest.param(lambda: L.SmoothL1Loss.with_beta(0.1), [0.0], [1.0], 0.95, id="with_beta"),
        pytest.param(lambda: L.HuberLoss(delta=2.0), [0.0], [3.0], 4.0, id="huber"),
        pytest.param(L.BCELoss, [0.5, 0.5], [0.0, 1.0], np.log(2), id="bce-half"),
        pytest.param(L.BCEWithLogitsLoss, [0.0, 0.0], [1.0, 0.0], np.log(2), id="bce_logits-0"),
        pytest.param(L.BCELoss, [0.0], [1.0], 100.0, id="bce-clamped-log"),
    ],
)
def test_closed_forms(make, x, y, expected):
    out = make()(jnp.asarray(x), jnp.asarray(y))
    np.testing.assert_allclose(float(out), expected, rtol=1e-6)


def test_cross_entropy_of_uniform_logits_is_log_num_classes():
    logits = axon.Variable(jnp.zeros((8, 16)), requires_grad=True)
    loss = L.CrossEntropyLoss()(logits, jnp.arange(8))
    np.testing.assert_allclose(float(loss.item()), np.log(16), rtol=1e-6)
    loss.backward()
    # d/dlogits = (softmax - onehot) / N
    expected = (np.full((8, 16), 1 / 16) - np.eye(8, 16)) / 8
    assert_close(logits.grad, expected.astype(np.float32))


def test_cross_entropy_with_perfect_logits_is_near_zero():
    logits = 50.0 * jax.nn.one_hot(jnp.array([2, 0, 1]), 3)
    assert float(F.cross_entropy(logits, jnp.array([2, 0, 1]))) < 1e-20


def test_kl_of_identical_distributions_is_zero():
    p = jnp.asarray(_softmax(np.arange(12.0).reshape(3, 4), -1), jnp.float32)
    assert float(L.KLDivLoss("batchmean")(jnp.log(p), p)) == pytest.approx(0.0, abs=1e-6)
    kl = L.KLDivLoss("sum", log_target=True)(jnp.log(p), jnp.log(p))
    assert float(kl) == pytest.approx(0.0, abs=1e-6)


def test_nll_of_log_softmax_equals_cross_entropy():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 7)), jnp.float32)
    y = jnp.array([0, 6, 3, 3, 1])
    assert_close(F.nll_loss(jax.nn.log_softmax(x), y), F.cross_entropy(x, y))


def test_all_targets_ignored_gives_nan_as_torch():
    out = F.cross_entropy(jnp.zeros((3, 4)), jnp.full((3,), -100))
    ref = TF.cross_entropy(torch.zeros(3, 4), torch.full((3,), -100))
    assert np.isnan(float(out)) and torch.isnan(ref)


def test_out_of_range_class_gives_nan():
    out = F.cross_entropy(jnp.zeros((2, 4)), jnp.array([1, 4]), reduction="none")
    assert not np.isnan(float(out[0])) and np.isnan(float(out[1]))
    assert np.isnan(float(F.nll_loss(jnp.zeros((2, 4)), jnp.array([-1, 0]))))


def test_narrow_integer_targets_pick_the_right_class_among_many():
    """uint8 and int16 targets compare as the integers they hold: with 300 classes, target 44 is
    in range and picks class 44 only (in uint8, 300 would read as 44, and -100 as 156)."""
    logits = jax.random.normal(jax.random.key(0), (3, 300, 2))
    target = np.array([[5, 44], [255, 0], [7, 7]], np.uint8)
    ref = TF.cross_entropy(torch.from_numpy(np.asarray(logits)), torch.from_numpy(target).long())
    for dtype in (np.uint8, np.int16, np.int32):
        out = F.cross_entropy(logits, jnp.asarray(target.astype(dtype)))
        assert_close(out, ref.numpy(), jnp.float32)
    kept = F.nll_loss(jnp.full((1, 200), -2.0), jnp.array([156], np.uint8))  # a class, not -100
    assert float(kept) == 2.0  # (all targets ignored would be 0 / 0 = NaN)


# ----------------------------------------------------------------------------- numerics
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_bce_at_zero_and_one_matches_torch(dtype):
    """Clamped logs: finite loss and torch's 1/ε-floored input gradient at x = 0 and 1."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.3], dtype)
    with x64(dtype):
        xv, tv = axon.Variable(x, requires_grad=True), axon.Variable(t, requires_grad=True)
        loss = F.binary_cross_entropy(xv, tv, reduction="sum")
        loss.backward()
        xt = torch.tensor(x, requires_grad=True)
        tt = torch.tensor(t, requires_grad=True)
        ref = TF.binary_cross_entropy(xt, tt, reduction="sum")
        ref.backward()
        assert_close(loss, ref, dtype)
        assert_close(xv.grad, xt.grad, dtype)
        assert_close(tv.grad, tt.grad, dtype)  # ±inf where torch has them


def test_bce_with_logits_is_stable_for_large_logits():
    x = jnp.array([100.0, -100.0, 100.0, -100.0])
    y = jnp.array([1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    assert_close(out, np.array([0.0, 0.0, 100.0, 100.0], np.float32))
    g = jax.grad(lambda x: F.binary_cross_entropy_with_logits(x, y, reduction="sum"))(x)
    assert_close(g, np.array([0.0, 0.0, 1.0, -1.0], np.float32))


@pytest.mark.parametrize(
    ("name", "kind", "kwargs"),
    [
        pytest.param("mse_loss", "regression", {}, id="mse"),
        pytest.param("cross_entropy", "class", {"label_smoothing": 0.1}, id="ce"),
        pytest.param("cross_entropy", "probs", {}, id="ce_probs"),
        pytest.param("binary_cross_entropy_with_logits", "logits", {}, id="bce_logits"),
        pytest.param("kl_div", "kl", {"reduction": "batchmean"}, id="kl"),
    ],
)
@pytest.mark.parametrize("half", [jnp.float16, jnp.bfloat16], ids=["f16", "bf16"])
def test_half_precision_computes_in_float32_and_casts_back(name, kind, kwargs, half):
    x, t = _make_inputs(kind, (4, 5), np.float32, seed=3)
    xh = jnp.asarray(x, half)
    th = jnp.asarray(t, half) if t.dtype.kind == "f" else jnp.asarray(t)
    out = getattr(F, name)(xh, th, **kwargs)
    assert out.dtype == half
    t32 = th.astype(jnp.float32) if t.dtype.kind == "f" else th
    ref = getattr(F, name)(xh.astype(jnp.float32), t32, **kwargs)
    np.testing.assert_allclose(float(out), float(ref), rtol=1e-2)


def test_jax_grad_of_pure_function_matches_backward():
    x, t = _make_inputs("class", (4, 5), np.float32, seed=7, ignore=-100)
    w = jnp.asarray(np.linspace(0.5, 2.0, 5), jnp.float32)

    def loss_fn(x):
        return F.cross_entropy(x, jnp.asarray(t), w, label_smoothing=0.1)

    g = jax.grad(loss_fn)(jnp.asarray(x))
    v = axon.Variable(x, requires_grad=True)
    loss_fn(v).backward()
    assert_close(g, v.grad)
    assert_close(jax.jit(jax.grad(loss_fn))(jnp.asarray(x)), g)


def test_int_variable_target_is_not_differentiated():
    x = axon.Variable(jnp.ones((2, 3)), requires_grad=True)
    target = axon.Variable(jnp.array([0, 2]))
    loss = L.CrossEntropyLoss()(x, target)
    loss.backward()
    assert x.grad.shape == (2, 3) and target.grad is None and not target.requires_grad


def test_on_arrays_returns_arrays_and_on_variables_returns_variables():
    x, y = jnp.ones(3), jnp.zeros(3)
    assert isinstance(F.mse_loss(x, y), jax.Array)
    assert isinstance(F.mse_loss(axon.Variable(x), y), axon.Variable)
    assert isinstance(L.MSELoss()(x, axon.Variable(y)), axon.Variable)


def test_module_under_jit_and_vmap():
    loss_fn = L.CrossEntropyLoss(weight=jnp.array([1.0, 2.0, 3.0]), label_smoothing=0.1)
    x, t = _make_inputs("class", (4, 3), np.float32, seed=1)
    x, t = jnp.asarray(x), jnp.asarray(t)
    eager = loss_fn(x, t)
    assert_close(jax.jit(lambda m, x, t: m(x, t))(loss_fn, x, t), eager)
    per_sample = jax.vmap(lambda xi, ti: loss_fn(xi, ti))(x, t)  # unbatched (C,) and ()
    ref = TF.cross_entropy(
        torch.tensor(np.asarray(x)),
        torch.tensor(np.asarray(t), dtype=torch.long),
        torch.tensor([1.0, 2.0, 3.0]),
        reduction="none",
        label_smoothing=0.1,
    )
    # per-sample "mean" divides by the sample's own weight; "none" does not
    assert_close(per_sample * jnp.array([1.0, 2.0, 3.0])[t], ref)


# ----------------------------------------------------------------------------- modules
MODULES = [
    "MSELoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
]


@pytest.mark.parametrize("module", MODULES)
def test_repr_matches_torch(module):
    assert repr(getattr(L, module)()) == repr(getattr(torch.nn, module)())


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("member", list(L.Reduction), ids=lambda m: m.name)
def test_reduction_enum_and_string_are_the_same(module, member):
    by_enum = getattr(L, module)(reduction=member)
    by_string = getattr(L, module).with_reduction(member.value)
    assert by_enum.reduction == by_string.reduction == member.value
    assert type(by_enum.reduction) is str


def test_reduction_enum():
    assert [r.value for r in L.Reduction] == ["mean", "sum", "none"]
    assert L.Reduction.MEAN == "mean" and L.Reduction("sum") is L.Reduction.SUM
    out = F.mse_loss(jnp.ones(2), jnp.zeros(2), reduction=L.Reduction.SUM)
    assert float(out) == 2.0


@pytest.mark.parametrize("module", MODULES)
def test_seed_constructors(module):
    cls = getattr(L, module)
    assert repr(cls.new()) == repr(cls()) and cls.new().reduction == "mean"
    assert cls.with_reduction(L.Reduction.SUM).reduction == "sum"


def test_compute_is_the_same_call():
    loss_fn = L.SmoothL1Loss.with_beta(0.5)
    x, y = jnp.array([0.0, 1.0, 2.0]), jnp.array([0.2, 0.0, 3.5])
    assert float(loss_fn.compute(x, y)) == float(loss_fn(x, y))
    assert loss_fn.beta == 0.5 and loss_fn.reduction == "mean"


def test_weights_are_buffers_in_the_state_dict():
    w, pw = jnp.array([1.0, 2.0, 3.0]), jnp.array([0.5, 2.0, 1.0])
    assert set(L.CrossEntropyLoss(weight=w).state_dict()) == {"weight"}
    assert set(L.NLLLoss(weight=[1.0, 2.0]).state_dict()) == {"weight"}
    assert set(L.BCEWithLogitsLoss(weight=w, pos_weight=pw).state_dict()) == {
        "weight",
        "pos_weight",
    }
    assert L.CrossEntropyLoss().state_dict() == {} and L.CrossEntropyLoss().weight is None
    torch_sd = torch.nn.BCEWithLogitsLoss(pos_weight=torch.ones(3)).state_dict()
    assert list(L.BCEWithLogitsLoss(pos_weight=jnp.ones(3)).state_dict()) == list(torch_sd)


def test_module_hyper_parameters_are_stored_as_torch():
    ce = L.CrossEntropyLoss(ignore_index=3, reduction=L.Reduction.SUM, label_smoothing=0.2)
    assert (ce.ignore_index, ce.reduction, ce.label_smoothing) == (3, "sum", 0.2)
    assert L.HuberLoss(delta=0.3).delta == 0.3
    kl = L.KLDivLoss("batchmean", log_target=True)
    assert (kl.reduction, kl.log_target) == ("batchmean", True)


# ----------------------------------------------------------------------------- errors
X34, Y34 = jnp.ones((3, 4)), jnp.zeros((3, 4))
LOGITS, LABELS = jnp.zeros((3, 5)), jnp.array([0, 1, 4])

WRONG_TARGET_SHAPE = [
    ("MSELoss", "mse_loss", X34, jnp.zeros((3,))),
    ("L1Loss", "l1_loss", X34, jnp.zeros((4, 3))),
    ("SmoothL1Loss", "smooth_l1_loss", X34, jnp.zeros((1, 4))),
    ("HuberLoss", "huber_loss", X34, jnp.zeros((3, 4, 1))),
    ("BCELoss", "binary_cross_entropy", X34 / 2, jnp.zeros((3,))),
    ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits", X34, jnp.zeros((12,))),
    ("KLDivLoss", "kl_div", X34, jnp.zeros((3, 1))),
]


@pytest.mark.parametrize(
    ("module", "name", "x", "y"), WRONG_TARGET_SHAPE, ids=[c[0] for c in WRONG_TARGET_SHAPE]
)
def test_wrong_target_shape(module, name, x, y):
    got = "\\(" + ", ".join(map(str, y.shape)) + ",?\\)"
    with pytest.raises(
        ValueError,
        match=rf"axon\.nn\.{module}: expected target of the input's shape \(3, 4\), got {got}",
    ):
        getattr(L, module)()(x, y)
    with pytest.raises(
        ValueError, match=rf"axon\.functional\.{name}: expected target .* got {got}"
    ):
        getattr(F, name)(x, y)


@pytest.mark.parametrize(
    ("module", "name", "x", "y", "pattern"),
    [
        (
            "CrossEntropyLoss",
            "cross_entropy",
            LOGITS,
            jnp.zeros((3, 2), jnp.int32),
            r"target of shape \(3,\).*got a int32 target of shape \(3, 2\)",
        ),
        (
            "CrossEntropyLoss",
            "cross_entropy",
            jnp.zeros((2, 5, 3)),
            jnp.zeros((2, 4), jnp.int32),
            r"target of shape \(2, 3\).*got a int32 target of shape \(2, 4\)",
        ),
        (
            "CrossEntropyLoss",
            "cross_entropy",
            jnp.zeros((5,)),
            jnp.array([1]),
            r"target of shape \(\).*shape \(1,\)",
        ),
        (
            "NLLLoss",
            "nll_loss",
            LOGITS,
            jnp.zeros((4,), jnp.int32),
            r"target of shape \(3,\); got a int32 target of shape \(4,\)",
        ),
        ("NLLLoss", "nll_loss", LOGITS, LOGITS.astype(jnp.int32), r"target of shape \(3,\); got"),
    ],
    ids=["ce-2d-target", "ce-kdim", "ce-unbatched", "nll-batch", "nll-input-shaped"],
)
def test_wrong_class_target_shape(module, name, x, y, pattern):
    with pytest.raises(
        ValueError, match=rf"axon\.nn\.{module}: expected an integer class-index {pattern}"
    ):
        getattr(L, module)()(x, y)
    check_raises(
        lambda: getattr(F, name)(x, y), None, ValueError, rf"axon\.functional\.{name}: .*{pattern}"
    )


def test_float_class_targets_are_rejected_as_torch():
    y = jnp.array([0.0, 1.0, 4.0])
    check_raises(
        lambda: L.CrossEntropyLoss()(LOGITS, y),
        lambda: torch.nn.CrossEntropyLoss()(torch.zeros(3, 5), torch.tensor([0.0, 1.0, 4.0])),
        TypeError,
        r"axon\.nn\.CrossEntropyLoss: expected an integer class-index target of shape \(3,\), "
        r"or class probabilities of the input's shape \(3, 5\); got a float32 target of shape "
        r"\(3,\)\. Convert class indices with \.astype\(jnp\.int32\)\.",
    )
    with pytest.raises(
        TypeError,
        match=r"axon\.functional\.nll_loss: expected an integer class-index target of shape "
        r"\(3,\); got a float32",
    ):
        F.nll_loss(LOGITS, y)
    with pytest.raises(TypeError, match="got a bool target"):
        F.cross_entropy(LOGITS, jnp.array([True, False, True]))


def test_integer_probability_targets_are_rejected():
    check_raises(
        lambda: F.cross_entropy(LOGITS, jnp.zeros((3, 5), jnp.int32)),
        lambda: TF.cross_entropy(torch.zeros(3, 5), torch.zeros(3, 5, dtype=torch.long)),
        TypeError,
        r"axon\.functional\.cross_entropy: a target of the input's shape holds class "
        r"probabilities and must be floating point, got dtype int32\. Pass class indices of "
        r"shape \(3,\) instead",
    )


def test_ignore_index_with_probability_targets_is_rejected_as_torch():
    check_raises(
        lambda: L.CrossEntropyLoss(ignore_index=1)(LOGITS, jnp.full((3, 5), 0.2)),
        lambda: TF.cross_entropy(torch.zeros(3, 5), torch.full((3, 5), 0.2), ignore_index=1),
        ValueError,
        r"axon\.nn\.CrossEntropyLoss: ignore_index is not supported for class-probability "
        r"targets, got 1\. Leave ignore_index at its default",
    )


@pytest.mark.parametrize("bad", ["avg", "Mean", None, 1, "batchmean"], ids=str)
@pytest.mark.parametrize("module", [m for m in MODULES if m != "KLDivLoss"])
def test_bad_reduction(module, bad):
    valid = r"reduction must be one of 'mean', 'sum', 'none' \(or an axon\.nn\.Reduction\), got "
    with pytest.raises(ValueError, match=rf"axon\.nn\.{module}: {valid}{bad!r}\."):
        getattr(L, module)(reduction=bad)
    with pytest.raises(ValueError, match=rf"axon\.nn\.{module}: {valid}"):
        getattr(L, module).with_reduction(bad)


FUNCTIONAL_ARGS = {
    "mse_loss": (X34, Y34),
    "l1_loss": (X34, Y34),
    "smooth_l1_loss": (X34, Y34),
    "huber_loss": (X34, Y34),
    "cross_entropy": (LOGITS, LABELS),
    "nll_loss": (LOGITS, LABELS),
    "binary_cross_entropy": (X34 / 2, Y34),
    "binary_cross_entropy_with_logits": (X34, Y34),
}


@pytest.mark.parametrize("name", FUNCTIONAL_ARGS)
def test_functional_bad_reduction(name):
    args = FUNCTIONAL_ARGS[name]
    check_raises(
        lambda: getattr(F, name)(*args, reduction="avg"),
        lambda: getattr(TF, name)(*(torch.tensor(np.asarray(a)) for a in args), reduction="avg"),
        ValueError,
        rf"axon\.functional\.{name}: reduction must be one of 'mean', 'sum', 'none' "
        r"\(or an axon\.nn\.Reduction\), got 'avg'\.",
    )


def test_kl_div_accepts_batchmean_and_rejects_others():
    with pytest.raises(
        ValueError,
        match=r"axon\.nn\.KLDivLoss: reduction must be one of 'mean', 'batchmean', 'sum', "
        r"'none' .* got 'avg'",
    ):
        L.KLDivLoss(reduction="avg")
    with pytest.raises(
        ValueError, match=r"axon\.functional\.kl_div: reduction must be one of 'mean', 'batchmean'"
    ):
        F.kl_div(X34, Y34, reduction="batch_mean")


@pytest.mark.parametrize("bad", [1.5, -0.1, "0.1", None, True], ids=repr)
def test_bad_label_smoothing(bad):
    pattern = rf"label_smoothing must be a float in \[0\.0, 1\.0\], got {bad!r}\."
    with pytest.raises(ValueError, match=rf"axon\.nn\.CrossEntropyLoss: {pattern}"):
        L.CrossEntropyLoss(label_smoothing=bad)
    with pytest.raises(ValueError, match=rf"axon\.functional\.cross_entropy: {pattern}"):
        F.cross_entropy(LOGITS, LABELS, label_smoothing=bad)


def test_label_smoothing_above_one_is_rejected_by_torch_too():
    check_raises(
        lambda: F.cross_entropy(LOGITS, LABELS, label_smoothing=1.5),
        lambda: TF.cross_entropy(torch.zeros(3, 5), torch.tensor([0, 1, 4]), label_smoothing=1.5),
        ValueError,
        "label_smoothing must be a float in",
    )


@pytest.mark.parametrize("bad", [1.5, None, "x", True], ids=repr)
def test_bad_ignore_index(bad):
    with pytest.raises(
        TypeError, match=rf"axon\.nn\.CrossEntropyLoss: ignore_index must be an int, got {bad!r}\."
    ):
        L.CrossEntropyLoss(ignore_index=bad)
    with pytest.raises(
        TypeError, match=rf"axon\.functional\.nll_loss: ignore_index must be an int, got {bad!r}\."
    ):
        F.nll_loss(LOGITS, LABELS, ignore_index=bad)


def test_bad_beta_and_delta_as_torch():
    check_raises(
        lambda: L.SmoothL1Loss(beta=-1.0),
        lambda: torch.nn.SmoothL1Loss(beta=-1.0)(torch.zeros(2), torch.zeros(2)),
        ValueError,
        r"axon\.nn\.SmoothL1Loss: beta must be a non-negative float, got -1\.0\.",
    )
    with pytest.raises(
        ValueError, match=r"axon\.nn\.SmoothL1Loss: beta must be a non-negative float, got -0\.5\."
    ):
        L.SmoothL1Loss.with_beta(-0.5)
    check_raises(
        lambda: F.smooth_l1_loss(X34, Y34, beta=-1.0),
        lambda: TF.smooth_l1_loss(torch.zeros(2), torch.zeros(2), beta=-1.0),
        ValueError,
        r"axon\.functional\.smooth_l1_loss: beta must be a non-negative float, got -1\.0\.",
    )
    check_raises(
        lambda: L.HuberLoss(delta=0.0),
        lambda: torch.nn.HuberLoss(delta=0.0)(torch.zeros(2), torch.zeros(2)),
        ValueError,
        r"axon\.nn\.HuberLoss: delta must be a positive float, got 0\.0\.",
    )
    with pytest.raises(
        ValueError, match=r"axon\.functional\.huber_loss: delta must be a positive float, got -2\."
    ):
        F.huber_loss(X34, Y34, delta=-2)


def test_bad_class_weight():
    check_raises(
        lambda: F.cross_entropy(LOGITS, LABELS, weight=jnp.ones(4)),
        lambda: TF.cross_entropy(torch.zeros(3, 5), torch.tensor([0, 1, 4]), weight=torch.ones(4)),
        ValueError,
        r"axon\.functional\.cross_entropy: expected weight of shape \(C,\) = \(5,\), got \(4,\)\.",
    )
    with pytest.raises(
        ValueError,
        match=r"axon\.nn\.NLLLoss: expected weight of shape \(C,\) = \(5,\), got \(3,\)\.",
    ):
        L.NLLLoss(weight=jnp.ones(3))(LOGITS, LABELS)
    with pytest.raises(
        ValueError,
        match=r"axon\.nn\.CrossEntropyLoss: expected weight of shape \(C,\), one value per "
        r"class, got \(5, 1\)\.",
    ):
        L.CrossEntropyLoss(weight=jnp.ones((5, 1)))
    with pytest.raises(
        TypeError, match=r"axon\.nn\.NLLLoss: weight must be floating point, got dtype int32\."
    ):
        L.NLLLoss(weight=jnp.ones(5, jnp.int32))


def test_weight_not_broadcastable():
    check_raises(
        lambda: F.binary_cross_entropy(X34 / 2, Y34, weight=jnp.ones(3)),
        lambda: TF.binary_cross_entropy(
            torch.full((3, 4), 0.5), torch.zeros(3, 4), weight=torch.ones(3)
        ),
        ValueError,
        r"axon\.functional\.binary_cross_entropy: expected weight broadcastable to the input's "
        r"shape \(3, 4\), got \(3,\)\.",
    )
    with pytest.raises(
        ValueError,
        match=r"axon\.nn\.BCEWithLogitsLoss: expected pos_weight broadcastable to the input's "
        r"shape \(3, 4\), got \(2, 3, 4\)\.",
    ):
        L.BCEWithLogitsLoss(pos_weight=jnp.ones((2, 3, 4)))(X34, Y34)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (
            lambda: F.mse_loss(jnp.ones(3, jnp.int32), jnp.ones(3)),
            r"axon\.functional\.mse_loss: expected a floating-point input, got dtype int32\. "
            r"Convert",
        ),
        (
            lambda: L.CrossEntropyLoss()(jnp.zeros(3, jnp.int32), jnp.array(0)),
            r"axon\.nn\.CrossEntropyLoss: expected a floating-point input, got dtype int32",
        ),
        (
            lambda: L.BCELoss()(jnp.ones(2, bool), jnp.ones(2)),
            r"axon\.nn\.BCELoss: expected a floating-point input, got dtype bool",
        ),
    ],
    ids=["mse", "ce", "bce"],
)
def test_integer_input_is_rejected(call, pattern):
    with pytest.raises(TypeError, match=pattern):
        call()


def test_scalar_logits_are_rejected():
    with pytest.raises(
        ValueError,
        match=r"axon\.functional\.cross_entropy: expected input of shape \(C,\), \(N, C\) or "
        r"\(N, C, d1, \.\.\.\), got \(\)\.",
    ):
        F.cross_entropy(jnp.array(1.0), jnp.array(0))


def test_validation_does_not_need_values():
    """Checks read only shapes and dtypes: they run on tracers inside jit."""

    @jax.jit
    def f(x, y):
        return F.cross_entropy(x, y)

    with pytest.raises(
        TypeError, match=r"axon\.functional\.cross_entropy: expected an integer class-index"
    ):
        f(LOGITS, jnp.zeros(3))
    assert jnp.isfinite(f(LOGITS, LABELS))


def test_python_scalars_and_lists_are_accepted():
    assert float(F.cross_entropy(jnp.zeros(4), 2)) == pytest.approx(np.log(4))
    assert float(F.mse_loss(jnp.array([1.0, 2.0]), [1.0, 4.0])) == 2.0


def test_new_weights_and_inputs_do_not_recompile(caplog):
    """Weights are dynamic kernel inputs: a second same-shaped call reuses every compiled kernel."""

    def step(weight, x):
        v = axon.Variable(x, requires_grad=True)
        loss = L.CrossEntropyLoss(weight=weight, label_smoothing=0.1)(v, LABELS)
        loss.backward()
        return v.grad

    step(jnp.ones(5), jnp.ones((3, 5)))
    weight, x = jnp.linspace(1.0, 2.0, 5), jnp.zeros((3, 5))
    with jax.log_compiles(True), caplog.at_level(logging.WARNING):
        step(weight, x)
    assert not [r.message for r in caplog.records if "Compiling" in r.message]


def test_backward_inside_jax_jit_matches_jax_grad():
    """On traced Variables (what axon.jit does) the tape traces the loss into the program."""
    x, t = _make_inputs("class", (4, 5), np.float32, seed=11, ignore=-100)
    x, t = jnp.asarray(x), jnp.asarray(t)

    @jax.jit
    def grad_by_tape(x, t):
        v = axon.Variable(x, requires_grad=True)
        L.CrossEntropyLoss(label_smoothing=0.1)(v, axon.Variable(t)).backward()
        return v.grad

    expected = jax.grad(lambda x: F.cross_entropy(x, t, label_smoothing=0.1))(x)
    assert_close(grad_by_tape(x, t), expected)
