"""Attention vs. torch: `F.scaled_dot_product_attention`, `MultiHeadAttention`, `CrossAttention`;
`DifferentialAttention` vs. the paper's equations written out in jnp."""

from __future__ import annotations

import functools
import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import DTYPE_IDS, DTYPES, assert_close, check_op, random_inputs, tol, x64

import axon
from axon import functional as F
from axon import nn, optim

jax.config.update("jax_default_matmul_precision", "highest")

_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
# attention sums over keys and heads in other orders than ATen: a little more room in float32
ATOL32 = dict(rtol=2e-5, atol=2e-6)


def _tol(dtype):
    return ATOL32 if np.dtype(dtype) == np.float32 else tol(dtype)


def _bool_mask(rng, shape):
    """True = blocked at random, never key 0, so no row is fully masked."""
    m = rng.random(shape) > 0.6
    m[..., 0] = False
    return m


def _float_mask(rng, shape, dtype):
    m = rng.standard_normal(shape).astype(dtype)
    return np.where(_bool_mask(rng, shape), -np.inf, m).astype(dtype)


# --------------------------------------------------------------------- scaled_dot_product_attention
# (id, q shape, k shape, v shape, mask: None | "bool" | "float" and its shape, kwargs)
SDPA_CASES = [
    ("4d", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 8), None, {}),
    ("3d_causal", (3, 5, 8), (3, 5, 8), (3, 5, 8), None, dict(is_causal=True)),
    ("causal_L_ne_S", (2, 4, 8), (2, 6, 8), (2, 6, 8), None, dict(is_causal=True)),
    ("2d_scale", (4, 8), (5, 8), (5, 8), None, dict(scale=0.3)),
    ("bool_2d", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 8), ("keep", (4, 5)), {}),
    ("bool_4d", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 8), ("keep", (2, 1, 4, 5)), {}),
    ("bool_causal", (2, 3, 5, 8), (2, 3, 5, 8), (2, 3, 5, 8), ("keep", (5, 5)),
     dict(is_causal=True)),
    ("float_2d", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 8), ("float", (4, 5)), {}),
    ("float_bcast", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 8), ("float", (3, 1, 5)), {}),
    ("value_dim", (2, 4, 8), (2, 5, 8), (2, 5, 3), ("keep", (4, 5)), {}),
    ("gqa", (2, 4, 3, 8), (2, 2, 5, 8), (2, 2, 5, 8), ("keep", (3, 5)), dict(enable_gqa=True)),
    ("5d", (2, 2, 2, 3, 4), (2, 2, 2, 5, 4), (2, 2, 2, 5, 4), ("keep", (2, 1, 1, 3, 5)), {}),
]  # fmt: skip


F64_SDPA = {"causal_L_ne_S", "float_bcast", "gqa"}


def _sdpa_case(case, dtype):
    """Inputs, mask and cotangent of one case, and torch's output and input gradients."""
    _, qs, ks, vs, mask, kwargs = case
    rng = np.random.default_rng(1)
    m = None
    if mask is not None:
        kind, shape = mask
        m = ~_bool_mask(rng, shape) if kind == "keep" else _float_mask(rng, shape, dtype)
    inputs = random_inputs([qs, ks, vs], dtype)
    with x64(dtype):
        t_in = [torch.tensor(a, requires_grad=True) for a in inputs]
        t_mask = None if m is None else torch.tensor(m)
        t_out = torch.nn.functional.scaled_dot_product_attention(*t_in, t_mask, **kwargs)
        cot = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
        t_out.backward(torch.tensor(cot))
    return dict(
        mask=m, inputs=inputs, kwargs=kwargs, cot=cot, out=t_out, grads=[t.grad for t in t_in]
    )


@functools.cache
def _sdpa_results(dtype_name: str):
    """Every case of this dtype, forward and VJP, in one jax.jit program (one compile)."""
    dtype = np.dtype(dtype_name)
    cases = {c[0]: _sdpa_case(c, dtype) for c in SDPA_CASES
             if dtype == np.float32 or c[0] in F64_SDPA}  # fmt: skip

    def one(case, cot, arrays):
        def f(q, k, v):
            return F.scaled_dot_product_attention(q, k, v, case["mask"], **case["kwargs"])

        out, vjp = jax.vjp(f, *arrays)
        return out, vjp(cot)

    with x64(dtype):
        run = jax.jit(
            lambda cots, arrays: {i: one(c, cots[i], arrays[i]) for i, c in cases.items()}
        )
        cots = {i: jnp.asarray(c["cot"]) for i, c in cases.items()}
        results = run(cots, {i: [jnp.asarray(a) for a in c["inputs"]] for i, c in cases.items()})
    return cases, results


@pytest.mark.parametrize(
    "case_id, dtype",
    [(c[0], np.float32) for c in SDPA_CASES]
    + [(c[0], np.float64) for c in SDPA_CASES if c[0] in F64_SDPA],
    ids=[f"{c[0]}-f32" for c in SDPA_CASES]
    + [f"{c[0]}-f64" for c in SDPA_CASES if c[0] in F64_SDPA],
)
def test_sdpa_matches_torch(case_id, dtype):
    cases, results = _sdpa_results(np.dtype(dtype).name)
    out, grads = results[case_id]
    assert_close(out, cases[case_id]["out"], dtype, **_tol(dtype))
    for i, (g, t) in enumerate(zip(grads, cases[case_id]["grads"], strict=True)):
        assert_close(g, t, dtype, **_tol(dtype), err_msg=f"gradient of input {i}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kind", ["keep", "float", "keep-fused"])
