"""`RNN`, `LSTM`, `GRU` and their cells against torch: outputs, final states and the gradients of
input, initial state and every weight; lengths against `pack_padded_sequence`; long sequences;
`jax.jit`, `axon.jit`, `vmap`; dropout; errors."""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close, x64

import axon
from axon import functional as F
from axon import nn

jax.config.update("jax_default_matmul_precision", "highest")
# torch's own note that its LSTM with projections skips oneDNN
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
# A recurrence compounds float32 roundoff over its steps (and torch's oneDNN LSTM/GRU kernels sum
# in another order), so float32 gets a little more room than single ops; float64 stays tight.
TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-6), np.dtype(np.float64): {}}

IN, HID, PROJ, BATCH, STEPS = 3, 4, 2, 3, 4
LENGTHS = [4, 1, 3]  # per sequence of a batch: unsorted, one full, one of a single step

# kind -> (axon class, torch class, extra constructor kwargs)
KINDS = {
    "rnn_tanh": (nn.RNN, torch.nn.RNN, {}),
    "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, torch.nn.LSTM, {}),
    "lstm_proj": (nn.LSTM, torch.nn.LSTM, {"proj_size": PROJ}),
    "gru": (nn.GRU, torch.nn.GRU, {}),
}


@pytest.fixture(autouse=True)
def numpy_init(request, monkeypatch):
    """Draw initial weights with numpy (PyTorch's law, U(±1/√hidden_size)) instead of compiling
    one `jax.random` program per weight shape; most tests load torch's weights anyway. The
    init test keeps the real initialiser."""
    if request.function is test_init_law_is_torchs:
        return
    rng = np.random.default_rng(0)

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            p.data = jax.device_put(rng.uniform(-bound, bound, p.shape).astype(p.dtype))

    monkeypatch.setattr(nn.rnn.RNNBase, "reset_parameters", reset_parameters)
    monkeypatch.setattr(nn.rnn.RNNCellBase, "reset_parameters", reset_parameters)


def twins(kind, dtype=np.float32, **kwargs):
    """An axon layer and a torch layer with the same weights (torch's, copied over)."""
    ours, theirs, extra = KINDS[kind]
    kwargs = {"batch_first": True, **kwargs}  # torch's default is False
    ref = theirs(IN, HID, **extra, **kwargs).to(_TORCH_DTYPE[np.dtype(dtype)])
    model = ours(IN, HID, **extra, **kwargs, dtype=jnp.dtype(dtype))
    model.load_state_dict(ref.state_dict())
    return model, ref


def state_shapes(kind, layers, bidirectional, batch):
    rows = layers * (2 if bidirectional else 1)
    size = PROJ if kind == "lstm_proj" else HID
    lead = (rows,) if batch is None else (rows, batch)
    shapes = [(*lead, size)]
    if kind.startswith("lstm"):
        shapes.append((*lead, HID))
    return shapes


def pack_state(kind, parts):
    return tuple(parts) if kind.startswith("lstm") else parts[0]


def flat_state(kind, state):
    return list(state) if kind.startswith("lstm") else [state]


