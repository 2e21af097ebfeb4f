"""Transformer blocks vs. torch with copied state dicts: `TransformerEncoderLayer`,
`TransformerDecoderLayer`, the stacks, and `Seq2SeqTransformer` vs `torch.nn.Transformer`."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close, tol, x64

import axon
from axon import functional as F
from axon import nn, optim

jax.config.update("jax_default_matmul_precision", "highest")

E, H, FF, N, S, T = 16, 4, 24, 2, 6, 5
_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
# stacked layers reorder more sums than one op: rtol as the rest of the suite, a little atol
F32 = dict(rtol=1e-5, atol=1e-5)


def _tol(dtype):
    return F32 if np.dtype(dtype) == np.float32 else tol(dtype)


def _mask(rng, kind, shape, dtype):
    """True = blocked at random, never key 0 (no fully masked row); "float": -inf there, plus
    random finite values elsewhere; "causal": PyTorch's float causal mask."""
    if kind == "causal":
        return np.triu(np.full(shape, -np.inf, dtype), 1)
    m = rng.random(shape) > 0.6
    m[..., 0] = False
    if kind == "bool":
        return m
    return np.where(m, -np.inf, rng.standard_normal(shape)).astype(dtype)


def _seq(length, batch_first, unbatched=False):
    if unbatched:
        return (length, E)
    return (N, length, E) if batch_first else (length, N, E)


# (id, kind, constructor kwargs, masks: (name, kind, shape), call kwargs, unbatched)
# masks of shape "3d" are (N·H, L, S); torch needs an explicit mask with is_causal, so the
# causal cases pass PyTorch's float causal mask to both.
CASES = [
    ("enc_post_relu_bool_mask", "enc", {}, (("src_mask", "bool", (S, S)),), {}, False),
    ("enc_pre_gelu_seq_first_kpm", "enc", dict(norm_first=True, activation="gelu",
     batch_first=False), (("src_key_padding_mask", "bool", (N, S)),), {}, False),
    ("enc_post_gelu_float_masks", "enc", dict(activation="gelu"),
     (("src_mask", "float", (N * H, S, S)), ("src_key_padding_mask", "float", (N, S))), {},
     False),
    ("enc_pre_relu_causal", "enc", dict(norm_first=True),
     (("src_mask", "causal", (S, S)),), dict(is_causal=True), False),
    ("enc_no_bias_callable_seq_first", "enc", dict(bias=False, batch_first=False,
     activation="silu"), (("src_key_padding_mask", "bool", (N, S)),), {}, False),
    ("enc_unbatched", "enc", dict(norm_first=True), (("src_mask", "bool", (S, S)),), {}, True),
    ("dec_post_relu_causal_memory_kpm", "dec", {},
     (("tgt_mask", "causal", (T, T)), ("memory_key_padding_mask", "bool", (N, S))),
     dict(tgt_is_causal=True), False),
    ("dec_pre_gelu_seq_first_masks", "dec", dict(norm_first=True, activation="gelu",
     batch_first=False), (("memory_mask", "bool", (T, S)),
     ("tgt_key_padding_mask", "bool", (N, T))), {}, False),
    ("dec_pre_relu_3d_float", "dec", dict(norm_first=True),
     (("tgt_mask", "float", (N * H, T, T)), ("memory_mask", "float", (N * H, T, S))), {},
     False),
    ("encoder_stack_final_norm", "encoder", dict(norm_first=True),
     (("mask", "bool", (S, S)), ("src_key_padding_mask", "bool", (N, S))), {}, False),
    ("decoder_stack_final_norm", "decoder", dict(activation="gelu", bias=False),
     (("tgt_mask", "causal", (T, T)), ("memory_key_padding_mask", "bool", (N, S))), {}, False),
    ("transformer_seq_first", "full", dict(batch_first=False),
     (("tgt_mask", "causal", (T, T)), ("src_key_padding_mask", "bool", (N, S)),
      ("memory_key_padding_mask", "bool", (N, S))), {}, False),
    ("transformer_pre_norm_gelu", "full", dict(norm_first=True, activation="gelu"),
     (("src_mask", "float", (S, S)), ("tgt_mask", "causal", (T, T)),
      ("memory_mask", "bool", (T, S))), {}, False),
]  # fmt: skip
F64_CASES = ("dec_pre_gelu_seq_first_masks",)


