"""`TransformerEncoder` / `TransformerDecoder` with `scan=True`: the layers run as one `lax.scan`
over stacked weights, and everything else (outputs, gradients, state-dict keys, training) is the
unrolled stack's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close

import axon
from axon import nn, optim

jax.config.update("jax_default_matmul_precision", "highest")

E, H, FF, N, S, T, LAYERS = 16, 4, 24, 2, 6, 5, 3
F32 = dict(rtol=1e-5, atol=1e-5)  # a scan reorders no sums, but XLA fuses the body differently


def _data(*shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _pair(kind, scan_kwargs=None, **layer_kwargs):
    """The same stack twice, unrolled and scanned, with equal weights (dropout 0 by default)."""
    layer_kwargs = {"dropout": 0.0, **layer_kwargs}
    layer_cls, stack_cls = (
        (nn.TransformerEncoderLayer, nn.TransformerEncoder)
        if kind == "enc"
        else (nn.TransformerDecoderLayer, nn.TransformerDecoder)
    )
    layer = layer_cls(E, H, FF, **layer_kwargs)
    loop = stack_cls(layer, LAYERS, nn.LayerNorm(E))
    scanned = stack_cls(layer, LAYERS, nn.LayerNorm(E), scan=True)
    # different weights per layer, or a bug that reuses layer 0's would go unseen
    rng = np.random.default_rng(5)
    for p in loop.parameters():
        p.data = p.data + jnp.asarray(0.1 * rng.standard_normal(p.shape), p.dtype)
    scanned.load_state_dict(loop.state_dict())
    return loop, scanned


def _inputs(kind):
    """(positional inputs, mask kwargs) of one call; encoder inputs first, then the decoder's."""
    causal = nn.Seq2SeqTransformer.generate_square_subsequent_mask
    kpm = np.zeros((N, S), bool)
    kpm[0, -2:] = True
    if kind == "enc":
        return [_data(N, S, E)], dict(mask=causal(S), src_key_padding_mask=jnp.asarray(kpm))
    return [_data(N, T, E), _data(N, S, E, seed=1)], dict(
        tgt_mask=causal(T), memory_key_padding_mask=jnp.asarray(kpm), tgt_is_causal=True
    )


# (id, kind, layer kwargs, training)
CASES = [
    ("enc_post_eval", "enc", {}, False),
    ("enc_pre_train", "enc", dict(norm_first=True), True),
    ("enc_post_gelu_train", "enc", dict(activation="gelu"), True),
    ("enc_pre_seq_first_eval", "enc", dict(norm_first=True, batch_first=False), False),
    ("dec_post_train", "dec", {}, True),
    ("dec_pre_eval", "dec", dict(norm_first=True), False),
    ("dec_pre_gelu_train", "dec", dict(norm_first=True, activation="gelu"), True),
]


@pytest.mark.parametrize("kind, layer_kwargs, training", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_scan_equals_loop(kind, layer_kwargs, training):
    """Forward, input gradients and every parameter's gradient of a random cotangent."""
    loop, scanned = _pair(kind, **layer_kwargs)
    arrays, masks = _inputs(kind)
    if layer_kwargs.get("batch_first") is False:
        arrays = [a.swapaxes(0, 1) for a in arrays]
    results = []
    for model in (loop, scanned):
        model.train(training)
        inputs = [axon.Variable(a, requires_grad=True) for a in arrays]
        out = model(*inputs, **masks)
        (out * _data(*out.shape, seed=2)).sum().backward()
        results.append((out, [x.grad for x in inputs], model.named_parameters()))
    (out_l, grads_l, params_l), (out_s, grads_s, params_s) = results
    assert out_s.grad_fn == "layer_norm"  # the final norm, after the one scan op
    assert_close(out_s, out_l, **F32)
    for i, (g_s, g_l) in enumerate(zip(grads_s, grads_l, strict=True)):
        assert_close(g_s, g_l, **F32, err_msg=f"input {i}")
    assert list(params_s) == list(params_l)
    for name, p in params_s.items():
        assert p.grad is not None, name
        assert_close(p.grad, params_l[name].grad, **F32, err_msg=name)


def test_one_scan_whatever_the_depth():
    """The traced program holds one scan whose body is one layer: no op count grows with depth."""
    x = _data(N, S, E)

    def ops(num_layers, scan):
        layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0)
        model = nn.TransformerEncoder(layer, num_layers, scan=scan)
        text = str(jax.make_jaxpr(lambda m: m(x).data)(model))
        return text.count("scan["), text.count("dot_general")

    assert ops(2, True) == ops(6, True) == (1, ops(1, False)[1])
    assert ops(6, False) == (0, 6 * ops(1, False)[1])