def check_parity(
    kind,
    model,
    ref,
    x,
    state=None,
    lengths=None,
    dtype=np.float32,
    seed=1,
    compiled=False,
    tol=None,
):
    """Run both layers on `x` (and `state`: a list of arrays, or None), compare the output, the
    final states and the gradients of a random cotangent w.r.t. input, state and every weight.

    With `compiled`, axon's side (forward, loss and `backward()` on the tape) runs as one
    `jax.jit` program: one compilation per configuration instead of one per eager op."""
    tol = tol or TOL[np.dtype(dtype)]
    batch_first = model.batch_first
    xt = torch.tensor(x, requires_grad=True)
    st = None if state is None else [torch.tensor(s, requires_grad=True) for s in state]
    if lengths is None:
        tout, tfinal = ref(xt, None if st is None else pack_state(kind, st))
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False
        )
        tout, tfinal = ref(packed, None if st is None else pack_state(kind, st))
        steps = x.shape[1] if batch_first else x.shape[0]
        tout, _ = torch.nn.utils.rnn.pad_packed_sequence(
            tout, batch_first=batch_first, total_length=steps
        )
    touts = [tout, *flat_state(kind, tfinal)]
    rng = np.random.default_rng(seed)
    cots = [rng.standard_normal(tuple(t.shape)).astype(dtype) for t in touts]
    sum((t * torch.tensor(c)).sum() for t, c in zip(touts, cots, strict=True)).backward()
    t_grads = [xt.grad] + ([s.grad for s in st] if st else []) + [p.grad for p in ref.parameters()]

    def run(model, x, state, cots):
        xa = axon.Variable(x, requires_grad=True)
        sa = None if state is None else [axon.Variable(s, requires_grad=True) for s in state]
        out, final = model.forward_with_state(
            xa, None if sa is None else pack_state(kind, sa), lengths=lengths
        )
        outs = [out, *flat_state(kind, final)]
        assert all(isinstance(o, axon.Variable) for o in outs)
        sum((a * c).sum() for a, c in zip(outs, cots, strict=True)).backward()
        grads = (
            [xa.grad] + ([s.grad for s in sa] if sa else []) + [p.grad for p in model.parameters()]
        )
        return [o.data for o in outs], grads

    as_jax = lambda arrays: None if arrays is None else [jnp.asarray(a) for a in arrays]  # noqa: E731
    args = (model, jnp.asarray(x), as_jax(state), as_jax(cots))
    outs, grads = jax.jit(run)(*args) if compiled else run(*args)
    assert len(outs) == len(touts)
    for name, a, t in zip(["output", "h_n", "c_n"][: len(outs)], outs, touts, strict=True):
        try:
            assert_close(a, t, dtype, **tol)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None
    names = list(model.named_parameters())
    assert names == [k for k, _ in ref.named_parameters()]
    names = ["input"] + [f"state[{i}]" for i in range(len(state or ()))] + names
    for name, a, t in zip(names, grads, t_grads, strict=True):
        try:
            assert_close(a, t, dtype, **tol)
        except AssertionError as e:
            raise AssertionError(f"gradient of {name}: {e}") from None
    return outs, grads


def inputs(kind, layout, layers, bidirectional, with_state, dtype=np.float32, steps=STEPS):
    rng = np.random.default_rng(0)
    shape = {
        "batch_first": (BATCH, steps, IN),
        "seq_first": (steps, BATCH, IN),
        "unbatched": (steps, IN),
    }[layout]
    x = rng.standard_normal(shape).astype(dtype)
    if not with_state:
        return x, None
    batch = None if layout == "unbatched" else BATCH
    return x, [
        rng.standard_normal(s).astype(dtype)
        for s in state_shapes(kind, layers, bidirectional, batch)
    ]


# ------------------------------------------------------------------------------ the matrix
# The matrix is kind x num_layers {1, 2} x bidirectional x (batch-first, sequence-first,
# unbatched) x (zero, given initial state): 120 configurations, each its own XLA program (about
# 1 s of compilation apiece on a 2-core CPU). By default the 15 rows below run: they hold every
# pair of values of any two of those five axes, and every kind runs 2 bidirectional layers.
# bias=False rides on three rows and `lengths` (against pack_padded_sequence) on six.
# AXON_RNN_FULL_MATRIX=1 runs the full product instead, with and without lengths where batched.
# (kind, num_layers, bidirectional, layout, with_state, bias, with_lengths)
COVER = [
    ("rnn_tanh", 2, True, "batch_first", True, True, True),
    ("rnn_tanh", 1, False, "seq_first", False, True, True),
    ("rnn_tanh", 2, False, "unbatched", True, True, False),
    ("rnn_relu", 2, True, "batch_first", True, True, True),
    ("rnn_relu", 2, True, "seq_first", False, True, False),
    ("rnn_relu", 1, False, "unbatched", True, False, False),
    ("lstm", 2, True, "batch_first", False, True, True),
    ("lstm", 1, True, "seq_first", False, True, False),
    ("lstm", 2, False, "unbatched", True, True, False),
    ("lstm_proj", 1, False, "batch_first", False, True, False),
    ("lstm_proj", 2, True, "seq_first", True, True, True),
    ("lstm_proj", 1, True, "unbatched", False, False, False),
    ("gru", 1, False, "batch_first", False, False, False),
    ("gru", 2, True, "seq_first", True, True, True),
    ("gru", 1, True, "unbatched", False, True, False),
]
FULL = [
    (kind, layers, bidirectional, layout, with_state, True, with_lengths)
    for kind in KINDS
    for layers in (1, 2)
    for bidirectional in (False, True)
    for layout in ("batch_first", "seq_first", "unbatched")
    for with_state in (False, True)
    for with_lengths in ((False,) if layout == "unbatched" else (False, True))
]
MATRIX = FULL if os.environ.get("AXON_RNN_FULL_MATRIX") == "1" else COVER