def test_sdpa_on_variables_and_fully_masked_rows_like_torch(kind, dtype, monkeypatch):
    """One tape op on Variables; a query row that may attend nothing gives zeros, as PyTorch.
    "keep-fused" takes the path through jax.nn.dot_product_attention that a GPU takes."""
    if kind == "keep-fused":
        attention = importlib.import_module("axon.functional.attention")
        monkeypatch.setattr(attention, "_fused_backend", lambda: True)
    keep = np.ones((4, 5), bool)
    keep[1] = False  # query 1 may attend nothing
    keep[3, 2:] = False
    m = keep if kind.startswith("keep") else np.where(keep, 0.0, -np.inf).astype(dtype)
    out = check_op(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, m),
        lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, torch.tensor(m)),
        [(2, 4, 8), (2, 5, 8), (2, 5, 8)],
        dtype,
        **_tol(dtype),
    )[0]
    assert out.grad_fn == "scaled_dot_product_attention"
    assert np.all(np.asarray(out.data)[:, 1] == 0)


def test_sdpa_on_arrays_is_jax_and_uses_dot_product_attention_where_exact(monkeypatch):
    calls = []
    real = jax.nn.dot_product_attention

    def spy(*args, **kwargs):
        calls.append(args[0].dtype)
        return real(*args, **kwargs)

    monkeypatch.setattr(jax.nn, "dot_product_attention", spy)
    q = jnp.ones((2, 3, 4, 8))

    def trace(q, *args, **kwargs):  # jax.jit: traced once, nothing runs op by op
        return jax.jit(lambda q: F.scaled_dot_product_attention(q, q, q, *args, **kwargs))(q)

    written_out = trace(q, jnp.ones((4, 4), bool), is_causal=True)
    assert calls == []  # on the CPU jax's kernel gains nothing: the written-out path runs
    attention = importlib.import_module("axon.functional.attention")
    monkeypatch.setattr(attention, "_fused_backend", lambda: True)  # as on a GPU
    causal = trace(q, jnp.ones((4, 4), bool), is_causal=True)
    assert calls == [jnp.float32]
    assert_close(causal, written_out)
    trace(q, jnp.zeros((4, 4)))  # float mask: written out
    trace(q, dropout_p=0.5, key=jax.random.key(0))  # dropout: written out
    with jax.enable_x64(True):  # jax's kernel would take the softmax in float32
        trace(q.astype(jnp.float64))
    assert len(calls) == 1
    # on arrays it is plain jax: jit (above) and vmap
    vmapped = jax.jit(jax.vmap(lambda q: F.scaled_dot_product_attention(q, q, q, is_causal=True)))
    out = vmapped(q)
    assert isinstance(out, jax.Array) and len(calls) == 2
    assert_close(out, causal)


def test_sdpa_dropout():
    rng = np.random.default_rng(0)
    arrays = [jnp.asarray(rng.standard_normal((2, 4, 6)), jnp.float32) for _ in range(3)]
    q, k, v = (axon.Variable(a) for a in arrays)  # Variables: one compiled kernel per call
    key = jax.random.key(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, key=key)
    assert_close(a, F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, key=key))
    # the weights are dropped (and the kept ones scaled by 1/(1-p)) before they multiply v
    qa, ka, va = arrays
    weights = jax.nn.softmax(qa @ jnp.swapaxes(ka, 1, 2) / math.sqrt(6), axis=-1)
    kept = jax.random.bernoulli(key, 0.6, weights.shape)
    assert_close(a, jnp.where(kept, weights / 0.6, 0.0) @ va, **ATOL32)
    assert_close(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0), jnp.zeros_like(qa))
    axon.manual_seed(0)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)  # from the global stream
    c = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    axon.manual_seed(0)
    assert_close(F.scaled_dot_product_attention(q, k, v, dropout_p=0.4), b)
    assert not np.allclose(b.data, c.data)


@pytest.mark.parametrize(
    "call, exc, match",
    [(lambda q: F.scaled_dot_product_attention(q[0, 0, 0], q, q), ValueError,
      r"expected query of shape \(\.\.\., T, D\) with at least 2 dims, got \(8,\)"),
     (lambda q: F.scaled_dot_product_attention(q, q[..., :4], q), ValueError,
      r"expected query \(\.\.\., L, E\), key \(\.\.\., S, E\) and value \(\.\.\., S, Ev\)"),
     (lambda q: F.scaled_dot_product_attention(q, q, q, jnp.ones((5, 5), jnp.int32)), TypeError,
      r"attn_mask must be a bool mask \(True = may attend\) or a float mask .*got dtype int32"),
     (lambda q: F.scaled_dot_product_attention(q, q, q, jnp.ones((3, 5), bool)), ValueError,
      r"attn_mask of shape \(3, 5\) does not broadcast to the scores' shape \(\.\.\., L, S\) = "
      r"\(2, 4, 5, 5\)"),
     (lambda q: F.scaled_dot_product_attention(q, q, q, dropout_p=1.5), ValueError,
      r"dropout_p must be in \[0, 1\], got 1\.5"),
     (lambda q: F.scaled_dot_product_attention(q, q.astype(jnp.float16), q), TypeError,
      r"query, key and value must share one dtype"),
     (lambda q: F.scaled_dot_product_attention(q, q[:, :3], q[:, :3], enable_gqa=True),
      ValueError, r"enable_gqa needs .* query heads are a multiple of the key/value heads")],
    ids=["rank", "width", "mask_dtype", "mask_shape", "dropout", "dtype", "gqa"],
)  # fmt: skip
def test_sdpa_errors(call, exc, match):
    with pytest.raises(exc, match=r"^axon\.functional\.scaled_dot_product_attention: " + match):
        call(jnp.ones((2, 4, 5, 8)))