def _activation(name, module):
    return {"silu": module.functional.silu if module is torch.nn else F.silu}.get(name, name)


def _build(kind, kwargs, lib, dtype):
    """The model of one case in `lib` (torch.nn or axon.nn), in eval mode with dropout 0."""
    kwargs = {"batch_first": True, **kwargs, "dropout": 0.0}
    kwargs["activation"] = _activation(kwargs.get("activation", "relu"), lib)
    if kind == "full":
        return lib.Transformer(E, H, 2, 2, FF, **kwargs) if lib is torch.nn else (
            nn.Seq2SeqTransformer(E, H, 2, 2, FF, **kwargs))  # fmt: skip
    dec = kind in ("dec", "decoder")
    layer = (lib.TransformerDecoderLayer if dec else lib.TransformerEncoderLayer)(
        E, H, FF, **kwargs
    )
    if kind in ("enc", "dec"):
        return layer
    norm = lib.LayerNorm(E)
    if dec:
        return lib.TransformerDecoder(layer, 2, norm)
    extra = {"enable_nested_tensor": False} if lib is torch.nn else {}
    return lib.TransformerEncoder(layer, 2, norm, **extra)


def _inputs(kind, kwargs, unbatched, rng, dtype):
    bf = kwargs.get("batch_first", True)
    if kind in ("enc", "encoder"):
        return [rng.standard_normal(_seq(S, bf, unbatched)).astype(dtype)]
    tgt = rng.standard_normal(_seq(T, bf, unbatched)).astype(dtype)
    src = rng.standard_normal(_seq(S, bf, unbatched)).astype(dtype)
    return [src, tgt] if kind == "full" else [tgt, src]


def _case(case_id, dtype):
    """torch's model, output and gradients, and the axon twin with torch's state dict."""
    _, kind, kwargs, masks, call, unbatched = next(c for c in CASES if c[0] == case_id)
    rng = np.random.default_rng(0)
    arrays = _inputs(kind, kwargs, unbatched, rng, dtype)
    mask_values = {name: _mask(rng, mk, shape, dtype) for name, mk, shape in masks}
    with x64(dtype):
        torch.manual_seed(0)
        ref = _build(kind, kwargs, torch.nn, dtype).to(_TORCH_DTYPE[np.dtype(dtype)]).eval()
        t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
        t_out = ref(*t_in, **{k: torch.tensor(v) for k, v in mask_values.items()}, **call)
        cot = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
        (t_out * torch.tensor(cot)).sum().backward()
        model = _build(kind, kwargs, nn, dtype).to(jnp.dtype(dtype)).eval()
        assert list(model.state_dict()) == list(ref.state_dict())
        model.load_state_dict(ref.state_dict())
        inputs = [axon.Variable(jnp.asarray(a), requires_grad=True) for a in arrays]
        out = model(*inputs, **{k: jnp.asarray(v) for k, v in mask_values.items()}, **call)
        (out * jnp.asarray(cot)).sum().backward()
    return ref, t_in, t_out, model, inputs, out


@pytest.mark.parametrize(
    "case_id, dtype",
    [(c[0], np.float32) for c in CASES] + [(i, np.float64) for i in F64_CASES],
    ids=[f"{c[0]}-f32" for c in CASES] + [f"{i}-f64" for i in F64_CASES],
)
@pytest.mark.filterwarnings("ignore:Support for mismatched")  # torch's mixed masks
@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
def test_matches_torch(case_id, dtype):
    """Forward, input gradients and every parameter's gradient of a random cotangent."""
    ref, t_in, t_out, model, inputs, out = _case(case_id, dtype)
    assert_close(out, t_out, dtype, **_tol(dtype))
    for i, (a, t) in enumerate(zip(inputs, t_in, strict=True)):
        assert_close(a.grad, t.grad, dtype, **_tol(dtype), err_msg=f"input {i}")
    t_params = dict(ref.named_parameters())
    assert list(model.named_parameters()) == list(t_params)
    for name, p in model.named_parameters().items():
        assert_close(p.grad, t_params[name].grad, dtype, **_tol(dtype), err_msg=name)