def _matrix_id(case):
    kind, layers, bidirectional, layout, with_state, bias, with_lengths = case
    parts = [kind, f"{layers}layer", "bi" if bidirectional else "uni", layout]
    parts += ["given_state" if with_state else "zero_state"] + ([] if bias else ["no_bias"])
    return "-".join(parts + (["lengths"] if with_lengths else []))


@pytest.mark.parametrize("case", MATRIX, ids=[_matrix_id(c) for c in MATRIX])
def test_layer_matches_torch(case):
    kind, layers, bidirectional, layout, with_state, bias, with_lengths = case
    model, ref = twins(
        kind,
        num_layers=layers,
        bidirectional=bidirectional,
        batch_first=layout != "seq_first",
        bias=bias,
    )
    if not bias:
        assert not any("bias" in k for k in model.state_dict())
    x, state = inputs(kind, layout, layers, bidirectional, with_state)
    lengths = LENGTHS if with_lengths else None
    out = check_parity(kind, model, ref, x, state, lengths=lengths, compiled=True)[0][0]
    if with_lengths:  # the padded steps' outputs are zero
        padded = np.asarray(out)[1, 1:] if layout == "batch_first" else np.asarray(out)[1:, 1]
        assert not padded.any()


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm_proj", "gru"])
def test_float64_matches_torch_eagerly(kind):
    with x64(np.float64):
        model, ref = twins(kind, np.float64, num_layers=2, bidirectional=True)
        x, state = inputs(kind, "batch_first", 2, True, True, np.float64)
        check_parity(kind, model, ref, x, state, dtype=np.float64)


def test_forward_returns_the_output_sequence_as_one_tape_op():
    model, ref = twins("lstm", bidirectional=True)
    x = inputs("lstm", "batch_first", 1, True, False)[0]
    xa, xt = axon.Variable(jnp.asarray(x), True), torch.tensor(x, requires_grad=True)
    out = model(xa)
    assert isinstance(out, axon.Variable)
    assert out.grad_fn == "recurrent"  # the whole layer is one node on the tape
    assert out._node.parents[0] is xa
    tout = ref(xt)[0]
    assert_close(out, tout, **TOL[np.dtype(np.float32)])
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    assert_close(xa.grad, xt.grad, **TOL[np.dtype(np.float32)])
    for p, tp in zip(model.parameters(), ref.parameters(), strict=True):
        assert_close(p.grad, tp.grad, **TOL[np.dtype(np.float32)])


# ------------------------------------------------------------------------------ lengths


def test_lengths_float64_seq_first():
    kind = "lstm"
    with x64(np.float64):
        model, ref = twins(kind, np.float64, num_layers=2, bidirectional=True, batch_first=False)
        x = np.random.default_rng(4).standard_normal((STEPS, 3, IN))
        check_parity(
            kind, model, ref, x, None, lengths=np.array(LENGTHS), dtype=np.float64, compiled=True
        )


def test_padding_gets_no_gradient_and_changes_nothing():
    model = nn.GRU(IN, HID, bidirectional=True)
    x = np.random.default_rng(5).standard_normal((2, 6, IN)).astype(np.float32)
    lengths = jnp.array([6, 2])
    xa = axon.Variable(jnp.asarray(x), requires_grad=True)
    out, h_n = model.forward_with_state(xa, lengths=lengths)
    (out.sum() + h_n.sum()).backward()
    assert not np.asarray(xa.grad)[1, 2:].any()
    assert np.asarray(xa.grad)[1, :2].all()
    other = x.copy()
    other[1, 2:] = 100.0  # whatever is in the padding
    out2, h_n2 = model.forward_with_state(other, lengths=lengths)
    assert_close(out2, out)
    assert_close(h_n2, h_n)
    # the short sequence alone gives the same output and state
    with axon.no_grad():
        alone, h_alone = model.forward_with_state(x[1:, :2])
    assert_close(out.data[1:, :2], alone, atol=1e-6)
    assert_close(h_n.data[:, 1:], h_alone, atol=1e-6)