# ------------------------------------------------------------------------------ MultiHeadAttention
E, H, N, L, S = 8, 2, 2, 4, 6


def _mha_case(ctor, call, dtype, masks=(), self_attn=False, unbatched=False):
    """Inputs, masks and cotangents of one case, and torch's results with them."""
    rng = np.random.default_rng(0)
    batch_first = ctor.get("batch_first", True)
    kdim, vdim = ctor.get("kdim") or E, ctor.get("vdim") or E
    src = L if self_attn else S

    def seq(t, d):
        if unbatched:
            return (t, d)
        return (N, t, d) if batch_first else (t, N, d)

    arrays = [rng.standard_normal(seq(L, E)).astype(dtype)]
    if not self_attn:
        arrays += [rng.standard_normal(seq(S, kdim)).astype(dtype),
                   rng.standard_normal(seq(S, vdim)).astype(dtype)]  # fmt: skip
    mask_values = {}
    for name, kind in masks:
        if name == "attn_mask":
            shape = (L, src) if kind.endswith("2d") else ((1 if unbatched else N) * H, L, src)
        else:
            shape = (src,) if unbatched else (N, src)
        mask_values[name] = (
            _bool_mask(rng, shape) if kind.startswith("bool") else _float_mask(rng, shape, dtype)
        )
    torch_call = dict(call)
    if call.get("is_causal") and "attn_mask" not in mask_values:
        torch_call["attn_mask"] = torch.ones(L, src, dtype=torch.bool).triu(1)  # torch needs it
    torch_call.setdefault("need_weights", False)
    with x64(dtype):
        ref = torch.nn.MultiheadAttention(E, H, **{"batch_first": True, **ctor})
        ref = ref.to(_TORCH_DTYPE[np.dtype(dtype)])
        t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
        t_masks = {k: torch.tensor(v) for k, v in mask_values.items()}
        t_out, t_w = ref(*(t_in * 3 if self_attn else t_in), **t_masks, **torch_call)
        cot = rng.standard_normal(t_out.shape).astype(dtype)
        wcot = rng.standard_normal(t_w.shape).astype(dtype) if t_w is not None else np.zeros(1)
        t_loss = (t_out * torch.tensor(cot)).sum()
        if t_w is not None:
            t_loss = t_loss + (t_w * torch.tensor(wcot)).sum()
        t_loss.backward()

        layer = nn.MultiHeadAttention(E, H, **ctor).to(jnp.dtype(dtype))
        layer.load_state_dict(ref.state_dict())
        return dict(
            layer=layer, inputs=[axon.Variable(jnp.asarray(a), requires_grad=True) for a in arrays],
            masks={k: jnp.asarray(v) for k, v in mask_values.items()}, call=call,
            self_attn=self_attn, cot=jnp.asarray(cot), wcot=jnp.asarray(wcot), ref=ref, out=t_out,
            weights=t_w, input_grads=[t.grad for t in t_in],
        )  # fmt: skip


def _mha_step(layer, inputs, cot, wcot, *, masks, call, self_attn):
    """One case's forward and backward; returns the loss and (output, weights)."""
    out, w = layer.attention(*(inputs * 3 if self_attn else inputs), **masks, **call)
    loss = (out * cot).sum()
    if w is not None:
        loss = loss + (w * wcot).sum()
    return loss, (out, w)


def _check_mha(case, result, dtype):
    """axon's (output, weights) and every gradient against torch's."""
    out, w = result
    assert_close(out, case["out"], dtype, **_tol(dtype))
    assert (w is None) == (case["weights"] is None)
    if w is not None:
        assert_close(w, case["weights"], dtype, **_tol(dtype))
    for i, (a, t) in enumerate(zip(case["inputs"], case["input_grads"], strict=True)):
        assert_close(a.grad, t, dtype, **_tol(dtype), err_msg=f"input {i}")
    layer, ref = case["layer"], case["ref"]
    names = list(layer.named_parameters())
    assert names == [k for k, _ in ref.named_parameters()]
    for name, p, tp in zip(names, layer.parameters(), ref.parameters(), strict=True):
        assert_close(p.grad, tp.grad, dtype, **_tol(dtype), err_msg=f"gradient of {name}")


