"""Recurrent layers as `jax.lax.scan` kernels: RNN (tanh/relu), LSTM (with projections), GRU, and
their one-step cells. Pure jax on arrays; one tape op per call on Variables.

Layouts and numerics are PyTorch's. `weights` is a flat sequence in the order of PyTorch's
`_flat_weights` (and of `RNN/LSTM/GRU.parameters()`): for each layer, for each direction,
`w_ih (G*H, F)`, `w_hh (G*H, P)`, then `b_ih (G*H,)`, `b_hh (G*H,)` when `bias`, then `w_hr (P, H)`
for an LSTM with projections. G is 1 (RNN), 4 (LSTM, gates i, f, g, o) or 3 (GRU, gates r, z, n);
H is the hidden size and P the size of h (`proj_size`, or H without projections).

How a layer runs: the input projections of every step (and of both directions) are one matmul
before the loop; the loop over time is one `lax.scan` whose carry holds both directions stacked,
so a bidirectional layer costs one scan, not two. The reverse direction reads each sequence
backwards from its own last valid step.

Variable lengths: `lengths` (N,) marks steps `t >= lengths[n]` as padding. Padded steps leave the
state unchanged (so `h_n` is the state after each sequence's last valid step, and the reverse
direction starts there), their outputs are zero, and no gradient flows through them: PyTorch's
`pack_padded_sequence` -> RNN -> `pad_packed_sequence(total_length=L)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors
from axon.autograd.tape import op
from axon.autograd.variable import Variable
from axon.functional.dropout import draw_key, dropout

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


# ----------------------------------------------------------------------------- one step
def _rnn_step(gates, nonlinearity):
    return jnp.tanh(gates) if nonlinearity == "tanh" else jax.nn.relu(gates)


def _lstm_step(gates, c):
    """(h, c) from the pre-activations (*, 4H) in PyTorch's order i, f, g, o."""
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def _gru_step(xw, hw, b_hn, h):
    """h' from the input part (*, 3H, all input biases and b_hr, b_hz folded in) and the hidden
    part W_hh h (*, 3H); n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) keeps b_hn inside."""
    xr, xz, xn = jnp.split(xw, 3, axis=-1)
    hr, hz, hn = jnp.split(hw, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * (hn + b_hn))
    return (1.0 - z) * n + z * h


# ----------------------------------------------------------------------------- one layer
def _layer(mode, x, h0, c0, params, mask):
    """One layer, all directions in one scan.

    x: (T, N, F); h0: (D, N, P); c0: (D, N, H) or None; params: per direction the tuple
    (w_ih, w_hh, b_ih, b_hh, w_hr) with None for what is absent; mask: (T, D, N) bool (scan
    order, see `_masks`) or None.
    Returns the layer output (T, N, D*P) and the final h (D, N, P) and c (D, N, H) or None.
    """
    num_dir = len(params)
    w_ih = jnp.stack([p[0] for p in params])  # (D, G*H, F)
    w_hh = jnp.stack([p[1] for p in params])  # (D, G*H, P)
    has_bias = params[0][2] is not None
    # every step's input projection, both directions, as one matmul
    xw = jnp.einsum("tnf,dgf->tdng", x, w_ih)  # (T, D, N, G*H)
    b_hn = None
    if has_bias:
        b_ih = jnp.stack([p[2] for p in params])  # (D, G*H)
        b_hh = jnp.stack([p[3] for p in params])
        if mode == "gru":  # b_hr, b_hz fold into the input side; b_hn is gated by r
            hidden = b_hh.shape[-1] // 3
            b_fold = b_ih + b_hh.at[:, 2 * hidden :].set(0)
            b_hn = b_hh[:, None, 2 * hidden :]  # (D, 1, H)
        else:
            b_fold = b_ih + b_hh
        xw = xw + b_fold[None, :, None, :]
    if mode == "gru" and b_hn is None:
        b_hn = jnp.zeros((), xw.dtype)
    if num_dir == 2:  # the reverse direction reads the sequence backwards
        xw = jnp.stack([xw[:, 0], jnp.flip(xw[:, 1], axis=0)], axis=1)
    w_hr = jnp.stack([p[4] for p in params]) if params[0][4] is not None else None  # (D, P, H)

    def step(carry, inputs):
        h, c = carry  # (D, N, P), (D, N, H) or None
        xw_t, m_t = inputs  # (D, N, G*H), (D, N) or None
        hw = jnp.einsum("dnp,dgp->dng", h, w_hh)  # (D, N, G*H)
        if mode == "lstm":
            h_new, c_new = _lstm_step(xw_t + hw, c)
            if w_hr is not None:
                h_new = jnp.einsum("dnh,dph->dnp", h_new, w_hr)
        elif mode == "gru":
            h_new, c_new = _gru_step(xw_t, hw, b_hn, h), None
        else:
            h_new, c_new = _rnn_step(xw_t + hw, "tanh" if mode == "rnn_tanh" else "relu"), None
        if m_t is None:
            return (h_new, c_new), h_new
        keep = m_t[:, :, None]  # (D, N, 1): padded steps keep the state and output zeros
        h_new = jnp.where(keep, h_new, h)
        if c_new is not None:
            c_new = jnp.where(keep, c_new, c)
        return (h_new, c_new), jnp.where(keep, h_new, jnp.zeros((), h_new.dtype))

    (h_n, c_n), ys = jax.lax.scan(step, (h0, c0), (xw, mask))  # ys: (T, D, N, P)
    if num_dir == 2:
        ys = jnp.stack([ys[:, 0], jnp.flip(ys[:, 1], axis=0)], axis=1)
    steps, _, batch, size = ys.shape
    out = jnp.transpose(ys, (0, 2, 1, 3)).reshape(steps, batch, num_dir * size)  # (T, N, D*P)
    return out, h_n, c_n