def test_zero_length_keeps_the_initial_state_and_unbatched_lengths():
    model = nn.LSTM(IN, HID).requires_grad_(False)  # forward only: no VJP to compile
    x = jnp.ones((2, 3, IN))
    h0 = (jnp.full((1, 2, HID), 0.5), jnp.full((1, 2, HID), -0.5))
    out, (h_n, c_n) = model.forward_with_state(x, h0, lengths=[3, 0])
    assert_close(h_n[:, 1], h0[0][:, 1])
    assert_close(c_n[:, 1], h0[1][:, 1])
    assert not np.asarray(out.data[1]).any()
    # unbatched input takes a scalar length
    out_u, (h_u, _) = model.forward_with_state(x[0], lengths=2)
    short, (h_short, _) = model.forward_with_state(x[0, :2])
    assert_close(out_u[:2], short, atol=1e-6)
    assert not np.asarray(out_u.data[2]).any()
    assert_close(h_u, h_short, atol=1e-6)


# ------------------------------------------------------------------------------ long sequences
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_gradients_through_120_steps_are_finite_and_match_torch(kind):
    model, ref = twins(kind)
    x, state = inputs(kind, "batch_first", 1, False, True, steps=120)
    # float32 roundoff compounds over 120 steps: compare at 1e-4 relative
    tol = dict(rtol=1e-4, atol=1e-5)
    outs, grads = check_parity(kind, model, ref, x, state, compiled=True, tol=tol)
    assert outs[0].shape == (BATCH, 120, HID)
    assert len(grads) == 1 + len(state) + len(model.parameters())  # input, state, weights
    for g in grads:
        assert np.isfinite(np.asarray(g)).all()
        assert np.abs(np.asarray(g)).max() > 1e-3  # and the gradient did not vanish to nothing


# ------------------------------------------------------------------------------ transforms
def test_jax_jit_grad_and_vmap_agree_with_eager():
    model = nn.LSTM(IN, HID, bidirectional=True)
    x = jnp.asarray(np.random.default_rng(6).standard_normal((BATCH, STEPS, IN)), jnp.float32)
    lengths = jnp.array(LENGTHS)

    def loss(m):
        out, (h, c) = m.forward_with_state(x, lengths=lengths)
        return (out * out).sum() + h.sum() + c.sum(), out

    eager, eager_out = loss(model)
    eager.backward()

    def pure(m):
        value, out = loss(m)
        return value.data, out.data

    (value, out), grads = jax.jit(jax.value_and_grad(pure, has_aux=True))(model)
    assert_close(value, eager, atol=1e-5)
    assert_close(out, eager_out, atol=1e-6)
    for name, p in model.named_parameters().items():
        try:
            assert_close(getattr(grads, name).data, p.grad, atol=1e-5)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None
    # vmap over unbatched sequences (each with its own length) equals the batched call
    rows = jax.jit(jax.vmap(lambda row, n: model(row, lengths=n).data))(x, lengths)
    assert_close(rows, eager_out, atol=1e-6)


def test_axon_jit_step_agrees_with_eager_and_compiles_once():
    axon.manual_seed(0)
    model = nn.GRU(IN, HID, bidirectional=True)
    opt = axon.optim.SGD(model.parameters(), lr=0.1)
    twin = nn.GRU(IN, HID, bidirectional=True)
    twin.load_state_dict(model.state_dict())
    twin_opt = axon.optim.SGD(twin.parameters(), lr=0.1)
    rng = np.random.default_rng(7)
    batches = [jnp.asarray(rng.standard_normal((BATCH, STEPS, IN)), jnp.float32) for _ in range(3)]

    def step(model, opt, x):
        opt.zero_grad()
        out, h_n = model.forward_with_state(x)
        loss = (out * out).mean() + (h_n * h_n).mean()
        loss.backward()
        opt.step()
        return loss

    compiled = axon.jit(step)
    for x in batches:
        assert_close(compiled(model, opt, x), step(twin, twin_opt, x), atol=1e-6)
    assert compiled.num_compiles == 1
    for (name, p), q in zip(model.named_parameters().items(), twin.parameters(), strict=True):
        try:
            assert_close(p, q, atol=1e-6)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None