# (id, constructor kwargs, attention kwargs, masks, self-attention, unbatched)
MHA_CASES = [
    ("self_bool_attn_2d", {}, {}, (("attn_mask", "bool2d"),), True, False),
    ("cross_weights", {}, dict(need_weights=True), (), False, False),
    ("kdim_vdim", dict(kdim=5, vdim=3), dict(need_weights=True), (), False, False),
    ("no_bias_float_kpm", dict(bias=False), {}, (("key_padding_mask", "float"),), False, False),
    ("seq_first", dict(batch_first=False), dict(need_weights=True), (("attn_mask", "bool2d"),),
     False, False),
    ("float_attn_2d", {}, dict(need_weights=True), (("attn_mask", "float2d"),), False, False),
    ("float_attn_3d_per_head", {}, dict(need_weights=True, average_attn_weights=False),
     (("attn_mask", "float3d"),), False, False),
    ("bool_attn_3d_kpm", {}, dict(need_weights=True),
     (("attn_mask", "bool3d"), ("key_padding_mask", "bool")), False, False),
    ("causal", {}, dict(is_causal=True), (), True, False),
    ("causal_kpm_weights", {}, dict(is_causal=True, need_weights=True),
     (("key_padding_mask", "bool"),), True, False),
    ("bias_kv_masks", dict(add_bias_kv=True), dict(need_weights=True),
     (("attn_mask", "float2d"), ("key_padding_mask", "bool")), False, False),
    ("zero_attn_masks", dict(add_zero_attn=True), {},
     (("attn_mask", "bool3d"), ("key_padding_mask", "float")), False, False),
    ("bias_kv_zero_attn_causal", dict(add_bias_kv=True, add_zero_attn=True),
     dict(is_causal=True, need_weights=True), (), True, False),
    ("unbatched", {}, {}, (), False, True),
    ("unbatched_masks", dict(kdim=5, vdim=3), dict(need_weights=True, average_attn_weights=False),
     (("attn_mask", "bool3d"), ("key_padding_mask", "bool")), False, True),
]  # fmt: skip
EAGER_CASES = {"self_bool_attn_2d", "cross_weights", "bool_attn_3d_kpm", "unbatched"}
F64_CASES = {"kdim_vdim", "bias_kv_masks"}


def _statics(case):
    return dict(masks=case["masks"], call=case["call"], self_attn=case["self_attn"])


@functools.cache
def _mha_compiled(dtype_name: str):
    """The non-eager cases of this dtype as one `axon.jit` step (one compile): forward, the sum
    of every case's loss, backward; gradients land in each case's parameters and inputs."""
    dtype = np.dtype(dtype_name)
    wanted = F64_CASES if dtype == np.float64 else {c[0] for c in MHA_CASES} - EAGER_CASES
    ids = [c[0] for c in MHA_CASES if c[0] in wanted]
    cases = {c[0]: _mha_case(*c[1:3], dtype, *c[3:]) for c in MHA_CASES if c[0] in ids}

    def step(layers, inputs, cots):
        total, results = 0.0, {}
        for i, case in cases.items():
            loss, results[i] = _mha_step(layers[i], inputs[i], *cots[i], **_statics(case))
            total = total + loss
        total.backward()
        return results

    with x64(dtype):
        results = axon.jit(step)(
            {i: c["layer"] for i, c in cases.items()}, {i: c["inputs"] for i, c in cases.items()},
            {i: (c["cot"], c["wcot"]) for i, c in cases.items()},
        )  # fmt: skip
    return cases, results


@pytest.mark.parametrize(
    "case_id, dtype",
    [(c[0], np.float32) for c in MHA_CASES] + [(i, np.float64) for i in sorted(F64_CASES)],
    ids=[f"{c[0]}-f32{'' if c[0] in EAGER_CASES else '-jit'}" for c in MHA_CASES]
    + [f"{i}-f64-jit" for i in sorted(F64_CASES)],
)
@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # torch's
def test_mha_matches_torch(case_id, dtype):
    """Torch's state dict copied in; outputs, weights and the gradients of random cotangents
    with respect to query, key, value and every parameter. Eager cases run op by op on the
    tape; the others together in one `axon.jit` step per dtype."""
    if np.dtype(dtype) == np.float32 and case_id in EAGER_CASES:
        c = next(c for c in MHA_CASES if c[0] == case_id)
        case = _mha_case(*c[1:3], dtype, *c[3:])
        loss, result = _mha_step(case["layer"], case["inputs"], case["cot"], case["wcot"],
                                 **_statics(case))  # fmt: skip
        loss.backward()
        assert result[0].grad_fn == "multi_head_attention"  # one tape op: one compiled kernel
    else:
        cases, results = _mha_compiled(np.dtype(dtype).name)
        case, result = cases[case_id], results[case_id]
    _check_mha(case, result, dtype)


def test_mha_fully_masked_rows_give_zeros():
    """PyTorch gives zeros with need_weights=False (its scaled_dot_product_attention) and NaN
    with need_weights=True; axon gives zeros, weights included, and finite gradients."""
    ref = torch.nn.MultiheadAttention(E, H, batch_first=True)
    layer = nn.MultiHeadAttention(E, H)
    layer.load_state_dict(ref.state_dict())
    x = np.random.default_rng(0).standard_normal((N, L, E)).astype(np.float32)
    kpm = np.zeros((N, L), bool)
    kpm[1] = True  # the second sequence is all padding
    t_out, _ = ref(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(kpm), need_weights=False)
    xv = axon.Variable(x, requires_grad=True)
    out, w = layer.attention(xv, xv, xv, key_padding_mask=kpm, need_weights=True)
    assert_close(out, t_out, **ATOL32)
    assert np.all(np.asarray(w.data)[1] == 0) and np.all(np.isfinite(np.asarray(w.data)))
    (out.sum() + w.sum()).backward()
    assert np.all(np.isfinite(np.asarray(xv.grad)))