# ------------------------------------------------------------------------------------ causal
def _causality(call, x):
    """Output at t does not change when tokens after t change (and later outputs do)."""
    base = np.asarray(call(jnp.asarray(x)))
    for t in range(x.shape[1] - 1):
        changed = x.copy()
        changed[:, t + 1 :] = np.random.default_rng(t).standard_normal(changed[:, t + 1 :].shape)
        out = np.asarray(call(jnp.asarray(changed)))
        np.testing.assert_allclose(out[:, : t + 1], base[:, : t + 1], rtol=1e-5, atol=1e-6)
        assert not np.allclose(out[:, t + 1 :], base[:, t + 1 :])


@axon.no_grad()
def test_causal_masks_hide_the_future():
    x = np.random.default_rng(0).standard_normal((N, S, E)).astype(np.float32)
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0)
    encoder = nn.TransformerEncoder(layer, 2, nn.LayerNorm(E))
    _causality(lambda x: encoder(x, is_causal=True).data, x)
    mask = nn.Seq2SeqTransformer.generate_square_subsequent_mask(S)
    _causality(lambda x: encoder(x, mask).data, x)
    model = nn.Seq2SeqTransformer(E, H, 1, 2, FF, dropout=0.0)
    memory = jnp.asarray(np.random.default_rng(1).standard_normal((N, 3, E)), jnp.float32)
    _causality(lambda tgt: model.decode(tgt, memory, tgt_mask=mask).data, x)
    _causality(lambda tgt: model.decode(tgt, memory, tgt_is_causal=True).data, x)
    # without the mask, position 0 sees position 1: the check above can fail
    with pytest.raises(AssertionError):
        _causality(lambda x: encoder(x).data, x)


def test_generate_square_subsequent_mask_is_torchs():
    for n in (0, 1, 5):
        got = nn.Seq2SeqTransformer.generate_square_subsequent_mask(n)
        want = torch.nn.Transformer.generate_square_subsequent_mask(n)
        assert got.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(got), want.numpy())
    assert nn.Seq2SeqTransformer.generate_square_subsequent_mask(3).shape == (3, 3)


# ------------------------------------------------------------------------------ structure
@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
def test_parameters_init_and_clones_like_torch():
    for lib_layer, ours in (
        (torch.nn.TransformerEncoderLayer(E, H, FF), nn.TransformerEncoderLayer(E, H, FF)),
        (torch.nn.TransformerDecoderLayer(E, H, FF, bias=False),
         nn.TransformerDecoderLayer(E, H, FF, bias=False)),
    ):  # fmt: skip
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
            k: tuple(v.shape) for k, v in lib_layer.state_dict().items()
        }
    layer = nn.TransformerEncoderLayer(E, H, FF)
    assert len(layer.state_dict()) == 12
    encoder = nn.TransformerEncoder(layer, 3)
    assert [k for k in encoder.state_dict() if k.endswith("linear1.weight")] == [
        f"layers.{i}.linear1.weight" for i in range(3)
    ]
    # deep copies: each starts with the layer's weights and is trained on its own
    assert_close(encoder.layers[2].linear1.weight, layer.linear1.weight)
    encoder.layers[0].linear1.weight.data = jnp.zeros((FF, E))
    assert np.any(np.asarray(encoder.layers[1].linear1.weight.data) != 0)
    assert encoder.layers[1].self_attn._axon_path == "layers.1.self_attn"
    # Seq2SeqTransformer: Xavier-uniform on every matrix, as torch.nn.Transformer
    model = nn.Seq2SeqTransformer(E, H, 1, 1, FF)
    w = np.asarray(model.encoder.layers[0].linear1.weight.data)
    bound = np.sqrt(6 / (E + FF))
    assert w.min() >= -bound and w.max() <= bound and w.max() > 0.9 * bound
    assert model.num_parameters() == sum(
        p.numel() for p in torch.nn.Transformer(E, H, 1, 1, FF).parameters()
    )
    assert model.batch_first and not torch.nn.Transformer().batch_first