def test_functional_form_on_arrays_is_plain_jax():
    _, ref = twins("lstm_proj")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((BATCH, STEPS, IN)).astype(np.float32)
    weights = [jnp.asarray(p.detach().numpy()) for p in ref.parameters()]

    def run(weights, x):
        out, (h, c) = F.lstm(x, None, weights)
        assert all(isinstance(a, jax.Array) for a in (out, h, c))  # no Variables on arrays
        return out.sum() + (h * h).sum() + c.sum(), (out, h, c)

    (_, outs), grads = jax.jit(jax.value_and_grad(run, has_aux=True))(weights, jnp.asarray(x))
    tout, (th, tc) = ref(torch.tensor(x))
    for a, t in zip(outs, (tout, th, tc), strict=True):
        assert_close(a, t, **TOL[np.dtype(np.float32)])
    (tout.sum() + (th * th).sum() + tc.sum()).backward()
    for g, p in zip(grads, ref.parameters(), strict=True):
        assert_close(g, p.grad, **TOL[np.dtype(np.float32)])


# ------------------------------------------------------------------------------ dropout
def test_dropout_one_matches_torch_in_training_and_is_off_in_eval():
    kind = "lstm"
    model, ref = twins(kind, num_layers=2, dropout=1.0)
    x, state = inputs(kind, "batch_first", 2, False, True)
    check_parity(kind, model, ref, x, state)  # training: layer 2 sees zeros
    model.eval(), ref.eval()
    model.zero_grad(), ref.zero_grad()
    check_parity(kind, model, ref, x, state, compiled=True)


def test_dropout_masks_are_seeded_and_fresh_per_call():
    model = nn.LSTM(IN, HID, num_layers=2, dropout=0.5).requires_grad_(False)
    x = jnp.ones((BATCH, STEPS, IN))
    axon.manual_seed(1)
    a = model(x)
    b = model(x)
    axon.manual_seed(1)
    assert_close(model(x), a)
    assert not np.allclose(np.asarray(a.data), np.asarray(b.data))
    compiled = axon.jit(lambda m, x: m(x))
    c, d = compiled(model, x), compiled(model, x)
    assert not np.allclose(np.asarray(c.data), np.asarray(d.data))
    model.eval()
    assert_close(model(x), model(x))
    with pytest.warns(UserWarning, match=r"dropout=0\.5 has no effect with num_layers=1"):
        nn.GRU(IN, HID, dropout=0.5)


