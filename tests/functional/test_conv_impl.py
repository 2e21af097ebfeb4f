"""`axon.functional._conv_impl.conv_nd` against `lax.conv_general_dilated`.

Each row of the table is one convolution (N-d, stride, padding pairs, dilation, groups) and the
implementation "auto" picks for it on CPU; `conv_nd` must give the reference's output and its
gradients with respect to the input and the weight (for a random cotangent) in float32 and
float64. A few more rows force an implementation onto convolutions "auto" sends elsewhere.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import DTYPE_IDS, DTYPES, assert_close, x64

from axon.functional import _conv_impl
from axon.functional._conv_impl import choose_impl, conv_nd

# LLVM's optimisations off: the same HLO passes, a third less compile time (most of this file's)
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
# float32: the implementations sum a window's terms in different orders, so an entry that
# cancels to ~0 carries an absolute error of the order of its terms' roundoff.
_TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-5), np.dtype(np.float64): {}}


def row(case_id, x_shape, w_shape, picked, stride=None, padding=None, dilation=None, groups=1):
    """One convolution: defaults stride 1, no padding, no dilation."""
    n = len(x_shape) - 2
    return (
        case_id, x_shape, w_shape, stride or (1,) * n, padding or ((0, 0),) * n,
        dilation or (1,) * n, groups, picked,
    )  # fmt: skip


P2 = ((1, 1), (1, 1))

# id, x shape, w shape, the implementation "auto" picks on CPU, stride, padding, dilation, groups
# fmt: off
CASES = [
    row("2d-3x3-pad1", (2, 4, 7, 7), (6, 4, 3, 3), "xla", padding=P2),
    row("2d-first-layer", (3, 1, 9, 9), (8, 1, 3, 3), "im2col", padding=P2),
    row("2d-2ch-stride2", (2, 2, 9, 10), (4, 2, 3, 3), "im2col", (2, 2), P2),
    row("2d-5x5-pad2", (2, 1, 11, 9), (3, 1, 5, 5), "im2col", padding=((2, 2), (2, 2))),
    row("2d-rect-asym-pad", (2, 2, 8, 9), (3, 2, 2, 3), "im2col", (1, 2), ((0, 1), (2, 0))),
    row("2d-stride-dilation", (1, 2, 11, 12), (5, 2, 3, 2), "im2col", (3, 2), ((2, 1), (0, 3)),
        (2, 2)),
    row("2d-grouped", (2, 6, 7, 7), (4, 3, 3, 3), "xla", padding=P2, groups=2),
    row("2d-depthwise", (2, 5, 7, 7), (5, 1, 3, 3), "depthwise", padding=P2, groups=5),
    row("2d-depthwise-mult2-stride", (2, 3, 9, 8), (6, 1, 3, 3), "depthwise", (2, 2), P2,
        groups=3),
    row("2d-depthwise-dilated", (1, 4, 9, 9), (4, 1, 3, 3), "depthwise", None, ((2, 2), (1, 3)),
        (2, 1), 4),
    row("2d-1x1", (2, 6, 5, 4), (7, 6, 1, 1), "pointwise"),
    row("2d-1x1-stride-pad", (2, 6, 7, 6), (3, 6, 1, 1), "pointwise", (2, 3), ((1, 0), (1, 2))),
    row("2d-1x1-grouped", (2, 6, 5, 5), (4, 3, 1, 1), "xla", groups=2),
    row("1d-k3-pad1", (2, 3, 10), (4, 3, 3), "im2col", padding=((1, 1),)),
    row("1d-depthwise", (2, 4, 12), (8, 1, 5), "depthwise", padding=((2, 2),), groups=4),
    row("1d-1x1-stride", (2, 5, 9), (3, 5, 1), "pointwise", (2,)),
    row("3d-k2", (1, 2, 5, 6, 4), (3, 2, 2, 2, 2), "im2col", (1, 2, 1), ((1, 0), (0, 1), (1, 1)),
        (1, 1, 2)),
    row("3d-1x1x1", (2, 4, 3, 4, 5), (5, 4, 1, 1, 1), "pointwise", (1, 1, 2)),
]
# fmt: on
IDS = [c[0] for c in CASES]


def reference(x, w, stride, padding, dilation, groups):
    n = x.ndim - 2
    spatial = "DHW"[-n:]
    return jax.lax.conv_general_dilated(
        x, w, stride, padding, rhs_dilation=dilation, feature_group_count=groups,
        dimension_numbers=(f"NC{spatial}", f"OI{spatial}", f"NC{spatial}"),
    )  # fmt: skip


def inputs(x_shape, w_shape, out_shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x, w, cot = (rng.standard_normal(s).astype(dtype) for s in (x_shape, w_shape, out_shape))
    return jnp.asarray(x), jnp.asarray(w), jnp.asarray(cot)


def compare(impls, x_shape, w_shape, stride, padding, dilation, groups, dtype):
    """Each of `impls` against the reference: output, grad x, grad w (one compiled program)."""
    tol = _TOL[np.dtype(dtype)]
    with x64(dtype):
        ref = lambda x, w: reference(x, w, stride, padding, dilation, groups)
        out_shape = jax.eval_shape(
            ref, jax.ShapeDtypeStruct(x_shape, dtype), jax.ShapeDtypeStruct(w_shape, dtype)
        ).shape
        x, w, cot = inputs(x_shape, w_shape, out_shape, dtype)

        @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
        def run(x, w, cot):
            results = {}
            for impl in ("reference", *impls):
                conv = ref if impl == "reference" else (
                    lambda x, w, impl=impl: conv_nd(x, w, stride, padding, dilation, groups,
                                                    impl=impl)
                )  # fmt: skip
                out, vjp = jax.vjp(conv, x, w)
                results[impl] = (out, *vjp(cot))
            return results

        results = run(x, w, cot)
        for impl in impls:
            for name, a, e in zip(
                ("output", "grad x", "grad w"), results[impl], results["reference"], strict=True
            ):
                try:
                    assert_close(a, e, dtype, **tol)
                except AssertionError as err:
                    raise AssertionError(f"{impl}, {name}: {err}") from None


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(
    "x_shape, w_shape, stride, padding, dilation, groups, picked",
    [c[1:] for c in CASES],
    ids=IDS,
)
def test_matches_conv_general_dilated(
    x_shape, w_shape, stride, padding, dilation, groups, picked, dtype
):
    """What `conv_nd` computes by default, and (off CPU, where that is "xla") the CPU choice."""
    impls = ("auto",) if jax.default_backend() == "cpu" else ("auto", picked)
    compare(impls, x_shape, w_shape, stride, padding, dilation, groups, dtype)


# implementations forced onto convolutions that "auto" sends elsewhere
FORCED = [
    ("im2col-grouped", "im2col", (2, 6, 7, 7), (4, 3, 3, 3), (2, 1), P2, (1, 2), 2),
    ("im2col-wide", "im2col", (2, 8, 6, 6), (5, 8, 3, 3), (1, 1), ((0, 1), (1, 0)), (1, 1), 1),
    ("im2col-depthwise", "im2col", (2, 3, 6, 6), (6, 1, 3, 3), (1, 1), P2, (1, 1), 3),
]


@pytest.mark.parametrize(
    "impl, x_shape, w_shape, stride, padding, dilation, groups",
    [c[1:] for c in FORCED],
    ids=[c[0] for c in FORCED],
)
def test_forced_impl(impl, x_shape, w_shape, stride, padding, dilation, groups):
    """Formula checks only (float64): "auto" never takes these paths."""
    compare((impl,), x_shape, w_shape, stride, padding, dilation, groups, np.float64)


@pytest.mark.parametrize(
    "x_shape, w_shape, stride, padding, dilation, groups, picked",
    [c[1:] for c in CASES],
    ids=IDS,
)
def test_choice_on_cpu(x_shape, w_shape, stride, padding, dilation, groups, picked):
    args = (x_shape, w_shape, np.float32, stride, padding, dilation, groups)
    assert choose_impl(*args, backend="cpu") == picked
    assert choose_impl(*args[:2], np.float64, *args[3:], backend="cpu") == picked
    # other backends have their own convolution libraries; bfloat16/float16 stay on XLA's conv
    assert choose_impl(*args, backend="gpu") == "xla"
    assert choose_impl(*args, backend="tpu") == "xla"
    assert choose_impl(*args[:2], jnp.bfloat16, *args[3:], backend="cpu") == "xla"
    assert choose_impl(*args[:2], np.float16, *args[3:], backend="cpu") == "xla"


def test_auto_uses_the_chosen_impl(monkeypatch):
    """ "auto" dispatches through `choose_impl` (here on the test machine's backend)."""
    calls = []
    original = _conv_impl._depthwise
    monkeypatch.setattr(
        _conv_impl, "_depthwise", lambda *a: calls.append("depthwise") or original(*a)
    )
    x, w = jnp.ones((1, 3, 5, 5)), jnp.ones((3, 1, 3, 3))
    jax.make_jaxpr(lambda x, w: conv_nd(x, w, (1, 1), P2, (1, 1), 3))(x, w)  # trace only
    assert calls == (["depthwise"] if jax.default_backend() == "cpu" else [])


def test_mixed_dtypes_stay_on_xla():
    """x and w of different dtypes: "xla", so the call fails as `conv_general_dilated` does
    instead of promoting silently."""
    args = ((1, 1, 8, 8), (4, 1, 3, 3), None, (1, 1), P2, (1, 1), 1)
    assert choose_impl(*args, backend="cpu") == "xla"
    with x64(np.float64), pytest.raises(TypeError, match="conv_general_dilated"):
        conv_nd(jnp.ones((1, 1, 8, 8), jnp.float32), jnp.ones((4, 1, 3, 3), jnp.float64),
                (1, 1), P2, (1, 1))  # fmt: skip


def test_large_kernels_stay_on_xla():
    """prod(kernel) beyond MAX_TAPS would put one slice per tap into the program."""
    taps = _conv_impl.MAX_TAPS + 1
    assert choose_impl((1, 4, 80), (4, 1, taps), np.float32, (1,), ((0, 0),), (1,), 4,
                       backend="cpu") == "xla"  # fmt: skip
    assert choose_impl((1, 1, 80), (4, 1, taps), np.float32, (1,), ((0, 0),), (1,), 1,
                       backend="cpu") == "xla"  # fmt: skip


@pytest.mark.parametrize("impl", ("pointwise", "depthwise", "im2col"))
def test_vmap_and_dtype(impl):
    """Under vmap (an extra leading batch axis), each of axon's own formulations equals the
    reference and keeps the input dtype."""
    groups = 3 if impl == "depthwise" else 1
    k = 1 if impl == "pointwise" else 3
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 2, 3, 6, 6)), jnp.float32)
    w = jnp.ones((3, 3 // groups, k, k), jnp.float32) / 7
    pads = ((1, 0), (0, 1))
    conv = lambda x: conv_nd(x, w, (1, 2), pads, (1, 1), groups, impl=impl)
    expected = jnp.stack([reference(xi, w, (1, 2), pads, (1, 1), groups) for xi in x])
    batched = jax.jit(jax.vmap(conv), compiler_options=FAST_COMPILE)(x)
    assert batched.dtype == jnp.float32
    assert_close(batched, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "impl, w_shape, groups, match",
    [
        ("pointwise", (4, 3, 3, 3), 1, r"impl='pointwise' needs a 1×1 kernel and groups 1"),
        ("pointwise", (4, 1, 1, 1), 3, r"impl='pointwise' needs a 1×1 kernel and groups 1"),
        ("depthwise", (4, 3, 3, 3), 1, r"impl='depthwise' needs groups == C_in, got groups 1"),
        ("fast", (4, 3, 3, 3), 1, r"impl must be 'auto' or one of \('xla', "),
    ],
)
def test_bad_impl(impl, w_shape, groups, match):
    with pytest.raises(ValueError, match=match):
        conv_nd(jnp.ones((1, 3, 5, 5)), jnp.ones(w_shape), (1, 1), P2, (1, 1), groups, impl=impl)