def _masks(lengths, steps, num_dir):
    """Which scan steps are real, (T, D, N) bool, or None without lengths.

    The reverse direction scans the flipped sequence, so its padding comes first: those steps
    keep the initial state, and the scan reaches each sequence's last valid step with it.
    """
    if lengths is None:
        return None
    lengths = jnp.asarray(lengths, jnp.int32)
    t = jnp.arange(steps, dtype=jnp.int32)[:, None]  # (T, 1)
    forward = t < lengths[None, :]  # (T, N)
    if num_dir == 1:
        return forward[:, None]
    return jnp.stack([forward, jnp.flip(forward, axis=0)], axis=1)  # (T, 2, N)


def group_weights(weights, mode, num_layers, num_directions, bias, where="axon.functional"):
    """Split the flat weights into (w_ih, w_hh, b_ih, b_hh, w_hr) per layer and direction."""
    per = 2 + 2 * bool(bias)
    groups = num_layers * num_directions
    if len(weights) not in (groups * per, groups * (per + 1)) or (
        len(weights) == groups * (per + 1) and mode != "lstm"
    ):
        expected = f"{groups * per}" + (f" or {groups * (per + 1)}" if mode == "lstm" else "")
        raise _errors.value_error(
            where,
            f"expected {expected} weights for num_layers={num_layers}, "
            f"bidirectional={num_directions == 2}, bias={bias}, got {len(weights)}.",
            "Pass them in PyTorch's order: for each layer and direction w_ih, w_hh, then b_ih, "
            "b_hh with bias, then w_hr with projections.",
        )
    n = len(weights) // groups
    out = []
    for g in range(groups):
        w = list(weights[g * n : (g + 1) * n])
        w_ih, w_hh = w[0], w[1]
        b_ih, b_hh = (w[2], w[3]) if bias else (None, None)
        w_hr = w[-1] if n == per + 1 else None
        out.append((w_ih, w_hh, b_ih, b_hh, w_hr))
    return out