# ------------------------------------------------------------------------------ cells
CELLS = {
    "rnn_tanh": (nn.RNNCell, torch.nn.RNNCell, {}),
    "rnn_relu": (nn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (nn.GRUCell, torch.nn.GRUCell, {}),
}


# (batched, with_state, bias, dtype): every pair of the first three axes; float64 for the gated
# cells (the Elman cells are the same code with one gate)
CELL_ROWS = [
    (True, True, True, np.float32),
    (False, False, True, np.float32),
    (True, False, False, np.float32),
    (False, True, False, np.float32),
]
CELL_CASES = [(kind, *row) for kind in CELLS for row in CELL_ROWS]
CELL_CASES += [(kind, True, True, True, np.float64) for kind in ("lstm", "gru")]


def _cell_id(case):
    kind, batched, with_state, bias, dtype = case
    return "-".join(
        [kind, "batched" if batched else "unbatched", "given_state" if with_state else
         "zero_state", "bias" if bias else "no_bias", "f64" if dtype == np.float64 else "f32"]
    )  # fmt: skip


@pytest.mark.parametrize("case", CELL_CASES, ids=[_cell_id(c) for c in CELL_CASES])
def test_cell_matches_torch(case):
    kind, batched, with_state, bias, dtype = case
    ours, theirs, extra = CELLS[kind]
    with x64(dtype):
        ref = theirs(IN, HID, bias=bias, **extra).to(_TORCH_DTYPE[np.dtype(dtype)])
        cell = ours(IN, HID, bias=bias, **extra, dtype=jnp.dtype(dtype))
        cell.load_state_dict(ref.state_dict())
        rng = np.random.default_rng(9)
        lead = (BATCH,) if batched else ()
        x = rng.standard_normal((*lead, IN)).astype(dtype)
        parts = 2 if kind == "lstm" else 1
        state = [rng.standard_normal((*lead, HID)).astype(dtype) for _ in range(parts)]
        pick = (lambda s: tuple(s)) if kind == "lstm" else (lambda s: s[0])
        xt = torch.tensor(x, requires_grad=True)
        st = [torch.tensor(s, requires_grad=True) for s in state]
        tout = ref(xt, pick(st) if with_state else None)
        touts = list(tout) if kind == "lstm" else [tout]
        cots = [rng.standard_normal(tuple(t.shape)).astype(dtype) for t in touts]
        sum((t * torch.tensor(c)).sum() for t, c in zip(touts, cots, strict=True)).backward()
        t_grads = [xt.grad] + ([s.grad for s in st] if with_state else [])
        t_grads += [p.grad for p in ref.parameters()]

        def run(cell, x, state, cots):
            xa = axon.Variable(x, True)
            sa = [axon.Variable(s, True) for s in state]
            out = cell(xa, pick(sa) if with_state else None)
            outs = list(out) if kind == "lstm" else [out]
            sum((a * c).sum() for a, c in zip(outs, cots, strict=True)).backward()
            grads = [xa.grad] + ([s.grad for s in sa] if with_state else [])
            return [o.data for o in outs], grads + [p.grad for p in cell.parameters()]

        # float32 runs compiled (one program per case), float64 eagerly (one kernel per op)
        run = jax.jit(run) if dtype == np.float32 else run
        outs, grads = run(cell, jnp.asarray(x), [jnp.asarray(s) for s in state], cots)
        tol = TOL[np.dtype(dtype)]
        assert list(cell.named_parameters()) == [k for k, _ in ref.named_parameters()]
        for a, t in zip(outs + grads, touts + t_grads, strict=True):
            assert_close(a, t, dtype, **tol)


def test_cell_loop_equals_the_layer():
    layer = nn.LSTM(IN, HID)
    cell = nn.LSTMCell(IN, HID)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = jnp.asarray(np.random.default_rng(10).standard_normal((BATCH, STEPS, IN)), jnp.float32)
    state, outs = None, []
    for t in range(STEPS):
        state = cell(x[:, t], state)
        outs.append(state[0].data)
    assert_close(jnp.stack(outs, 1), layer(x), atol=1e-6)


# ------------------------------------------------------------------------------ structure
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"num_layers": 2, "bidirectional": True, "bias": False},
     {"proj_size": PROJ, "num_layers": 2, "dropout": 0.25}, {"batch_first": False}],
    ids=["default", "deep_bi_no_bias", "proj_dropout", "seq_first"],
)  # fmt: skip
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_state_dict_keys_shapes_and_repr_equal_torch(name, kwargs):
    if "proj_size" in kwargs and name != "LSTM":
        kwargs = {k: v for k, v in kwargs.items() if k != "proj_size"}
    kwargs = {"batch_first": True, **kwargs}
    ours, theirs = getattr(nn, name)(IN, HID, **kwargs), getattr(torch.nn, name)(IN, HID, **kwargs)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    # and a torch state dict loads as it is
    ours.load_state_dict(theirs.state_dict())


def test_reprs_of_cells_and_relu():
    assert repr(nn.GRUCell(3, 4, bias=False)) == repr(torch.nn.GRUCell(3, 4, bias=False))
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == repr(
        torch.nn.RNNCell(3, 4, nonlinearity="relu")
    )
    assert (
        repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, batch_first=True, nonlinearity=relu)"
    )
    assert repr(nn.LSTM(3, 4, batch_first=False)) == "LSTM(3, 4)"