# ---------------------------------------------------------------------------------- torch
@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
@pytest.mark.filterwarnings("ignore:Support for mismatched")  # torch's float mask + bool kpm
@pytest.mark.parametrize("kind", ["enc", "dec"])
def test_torch_state_dict_keys_and_outputs(kind):
    torch.manual_seed(0)
    if kind == "enc":
        layer = torch.nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True)
        ref = torch.nn.TransformerEncoder(layer, LAYERS, torch.nn.LayerNorm(E)).eval()
        ours = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(E, H, FF), LAYERS, nn.LayerNorm(E), scan=True
        )
    else:
        layer = torch.nn.TransformerDecoderLayer(E, H, FF, 0.0, batch_first=True)
        ref = torch.nn.TransformerDecoder(layer, LAYERS, torch.nn.LayerNorm(E)).eval()
        ours = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(E, H, FF), LAYERS, nn.LayerNorm(E), scan=True
        )
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert list(ours.named_parameters()) == [k for k, _ in ref.named_parameters()]
    ours.load_state_dict(ref.state_dict())
    ours.eval()
    arrays, masks = _inputs(kind)
    masks.pop("tgt_is_causal", None)
    want = ref(*(torch.tensor(np.asarray(a)) for a in arrays),
               **{k: torch.tensor(np.asarray(v)) for k, v in masks.items()})  # fmt: skip
    assert_close(ours(*arrays, **masks), want, **F32)


def test_seq2seq_scan_keeps_names_and_outputs():
    axon.manual_seed(0)
    loop = nn.Seq2SeqTransformer(E, H, 2, 3, FF, dropout=0.0)
    scanned = nn.Seq2SeqTransformer(E, H, 2, 3, FF, dropout=0.0, scan=True)
    assert scanned.encoder.scan and scanned.decoder.scan and not loop.encoder.scan
    assert list(scanned.state_dict()) == list(loop.state_dict())
    scanned.load_state_dict(loop.state_dict())
    src, tgt = _data(N, S, E), _data(N, T, E, seed=1)
    assert_close(scanned(src, tgt, tgt_is_causal=True), loop(src, tgt, tgt_is_causal=True), **F32)


def test_repr_lists_every_layer():
    loop, scanned = _pair("enc")
    head = "TransformerEncoder(\n"
    assert repr(scanned) == repr(loop).replace(head, head + "  scan=True\n", 1)