def _causality(layer_call, x):
    """Output at t does not change when tokens after t change."""
    base = np.asarray(layer_call(jnp.asarray(x)))
    for t in range(x.shape[1] - 1):
        changed = x.copy()
        changed[:, t + 1 :] = np.random.default_rng(t).standard_normal(changed[:, t + 1 :].shape)
        out = np.asarray(layer_call(jnp.asarray(changed)))
        np.testing.assert_allclose(out[:, : t + 1], base[:, : t + 1], rtol=1e-5, atol=1e-6)
        assert not np.allclose(out[:, t + 1 :], base[:, t + 1 :])


@axon.no_grad()
def test_causal_masks_hide_the_future():
    x = np.random.default_rng(0).standard_normal((2, 6, 8)).astype(np.float32)
    mha = nn.MultiHeadAttention(8, 2)
    _causality(lambda x: mha(x, is_causal=True).data, x)
    causal = jnp.triu(jnp.ones((6, 6), bool), 1)  # the layers' convention: True = blocked
    _causality(lambda x: mha(x, attn_mask=jnp.where(causal, -jnp.inf, 0.0)).data, x)
    kv = nn.MultiHeadAttention(8, 2, add_bias_kv=True, add_zero_attn=True)
    _causality(lambda x: kv(x, is_causal=True).data, x)
    diff = nn.DifferentialAttention(8, 2)
    _causality(lambda x: diff(x, is_causal=True).data, x)
    sdpa = jax.jit(lambda x: F.scaled_dot_product_attention(x, x, x, ~causal))  # keep mask
    _causality(sdpa, x)


def test_mha_parameters_and_init_like_torch():
    for kwargs in ({}, dict(kdim=5, vdim=3, add_bias_kv=True), dict(bias=False)):
        layer, ref = (
            nn.MultiHeadAttention(E, H, **kwargs),
            torch.nn.MultiheadAttention(E, H, **kwargs),
        )
        assert {k: tuple(v.shape) for k, v in layer.state_dict().items()} == {
            k: tuple(v.shape) for k, v in ref.state_dict().items()
        }
        assert layer.num_parameters() == sum(p.numel() for p in ref.parameters())
    layer = nn.MultiHeadAttention(64, 4)
    w = np.asarray(layer.in_proj_weight.data)  # Xavier uniform on (3E, E): bound √(6 / 4E)
    bound = math.sqrt(6 / (64 + 192))
    assert w.min() >= -bound and w.max() <= bound and w.max() > 0.95 * bound
    assert np.all(np.asarray(layer.in_proj_bias.data) == 0)
    assert np.all(np.asarray(layer.out_proj.bias.data) == 0)
    out_w = np.asarray(layer.out_proj.weight.data)
    assert np.abs(out_w).max() <= 1 / 8 and np.abs(out_w).max() > 0.95 / 8
    assert layer.batch_first and not torch.nn.MultiheadAttention(8, 2).batch_first


def test_mha_forward_is_self_attention():
    layer = nn.MultiHeadAttention(E, H)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((N, L, E)), jnp.float32)
    assert_close(layer(x), layer.attention(x, x, x)[0])
    mask = jnp.triu(jnp.ones((L, L), bool), 1)
    assert_close(layer(x, attn_mask=mask), layer.attention(x, x, x, attn_mask=mask)[0])
    out, w = layer.attention(x, x, x)
    assert w is None  # need_weights=False by default (API.md)


def test_mha_dropout_in_training_only_fresh_under_axon_jit():
    layer = nn.MultiHeadAttention(E, H, dropout=0.5)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((N, L, E)), jnp.float32)
    fast = axon.jit(
        lambda m, x: m.attention(x, x, x, need_weights=True, average_attn_weights=False)[1]
    )
    w, w_again = fast(layer, x), fast(layer, x)  # the stream is carried: a fresh mask per call
    assert fast.num_compiles == 1 and not np.array_equal(w, w_again)
    layer.eval()
    w_eval = np.asarray(fast(layer, x))
    np.testing.assert_allclose(w_eval.sum(-1), 1.0, rtol=1e-6)  # eval: no dropout
    w = np.asarray(w)
    dropped = w == 0  # training: each weight dropped, or kept and scaled by 1/(1-p)
    assert 0.3 < dropped.mean() < 0.7
    np.testing.assert_allclose(w[~dropped], 2 * w_eval[~dropped], rtol=1e-6)


