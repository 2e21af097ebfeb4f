"""Pooling layers and `F.*pool*` vs. torch: forward, indices and input gradients; errors; jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import DTYPE_IDS, DTYPES, assert_close, check_raises, x64

import axon
from axon import functional as F
from axon import nn

_NAMES = dict(
    k="kernel_size", s="stride", p="padding", d="dilation", ceil="ceil_mode",
    idx="return_indices", incl="count_include_pad", div="divisor_override", out="output_size",
)  # fmt: skip


def case(case_id, layer, shape, tied=False, **short):
    """A row (id, layer name, constructor kwargs, input shape, tied); kwargs are spelled short
    (k=kernel_size, s=stride, p=padding, d=dilation, ceil=ceil_mode, idx=return_indices,
    incl=count_include_pad, div=divisor_override, out=output_size). `tied` inputs are small
    integers, so windows hold equal maxima and indices and gradients must pick torch's (first)."""
    return case_id, layer, {_NAMES[k]: v for k, v in short.items()}, shape, tied


CASES = [
    case("max1d_k3_s2_p1_odd", "MaxPool1d", (2, 3, 9), k=3, s=2, p=1),
    case("max1d_dilation", "MaxPool1d", (2, 2, 10), k=3, p=1, d=2),
    case("max1d_ceil", "MaxPool1d", (2, 3, 10), k=3, s=2, ceil=True),
    case("max1d_no_batch_idx", "MaxPool1d", (3, 7), k=2, idx=True),
    case("max1d_ties_idx", "MaxPool1d", (2, 3, 11), tied=True, k=4, s=1, idx=True),
    case("max2d_k2", "MaxPool2d", (2, 3, 8, 8), k=2),
    case("max2d_k3_s2_p1_odd", "MaxPool2d", (2, 3, 9, 7), k=3, s=2, p=1),
    case("max2d_rect", "MaxPool2d", (2, 2, 7, 8), k=(2, 3), s=(1, 2), p=(1, 1)),
    case("max2d_dilation", "MaxPool2d", (2, 2, 11, 9), k=3, s=2, p=1, d=2),
    case("max2d_ceil_overhang", "MaxPool2d", (2, 3, 8, 8), k=3, s=2, p=1, ceil=True),
    case("max2d_ceil_drops_last", "MaxPool2d", (2, 2, 5, 5), k=2, s=2, p=1, ceil=True),
    case("max2d_no_batch_idx", "MaxPool2d", (3, 9, 9), k=3, s=2, p=1, idx=True),
    case("max2d_ties_idx", "MaxPool2d", (2, 2, 6, 6), tied=True, k=3, s=1, p=1, idx=True),
    case("max2d_ties", "MaxPool2d", (2, 2, 6, 6), tied=True, k=3, s=1, p=1),
    case("max2d_ceil_dil_idx", "MaxPool2d", (1, 2, 10, 9), k=2, s=3, d=2, ceil=True, idx=True),
    case("avg1d_pad_exclude", "AvgPool1d", (2, 3, 10), k=3, s=2, p=1, incl=False),
    case("avg1d_ceil_include", "AvgPool1d", (2, 3, 10), k=3, s=2, p=1, ceil=True),
    case("avg1d_no_batch", "AvgPool1d", (3, 7), k=2),
    case("avg2d_k2", "AvgPool2d", (2, 3, 8, 8), k=2),
    case("avg2d_ceil_include_odd", "AvgPool2d", (2, 3, 9, 8), k=3, s=2, p=1, ceil=True),
    case("avg2d_ceil_exclude_odd", "AvgPool2d", (2, 3, 9, 8), k=3, s=2, p=1, ceil=True, incl=False),
    case("avg2d_rect_exclude", "AvgPool2d", (2, 2, 7, 6), k=(3, 2), s=(2, 1), p=(1, 1), incl=False),
    case("avg2d_divisor_override", "AvgPool2d", (2, 2, 7, 7), k=3, s=2, p=1, div=4),
    case("avg2d_no_batch_ceil", "AvgPool2d", (3, 8, 8), k=3, s=3, ceil=True),
    case("aavg1d_even", "AdaptiveAvgPool1d", (2, 3, 12), out=4),
    case("aavg1d_uneven", "AdaptiveAvgPool1d", (2, 3, 10), out=4),
    case("aavg1d_upsample", "AdaptiveAvgPool1d", (2, 3, 5), out=7),
    case("aavg2d_global", "AdaptiveAvgPool2d", (2, 3, 7, 9), out=1),
    case("aavg2d_uneven", "AdaptiveAvgPool2d", (2, 3, 7, 10), out=(3, 4)),
    case("aavg2d_none", "AdaptiveAvgPool2d", (2, 3, 5, 7), out=(None, 3)),
    case("aavg2d_no_batch", "AdaptiveAvgPool2d", (3, 5, 7), out=(2, 3)),
    case("amax1d_uneven_idx", "AdaptiveMaxPool1d", (2, 3, 10), out=3, idx=True),
    case("amax2d_even", "AdaptiveMaxPool2d", (2, 3, 8, 8), out=2),
    case("amax2d_mixed", "AdaptiveMaxPool2d", (2, 2, 8, 7), out=(2, 3)),
    case("amax2d_uneven_idx", "AdaptiveMaxPool2d", (2, 3, 7, 10), out=(3, 4), idx=True),
    case("amax2d_none_no_batch", "AdaptiveMaxPool2d", (3, 5, 9), out=(None, 4)),
    case("amax2d_ties_idx", "AdaptiveMaxPool2d", (2, 2, 9, 7), tied=True, out=(4, 3), idx=True),
]
IDS = [c[0] for c in CASES]