@op(
    static=(
        "mode",
        "bias",
        "num_layers",
        "dropout_p",
        "training",
        "bidirectional",
        "batch_first",
        "return_state",
    ),
    name="recurrent",
)
def _recurrent_kernel(
    input,  # noqa: A002 - PyTorch's name
    h0,
    c0,
    lengths,
    key,
    mode,
    bias,
    num_layers,
    dropout_p,
    training,
    bidirectional,
    batch_first,
    return_state,
    *weights,  # last and unpacked: the tape looks for Variables among the top-level arguments
):
    num_dir = 2 if bidirectional else 1
    params = group_weights(weights, mode, num_layers, num_dir, bias)
    dtype = jnp.result_type(input.dtype, params[0][0].dtype)
    unbatched = input.ndim == 2
    if unbatched:
        x = input[:, None, :]  # (T, 1, F)
    else:
        x = jnp.swapaxes(input, 0, 1) if batch_first else input  # (T, N, F)
    x = x.astype(dtype)
    steps, batch = x.shape[0], x.shape[1]
    hidden = params[0][1].shape[0] // GATES[mode]
    size = params[0][1].shape[1]  # P: proj_size or hidden_size
    if h0 is None:
        h0 = jnp.zeros((num_layers * num_dir, batch, size), dtype)
    elif unbatched:
        h0 = h0[:, None, :]
    if mode == "lstm":
        if c0 is None:
            c0 = jnp.zeros((num_layers * num_dir, batch, hidden), dtype)
        elif unbatched:
            c0 = c0[:, None, :]
    h0 = h0.astype(dtype)
    c0 = None if c0 is None else c0.astype(dtype)
    if lengths is not None and unbatched:
        lengths = jnp.reshape(lengths, (1,))
    mask = _masks(lengths, steps, num_dir)
    drop = training and dropout_p > 0.0 and num_layers > 1
    keys = jax.random.split(key, num_layers - 1) if drop else None

    h_n, c_n = [], []
    for layer in range(num_layers):
        if layer > 0 and drop:
            x = dropout(x, dropout_p, True, key=keys[layer - 1])
        rows = slice(layer * num_dir, (layer + 1) * num_dir)
        x, h, c = _layer(
            mode,
            x,
            h0[rows],
            None if c0 is None else c0[rows],
            params[rows],
            mask,
        )
        h_n.append(h)
        c_n.append(c)

    out = x[:, 0] if unbatched else (jnp.swapaxes(x, 0, 1) if batch_first else x)
    if not return_state:
        return out
    states = [jnp.concatenate(h_n)]  # (L*D, N, P)
    if mode == "lstm":
        states.append(jnp.concatenate(c_n))  # (L*D, N, H)
    if unbatched:
        states = [s[:, 0] for s in states]
    # a tape op has one output: the output and the states travel as one flat array
    return jnp.concatenate([out.ravel()] + [s.ravel() for s in states])


@op(static=("start", "shape"), name="recurrent_state")
def _piece(flat, start, shape):
    return jax.lax.slice_in_dim(flat, start, start + int(np.prod(shape))).reshape(shape)


# ----------------------------------------------------------------------------- checks
def _shape(x) -> tuple[int, ...]:
    return tuple(x.shape)


def is_array(x) -> bool:
    return isinstance(x, (Variable, jax.Array, np.ndarray))


def _check_input(where, input, input_size, batch_first):  # noqa: A002
    if not is_array(input):
        raise _errors.type_error(
            where, f"expected a Variable or array input, got {type(input).__name__}."
        )
    shape = _shape(input)
    form = "(N, L, {0}) or (L, {0})" if batch_first else "(L, N, {0}) or (L, {0})"
    if len(shape) not in (2, 3) or shape[-1] != input_size:
        raise _errors.value_error(
            where,
            f"expected input of shape {form.format(input_size)}, got {_errors.shape_str(shape)}.",
            f"The last dimension must equal input_size={input_size}"
            + ("." if len(shape) in (2, 3) else ", and the input must be 2-D or 3-D."),
        )


def check_state_part(where, name, value, expected, layout):
    if not is_array(value):
        raise _errors.type_error(
            where, f"expected {name} as a Variable or array, got {type(value).__name__}."
        )
    if _shape(value) != expected:
        raise _errors.value_error(
            where,
            f"expected {name} of shape {_errors.shape_str(expected)} {layout}, "
            f"got {_errors.shape_str(_shape(value))}.",
            "The state is never batch-first: its batch dimension comes second.",
        )


def check_state(where, mode, state, *, rows, batch, size, hidden):
    """Check an initial state against (rows, batch, size) (batch None: unbatched)."""
    lead = "num_layers * num_directions"
    if batch is None:
        h_shape, c_shape, tail = (rows, size), (rows, hidden), ""
    else:
        h_shape, c_shape, tail = (rows, batch, size), (rows, batch, hidden), ", N"
    p_name = "proj_size" if size != hidden else "hidden_size"
    if mode == "lstm":
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise _errors.type_error(
                where,
                f"expected the state as a tuple (h_0, c_0), got {type(state).__name__}"
                + (f" of length {len(state)}." if isinstance(state, (tuple, list)) else "."),
            )
        check_state_part(where, "h_0", state[0], h_shape, f"({lead}{tail}, {p_name})")
        check_state_part(where, "c_0", state[1], c_shape, f"({lead}{tail}, hidden_size)")
    else:
        if isinstance(state, (tuple, list)):
            raise _errors.type_error(
                where, f"expected the state h_0 as a Variable or array, got {type(state).__name__}."
            )
        check_state_part(where, "h_0", state, h_shape, f"({lead}{tail}, hidden_size)")