def test_mha_training_step_under_axon_jit_equals_eager():
    def make():
        axon.manual_seed(3)
        model = nn.MultiHeadAttention(E, H)
        return model, optim.SGD(model.parameters(), lr=0.1)

    def step(model, opt, q, kv):
        opt.zero_grad()
        out, w = model.attention(q, kv, kv, need_weights=True)
        loss = (out**2).mean() + (w**2).mean()
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    q, kv = (jnp.asarray(rng.standard_normal(s), jnp.float32) for s in ((N, L, E), (N, S, E)))
    eager_model, eager_opt = make()
    jit_model, jit_opt = make()
    fast = axon.jit(step)
    eager = [float(step(eager_model, eager_opt, q, kv)) for _ in range(2)]
    compiled = [float(fast(jit_model, jit_opt, q, kv)) for _ in range(2)]
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    assert eager[-1] < eager[0]
    for key, value in eager_model.state_dict().items():
        assert_close(jit_model.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    assert fast.num_compiles == 1


def test_mha_under_jax_jit_grad_and_vmap():
    layer = nn.MultiHeadAttention(E, H)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((N, L, E)), jnp.float32)
    grads = jax.jit(jax.grad(lambda m: (m(x).data ** 2).sum()))(layer)
    out = layer(axon.Variable(x))
    (out**2).sum().backward()
    assert_close(grads.in_proj_weight.data, layer.in_proj_weight.grad, **ATOL32)
    per_sequence = jax.jit(jax.vmap(lambda x: layer(x).data))(x)  # each (L, E) unbatched
    assert_close(per_sequence, out.data, **ATOL32)


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "make, match",
    [(lambda: nn.MultiHeadAttention(10, 3), r"embed_dim \(10\) must be divisible by num_heads "
      r"\(3\)\. Pick a num_heads that divides embed_dim\.$"),
     (lambda: nn.MultiHeadAttention(8, 0), r"num_heads must be a positive int, got 0\.$"),
     (lambda: nn.MultiHeadAttention(8, 2, dropout=1.5), r"dropout must be a number in \[0, 1\]"),
     (lambda: nn.MultiHeadAttention(8, 2, kdim=0), r"kdim must be a positive int, got 0\.$")],
    ids=["not_divisible", "zero_heads", "dropout", "kdim"],
)  # fmt: skip
def test_mha_constructor_errors(make, match):
    with pytest.raises(ValueError, match=r"^axon\.nn\.MultiHeadAttention: " + match):
        make()


def _q(*shape):
    return jnp.ones(shape, jnp.float32)


@pytest.mark.parametrize(
    "call, exc, match",
    [(lambda m: m.attention(_q(N, L, E), _q(N, S, E), _q(N, S, E), attn_mask=_q(L, L)),
      ValueError, r"expected attn_mask of shape \(L, S\) = \(4, 6\) or \(N·num_heads, L, S\) = "
      r"\(4, 4, 6\), got \(4, 4\)\.$"),
     (lambda m: m.attention(_q(N, L, E), _q(N, S, E), _q(N, S, E),
                            attn_mask=jnp.zeros((L, S), jnp.int32)),
      TypeError, r"attn_mask must be a bool mask \(True = may not attend\) or a float mask "
      r"\(added to the scores\), got dtype int32\. Convert it with mask\.astype\(bool\)\.$"),
     (lambda m: m.attention(_q(N, L, E), _q(N, S, E), _q(N, S, E),
                            key_padding_mask=jnp.zeros((N, L), bool)),
      ValueError, r"expected key_padding_mask of shape \(N, S\) = \(2, 6\), got \(2, 4\)\.$"),
     (lambda m: m.attention(_q(N, L, E), _q(N, S, E), _q(N, S, E),
                            key_padding_mask=jnp.zeros((N, S), jnp.uint8)),
      TypeError, r"key_padding_mask must be a bool mask .* got dtype uint8"),
     (lambda m: m.attention(_q(L, E), _q(S, E), _q(S, E), attn_mask=jnp.zeros((N * H, L, S))),
      ValueError, r"expected attn_mask of shape \(L, S\) = \(4, 6\) or \(num_heads, L, S\) = "
      r"\(2, 4, 6\), got \(4, 4, 6\)\.$"),
     (lambda m: m(_q(N, L, 6)), ValueError,
      r"expected query with last dimension embed_dim=8, got \(2, 4, 6\)\.$"),
     (lambda m: m(_q(N, 1, L, E)), ValueError,
      r"expected query of shape \(N, L, E\) \(batch_first=True\) or \(L, E\) unbatched, got "
      r"\(2, 1, 4, 8\)\.$"),
     (lambda m: m.attention(_q(N, L, E), _q(N, S, E), _q(N, S + 1, E)), ValueError,
      r"key and value must have the same sequence length"),
     (lambda m: m.attention(_q(N, L, E), _q(N + 1, S, E), _q(N + 1, S, E)), ValueError,
      r"query, key and value must share the batch size \(dim 0 with batch_first=True\)"),
     (lambda m: m.attention(_q(N, L, E), _q(S, E), _q(S, E)), ValueError,
      r"key and value must be 3-D like query \(2, 4, 8\), got key \(6, 8\) and value \(6, 8\)"),
     (lambda m: m(jnp.ones((N, L, E), jnp.int32)), TypeError,
      r"expected a floating point query, got int32\.$"),
     (lambda m: m(_q(N, L, E), _q(N, L, E), _q(N, L, E)), TypeError,
      r"forward\(x\) is self-attention and takes one input, got 3\. For PyTorch's "
      r"mha\(query, key, value\), call mha\.attention\(query, key, value, need_weights=True\)")],
    ids=["attn_shape", "attn_dtype", "kpm_shape", "kpm_dtype", "unbatched_attn_shape",
         "query_width", "query_rank", "kv_length", "batch", "kv_rank", "int_input",
         "torch_style_forward"],
)  # fmt: skip
def test_mha_call_errors_name_the_layer(call, exc, match):
    with pytest.raises(exc, match=r"^axon\.nn\.MultiHeadAttention: " + match):
        call(nn.MultiHeadAttention(E, H))


