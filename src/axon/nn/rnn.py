"""Recurrent layers with PyTorch's parameters, layouts, init and reprs: `RNN`, `LSTM`, `GRU` and
the cells `RNNCell`, `LSTMCell`, `GRUCell`.

A layer's forward is one `axon.functional` call: one `lax.scan` kernel for all layers and both
directions, recorded as one tape op on Variables.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp

from axon import _errors
from axon.functional import rnn as _F
from axon.nn import init
from axon.nn.module import Module
from axon.nn.parameter import Parameter


def _size(module, name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a positive int" if minimum == 1 else "a non-negative int"
        raise _errors.value_error(module, f"{name} must be {kind}, got {value!r}.")
    return value


def _flag(module, name: str, value) -> bool:
    if not isinstance(value, bool):
        raise _errors.type_error(module, f"{name} must be a bool, got {value!r}.")
    return value


_NONLINEARITIES = ("tanh", "relu")


# ------------------------------------------------------------------------------ layers
class RNNBase(Module):
    """The shared body of `RNN`, `LSTM` and `GRU` (PyTorch's `RNNBase`).

    `forward(x)` returns the output sequence (the seed's convention); `forward_with_state(x,
    state=None)` returns PyTorch's tuple. Both take `lengths=` for padded batches.
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        if mode not in _F.GATES:
            raise _errors.value_error(
                self, f"mode must be one of {sorted(_F.GATES)}, got {mode!r}."
            )
        _size(self, "input_size", input_size)
        _size(self, "hidden_size", hidden_size)
        _size(self, "num_layers", num_layers)
        _size(self, "proj_size", proj_size, minimum=0)
        _flag(self, "bias", bias)
        _flag(self, "batch_first", batch_first)
        _flag(self, "bidirectional", bidirectional)
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0 <= dropout <= 1
        ):
            raise _errors.value_error(
                self, f"dropout must be a number in [0, 1] (a drop probability), got {dropout!r}."
            )
        if proj_size and mode != "lstm":
            raise _errors.value_error(self, "proj_size is supported by LSTM only.")
        if proj_size >= hidden_size:
            raise _errors.value_error(
                self,
                f"proj_size must be smaller than hidden_size={hidden_size}, got {proj_size}.",
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{_errors.describe(self)}: dropout applies between stacked layers, so "
                f"dropout={dropout} has no effect with num_layers=1.",
                stacklevel=3,
            )
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size

        gates = _F.GATES[mode] * hidden_size
        out_size = proj_size or hidden_size
        names = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else out_size * self.num_directions
            for suffix in ("", "_reverse")[: self.num_directions]:
                shapes = {"weight_ih": (gates, layer_in), "weight_hh": (gates, out_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for kind, shape in shapes.items():
                    name = f"{kind}_l{layer}{suffix}"
                    setattr(self, name, Parameter(jnp.empty(shape, dtype)))
                    names.append(name)
        self._flat_weights_names = tuple(names)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/√hidden_size, 1/√hidden_size), as in PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name in self._flat_weights_names:
            init.uniform_(getattr(self, name), -bound, bound)

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [getattr(self, name) for name in self._flat_weights_names]

    # the seed's constructors
    @classmethod
    def new(cls, input_size: int, hidden_size: int, num_layers: int = 1):
        return cls(input_size, hidden_size, num_layers)

    @classmethod
    def with_options(
        cls, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True
    ):
        return cls(input_size, hidden_size, num_layers, batch_first=batch_first)

    def _run(self, input, state, lengths, return_state: bool):  # noqa: A002
        with jax.named_scope(f"axon.nn.{type(self).__name__}"):
            return _F.recurrent(
                self,
                self.mode,
                input,
                state,
                self._flat_weights,
                bias=self.bias,
                num_layers=self.num_layers,
                dropout=self.dropout,
                training=self.training,
                bidirectional=self.bidirectional,
                batch_first=self.batch_first,
                lengths=lengths,
                return_state=return_state,
            )

    def forward(self, input, state=None, *, lengths=None):  # noqa: A002
        """The output sequence of the last layer. For an initial state or the final state, call
        `forward_with_state`."""
        if state is not None:
            raise _errors.type_error(
                self,
                "forward(x) returns only the output sequence and takes no initial state.",
                "Call forward_with_state(x, state), which returns PyTorch's tuple "
                f"{self._state_form()}.",
            )
        return self._run(input, None, lengths, return_state=False)

    def forward_with_state(self, input, state=None, *, lengths=None):  # noqa: A002
        """PyTorch's forward: `(output, h_n)` (`(output, (h_n, c_n))` for LSTM), from the initial
        `state` (zeros when None)."""
        return self._run(input, state, lengths, return_state=True)

    def _state_form(self) -> str:
        return "(output, (h_n, c_n))" if self.mode == "lstm" else "(output, h_n)"

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:  # PyTorch's rule, so the reprs of twins agree
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.mode == "rnn_relu":  # PyTorch's repr leaves this out
            s += ", nonlinearity=relu"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


_LAYER_DOC = """
    Args:
        input_size: features of each input step (H_in).
        hidden_size: features of the hidden state (H).
        num_layers: stacked layers; layer k > 0 reads layer k-1's output sequence.{extra_args}
        bias: learn the biases `b_ih` and `b_hh`.
        batch_first: inputs and outputs are (N, L, *) (the default, the seed's convention); False
            gives PyTorch's (L, N, *). The state is never batch-first.
        dropout: in training, dropout on the output of every layer but the last.
        bidirectional: also run each layer from the end of the sequence backwards; the output
            concatenates both directions' features (forward first).
        dtype: parameter dtype (float32 by default).

    Forward:
        `layer(x)` / `forward(x, *, lengths=None)` returns the output sequence;
        `forward_with_state(x, state=None, *, lengths=None)` returns
        {state_form}, as PyTorch's forward does, starting from `state` (zeros when None).

    Variable lengths:
        `lengths` (N,) integers (array or list) in [0, L]: steps t >= lengths[n] of sequence n are
        padding. They leave the state unchanged (h_n is the state after the last valid step; the
        reverse direction starts at that step), their outputs are zero and they receive no
        gradient. This is PyTorch's `pack_padded_sequence` -> layer ->
        `pad_packed_sequence(total_length=L)`, without a packed-sequence object; jit-friendly,
        since the shapes stay (N, L, *). A length of 0 keeps the initial state.

    Shape:
        - input: (N, L, H_in) if batch_first else (L, N, H_in); unbatched (L, H_in)
        - state: {state_shape}
        - output: (N, L, D * H_out) if batch_first else (L, N, D * H_out); unbatched
          (L, D * H_out), where D = 2 if bidirectional else 1 and
          H_out = {h_out}

    Attributes:
        weight_ih_l{{k}}: ({gates}, H_in) for k = 0, else ({gates}, D * H_out).
        weight_hh_l{{k}}: ({gates}, H_out).
        bias_ih_l{{k}}, bias_hh_l{{k}}: ({gates},).{extra_attrs}
        The reverse direction's parameters end in `_reverse`. Every parameter is drawn from
        U(-1/√hidden_size, 1/√hidden_size), as in PyTorch.

    Note:
        PyTorch's `forward` returns the tuple; here it is `forward_with_state`, and `forward`
        returns the output alone. `batch_first` defaults to True (PyTorch: False).
"""


def _layer_doc(
    gates: str, state_form: str, state_shape: str, extra_args="", extra_attrs="", h_out="H"
):
    return _LAYER_DOC.format(
        gates=gates,
        state_form=state_form,
        state_shape=state_shape,
        extra_args=extra_args,
        extra_attrs=extra_attrs,
        h_out=h_out,
    )


_H_STATE = "h_0 / h_n (num_layers * D, N, H_out); unbatched (num_layers * D, H_out)"


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_(t-1) W_hhᵀ + b_hh) (or relu), per layer.
    {doc}
    Example:
        >>> import axon
        >>> from axon import nn
        >>> rnn = nn.RNN(10, 20, num_layers=2)
        >>> rnn(axon.Tensor.randn([3, 5, 10])).shape
        (3, 5, 20)
        >>> out, h_n = rnn.forward_with_state(axon.Tensor.randn([3, 5, 10]))
        >>> h_n.shape
        (2, 3, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype=jnp.float32,
    ):
        if nonlinearity not in _NONLINEARITIES:
            raise _errors.value_error(
                self, f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}."
            )
        self.nonlinearity = nonlinearity
        super().__init__(
            f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first,
            dropout, bidirectional, dtype=dtype,
        )  # fmt: skip


class LSTM(RNNBase):
    """Long short-term memory, gates i, f, g, o (PyTorch's order), per layer:

        i, f, g, o = σ, σ, tanh, σ of (x_t W_ihᵀ + b_ih + h_(t-1) W_hhᵀ + b_hh)
        c_t = f * c_(t-1) + i * g,   h_t = o * tanh(c_t)   (then h_t W_hrᵀ with proj_size > 0)
    {doc}
    Example:
        >>> import axon
        >>> from axon import nn
        >>> lstm = nn.LSTM(256, 512, 2)
        >>> x = axon.Tensor.randn([4, 7, 256])
        >>> lstm(x).shape
        (4, 7, 512)
        >>> out, (h_n, c_n) = lstm.forward_with_state(x)
        >>> h_n.shape, c_n.shape
        ((2, 4, 512), (2, 4, 512))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        dtype=jnp.float32,
    ):
        super().__init__(
            "lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, dtype=dtype,
        )  # fmt: skip


class GRU(RNNBase):
    """Gated recurrent unit, gates r, z, n (PyTorch's order and formulation), per layer:

        r, z = σ(x_t W_irᵀ + b_ir + h W_hrᵀ + b_hr), σ(x_t W_izᵀ + b_iz + h W_hzᵀ + b_hz)
        n = tanh(x_t W_inᵀ + b_in + r * (h W_hnᵀ + b_hn)),   h_t = (1 - z) * n + z * h
    {doc}
    Example:
        >>> import axon
        >>> from axon import nn
        >>> gru = nn.GRU(8, 16, bidirectional=True)
        >>> gru(axon.Tensor.randn([2, 5, 8]), lengths=[5, 3]).shape
        (2, 5, 32)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype=jnp.float32,
    ):
        super().__init__(
            "gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, dtype=dtype,
        )  # fmt: skip


RNN.__doc__ = RNN.__doc__.format(
    doc=_layer_doc(
        "H",
        "`(output, h_n)`",
        _H_STATE,
        extra_args="\n        nonlinearity: 'tanh' or 'relu'.",
    )
)
GRU.__doc__ = GRU.__doc__.format(doc=_layer_doc("3H", "`(output, h_n)`", _H_STATE))
LSTM.__doc__ = LSTM.__doc__.format(
    doc=_layer_doc(
        "4H",
        "`(output, (h_n, c_n))`",
        "a tuple (h_0, c_0): h (num_layers * D, N, H_out) and\n"
        "          c (num_layers * D, N, H); unbatched without N",
        extra_args="\n        proj_size: if > 0, h_t is projected to proj_size features by "
        "weight_hr (H_out = proj_size).",
        extra_attrs="\n        weight_hr_l{k}: (proj_size, H), only with proj_size > 0.",
        h_out="proj_size if proj_size > 0 else H",
    )
)


# ------------------------------------------------------------------------------ cells
class RNNCellBase(Module):
    """The shared body of the cells: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`."""

    _chunks = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, dtype=jnp.float32):
        super().__init__()
        _size(self, "input_size", input_size)
        _size(self, "hidden_size", hidden_size)
        _flag(self, "bias", bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gates = self._chunks * hidden_size
        self.weight_ih = Parameter(jnp.empty((gates, input_size), dtype))
        self.weight_hh = Parameter(jnp.empty((gates, hidden_size), dtype))
        self.bias_ih = Parameter(jnp.empty((gates,), dtype)) if bias else None
        self.bias_hh = Parameter(jnp.empty((gates,), dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/√hidden_size, 1/√hidden_size), as in PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    @classmethod
    def new(cls, input_size: int, hidden_size: int):
        """The seed's constructor."""
        return cls(input_size, hidden_size)

    def _check(self, input, state):  # noqa: A002
        if not _F.is_array(input):
            raise _errors.type_error(
                self, f"expected a Variable or array input, got {type(input).__name__}."
            )
        shape = tuple(input.shape)
        if len(shape) not in (1, 2) or shape[-1] != self.input_size:
            raise _errors.value_error(
                self,
                f"expected input of shape (N, {self.input_size}) or ({self.input_size},), "
                f"got {_errors.shape_str(shape)}.",
                f"The last dimension must equal input_size={self.input_size}.",
            )
        if state is None:
            return None
        h_shape = (self.hidden_size,) if len(shape) == 1 else (shape[0], self.hidden_size)
        form = "(hidden_size,)" if len(shape) == 1 else "(N, hidden_size)"
        parts = ("h", "c") if isinstance(self, LSTMCell) else ("h",)
        if isinstance(self, LSTMCell) and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise _errors.type_error(
                self, f"expected the state as a tuple (h, c), got {type(state).__name__}."
            )
        values = tuple(state) if isinstance(self, LSTMCell) else (state,)
        for name, value in zip(parts, values, strict=True):
            _F.check_state_part(self, name, value, h_shape, form)
        return values if isinstance(self, LSTMCell) else state

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


_CELL_DOC = """
    Args:
        input_size: features of the input (H_in).
        hidden_size: features of the state (H).
        bias: learn `bias_ih` and `bias_hh`.{extra_args}
        dtype: parameter dtype (float32 by default).

    Shape:
        - input: (N, H_in) or (H_in,)
        - state: {state} (N, H) or (H,), zeros when None
        - output: the next state, of the same form

    Attributes:
        weight_ih: ({gates}, H_in); weight_hh: ({gates}, H); bias_ih, bias_hh: ({gates},). All
        drawn from U(-1/√hidden_size, 1/√hidden_size), as in PyTorch.
"""


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (or relu).
    {doc}
    Example:
        >>> import axon
        >>> from axon import nn
        >>> cell = nn.RNNCell(10, 20)
        >>> cell(axon.Tensor.randn([3, 10])).shape
        (3, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        dtype=jnp.float32,
    ):
        if nonlinearity not in _NONLINEARITIES:
            raise _errors.value_error(
                self,
                f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}.",
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, dtype=dtype)

    def forward(self, input, state=None):  # noqa: A002
        """The next state h' from `input` and `state` h (zeros when None)."""
        state = self._check(input, state)
        with jax.named_scope("axon.nn.RNNCell"):
            cell = _F.rnn_tanh_cell if self.nonlinearity == "tanh" else _F.rnn_relu_cell
            return cell(input, state, *self._weights())


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o): c' = f * c + i * g, h' = o * tanh(c'); returns (h', c').
    {doc}
    Example:
        >>> import axon
        >>> from axon import nn
        >>> cell = nn.LSTMCell(10, 20)
        >>> h, c = cell(axon.Tensor.randn([3, 10]))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """

    _chunks = 4

    def forward(self, input, state=None):  # noqa: A002
        """The next state (h', c') from `input` and `state` (h, c) (zeros when None)."""
        state = self._check(input, state)
        with jax.named_scope("axon.nn.LSTMCell"):
            return _F.lstm_cell(input, state, *self._weights())


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n): n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    h' = (1 - z) * n + z * h.
    {doc}
    Example:
        >>> import axon
        >>> from axon import nn
        >>> cell = nn.GRUCell(10, 20)
        >>> cell(axon.Tensor.randn([10])).shape
        (20,)
    """

    _chunks = 3

    def forward(self, input, state=None):  # noqa: A002
        """The next state h' from `input` and `state` h (zeros when None)."""
        state = self._check(input, state)
        with jax.named_scope("axon.nn.GRUCell"):
            return _F.gru_cell(input, state, *self._weights())


RNNCell.__doc__ = RNNCell.__doc__.format(
    doc=_CELL_DOC.format(
        gates="H", state="h", extra_args="\n        nonlinearity: 'tanh' or 'relu'."
    )
)
LSTMCell.__doc__ = LSTMCell.__doc__.format(
    doc=_CELL_DOC.format(gates="4H", state="a tuple (h, c), each", extra_args="")
)
GRUCell.__doc__ = GRUCell.__doc__.format(doc=_CELL_DOC.format(gates="3H", state="h", extra_args=""))