def make_input(shape, dtype, tied, seed=0):
    rng = np.random.default_rng(seed)
    if tied:
        return rng.integers(0, 3, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def split(out):
    """(values, indices or None) of a pooling layer's output."""
    return out if isinstance(out, tuple) else (out, None)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("name, kwargs, shape, tied", [c[1:] for c in CASES], ids=IDS)
def test_matches_torch(name, kwargs, shape, tied, dtype):
    """Forward, indices and the input gradient of a random cotangent, vs. torch. On jax arrays a
    layer is plain jax, so one compiled program gives all three (the tape path on Variables has
    its own test, `test_variables_eager_and_axon_jit`)."""
    x = make_input(shape, dtype, tied)
    with x64(dtype):
        layer, ref = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
        xt = torch.tensor(x, requires_grad=True)
        tout, tidx = split(ref(xt))
        cot = np.random.default_rng(1).standard_normal(tuple(tout.shape)).astype(dtype)
        (tout * torch.tensor(cot)).sum().backward()

        @jax.jit
        def run(x, cot):
            out, vjp, idx = jax.vjp(lambda x: split(layer(x)), x, has_aux=True)
            return out, idx, vjp(cot)[0]

        out, idx, grad = run(jnp.asarray(x), jnp.asarray(cot))
        assert_close(out, tout, dtype)
        if tidx is not None:
            assert np.issubdtype(idx.dtype, np.integer)
            assert_close(idx, tidx)
        else:
            assert idx is None
        assert_close(grad, xt.grad, dtype)


@pytest.mark.parametrize("name, kwargs", [c[1:3] for c in CASES], ids=IDS)
def test_repr_matches_torch(name, kwargs):
    assert repr(getattr(nn, name)(**kwargs)) == repr(getattr(torch.nn, name)(**kwargs))


# torch's positional argument order of each functional form
FUNCTIONAL_CASES = [
    ("max_pool2d", (3, 2, 1, 1, True), (2, 2, 8, 7)),
    ("max_pool1d", (2, 1, 1, 2, False, True), (2, 3, 9)),
    ("avg_pool2d", (3, 2, 1, True, False, 5), (2, 2, 9, 8)),
    ("avg_pool1d", (3, 2, 1, True, False), (3, 10)),
    ("adaptive_avg_pool2d", ((3, 5),), (2, 2, 8, 7)),
    ("adaptive_max_pool1d", (4, True), (2, 3, 10)),
]


@pytest.mark.parametrize(
    "name, args, shape", FUNCTIONAL_CASES, ids=[c[0] for c in FUNCTIONAL_CASES]
)
def test_functional_on_arrays_under_vmap(name, args, shape):
    """On jax arrays `F.*` is plain jax, with torch's argument order; vmap adds a batch dim."""
    x = make_input(shape, np.float32, tied=True)
    expected = getattr(torch.nn.functional, name)(torch.tensor(x), *args)
    fn = getattr(F, name)
    batched = jax.jit(jax.vmap(lambda x: fn(x, *args)))(jnp.asarray(np.stack([x, 2 * x])))
    want_values, want_indices = split(expected)
    for k, scale in enumerate((1, 2)):  # a positive scale keeps every window's arg-max
        values, indices = split(jax.tree.map(lambda a, k=k: a[k], batched))
        assert isinstance(values, jax.Array)
        assert_close(values, want_values * scale)
        if want_indices is not None:
            assert_close(indices, want_indices)


def test_functional_return_indices_and_max_pool_nan():
    x = np.array([[[np.nan, 1.0, np.nan, 2.0, np.nan, np.nan]]], np.float32)
    for fn, args in (("max_pool1d", (3, 3, 0, 1, False, True)), ("adaptive_max_pool1d", (2, True))):
        out, idx = jax.jit(lambda x, fn=fn, args=args: getattr(F, fn)(x, *args))(jnp.asarray(x))
        tout, tidx = getattr(torch.nn.functional, fn)(torch.tensor(x), *args)
        assert_close(out, tout, equal_nan=True)
        assert_close(idx, tidx)  # the last NaN of a window, as torch's scan picks
    out = jax.jit(lambda x: F.max_pool1d(x, 3, 3))(jnp.asarray(x))  # values only: reduce_window
    assert_close(out, torch.nn.functional.max_pool1d(torch.tensor(x), 3, 3), equal_nan=True)


# one row per tape op (max pool with and without indices, average pool, both adaptive pools on
# uneven bins)
TAPE_IDS = {
    "max2d_ties_idx", "max2d_ties", "avg2d_divisor_override", "aavg2d_uneven", "amax2d_uneven_idx",
}  # fmt: skip
TAPE_CASES = [c for c in CASES if c[0] in TAPE_IDS]


@pytest.mark.parametrize(
    "name, kwargs, shape, tied", [c[1:] for c in TAPE_CASES], ids=[c[0] for c in TAPE_CASES]
)
def test_variables_eager_and_axon_jit(name, kwargs, shape, tied):
    """On Variables (the tape) a layer gives torch's output, indices and input gradient eagerly,
    and the same inside `axon.jit`, which compiles once."""
    layer, ref = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    x = make_input(shape, np.float32, tied)
    xt = torch.tensor(x, requires_grad=True)
    tout, tidx = split(ref(xt))
    cot = np.random.default_rng(1).standard_normal(tuple(tout.shape)).astype(np.float32)
    (tout * torch.tensor(cot)).sum().backward()

    def forward_backward(m, x, cot):
        v = axon.Variable(x, requires_grad=True)
        out, idx = split(m(v))
        assert isinstance(out, axon.Variable) and out.requires_grad
        assert idx is None or (isinstance(idx, axon.Variable) and not idx.requires_grad)
        (out * cot).sum().backward()
        return out.data, None if idx is None else idx.data, v.grad

    eager = forward_backward(layer, jnp.asarray(x), jnp.asarray(cot))
    for got, want in zip(eager, (tout, tidx, xt.grad), strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            assert_close(got, want)
    fast = axon.jit(forward_backward)
    for _ in range(2):
        compiled = fast(layer, jnp.asarray(x), jnp.asarray(cot))
        for got, want in zip(compiled, eager, strict=True):
            if want is not None:
                assert_close(got, want)
    assert fast.num_compiles == 1


def test_seed_constructors():
    layer = nn.MaxPool2d.with_options(2, 2, 0)
    assert (layer.kernel_size, layer.stride, layer.padding) == (2, 2, 0)
    assert repr(nn.MaxPool2d.with_options(3, 1, 1)) == repr(torch.nn.MaxPool2d(3, 1, 1))
    assert repr(nn.MaxPool2d.with_options(2)) == repr(torch.nn.MaxPool2d(2))
    pool = nn.AdaptiveAvgPool2d.square(1)
    assert isinstance(pool, nn.AdaptiveAvgPool2d) and pool.output_size == 1
    out = jax.eval_shape(pool, jax.ShapeDtypeStruct((2, 3, 5, 4), jnp.float32))
    assert out.shape == (2, 3, 1, 1)
    assert pool.parameters() == [] and pool.state_dict() == {}


def test_modules_are_pytrees_without_leaves():
    model = nn.Sequential(nn.MaxPool2d(2), nn.AdaptiveAvgPool2d((1, 1)))
    assert jax.tree.leaves(model) == []
    out = jax.eval_shape(lambda m, x: m(x), model, jax.ShapeDtypeStruct((2, 3, 8, 8), jnp.float32))
    assert out.shape == (2, 3, 1, 1)


# ------------------------------------------------------------------------------------- errors
X4 = np.ones((1, 1, 4, 4), np.float32)


@pytest.mark.parametrize(
    "make, call, torch_call, match",
    [
        (
            lambda: nn.MaxPool2d(2),
            (5, 5),
            lambda: torch.nn.MaxPool2d(2)(torch.ones(5)),
            r"^axon\.nn\.MaxPool2d: expected input of shape \(N, C, H, W\) or \(C, H, W\), got "
            r"\(5, 5\)\.$",
        ),
        (
            lambda: nn.MaxPool1d(2),
            (1, 1, 5, 5),
            lambda: torch.nn.MaxPool1d(2)(torch.ones(1, 1, 5, 5)),
            r"^axon\.nn\.MaxPool1d: expected input of shape \(N, C, L\) or \(C, L\), got \(1, "
            r"1, 5, 5\)\.$",
        ),
        (
            lambda: nn.AvgPool1d(2),
            (5,),
            lambda: torch.nn.AvgPool1d(2)(torch.ones(5)),
            r"^axon\.nn\.AvgPool1d: expected input of shape \(N, C, L\) or \(C, L\), got \(5,\)\.$",
        ),
        (
            lambda: nn.AdaptiveAvgPool2d(2),
            (4, 4),
            lambda: torch.nn.AdaptiveAvgPool2d(2)(torch.ones(4)),
            r"^axon\.nn\.AdaptiveAvgPool2d: expected input of shape \(N, C, H, W\) or \(C, H, "
            r"W\), got \(4, 4\)\.$",
        ),
        (
            lambda: nn.AdaptiveMaxPool1d(2),
            (1, 2, 3, 4),
            lambda: torch.nn.AdaptiveMaxPool1d(2)(torch.ones(1, 2, 3, 4)),
            r"^axon\.nn\.AdaptiveMaxPool1d: expected input of shape \(N, C, L\) or \(C, L\), "
            r"got \(1, 2, 3, 4\)\.$",
        ),
        (
            lambda: nn.MaxPool2d(3),
            (1, 1, 2, 5),
            lambda: torch.nn.MaxPool2d(3)(torch.ones(1, 1, 2, 5)),
            r"^axon\.nn\.MaxPool2d: the pooling window spans \(3, 3\) elements, more than the "
            r"padded "
            r"input \(spatial size \(2, 5\) with padding \(0, 0\)\) of input \(1, 1, 2, 5\)\. "
            r"Use a "
            r"smaller kernel_size or dilation, more padding, or ceil_mode=True\.$",
        ),
        (
            lambda: nn.MaxPool1d(2, dilation=3),
            (2, 3),
            lambda: torch.nn.MaxPool1d(2, dilation=3)(torch.ones(2, 3)),
            r"^axon\.nn\.MaxPool1d: the pooling window spans \(4,\) elements",
        ),
        (
            lambda: nn.AvgPool2d((2, 5), padding=(0, 1)),
            (3, 4, 2),
            lambda: torch.nn.AvgPool2d((2, 5), padding=(0, 1))(torch.ones(3, 4, 2)),
            r"^axon\.nn\.AvgPool2d: the pooling window spans \(2, 5\) elements, more than the "
            r"padded "
            r"input \(spatial size \(4, 2\) with padding \(0, 1\)\)",
        ),
    ],
    ids=[
        "max2d_rank",
        "max1d_rank",
        "avg1d_rank",
        "aavg2d_rank",
        "amax1d_rank",
        "max2d_window",
        "max1d_dilated_window",
        "avg2d_window",
    ],
)
def test_bad_input_shape(make, call, torch_call, match):
    layer = make()
    check_raises(lambda: layer(np.ones(call, np.float32)), torch_call, ValueError, match)


def test_error_names_the_module_path():
    model = nn.Sequential(nn.Identity(), nn.MaxPool2d(2))
    with pytest.raises(ValueError, match=r"^axon\.nn\.MaxPool2d \(1\): expected input of shape"):
        model(np.ones((4, 4), np.float32))


T3, T4 = torch.ones(1, 1, 8), torch.ones(1, 1, 8, 8)


@pytest.mark.parametrize(
    "make, torch_call, match",
    [
        (
            lambda: nn.MaxPool2d(3, padding=2),
            lambda: torch.nn.MaxPool2d(3, padding=2)(T4),
            r"^axon\.nn\.MaxPool2d: padding must be at most half of kernel_size, got "
            r"padding=\(2, 2\) "
            r"with kernel_size=\(3, 3\)\. Use a larger kernel_size or less padding\.$",
        ),
        (
            lambda: nn.AvgPool1d(4, padding=3),
            lambda: torch.nn.AvgPool1d(4, padding=3)(T3),
            r"^axon\.nn\.AvgPool1d: padding must be at most half of kernel_size, got "
            r"padding=\(3,\)",
        ),
        (
            lambda: nn.MaxPool1d(3, padding=2, dilation=2),
            lambda: torch.nn.MaxPool1d(3, padding=2, dilation=2)(T3),
            r"^axon\.nn\.MaxPool1d: padding must be at most half of kernel_size",
        ),
        (
            lambda: nn.MaxPool2d(0),
            lambda: torch.nn.MaxPool2d(0)(T4),
            r"^axon\.nn\.MaxPool2d: kernel_size must be a positive int or a tuple of 2, got 0\.$",
        ),
        (
            lambda: nn.AvgPool2d((2, -1)),
            lambda: torch.nn.AvgPool2d((2, -1))(T4),
            r"^axon\.nn\.AvgPool2d: kernel_size must be a positive int or a tuple of 2, got "
            r"\(2, -1\)\.$",
        ),
        (
            lambda: nn.MaxPool1d(2, stride=0),
            lambda: torch.nn.MaxPool1d(2, stride=0)(T3),
            r"^axon\.nn\.MaxPool1d: stride must be a positive int, got 0\.$",
        ),
        (
            lambda: nn.AvgPool2d(2, stride=(1, 0)),
            lambda: torch.nn.AvgPool2d(2, stride=(1, 0))(T4),
            r"^axon\.nn\.AvgPool2d: stride must be a positive int or a tuple of 2, got \(1, 0\)\.$",
        ),
        (
            lambda: nn.MaxPool2d(2, dilation=0),
            lambda: torch.nn.MaxPool2d(2, dilation=0)(T4),
            r"^axon\.nn\.MaxPool2d: dilation must be a positive int or a tuple of 2, got 0\.$",
        ),
        (
            lambda: nn.MaxPool2d(2, padding=-1),
            lambda: torch.nn.MaxPool2d(2, padding=-1)(T4),
            r"^axon\.nn\.MaxPool2d: padding must be a non-negative int or a tuple of 2, got -1\.$",
        ),
        (
            lambda: nn.MaxPool2d((2, 2, 2)),
            lambda: torch.nn.MaxPool2d((2, 2, 2))(T4),
            r"^axon\.nn\.MaxPool2d: kernel_size must be a positive int or a tuple of 2, got "
            r"\(2, 2, 2\)\.$",
        ),
        (
            lambda: nn.AdaptiveMaxPool1d((2, 2)),
            lambda: torch.nn.AdaptiveMaxPool1d((2, 2))(T3),
            r"^axon\.nn\.AdaptiveMaxPool1d: output_size must be a positive int, got \(2, 2\)\.$",
        ),
        # torch returns an empty tensor here; axon rejects a zero output size
        (
            lambda: nn.AdaptiveAvgPool2d(0),
            None,
            r"^axon\.nn\.AdaptiveAvgPool2d: output_size must be a positive int, or a tuple of 2 "
            r"positive ints or None, got 0\.$",
        ),
    ],
    ids=[
        "max2d_padding",
        "avg1d_padding",
        "max1d_padding_dilated",
        "max2d_kernel_zero",
        "avg2d_kernel_negative",
        "max1d_stride_zero",
        "avg2d_stride_zero",
        "max2d_dilation_zero",
        "max2d_padding_negative",
        "max2d_kernel_3_tuple",
        "amax1d_size_pair",
        "aavg2d_size_zero",
    ],
)
def test_bad_hyper_parameters(make, torch_call, match):
    check_raises(make, torch_call, ValueError, match)


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: F.max_pool2d(X4, 3, padding=2),
            r"^axon\.functional\.max_pool2d: padding must be at most half of kernel_size",
        ),
        (
            lambda: F.avg_pool1d(X4, 2),
            r"^axon\.functional\.avg_pool1d: expected input of shape \(N, C, L\) or \(C, L\), "
            r"got \(1, 1, 4, 4\)\.$",
        ),
        (
            lambda: F.avg_pool2d(X4, 2, divisor_override=0),
            r"^axon\.functional\.avg_pool2d: divisor_override must be a positive int, got 0\.$",
        ),
        (
            lambda: F.adaptive_max_pool2d(X4, (2, 0)),
            r"^axon\.functional\.adaptive_max_pool2d: output_size must be a positive int",
        ),
        (
            lambda: F.adaptive_avg_pool1d(np.ones((2, 0), np.float32), 2),
            r"^axon\.functional\.adaptive_avg_pool1d: expected non-empty spatial dims, got "
            r"input \(2, 0\)\.$",
        ),
    ],
    ids=[
        "max_pool2d_padding",
        "avg_pool1d_rank",
        "avg_pool2d_divisor",
        "adaptive_max_size",
        "adaptive_avg_empty",
    ],
)
def test_functional_errors_name_the_function(call, match):
    with pytest.raises(ValueError, match=match):
        call()