def test_errors_name_the_layer_path():
    model = nn.Sequential(nn.MultiHeadAttention(E, H))
    with pytest.raises(ValueError, match=r"^axon\.nn\.MultiHeadAttention \(0\): expected query"):
        model(_q(N, L, 3))
    with pytest.raises(ValueError, match=r"^axon\.nn\.CrossAttention: expected key with last "
                       r"dimension kdim=8, got \(2, 6, 5\)\.$"):  # fmt: skip
        nn.CrossAttention(E, H)(_q(N, L, E), _q(N, S, 5))


# ------------------------------------------------------------------------------ CrossAttention
def test_cross_attention_is_torch_mha_on_a_context():
    ref = torch.nn.MultiheadAttention(E, H, kdim=5, vdim=5, batch_first=True)
    layer = nn.CrossAttention(E, H, kdim=5, vdim=5)
    layer.load_state_dict(ref.state_dict())
    rng = np.random.default_rng(0)
    q = rng.standard_normal((N, L, E)).astype(np.float32)
    ctx = rng.standard_normal((N, S, 5)).astype(np.float32)
    kpm = _bool_mask(rng, (N, S))
    t_out, _ = ref(torch.tensor(q), torch.tensor(ctx), torch.tensor(ctx),
                   key_padding_mask=torch.tensor(kpm))  # fmt: skip
    assert_close(layer(q, ctx, key_padding_mask=kpm), t_out, **ATOL32)
    mask = _bool_mask(rng, (L, S))
    t_out, _ = ref(torch.tensor(q), torch.tensor(ctx), torch.tensor(ctx),
                   attn_mask=torch.tensor(mask))  # fmt: skip
    assert_close(layer(q, ctx, mask), t_out, **ATOL32)
    assert_close(layer.cross_attention(q, ctx, mask), t_out, **ATOL32)
    assert isinstance(layer, nn.MultiHeadAttention)


def test_seed_constructors():
    mha = nn.MultiHeadAttention.with_options(E, H, 0.1, False)
    assert (mha.embed_dim, mha.num_heads, mha.dropout, mha.batch_first) == (E, H, 0.1, False)
    assert type(nn.MultiHeadAttention.new(E, H)) is nn.MultiHeadAttention
    cross = nn.CrossAttention.with_options(E, H, 0.0, True)
    assert type(cross) is nn.CrossAttention and cross.batch_first
    diff = nn.DifferentialAttention.with_lambda(E, H, 0.05)
    assert diff.lambda_init == 0.05
    assert nn.DifferentialAttention.new(E, H).lambda_init == pytest.approx(0.2)


# ----------------------------------------------------------------------- DifferentialAttention
def paper_diff_attention(params, query, key, value, *, heads, lambda_init, blocked=None, eps=1e-5):
    """The paper's equations (Ye et al., 2024, eqs. 1-3 and the MultiHead listing), one head at a
    time: [Q1; Q2] = X W_q, [K1; K2] = X W_k, V = X W_v; DiffAttn = (softmax(Q1 K1ᵀ/√d) −
    λ softmax(Q2 K2ᵀ/√d)) V; head = (1 − λ_init)·RMSNorm(DiffAttn); out = Concat(heads) W_o.
    `blocked` (N, L, S): True = may not attend."""
    w = params
    lam = (jnp.exp(jnp.dot(w["lambda_q1"], w["lambda_k1"]))
           - jnp.exp(jnp.dot(w["lambda_q2"], w["lambda_k2"])) + lambda_init)  # fmt: skip
    q_all, k_all, v_all = (query @ w["q_proj.weight"].T, key @ w["k_proj.weight"].T,
                           value @ w["v_proj.weight"].T)  # fmt: skip
    width = query.shape[-1] // heads
    d = width // 2
    outs = []
    for h in range(heads):
        cols = slice(h * width, (h + 1) * width)
        q1, q2 = q_all[..., cols][..., :d], q_all[..., cols][..., d:]
        k1, k2 = k_all[..., cols][..., :d], k_all[..., cols][..., d:]
        v = v_all[..., cols]

        def softmax(q, k):
            s = q @ jnp.swapaxes(k, -1, -2) / math.sqrt(d)
            if blocked is not None:
                s = jnp.where(blocked, -jnp.inf, s)
            return jax.nn.softmax(s, axis=-1)

        head = (softmax(q1, k1) - lam * softmax(q2, k2)) @ v
        rms = jnp.sqrt(jnp.mean(head**2, axis=-1, keepdims=True) + eps)
        outs.append((1 - lambda_init) * head / rms * w["subln.weight"])
    return jnp.concatenate(outs, axis=-1) @ w["out_proj.weight"].T