def _as_lengths(where, lengths, batch, steps):
    if isinstance(lengths, Variable):
        lengths = lengths.data
    if not is_array(lengths):
        lengths = np.asarray(lengths)
    expected = (batch,) if batch is not None else ((), (1,))
    shape = _shape(lengths)
    if (shape not in expected) if batch is None else (shape != expected):
        want = "() or (1,) for an unbatched input" if batch is None else _errors.shape_str(expected)
        raise _errors.value_error(
            where, f"expected lengths of shape {want}, got {_errors.shape_str(shape)}."
        )
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise _errors.type_error(where, f"lengths must be integers, got dtype {lengths.dtype}.")
    if not isinstance(lengths, jax.core.Tracer) and lengths.size:
        values = np.asarray(lengths)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > steps:
            raise _errors.value_error(
                where,
                f"lengths must lie in [0, {steps}] (the padded sequence length), "
                f"got values in [{low}, {high}].",
            )
    return jnp.asarray(lengths, jnp.int32)


# ----------------------------------------------------------------------------- entry points
def recurrent(
    where,
    mode: str,
    input,  # noqa: A002
    hx,
    weights,
    *,
    bias: bool,
    num_layers: int,
    dropout: float,
    training: bool,
    bidirectional: bool,
    batch_first: bool,
    lengths=None,
    key=None,
    return_state: bool = True,
):
    """Check the arguments (errors name `where`), run one recurrent kernel, unpack the result."""
    weights = list(weights)
    num_dir = 2 if bidirectional else 1
    params = group_weights(weights, mode, num_layers, num_dir, bias, where)
    input_size = _shape(params[0][0])[1]
    _check_input(where, input, input_size, batch_first)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
        raise _errors.value_error(where, f"dropout must be a number in [0, 1], got {dropout!r}.")
    shape = _shape(input)
    unbatched = len(shape) == 2
    steps = shape[0] if unbatched or not batch_first else shape[1]
    batch = None if unbatched else (shape[0] if batch_first else shape[1])
    hidden = _shape(params[0][1])[0] // GATES[mode]
    size = _shape(params[0][1])[1]
    if hx is not None:
        check_state(
            where, mode, hx, rows=num_layers * num_dir, batch=batch, size=size, hidden=hidden
        )
        hx = tuple(hx) if mode == "lstm" else hx
    if lengths is not None:
        lengths = _as_lengths(where, lengths, batch, steps)
    drop = bool(training) and dropout > 0 and num_layers > 1
    if drop and key is None:
        key = draw_key(_errors.describe(where), input)
    h0, c0 = (None, None) if hx is None else (hx if mode == "lstm" else (hx, None))
    out = _recurrent_kernel(
        input,
        h0,
        c0,
        lengths,
        key if drop else None,
        mode,
        bool(bias),
        num_layers,
        float(dropout),
        drop,
        bool(bidirectional),
        bool(batch_first),
        return_state,
        *weights,
    )
    if not return_state:
        return out
    # the kernel's one output is flat; each piece is a slice (one small tape op on Variables)
    rows = num_layers * num_dir
    if unbatched:
        out_shape, h_shape, c_shape = (steps, num_dir * size), (rows, size), (rows, hidden)
    else:
        out_shape, h_shape, c_shape = (
            (*shape[:2], num_dir * size),
            (rows, batch, size),
            (rows, batch, hidden),
        )
    output = _piece(out, 0, out_shape)
    start = int(np.prod(out_shape))
    h_n = _piece(out, start, h_shape)
    if mode != "lstm":
        return output, h_n
    return output, (h_n, _piece(out, start + int(np.prod(h_shape)), c_shape))


_DOC_ARGS = """
    Args:
        input: (N, L, H_in) with `batch_first` (the default), (L, N, H_in) without, or (L, H_in)
            unbatched.
        hx: the initial state, or None for zeros: {state}
        weights: the flat weights in PyTorch's order (see the module docstring), e.g.
            `list(layer.parameters())`.
        bias: whether `weights` holds the biases.
        num_layers, bidirectional, batch_first: as the layer's arguments.
        dropout: probability of zeroing the input of every layer but the first, when `training`.
        training: apply `dropout`.
        lengths: (N,) valid steps per sequence; later steps are padding (see the module
            docstring). None: every step is valid.
        key: a PRNG key for the dropout masks; by default drawn from the global stream.
        return_state: False returns the output alone (and computes no final state).

    Shape:
        - output: (N, L, D * H_out) (batch-first), (L, N, D * H_out) or (L, D * H_out), where D is
          2 if bidirectional else 1 and H_out is {h_out}.
        - h_n: (num_layers * D, N, H_out), or (num_layers * D, H_out) unbatched.{c_n}
"""