@pytest.mark.parametrize("name", ["LSTM", "GRUCell"])  # the layers' and the cells' initialiser
def test_init_law_is_torchs(name):
    hidden = 64
    kwargs = {"proj_size": 16, "num_layers": 2} if name == "LSTM" else {}
    layer = getattr(nn, name)(32, hidden, **kwargs)
    bound = 1 / math.sqrt(hidden)
    values = np.concatenate([np.asarray(p.data).ravel() for p in layer.parameters()])
    assert values.min() >= -bound and values.max() <= bound
    assert values.min() < -0.99 * bound and values.max() > 0.99 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.03 * bound
    axon.manual_seed(3)
    a = getattr(nn, name)(32, hidden, **kwargs)
    axon.manual_seed(3)
    b = getattr(nn, name)(32, hidden, **kwargs)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_seed_constructors_and_defaults():
    lstm = nn.LSTM.new(8, 16, 2)
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers) == (8, 16, 2)
    assert lstm.batch_first and lstm(jnp.ones((2, 5, 8))).shape == (2, 5, 16)
    seq_first = nn.RNN.with_options(8, 16, 1, False)
    assert not seq_first.batch_first and seq_first(jnp.ones((5, 2, 8))).shape == (5, 2, 16)
    assert nn.GRU.with_options(8, 16, 2, True).num_layers == 2
    assert nn.GRUCell.new(8, 16)(jnp.ones((2, 8))).shape == (2, 16)
    with jax.enable_x64(True):
        assert nn.GRU(3, 4, dtype=jnp.float64).weight_ih_l0.dtype == jnp.float64