@pytest.mark.parametrize(
    "masks, dtype, compiled",
    [("attn_and_kpm", np.float32, False), ("causal", np.float64, True)],
    ids=["attn_and_kpm-f32", "causal-f64-jit"],
)  # fmt: skip
def test_differential_attention_matches_the_paper(masks, dtype, compiled):
    rng = np.random.default_rng(0)
    e, heads, depth = E, H, 3
    lambda_init = 0.8 - 0.6 * math.exp(-0.3 * (depth - 1))
    with x64(dtype):
        layer = nn.DifferentialAttention(e, heads, depth=depth).to(jnp.dtype(dtype))
        assert layer.lambda_init == pytest.approx(lambda_init)
        for p in layer.parameters():  # non-trivial norm scales too
            p.data = p.data + jnp.asarray(0.1 * rng.standard_normal(p.shape), p.dtype)
        q = rng.standard_normal((N, L, e)).astype(dtype)
        kv = rng.standard_normal((N, S, e)).astype(dtype)
        kwargs, blocked = {}, None
        if masks == "causal":
            kv = q
            kwargs = dict(is_causal=True)
            blocked = np.broadcast_to(np.triu(np.ones((L, L), bool), 1), (N, L, L))
        elif masks == "attn_and_kpm":
            attn, kpm = _bool_mask(rng, (L, S)), _bool_mask(rng, (N, S))
            kwargs = dict(attn_mask=jnp.asarray(attn), key_padding_mask=jnp.asarray(kpm))
            blocked = attn[None] | kpm[:, None, :]
        inputs = [jnp.asarray(q), jnp.asarray(kv), jnp.asarray(kv)]
        cot = jnp.asarray(rng.standard_normal((N, L, e)).astype(dtype))

        @jax.jit
        def reference(params, *inputs):
            def loss(params, *inputs):
                out = paper_diff_attention(params, *inputs, heads=heads, lambda_init=lambda_init,
                                           blocked=blocked)  # fmt: skip
                return (out * cot).sum(), out

            return jax.grad(loss, argnums=(0, 1, 2, 3), has_aux=True)(params, *inputs)

        params = {k: p.data for k, p in layer.named_parameters().items()}
        (g_params, *g_inputs), expected = reference(params, *inputs)

        def step(layer, *xs):
            out, weights = layer.attention(*xs, need_weights=not compiled, **kwargs)
            (out * cot).sum().backward()
            return out, weights

        variables = [axon.Variable(a, requires_grad=True) for a in inputs]
        out, weights = (axon.jit(step) if compiled else step)(layer, *variables)
        assert_close(out, expected, dtype, **_tol(dtype))
        for v, g in zip(variables, g_inputs, strict=True):
            assert_close(v.grad, g, dtype, **_tol(dtype))
        for name, p in layer.named_parameters().items():
            assert p.grad is not None and np.any(np.asarray(p.grad) != 0), name
            assert_close(p.grad, g_params[name], dtype, **_tol(dtype), err_msg=name)
        if not compiled:  # one tape op, and the weights A1 - λA2 when asked for
            assert out.grad_fn == "differential_attention"
            assert weights.shape == (N, L, S)


@axon.no_grad()
def test_differential_attention_options_and_errors():
    layer = nn.DifferentialAttention(E, H, bias=True, batch_first=False)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((L, N, E)), jnp.float32)
    out = layer(x)
    first = nn.DifferentialAttention(E, H, bias=True)
    first.load_state_dict(layer.state_dict())
    assert_close(out, jnp.swapaxes(first(jnp.swapaxes(x, 0, 1)).data, 0, 1), **ATOL32)
    assert_close(layer(x[:, 0]), out[:, 0], **ATOL32)  # unbatched
    assert "q_proj.bias" in layer.state_dict()
    lambdas = (layer.lambda_q1, layer.lambda_k1, layer.lambda_q2, layer.lambda_k2)
    q1, k1, q2, k2 = (np.asarray(p.data) for p in lambdas)
    expected = np.exp(q1 @ k1) - np.exp(q2 @ k2) + 0.2
    assert float(layer.lambda_value()) == pytest.approx(float(expected), rel=1e-5)
    assert nn.DifferentialAttention(E, H, depth=1).lambda_init == pytest.approx(0.2)
    with pytest.raises(ValueError, match=r"^axon\.nn\.DifferentialAttention: the head width "
                       r"embed_dim / num_heads = 3 must be even"):  # fmt: skip
        nn.DifferentialAttention(12, 4)
    with pytest.raises(ValueError, match=r"^axon\.nn\.DifferentialAttention: embed_dim \(10\) "
                       r"must be divisible by num_heads \(4\)"):  # fmt: skip
        nn.DifferentialAttention(10, 4)
    with pytest.raises(ValueError, match=r"^axon\.nn\.DifferentialAttention: depth must be a "
                       r"positive int, got 0\.$"):  # fmt: skip
        nn.DifferentialAttention(E, H, depth=0)
    with pytest.raises(TypeError, match=r"^axon\.nn\.DifferentialAttention: attn_mask must be a "
                       r"bool mask"):  # fmt: skip
        layer(x, attn_mask=jnp.zeros((L, L), jnp.int32))