def _elman(nonlinearity):
    def layer(
        input,  # noqa: A002
        hx,
        weights,
        bias: bool = True,
        num_layers: int = 1,
        dropout: float = 0.0,
        training: bool = False,
        bidirectional: bool = False,
        batch_first: bool = True,
        *,
        lengths=None,
        key=None,
        return_state: bool = True,
    ):
        return recurrent(
            f"axon.functional.rnn_{nonlinearity}", f"rnn_{nonlinearity}", input, hx, weights,
            bias=bias, num_layers=num_layers, dropout=dropout, training=training,
            bidirectional=bidirectional, batch_first=batch_first, lengths=lengths, key=key,
            return_state=return_state,
        )  # fmt: skip

    layer.__name__ = layer.__qualname__ = f"rnn_{nonlinearity}"
    layer.__doc__ = f"""Elman RNN over a sequence, with {nonlinearity}:
    h_t = {nonlinearity}(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh).

    Returns `(output, h_n)`, as `torch.nn.RNN(nonlinearity="{nonlinearity}")`'s forward.
    {{args}}
    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> w = [jnp.ones((4, 3)), jnp.ones((4, 4)), jnp.zeros(4), jnp.zeros(4)]
        >>> out, h_n = F.rnn_{nonlinearity}(jnp.ones((2, 5, 3)), None, w)
        >>> out.shape, h_n.shape
        ((2, 5, 4), (1, 2, 4))
    """
    return layer


rnn_tanh = _elman("tanh")
rnn_relu = _elman("relu")


def lstm(
    input,  # noqa: A002
    hx,
    weights,
    bias: bool = True,
    num_layers: int = 1,
    dropout: float = 0.0,
    training: bool = False,
    bidirectional: bool = False,
    batch_first: bool = True,
    *,
    lengths=None,
    key=None,
    return_state: bool = True,
):
    """LSTM over a sequence (gates i, f, g, o): c_t = f * c_(t-1) + i * g, h_t = o * tanh(c_t),
    then h_t = W_hr h_t when the weights include projections.

    Returns `(output, (h_n, c_n))`, as `torch.nn.LSTM`'s forward.
    {args}
    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> w = [jnp.ones((16, 3)), jnp.ones((16, 4)), jnp.zeros(16), jnp.zeros(16)]
        >>> out, (h_n, c_n) = F.lstm(jnp.ones((2, 5, 3)), None, w)
        >>> out.shape, h_n.shape, c_n.shape
        ((2, 5, 4), (1, 2, 4), (1, 2, 4))
    """
    return recurrent(
        "axon.functional.lstm", "lstm", input, hx, weights, bias=bias, num_layers=num_layers,
        dropout=dropout, training=training, bidirectional=bidirectional,
        batch_first=batch_first, lengths=lengths, key=key, return_state=return_state,
    )  # fmt: skip


def gru(
    input,  # noqa: A002
    hx,
    weights,
    bias: bool = True,
    num_layers: int = 1,
    dropout: float = 0.0,
    training: bool = False,
    bidirectional: bool = False,
    batch_first: bool = True,
    *,
    lengths=None,
    key=None,
    return_state: bool = True,
):
    """GRU over a sequence (gates r, z, n): n_t = tanh(W_in x_t + b_in + r * (W_hn h + b_hn)),
    h_t = (1 - z) * n_t + z * h_(t-1).

    Returns `(output, h_n)`, as `torch.nn.GRU`'s forward.
    {args}
    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> w = [jnp.ones((12, 3)), jnp.ones((12, 4)), jnp.zeros(12), jnp.zeros(12)]
        >>> out, h_n = F.gru(jnp.ones((5, 3)), None, w)  # unbatched
        >>> out.shape, h_n.shape
        ((5, 4), (1, 4))
    """
    return recurrent(
        "axon.functional.gru", "gru", input, hx, weights, bias=bias, num_layers=num_layers,
        dropout=dropout, training=training, bidirectional=bidirectional,
        batch_first=batch_first, lengths=lengths, key=key, return_state=return_state,
    )  # fmt: skip