# ------------------------------------------------------------------------------ errors
def test_wrong_feature_size():
    with pytest.raises(
        ValueError,
        match=r"^axon\.nn\.LSTM: expected input of shape \(N, L, 3\) or \(L, 3\), got "
        r"\(2, 4, 5\)\. The last dimension must equal input_size=3\.$",
    ):
        nn.LSTM(IN, HID)(jnp.ones((2, 4, 5)))
    with pytest.raises(ValueError, match=r"expected input of shape \(L, N, 3\) or \(L, 3\)"):
        nn.GRU(IN, HID, batch_first=False)(jnp.ones((4, 2, 5)))
    with pytest.raises(ValueError, match=r"got \(3,\)\. .* and the input must be 2-D or 3-D\."):
        nn.RNN(IN, HID)(jnp.ones(3))
    with pytest.raises(TypeError, match=r"axon\.nn\.RNN: expected a Variable or array input"):
        nn.RNN(IN, HID)([[1.0, 2.0, 3.0]])
    with pytest.raises(
        ValueError,
        match=r"^axon\.nn\.GRUCell: expected input of shape \(N, 3\) or \(3,\), got \(2, 4\)\. ",
    ):
        nn.GRUCell(IN, HID)(jnp.ones((2, 4)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.LSTM(IN, HID)

    with pytest.raises(ValueError, match=r"^axon\.nn\.LSTM \(encoder\): expected input"):
        Net().encoder(jnp.ones((2, 4, 5)))


def test_wrong_initial_state():
    x = jnp.ones((2, STEPS, IN))  # N = 2
    with pytest.raises(
        ValueError,
        match=r"^axon\.nn\.GRU: expected h_0 of shape \(4, 2, 4\) \(num_layers \* num_directions, "
        r"N, hidden_size\), got \(2, 2, 4\)\. The state is never batch-first",
    ):
        nn.GRU(IN, HID, 2, bidirectional=True).forward_with_state(x, jnp.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(1, 2, 4\) .* got \(2, 1, 4\)"):
        nn.RNN(IN, HID).forward_with_state(x, jnp.zeros((2, 1, HID)))  # batch-first by mistake
    with pytest.raises(
        ValueError,
        match=r"expected c_0 of shape \(1, 2, 4\) \(num_layers \* num_directions, N, "
        r"hidden_size\), got \(1, 2, 2\)",
    ):
        nn.LSTM(IN, HID, proj_size=2).forward_with_state(
            x, (jnp.zeros((1, 2, 2)), jnp.zeros((1, 2, 2)))
        )
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(1, 4\) .*hidden_size\), got"):
        nn.GRU(IN, HID).forward_with_state(x[0], jnp.zeros((1, 2, HID)))  # unbatched input
    with pytest.raises(TypeError, match=r"axon\.nn\.LSTM: expected the state as a tuple"):
        nn.LSTM(IN, HID).forward_with_state(x, jnp.zeros((1, 2, HID)))
    with pytest.raises(TypeError, match=r"axon\.nn\.GRU: expected the state h_0 as a Variable"):
        nn.GRU(IN, HID).forward_with_state(x, (jnp.zeros((1, 2, HID)),))
    with pytest.raises(
        TypeError,
        match=r"axon\.nn\.LSTM: forward\(x\) returns only the output sequence and takes no "
        r"initial state\. Call forward_with_state\(x, state\), which returns PyTorch's tuple "
        r"\(output, \(h_n, c_n\)\)\.",
    ):
        nn.LSTM(IN, HID)(x, (jnp.zeros((1, 2, HID)), jnp.zeros((1, 2, HID))))
    with pytest.raises(ValueError, match=r"axon\.nn\.LSTMCell: expected c of shape \(2, 4\)"):
        nn.LSTMCell(IN, HID)(x[:, 0], (jnp.zeros((2, HID)), jnp.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"axon\.nn\.RNNCell: expected h of shape \(4,\)"):
        nn.RNNCell(IN, HID)(x[0, 0], jnp.zeros((1, HID)))


def test_bad_lengths():
    x = jnp.ones((2, STEPS, IN))  # N = 2
    gru = nn.GRU(IN, HID)
    with pytest.raises(ValueError, match=r"axon\.nn\.GRU: expected lengths of shape \(2,\), got"):
        gru(x, lengths=[1, 2, 3])
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 4\] .*got values in \[1, 5\]"):
        gru(x, lengths=[1, 5])
    with pytest.raises(TypeError, match=r"lengths must be integers, got dtype float"):
        gru(x, lengths=[1.0, 2.0])


@pytest.mark.parametrize(
    "build, shown",
    [(lambda: nn.RNN(3, 4, nonlinearity="sigmoid"),
      r"axon\.nn\.RNN: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'\."),
     (lambda: nn.RNN(3, 4, 2, True),
      r"axon\.nn\.RNN: nonlinearity must be 'tanh' or 'relu', got True\."),
     (lambda: nn.LSTM(3, 4, proj_size=4),
      r"axon\.nn\.LSTM: proj_size must be smaller than hidden_size=4, got 4\."),
     (lambda: nn.GRU(3, 0), r"axon\.nn\.GRU: hidden_size must be a positive int, got 0\."),
     (lambda: nn.LSTM(3, 4, num_layers=0),
      r"axon\.nn\.LSTM: num_layers must be a positive int, got 0\."),
     (lambda: nn.GRU(3, 4, dropout=1.5),
      r"axon\.nn\.GRU: dropout must be a number in \[0, 1\] .*got 1\.5\."),
     (lambda: nn.LSTMCell(0, 4), r"axon\.nn\.LSTMCell: input_size must be a positive int"),
     (lambda: nn.RNNCell(3, 4, nonlinearity="gelu"), r"axon\.nn\.RNNCell: nonlinearity must")],
    ids=["nonlinearity", "positional_bias", "proj", "hidden", "layers", "dropout", "cell_in",
         "cell_nonlinearity"],
)  # fmt: skip
def test_bad_constructor_args(build, shown):
    with pytest.raises(ValueError, match=f"^{shown}"):
        build()


def test_more_bad_arguments():
    with pytest.raises(TypeError, match=r"^axon\.nn\.LSTM: bias must be a bool, got 1\.$"):
        nn.LSTM(3, 4, 1, 1)
    with pytest.raises(ValueError, match=r"^axon\.nn\.RNNBase: proj_size is supported by LSTM"):
        nn.rnn.RNNBase("gru", 3, 4, proj_size=2)
    with pytest.raises(TypeError, match=r"^axon\.nn\.LSTMCell: expected the state as a tuple"):
        nn.LSTMCell(IN, HID)(jnp.ones((2, IN)), jnp.zeros((2, HID)))
    with pytest.raises(
        ValueError, match=r"expected lengths of shape \(\) or \(1,\) for an unbatch"
    ):
        nn.GRU(IN, HID)(jnp.ones((STEPS, IN)), lengths=[1, 2])
    weights = [p.data for p in nn.LSTM(IN, HID).parameters()]
    with pytest.raises(
        ValueError,
        match=r"^axon\.functional\.lstm: expected 8 or 10 weights for num_layers=2, "
        r"bidirectional=False, bias=True, got 4\. Pass them in PyTorch's order",
    ):
        F.lstm(jnp.ones((2, STEPS, IN)), None, weights, num_layers=2)
    with pytest.raises(ValueError, match=r"^axon\.functional\.gru: expected 4 weights .* got 5"):
        F.gru(jnp.ones((2, STEPS, IN)), None, weights + weights[:1])