def test_activation_module_is_a_child_like_torch():
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, activation=nn.GELU())
    ref = torch.nn.TransformerEncoderLayer(E, H, FF, 0.0, torch.nn.GELU(), batch_first=True)
    layer.load_state_dict(ref.state_dict())
    x = np.random.default_rng(0).standard_normal((N, S, E)).astype(np.float32)
    assert_close(layer(x), ref(torch.tensor(x)), **F32)
    assert "activation" in layer.named_children()


def test_dropout_in_training_only():
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.5)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((N, S, E)), jnp.float32)
    assert not np.allclose(layer(x).data, layer(x).data)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, layer(x).data)


# -------------------------------------------------------------------------------------- jit
def test_training_step_under_axon_jit_equals_eager():
    def make():
        axon.manual_seed(3)
        model = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, norm_first=True)
        return model, optim.SGD(model.parameters(), lr=0.1)  # Adam would magnify the
        # roundoff in the key bias, whose exact gradient is zero

    def step(model, opt, src, mask):
        opt.zero_grad()
        loss = (model(src, mask) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    src = jnp.asarray(rng.standard_normal((N, S, E)), jnp.float32)
    mask = nn.Seq2SeqTransformer.generate_square_subsequent_mask(S)
    (eager_model, eager_opt), (jit_model, jit_opt) = make(), make()
    fast = axon.jit(step)
    eager = [float(step(eager_model, eager_opt, src, mask)) for _ in range(3)]
    compiled = [float(fast(jit_model, jit_opt, src, mask)) for _ in range(3)]
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    assert eager[-1] < eager[0] and fast.num_compiles == 1
    for key, value in eager_model.state_dict().items():
        assert_close(jit_model.state_dict()[key], value, rtol=1e-4, atol=1e-5, err_msg=key)


def test_layer_under_jax_jit_grad_and_vmap():
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((N, S, E)), jnp.float32)
    grads = jax.jit(jax.grad(lambda m: (m(x, is_causal=True).data ** 2).sum()))(layer)
    (layer(x, is_causal=True) ** 2).sum().backward()
    assert_close(grads.linear1.weight.data, layer.linear1.weight.grad, **F32)
    per_sequence = jax.jit(jax.vmap(lambda x: layer(x).data))(x)  # each (S, E) unbatched
    assert_close(per_sequence, layer(x).data, **F32)


# ----------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "make, exc, match",
    [(lambda: nn.TransformerEncoderLayer(10, 3), ValueError,
      r"^axon\.nn\.TransformerEncoderLayer: d_model \(10\) must be divisible by nhead \(3\)\. "
      r"Pick an nhead that divides d_model\.$"),
     (lambda: nn.TransformerDecoderLayer(8, 0), ValueError,
      r"^axon\.nn\.TransformerDecoderLayer: nhead must be a positive int, got 0\.$"),
     (lambda: nn.Seq2SeqTransformer(10, 4), ValueError,
      r"^axon\.nn\.Seq2SeqTransformer: d_model \(10\) must be divisible by nhead \(4\)"),
     (lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"), ValueError,
      r"activation must be one of \['gelu', 'relu'\] or a callable, got 'tanh'\.$"),
     (lambda: nn.TransformerEncoderLayer(8, 2, activation=3), TypeError,
      r"activation must be 'relu', 'gelu' or a callable, got int\.$"),
     (lambda: nn.TransformerEncoder(nn.Linear(2, 2), 2), TypeError,
      r"^axon\.nn\.TransformerEncoder: expected a TransformerEncoderLayer to clone, got Linear"),
     (lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, FF), -1), ValueError,
      r"num_layers must be a non-negative int, got -1\.$"),
     (lambda: nn.Seq2SeqTransformer.generate_square_subsequent_mask(-2), ValueError,
      r"sz must be a non-negative int, got -2\.$")],
    ids=["not_divisible", "zero_heads", "seq2seq_not_divisible", "activation_name",
         "activation_type", "wrong_layer", "num_layers", "mask_size"],
)  # fmt: skip
def test_constructor_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def _x(*shape, dtype=jnp.float32):
    return jnp.ones(shape, dtype)