# -------------------------------------------------------------------------------- training
def test_axon_jit_training_steps_match_the_loop():
    def step(model, opt, src, tgt):
        opt.zero_grad()
        loss = (model(src, tgt, tgt_is_causal=True) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    def make(scan):
        axon.manual_seed(3)
        model = nn.Seq2SeqTransformer(E, H, 2, 2, FF, dropout=0.0, norm_first=True, scan=scan)
        # SGD: Adam would magnify roundoff in the key bias, whose exact gradient is zero
        return model, optim.SGD(model.parameters(), lr=0.1)

    src, tgt = _data(N, S, E), _data(N, T, E, seed=1)
    losses = {}
    models = {}
    for scan in (False, True):
        model, opt = make(scan)
        fast = axon.jit(step)
        losses[scan] = [float(fast(model, opt, src, tgt)) for _ in range(3)]
        assert fast.num_compiles == 1
        models[scan] = model
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
    assert losses[True][-1] < losses[True][0]
    loop_state = models[False].state_dict()
    for key, value in models[True].state_dict().items():
        assert_close(value, loop_state[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_under_jax_jit_grad_and_vmap():
    loop, scanned = _pair("enc", norm_first=True)
    x = _data(N, S, E)

    def loss(model):
        return (model(x, is_causal=True).data ** 2).sum()

    grads = jax.jit(jax.grad(loss))(scanned)
    (loop(x, is_causal=True) ** 2).sum().backward()
    for name, p in loop.named_parameters().items():
        assert_close(dict(grads.named_parameters())[name].data, p.grad, **F32, err_msg=name)
    per_sequence = jax.jit(jax.vmap(lambda x: scanned(x).data))(x)  # each (S, E) unbatched
    assert_close(per_sequence, loop(x).data, **F32)


def test_frozen_layers_get_no_gradient():
    loop, scanned = _pair("enc")
    for model in (loop, scanned):
        model.layers[0].requires_grad_(False)
        (model(_data(N, S, E)) ** 2).sum().backward()
    assert all(p.grad is None for p in scanned.layers[0].parameters())
    loop_params = loop.named_parameters()
    for name, p in scanned.named_parameters().items():
        if not name.startswith("layers.0."):
            assert_close(p.grad, loop_params[name].grad, **F32, err_msg=name)


def test_no_layers_is_the_norm_alone():
    layer = nn.TransformerEncoderLayer(E, H, FF)
    model = nn.TransformerEncoder(layer, 0, nn.LayerNorm(E), scan=True)
    x = _data(N, S, E)
    assert_close(model(x), model.norm(x))


# --------------------------------------------------------------------------------- dropout
class _Tagged(nn.Module):
    """Adds its dropout mask of ones to row `i` of a (L, D) carry: the rows record each
    layer's mask."""

    def __init__(self, i: int):
        super().__init__()
        self.register_buffer("row", jnp.zeros((LAYERS, 1)).at[i].set(1.0))
        self.drop = nn.Dropout(0.5)

    def forward(self, h):
        return h + self.row * self.drop(jnp.ones_like(h[:1]))


def test_dropout_keys_differ_per_layer_and_follow_the_seed():
    from axon.nn import _layer_scan

    layers = [_Tagged(i) for i in range(LAYERS)]

    def masks():
        return np.asarray(_layer_scan.scan_layers("test", layers, jnp.zeros((LAYERS, 64)), ()))

    axon.manual_seed(7)
    first, second = masks(), masks()
    axon.manual_seed(7)
    np.testing.assert_array_equal(masks(), first)  # reproducible under manual_seed
    assert not np.array_equal(first, second)  # a new key per call
    assert set(np.unique(first)) == {0.0, 2.0}
    for i in range(LAYERS):
        for j in range(i):
            assert not np.array_equal(first[i], first[j]), (i, j)  # a key per layer


def test_transformer_dropout_in_training_eager_and_jitted():
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.3)
    model = nn.TransformerEncoder(layer, LAYERS, scan=True)
    x = _data(N, S, E)
    axon.manual_seed(1)
    a = model(x).data
    axon.manual_seed(1)
    np.testing.assert_array_equal(model(x).data, a)
    assert not np.allclose(model(x).data, a)
    forward = axon.jit(lambda m, x: m(x))
    assert not np.allclose(forward(model, x).data, forward(model, x).data)
    assert forward.num_compiles == 1
    model.eval()
    np.testing.assert_array_equal(model(x).data, model(x).data)
    with pytest.raises(RuntimeError, match=r"TransformerEncoder: random masks inside jax\.jit"):
        jax.jit(lambda m: m(x).data)(model.train())


# ----------------------------------------------------------------------- structure and hooks
def test_hooks_run_the_layers_as_a_loop():
    loop, scanned = _pair("enc")
    seen = []
    handle = scanned.layers[1].linear1.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    x = _data(N, S, E)
    assert_close(scanned(x), loop(x), **F32)
    assert seen == [(N, S, FF)]
    handle.remove()
    scanned(x)
    assert len(seen) == 1


@pytest.mark.parametrize(
    "change, match",
    [(lambda m: m.layers.__setitem__(2, nn.TransformerEncoderLayer(E, H, 2 * FF)),
      r"layers\.2 differs: dim_feedforward is 48 instead of 24\."),
     (lambda m: m.layers[1].eval(),
      r"layers\.1 differs: training is False instead of True\."),
     (lambda m: setattr(m.layers[2].norm1, "eps", 1e-3),
      r"layers\.2 differs: norm1\.eps is 0\.001 instead of 1e-05\."),
     (lambda m: setattr(m.layers[1], "linear2", nn.Linear(FF, E, bias=False)),
      r"layers\.1 differs: linear2 holds \['weight'\] instead of \['weight', 'bias'\]\."),
     (lambda m: m.layers[1].to(jnp.float16),
      r"layers\.1 differs: self_attn\.in_proj_weight has shape \(48, 16\) and dtype float16, "
      r"not \(48, 16\) and float32\.")],
    ids=["width", "mode", "eps", "no_bias", "dtype"],
)  # fmt: skip
def test_layers_that_differ_are_named(change, match):
    loop, scanned = _pair("enc")
    change(scanned)
    prefix = r"^axon\.nn\.TransformerEncoder: scan=True runs every layer with the structure of "
    with pytest.raises(ValueError, match=prefix + r"layers\.0, but " + match):
        scanned(_data(N, S, E))
    with pytest.raises(ValueError, match=r"or construct the stack with scan=False\.$"):
        scanned(_data(N, S, E))


def test_scan_must_be_a_bool():
    layer = nn.TransformerDecoderLayer(E, H, FF)
    with pytest.raises(TypeError, match=r"^axon\.nn\.TransformerDecoder: scan must be a bool, "):
        nn.TransformerDecoder(layer, 2, scan=1)