_STATE = "(num_layers * D, N, H_out);\n            unbatched (num_layers * D, H_out)."
for _layer_fn in (rnn_tanh, rnn_relu):
    _layer_fn.__doc__ = _layer_fn.__doc__.format(
        args=_DOC_ARGS.format(state=_STATE, h_out="hidden_size", c_n="")
    )
gru.__doc__ = gru.__doc__.format(args=_DOC_ARGS.format(state=_STATE, h_out="hidden_size", c_n=""))
lstm.__doc__ = lstm.__doc__.format(
    args=_DOC_ARGS.format(
        state="a tuple (h_0, c_0): h_0 " + _STATE + "\n            c_0 the same with hidden_size.",
        h_out="proj_size if the weights include projections, else hidden_size",
        c_n="\n        - c_n: (num_layers * D, N, hidden_size), or (num_layers * D, hidden_size).",
    )
)


# ----------------------------------------------------------------------------- cells
def _cell_input(input, hx, size):  # noqa: A002
    """(N, F) input and (N, size) state from possibly unbatched ones (zeros when hx is None)."""
    x = input[None] if input.ndim == 1 else input
    h = jnp.zeros((x.shape[0], size), x.dtype) if hx is None else hx
    return x, (h[None] if h.ndim == 1 else h)


def _affine(x, w, b):
    out = x @ w.T
    return out if b is None else out + b


@op(static=("nonlinearity",), name="rnn_cell")
def _rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity):  # noqa: A002
    x, h = _cell_input(input, hx, w_hh.shape[1])
    h = _rnn_step(_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh), nonlinearity)
    return h[0] if input.ndim == 1 else h


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One Elman RNN step: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).

    Shape:
        - input: (N, H_in) or (H_in,); hx: (N, H) or (H,), None for zeros
        - w_ih: (H, H_in); w_hh: (H, H); b_ih, b_hh: (H,)
        - output: h' (N, H) or (H,)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.rnn_tanh_cell(jnp.ones((2, 3)), None, jnp.ones((4, 3)), jnp.ones((4, 4))).shape
        (2, 4)
    """
    return _rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, "tanh")


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One Elman RNN step with relu: h' = relu(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).

    Shape: as `rnn_tanh_cell`.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.rnn_relu_cell(jnp.ones(3), None, jnp.ones((4, 3)), jnp.ones((4, 4))).shape
        (4,)
    """
    return _rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, "relu")


@op
def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One GRU step (gates r, z, n), PyTorch's formulation.

    Shape:
        - input: (N, H_in) or (H_in,); hx: (N, H) or (H,), None for zeros
        - w_ih: (3H, H_in); w_hh: (3H, H); b_ih, b_hh: (3H,)
        - output: h' (N, H) or (H,)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> F.gru_cell(jnp.ones(3), None, jnp.ones((12, 3)), jnp.ones((12, 4))).shape
        (4,)
    """
    x, h = _cell_input(input, hx, w_hh.shape[1])
    h = _gru_step(_affine(x, w_ih, b_ih), _affine(h, w_hh, b_hh), 0.0, h)
    return h[0] if input.ndim == 1 else h


@op(name="lstm_cell")
def _lstm_cell(input, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    hidden = w_hh.shape[1]
    x, h = _cell_input(input, h0, hidden)
    _, c = _cell_input(input, c0, hidden)
    h, c = _lstm_step(_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh), c)
    both = jnp.stack([h, c])  # (2, N, H): a tape op has one output
    return both[:, 0] if input.ndim == 1 else both


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One LSTM step (gates i, f, g, o): returns `(h', c')`.

    Shape:
        - input: (N, H_in) or (H_in,); hx: a tuple (h, c) of (N, H) or (H,), None for zeros
        - w_ih: (4H, H_in); w_hh: (4H, H); b_ih, b_hh: (4H,)
        - output: h' and c', each (N, H) or (H,)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> h, c = F.lstm_cell(jnp.ones((2, 3)), None, jnp.ones((16, 3)), jnp.ones((16, 4)))
        >>> h.shape, c.shape
        ((2, 4), (2, 4))
    """
    h0, c0 = (None, None) if hx is None else hx
    both = _lstm_cell(input, h0, c0, w_ih, w_hh, b_ih, b_hh)
    return both[0], both[1]