@pytest.mark.parametrize(
    "call, exc, match",
    [(lambda m: m.encoder(_x(N, S, E), _x(S, S + 1)), ValueError,
      r"^axon\.nn\.TransformerEncoderLayer \(encoder\.layers\.0\): expected src_mask of "
      r"shape \(L, S\) = \(6, 6\) or \(N·nhead, L, S\) = \(8, 6, 6\), got \(6, 7\)\.$"),
     (lambda m: m.decode(_x(N, T, E), _x(N, S, E), memory_mask=_x(T, T)), ValueError,
      r"^axon\.nn\.TransformerDecoderLayer \(decoder\.layers\.0\): expected memory_mask of "
      r"shape \(L, S\) = \(5, 6\) or \(N·nhead, L, S\) = \(8, 5, 6\), got \(5, 5\)\.$"),
     (lambda m: m(_x(N, S, E), _x(N, T, E), tgt_key_padding_mask=_x(N, S, dtype=bool)),
      ValueError, r"\(decoder\.layers\.0\): expected tgt_key_padding_mask of shape "
      r"\(N, S\) = \(2, 5\), got \(2, 6\)\.$"),
     (lambda m: m.decode(_x(T, E), _x(S, E), memory_key_padding_mask=_x(N, S, dtype=bool)),
      ValueError, r"expected memory_key_padding_mask of shape \(S,\) = \(6,\), got \(2, 6\)"),
     (lambda m: m(_x(N, S, E), _x(N, T, E), tgt_mask=_x(T, T, dtype=jnp.int32)), TypeError,
      r"\(decoder\.layers\.0\): tgt_mask must be a bool mask \(True = may not attend\) or "
      r"a float mask \(added to the scores\), got dtype int32\. Convert it with "
      r"mask\.astype\(bool\)\.$"),
     (lambda m: m(_x(N, S, 8), _x(N, T, E)), ValueError,
      r"^axon\.nn\.Seq2SeqTransformer: expected src of shape \(N, T, E\) with E = d_model = "
      r"16, or \(T, E\) unbatched, got \(2, 6, 8\)\.$"),
     (lambda m: m(_x(N, S, E), _x(N + 1, T, E)), ValueError,
      r"src and tgt must have the same batch size, got \(2, 6, 16\) and \(3, 5, 16\) "
      r"\(batch_first=True\)\.$"),
     (lambda m: m.decode(_x(N, T, E), _x(N, S, 3)), ValueError,
      r"expected memory of shape \(N, T, E\) with E = d_model = 16")],
    ids=["src_mask_shape", "memory_mask_shape", "kpm_shape", "unbatched_kpm_shape",
         "mask_dtype", "src_width",
         "batch_mismatch", "memory_width"],
)  # fmt: skip
def test_call_errors_name_the_layer(call, exc, match):
    with pytest.raises(exc, match=match):
        call(nn.Seq2SeqTransformer(E, H, 1, 1, FF))


def test_seed_forms():
    model = nn.Seq2SeqTransformer(E, H, 1, 1, FF, dropout=0.0)
    rng = np.random.default_rng(0)
    src, tgt = (jnp.asarray(rng.standard_normal(s), jnp.float32) for s in ((N, S, E), (N, T, E)))
    mask = model.generate_square_subsequent_mask(T)
    want = model.decode(tgt, model.encode(src), mask)
    assert_close(model.forward_seq2seq(src, tgt, None, mask), want)
    assert_close(model(src, tgt, tgt_mask=mask), want)
    twin = copy.deepcopy(model)
    assert_close(twin(src, tgt, tgt_mask=mask), want)
